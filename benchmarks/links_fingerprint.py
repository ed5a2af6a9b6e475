"""A fingerprint of the links on the CI cohort, to show that a refactor changed nothing.

    python -m benchmarks.links_fingerprint [--people 20000]

Encodes the cohort (benchmark key, seeded noise) with and without the shipped hardening,
links it, and prints a hash of every filter bit, a hash of the sorted links, their row
count and the F1 per partner pair. Run it before and after a change and compare.
"""

from __future__ import annotations

import argparse
import hashlib
import json

from benchmarks.cohort_sources import benchmark_key, encode_cohort
from linkage.matching import Linker, pairwise_quality
from linkage.protocols import load_agreement
from linkage.synth import CohortConfig, generate_cohort

AGREEMENT = "protocols/first-1000-days/agreement.yaml"


def fingerprint(people: int) -> dict[str, object]:
    cohort = generate_cohort(CohortConfig(people=people, seed=0))
    loaded = load_agreement(AGREEMENT)
    out: dict[str, object] = {}
    for hardened in (True, False):
        schema = loaded.agreement.encoding
        schema = schema if hardened else schema.without_hardening()
        sources = encode_cohort(cohort, loaded, schema, benchmark_key("synthetic"))
        bits = hashlib.sha256()
        for s in sources:
            bits.update(s.record_filters.tobytes())
            bits.update(s.blocking_keys.tobytes())
            for name in sorted(s.field_filters):
                bits.update(s.field_filters[name].tobytes())
        links = Linker().link(sources).links
        canonical = links.sort_values(["partner", "record_id"]).to_csv(index=False)
        quality = pairwise_quality(links, cohort.truth)
        out["hardened" if hardened else "plain"] = {
            "bits": bits.hexdigest()[:16],
            "links": hashlib.sha256(canonical.encode()).hexdigest()[:16], "rows": len(links),
            "f1": {f"{a}~{b}": round(q.f1, 4)
                   for (a, b), q in sorted(quality.by_partner_pair.items())}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    print(json.dumps(fingerprint(parser.parse_args().people), indent=1))


if __name__ == "__main__":
    main()
