"""The Dask backend gives the same links as the in-process one, also after losing a worker."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from benchmarks.cohort_sources import encode_extracts
from linkage.contracts import EncodedSource
from linkage.encoding import ProjectKey
from linkage.matching import Linker
from linkage.matching.distributed import DaskBackend, key_partition, partition_candidates
from linkage.protocols import load_agreement
from linkage.synth import Cohort

from ..helpers import EXAMPLE

distributed = pytest.importorskip("distributed", reason="the [distributed] extra is not "
                                  "installed")  # installed by the test extra, so CI runs it


@pytest.fixture(scope="module")
def sources(small_cohort: Cohort) -> list[EncodedSource]:
    return encode_extracts(small_cohort.extracts, load_agreement(EXAMPLE / "agreement.yaml"),
                          keys=ProjectKey.generate())


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as local:
        yield local


def _same_links(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a.drop(columns="probability"), b.drop(columns="probability"))
    np.testing.assert_allclose(a.probability, b.probability, rtol=0, atol=1e-9)


def test_dask_links_equal_in_process_links(sources: list[EncodedSource], cluster: object) -> None:
    expected = Linker().link(sources)
    with distributed.Client(cluster) as client, \
            DaskBackend(client=client, partitions=7) as backend:
        got = Linker(backend=backend).link(sources)
    _same_links(expected.links, got.links)
    for e, g in zip(expected.pair_models, got.pair_models, strict=True):
        assert e.candidates.pairs_per_pass == g.candidates.pairs_per_pass
        assert e.candidates.skipped_blocks == g.candidates.skipped_blocks
        np.testing.assert_allclose(np.concatenate(e.model.m_), np.concatenate(g.model.m_))


def test_oversize_blocks_are_skipped_the_same_way(sources: list[EncodedSource], cluster: object
                                                  ) -> None:
    expected = Linker(max_block_pairs=3).link(sources)
    with distributed.Client(cluster) as client, \
            DaskBackend(client=client, partitions=3) as backend:
        got = Linker(max_block_pairs=3, backend=backend).link(sources)
    assert sum(expected.pair_models[0].candidates.skipped_blocks.values()) > 0
    _same_links(expected.links, got.links)


def test_a_worker_killed_mid_run_changes_nothing(sources: list[EncodedSource], cluster: object
                                                 ) -> None:
    expected = Linker().link(sources)
    killed: list[int] = []

    def kill_one_worker(done: int, total: int) -> None:
        # after the first result arrives, with tasks still queued or running
        if not killed and done < total:
            pid = next(iter(client.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with distributed.Client(cluster) as client, \
            DaskBackend(client=client, partitions=40, on_task_done=kill_one_worker) as backend:
        got = Linker(backend=backend).link(sources)
        client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed one
        assert killed[0] not in client.run(os.getpid).values()
    assert killed, "the test never killed a worker"
    _same_links(expected.links, got.links)


def test_each_pair_is_produced_by_exactly_one_task(sources: list[EncodedSource]) -> None:
    from linkage.matching.blocking import block
    from linkage.matching.comparison import comparisons_for

    a, b = sources[0], sources[1]
    comps = comparisons_for(a.field_kinds)
    pairs = []
    for p in range(len(a.blocking_names)):
        for part in range(5):
            task = partition_candidates(a, b, p, part, 5, [np.zeros(0, np.uint64)] * p, comps,
                                        250_000, False)
            pairs.append(task.left * len(b) + task.right)
    codes = np.concatenate(pairs)
    assert len(codes) == len(np.unique(codes))  # no pair twice
    expected = block(a.blocking_keys, b.blocking_keys, a.blocking_names)
    assert np.array_equal(np.sort(codes), expected.left * len(b) + expected.right)


def test_key_partition_is_in_range() -> None:
    keys = np.random.default_rng(0).integers(1, 2**63, 10_000, dtype=np.uint64)
    parts = key_partition(keys, 7)
    assert parts.min() == 0 and parts.max() == 6
    assert np.bincount(parts).min() > 1_000  # roughly even


def test_backend_needs_exactly_one_way_to_reach_a_cluster() -> None:
    from linkage.errors import MatchingError

    with pytest.raises(MatchingError, match="exactly one"):
        DaskBackend()


def test_cli_match_on_a_local_cluster_writes_the_same_links(tmp_path, small_cohort: Cohort  # type: ignore[no-untyped-def]
                                                            ) -> None:
    from linkage.cli import main
    from linkage.synth import write_cohort

    from ..helpers import clusters_of, copy_protocols

    agreement = copy_protocols(tmp_path)
    write_cohort(small_cohort, tmp_path / "cohort")
    assert main(["keygen", "--out", str(tmp_path / "k.key")]) == 0
    files = []
    for partner in small_cohort.extracts:
        out = tmp_path / f"{partner}.npz"
        assert main(["encode", "--agreement", str(agreement), "--partner", partner, "--key",
                     str(tmp_path / "k.key"), "--input", str(tmp_path / "cohort" /
                                                             f"{partner}.csv"),
                     "--output", str(out), "--quiet"]) == 0
        files.append(str(out))
    base = ["match", "--agreement", str(agreement), "--quiet", *files]
    assert main([*base, "--output", str(tmp_path / "a")]) == 0
    assert main([*base, "--output", str(tmp_path / "b"), "--workers", "2"]) == 0
    assert clusters_of(tmp_path / "a") == clusters_of(tmp_path / "b")


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from linkage.errors import MatchingError

    real_import = builtins.__import__

    def no_distributed(name: str, *args: object, **kwargs: object) -> object:
        if name == "distributed":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(MatchingError, match=r"pip install 'linkage-pprl\[distributed\]'"):
        DaskBackend(workers=1)
