"""Run the quality benchmarks; with ``--ci``, fail when F1 drops below the bars.

    python -m benchmarks --ci        # small and quick: run by scripts/test (and so by CI)

The CI mode links a synthetic cohort of 20,000 children (three partners) and FEBRL4 with a
fixed benchmark key, so results are repeatable, and exits 1 if any partner pair's F1 is
below 0.98 or FEBRL4's F1 below 0.997 (the bars of the matching issue). The full benchmarks
are listed in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

from linkage.encoding import BloomFilterEncoder, ProjectKey
from linkage.matching import Linker, pairwise_quality, source_from_encodings
from linkage.protocols import load_agreement
from linkage.synth import CohortConfig, generate_cohort

SYNTHETIC_BAR = 0.98
FEBRL_BAR = 0.997
AGREEMENT = "protocols/first-1000-days/agreement.yaml"


def benchmark_key(label: str) -> ProjectKey:
    """A fixed key for repeatable benchmark runs (never for real data)."""
    return ProjectKey(hashlib.sha256(f"linkage benchmark key: {label}".encode()).digest())


def synthetic(people: int, seed: int) -> dict[str, float]:
    cohort = generate_cohort(CohortConfig(people=people, seed=seed))
    loaded = load_agreement(AGREEMENT)
    schema = loaded.agreement.encoding
    encoder = BloomFilterEncoder(schema, benchmark_key("synthetic"))
    kinds = {f.name: f.kind.value for f in schema.fields}
    sources = []
    for partner, frame in cohort.extracts.items():
        mapping = {f.name: loaded.protocol(partner).identifiers.get(f.name)
                   for f in schema.fields}
        sources.append(source_from_encodings(partner, encoder.encode(frame, mapping), kinds))
    quality = pairwise_quality(Linker().link(sources).links, cohort.truth)
    return {f"{a}~{b}": round(q.f1, 4) for (a, b), q in sorted(quality.by_partner_pair.items())
            if a != b}


def febrl() -> float:
    from benchmarks.febrl4 import load, ours, truth_of

    a, b = load()
    links, _ = ours(a, b, lsh=True, key=benchmark_key("febrl4"))
    return round(pairwise_quality(links, truth_of(a, b)).overall.f1, 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ci", action="store_true", help="the quick run with pass/fail bars")
    parser.add_argument("--people", type=int, default=20_000)
    args = parser.parse_args()
    if not args.ci:
        print(__doc__)
        return 0
    start = time.perf_counter()
    results = {"synthetic_f1": synthetic(args.people, seed=1), "febrl4_f1": febrl()}
    results["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(results, indent=2))
    failures = [f"{pair}: F1 {f1} < {SYNTHETIC_BAR}"
                for pair, f1 in results["synthetic_f1"].items() if f1 < SYNTHETIC_BAR]
    if results["febrl4_f1"] < FEBRL_BAR:
        failures.append(f"FEBRL4: F1 {results['febrl4_f1']} < {FEBRL_BAR}")
    for failure in failures:
        print(f"benchmark bar missed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
