"""One record's encoding as bytes in the store, its content hash, and back.

A stored row is the record's arrays side by side, in the agreement's :class:`Layout`: the
record filter, each field filter in field order, the missing flags (one byte each) and
the keyed blocking tokens. No key and no identifier is in it: only what the data provider
already sent the linkage unit.

The **content hash** covers the parts of the row that carry no BLIP noise: the field
filters of fields without noise, the missing flags, the keyed blocking tokens and, when no
field carries noise, the record filter (BLIP may cover the record filter too, and the hints
do not say whether it does). Fresh noise is drawn on every encode, so the noisy filters of
an unchanged record differ from one extract to the next while its noise-free parts do not.
So an unchanged record keeps its stored encoding, and only one noisy copy of it is ever
kept (several copies of one value's noisy filter could be averaged to undo the noise).

The price: a correction that changes only a noisy field without changing any blocking
token (with the example schema: a given name corrected to one with the same Soundex code)
is taken as unchanged, and the record keeps its old encoding until a noise-free part
changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from linkage.contracts import ComparisonHints, EncodedSource, FieldKind, SaltFallback
from linkage.store.db import StoreError


def _salt_fallback(fields: list[str | None]) -> SaltFallback:
    """A :class:`SaltFallback` from its header list (three items in stores made before the
    either-order fallback)."""
    text = [None if x is None else str(x) for x in fields] + [None] * (4 - len(fields))
    return SaltFallback(str(text[0]), str(text[1]), gate_field=text[2], swapped_field=text[3])


@dataclass(frozen=True)
class Layout:
    """The shape of every encoded source of one agreement (fields, widths, hints)."""

    fields: tuple[str, ...]
    kinds: tuple[str, ...]
    widths: tuple[int, ...]   #: uint64 words of each field filter
    record_width: int         #: uint64 words of the record filter
    blocking: tuple[str, ...]
    hints: ComparisonHints

    @classmethod
    def of(cls, source: EncodedSource) -> Layout:
        return cls(tuple(source.field_names),
                   tuple(str(source.field_kinds[f]) for f in source.field_names),
                   tuple(int(source.field_filters[f].shape[1]) for f in source.field_names),
                   int(source.record_filters.shape[1]), tuple(source.blocking_names),
                   source.hints)

    def to_json(self) -> str:
        hints = self.hints
        return json.dumps({
            "fields": list(self.fields), "kinds": list(self.kinds), "widths": list(self.widths),
            "record_width": self.record_width, "blocking": list(self.blocking),
            "flip_probability": dict(hints.flip_probability), "salted_by": dict(hints.salted_by),
            "salt_fallbacks": [fb.as_list() for fb in hints.salt_fallbacks]}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Layout:
        d: dict[str, Any] = json.loads(text)
        hints = ComparisonHints(
            {str(k): float(v) for k, v in d["flip_probability"].items()},
            {str(k): str(v) for k, v in d["salted_by"].items()},
            tuple(_salt_fallback(fb) for fb in d["salt_fallbacks"]))
        return cls(tuple(d["fields"]), tuple(d["kinds"]), tuple(int(w) for w in d["widths"]),
                   int(d["record_width"]), tuple(d["blocking"]), hints)

    @property
    def row_bytes(self) -> int:
        return 8 * (self.record_width + sum(self.widths) + len(self.blocking)) + len(self.fields)

    def check(self, source: EncodedSource, agreement_id: str) -> None:
        """Refuse a source encoded with another schema than the store's."""
        if Layout.of(source) != self:
            raise StoreError(f"Source '{source.partner}' was encoded with other fields, "
                             f"filter lengths, blocking passes or hardening than the sources "
                             f"already in the store for agreement '{agreement_id}'.")


def _columns(layout: Layout, source: EncodedSource) -> list[tuple[np.ndarray, bool]]:
    """The row's parts as (n, bytes) uint8 matrices, each with whether it is noise-free."""
    n = len(source)
    def raw(a: np.ndarray, dtype: type) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=dtype).view(np.uint8).reshape(n, -1)
    noisy = layout.hints.flip_probability
    parts = [(raw(source.record_filters, np.uint64), not noisy)]
    parts += [(raw(source.field_filters[f], np.uint64), noisy.get(f, 0.0) == 0.0)
              for f in layout.fields]
    parts += [(raw(source.missing, np.uint8), True),
              (raw(source.blocking_keys, np.uint64), True)]
    return parts


class EncodedRows(Sequence[bytes]):
    """The stored rows of a source's records, made into bytes only when asked for (a run
    stores only its new and changed records' rows)."""

    def __init__(self, whole: np.ndarray) -> None:
        self._whole = whole

    def __len__(self) -> int:
        return len(self._whole)

    def __getitem__(self, i: int) -> bytes:  # type: ignore[override]
        return self._whole[i].tobytes()


def encode_rows(layout: Layout, source: EncodedSource) -> tuple[EncodedRows, list[str]]:
    """Each record's stored row and content hash (hex), in the source's order."""
    parts = _columns(layout, source)
    whole = np.hstack([p for p, _ in parts]) if parts else np.zeros((len(source), 0), np.uint8)
    stable = np.ascontiguousarray(np.hstack([p for p, clean in parts if clean]))
    hashes = [hashlib.sha256(row).hexdigest()[:32] for row in stable]
    return EncodedRows(whole), hashes


def decode_rows(layout: Layout, partner: str, record_ids: Sequence[str],
                rows: Sequence[bytes]) -> EncodedSource:
    """The :class:`EncodedSource` of stored rows (in the given order)."""
    n = len(rows)
    flat = np.frombuffer(b"".join(rows), dtype=np.uint8)
    if flat.size != n * layout.row_bytes:
        raise StoreError(f"The stored encodings of '{partner}' do not fit the store's layout.")
    matrix = flat.reshape(n, layout.row_bytes)
    at = 0
    def take(width: int, dtype: type) -> np.ndarray:
        nonlocal at
        size = width * np.dtype(dtype).itemsize
        out: np.ndarray = np.ascontiguousarray(matrix[:, at:at + size]).view(dtype)
        out = out.reshape(n, width)
        at += size
        return out
    record = take(layout.record_width, np.uint64)
    fields = {f: take(w, np.uint64) for f, w in zip(layout.fields, layout.widths, strict=True)}
    missing = take(len(layout.fields), np.uint8).astype(bool)
    blocking = take(len(layout.blocking), np.uint64)
    return EncodedSource(partner=partner, record_ids=np.asarray(record_ids, dtype=object),
                         record_filters=record, field_filters=fields, missing=missing,
                         field_names=layout.fields,
                         field_kinds={f: FieldKind(k) for f, k in zip(layout.fields,
                                                                     layout.kinds, strict=True)},
                         blocking_keys=blocking, blocking_names=layout.blocking,
                         hints=layout.hints)


def subset(source: EncodedSource, rows: np.ndarray) -> EncodedSource:
    """The records ``rows`` of ``source`` (same partner, layout and hints)."""
    return EncodedSource(partner=source.partner, record_ids=source.record_ids[rows],
                         record_filters=source.record_filters[rows],
                         field_filters={f: m[rows] for f, m in source.field_filters.items()},
                         missing=source.missing[rows], field_names=source.field_names,
                         field_kinds=source.field_kinds,
                         blocking_keys=source.blocking_keys[rows],
                         blocking_names=source.blocking_names, hints=source.hints)



def blocking_of(layout: Layout, row: bytes) -> bytes:
    """The keyed blocking tokens of a stored row (its last ``8 * passes`` bytes): what the
    store keeps in ``records.blocking`` so a run can find candidates without the filters."""
    width = 8 * len(layout.blocking)
    return bytes(row[len(row) - width:]) if width else b""


def blocking_matrix(layout: Layout, partner: str, rows: Sequence[bytes]) -> np.ndarray:
    """(n, passes) uint64: the stored ``records.blocking`` values, in the given order."""
    width = len(layout.blocking)
    flat = np.frombuffer(b"".join(rows), dtype=np.uint64)
    if flat.size != len(rows) * width:
        raise StoreError(f"The stored blocking keys of '{partner}' do not fit the store's "
                         f"layout.")
    return flat.reshape(len(rows), width)


def sparse_source(layout: Layout, partner: str, record_ids: np.ndarray, keys: np.ndarray,
                  loaded: np.ndarray, rows: Sequence[bytes]) -> EncodedSource:
    """A population of ``len(record_ids)`` records whose encodings are known only for the
    rows ``loaded`` (ascending; ``rows`` their stored rows, in that order): every record's
    id and blocking ``keys`` (n, passes) are real, the filters of the other records zero.

    Used where only the records sharing a blocking key with a new or changed record are
    ever compared: the row numbers stay those of the whole population.
    """
    part = decode_rows(layout, partner, record_ids[loaded], rows)
    n = len(record_ids)
    def spread(a: np.ndarray) -> np.ndarray:
        out = np.zeros((n, *a.shape[1:]), a.dtype)
        out[loaded] = a
        return out
    return EncodedSource(partner=partner, record_ids=np.asarray(record_ids, dtype=object),
                         record_filters=spread(part.record_filters),
                         field_filters={f: spread(m) for f, m in part.field_filters.items()},
                         missing=spread(part.missing), field_names=layout.fields,
                         field_kinds=part.field_kinds,
                         blocking_keys=np.ascontiguousarray(keys, dtype=np.uint64),
                         blocking_names=layout.blocking, hints=layout.hints)
