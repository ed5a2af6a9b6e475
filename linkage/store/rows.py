"""One record's encoding as bytes in the store, its content hash, and back.

A stored row is the record's arrays side by side, in the agreement's :class:`Layout`: the
record filter, each field filter in field order, the missing flags (one byte each) and
the keyed blocking tokens. No key and no identifier is in it: only what the data provider
already sent the linkage unit.

The **content hash** (:func:`fingerprints`) covers the parts of the row that carry no BLIP
noise: the field filters of fields without noise, the missing flags, the keyed blocking
tokens and, when no field carries noise, the record filter (BLIP may cover the record
filter too, and the hints do not say whether it does). Fresh noise is drawn on every
encode, so the noisy filters of an unchanged record differ from one extract to the next
while its noise-free parts do not. So an unchanged record keeps its stored encoding, and
only one noisy copy of it is ever kept (several copies of one value's noisy filter could
be averaged to undo the noise).

The price: a correction that changes only a noisy field without changing any blocking
token (with the example schema: a given name corrected to one with the same Soundex code)
is taken as unchanged, and the record keeps its old encoding until a noise-free part
changes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numba import njit

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
            "salt_fallbacks": [fb.as_list() for fb in hints.salt_fallbacks],
            "confirmed_by": dict(hints.confirmed_by)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Layout:
        d: dict[str, Any] = json.loads(text)
        hints = ComparisonHints(
            {str(k): float(v) for k, v in d["flip_probability"].items()},
            {str(k): str(v) for k, v in d["salted_by"].items()},
            tuple(_salt_fallback(fb) for fb in d["salt_fallbacks"]),
            {str(k): str(v) for k, v in d.get("confirmed_by", {}).items()})
        return cls(tuple(d["fields"]), tuple(d["kinds"]), tuple(int(w) for w in d["widths"]),
                   int(d["record_width"]), tuple(d["blocking"]), hints)

    @property
    def row_bytes(self) -> int:
        return 8 * (self.record_width + sum(self.widths) + len(self.blocking)) + len(self.fields)

    def same_encodings(self, other: Layout) -> bool:
        """Whether sources of the two layouts can be compared: the same fields, filter
        lengths, blocking passes and hardening. The confirmations (``hints.confirmed_by``)
        are how the matcher reads them, not part of the encodings: a store made before they
        existed keeps working without them until a refit takes them (docs/store.md)."""
        def bare(layout: Layout) -> Layout:
            return replace(layout, hints=replace(layout.hints, confirmed_by={}))
        return bare(self) == bare(other)

    def check(self, source: EncodedSource, agreement_id: str) -> None:
        """Refuse a source encoded with another schema than the store's."""
        if not self.same_encodings(Layout.of(source)):
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


def row_bytes(layout: Layout, source: EncodedSource, rows: np.ndarray) -> list[bytes]:
    """The stored rows (bytes) of ``source``'s records ``rows``: only the rows a run stores
    (its new and changed records) are ever made."""
    parts = _columns(layout, subset(source, np.asarray(rows, np.int64)))
    whole = (np.hstack([p for p, _ in parts]) if parts
             else np.zeros((len(rows), 0), np.uint8))
    return [row.tobytes() for row in whole]


def fingerprints(layout: Layout, source: EncodedSource) -> np.ndarray:
    """(n, 2) uint64: each record's content fingerprint over the noise-free parts of its
    row (see the module docstring), in the source's order.

    A change detector, not a security primitive: 128 bits from two differently seeded
    splitmix64 chains over the row's words, compiled, so that a monthly full extract of
    millions of records is fingerprinted in a fraction of a second (SHA-256 row by row took
    seconds). A record's fingerprint is only ever compared with its own stored one, so a
    change goes unseen with probability about 2**-128; only the data provider, who holds
    the key, could craft such a change, and it could as well not send it.
    """
    n = len(source)
    out = np.empty((n, 2), np.uint64)
    out[:, 0], out[:, 1] = _SEEDS
    for part, clean in _columns(layout, source):
        if not clean or part.shape[1] == 0:
            continue
        length = part.shape[1]
        width = -(-length // 8) * 8
        if width != length:
            words = np.zeros((n, width), np.uint8)
            words[:, :length] = part
            part = words
        _fold(out, np.ascontiguousarray(part).view(np.uint64), np.uint64(length))
    return out


def fingerprint_hex(fingerprint: np.ndarray) -> list[str]:
    """The ``records.content_hash`` text (32 hex digits) of each row of ``fingerprint``
    (n, 2) uint64."""
    raw = np.ascontiguousarray(fingerprint, "<u8").view(np.uint8)
    return [row.tobytes().hex() for row in raw.reshape(len(fingerprint), 16)]


def fingerprint_of_hex(texts: Sequence[str]) -> np.ndarray:
    """The inverse of :func:`fingerprint_hex`: (n, 2) uint64."""
    try:
        raw = bytes.fromhex("".join(texts))
    except ValueError:
        raw = b""
    if len(raw) != 16 * len(texts):
        raise StoreError("A stored content hash is not 32 hex digits: the store was made "
                         "by another version of linkage.")
    return np.frombuffer(raw, "<u8").astype(np.uint64).reshape(len(texts), 2)


_SEEDS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03))


@njit(cache=True)
def _fold(out: np.ndarray, words: np.ndarray, length: np.uint64) -> None:  # pragma: no cover
    """Chain each row of ``words`` (n, w) uint64, after the part's byte ``length``, into
    both lanes of ``out`` (n, 2), in place; splitmix64's finaliser mixes each step."""
    for i in range(words.shape[0]):
        for lane in range(2):
            h = out[i, lane] ^ length
            for j in range(words.shape[1]):
                z = (h ^ words[i, j]) + np.uint64(0x9E3779B97F4A7C15) + np.uint64(lane)
                z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                h = z ^ (z >> np.uint64(31))
            out[i, lane] = h


def decode_rows(layout: Layout, partner: str, record_ids: Sequence[str] | np.ndarray,
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
