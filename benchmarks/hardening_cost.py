"""Linkage quality under each hardening option, on the same synthetic cohort.

    python -m benchmarks.hardening_cost --people 20000

Encodes the cohort with the example agreement's schema and each hardening option in turn
(applied to field-level and record-level filters), links, and prints the F1 of every
partner pair with the change against the unhardened encoding.
"""

from __future__ import annotations

import argparse
import json

from benchmarks.cohort_sources import encode_cohort
from linkage.encoding import EncodingSchema, HardeningSpec, ProjectKey
from linkage.matching import Linker, pairwise_quality
from linkage.protocols import load_agreement
from linkage.synth import CohortConfig, generate_cohort

OPTIONS: dict[str, HardeningSpec] = {
    "none": HardeningSpec(),
    "balance": HardeningSpec(balance=True),
    "xor_fold_record": HardeningSpec(xor_fold=True, applies_to=("record",)),
    "blip_eps_8": HardeningSpec(blip_epsilon=8.0),
    "blip_eps_4": HardeningSpec(blip_epsilon=4.0),
    "diffusion_3": HardeningSpec(diffusion_taps=3),
    "balance_record_only": HardeningSpec(balance=True, applies_to=("record",)),
}


def run(people: int, seed: int) -> dict[str, dict[str, float]]:
    cohort = generate_cohort(CohortConfig(people=people, seed=seed))
    loaded = load_agreement("protocols/first-1000-days/agreement.yaml")
    base = loaded.agreement.encoding
    key = ProjectKey.generate()
    results = {}
    for name, hardening in OPTIONS.items():
        schema = EncodingSchema.model_validate({**base.model_dump(),
                                                "hardening": hardening.model_dump()})
        sources = encode_cohort(cohort, loaded, schema, key)
        quality = pairwise_quality(Linker().link(sources).links, cohort.truth)
        results[name] = {f"{a}~{b}": round(q.f1, 4)
                         for (a, b), q in sorted(quality.by_partner_pair.items()) if a != b}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    results = run(args.people, args.seed)
    base = results["none"]
    table = {name: {pair: {"f1": f1, "change": round(f1 - base[pair], 4)}
                    for pair, f1 in pairs.items()} for name, pairs in results.items()}
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
