"""Synthetic cohort generation speed, and how hard the data is.

    python -m benchmarks.synth_speed --people 1000000 --repeats 3

Prints the median generation time (and records/s), the time to write the CSVs, and the
pairwise F1 of a naive exact match on (given name, family name, date of birth) after
trimming and case-folding: the bar any real linkage method must clear.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import pandas as pd

from linkage.synth import Cohort, CohortConfig, generate_cohort, write_cohort


def naive_exact_f1(cohort: Cohort) -> dict[str, dict[str, float]]:
    """Pairwise precision/recall/F1 of exact (given, family, dob) joins per partner pair."""
    keyed = {}
    for partner, frame in cohort.extracts.items():
        truth = cohort.truth[cohort.truth.partner == partner].set_index("record_id").person_id
        keyed[partner] = pd.DataFrame({
            "key": (frame.given_name.str.strip().str.casefold() + "|"
                    + frame.family_name.str.strip().str.casefold() + "|" + frame.date_of_birth),
            "person": frame.record_id.map(truth).to_numpy(),
        })
    out = {}
    names = list(keyed)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            joined = keyed[a].merge(keyed[b], on="key")
            tp = int((joined.person_x == joined.person_y).sum())
            true_pairs = int(keyed[a].person.value_counts().mul(
                keyed[b].person.value_counts(), fill_value=0).sum())
            precision = tp / max(len(joined), 1)
            recall = tp / max(true_pairs, 1)
            f1 = 2 * precision * recall / max(precision + recall, 1e-12)
            out[f"{a}~{b}"] = {"precision": round(precision, 4), "recall": round(recall, 4),
                               "f1": round(f1, 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    times = []
    cohort = None
    for r in range(args.repeats):
        start = time.perf_counter()
        cohort = generate_cohort(CohortConfig(people=args.people, seed=args.seed + r))
        times.append(time.perf_counter() - start)
    assert cohort is not None
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_cohort(cohort, tmp)
        write_s = time.perf_counter() - start
    records = len(cohort.truth)
    result = {
        "people": args.people, "records": records, "repeats": args.repeats,
        "generate_median_s": round(statistics.median(times), 2),
        "people_per_s": round(args.people / statistics.median(times)),
        "write_csv_s": round(write_s, 2),
        "naive_exact_match": naive_exact_f1(cohort),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
