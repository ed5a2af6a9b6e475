"""Where blocking and comparison run: the backend protocol and the in-process backend.

Blocking and comparing are the part of linking that grows with the data. The :class:`Linker`
hands it to a backend in two phases (:mod:`linkage.matching.tasks`): ``count_patterns``
returns the candidates' comparison patterns and their counts (what the model is fitted on),
then ``strong_pairs`` returns only the pairs that could be linked under the fitted model,
with the odds of the rest summed per record. So no backend holds every candidate pair at
once. :class:`InProcessBackend` runs the tasks one after another in this process;
:class:`linkage.matching.distributed.DaskBackend` runs them on a cluster. Both give the same
arrays in the same order, so everything after them gives identical links.

``candidates`` (every pair with its levels) stays for the store's incremental runs, which
score a few new records at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from linkage.contracts import EncodedSource
from linkage.matching.blocking import CandidatePairs, block, common_blocks
from linkage.matching.candidates import ComparedPairs, compare_pairs
from linkage.matching.comparison import FieldComparison
from linkage.matching.patterns import PatternCounts
from linkage.matching.scoring import FellegiSunter
from linkage.matching.tasks import (
    PartitionResult,
    Task,
    TaskPatterns,
    TaskStrongPairs,
    odds_unit,
    patterns_of,
    run_task,
    strong_pairs_of,
)


@dataclass(frozen=True)
class CountedPairs:
    """Phase one: the candidates' comparison patterns and counts, and the blocking counts."""

    counts: PatternCounts
    pairs_per_pass: dict[str, int]
    skipped_blocks: dict[str, int]

    def summary(self) -> CandidatePairs:
        """The blocking counts as a :class:`CandidatePairs` without pair arrays."""
        return CandidatePairs.counted(self.pairs_per_pass, self.skipped_blocks,
                                      self.counts.total)


@dataclass(frozen=True)
class StrongPairs:
    """Phase two: the pairs at or above the floor, sorted by ``(left, right)``."""

    left: np.ndarray    #: (S,) int64 rows of A
    right: np.ndarray   #: (S,) int64 rows of B
    weight: np.ndarray  #: (S,) float64, the model's match weight
    #: (n,) float64 per record of the competing side: odds of its pairs under the floor
    dropped_odds: np.ndarray | None


class CandidateBackend(Protocol):
    """Runs blocking and comparison for one pair of sources (or one source with itself)."""

    def candidates(self, a: EncodedSource, b: EncodedSource,
                   comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                   self_join: bool) -> ComparedPairs: ...

    def count_patterns(self, a: EncodedSource, b: EncodedSource,
                       comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                       self_join: bool) -> CountedPairs: ...

    def strong_pairs(self, a: EncodedSource, b: EncodedSource,
                     comparisons: Sequence[FieldComparison], model: FellegiSunter, *,
                     floor: float, side: str | None, max_block_pairs: int,
                     self_join: bool) -> StrongPairs: ...


def oversize_keys(keys_a: np.ndarray, keys_b: np.ndarray, max_block_pairs: int) -> np.ndarray:
    """The keys of one pass whose block is skipped (``|A| |B| > max_block_pairs``)."""
    blocks = common_blocks(np.sort(keys_a[keys_a != 0]), np.sort(keys_b[keys_b != 0]))
    return blocks.keys[blocks.oversize(max_block_pairs)]


def plan_tasks(a: EncodedSource, b: EncodedSource, *, parts: int, max_block_pairs: int,
               self_join: bool) -> list[Task]:
    """Every (pass, key partition) task, in pass order then partition order."""
    passes = len(a.blocking_names)
    skipped = tuple(oversize_keys(a.blocking_keys[:, p], b.blocking_keys[:, p],
                                  max_block_pairs) for p in range(passes))
    return [Task(p, part, parts, skipped[:p], max_block_pairs, self_join)
            for p in range(passes) for part in range(parts)]


def merge_patterns(tasks: Sequence[Task], results: Sequence[TaskPatterns],
                   names: Sequence[str], n_fields: int) -> CountedPairs:
    """Phase one of every task as one :class:`CountedPairs` (``results`` in task order)."""
    per_pass = dict.fromkeys(names, 0)
    skipped = dict.fromkeys(names, 0)
    for task, result in zip(tasks, results, strict=True):
        per_pass[names[task.pass_index]] += result.raw_pairs
        skipped[names[task.pass_index]] += result.skipped_blocks
    return CountedPairs(PatternCounts.merge([r.counts for r in results], n_fields),
                        per_pass, skipped)


class StrongPairsCollector:
    """Phase two's task results gathered in any order, merged as if in task order: strong
    pairs are kept per task and sorted at the end; dropped odds are added at once as
    fixed-point integers (their sum does not depend on the order)."""

    def __init__(self, n_side: int | None, floor: float) -> None:
        self._floor = floor
        self._pairs: dict[int, TaskStrongPairs] = {}
        self._odds = None if n_side is None else np.zeros(n_side, dtype=np.int64)

    def add(self, index: int, result: TaskStrongPairs) -> None:
        if self._odds is not None and len(result.dropped_records):
            np.add.at(self._odds, result.dropped_records, result.dropped_odds)
        self._pairs[index] = TaskStrongPairs(result.left, result.right, result.weight,
                                             np.zeros(0, np.int64), np.zeros(0, np.int64))

    def result(self, n_right: int) -> StrongPairs:
        parts = [self._pairs[k] for k in sorted(self._pairs)]
        left = np.concatenate([p.left for p in parts]) if parts else np.zeros(0, np.int64)
        right = np.concatenate([p.right for p in parts]) if parts else np.zeros(0, np.int64)
        weight = np.concatenate([p.weight for p in parts]) if parts else np.zeros(0)
        order = np.argsort(left * max(n_right, 1) + right, kind="stable")
        odds = None if self._odds is None else self._odds * odds_unit(self._floor)
        return StrongPairs(left[order], right[order], weight[order], odds)


def side_size(a: EncodedSource, b: EncodedSource, side: str | None) -> int | None:
    """Records on the competing side (None: no side)."""
    return None if side is None else len(a) if side == "left" else len(b)


class InProcessBackend:
    """Blocking and comparison in this process (numba kernels use every core).

    ``partitions``: key partitions per blocking pass (None: one per 250,000 records), so a
    task holds a share of a pass's pairs. ``cache_pairs``: phase one keeps its tasks'
    pairs for phase two while there are at most this many (no second blocking and
    comparison); above it phase two computes them again, task by task.
    """

    def __init__(self, *, partitions: int | None = None,
                 cache_pairs: int = 20_000_000) -> None:
        self.partitions = partitions
        self.cache_pairs = cache_pairs
        self._cache: tuple[tuple[object, ...], list[PartitionResult]] | None = None

    def candidates(self, a: EncodedSource, b: EncodedSource,
                   comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                   self_join: bool) -> ComparedPairs:
        pairs = block(a.blocking_keys, b.blocking_keys, a.blocking_names,
                      max_block_pairs=max_block_pairs, self_join=self_join)
        return ComparedPairs(pairs, compare_pairs(a, b, pairs.left, pairs.right, comparisons))

    def _tasks(self, a: EncodedSource, b: EncodedSource, max_block_pairs: int,
               self_join: bool) -> list[Task]:
        parts = self.partitions or max(1, (len(a) + len(b)) // 250_000)
        return plan_tasks(a, b, parts=parts, max_block_pairs=max_block_pairs,
                          self_join=self_join)

    def count_patterns(self, a: EncodedSource, b: EncodedSource,
                       comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                       self_join: bool) -> CountedPairs:
        tasks = self._tasks(a, b, max_block_pairs, self_join)
        results = []
        kept: list[PartitionResult] | None = []  # None: too many to hold for phase two
        held = 0
        for task in tasks:
            found = run_task(a, b, task, comparisons)
            results.append(patterns_of(found))
            held += len(found.left)
            if kept is not None and held <= self.cache_pairs:
                kept.append(found)
            else:
                kept = None
        key = (a, b, tuple(comparisons), max_block_pairs, self_join)
        self._cache = None if kept is None else (key, kept)
        return merge_patterns(tasks, results, a.blocking_names, len(comparisons))

    def strong_pairs(self, a: EncodedSource, b: EncodedSource,
                     comparisons: Sequence[FieldComparison], model: FellegiSunter, *,
                     floor: float, side: str | None, max_block_pairs: int,
                     self_join: bool) -> StrongPairs:
        collector = StrongPairsCollector(side_size(a, b, side), floor)
        key = (a, b, tuple(comparisons), max_block_pairs, self_join)
        cached = self._cache[1] if self._cache is not None and _same(self._cache[0], key) \
            else None
        self._cache = None
        found: Iterable[PartitionResult] = cached if cached is not None else (
            run_task(a, b, task, comparisons)
            for task in self._tasks(a, b, max_block_pairs, self_join))
        for index, result in enumerate(found):
            collector.add(index, strong_pairs_of(result, model, floor, side))
        return collector.result(len(b))


def _same(key: tuple[object, ...], other: tuple[object, ...]) -> bool:
    """Whether two cache keys name the same sources (by identity) and settings."""
    return all(x is y or (not isinstance(x, EncodedSource) and x == y)
               for x, y in zip(key, other, strict=True))
