"""The linkage unit's step: encoding files in, links and the match model out (no key)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linkage.encoding import read_encodings
from linkage.errors import InputDataError
from linkage.linkfiles import (
    CANDIDATES_FILE,
    CHANGES_FILE,
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
    store_run: Any = None              #: the store's StoreRun, when linked into a store


def match_encodings(*, agreement: PathLike, encodings: list[PathLike], output: PathLike,
                    audit_log: PathLike | None = None, linker: Linker | None = None,
                    save_candidates: bool = False, today: dt.date | None = None,
                    signing_key: PathLike | None = None, store: str | None = None,
                    refit: bool = False, partial: bool = False) -> MatchResult:
    """Link encoding files under the agreement (as the linkage unit; no key needed).

    Writes into the folder ``output``: one links file per data provider holding only that
    provider's record ids with their link keys, ``link-quality.csv`` (per shared link key,
    its weakest link's probability; no record ids), ``match-model.json`` and, with
    ``save_candidates``, ``candidates.npz`` (see :mod:`linkage.linkfiles`).

    With ``store`` (a SQLite file or a ``postgresql://`` URL) the run links the encodings
    into the linkage unit's store instead (:func:`match_into_store`).
    """
    if store is not None:
        return match_into_store(agreement=agreement, encodings=encodings, output=output,
                                store=store, audit_log=audit_log, linker=linker, today=today,
                                signing_key=signing_key, refit=refit, partial=partial)
    out = Path(output)
    check_output_folder(out)
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
                       functools.partial(write_partner_links, keyed, partner))
        step.write("link quality", outputs["link quality"],
                   lambda handle: write_link_quality(keyed, handle))
        step.write("match model", outputs["match model"],
                   lambda handle: write_model(result.match_model(), handle))
        if save_candidates:
            probabilities = linker.candidate_probabilities(result, sources)
            step.write("candidates", outputs["candidates"],
                       lambda handle: write_candidates(result, sources, probabilities, handle),
                       binary=True)
        links = result.links
        step.counts = {"records": dict(result.sizes), "linked_records": len(links),
                       "clusters": int(links.cluster_id.nunique()) if len(links) else 0}
    return MatchResult(out, result, dict(result.sizes),
                       {p: partner_links_path(out, p) for p in partners})


def match_into_store(*, agreement: PathLike, encodings: list[PathLike], output: PathLike,
                     store: str, audit_log: PathLike | None = None,
                     linker: Linker | None = None, today: dt.date | None = None,
                     signing_key: PathLike | None = None, refit: bool = False,
                     partial: bool = False) -> MatchResult:
    """Link the encodings that arrived into the store (created on the first run): link keys
    stay stable from run to run (:mod:`linkage.store`). Writes into ``output`` each
    partner's links file (every current record it has in the store), ``changes.csv`` (keys
    created, joined, merged, split, retired) and ``match-model.json``. The store commits
    only after the step's audit entry is written; a run that fails leaves it as it was."""
    from linkage.store import link_into_store, open_store

    out = Path(output)
    check_output_folder(out)
    linker = linker or Linker()
    inputs = {f"encodings[{i}]": p for i, p in enumerate(encodings)}
    files = [read_encodings(p) for p in encodings]
    with audited_step("match", agreement=agreement, actor=None, inputs=inputs,
                      outputs={"changes": out / CHANGES_FILE},
                      audit_log=audit_log or out / "audit.jsonl", signing_key=signing_key,
                      today=today) as step:
        authorise_match(step.agreement, files, minimum=1)

        def write_outputs(run: Any) -> None:
            for partner in sorted(run.links["partner"].unique()):
                step.write(f"links[{partner}]", partner_links_path(out, partner),
                           functools.partial(write_partner_links, run.links, partner))
            step.write("changes", out / CHANGES_FILE,
                       lambda handle: run.changes.to_csv(handle, index=False,
                                                         lineterminator="\n"))
            step.write("match model", out / MODEL_FILE,
                       lambda handle: write_model(run.model, handle))
            step.counts = {"store_run": run.run_id, "kind": run.kind, **run.summary,
                           "drift": run.drift}
            step.audit()

        with open_store(store) as opened:
            run = link_into_store(opened, step.agreement.agreement.id,
                                  [f.encodings for f in files], linker.settings,
                                  full_extract=not partial, refit=refit,
                                  backend=linker.backend, before_commit=write_outputs)
    sizes = {str(p): int(n) for p, n in run.links.groupby("partner").size().items()}
    result = LinkageResult(run.links.rename(columns={"link_key": "cluster_id"}), [],
                           tuple(run.model.fields), run.model.threshold, sizes)
    return MatchResult(out, result, sizes,
                       {p: partner_links_path(out, p) for p in sizes}, run)


#: Files a match output folder may hold besides the providers' links files.
_OURS = {QUALITY_FILE, MODEL_FILE, CANDIDATES_FILE, CHANGES_FILE, "audit.jsonl",
         "audit.jsonl.checkpoint"}


def check_output_folder(out: Path) -> None:
    """Refuse an output that is not a new, empty or earlier match output folder: a match
    writes PARTNER.csv files, which must never replace a provider's extract or anything
    else that happens to be there."""
    if out.exists() and not out.is_dir():
        raise InputDataError(f"{out}: exists and is not a folder; 'linkage match --output' "
                             f"names the folder its files go into.")
    if not out.is_dir():
        return
    for item in out.iterdir():
        name = item.name
        base = name[:-len(".provenance.json")] if name.endswith(".provenance.json") else name
        ours = base in _OURS or name.endswith(".linkage-tmp") or (
            name.endswith(".csv") and (out / f"{name}.provenance.json").is_file()) or (
            base.endswith(".csv") and base != name)
        if not ours:
            raise InputDataError(f"{out}: holds files that 'linkage match' did not write "
                                 f"(e.g. {name}); choose a new or empty folder for --output.")
