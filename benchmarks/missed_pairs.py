"""Why true pairs are missed: counts by what differs between the two records, per pair of
sources (a source with itself: duplicates).

    python -m benchmarks.missed_pairs --profile hard --people 20000 [--top 12]

Links the cohort under the example agreement's schema (shipped default) and, for each pair
of records of one child that the links leave in two clusters, compares the two records'
plaintext (the synthetic cohort's, which only a benchmark has) field by field: given and
family name (equal after case and spaces, or not), date of birth (equal, a day off, a year
off, day and month swapped, otherwise different, missing), postcode (equal, different,
missing), and whether blocking made the pair a candidate at all. Prints, as JSON, the
commonest kinds with their counts: where the misses are, without a record's values. This is
how the two-day spans (docs/matching.md) were found: 9 of 30 misses per pair had the same
names a day apart.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from benchmarks.linkage_quality import cohort_arguments, encoded_sources
from linkage.matching import Linker
from linkage.synth import cohort_config, generate_cohort

FIELDS = ("given_name", "family_name", "date_of_birth", "postcode")


def _name(a: pd.Series, b: pd.Series) -> np.ndarray:
    def clean(s: pd.Series) -> pd.Series:
        return s.fillna("").astype(str).str.replace(r"\s+", " ", regex=True).str.strip() \
            .str.casefold()
    x, y = clean(a), clean(b)
    return np.where((x == "") | (y == ""), "missing", np.where(x == y, "equal", "differs"))


def _date(a: pd.Series, b: pd.Series) -> np.ndarray:
    x = pd.to_datetime(a, errors="coerce")
    y = pd.to_datetime(b, errors="coerce")
    days = (x - y).dt.days.abs()
    swapped = (x.dt.year == y.dt.year) & (x.dt.month == y.dt.day) & (x.dt.day == y.dt.month)
    out = np.select([x.isna() | y.isna(), days == 0, days == 1, swapped,
                     days.isin([365, 366])],
                    ["missing", "equal", "a day off", "day/month swapped", "a year off"],
                    "differs")
    return np.asarray(out)


def _postcode(a: pd.Series, b: pd.Series) -> np.ndarray:
    def clean(s: pd.Series) -> pd.Series:
        return s.fillna("").astype(str).str.replace(" ", "").str.upper()
    x, y = clean(a), clean(b)
    return np.where((x == "") | (y == ""), "missing", np.where(x == y, "equal", "differs"))


def missed_kinds(profile: str, people: int, seed: int = 1, *, top: int = 12
                 ) -> dict[str, object]:
    """Per pair of sources: true pairs, missed ones, and the ``top`` commonest kinds."""
    cohort = generate_cohort(cohort_config(profile, people=people, seed=seed))
    sources = encoded_sources(cohort, hardened=True)
    result = Linker(keep_candidates=True).link(sources)
    cluster = result.links.set_index(["partner", "record_id"]).cluster_id
    by_name = {s.partner: s for s in sources}
    candidates: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for pm in result.pair_models:
        ids_a = np.asarray(by_name[pm.left].record_ids).astype(str)
        ids_b = np.asarray(by_name[pm.right].record_ids).astype(str)
        pairs = zip(ids_a[pm.candidates.left], ids_b[pm.candidates.right], strict=True)
        candidates[(pm.left, pm.right)] = {(x, y) for x, y in pairs} | (
            {(y, x) for x, y in zip(ids_a[pm.candidates.left], ids_b[pm.candidates.right],
                                    strict=True)} if pm.left == pm.right else set())
    records = []
    for partner, frame in cohort.extracts.items():
        person = cohort.truth[cohort.truth.partner == partner].set_index("record_id").person_id
        keep = frame[["record_id", *FIELDS]].astype({"record_id": str}).copy()
        keep["person"] = keep.record_id.map(person.to_dict())
        keep["cluster"] = [cluster.get((partner, r)) for r in frame.record_id]
        keep["partner"] = partner
        records.append(keep)
    everyone = pd.concat(records, ignore_index=True)
    out: dict[str, object] = {}
    for left, right in candidates:
        a = everyone[everyone.partner == left]
        b = everyone[everyone.partner == right]
        pairs = a.merge(b, on="person", suffixes=("_a", "_b"))
        if left == right:
            pairs = pairs[pairs.record_id_a < pairs.record_id_b]
        missed = pairs[pairs.cluster_a.isna() | (pairs.cluster_a != pairs.cluster_b)]
        kinds = pd.DataFrame({
            "candidate": [("yes" if (x, y) in candidates[(left, right)] else "no")
                          for x, y in zip(missed.record_id_a, missed.record_id_b,
                                          strict=True)],
            "given": _name(missed.given_name_a, missed.given_name_b),
            "family": _name(missed.family_name_a, missed.family_name_b),
            "date": _date(missed.date_of_birth_a, missed.date_of_birth_b),
            "postcode": _postcode(missed.postcode_a, missed.postcode_b)})
        counts = kinds.value_counts().head(top)
        out[f"{left}~{right}"] = {
            "true_pairs": len(pairs), "missed": len(missed),
            "commonest": [{**dict(zip(kinds.columns, key, strict=True)), "pairs": int(n)}
                          for key, n in counts.items()]}
    return out


def main() -> None:
    parser = cohort_arguments(__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    print(json.dumps(missed_kinds(args.profile, args.people, args.seed, top=args.top),
                     indent=2))


if __name__ == "__main__":
    main()
