"""Three-partner linkage of a synthetic cohort: quality, blocking, time and memory.

    python -m benchmarks.synthetic_linkage --people 100000
    python -m benchmarks.synthetic_linkage --people 1000000 --no-baseline   # scale run

Generates the cohort, encodes health, education and social care under the example
agreement's schema with a fresh key, links them, and prints per partner pair: precision,
recall, F1, pairs completeness, reduction ratio; plus encode and link times and peak
memory. The plaintext baseline (recordlinkage, ECM) links health and education on the
same data, blocked on date of birth.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd

from benchmarks.cohort_sources import encode_cohort
from linkage.encoding import ProjectKey
from linkage.matching import Linker, LshParameters, pairwise_quality
from linkage.matching.evaluation import pairs_completeness
from linkage.protocols import load_agreement
from linkage.synth import CohortConfig, generate_cohort

AGREEMENT = "protocols/first-1000-days/agreement.yaml"


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def blocking_quality(result, sources, truth: pd.DataFrame) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    person = truth.set_index(["partner", "record_id"]).person_id
    by_name = {s.partner: s for s in sources}
    out = {}
    for pm in result.pair_models:
        if pm.left == pm.right:
            continue
        a, b = by_name[pm.left], by_name[pm.right]
        pa = person.loc[pm.left].reindex(a.record_ids).to_numpy()
        pb = person.loc[pm.right].reindex(b.record_ids).to_numpy()
        m = pd.DataFrame({"p": pa, "i": np.arange(len(a))}).merge(
            pd.DataFrame({"p": pb, "j": np.arange(len(b))}), on="p")
        out[f"{pm.left}~{pm.right}"] = {
            "candidates": len(pm.candidates),
            "pairs_completeness": round(pairs_completeness(
                pm.candidates.left, pm.candidates.right, m.i.to_numpy(), m.j.to_numpy(),
                len(b)), 4),
            "reduction_ratio": round(pm.candidates.reduction_ratio(len(a), len(b)), 6)}
    return out


def baseline(cohort, pairs_limit: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import recordlinkage

    start = time.perf_counter()
    h = cohort.extracts["health"].set_index("record_id")
    e = cohort.extracts["education"].set_index("record_id")
    for frame in (h, e):
        for c in ("given_name", "family_name"):
            frame[c] = frame[c].str.strip().str.casefold()
    indexer = recordlinkage.Index()
    indexer.block("date_of_birth")
    pairs = indexer.index(h, e)
    if len(pairs) > pairs_limit:
        return {"skipped": f"{len(pairs)} candidate pairs > {pairs_limit}"}  # type: ignore[dict-item]
    compare = recordlinkage.Compare()
    compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85)
    compare.string("family_name", "family_name", method="jarowinkler", threshold=0.85)
    compare.exact("sex", "sex")
    compare.exact("postcode", "postcode")
    features = compare.compute(pairs, h, e)
    matches = recordlinkage.ECMClassifier(binarize=0.5).fit_predict(features).to_frame(
        index=False).to_numpy()
    links = pd.DataFrame({"cluster_id": np.repeat(np.arange(len(matches)), 2),
                          "partner": np.tile(["health", "education"], len(matches)),
                          "record_id": matches.ravel()})
    truth = cohort.truth[cohort.truth.partner.isin(["health", "education"])]
    q = pairwise_quality(links, truth).by_partner_pair[("education", "health")]
    return {"precision": round(q.precision, 4), "recall": round(q.recall, 4),
            "f1": round(q.f1, 4), "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lsh", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-blocking-quality", action="store_true",
                        help="do not keep candidate pairs (lower memory; no pairs completeness)")
    args = parser.parse_args()
    cohort = generate_cohort(CohortConfig(people=args.people, seed=args.seed))
    loaded = load_agreement(AGREEMENT)
    schema = loaded.agreement.encoding
    start = time.perf_counter()
    sources = encode_cohort(cohort, loaded, schema, ProjectKey.generate())
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    result = Linker(lsh=LshParameters() if args.lsh else None,
                    keep_candidates=not args.no_blocking_quality).link(sources)
    link_s = time.perf_counter() - start
    link_peak = peak_rss_gib()
    quality = pairwise_quality(result.links, cohort.truth)
    report = {
        "people": args.people, "records": {s.partner: len(s) for s in sources},
        "encode_s": round(encode_s, 1), "link_s": round(link_s, 1),
        "peak_rss_gib_after_link": round(link_peak, 2), "lsh": args.lsh,
        "quality": {f"{a}~{b}": {"precision": round(q.precision, 4),
                                 "recall": round(q.recall, 4), "f1": round(q.f1, 4)}
                    for (a, b), q in sorted(quality.by_partner_pair.items())},
    }
    if not args.no_blocking_quality:
        report["blocking"] = blocking_quality(result, sources, cohort.truth)
    if not args.no_baseline:
        report["recordlinkage_ecm_health~education"] = baseline(cohort, 30_000_000)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
