"""Blocking and comparison on a Dask cluster (the ``[distributed]`` extra).

Work is split into tasks by blocking pass and by a hash partition of the key: all records
sharing a key in a pass land in the same task, so each task joins its share of every block
on its own, drops pairs an earlier pass already produced (unless that pass skipped the block
as oversize) and computes their comparison levels. Each source's arrays are scattered to
the workers once per link and reused by every task; results come back as typed arrays and
are sorted by ``(left, right)``, exactly as :class:`InProcessBackend` returns them, so
scoring, assignment and clustering give identical links. Tasks are pure, so a task lost
with a worker is re-run elsewhere and gives the same arrays.

    >>> from linkage.matching import Linker
    >>> from linkage.matching.distributed import DaskBackend
    >>> with DaskBackend(workers=2) as backend:          # doctest: +SKIP
    ...     result = Linker(backend=backend).link(sources)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from linkage.contracts import EncodedSource
from linkage.errors import MatchingError
from linkage.matching.blocking import CandidatePairs, common_blocks, join_on_keys
from linkage.matching.candidates import ComparedPairs, compare_pairs
from linkage.matching.comparison import FieldComparison

INSTALL_HINT = ("Running on Dask needs the optional extra: pip install 'linkage-pprl[distributed]'"
                " (it installs dask.distributed).")
_MIX = np.uint64(0x9E3779B97F4A7C15)
_KEEP_SCATTERED = 8  # sources kept on the workers between calls (a run uses one per partner)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MatchingError(INSTALL_HINT) from None
    return distributed


def key_partition(keys: np.ndarray, parts: int) -> np.ndarray:
    """Partition of each uint64 key: ``(n,)`` -> ``(n,)`` int64 in ``[0, parts)``."""
    with np.errstate(over="ignore"):
        mixed = keys * _MIX
    return ((mixed >> np.uint64(33)) % np.uint64(parts)).astype(np.int64)


def oversize_keys(keys_a: np.ndarray, keys_b: np.ndarray, max_block_pairs: int) -> np.ndarray:
    """The keys of one pass whose block is skipped (``|A| |B| > max_block_pairs``)."""
    blocks = common_blocks(np.sort(keys_a[keys_a != 0]), np.sort(keys_b[keys_b != 0]))
    return blocks.keys[blocks.oversize(max_block_pairs)]


@dataclass(frozen=True)
class PartitionResult:
    """What one task returns: its candidate pairs, their levels, and the pass's counts."""

    left: np.ndarray    #: (P,) int64 rows of A
    right: np.ndarray   #: (P,) int64 rows of B
    levels: np.ndarray  #: (P, F) int8
    raw_pairs: int      #: pairs the pass produced in this partition (before dropping repeats)
    skipped_blocks: int  #: oversize blocks skipped in this partition


def partition_candidates(a: EncodedSource, b: EncodedSource, pass_index: int, part: int,
                         parts: int, skipped: Sequence[np.ndarray],
                         comparisons: Sequence[FieldComparison], max_block_pairs: int,
                         self_join: bool) -> PartitionResult:
    """One task: pass ``pass_index``, key partition ``part`` of ``parts``.

    ``skipped[q]`` holds the oversize keys of pass ``q`` (earlier passes only are used).
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
    for q in range(pass_index):  # a pair belongs to the first pass that produced it
        key = a.blocking_keys[left, q]
        first &= ~((key != 0) & (key == b.blocking_keys[right, q]) & ~np.isin(key, skipped[q]))
    left, right = left[first], right[first]
    return PartitionResult(left, right, compare_pairs(a, b, left, right, comparisons), raw, skip)


class DaskBackend:
    """Run blocking and comparison as tasks on a Dask cluster.

    Give ``scheduler`` (an address such as ``tcp://10.0.0.5:8786``), or ``workers`` to start
    a local cluster of that many worker processes, or an existing ``client``.
    ``partitions`` key partitions per blocking pass (tasks = passes x partitions).
    ``on_task_done(done, total)`` is called as results arrive (the progress bar uses it).
    """

    def __init__(self, *, scheduler: str | None = None, workers: int | None = None,
                 client: Any = None, partitions: int = 16, progress: bool = False,
                 on_task_done: Callable[[int, int], None] | None = None) -> None:
        distributed = _distributed()
        if sum(x is not None for x in (scheduler, workers, client)) != 1:
            raise MatchingError("DaskBackend needs exactly one of scheduler, workers or "
                                "client.")
        if partitions < 1:
            raise MatchingError(f"partitions must be at least 1, got {partitions}.")
        self._cluster = None
        if client is not None:
            self.client = client
        elif scheduler is not None:
            self.client = distributed.Client(scheduler)
        else:
            self._cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                                     processes=True, dashboard_address=":0")
            self.client = distributed.Client(self._cluster)
        self._own_client = client is None
        self.partitions = partitions
        self.progress = progress
        self.on_task_done = on_task_done
        self._scattered: dict[int, tuple[EncodedSource, Any]] = {}

    def __enter__(self) -> DaskBackend:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release scattered data; close the client and cluster this backend started."""
        self._scattered.clear()
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def _scatter(self, inputs: EncodedSource) -> Any:
        """Scatter a source's arrays once; the last few stay on the workers for reuse."""
        held = self._scattered.get(id(inputs))
        if held is None or held[0] is not inputs:
            held = (inputs, self.client.scatter(inputs, broadcast=True))
            self._scattered[id(inputs)] = held
            while len(self._scattered) > _KEEP_SCATTERED:  # oldest first: a past run's
                self._scattered.pop(next(iter(self._scattered)))
        return held[1]

    def candidates(self, a: EncodedSource, b: EncodedSource,
                   comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                   self_join: bool) -> ComparedPairs:
        distributed = _distributed()
        names = a.blocking_names
        skipped = [oversize_keys(a.blocking_keys[:, p], b.blocking_keys[:, p], max_block_pairs)
                   for p in range(len(names))]
        fa, fb = self._scatter(a), self._scatter(b)
        tasks = {}
        for p in range(len(names)):
            for part in range(self.partitions):
                future = self.client.submit(partition_candidates, fa, fb, p, part,
                                            self.partitions, skipped[:p], tuple(comparisons),
                                            max_block_pairs, self_join, pure=False)
                tasks[future] = p
        results: dict[int, list[PartitionResult]] = {p: [] for p in range(len(names))}
        bar = tqdm(total=len(tasks), desc="cluster tasks", disable=not self.progress)
        for done, future in enumerate(distributed.as_completed(tasks), start=1):
            results[tasks[future]].append(future.result())
            bar.update()
            if self.on_task_done is not None:
                self.on_task_done(done, len(tasks))
        bar.close()
        parts = [r for p in range(len(names)) for r in results[p]]
        left = np.concatenate([r.left for r in parts]) if parts else np.zeros(0, np.int64)
        right = np.concatenate([r.right for r in parts]) if parts else np.zeros(0, np.int64)
        levels = np.concatenate([r.levels for r in parts]) if parts else \
            np.zeros((0, len(comparisons)), np.int8)
        order = np.argsort(left * max(len(b), 1) + right, kind="stable")
        pairs = CandidatePairs(
            left[order], right[order],
            {n: sum(r.raw_pairs for r in results[p]) for p, n in enumerate(names)},
            {n: sum(r.skipped_blocks for r in results[p]) for p, n in enumerate(names)})
        return ComparedPairs(pairs, levels[order])
