"""The linkage unit's step: encoding files in, links and the match model out (no key)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from linkage.encoding import read_encodings
from linkage.linkfiles import (
    candidates_path,
    model_path,
    write_candidates,
    write_links,
    write_model,
)
from linkage.matching import LinkageResult, Linker
from linkage.protocols.enforcement import authorise_match
from linkage.steps.layer import PathLike, audited_step


@dataclass(frozen=True)
class MatchResult:
    output: Path
    result: LinkageResult
    records: dict[str, int]


def match_encodings(*, agreement: PathLike, encodings: list[PathLike], output: PathLike,
                    audit_log: PathLike | None = None, linker: Linker | None = None,
                    save_candidates: bool = False, today: dt.date | None = None,
                    signing_key: PathLike | None = None) -> MatchResult:
    """Link encoding files under the agreement (as the linkage unit; no key needed).

    Writes ``output`` (cluster_id, partner, record_id, probability), ``output`` +
    ``.model.json`` (the :class:`~linkage.matching.MatchModel`) and, with
    ``save_candidates``, ``output`` + ``.candidates.npz`` (candidate pairs, for pairs
    completeness).
    """
    out = Path(output)
    outputs = {"links": out, "match model": model_path(out)}
    if save_candidates:
        outputs["candidates"] = candidates_path(out)
    linker = linker or Linker()
    if save_candidates and not linker.settings.keep_candidates:
        linker = Linker(linker.settings, backend=linker.backend, progress=linker.progress,
                        keep_candidates=True)
    inputs = {f"encodings[{i}]": p for i, p in enumerate(encodings)}
    with audited_step("match", agreement=agreement, actor=None, inputs=inputs,
                      outputs=outputs, audit_log=audit_log, signing_key=signing_key,
                      today=today) as step:
        files = [read_encodings(p) for p in encodings]
        authorise_match(step.agreement, files)
        sources = [f.encodings for f in files]
        result = linker.link(sources)
        step.write("links", out, lambda handle: write_links(result.links, handle))
        step.write("match model", outputs["match model"],
                   lambda handle: write_model(result.match_model(), handle))
        if save_candidates:
            step.write("candidates", outputs["candidates"],
                       lambda handle: write_candidates(result, sources, handle), binary=True)
        links = result.links
        step.counts = {"records": dict(result.sizes), "linked_records": len(links),
                       "clusters": int(links.cluster_id.nunique()) if len(links) else 0}
    return MatchResult(out, result, dict(result.sizes))
