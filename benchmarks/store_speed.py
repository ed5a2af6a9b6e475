"""A month's update of the linkage store against a full re-link of the same extracts.

Month 1 holds 98% of each partner's records; month 2 all of them (so about 2% of the
records are new). Measured side by side, medians of ``--repeats`` runs:

- full: ``Linker().link(month 2)`` (what a one-off ``match`` does);
- update: ``link_into_store`` of month 2 into a copy of the store after month 1 (SQLite).

    python -m benchmarks.store_speed --people 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
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
    full_times, update_times = [], []
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
            with open_store(copy) as store:
                started = time.perf_counter()
                run = link_into_store(store, "bench", sources2)
                update_times.append(time.perf_counter() - started)
        size = base.stat().st_size
    truth = cohort.truth
    result = {
        "people": args.people, "records": sum(map(len, sources2)),
        "new_records": run.summary["new"], "first_run_s": round(first_run, 2),
        "full_relink_s": round(statistics.median(full_times), 2),
        "update_s": round(statistics.median(update_times), 2),
        "speedup": round(statistics.median(full_times) / statistics.median(update_times), 1),
        "f1_full": round(pairwise_quality(full.links, truth).overall.f1, 4),
        "f1_update": round(pairwise_quality(run.links.rename(columns={
            "link_key": "cluster_id"}), truth).overall.f1, 4),
        "store_mib_after_month1": round(size / 2**20, 1)}
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
