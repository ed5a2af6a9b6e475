"""Blocking and comparison on a Dask cluster (the ``[distributed]`` extra).

Work is split into tasks by blocking pass and by a hash partition of the key
(:mod:`linkage.matching.tasks`): all records sharing a key in a pass land in the same task,
so each task joins its share of every block on its own and drops pairs an earlier pass
already produced. A link runs the tasks twice: first each returns the comparison patterns
of its pairs with their counts (the driver fits the model on them), then each scores its
pairs with the fitted model and returns only those at or above the floor under which no
pair can be linked, with the odds of the others summed per record in fixed point. So the
driver holds patterns and near-links, never every candidate. Each source's arrays are
scattered to the workers once per link and reused by every task; results are merged in
task order, exactly as :class:`~linkage.matching.backends.InProcessBackend` merges them, so
the links are identical. Tasks are pure, so a task lost with a worker is re-run elsewhere
and gives the same arrays.

    >>> from linkage.matching import Linker
    >>> from linkage.matching.distributed import DaskBackend
    >>> with DaskBackend(workers=2) as backend:          # doctest: +SKIP
    ...     result = Linker(backend=backend).link(sources)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from linkage.contracts import EncodedSource
from linkage.errors import MatchingError
from linkage.matching.backends import (
    CountedPairs,
    StrongPairs,
    StrongPairsCollector,
    merge_patterns,
    oversize_keys,
    plan_tasks,
    side_size,
)
from linkage.matching.blocking import CandidatePairs
from linkage.matching.candidates import ComparedPairs
from linkage.matching.comparison import FieldComparison
from linkage.matching.scoring import FellegiSunter
from linkage.matching.tasks import (
    PartitionResult,
    Task,
    TaskPatterns,
    key_partition,
    partition_candidates,
    task_patterns,
    task_strong_pairs,
)

__all__ = ["INSTALL_HINT", "DaskBackend", "PartitionResult", "key_partition",
           "oversize_keys", "partition_candidates"]

INSTALL_HINT = ("Running on Dask needs the optional extra: pip install 'linkage-pprl[distributed]'"
                " (it installs dask.distributed).")
_KEEP_SCATTERED = 8  # sources kept on the workers between calls (a run uses one per partner)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MatchingError(INSTALL_HINT) from None
    return distributed


def task_view(source: EncodedSource) -> EncodedSource:
    """What a task needs of a source: its keys, field filters, missing flags and hints. The
    record ids (Python strings: slow to send, and the workers need none) become row numbers
    and the record-level filters (used only for LSH keys, already among the keys) are
    left out."""
    return replace(source, record_ids=np.arange(len(source), dtype=np.int64),
                   record_filters=np.zeros((len(source), 0), dtype=np.uint64), counts={})


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
            held = (inputs, self.client.scatter(task_view(inputs), broadcast=True))
            self._scattered[id(inputs)] = held
            while len(self._scattered) > _KEEP_SCATTERED:  # oldest first: a past run's
                self._scattered.pop(next(iter(self._scattered)))
        return held[1]

    def _run(self, a: EncodedSource, b: EncodedSource, tasks: Sequence[Task], function: Any,
             *args: Any) -> Iterator[tuple[int, Any]]:
        """Submit ``function(a, b, task, *args)`` per task; yield (task index, result) as
        they finish."""
        distributed = _distributed()
        fa, fb = self._scatter(a), self._scatter(b)
        futures = {self.client.submit(function, fa, fb, task, *args, pure=False): k
                   for k, task in enumerate(tasks)}
        bar = tqdm(total=len(futures), desc="cluster tasks", disable=not self.progress)
        try:
            for done, future in enumerate(distributed.as_completed(futures), start=1):
                yield futures[future], future.result()
                future.release()
                bar.update()
                if self.on_task_done is not None:
                    self.on_task_done(done, len(futures))
        except BaseException:
            self.client.cancel(list(futures))  # a failed task: drop the ones still queued
            raise
        finally:
            bar.close()

    def count_patterns(self, a: EncodedSource, b: EncodedSource,
                       comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                       self_join: bool) -> CountedPairs:
        tasks = plan_tasks(a, b, parts=self.partitions, max_block_pairs=max_block_pairs,
                           self_join=self_join)
        results: dict[int, TaskPatterns] = dict(self._run(a, b, tasks, task_patterns,
                                                          tuple(comparisons)))
        return merge_patterns(tasks, [results[k] for k in range(len(tasks))],
                              a.blocking_names, len(comparisons))

    def strong_pairs(self, a: EncodedSource, b: EncodedSource,
                     comparisons: Sequence[FieldComparison], model: FellegiSunter, *,
                     floor: float, side: str | None, max_block_pairs: int,
                     self_join: bool) -> StrongPairs:
        tasks = plan_tasks(a, b, parts=self.partitions, max_block_pairs=max_block_pairs,
                           self_join=self_join)
        collector = StrongPairsCollector(side_size(a, b, side), floor)
        for index, result in self._run(a, b, tasks, task_strong_pairs, tuple(comparisons),
                                       model, floor, side):
            collector.add(index, result)
        return collector.result(len(b))

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
