"""``linkage demo``: the whole flow on a built-in synthetic cohort, ending in a summary.

synth -> keygen -> encode (three partners, each under its protocol) -> match (linkage
unit, no key) -> release (to the analysts) -> evaluate against the truth.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linkage.encoding import ProjectKey, write_key_file
from linkage.errors import InputDataError
from linkage.linkfiles import read_links
from linkage.matching import Linker
from linkage.matching.evaluation import QualityReport
from linkage.steps import (
    encode_extract,
    evaluate_links,
    match_encodings,
    release_attributes,
    report_links,
)
from linkage.synth import CohortConfig, generate_cohort, write_cohort

EXAMPLE_PROTOCOLS = Path(__file__).resolve().parent / "protocols" / "data" / "first-1000-days"
PROVIDERS = ("health", "education", "social_care")


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    quality: QualityReport
    links: pd.DataFrame
    seconds: float


def example_protocols() -> Path:
    """The example first-1000-days protocols (shipped with the package)."""
    return EXAMPLE_PROTOCOLS


def run_demo(out_dir: Path | None = None, people: int = 20_000, seed: int = 0,
             quiet: bool = False) -> DemoResult:
    """Run the demo into ``out_dir`` (a new temporary folder if None)."""
    start = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="linkage-demo-"))
    _claim_folder(out)
    say = (lambda *_: None) if quiet else print
    say(f"linkage demo: {people:,} children (seed {seed}); outputs in {out}\n")
    protocols = out / "protocols"
    if protocols.exists():
        shutil.rmtree(protocols)
    shutil.copytree(example_protocols(), protocols)
    agreement = protocols / "agreement.yaml"

    say("1. synthetic cohort: three services' extracts and the truth")
    cohort = generate_cohort(CohortConfig(people=people, seed=seed))
    write_cohort(cohort, out / "cohort", force=True)

    say("2. the data providers agree a project key (the linkage unit never sees it)")
    key = out / "providers" / "project.key"
    if key.exists():
        key.unlink()
    write_key_file(ProjectKey.generate(), key)

    say("3. each provider encodes its extract under its protocol")
    for partner in PROVIDERS:
        encode_extract(agreement=agreement, partner=partner, key=key,
                       input=out / "cohort" / f"{partner}.csv",
                       output=out / "encodings" / f"{partner}.npz",
                       audit_log=out / "audit.jsonl", progress=not quiet)

    say("4. the linkage unit links the encodings (no key, no identifiers)")
    links_path = out / "linkage_unit"
    match_encodings(agreement=agreement,
                    encodings=[out / "encodings" / f"{p}.npz" for p in PROVIDERS],
                    output=links_path, audit_log=out / "audit.jsonl",
                    linker=Linker(progress=not quiet), save_candidates=True)

    say("5. each provider releases permitted attributes to the analysts, with link keys")
    for partner in PROVIDERS:
        release_attributes(agreement=agreement, links=links_path / f"{partner}.csv",
                           partner=partner,
                           input=out / "cohort" / f"{partner}.csv", recipient="analysts",
                           output=out / "analysts" / f"{partner}.csv",
                           audit_log=out / "audit.jsonl")

    say("6. the linkage report (no identifiers, small numbers suppressed)")
    report_links(agreement=agreement, links=links_path, output=out / "report.html",
                 audit_log=out / "audit.jsonl")

    say("7. evaluate against the truth\n")
    evaluation = evaluate_links(links=links_path, truth=out / "cohort" / "truth.csv")
    links = read_links([links_path])
    result = DemoResult(out, evaluation.quality, links, time.perf_counter() - start)
    if not quiet:
        print(summary_table(result, {p: len(cohort.extracts[p]) for p in PROVIDERS}))
    return result


#: Marks a folder as the demo's own, so that a later demo may write into it again.
DEMO_MARKER = ".linkage-demo"


def _claim_folder(out: Path) -> None:
    """Refuse to write the demo into a folder that holds anything but an earlier demo: the
    demo replaces protocols, keys and extracts, which must never be someone's real ones."""
    if out.exists() and not out.is_dir():
        raise InputDataError(f"{out}: exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()) and not (out / DEMO_MARKER).is_file():
        raise InputDataError(f"{out}: folder is not empty and was not made by 'linkage "
                             f"demo'; give a new or empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("made by linkage demo; it may rewrite this folder\n")


def summary_table(result: DemoResult, records: dict[str, int]) -> str:
    """The closing table: records per partner, links per partner pair, quality."""
    lines = [f"{'partner':<14}{'records':>10}{'linked':>10}"]
    sizes = result.links.groupby("cluster_id")["record_id"].transform("size")
    linked = result.links[sizes.to_numpy() > 1].groupby("partner").size()
    for partner, count in records.items():
        lines.append(f"{partner:<14}{count:>10,}{int(linked.get(partner, 0)):>10,}")
    lines += ["", f"{'partner pair':<26}{'links':>8}{'precision':>11}{'recall':>9}{'F1':>8}"]
    clusters = result.links.groupby("cluster_id").partner.apply(set)
    for a, b in itertools.combinations(records, 2):
        n_links = int(clusters.map(lambda s, a=a, b=b: a in s and b in s).sum())
        q = result.quality.by_partner_pair.get(tuple(sorted((a, b))))  # type: ignore[arg-type]
        if q is None:
            continue
        lines.append(f"{a + ' ~ ' + b:<26}{n_links:>8,}{q.precision:>11.4f}{q.recall:>9.4f}"
                     f"{q.f1:>8.4f}")
    q = result.quality.overall
    lines += [f"{'all pairs (incl. duplicates)':<26}{'':>8}{q.precision:>11.4f}"
              f"{q.recall:>9.4f}{q.f1:>8.4f}", "",
              f"link keys:        {result.out_dir / 'linkage_unit'} (one file per provider)",
              f"analyst releases: {result.out_dir / 'analysts'}",
              f"report:           {result.out_dir / 'report.html'}",
              f"audit log:        {result.out_dir / 'audit.jsonl'}  "
              f"(check it: linkage audit verify ...)",
              f"finished in {result.seconds:.0f} s"]
    return "\n".join(lines)
