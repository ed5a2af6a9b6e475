"""Linking on Dask workers against in-process: time, peak memory per process, same links.

    python -m benchmarks.distributed_scaling --people 1000000 --workers 2
    python -m benchmarks.distributed_scaling --people 100000 300000 1000000   # the curve

For each cohort size a first subprocess generates the cohort and writes the three encoding
files (the example agreement's schema, a benchmark key, seeded noise) and the truth to a
temporary folder; then each mode runs in a fresh subprocess that reads the encoding files
and links them, in-process or on a local Dask cluster of ``--workers`` single-threaded
worker processes, so that its peak memory is that of a linkage unit: encodings in, links
out. Reports link time, peak resident memory of the driver (after reading the encodings and
after linking) and of each worker, candidate pairs, and whether the links of both modes are
identical; then checks issue 19's bars at 1M children (driver <= 2 GiB, workers <= 3 GiB,
identical links) and prints the cost per candidate pair that docs/distributed.md uses.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

AGREEMENT = "protocols/first-1000-days/agreement.yaml"
DRIVER_BAR_GIB = 2.0
WORKER_BAR_GIB = 3.0


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def prepare(people: int, folder: Path) -> None:
    """Generate the cohort and write its encoding files and truth into ``folder``."""
    from benchmarks.cohort_sources import benchmark_key, encode_cohort
    from linkage.encoding import write_encodings
    from linkage.protocols import load_agreement
    from linkage.synth import CohortConfig, generate_cohort

    cohort = generate_cohort(CohortConfig(people=people, seed=1))
    loaded = load_agreement(AGREEMENT)
    schema = loaded.agreement.encoding
    for source in encode_cohort(cohort, loaded, schema, benchmark_key("distributed")):
        write_encodings(folder / f"{source.partner}.npz", source, schema=schema,
                        agreement_id=loaded.agreement.id,
                        agreement_version=loaded.agreement.version)
    cohort.truth.to_csv(folder / "truth.csv", index=False)


def run_mode(folder: Path, mode: str, workers: int, partitions: int) -> dict[str, object]:
    from linkage.encoding import read_encodings
    from linkage.matching import Linker, pairwise_quality

    sources = [read_encodings(p).encodings for p in sorted(folder.glob("*.npz"))]
    before = _peak_gib()
    worker_peaks: list[float] = []
    start = time.perf_counter()
    if mode == "inprocess":
        result = Linker().link(sources)
    else:
        from linkage.matching.distributed import DaskBackend

        with DaskBackend(workers=workers, partitions=partitions) as backend:
            started = time.perf_counter()
            result = Linker(backend=backend).link(sources)
            link_only = time.perf_counter() - started
            worker_peaks = sorted(backend.client.run(_peak_gib).values())
    seconds = time.perf_counter() - start
    driver = _peak_gib()
    links = result.links
    digest = hashlib.sha256(links.drop(columns="probability").to_csv(index=False).encode())
    truth = pd.read_csv(folder / "truth.csv", dtype=str)
    quality = pairwise_quality(links, truth)
    out: dict[str, object] = {
        "mode": mode, "records": {s.partner: len(s) for s in sources},
        "link_seconds": round(seconds, 1),
        "candidate_pairs": sum(len(pm.candidates) for pm in result.pair_models),
        "peak_gib_driver_after_reading": round(before, 2), "peak_gib_driver": round(driver, 2),
        "links_sha256": digest.hexdigest(),
        "probability_sum": round(float(links.probability.sum()), 6),
        "f1": {f"{a}~{b}": round(q.f1, 4) for (a, b), q in quality.by_partner_pair.items()
               if a != b}}
    if mode == "dask":
        out["link_seconds_excluding_cluster_start"] = round(link_only, 1)
        out["peak_gib_workers"] = [round(x, 2) for x in worker_peaks]
    return out


def _subprocess(*options: str) -> str:
    done = subprocess.run([sys.executable, "-m", "benchmarks.distributed_scaling", *options],
                          check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def measure(people: int, workers: int, partitions: int) -> dict[str, object]:
    """Both modes at one cohort size, each in its own process."""
    with tempfile.TemporaryDirectory(prefix="linkage-scaling-") as tmp:
        _subprocess("--prepare", tmp, "--people", str(people))
        results: dict[str, object] = {}
        for mode in ("inprocess", "dask"):
            results[mode] = json.loads(_subprocess("--mode", mode, "--folder", tmp,
                                                   "--workers", str(workers),
                                                   "--partitions", str(partitions)))
            print(json.dumps(results[mode], indent=2), flush=True)
    inproc, dask = results["inprocess"], results["dask"]
    assert isinstance(inproc, dict) and isinstance(dask, dict)
    pairs = max(int(inproc["candidate_pairs"]), 1)
    return {"people": people, **results,
            "identical_links": inproc["links_sha256"] == dask["links_sha256"],
            "dask_over_inprocess_time": round(float(dask["link_seconds"])
                                              / float(inproc["link_seconds"]), 2),
            "inprocess_microseconds_per_candidate_pair": round(
                1e6 * float(inproc["link_seconds"]) / pairs, 3)}


def bars(result: dict[str, object]) -> list[str]:
    """Issue 19's bars missed by one cohort size's result (checked at 1M children)."""
    dask = result["dask"]
    assert isinstance(dask, dict)
    missed = []
    if not result["identical_links"]:
        missed.append("links differ between Dask and in-process")
    if float(dask["peak_gib_driver"]) > DRIVER_BAR_GIB:
        missed.append(f"driver peak {dask['peak_gib_driver']} GiB > {DRIVER_BAR_GIB}")
    if max(dask["peak_gib_workers"]) > WORKER_BAR_GIB:
        missed.append(f"worker peak {max(dask['peak_gib_workers'])} GiB > {WORKER_BAR_GIB}")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["inprocess", "dask"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.people[0], args.prepare)
        return 0
    if args.mode:
        print(json.dumps(run_mode(args.folder, args.mode, args.workers, args.partitions)))
        return 0
    missed = []
    for people in args.people:
        result = measure(people, args.workers, args.partitions)
        summary = {k: v for k, v in result.items() if k not in ("inprocess", "dask")}
        print(json.dumps(summary, indent=2), flush=True)
        if people >= 1_000_000:
            missed += [f"{people:,} children: {m}" for m in bars(result)]
    for line in missed:
        print(f"bar missed: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
