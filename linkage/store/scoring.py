"""Scoring new and changed records against the stored population with a frozen model.

The pieces of a :class:`~linkage.matching.Linker` run, reused: its comparisons and LSH
passes (:func:`linker_parts`), a backend for candidate pairs, a
:class:`~linkage.matching.scoring.FellegiSunter` rebuilt from the stored m, u and lambda
(:func:`frozen_model`), and :func:`~linkage.matching.clustering.select_links`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from linkage.contracts import EncodedSource
from linkage.matching.backends import CandidateBackend, CountedPairs, StrongPairs
from linkage.matching.candidates import ComparedPairs
from linkage.matching.clustering import select_links
from linkage.matching.comparison import FieldComparison
from linkage.matching.linker import Linker, LinkerSettings, one_match_pair_weights
from linkage.matching.scoring import COVERAGE_MAX, FellegiSunter, match_probability
from linkage.matching.summary import PairSummary
from linkage.store.db import StoreError
from linkage.store.rows import subset

#: Fewest candidate pairs of new records for which the drift check says anything (with
#: fewer, sampling noise alone moves level shares by 0.1: seen at 200 pairs).
DRIFT_MIN_PAIRS = 1000
#: Total variation distance of a field's level shares above which the model has drifted.
DRIFT_LIMIT = 0.1


def linker_parts(settings: LinkerSettings, source: EncodedSource
                 ) -> tuple[Linker, tuple[FieldComparison, ...]]:
    """A :class:`Linker` with ``settings`` and the comparisons it makes for ``source``'s
    hints (:meth:`Linker.comparisons`)."""
    linker = Linker(settings)
    return linker, linker.comparisons(source)


def frozen_model(pair: PairSummary, comparisons: Sequence[FieldComparison]) -> FellegiSunter:
    """The fitted model of one pair of sources, rebuilt from the stored m, u and lambda."""
    n_levels = tuple(c.n_levels for c in comparisons)
    if len(pair.m) != len(n_levels) or any(len(m) != n for m, n in zip(pair.m, n_levels,
                                                                         strict=True)):
        raise StoreError(f"The stored model of {pair.left}~{pair.right} has other comparison "
                         f"levels than these settings; run with refit.")
    model = FellegiSunter(n_levels)
    model.m_ = [np.asarray(x, dtype=np.float64) for x in pair.m]
    model.u_ = [np.asarray(x, dtype=np.float64) for x in pair.u]
    model.lambda_ = float(pair.lambda_)
    return model


class RecordingBackend:
    """A backend that passes every call on and counts the comparison levels it returns, per
    pair of partners: the reference the drift check compares new records with."""

    def __init__(self, inner: CandidateBackend) -> None:
        self.inner = inner
        self.counts: dict[str, list[list[int]]] = {}

    def candidates(self, a: EncodedSource, b: EncodedSource,
                   comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                   self_join: bool) -> ComparedPairs:
        found = self.inner.candidates(a, b, comparisons, max_block_pairs=max_block_pairs,
                                      self_join=self_join)
        self.counts[f"{a.partner}~{b.partner}"] = level_counts(found.levels, comparisons)
        return found

    def count_patterns(self, a: EncodedSource, b: EncodedSource,
                       comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                       self_join: bool) -> CountedPairs:
        counted = self.inner.count_patterns(a, b, comparisons,
                                            max_block_pairs=max_block_pairs,
                                            self_join=self_join)
        self.counts[f"{a.partner}~{b.partner}"] = level_counts(
            counted.counts.patterns, comparisons, counted.counts.counts)
        return counted

    def strong_pairs(self, a: EncodedSource, b: EncodedSource,
                     comparisons: Sequence[FieldComparison], model: FellegiSunter, *,
                     floor: float, side: str | None, max_block_pairs: int,
                     self_join: bool) -> StrongPairs:
        return self.inner.strong_pairs(a, b, comparisons, model, floor=floor, side=side,
                                       max_block_pairs=max_block_pairs, self_join=self_join)


def level_counts(levels: np.ndarray, comparisons: Sequence[FieldComparison],
                 counts: np.ndarray | None = None) -> list[list[int]]:
    """Per field, how many pairs are missing (first) and at each level; ``counts``: pairs
    per row of ``levels`` when its rows are distinct patterns."""
    return [np.rint(np.bincount(levels[:, f].astype(np.int64) + 1, weights=counts,
                                minlength=c.n_levels + 1)).astype(np.int64).tolist()
            for f, c in enumerate(comparisons)]


def drift(reference: Sequence[Sequence[int]], counts: Sequence[Sequence[int]],
          names: Sequence[str]) -> dict[str, float]:
    """Fields whose level shares (missing included) moved by more than :data:`DRIFT_LIMIT`
    in total variation distance: field -> distance."""
    out = {}
    for name, ref, new in zip(names, reference, counts, strict=True):
        r, n = np.asarray(ref, np.float64), np.asarray(new, np.float64)
        if r.sum() == 0 or n.sum() < DRIFT_MIN_PAIRS or len(r) != len(n):
            continue
        distance = 0.5 * float(np.abs(r / r.sum() - n / n.sum()).sum())
        if distance > DRIFT_LIMIT:
            out[name] = round(distance, 3)
    return out


@dataclass(frozen=True)
class ScoredDelta:
    """Candidate pairs touching new or changed records, scored (rows of the populations)."""

    left: np.ndarray
    right: np.ndarray
    levels: np.ndarray
    weight: np.ndarray
    probability: np.ndarray


def score_delta(a: EncodedSource, b: EncodedSource, delta_a: np.ndarray, delta_b: np.ndarray,
                comparisons: Sequence[FieldComparison], model: FellegiSunter,
                backend: CandidateBackend, settings: LinkerSettings, *,
                sizes: tuple[int, int] | None = None,
                coverage: float | None = None) -> ScoredDelta:
    """Block and score the new/changed rows ``delta_a`` of ``a`` against all of ``b`` and
    all of ``a`` against ``delta_b`` (``a is b``: deduplication, pairs ``left < right``).

    ``a`` and ``b`` may hold only the records that can pair with a new or changed one
    (every record sharing a blocking key with one, the delta included): each block holding
    a delta record is then whole, so blocking finds the same pairs as over the whole
    population. ``sizes``: the whole populations' sizes (None: ``len(a), len(b)``), which
    the one-match weights depend on. ``coverage``: the stored model's share of the smaller
    source's records with a match (between sources). Rows returned are rows of ``a``, ``b``.
    """
    same = a is b
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    def run(x: EncodedSource, y: EncodedSource) -> ComparedPairs:
        return backend.candidates(x, y, comparisons, max_block_pairs=settings.max_block_pairs,
                                  self_join=False)
    if len(delta_a):
        found = run(subset(a, delta_a), b)
        parts.append((delta_a[found.pairs.left], found.pairs.right, found.levels))
    if len(delta_b) and not same:
        found = run(a, subset(b, delta_b))
        parts.append((found.pairs.left, delta_b[found.pairs.right], found.levels))
    if not parts:
        empty = np.zeros(0, np.int64)
        return ScoredDelta(empty, empty, np.zeros((0, len(comparisons)), np.int8),
                           np.zeros(0), np.zeros(0))
    left = np.concatenate([p[0] for p in parts]).astype(np.int64)
    right = np.concatenate([p[1] for p in parts]).astype(np.int64)
    levels = np.concatenate([p[2] for p in parts])
    if same:  # a record with itself is no pair; each pair once, smaller row first
        keep = left != right
        left, right, levels = left[keep], right[keep], levels[keep]
        left, right = np.minimum(left, right), np.maximum(left, right)
    _, first = np.unique(left * max(len(b), 1) + right, return_index=True)
    first = np.sort(first)
    left, right, levels = left[first], right[first], levels[first]
    weight = model.match_weights(levels) if len(levels) else np.zeros(0)
    if not same:  # as a full run does; each delta record of the smaller source sees all
        # its candidates here, an unchanged one only those that are new or changed
        n_a, n_b = sizes or (len(a), len(b))
        if coverage is None:  # a model stored before the coverage was kept
            coverage = min(model.lambda_ * max(n_a, n_b), COVERAGE_MAX)
        weight = one_match_pair_weights(a, b, left, right, weight,
                                        prior_weight=model.prior_weight, coverage=coverage,
                                        sizes=(n_a, n_b))
    return ScoredDelta(left, right, levels, weight, match_probability(weight))


def select_delta(a: EncodedSource, b: EncodedSource, scored: ScoredDelta,
                 kept_left: np.ndarray, kept_right: np.ndarray, kept_weight: np.ndarray,
                 kept_probability: np.ndarray, settings: LinkerSettings
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Which scored pairs link, and which kept (stored) edges of the pair stay.

    Rows: within a source, rows of ``a`` (the gate compares their filters; no kept edges
    are passed); between sources any one numbering of each side's records (only the
    weights are used).

    Between two sources the one-to-one assignment also sees the stored edges of the
    records that new pairs compete for, so a better new link can displace an old one, as
    it would in a full run. Returns (chosen (P,) bool, kept (K,) bool).
    """
    if a is b:
        chosen = select_links(a, a, scored.left, scored.right, scored.weight,
                              scored.probability, threshold=settings.threshold,
                              gate=settings.dedup_gate)
        return chosen, np.ones(len(kept_left), bool)
    hot = scored.probability >= settings.threshold
    near = np.isin(kept_left, scored.left[hot]) | np.isin(kept_right, scored.right[hot])
    left = np.concatenate([scored.left, kept_left[near]])
    right = np.concatenate([scored.right, kept_right[near]])
    chosen = select_links(a, b, left, right,
                          np.concatenate([scored.weight, kept_weight[near]]),
                          np.concatenate([scored.probability, kept_probability[near]]),
                          threshold=settings.threshold, gate=settings.dedup_gate)
    kept = np.ones(len(kept_left), bool)
    kept[np.flatnonzero(near)] = chosen[len(scored.left):]
    return chosen[:len(scored.left)], kept
