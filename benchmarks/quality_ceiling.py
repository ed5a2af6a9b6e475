"""Is it the model or the evidence? Our links against a label-informed ceiling, per model.

    python -m benchmarks.quality_ceiling --profile hard --people 20000 [--unhardened]

Links the cohort under the example agreement's schema (``--unhardened``: without its
hardening), then, for each pair of sources and each source with itself, selects links two
ways from the same candidate pairs and the same comparison levels:

- **ours**: the fitted model's probabilities (between sources, with the record's one match
  shared among its candidates), the usual selection;
- **pattern ceiling**: each comparison pattern's *observed* match rate among the candidates
  (from the truth, in-sample: optimistic), the same selection, at the threshold among 0.1,
  0.2, ..., 0.9 that gives the best F1.

Both are scored pair by pair before clustering (so the figures differ from
``linkage_quality``'s, which count links made through a third record). The ceiling is that
of a scorer that looks at each pair's comparison pattern alone: where it is not above a bar,
such a scorer cannot reach it, and the levels (the evidence the encoding and the
comparisons keep) must change, not the fit. It knows nothing of a record's other
candidates, so between sources "ours", which weighs them, can beat it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from benchmarks.linkage_quality import cohort_arguments, encoded_sources, scored_candidates
from linkage.matching import Linker
from linkage.matching.clustering import select_links
from linkage.matching.scoring import match_probability
from linkage.synth import cohort_config, generate_cohort


def _scores(chosen: np.ndarray, is_match: np.ndarray, true_pairs: int) -> dict[str, float]:
    found = int((chosen & is_match).sum())
    precision = found / max(int(chosen.sum()), 1)
    recall = found / max(true_pairs, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _true_pairs(people_a: np.ndarray, people_b: np.ndarray, *, same: bool) -> int:
    """How many record pairs (within a source: unordered, distinct) are one person."""
    a = pd.Series(people_a).value_counts()
    if same:
        return int((a * (a - 1) // 2).sum())
    b = pd.Series(people_b).value_counts()
    return int((a * b.reindex(a.index).fillna(0)).sum())


def measure(profile: str, people: int, seed: int = 1, *,
            hardened: bool = True) -> dict[str, object]:
    """Ours against the pattern ceiling, per model (see the module docstring)."""
    cohort = generate_cohort(cohort_config(profile, people=people, seed=seed))
    sources = encoded_sources(cohort, hardened=hardened)
    linker = Linker(keep_candidates=True)
    result = linker.link(sources)
    by_name = {s.partner: s for s in sources}
    person = cohort.truth.set_index(["partner", "record_id"]).person_id
    gate = linker.settings.dedup_gate
    out: dict[str, object] = {}
    for scored in scored_candidates(linker, result, sources, person):
        pm = scored.model
        a, b = by_name[pm.left], by_name[pm.right]
        left, right = pm.candidates.left, pm.candidates.right
        is_match = scored.is_match
        true_pairs = _true_pairs(scored.people_a, scored.people_b, same=a is b)
        ours = select_links(a, b, left, right, scored.weights,
                            match_probability(scored.weights), threshold=0.5, gate=gate)
        pattern = pd.Series([row.tobytes() for row in scored.levels])
        rate = pd.Series(is_match.astype(np.float64)).groupby(pattern).transform(
            "mean").to_numpy().clip(1e-9, 1 - 1e-9)
        ceilings = [(_scores(select_links(a, b, left, right, np.log2(rate / (1 - rate)), rate,
                                          threshold=t, gate=gate), is_match, true_pairs), t)
                    for t in np.round(np.arange(0.1, 1.0, 0.1), 1)]
        best, at = max(ceilings, key=lambda c: c[0]["f1"])
        out[f"{pm.left}~{pm.right}"] = {
            "true_pairs": true_pairs, "true_among_candidates": int(is_match.sum()),
            "patterns": int(pattern.nunique()), "ours": _scores(ours, is_match, true_pairs),
            "pattern_ceiling": {**best, "threshold": float(at)}}
    return {"profile": profile, "people": people, "hardened": hardened, "models": out}


def main() -> None:
    parser = cohort_arguments(__doc__.splitlines()[0])
    parser.add_argument("--unhardened", action="store_true",
                        help="the schema without its hardening (no salts, no noise)")
    args = parser.parse_args()
    print(json.dumps(measure(args.profile, args.people, args.seed,
                             hardened=not args.unhardened), indent=2))


if __name__ == "__main__":
    main()
