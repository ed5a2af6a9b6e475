"""Linking on Dask workers against in-process: time, peak memory per process, same links.

    python -m benchmarks.distributed_scaling --people 1000000 --workers 2

Each mode runs in a fresh subprocess (so peak memory is its own): it generates the cohort,
encodes the three extracts under the example agreement, links them in-process or on a local
Dask cluster of ``--workers`` single-threaded worker processes, and reports link time and
peak resident memory of the driver (and of each worker). The links of both modes are
compared row for row. Also prints the measured cost per candidate pair, which
docs/distributed.md uses to estimate a national run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time

from benchmarks.cohort_sources import benchmark_key, encode_cohort
from linkage.matching import Linker, pairwise_quality
from linkage.protocols import load_agreement
from linkage.synth import CohortConfig, generate_cohort

AGREEMENT = "protocols/first-1000-days/agreement.yaml"


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_mode(people: int, mode: str, workers: int, partitions: int) -> dict[str, object]:
    cohort = generate_cohort(CohortConfig(people=people, seed=1))
    loaded = load_agreement(AGREEMENT)
    sources = encode_cohort(cohort, loaded, loaded.agreement.encoding,
                            benchmark_key("distributed"))
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
    links = result.links
    digest = hashlib.sha256(links.drop(columns="probability").to_csv(index=False).encode())
    quality = pairwise_quality(links, cohort.truth)
    candidates = sum(len(pm.candidates) for pm in result.pair_models)
    out: dict[str, object] = {
        "mode": mode, "records": {s.partner: len(s) for s in sources},
        "link_seconds": round(seconds, 1), "candidate_pairs": candidates,
        "peak_gib_driver_before_link": round(before, 2), "peak_gib_driver": round(_peak_gib(), 2),
        "links_sha256": digest.hexdigest(),
        "probability_sum": round(float(links.probability.sum()), 6),
        "f1": {f"{a}~{b}": round(q.f1, 4) for (a, b), q in quality.by_partner_pair.items()
               if a != b}}
    if mode == "dask":
        out["link_seconds_excluding_cluster_start"] = round(link_only, 1)
        out["peak_gib_workers"] = [round(x, 2) for x in worker_peaks]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--mode", choices=["inprocess", "dask"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.people, args.mode, args.workers, args.partitions)))
        return
    results = {}
    for mode in ("inprocess", "dask"):
        done = subprocess.run([sys.executable, "-m", "benchmarks.distributed_scaling",
                               "--people", str(args.people), "--workers", str(args.workers),
                               "--partitions", str(args.partitions), "--mode", mode],
                              check=True, capture_output=True, text=True)
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(results[mode], indent=2), flush=True)
    same = results["inprocess"]["links_sha256"] == results["dask"]["links_sha256"]
    inproc = results["inprocess"]
    per_pair_us = 1e6 * float(inproc["link_seconds"]) / max(int(inproc["candidate_pairs"]), 1)
    print(json.dumps({"identical_links": same,
                      "dask_over_inprocess_time": round(float(results["dask"]["link_seconds"])
                                                        / float(inproc["link_seconds"]), 2),
                      "inprocess_microseconds_per_candidate_pair": round(per_pair_us, 3)},
                     indent=2))


if __name__ == "__main__":
    main()
