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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from linkage.contracts import EncodedSource
from linkage.encoding.archive import MemberRule, check_rows, read_archive
from linkage.encoding.encoder import MAX_RECORD_ID_CHARS, comparison_hints
from linkage.encoding.schema import EncodingSchema, canonical_digest
from linkage.errors import EncodingError
from linkage.files import atomic_output, parse_format_json

FORMAT_NAME = "linkage-encodings"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class EncodingFile:
    """An encoding file read back: its header fields and the encodings."""

    agreement_id: str
    agreement_version: str
    agreement_digest: str | None  #: content digest of the agreement it was made under
    schema: EncodingSchema
    encodings: EncodedSource  #: named after the partner the header names
    path: Path | None = None

    @property
    def partner(self) -> str:
        return self.encodings.partner


def write_encodings(path: str | os.PathLike[str], encodings: EncodedSource, *,
                    schema: EncodingSchema, agreement_id: str, agreement_version: str,
                    agreement_digest: str | None = None) -> Path:
    """Write ``encodings`` atomically to ``path`` (``.npz`` is appended if absent); the
    header names ``encodings.partner``."""
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    with atomic_output(target, "wb") as handle:
        save_encodings(handle, encodings, schema=schema, agreement_id=agreement_id,
                       agreement_version=agreement_version, agreement_digest=agreement_digest)
    return target


def save_encodings(handle: IO[bytes], encodings: EncodedSource, *, schema: EncodingSchema,
                   agreement_id: str, agreement_version: str,
                   agreement_digest: str | None = None) -> None:
    """Write ``encodings`` as an encoding file to an open binary ``handle``."""
    header = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "agreement": {"id": agreement_id, "version": str(agreement_version),
                      "digest": agreement_digest},
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


#: Most records one encoding file may hold (a national extract is under ten million).
MAX_RECORDS = 50_000_000
_WIDE = 1024  # most uint64 words in a filter (65,536 bits) or columns in missing/keys
_MEMBERS = {
    "header": MemberRule("u", (2**20,), itemsize=1, max_bytes=2**20),
    "record_ids": MemberRule("U", (MAX_RECORDS,), max_chars=MAX_RECORD_ID_CHARS),
    "record_filters": MemberRule("u", (MAX_RECORDS, _WIDE), itemsize=8),
    "missing": MemberRule("b", (MAX_RECORDS, _WIDE), itemsize=1),
    "blocking_keys": MemberRule("u", (MAX_RECORDS, _WIDE), itemsize=8),
}
_FIELD_PREFIX = "field__"
_PREFIXES = {_FIELD_PREFIX: MemberRule("u", (MAX_RECORDS, _WIDE), itemsize=8)}


class _Agreement(BaseModel):
    id: str
    version: str
    digest: str | None = None


class _Header(BaseModel):
    """The JSON header of an encoding file, validated before anything else is trusted."""

    model_config = ConfigDict(extra="forbid")

    format: str
    format_version: int
    agreement: _Agreement
    partner: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    schema_: dict[str, Any] = Field(alias="schema")
    schema_digest: str
    records: int = Field(ge=1, le=MAX_RECORDS)
    fields: list[str]
    blocking: list[str]
    counts: dict[str, dict[str, int]] = {}


def read_encodings(path: str | os.PathLike[str]) -> EncodingFile:
    """Read and validate an encoding file written by :func:`write_encodings`.

    Only the allowed members are read, each after its ``.npy`` header has been checked
    (:func:`~linkage.encoding.archive.read_archive`); then the JSON header, the schema and
    its digest, every array's shape against the schema, and the record ids (non-empty,
    unique). Any problem is one :class:`EncodingError` naming the file and what is wrong.
    """
    source = Path(path)
    data = read_archive(source, members=_MEMBERS, optional_prefixes=_PREFIXES)
    n = check_rows(source, data, ("record_ids", "record_filters", "missing", "blocking_keys"),
                   prefixes=(_FIELD_PREFIX,))
    header = _header(source, data)
    try:
        schema = EncodingSchema.model_validate(header.schema_)
    except ValidationError:
        raise EncodingError(f"{source}: header holds an invalid encoding schema.") from None
    if canonical_digest(header.schema_) != header.schema_digest:
        raise EncodingError(f"{source}: the header's schema does not match its digest "
                            f"(the file was altered).")
    _check_layout(source, data, header, schema, n)
    record_ids = data["record_ids"].astype(object)
    _check_record_ids(source, record_ids)
    fields = tuple(header.fields)
    encodings = EncodedSource(
        partner=header.partner, record_ids=record_ids,
        record_filters=data["record_filters"],
        field_filters={name: data[f"{_FIELD_PREFIX}{name}"] for name in fields},
        missing=data["missing"], field_names=fields,
        field_kinds={f.name: f.kind for f in schema.fields},
        blocking_keys=data["blocking_keys"], blocking_names=tuple(header.blocking),
        hints=comparison_hints(schema), counts=header.counts)
    return EncodingFile(agreement_id=header.agreement.id,
                        agreement_version=header.agreement.version,
                        agreement_digest=header.agreement.digest,
                        schema=schema, encodings=encodings, path=source)


def _header(source: Path, data: dict[str, np.ndarray]) -> _Header:
    raw = parse_format_json(data["header"].tobytes(), format_name=FORMAT_NAME,
                            version=FORMAT_VERSION, source=source,
                            kind="linkage encoding file",
                            remedy="re-export it with 'linkage encode'", error=EncodingError)
    try:
        return _Header.model_validate(raw)
    except ValidationError as error:
        where = ".".join(str(x) for x in error.errors()[0]["loc"])
        raise EncodingError(f"{source}: header field '{where}' is missing or invalid.") \
            from None


def _check_layout(source: Path, data: dict[str, np.ndarray], header: _Header,
                  schema: EncodingSchema, n: int) -> None:
    """Every array's shape as the schema says: the header cannot disagree with its schema,
    and a too-narrow filter is blamed on this file."""
    problems = []
    if n != header.records:
        problems.append(f"header says {header.records} records, file holds {n}")
    if header.fields != [f.name for f in schema.fields]:
        problems.append("header's fields differ from its schema's")
    if header.blocking != [p.name for p in schema.blocking]:
        problems.append("header's blocking passes differ from its schema's")
    present = sorted(k[len(_FIELD_PREFIX):] for k in data if k.startswith(_FIELD_PREFIX))
    if present != sorted(header.fields):
        problems.append("field filters present differ from the fields the header lists")
    widths = {"record_filters": schema.record_filter_bits // 64,
              "missing": len(schema.fields), "blocking_keys": len(schema.blocking),
              **{f"{_FIELD_PREFIX}{f.name}": f.filter_bits // 64 for f in schema.fields}}
    for name, width in widths.items():
        if name in data and data[name].shape[1] != width:
            problems.append(f"'{name}' has {data[name].shape[1]} columns, the schema says "
                            f"{width}")
    if problems:
        raise EncodingError(f"{source}: " + "; ".join(problems) + "; re-export it with "
                            "'linkage encode'.")


def _check_record_ids(source: Path, record_ids: np.ndarray) -> None:
    """Refuse blank or repeated record ids (a record in two clusters), naming the row."""
    blank = np.flatnonzero(record_ids == "")
    if len(blank):
        raise EncodingError(f"{source}: record {int(blank[0]) + 1} has a blank record id "
                            f"({len(blank)} in all).")
    repeated = np.flatnonzero(pd.Series(record_ids).duplicated().to_numpy(bool))
    if len(repeated):
        raise EncodingError(f"{source}: record {int(repeated[0]) + 1} repeats an earlier "
                            f"record id ({len(repeated)} repeated in all); each record must "
                            f"appear once.")
