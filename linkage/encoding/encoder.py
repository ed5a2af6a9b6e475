"""The vectorised encoder: a DataFrame of identifiers -> keyed Bloom-filter encodings.

Each field's distinct raw values are normalised and tokenised once; each distinct token
is hashed once; each distinct value becomes its packed filter once; records are then
assembled with numpy gathers and ORs. No Python loop runs per record.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from linkage.contracts import (
    DATE_DERIVATIONS,
    BlockingPart,
    ComparisonHints,
    Derivation,
    EncodedSource,
    FieldKind,
)
from linkage.encoding.blocking_tokens import PassScratch, part_hashes, pass_tokens
from linkage.encoding.bloom import (
    block_positions,
    gather_filters,
    joined_blocks,
    pack_token_bits,
    token_blocks,
)
from linkage.encoding.hardening import (
    blip,
    field_flip_probabilities,
    field_flip_probability,
    harden_deterministic,
)
from linkage.encoding.keys import ProjectKey
from linkage.encoding.normalise import (
    NHS_INVALID,
    nhs_number_text,
    normalise_dates,
    normalise_exact,
    normalise_names,
    normalise_postcodes,
    normalise_sexes,
    normalise_texts,
    parse_nhs_numbers,
)
from linkage.encoding.schema import EncodingSchema, FieldSpec
from linkage.encoding.tokens import (
    SALT_SEPARATOR,
    TokenTable,
    salted_tokens,
    tokenise_values,
)
from linkage.errors import InputDataError

#: Longest record id (characters): ids are short pseudonyms, and the linkage unit's reader
#: refuses longer ones.
MAX_RECORD_ID_CHARS = 256


def comparison_hints(schema: EncodingSchema) -> ComparisonHints:
    """What the linkage unit needs from the schema to compare the encodings: noise, salts,
    salt fallbacks and confirmations (the encoder attaches them, and ``read_encodings`` from
    the header)."""
    return ComparisonHints(flip_probability=field_flip_probabilities(schema),
                           salted_by=schema.salted_by(), salt_fallbacks=schema.salt_fallbacks(),
                           confirmed_by=schema.salt_confirmations())


@dataclass(frozen=True)
class _FieldValues:
    """A field's per-record codes into its distinct normalised values (-1 = missing)."""

    codes: np.ndarray       # (n,) int64
    values: np.ndarray      # (V,) object, normalised, non-empty
    invalid: int            # records whose non-blank value failed normalisation


def _normalise(kind: FieldKind, spec: FieldSpec, uniques: np.ndarray) -> np.ndarray:
    if kind is FieldKind.NAME:
        return normalise_names(uniques)
    if kind is FieldKind.DATE:
        return normalise_dates(uniques, spec.date_format)
    if kind is FieldKind.POSTCODE:
        return normalise_postcodes(uniques)
    if kind is FieldKind.TEXT:
        return normalise_texts(uniques)
    if kind is FieldKind.EXACT:
        return normalise_exact(uniques)
    return normalise_sexes(uniques)


def _as_arrow_strings(values: Any) -> pa.Array | pa.ChunkedArray:
    """A column as Arrow strings, nulls kept (no copy when it already is Arrow)."""
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.arrays.ArrowExtensionArray):
        chunked = values.__arrow_array__()  # the column's own chunks, no copy
        if pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type):
            return chunked
        values = np.asarray(values, dtype=object)
    objects = np.asarray(values, dtype=object)  # numpy-backed: no copy
    try:
        return pa.array(objects, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all str: numbers read as numbers
        text = objects.astype(str).astype(object)
        text[pd.isna(objects)] = None
        return pa.array(text, type=pa.string())


def _nhs_number_values(raw: pd.Series) -> _FieldValues:
    """NHS numbers, parsed per record (nearly every value is distinct, so there is nothing
    to gain from de-duplicating strings first) and de-duplicated as integers."""
    numbers = parse_nhs_numbers(_as_arrow_strings(raw))
    present = numbers >= 0
    codes = np.full(len(numbers), -1, dtype=np.int64)
    present_codes, distinct = pd.factorize(numbers[present])
    codes[present] = present_codes
    return _FieldValues(codes, nhs_number_text(np.asarray(distinct, dtype=np.int64)),
                        int(np.count_nonzero(numbers == NHS_INVALID)))


def field_values(raw: pd.Series, spec: FieldSpec) -> _FieldValues:
    """Normalise a column once per distinct raw value.

    Codes index the distinct *raw* values; two raw spellings with the same normalised
    value ("OLIVER", "Oliver") keep separate codes but get identical tokens, so their
    filters are identical. This saves a second hashing pass over the column.
    """
    if spec.kind is FieldKind.NHS_NUMBER:
        return _nhs_number_values(raw)
    raw_codes, raw_uniques = pd.factorize(raw, sort=False)  # NaN/None -> code -1
    all_uniques = np.asarray(raw_uniques, dtype=object)
    if len(all_uniques) and not all(isinstance(u, str) for u in all_uniques[:100]):
        all_uniques = all_uniques.astype(str).astype(object)
    normalised = _normalise(spec.kind, spec, all_uniques)
    empty = normalised == ""
    invalid_unique = empty.copy()
    invalid_unique[empty] = [bool(u.strip()) for u in all_uniques[empty]]  # non-blank, invalid
    invalid = int(np.bincount(raw_codes[raw_codes >= 0], minlength=len(normalised))[
        invalid_unique].sum())
    keep = ~empty
    renumber = np.cumsum(keep) - 1
    per_unique = np.where(keep, renumber, -1)
    codes = np.where(raw_codes >= 0, per_unique[np.maximum(raw_codes, 0)], -1)
    return _FieldValues(codes.astype(np.int64), normalised[keep], invalid)


@dataclass(frozen=True)
class DistinctTokens:
    """A field's tokens de-duplicated: value ``owner[e]`` holds token ``token_code[e]``,
    whose block is ``blocks[token_code[e]]``."""

    owner: np.ndarray       #: (E,) int64, sorted
    token_code: np.ndarray  #: (E,) int64 into ``blocks``
    blocks: np.ndarray      #: (D, 15) uint8: the distinct tokens as :func:`token_blocks`
    n_values: int
    distinct: np.ndarray | None = None  #: (D,) str, where the tokens were spelt out


def distinct_tokens(table: TokenTable, n_values: int) -> DistinctTokens:
    """Sort tokens by value and number the distinct ones (done once per field)."""
    if len(table.owner) == n_values and np.array_equal(table.owner, np.arange(n_values)):
        # one token per value (exact fields): no de-duplication needed
        index = np.arange(n_values, dtype=np.int64)
        return DistinctTokens(index, index, token_blocks(table.token), n_values, table.token)
    order = np.argsort(table.owner, kind="stable")
    token_code, distinct = pd.factorize(table.token[order], sort=False)
    spelt = np.asarray(distinct, dtype=np.str_)
    return DistinctTokens(table.owner[order], token_code.astype(np.int64), token_blocks(spelt),
                          n_values, spelt)


def _salted(values: _FieldValues, salt_codes: np.ndarray, salt_labels: np.ndarray,
            spec: FieldSpec) -> tuple[_FieldValues, DistinctTokens]:
    """Distinct (value, salt) pairs and their distinct tokens (each of the value's tokens
    followed by ``|salt``); a missing salt makes the value missing.

    ``salt_codes`` (n,) int64 per record (-1 = missing) index ``salt_labels``. The value's
    tokens come from its unsalted tokens and the salted tokens are numbered as integer
    (token, salt) pairs, so a million distinct (name, birth date) pairs cost integer work,
    not a million strings; the salted tokens' AES blocks are joined from their parts'
    blocks (:func:`joined_blocks`), spelt out only when one would not fit a block.
    """
    ok = (values.codes >= 0) & (salt_codes >= 0)
    radix = len(salt_labels) + 1
    pair = np.where(ok, values.codes * radix + salt_codes, -1)
    pair_codes, pair_uniques = pd.factorize(pair[ok])
    codes = np.full(len(pair), -1, dtype=np.int64)
    codes[ok] = pair_codes
    vi, si = np.divmod(np.asarray(pair_uniques, dtype=np.int64), radix)
    base = distinct_tokens(tokenise_values(values.values, spec), len(values.values))
    per_value = np.bincount(base.owner, minlength=len(values.values))
    first = np.concatenate([[0], np.cumsum(per_value)[:-1]])  # base.owner is sorted
    count = per_value[vi]
    owner = np.repeat(np.arange(len(vi), dtype=np.int64), count)
    within = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    base_token = base.token_code[np.repeat(first[vi], count) + within]
    combo = base_token * radix + si[owner]
    token_code, combos = pd.factorize(combo)
    combos = np.asarray(combos, dtype=np.int64)
    salts = np.asarray(salt_labels, dtype=np.str_)
    blocks = joined_blocks(base.blocks[combos // radix], token_blocks(salts)[combos % radix],
                           SALT_SEPARATOR)
    if blocks is None:  # a salted token longer than one block: spell them out
        assert base.distinct is not None  # distinct_tokens always keeps its tokens' text
        blocks = token_blocks(salted_tokens(base.distinct[combos // radix],
                                            salts[combos % radix]))
    return (_FieldValues(codes, values.values[vi], values.invalid),
            DistinctTokens(owner, token_code.astype(np.int64), blocks, len(vi)))


def value_filters(tokens: DistinctTokens, key: bytes, bits_per_token: int,
                  filter_bits: int) -> np.ndarray:
    """One packed filter per distinct value: ``(n_values, filter_bits // 64)`` uint64.

    Each distinct token is hashed once; its positions are scattered to every value that
    holds it.
    """
    positions = block_positions(tokens.blocks, key, bits_per_token, filter_bits)
    return pack_token_bits(tokens.owner, tokens.token_code, positions, tokens.n_values,
                           filter_bits)


def _blocking_part(part: BlockingPart, values: dict[str, _FieldValues]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-record codes of one blocking part (-1 = missing) and the label of each code."""
    fv = values[part.field]
    if not part.derivation:
        return fv.codes, fv.values
    derived = np.asarray([_derive_part(v, part.derivation) for v in fv.values], dtype=object)
    codes, labels = pd.factorize(pd.Series(derived, dtype=object))
    per_record = np.full(len(fv.codes), -1, dtype=np.int64)
    present = fv.codes >= 0
    per_record[present] = codes[fv.codes[present]]
    return per_record, np.asarray(labels, dtype=object)


def part_labels(frame: pd.DataFrame, schema: EncodingSchema, part: str | BlockingPart
                ) -> np.ndarray:
    """Each record's normalised value of a blocking or salt ``part`` such as
    ``'date_of_birth.year'`` or ``'given_name'``: (n,) object, ``""`` where missing.

    Columns are named as the schema's fields. Used to simulate an attacker who knows the
    (public) normalisation rules.
    """
    parsed = part if isinstance(part, BlockingPart) else BlockingPart.parse(part)
    name = parsed.field
    values = {name: field_values(_column(frame, name, len(frame)), schema.field(name))}
    codes, labels = _blocking_part(parsed, values)
    out = np.full(len(frame), "", dtype=object)
    out[codes >= 0] = np.asarray(labels, dtype=object)[codes[codes >= 0]]
    return out


_EPOCH = datetime.date(1970, 1, 1)


def _derive_part(value: str, how: Derivation) -> str:
    if how is Derivation.SOUNDEX:
        return jellyfish.soundex(value.replace(" ", ""))
    if how is Derivation.YEAR:
        return value[:4]
    if how is Derivation.MONTH:
        return value[5:7]
    if how is Derivation.OUTWARD:
        return value[:-3]
    if how is Derivation.FIRST2:
        return value[:2]
    if how is Derivation.UNORDERED:
        month, day = value[5:7], value[8:10]
        return f"{value[:4]}-{min(month, day)}-{max(month, day)}"
    if how in DATE_DERIVATIONS:
        try:  # normalised dates are YYYY-MM-DD; the value stays out of the message
            date = datetime.date.fromisoformat(value)
        except ValueError:
            raise InputDataError(f"A '.{how.value}' part needs a date field's normalised "
                                 f"YYYY-MM-DD value; got one of {len(value)} characters "
                                 f"that is not.") from None
        if how in (Derivation.TWO_DAYS, Derivation.TWO_DAYS_SHIFTED):
            return str(((date - _EPOCH).days + (how is Derivation.TWO_DAYS_SHIFTED)) // 2)
        shifted = how is Derivation.DAY_MONTH_TWO_YEARS_SHIFTED
        return f"{date.month:02d}-{date.day:02d}/{(date.year + shifted) // 2}"
    raise ValueError(f"no rule for the part '.{how.value}'")  # Derivation and this agree


class BloomFilterEncoder:
    """Encode identifiers under an :class:`EncodingSchema` and a :class:`ProjectKey`.

    >>> from linkage.encoding import BloomFilterEncoder, ProjectKey, default_schema
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"record_id": ["r1"], "given_name": ["Oisín"],
    ...     "family_name": ["O'Brien"], "date_of_birth": ["2021-03-07"], "sex": ["M"],
    ...     "postcode": ["LS6 2AB"], "nhs_number": ["9434765919"]})
    >>> enc = BloomFilterEncoder(default_schema(), ProjectKey.generate()).encode(frame)
    >>> enc.record_filters.shape
    (1, 16)
    """

    def __init__(self, schema: EncodingSchema, key: ProjectKey, *,
                 noise_seed: int | None = None) -> None:
        """``noise_seed`` fixes the BLIP noise so that benchmarks repeat exactly; leave it
        None for real data (fresh noise from the operating system on every encode)."""
        self.schema = schema
        self._key = key
        self._noise_seed = noise_seed

    def __repr__(self) -> str:
        return f"BloomFilterEncoder(schema digest {self.schema.digest()[:12]}, key <redacted>)"

    def encode(self, frame: pd.DataFrame, columns: Mapping[str, str | None] | None = None, *,
               record_id_column: str = "record_id", progress: bool = False,
               source: str = "input", partner: str = "") -> EncodedSource:
        """Encode ``frame`` as the encodings of ``partner``.

        ``columns`` maps a schema field to its column (default: the field's own name); a
        field mapped to ``None`` is not held by this partner and is missing on every record.
        ``source`` names the input in error messages. Raises :class:`InputDataError` for
        missing columns or bad record ids, naming the column or row, never a value.
        """
        schema = self.schema
        columns = dict(columns) if columns is not None else {}
        mapping = {f.name: columns.get(f.name, f.name) for f in schema.fields}
        wanted = [record_id_column, *(c for c in mapping.values() if c is not None)]
        absent = [c for c in wanted if c not in frame.columns]
        if absent:
            raise InputDataError(f"{source}: missing column(s) {', '.join(absent)} "
                                 f"(needed by the encoding schema).")
        n = len(frame)
        bar = tqdm(total=2 * len(schema.fields), desc="encoding fields", unit="step",
                   disable=not progress)
        values: dict[str, _FieldValues] = {}
        record = np.zeros((n, schema.record_filter_bits // 64), dtype=np.uint64)
        field_filters: dict[str, np.ndarray] = {}
        encoded: dict[str, np.ndarray] = {}  # per field: (n,) bool, a value was encoded
        # Two threads: Arrow's hashing, AES and the compiled kernels release the GIL.
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = {spec.name: pool.submit(field_values, _column(frame, mapping[spec.name], n),
                                              spec) for spec in schema.fields}
            try:
                record_ids = frame[record_id_column].to_numpy(dtype=object)
                _check_record_ids(record_ids, source, record_id_column)
            except InputDataError:
                for future in pending.values():
                    future.cancel()
                raise
            for spec in schema.fields:
                values[spec.name] = pending[spec.name].result()
                bar.update()
            # blocking tokens need only the normalised values: one thread makes them while
            # this one builds the filters
            blocking_keys = pool.submit(self._blocking_keys, values, n)
            for spec in schema.fields:
                field_filters[spec.name], encoded[spec.name] = self._encode_field(
                    spec, values, record)
                bar.update()
            blocking = blocking_keys.result()
        bar.close()
        counts = {f.name: {"missing": int((values[f.name].codes < 0).sum()),
                           "invalid": values[f.name].invalid} for f in schema.fields}
        hard = schema.hardening
        if "record" in hard.applies_to:
            record = harden_deterministic(record, hard, self._step_keys("hardening:record"))
            if hard.blip_epsilon is not None:
                blip(record, hard.blip_epsilon, self._seed("record"), in_place=True)
        # a salted field whose salt is missing encodes nothing: it is missing too
        missing = np.stack([~encoded[f.name] for f in schema.fields], axis=1)
        return EncodedSource(
            partner=partner, record_ids=record_ids, record_filters=record,
            field_filters=field_filters, missing=missing,
            field_names=tuple(f.name for f in schema.fields),
            field_kinds={f.name: f.kind for f in schema.fields}, blocking_keys=blocking,
            blocking_names=tuple(p.name for p in schema.blocking),
            hints=comparison_hints(schema), counts=counts)

    def _encode_field(self, spec: FieldSpec, values: dict[str, _FieldValues],
                      record: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One field's filters for every record ``(n, w)`` uint64, and which records had a
        value to encode ``(n,)`` bool; its part of the record-level filter is OR-ed into
        ``record`` in place."""
        schema, hard = self.schema, self.schema.hardening
        fv = values[spec.name]
        if spec.salt is not None:
            fv, tokens = _salted(fv, *_blocking_part(spec.salt, values), spec)
        else:
            tokens = distinct_tokens(tokenise_values(fv.values, spec), len(fv.values))
        filters = value_filters(tokens, self._key.derive(f"field:{spec.name}"),
                                spec.bits_per_token, spec.filter_bits)
        if "field" in hard.applies_to:
            filters = harden_deterministic(filters, hard,
                                           self._step_keys(f"hardening:field:{spec.name}"))
        gathered = gather_filters(filters, fv.codes)
        if field_flip_probability(hard, spec.name) > 0:
            blip(gathered, hard.blip_epsilon,  # type: ignore[arg-type]
                 self._seed(f"field:{spec.name}"), in_place=True)
        if spec.record_bits_per_token:
            contrib = value_filters(tokens, self._key.derive(f"record:{spec.name}"),
                                    spec.record_bits_per_token, schema.record_filter_bits)
            gather_filters(contrib, fv.codes, out=record)
        return gathered, fv.codes >= 0

    def _seed(self, label: str) -> int | None:
        """The noise seed of one filter (None: fresh noise)."""
        if self._noise_seed is None:
            return None
        digest = hashlib.sha256(f"{self._noise_seed}:{label}".encode()).digest()
        return int.from_bytes(digest[:8], "little")

    def _step_keys(self, prefix: str) -> Callable[[str], bytes]:
        """Key derivation for the hardening steps of one filter."""
        return lambda step: self._key.derive(f"{prefix}:{step}")

    def _blocking_keys(self, values: dict[str, _FieldValues], n: int) -> np.ndarray:
        """Keyed blocking tokens, one uint64 per record and pass (0 = a part is missing)."""
        out = np.zeros((n, len(self.schema.blocking)), dtype=np.uint64)
        per_part: dict[BlockingPart, tuple[np.ndarray, np.ndarray]] = {}  # part -> (hashes, codes)
        scratch = PassScratch(n)
        for j, blocking_pass in enumerate(self.schema.blocking):
            parts = blocking_pass.parsed_parts
            for part in parts:
                if part not in per_part:
                    codes, labels = _blocking_part(part, values)
                    # keyed by the kind of part, not the field, so that "given_name.soundex"
                    # and "family_name.soundex" hash alike (needed for either_order)
                    how = part.derivation.value or "whole"
                    table = part_hashes(labels, self._key.derive(f"blocking-part:{how}"))
                    per_part[part] = (table, codes)
            if not all(len(per_part[p][0]) for p in parts):
                continue  # a part missing on every record
            pass_tokens([per_part[p][0] for p in parts],
                        [per_part[p][1] for p in parts],
                        self._key.derive(f"blocking:{blocking_pass.name}"),
                        either_order=blocking_pass.either_order, out=out[:, j], scratch=scratch)
        return out


def _column(frame: pd.DataFrame, name: str | None, n: int) -> pd.Series:
    """The column ``name``, or an all-blank column for a field this partner does not hold."""
    if name is None:
        return pd.Series(np.full(n, "", dtype=object))
    return frame[name]


def _check_record_ids(ids: np.ndarray, source: str, column: str) -> None:
    """Refuse an empty table, blank record ids and repeated ones, naming the row.

    ``ids``: (n,) object, as read."""
    if len(ids) == 0:
        raise InputDataError(f"{source}: has no records.")
    blank = np.flatnonzero(pd.isna(ids) | (ids == ""))
    if len(blank):
        raise InputDataError(f"{source}: row {int(blank[0]) + 2}: column '{column}' is empty "
                             f"({len(blank)} row(s) in all).")
    long = np.flatnonzero(pd.Series(ids).astype(str).str.len().to_numpy() > MAX_RECORD_ID_CHARS)
    if len(long):
        raise InputDataError(f"{source}: row {int(long[0]) + 2}: column '{column}' holds a record "
                             f"id longer than {MAX_RECORD_ID_CHARS} characters ({len(long)} "
                             f"row(s) in all); record ids are short pseudonyms.")
    repeated = np.flatnonzero(pd.Series(ids).duplicated().to_numpy(bool))
    if len(repeated):
        raise InputDataError(f"{source}: row {int(repeated[0]) + 2}: column '{column}' repeats "
                             f"an earlier record id ({len(repeated)} repeated row(s) in all).")
