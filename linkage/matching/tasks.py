"""Linking in tasks: one (blocking pass, key partition) at a time, in two phases.

A task takes the records whose key in one pass falls in one hash partition, joins them on
the key and compares the pairs no earlier pass produced (:func:`partition_candidates`).
Linking then runs in two phases, so that nothing ever holds every candidate pair:

1. **count** (:func:`task_patterns`): each task reduces its pairs to comparison patterns and
   their counts; the counts of all tasks merge exactly and the model is fitted on them.
2. **score** (:func:`task_strong_pairs`): each task scores its pairs with the fitted model
   and keeps only those at or above a weight *floor* that no linkable pair can be under
   (:func:`link_floor`); for the records whose candidates compete (one match per record) it
   also sums the odds of the pairs it dropped, exactly, in fixed point.

The Dask backend runs the tasks on workers, the in-process backend one after another; both
give the same patterns, pairs and sums, in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from linkage.contracts import EncodedSource
from linkage.matching.blocking import join_on_keys
from linkage.matching.candidates import compare_pairs
from linkage.matching.comparison import FieldComparison
from linkage.matching.patterns import PatternCounts
from linkage.matching.scoring import COVERAGE_MAX, FellegiSunter

_MIX = np.uint64(0x9E3779B97F4A7C15)
#: Fixed-point resolution of the dropped pairs' odds: ``2**(floor - ODDS_BITS)``, relative to
#: the odds at the floor (a dropped pair's odds are below it). Integer sums do not depend on
#: the order tasks finish in, so every backend gets the same bits.
ODDS_BITS = 30  # each dropped pair adds < 2**30: 2**33 of them on one record fit in int64


def odds_unit(floor: float) -> float:
    """The odds one fixed-point unit stands for under ``floor``."""
    return float(np.exp2(floor - ODDS_BITS))


def key_partition(keys: np.ndarray, parts: int) -> np.ndarray:
    """Partition of each uint64 key: ``(n,)`` -> ``(n,)`` int64 in ``[0, parts)``."""
    with np.errstate(over="ignore"):
        mixed = keys * _MIX
    return ((mixed >> np.uint64(33)) % np.uint64(parts)).astype(np.int64)


@dataclass(frozen=True)
class Task:
    """One unit of work: pass ``pass_index``, key partition ``part`` of ``parts``.

    ``skipped[q]`` holds the oversize keys of pass ``q`` (earlier passes only are used)."""

    pass_index: int
    part: int
    parts: int
    skipped: tuple[np.ndarray, ...]
    max_block_pairs: int
    self_join: bool


@dataclass(frozen=True)
class PartitionResult:
    """A task's candidate pairs, their levels, and the pass's counts."""

    left: np.ndarray    #: (P,) int64 rows of A
    right: np.ndarray   #: (P,) int64 rows of B
    levels: np.ndarray  #: (P, F) int8
    raw_pairs: int      #: pairs the pass produced in this partition (before dropping repeats)
    skipped_blocks: int  #: oversize blocks skipped in this partition


def partition_candidates(a: EncodedSource, b: EncodedSource, pass_index: int, part: int,
                         parts: int, skipped: Sequence[np.ndarray],
                         comparisons: Sequence[FieldComparison], max_block_pairs: int,
                         self_join: bool) -> PartitionResult:
    """The candidate pairs of one task and their comparison levels.

    A pair belongs to the first pass that produced it (unless that pass skipped its block
    as oversize), so the tasks of all passes together give each candidate pair once.
    """
    ka, kb = a.blocking_keys[:, pass_index], b.blocking_keys[:, pass_index]
    rows_a = np.flatnonzero((ka != 0) & (key_partition(ka, parts) == part))
    rows_b = np.flatnonzero((kb != 0) & (key_partition(kb, parts) == part))
    left, right, skip = join_on_keys(ka[rows_a], kb[rows_b], max_block_pairs)
    left, right = rows_a[left], rows_b[right]
    if self_join:
        keep = left < right
        left, right = left[keep], right[keep]
    raw = len(left)
    first = np.ones(raw, dtype=bool)
    for q in range(pass_index):
        key = a.blocking_keys[left, q]
        first &= ~((key != 0) & (key == b.blocking_keys[right, q]) & ~np.isin(key, skipped[q]))
    left, right = left[first], right[first]
    return PartitionResult(left, right, compare_pairs(a, b, left, right, comparisons), raw, skip)


def run_task(a: EncodedSource, b: EncodedSource, task: Task,
             comparisons: Sequence[FieldComparison]) -> PartitionResult:
    """:func:`partition_candidates` for a :class:`Task`."""
    return partition_candidates(a, b, task.pass_index, task.part, task.parts, task.skipped,
                                comparisons, task.max_block_pairs, task.self_join)


@dataclass(frozen=True)
class TaskPatterns:
    """Phase one of a task: its pairs' patterns and counts, and the pass's counts."""

    counts: PatternCounts
    raw_pairs: int
    skipped_blocks: int


def patterns_of(found: PartitionResult) -> TaskPatterns:
    """Phase one on a task's compared pairs: their patterns, with their counts."""
    return TaskPatterns(PatternCounts.of(found.levels), found.raw_pairs, found.skipped_blocks)


def task_patterns(a: EncodedSource, b: EncodedSource, task: Task,
                  comparisons: Sequence[FieldComparison]) -> TaskPatterns:
    """Phase one of a task (what a worker runs)."""
    return patterns_of(run_task(a, b, task, comparisons))


def link_floor(threshold: float, between: tuple[int, float] | None) -> float:
    """The lowest match weight a pair can have and still be linked at ``threshold``.

    Within a source (``between`` None) a pair links when ``match_probability(w) >=
    threshold``, so the floor is ``log2(t / (1 - t))``. Between sources (``between`` =
    (size of the larger source ``N``, the model's prior weight)) a record's candidates share
    its one match (:func:`~linkage.matching.scoring.shared_match_weights`): the probability
    is at most ``(c/N) LR / ((1 - c) + (c/N) LR)``, which reaches ``t`` only if ``w >=
    log2(t / (1 - t)) + log2((1 - c) / c) + log2(N) + prior``, lowest at the largest
    coverage ``c`` (:data:`~linkage.matching.scoring.COVERAGE_MAX`). A tiny margin covers
    rounding.
    """
    floor = math.log2(threshold / (1.0 - threshold))
    if between is not None:
        n_other, prior_weight = between
        floor += (math.log2((1.0 - COVERAGE_MAX) / COVERAGE_MAX) + math.log2(max(n_other, 1))
                  + prior_weight)
    return floor - 1e-6


@dataclass(frozen=True)
class TaskStrongPairs:
    """Phase two of a task: its pairs at or above the floor, and the dropped pairs' odds
    summed per record of the competing side (fixed point, :func:`odds_unit`)."""

    left: np.ndarray            #: (S,) int64
    right: np.ndarray           #: (S,) int64
    weight: np.ndarray          #: (S,) float64, the model's match weight
    dropped_records: np.ndarray  #: (D,) int64, distinct rows of the competing side
    dropped_odds: np.ndarray    #: (D,) int64, their dropped pairs' odds in odds_unit(floor)


def task_strong_pairs(a: EncodedSource, b: EncodedSource, task: Task,
                      comparisons: Sequence[FieldComparison], model: FellegiSunter,
                      floor: float, side: str | None) -> TaskStrongPairs:
    """Phase two of a task (what a worker runs)."""
    return strong_pairs_of(run_task(a, b, task, comparisons), model, floor, side)


def strong_pairs_of(found: PartitionResult, model: FellegiSunter, floor: float,
                    side: str | None) -> TaskStrongPairs:
    """Phase two on a task's compared pairs: score them, keep those with weight >=
    ``floor``; ``side`` (``"left"``, ``"right"`` or None) is whose records' candidates
    compete, and whose dropped odds are summed."""
    weight = model.match_weights(found.levels) if len(found.left) else np.zeros(0)
    strong = weight >= floor
    records = np.zeros(0, np.int64)
    odds = np.zeros(0, np.int64)
    if side is not None and not strong.all():
        rows = (found.left if side == "left" else found.right)[~strong]
        scaled = np.rint(np.exp2(weight[~strong] - floor + ODDS_BITS))  # each < 2**30
        order = np.argsort(rows, kind="stable")
        rows, scaled_int = rows[order], scaled[order].astype(np.int64)
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        records, odds = rows[starts], np.add.reduceat(scaled_int, starts)
    return TaskStrongPairs(found.left[strong], found.right[strong], weight[strong], records,
                           odds)
