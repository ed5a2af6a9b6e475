"""Two-phase linking: the model is fitted on pattern counts, and only pairs at or above a
floor come back; no pair that could be linked is lost, and the links do not change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.cohort_sources import encode_extracts
from linkage.contracts import EncodedSource
from linkage.encoding import ProjectKey
from linkage.matching import Linker, match_probability
from linkage.matching.backends import InProcessBackend
from linkage.matching.patterns import PatternCounts
from linkage.matching.scoring import shared_match_weights
from linkage.matching.tasks import link_floor
from linkage.protocols import load_agreement
from linkage.synth import Cohort

from ..helpers import EXAMPLE


@pytest.fixture(scope="module")
def sources(small_cohort: Cohort) -> list[EncodedSource]:
    return encode_extracts(small_cohort.extracts, load_agreement(EXAMPLE / "agreement.yaml"),
                           keys=ProjectKey(bytes(range(32))), noise_seed=3)


def _same_links(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns="probability"), b.drop(columns="probability"))
    np.testing.assert_allclose(a.probability, b.probability, rtol=0, atol=1e-9)


def test_the_floor_loses_no_link(sources: list[EncodedSource]) -> None:
    # keep_candidates scores every candidate pair (no floor): the reference
    every_pair = Linker(keep_candidates=True).link(sources)
    floored = Linker().link(sources)
    pd.testing.assert_frame_equal(every_pair.links.drop(columns="probability"),
                                  floored.links.drop(columns="probability"))
    for full, part in zip(every_pair.pair_models, floored.pair_models, strict=True):
        # the same links, and their probabilities up to the fixed-point sum of the odds
        # of the dropped pairs (2**-30 of the odds at the floor each)
        np.testing.assert_array_equal(full.links.left_rows, part.links.left_rows)
        np.testing.assert_array_equal(full.links.right_rows, part.links.right_rows)
        np.testing.assert_allclose(full.links.probability, part.links.probability,
                                   rtol=0, atol=1e-8)
    kept = sum(len(pm.candidates) for pm in every_pair.pair_models)
    assert kept == sum(len(pm.candidates) for pm in floored.pair_models)
    # ... and the floor did drop most of the pairs: few come back from the backend
    strong = sum(len(pm.links.weight) for pm in floored.pair_models)
    assert strong < kept / 2


def test_partitions_and_recomputing_give_the_same_links(sources: list[EncodedSource]) -> None:
    expected = Linker().link(sources)
    for backend in (InProcessBackend(partitions=3), InProcessBackend(cache_pairs=0),
                    InProcessBackend(partitions=5, cache_pairs=10)):
        _same_links(expected.links, Linker(backend=backend).link(sources).links)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-40, 15), st.integers(0, 3)), min_size=1, max_size=25),
       st.floats(0.0, 1.0), st.floats(0.05, 0.95), st.integers(1, 10**7),
       st.floats(-30, -1))
def test_no_pair_under_the_floor_can_reach_the_threshold(
        pairs: list[tuple[float, int]], coverage: float, threshold: float, n_other: int,
        prior: float) -> None:
    weights = np.array([w for w, _ in pairs])
    records = np.array([r for _, r in pairs], np.int64)
    shared = shared_match_weights(weights, records, 4, n_other=n_other, prior_weight=prior,
                                  coverage=coverage)
    under = weights < link_floor(threshold, (n_other, prior))
    assert not (match_probability(shared)[under] >= threshold).any()
    within = match_probability(weights)  # deduplication: no competition
    assert not (within[weights < link_floor(threshold, None)] >= threshold).any()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(-1, 2), min_size=3, max_size=3), min_size=0,
                max_size=40), st.integers(1, 4))
def test_pattern_counts_of_chunks_merge_exactly(rows: list[list[int]], chunks: int) -> None:
    levels = np.array(rows, np.int8).reshape(-1, 3)
    whole = PatternCounts.of(levels)
    parts = [PatternCounts.of(chunk) for chunk in np.array_split(levels, chunks)]
    merged = PatternCounts.merge(parts, 3)
    assert merged.total == len(levels)
    assert sorted(map(tuple, merged.patterns.tolist())) == sorted(
        map(tuple, whole.patterns.tolist()))
    as_dict = {tuple(p): c for p, c in zip(merged.patterns.tolist(), merged.counts.tolist(),
                                           strict=True)}
    assert as_dict == {tuple(p): c for p, c in zip(whole.patterns.tolist(),
                                                   whole.counts.tolist(), strict=True)}
