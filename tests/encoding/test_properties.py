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
PLAIN = default_schema(hardening=HardeningSpec())

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
