"""How often do the identifiers themselves fail to single a child out? Ties by cohort size.

    python -m benchmarks.identifier_ties --profile hard --people 1000000

For every true pair of records between two sources (a child's record in the smaller source
and its record in the larger), the plaintext identifiers (given name, family name, date of
birth, sex, postcode; after case and spaces) agree on some set of fields. The pair is
**tied** when a record of *another* child in the larger source agrees with the first record
on at least that set: going by exact agreement alone, nothing prefers the true record. Prints,
as JSON per pair of sources, the true pairs and the share tied.

This is no ceiling: near spellings, a third source (links made through another record), the
NHS number and each record's other candidates can break a tie, which is why the linker's
recall exceeds ``1 - tied`` for the pairs with social care at 20,000 children. Nor a floor.
But the share grows with the population while the identifiers stay the same, and the F1
lost between 20,000 and 1,000,000 children grows alongside it (benchmarks/README.md, "Why
quality falls with scale"). A pair where nothing agrees counts as tied.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from benchmarks.linkage_quality import cohort_arguments
from linkage.synth import Cohort, cohort_config, generate_cohort

FIELDS = ("given_name", "family_name", "date_of_birth", "sex", "postcode")
PAIRS = (("social_care", "education"), ("education", "health"), ("social_care", "health"))


def _identifiers(cohort: Cohort, partner: str) -> pd.DataFrame:
    """One row per record: the identifiers cleaned (case and spaces) and the person."""
    frame = cohort.extracts[partner][["record_id", *FIELDS]].copy()
    for column in FIELDS:
        frame[column] = frame[column].fillna("").astype(str).str.casefold() \
            .str.replace(r"\s+", "", regex=True)
    person = cohort.truth[cohort.truth.partner == partner].set_index("record_id").person_id
    frame["person"] = person.reindex(frame.record_id).to_numpy()
    return frame.drop(columns="record_id").reset_index(drop=True)


def _lookup(counts: pd.Series, keys: pd.DataFrame) -> np.ndarray:
    """``counts`` (indexed by ``keys``' columns) at each row of ``keys``, 0 where absent."""
    index = (pd.MultiIndex.from_frame(keys) if keys.shape[1] > 1
             else pd.Index(keys.iloc[:, 0]))
    return counts.reindex(index).fillna(0).to_numpy()


def tied_share(small: pd.DataFrame, large: pd.DataFrame) -> tuple[int, float]:
    """True pairs between ``small`` and ``large`` (frames of :func:`_identifiers`) and the
    share of them tied (see the module docstring)."""
    small, large = small.dropna(subset=["person"]), large.dropna(subset=["person"])
    pairs = small.merge(large, on="person", suffixes=("_s", "_l"))
    agree = np.stack([((pairs[f + "_s"] == pairs[f + "_l"]) & (pairs[f + "_s"] != ""))
                      .to_numpy() for f in FIELDS], axis=1)
    kind = agree @ (1 << np.arange(len(FIELDS)))
    tied = np.zeros(len(pairs), dtype=bool)
    for k in np.unique(kind):
        rows = np.flatnonzero(kind == k)
        fields = [f for i, f in enumerate(FIELDS) if k >> i & 1]
        if not fields:  # nothing agrees: every record of the larger source ties
            tied[rows] = True
            continue
        keys = pairs.iloc[rows][[f + "_s" for f in fields]].set_axis(fields, axis=1)
        everyone = _lookup(large.groupby(fields).size(), keys)
        own = _lookup(large.groupby(["person", *fields]).size(),
                      pd.concat([pairs.iloc[rows][["person"]], keys], axis=1))
        tied[rows] = everyone > own
    return len(pairs), float(tied.mean()) if len(pairs) else 0.0


def measure(profile: str, people: int, seed: int = 1) -> dict[str, object]:
    cohort = generate_cohort(cohort_config(profile, people=people, seed=seed))
    out: dict[str, object] = {"profile": profile, "people": people, "seed": seed}
    frames = {partner: _identifiers(cohort, partner) for pair in PAIRS for partner in pair}
    for small, large in PAIRS:
        pairs, share = tied_share(frames[small], frames[large])
        out[f"{small}~{large}"] = {"true_pairs": pairs, "tied": round(share, 4)}
    return out


def main() -> None:
    args = cohort_arguments(__doc__.splitlines()[0]).parse_args()
    print(json.dumps(measure(args.profile, args.people, args.seed), indent=2))


if __name__ == "__main__":
    main()
