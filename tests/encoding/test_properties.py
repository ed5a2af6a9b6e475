"""Property tests of the encoder: determinism, key separation, similarity, normalisation."""

import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.bits import unpackbits_rows
from linkage.encoding import BloomFilterEncoder, HardeningSpec, ProjectKey, default_schema
from linkage.encoding.normalise import normalise_name
from linkage.synth import Cohort
from linkage.synth.corruption import typo

#: the default schema without noise: these properties are about the deterministic bits
PLAIN = default_schema(hardening=HardeningSpec(), salt_names=False)

KEY = ProjectKey(bytes(range(32)))
OTHER = ProjectKey(bytes(range(1, 33)))


def dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Dice of two (n, w) packed filter arrays (plain, for tests)."""
    inter = np.bitwise_count(a & b).sum(axis=1)
    total = np.bitwise_count(a).sum(axis=1) + np.bitwise_count(b).sum(axis=1)
    return 2 * inter / np.maximum(total, 1)


def _names(values: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"record_id": [f"r{i}" for i in range(len(values))],
                         "given_name": values, "family_name": values, "sex": "F",
                         "date_of_birth": "2021-05-06", "postcode": "LS6 2AB",
                         "nhs_number": ""})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=8))
def test_same_input_and_key_give_same_bits(values: list[str]) -> None:
    a = BloomFilterEncoder(PLAIN, KEY).encode(_names(values))
    b = BloomFilterEncoder(PLAIN, ProjectKey(bytes(range(32)))).encode(_names(values))
    assert np.array_equal(a.record_filters, b.record_filters)
    for name in a.field_names:
        assert np.array_equal(a.field_filters[name], b.field_filters[name])


def test_different_key_gives_chance_similarity(small_cohort: Cohort) -> None:
    frame = small_cohort.extracts["health"].head(2000)
    a = BloomFilterEncoder(PLAIN, KEY).encode(frame)
    b = BloomFilterEncoder(PLAIN, OTHER).encode(frame)
    same_key = dice(a.record_filters, a.record_filters)
    cross = dice(a.record_filters, b.record_filters)
    # chance level: the Dice of two independent filters with the same fill rate
    fill = np.bitwise_count(a.record_filters).sum(axis=1) / 1024
    chance = fill.mean()
    assert same_key.min() == 1.0
    assert abs(cross.mean() - chance) < 0.03
    # and record by record the cross-key similarity is no better than between strangers
    shuffled = dice(a.record_filters, a.record_filters[np.random.default_rng(0).permutation(
        len(frame))])
    assert cross.mean() < shuffled.mean() + 0.03
    assert not (a.blocking_keys[:, 0] == b.blocking_keys[:, 0]).any()


def test_similarity_falls_as_edits_grow(small_cohort: Cohort) -> None:
    names = small_cohort.extracts["health"].family_name.head(400).tolist()
    rng = np.random.default_rng(3)
    encoder = BloomFilterEncoder(PLAIN, KEY)
    base = encoder.encode(_names(names)).field_filters["family_name"]
    means = []
    edited = list(names)
    for _ in range(4):
        edited = [typo(n, rng) for n in edited]
        filters = encoder.encode(_names(edited)).field_filters["family_name"]
        means.append(dice(base, filters).mean())
    assert all(later < earlier for earlier, later in itertools.pairwise(means))
    assert means[0] > 0.6 and means[-1] < means[0] - 0.15


@given(st.text(max_size=40))
def test_name_normalisation_is_idempotent(value: str) -> None:
    once = normalise_name(value)
    assert normalise_name(once) == once


def test_normalisation_folds_case_diacritics_titles_punctuation() -> None:
    assert normalise_name("  Mr  Seán  O'BRIEN-Smith ") == "sean obrien smith"
    assert normalise_name("ZOË") == normalise_name("zoe")


def test_filters_have_expected_fill(small_cohort: Cohort) -> None:
    enc = BloomFilterEncoder(PLAIN, KEY).encode(small_cohort.extracts["health"])
    bits = unpackbits_rows(enc.record_filters)
    fill = bits.mean()
    assert 0.1 < fill < 0.6  # neither nearly empty nor saturated
    # every bit position is used somewhere: positions cover the whole filter
    assert bits.any(axis=0).mean() > 0.99


def _nhs_rule(raw: str | None) -> int:
    """The NHS-number rule in plain Python: -1 missing, -2 invalid, else the number."""
    if raw is None or not raw.strip():
        return -1
    digits = "".join(c for c in raw if c not in " \t\n\f\r-")
    if len(digits) != 10 or not all("0" <= c <= "9" for c in digits):
        return -2
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return int(digits) if check != 10 and check == int(digits[9]) else -2


_NHS_TEXT = st.one_of(
    st.none(),
    st.sampled_from(["9434765919", "943 476 5919", "943-476-5919", "9434765918", "\t9434765919\n",
                     "00000000000", "1234567890", "\u00a0", "\x0b", "  ", "943476591", "x"]),
    st.text(alphabet=st.sampled_from(list("0123456789 -\t\x0b\u00a0a")), max_size=14))


@settings(deadline=None)
@given(st.lists(_NHS_TEXT, min_size=1, max_size=30), st.integers(1, 4))
def test_nhs_numbers_parse_as_the_plain_rule(values: list[str | None], chunks: int) -> None:
    """The compiled parser agrees with the rule on every record, across Arrow chunks."""
    import pyarrow as pa

    from linkage.encoding.normalise import parse_nhs_numbers

    size = -(-len(values) // chunks)
    arrow = pa.chunked_array([pa.array(values[i:i + size], type=pa.string())
                              for i in range(0, len(values), size)], type=pa.string())
    assert parse_nhs_numbers(arrow).tolist() == [_nhs_rule(v) for v in values]
    assert parse_nhs_numbers(pa.array(values, type=pa.string())[1:]).tolist() == \
        [_nhs_rule(v) for v in values[1:]]  # a sliced array (non-zero offset)


_TOKEN_TEXT = st.text(alphabet=st.sampled_from(list("ab_z09-:é ")), max_size=16)


@settings(deadline=None)
@given(st.lists(st.tuples(_TOKEN_TEXT, _TOKEN_TEXT), min_size=1, max_size=20))
def test_joined_blocks_are_the_blocks_of_joined_tokens(pairs: list[tuple[str, str]]) -> None:
    """Salted tokens are built from the blocks of their parts, without spelling them out."""
    from linkage.encoding.bloom import joined_blocks, token_blocks

    left = np.asarray([a for a, _ in pairs], dtype=np.str_)
    right = np.asarray([b for _, b in pairs], dtype=np.str_)
    joined = joined_blocks(token_blocks(left), token_blocks(right), "|")
    fits = all(len(f"{a}|{b}".encode()) <= 14 for a, b in pairs)
    if not fits:
        assert joined is None
    else:
        assert joined is not None
        assert np.array_equal(joined, token_blocks([f"{a}|{b}" for a, b in pairs]))
