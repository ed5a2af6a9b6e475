"""A month's update of the linkage store against a full re-link of the same extracts.

Month 1 holds 98% of each partner's records; month 2 all of them (so about 2% of the
records are new). Measured side by side in one process, medians of ``--repeats`` runs:

- full: ``Linker().link(month 2)`` (what a one-off ``match`` does);
- update: ``link_into_store`` of month 2 into a copy of the store after month 1 (SQLite),
  commit included; ``update_and_links_s`` adds reading every record's link key back
  (``run.links``, what ``linkage match --store`` writes out).

    python -m benchmarks.store_speed --people 100000 --repeats 3
    python -m benchmarks.store_speed --people 1000000 --repeats 1   # issue 17's bar

Issue 17's bar at 1,000,000 children: the update at least 20 times faster than the full
re-link, peak memory under 8 GiB (the process's peak, the full re-link's included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.cohort_sources import benchmark_key, encode_extracts
from linkage.matching import Linker, pairwise_quality
from linkage.protocols import load_agreement
from linkage.store import link_into_store, open_store
from linkage.synth import CohortConfig, generate_cohort

EXAMPLE = Path(__file__).resolve().parent.parent / "protocols" / "first-1000-days"
SPEEDUP_BAR = 20.0
MEMORY_BAR_GIB = 8.0


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--new-share", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    cohort = generate_cohort(CohortConfig(people=args.people, seed=3))
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    key = benchmark_key("store")
    rng = np.random.default_rng(0)
    month1 = {p: f[rng.random(len(f)) >= args.new_share].reset_index(drop=True)
              for p, f in cohort.extracts.items()}
    sources1 = encode_extracts(month1, loaded, keys=key, noise_seed=1)
    sources2 = encode_extracts(cohort.extracts, loaded, keys=key, noise_seed=2)
    full_times, update_times, with_links = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "month1.sqlite"
        with open_store(base) as store:
            started = time.perf_counter()
            link_into_store(store, "bench", sources1)
            first_run = time.perf_counter() - started
            store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for k in range(args.repeats):
            started = time.perf_counter()
            full = Linker().link(sources2)
            full_times.append(time.perf_counter() - started)
            copy = Path(folder) / f"run{k}.sqlite"
            shutil.copy(base, copy)
            os.sync()  # the copy's writes are not the update's
            with open_store(copy) as store:
                started = time.perf_counter()
                run = link_into_store(store, "bench", sources2)
                update_times.append(time.perf_counter() - started)
                links = run.links
                with_links.append(time.perf_counter() - started)
            copy.unlink()
        size = base.stat().st_size
    truth = cohort.truth
    full_s, update_s = statistics.median(full_times), statistics.median(update_times)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result = {
        "people": args.people, "records": sum(map(len, sources2)),
        "new_records": run.summary["new"], "first_run_s": round(first_run, 2),
        "full_relink_s": round(full_s, 2), "update_s": round(update_s, 2),
        "update_and_links_s": round(statistics.median(with_links), 2),
        "speedup": round(full_s / update_s, 1),
        "speedup_with_links": round(full_s / statistics.median(with_links), 1),
        "f1_full": round(pairwise_quality(full.links, truth).overall.f1, 4),
        "f1_update": round(pairwise_quality(links.rename(columns={
            "link_key": "cluster_id"}), truth).overall.f1, 4),
        "store_mib_after_month1": round(size / 2**20, 1),
        "peak_memory_gib": round(peak_gib, 2)}
    print(json.dumps(result, indent=1))
    if args.people >= 1_000_000:
        for name, ok in [(f"speedup >= {SPEEDUP_BAR}", result["speedup"] >= SPEEDUP_BAR),
                         (f"peak memory < {MEMORY_BAR_GIB} GiB", peak_gib < MEMORY_BAR_GIB)]:
            print(f"{'met' if ok else 'NOT MET'}: {name}")
    return result


if __name__ == "__main__":
    main()
