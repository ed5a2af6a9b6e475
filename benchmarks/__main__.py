"""Run the benchmarks: a JSON file of results and a printed table.

    python -m benchmarks --ci        # small and quick: run by scripts/test (and so by CI)
    python -m benchmarks             # 10k and 100k cohorts, FEBRL4, kernel, encoding speed
    python -m benchmarks --full      # ... and the 1M-children scale run (several minutes)

The CI mode links a synthetic cohort of 20,000 children (three partners) and FEBRL4 with a
fixed benchmark key and seeded noise, so results are repeatable, and exits 1 if any partner
pair's F1 is below 0.98 (with and without the shipped hardening), if the shipped hardening
costs more than 1 F1 point (mean of the pairs), if FEBRL4's F1 is below 0.997, or if any of
the four attacks re-identifies 1% of records or more under the shipped hardening (20,000
children, full overlap). It also links the hard cohort (docs/synthetic-cohort.md) with and
without hardening and fails below its regression guards (HARD_BAR, HARD_COST_BAR,
HARD_DEDUP_BAR; HARD_SEEDS_BAR and HARD_SEEDS_DEDUP_BAR on two more hard cohorts), printing
issue 16's targets with their status; and runs three months of
100,000 children through the store (benchmarks/store_months.py), failing if the gap to a
full re-link exceeds STORE_GAP_GUARD or a record lands in two clusters. The full benchmarks
are listed in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.cohort_sources import benchmark_key, encode_cohort
from linkage.matching import Linker, pairwise_quality
from linkage.privacy import assess_schema
from linkage.protocols import load_agreement
from linkage.synth import CohortConfig, generate_cohort

SYNTHETIC_BAR = 0.98   #: the matcher, on the schema without hardening (issue 4)
HARDENED_BAR = 0.98    #: the shipped default hardening (measured 0.985-0.989 at 20k)
#: the most F1 (mean of the pairs) the shipped hardening may cost (measured 0.0038 at 20k)
F1_LOSS_BAR = 0.01
#: each attack must re-identify fewer records than this under the shipped hardening, on
#: 20,000 children at full overlap (measured: frequency 0.11%, pattern mining 0%, graph
#: 0.72%, blocking tokens 0.27%): the privacy issue's bar, kept as a regression guard
ATTACK_BAR = 0.01
FEBRL_BAR = 0.997
#: the hard cohort (20,000 children, docs/synthetic-cohort.md), shipped default: regression
#: guards below today's figures (0.9914-0.9946 per pair, duplicates 0.957-1.0, with
#: agreement 1.4 and names confirmed within a source; 0.9906-0.9941 and 0.947-1.0 before
#: the twins gate's home check); the
#: cost against no hardening is issue 16's own target, met since 2026-12-02 (at most 0.0004)
HARD_BAR = 0.985
HARD_COST_BAR = 0.003
HARD_DEDUP_BAR = 0.93
#: the same guard on two more hard cohorts (seeds 2 and 3), so that a change helping the
#: cohort it was measured on and hurting others shows: measured 0.9883-0.9948 per pair,
#: duplicates 0.946-0.995 (benchmarks/README.md, "One cohort is one draw")
HARD_SEEDS = (2, 3)
HARD_SEEDS_BAR = 0.983
HARD_SEEDS_DEDUP_BAR = 0.92
#: the store month by month (issue 17), 100,000 children over three months: a regression
#: guard on the gap to a full re-link of the last month (issue 17's own bar is 0.002 over
#: twelve months, printed with its status). With a broken first-month model (names_month,
#: 2026-12-02) the gap was 0.14; measured since: 0.0020 over twelve months, 0.0031 over three;
#: with agreement 1.3 and stored links re-checked, 0.0016 over twelve, 0.0019 over three
STORE_PEOPLE = 100_000
STORE_MONTHS = 3
STORE_GAP_GUARD = 0.004
#: issue 16's targets, printed with their status (not yet all met, so not yet failures)
HARD_TARGETS = {"f1": 0.99, "cost": 0.003, "duplicates": 0.95, "calibration_gap": 0.05}
AGREEMENT = "protocols/first-1000-days/agreement.yaml"


def synthetic(people: int, seed: int, *, hardened: bool = True) -> dict[str, float]:
    """F1 per partner pair under the example agreement's schema (``hardened=False``: the
    same schema without its hardening, which is what the matcher's own bar is about)."""
    cohort = generate_cohort(CohortConfig(people=people, seed=seed))
    loaded = load_agreement(AGREEMENT)
    schema = loaded.agreement.encoding
    if not hardened:
        schema = schema.without_hardening()
    sources = encode_cohort(cohort, loaded, schema, benchmark_key("synthetic"))
    quality = pairwise_quality(Linker().link(sources).links, cohort.truth)
    return {f"{a}~{b}": round(q.f1, 4) for (a, b), q in sorted(quality.by_partner_pair.items())
            if a != b}


def febrl() -> float:
    from benchmarks.febrl4 import load, ours, truth_of

    a, b = load()
    links, _ = ours(a, b, lsh=True, key=benchmark_key("febrl4"))
    return round(pairwise_quality(links, truth_of(a, b)).overall.f1, 4)


def hard_failures(hard: dict) -> list[str]:  # type: ignore[type-arg]
    """The hard cohort's regression guards that ``hard`` (from ``linkage_quality.measure``)
    misses."""
    out = [f"hard cohort {pair} (default): F1 {q['f1']} < {HARD_BAR}"
           for pair, q in hard["default"]["pairs"].items() if q["f1"] < HARD_BAR]
    out += [f"hard cohort {pair}: the default costs {cost} F1 (> {HARD_COST_BAR})"
            for pair, cost in hard["hardening_cost_f1"].items() if cost > HARD_COST_BAR]
    out += [f"hard cohort {source} duplicates (default): F1 {q['f1']} < {HARD_DEDUP_BAR}"
            for source, q in hard["default"]["duplicates"].items() if q["f1"] < HARD_DEDUP_BAR]
    return out


def seed_failures(seeds: dict) -> list[str]:  # type: ignore[type-arg]
    """The guards on the other hard cohorts (from ``linkage_quality.measure_seeds``)."""
    out = [f"hard cohort, seed {seed}, {pair} (default): F1 {f1} < {HARD_SEEDS_BAR}"
           for pair, q in seeds["pairs"].items()
           for seed, f1 in zip(seeds["seeds"], q["f1_per_seed"], strict=True)
           if f1 < HARD_SEEDS_BAR]
    out += [f"hard cohort, seed {seed}, {source} duplicates (default): F1 {f1} < "
            f"{HARD_SEEDS_DEDUP_BAR}"
            for source, q in seeds["duplicates"].items()
            for seed, f1 in zip(seeds["seeds"], q["f1_per_seed"], strict=True)
            if f1 < HARD_SEEDS_DEDUP_BAR]
    return out


def hard_target_status(hard: dict) -> list[str]:  # type: ignore[type-arg]
    """One line per issue-16 target: the figure, the target, met or not."""
    default = hard["default"]
    figures = {
        "F1 per pair (default)": (min(q["f1"] for q in default["pairs"].values()),
                                  HARD_TARGETS["f1"], True),
        "cost against no hardening": (max(hard["hardening_cost_f1"].values()),
                                      HARD_TARGETS["cost"], False),
        "duplicates F1 per source": (min(q["f1"] for q in default["duplicates"].values()),
                                     HARD_TARGETS["duplicates"], True),
        "calibration, largest decile gap": (default["calibration_max_gap"],
                                            HARD_TARGETS["calibration_gap"], False),
        "calibration, largest decile gap beyond the 95% interval": (
            default["calibration_max_excess"], HARD_TARGETS["calibration_gap"], False)}
    lines = [f"issue 16 target, hard cohort: {name} {value:.4f} (target "
             f"{'>=' if high else '<='} {target}): "
             f"{'met' if (value >= target if high else value <= target) else 'not yet met'}"
             for name, (value, target, high) in figures.items()]
    chance = default.get("calibration_max_gap_if_calibrated")
    if chance is not None:  # what the gap would be with no miscalibration at all
        lines.append(f"  (a perfectly calibrated model in the same bins, by chance: largest "
                     f"gap median {chance['median']:.2f}, 95th percentile {chance['p95']:.2f};"
                     f" a bar below the median cannot be judged at this size)")
    return lines


def _run_module(module: str, *options: str) -> dict[str, object]:
    """Run ``python -m benchmarks.MODULE`` and parse its JSON output."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *options],
                          capture_output=True, text=True, check=True)
    start = done.stdout.index("{")
    parsed: dict[str, object] = json.loads(done.stdout[start:])
    return parsed


def full_suite(include_scale: bool, out_dir: str) -> int:
    from pathlib import Path

    from linkage.files import atomic_output

    runs: dict[str, tuple[str, ...]] = {
        "synthetic_10k": ("synthetic_linkage", "--people", "10000"),
        "synthetic_100k": ("synthetic_linkage", "--people", "100000"),
        "febrl4": ("febrl4", "--lsh"),
        "kernel": ("kernel_speed", "--repeats", "3"),
        "encode_100k": ("encode_speed", "--people", "100000", "--repeats", "3"),
    }
    if include_scale:
        runs["synthetic_1m"] = ("synthetic_linkage", "--people", "1000000", "--no-baseline",
                                "--no-blocking-quality")
    results = {}
    for name, (module, *options) in runs.items():
        print(f"running {name} ...", file=sys.stderr)
        results[name] = _run_module(module, *options)
    stamp = time.strftime("%Y-%m-%d")
    path = Path(out_dir) / f"{stamp}.json"
    with atomic_output(path) as handle:
        json.dump(results, handle, indent=2)
    print(summary_table(results))
    print(f"\nresults: {path}")
    return 0


def summary_table(results: dict[str, dict]) -> str:  # type: ignore[type-arg]
    """One line per run: the headline figures."""
    lines = [f"{'run':<16}{'figure':<44}{'value':>14}"]
    for name, result in results.items():
        if name.startswith("synthetic"):
            for pair, q in result["quality"].items():
                a, b = pair.split("~")
                if a != b:
                    lines.append(f"{name:<16}{'F1 ' + pair:<44}{q['f1']:>14.4f}")
            lines.append(f"{name:<16}{'link seconds':<44}{result['link_s']:>14}")
        elif name == "febrl4":
            lines.append(f"{name:<16}{'F1 (encoded)':<44}{result['ours_encoded']['f1']:>14.4f}")
            lines.append(f"{name:<16}{'F1 (recordlinkage ECM, plaintext)':<44}"
                         f"{result['recordlinkage_ecm_plaintext']['f1']:>14.4f}")
        elif name == "kernel":
            lines.append(f"{name:<16}{'pairs/s':<44}{result['ours_pairs_per_s']:>14,}")
        elif name.startswith("encode"):
            lines.append(f"{name:<16}{'records/s (in memory)':<44}"
                         f"{result['ours_records_per_s_in_memory']:>14,}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ci", action="store_true", help="the quick run with pass/fail bars")
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--full", action="store_true", help="include the 1M-children run")
    parser.add_argument("--out", default="benchmarks/results",
                        help="folder for the JSON results (default benchmarks/results)")
    args = parser.parse_args()
    if not args.ci:
        return full_suite(args.full, args.out)
    start = time.perf_counter()
    plain = synthetic(args.people, seed=1, hardened=False)
    hardened = synthetic(args.people, seed=1)
    schema = load_agreement(AGREEMENT).agreement.encoding
    risk = assess_schema(schema, people=args.people, graph_sample=5_000)
    bare = assess_schema(schema.without_hardening(), people=args.people, graph_sample=5_000)
    from benchmarks.linkage_quality import measure, measure_seeds

    hard = measure("hard", args.people)
    other_seeds = measure_seeds("hard", args.people, list(HARD_SEEDS))
    from benchmarks import store_months

    store = store_months.measure(STORE_PEOPLE, STORE_MONTHS, verbose=False)
    results: dict[str, object] = {
        "synthetic_f1_unhardened": plain, "synthetic_f1_default_hardening": hardened,
        "febrl4_f1": febrl(), "default_hardening_risk": risk.as_dict(),
        "unhardened_risk": bare.as_dict(), "hard_cohort": hard,
        "hard_cohort_other_seeds": other_seeds, "store_months": store}
    results["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(results, indent=2))
    failures = [f"{pair} (unhardened): F1 {f1} < {SYNTHETIC_BAR}"
                for pair, f1 in plain.items() if f1 < SYNTHETIC_BAR]
    failures += [f"{pair} (default hardening): F1 {f1} < {HARDENED_BAR}"
                 for pair, f1 in hardened.items() if f1 < HARDENED_BAR]
    if float(results["febrl4_f1"]) < FEBRL_BAR:  # type: ignore[arg-type]
        failures.append(f"FEBRL4: F1 {results['febrl4_f1']} < {FEBRL_BAR}")
    loss = sum(plain.values()) / len(plain) - sum(hardened.values()) / len(hardened)
    if loss > F1_LOSS_BAR:
        failures.append(f"default hardening costs {loss:.4f} F1 (mean of the pairs), more "
                        f"than {F1_LOSS_BAR}")
    for attack in ("frequency_alignment", "pattern_mining", "graph_matching",
                   "blocking_tokens"):
        rate = float(getattr(risk, attack))
        if rate >= ATTACK_BAR:
            failures.append(f"default hardening: {attack} re-identifies {rate:.2%} of "
                            f"records (bar: under {ATTACK_BAR:.0%})")
    failures += hard_failures(hard)
    failures += seed_failures(other_seeds)
    failures += [f"store over {STORE_MONTHS} months of {STORE_PEOPLE:,} children: {name}"
                 for name in store_months.missed_bars(store, gap_bar=STORE_GAP_GUARD)]
    for line in hard_target_status(hard):
        print(line, file=sys.stderr)
    lowest = min(q["lowest"] for q in other_seeds["pairs"].values())  # type: ignore[attr-defined]
    print(f"issue 16 target, hard cohort seeds {', '.join(map(str, HARD_SEEDS))}: F1 per pair "
          f"(default) {lowest:.4f} (target >= {HARD_TARGETS['f1']}): "
          f"{'met' if lowest >= HARD_TARGETS['f1'] else 'not yet met'}", file=sys.stderr)
    gap = float(store["f1_gap"])  # type: ignore[arg-type]
    print(f"issue 17 target, store: F1 gap to a full re-link {gap:.4f} over "
          f"{STORE_MONTHS} months (target <= {store_months.F1_GAP_BAR} over 12): "
          f"{'met' if gap <= store_months.F1_GAP_BAR else 'not met'}", file=sys.stderr)
    for failure in failures:
        print(f"benchmark bar missed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
