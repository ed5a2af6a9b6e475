"""The encoding file: what a data provider sends to the linkage unit.

An ``.npz`` archive (numpy's zip of arrays; no pickle) holding a JSON header and arrays:

- ``header``: format name and version, agreement id and version, partner, the encoding
  schema and its digest, record and missing/invalid counts. Never the key, nor anything
  derived from it.
- ``record_ids`` (n,) str; ``record_filters`` (n, W) uint64; ``field__NAME`` (n, w) uint64
  per field; ``missing`` (n, F) bool; ``blocking_keys`` (n, P) uint64.

Readers validate the header and the array shapes and refuse a mismatch with a clear error.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from pydantic import ValidationError

from linkage.contracts import EncodedSource
from linkage.encoding.encoder import comparison_hints
from linkage.encoding.schema import EncodingSchema, canonical_digest
from linkage.errors import EncodingError
from linkage.files import atomic_output

FORMAT_NAME = "linkage-encodings"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class EncodingFile:
    """An encoding file read back: its header fields and the encodings."""

    agreement_id: str
    agreement_version: str
    schema: EncodingSchema
    encodings: EncodedSource  #: named after the partner the header names
    path: Path | None = None

    @property
    def partner(self) -> str:
        return self.encodings.partner


def write_encodings(path: str | os.PathLike[str], encodings: EncodedSource, *,
                    schema: EncodingSchema, agreement_id: str, agreement_version: str) -> Path:
    """Write ``encodings`` atomically to ``path`` (``.npz`` is appended if absent); the
    header names ``encodings.partner``."""
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    with atomic_output(target, "wb") as handle:
        save_encodings(handle, encodings, schema=schema, agreement_id=agreement_id,
                       agreement_version=agreement_version)
    return target


def save_encodings(handle: IO[bytes], encodings: EncodedSource, *, schema: EncodingSchema,
                   agreement_id: str, agreement_version: str) -> None:
    """Write ``encodings`` as an encoding file to an open binary ``handle``."""
    header = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "agreement": {"id": agreement_id, "version": str(agreement_version)},
        "partner": encodings.partner, "schema": schema.model_dump(mode="json"),
        "schema_digest": schema.digest(), "records": len(encodings),
        "fields": list(encodings.field_names), "blocking": list(encodings.blocking_names),
        "counts": {f: dict(c) for f, c in encodings.counts.items()},
    }
    arrays: dict[str, Any] = {
        "header": np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8),
        "record_ids": encodings.record_ids.astype(str),
        "record_filters": encodings.record_filters,
        "missing": encodings.missing,
        "blocking_keys": encodings.blocking_keys,
    }
    for name, filters in encodings.field_filters.items():
        arrays[f"field__{name}"] = filters
    np.savez(handle, allow_pickle=False, **arrays)


def read_encodings(path: str | os.PathLike[str]) -> EncodingFile:
    """Read and validate an encoding file written by :func:`write_encodings`."""
    source = Path(path)
    if not source.exists():
        raise EncodingError(f"{source}: encoding file not found.")
    try:
        with np.load(source, allow_pickle=False) as archive:
            data = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise EncodingError(f"{source}: not a linkage encoding file ({type(error).__name__}).") \
            from None
    header = _header(source, data)
    try:
        schema = EncodingSchema.model_validate(header["schema"])
    except ValidationError:
        raise EncodingError(f"{source}: header holds an invalid encoding schema.") from None
    if canonical_digest(header["schema"]) != header.get("schema_digest"):
        raise EncodingError(f"{source}: the header's schema does not match its digest "
                            f"(the file was altered).")
    fields = tuple(header["fields"])
    encodings = EncodedSource(
        partner=str(header["partner"]), record_ids=data["record_ids"].astype(object),
        record_filters=data["record_filters"],
        field_filters={name: data[f"field__{name}"] for name in fields},
        missing=data["missing"], field_names=fields,
        field_kinds={f.name: f.kind for f in schema.fields},
        blocking_keys=data["blocking_keys"], blocking_names=tuple(header["blocking"]),
        hints=comparison_hints(schema), counts=header.get("counts", {}))
    _check_shapes(source, encodings, int(header["records"]))
    return EncodingFile(agreement_id=header["agreement"]["id"],
                        agreement_version=header["agreement"]["version"],
                        schema=schema, encodings=encodings,
                        path=source)


def _header(source: Path, data: dict[str, np.ndarray]) -> dict[str, Any]:
    required = {"header", "record_ids", "record_filters", "missing", "blocking_keys"}
    absent = sorted(required - set(data))
    if absent:
        raise EncodingError(f"{source}: not a linkage encoding file (missing {', '.join(absent)}).")
    try:
        header: dict[str, Any] = json.loads(data["header"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EncodingError(f"{source}: header is not valid JSON.") from None
    if header.get("format") != FORMAT_NAME:
        raise EncodingError(f"{source}: not a linkage encoding file (format "
                            f"'{header.get('format')}').")
    if header.get("format_version") != FORMAT_VERSION:
        raise EncodingError(f"{source}: encoding format version {header.get('format_version')} "
                            f"is not supported (this library reads {FORMAT_VERSION}).")
    for key in ("agreement", "partner", "schema", "schema_digest", "records", "fields",
                "blocking"):
        if key not in header:
            raise EncodingError(f"{source}: header lacks '{key}'.")
    for name in header["fields"]:
        if f"field__{name}" not in data:
            raise EncodingError(f"{source}: header names field '{name}' but its filters "
                                f"are missing.")
    return header


def _check_shapes(source: Path, enc: EncodedSource, records: int) -> None:
    n = len(enc.record_ids)
    problems = []
    if n != records:
        problems.append(f"header says {records} records, file holds {n}")
    if enc.record_filters.dtype != np.uint64 or enc.record_filters.shape[0] != n:
        problems.append("record_filters must be (records, words) uint64")
    for name, filters in enc.field_filters.items():
        if filters.dtype != np.uint64 or filters.shape[0] != n:
            problems.append(f"filters of field '{name}' must be (records, words) uint64")
    if enc.missing.shape != (n, len(enc.field_names)):
        problems.append("missing must be (records, fields) bool")
    if enc.blocking_keys.shape != (n, len(enc.blocking_names)):
        problems.append("blocking_keys must be (records, passes) uint64")
    if problems:
        raise EncodingError(f"{source}: " + "; ".join(problems) + ".")
