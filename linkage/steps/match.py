"""The linkage unit's step: encoding files in, links and the match model out (no key)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from linkage.encoding import read_encodings
from linkage.errors import InputDataError
from linkage.linkfiles import (
    CANDIDATES_FILE,
    MODEL_FILE,
    QUALITY_FILE,
    keyed_records,
    partner_links_path,
    write_candidates,
    write_link_quality,
    write_model,
    write_partner_links,
)
from linkage.matching import LinkageResult, Linker
from linkage.protocols.enforcement import authorise_match
from linkage.steps.layer import PathLike, audited_step


@dataclass(frozen=True)
class MatchResult:
    output: Path                       #: the output folder
    result: LinkageResult
    records: dict[str, int]
    files: dict[str, Path]             #: data provider -> its own links file


def match_encodings(*, agreement: PathLike, encodings: list[PathLike], output: PathLike,
                    audit_log: PathLike | None = None, linker: Linker | None = None,
                    save_candidates: bool = False, today: dt.date | None = None,
                    signing_key: PathLike | None = None) -> MatchResult:
    """Link encoding files under the agreement (as the linkage unit; no key needed).

    Writes into the folder ``output``: one links file per data provider holding only that
    provider's record ids with their link keys, ``link-quality.csv`` (per shared link key,
    its weakest link's probability; no record ids), ``match-model.json`` and, with
    ``save_candidates``, ``candidates.npz`` (see :mod:`linkage.linkfiles`).
    """
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise InputDataError(f"{out}: exists and is not a folder; 'linkage match --output' "
                             f"names the folder its files go into.")
    linker = linker or Linker()
    if save_candidates and not linker.settings.keep_candidates:
        linker = Linker(linker.settings, backend=linker.backend, progress=linker.progress,
                        keep_candidates=True)
    inputs = {f"encodings[{i}]": p for i, p in enumerate(encodings)}
    files = [read_encodings(p) for p in encodings]
    partners = sorted({f.partner for f in files})
    outputs: dict[str, PathLike] = {f"links[{p}]": partner_links_path(out, p) for p in partners}
    outputs |= {"link quality": out / QUALITY_FILE, "match model": out / MODEL_FILE}
    if save_candidates:
        outputs["candidates"] = out / CANDIDATES_FILE
    with audited_step("match", agreement=agreement, actor=None, inputs=inputs,
                      outputs=outputs, audit_log=audit_log or out / "audit.jsonl",
                      signing_key=signing_key, today=today) as step:
        authorise_match(step.agreement, files)
        sources = [f.encodings for f in files]
        result = linker.link(sources)
        keyed = keyed_records(sources, result)
        for partner in partners:
            step.write(f"links[{partner}]", outputs[f"links[{partner}]"],
                       partial(write_partner_links, keyed, partner))
        step.write("link quality", outputs["link quality"],
                   lambda handle: write_link_quality(keyed, handle))
        step.write("match model", outputs["match model"],
                   lambda handle: write_model(result.match_model(), handle))
        if save_candidates:
            step.write("candidates", outputs["candidates"],
                       lambda handle: write_candidates(result, sources, handle), binary=True)
        links = result.links
        step.counts = {"records": dict(result.sizes), "linked_records": len(links),
                       "clusters": int(links.cluster_id.nunique()) if len(links) else 0}
    return MatchResult(out, result, dict(result.sizes),
                       {p: partner_links_path(out, p) for p in partners})
