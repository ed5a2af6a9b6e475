"""Attacks x encodings: re-identification rates and linkage quality, in one table.

    python -m benchmarks.privacy_evaluation --people 20000
    python -m benchmarks.privacy_evaluation --people 20000 --by-pass

For each encoding option (hardening, salting) it links the synthetic cohort's three
extracts (F1 per partner pair, BLIP noise seeded so runs repeat) and runs
:func:`linkage.privacy.assess_schema` on the same cohort size: frequency alignment and
pattern mining on the name fields, graph matching on ``--graph-sample`` records, each
against full-overlap public knowledge. Rates are upper bounds (the truth picks the
attacker's best setting); "chance" is what guessing the most frequent name gets right.
``--by-pass`` runs only the blocking-token attack on the shipped agreement, pass by pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.cohort_sources import benchmark_key, encode_cohort
from linkage.encoding import EncodingSchema, HardeningSpec
from linkage.files import atomic_output
from linkage.matching import Linker, pairwise_quality
from linkage.privacy import assess_blocking_passes, assess_schema
from linkage.protocols import load_agreement
from linkage.synth import CohortConfig, generate_cohort

AGREEMENT = "protocols/first-1000-days/agreement.yaml"
NAME_FIELDS = ("given_name", "family_name")
#: Fields the attacks can exploit; sex (two values) and NHS number (unique) gain nothing
#: from noise.
IDENTIFYING = ("given_name", "family_name", "date_of_birth", "postcode")
#: The default's noisy fields: the date of birth stays exact, since it gates the salted names.
NAMES_POSTCODE = ("given_name", "family_name", "postcode")


def options() -> dict[str, tuple[HardeningSpec, str | None]]:
    """Encoding options: hardening and the salt of the name fields."""
    def blip(epsilon: float, **more: object) -> HardeningSpec:
        return HardeningSpec.model_validate({"blip_epsilon": epsilon, **more})
    return {
        "none": (HardeningSpec(), None),
        "balance": (HardeningSpec(balance=True), None),
        "diffusion_3": (HardeningSpec(diffusion_taps=3), None),
        "blip_eps_8": (blip(8.0), None),
        "blip_eps_4": (blip(4.0), None),
        "blip_eps_3": (blip(3.0), None),
        "blip_eps_3_identifying (previous default)": (blip(3.0, blip_fields=IDENTIFYING), None),
        "blip_eps_2.5": (blip(2.5), None),
        "blip_eps_2": (blip(2.0), None),
        "blip_eps_2_identifying": (blip(2.0, blip_fields=IDENTIFYING), None),
        "blip_eps_1.75_identifying": (blip(1.75, blip_fields=IDENTIFYING), None),
        "blip_eps_1.5_identifying": (blip(1.5, blip_fields=IDENTIFYING), None),
        "blip_eps_2_diffusion_3": (blip(2.0, diffusion_taps=3), None),
        "salt_names_dob": (HardeningSpec(), "date_of_birth"),
        "salt_names_dob_blip_eps_3": (blip(3.0, blip_fields=IDENTIFYING), "date_of_birth"),
        "salt_names_dob_blip_eps_2.5": (blip(2.5, blip_fields=IDENTIFYING), "date_of_birth"),
        "salt_names_dob_blip_eps_2": (blip(2.0, blip_fields=IDENTIFYING), "date_of_birth"),
        "salt_names_dob_blip_eps_2.5_names_postcode": (blip(2.5, blip_fields=NAMES_POSTCODE),
                                                       "date_of_birth"),
        "salt_names_dob_blip_eps_2_names_postcode": (blip(2.0, blip_fields=NAMES_POSTCODE),
                                                     "date_of_birth"),
        "salt_names_dob_blip_eps_1.5_names_postcode (default)": (
            blip(1.5, blip_fields=NAMES_POSTCODE), "date_of_birth"),
    }


def schema_for(base: EncodingSchema, hardening: HardeningSpec, salt: str | None
               ) -> EncodingSchema:
    data = base.model_dump()
    data["hardening"] = hardening.model_dump()
    data["fields"] = [dict(f, salt_with=salt) if f["name"] in NAME_FIELDS else f
                      for f in data["fields"]]
    return EncodingSchema.model_validate(data)


def evaluate(people: int, seed: int, graph_sample: int, only: list[str] | None = None, *,
             attacks: bool = True) -> dict[str, dict[str, object]]:
    cohort = generate_cohort(CohortConfig(people=people, seed=seed))
    loaded = load_agreement(AGREEMENT)
    base = loaded.agreement.encoding
    table: dict[str, dict[str, object]] = {}
    for name, (hardening, salt) in options().items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        schema = schema_for(base, hardening, salt)
        sources = encode_cohort(cohort, loaded, schema, benchmark_key("privacy"))
        quality = pairwise_quality(Linker().link(sources).links, cohort.truth)
        f1 = {f"{a}~{b}": round(q.f1, 4) for (a, b), q in sorted(quality.by_partner_pair.items())
              if a != b}
        row: dict[str, object] = {"f1": f1, "f1 mean": round(float(np.mean(list(f1.values()))), 4)}
        if attacks:
            row.update(assess_schema(schema, people=people, seed=seed,
                                     graph_sample=graph_sample, noise_seed=seed).as_dict())
        row["seconds"] = round(time.perf_counter() - started, 1)
        table[name] = row
        print(name, json.dumps(row), flush=True)
    return table


def markdown(table: dict[str, dict[str, object]]) -> str:
    base = float(table["none"]["f1 mean"]) if "none" in table else float("nan")  # type: ignore[arg-type]
    rows = [{"encoding": name, "F1 (mean of 3 pairs)": r["f1 mean"],
             "F1 change": round(float(r["f1 mean"]) - base, 4),  # type: ignore[arg-type]
             "frequency": r.get("frequency_alignment"), "pattern mining": r.get("pattern_mining"),
             "chance": r.get("chance"), "graph": r.get("graph_matching"),
             "graph claims right": r.get("graph_claims_precision"),
             "blocking tokens": r.get("blocking_tokens"),
             "worst above chance": r.get("advantage")}
            for name, r in table.items()]
    header = list(rows[0]) if rows else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--graph-sample", type=int, default=5_000)
    parser.add_argument("--only", nargs="*", choices=list(options()),
                        help="run these options only (default: all)")
    parser.add_argument("--out", type=Path, help="also write the table as JSON here")
    parser.add_argument("--no-attacks", action="store_true",
                        help="linkage quality only (for large cohorts: the attacks take long)")
    parser.add_argument("--by-pass", action="store_true",
                        help="only the blocking-token attack on the shipped agreement, pass "
                             "by pass (the table reports the leakiest pass); with --people, "
                             "--seed and --out only")
    args = parser.parse_args()
    if args.by_pass:
        if args.only or args.no_attacks:
            parser.error("--by-pass attacks the shipped agreement alone: leave out --only "
                         "and --no-attacks")
        schema = load_agreement(AGREEMENT).agreement.encoding
        risks = assess_blocking_passes(schema, people=args.people, seed=args.seed)
        for risk in risks:
            print(f"{risk.blocking_pass:26s} recovered {risk.rate:.2%}  chance "
                  f"{risk.chance:.2%}  records per token {risk.mean_group:.2f} (largest "
                  f"{risk.largest_group})")
        if args.out:
            with atomic_output(args.out) as handle:
                json.dump([dataclasses.asdict(r) for r in risks], handle, indent=2)
        return
    table = evaluate(args.people, args.seed, args.graph_sample, args.only,
                     attacks=not args.no_attacks)
    if args.out:
        with atomic_output(args.out) as handle:
            json.dump(table, handle, indent=2)
    print(markdown(table))


if __name__ == "__main__":
    main()
