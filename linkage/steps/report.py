"""The linkage report as an audited step: links and model in, one HTML file out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from linkage.linkfiles import CHANGES_FILE, MODEL_FILE, read_changes, read_links, read_model
from linkage.protocols.provenance import check_artefact
from linkage.report import render_report
from linkage.steps.layer import PathLike, audited_step


def report_links(*, agreement: PathLike, links: PathLike, output: PathLike,
                 audit_log: PathLike | None = None, title: str = "Linkage report",
                 today: dt.date | None = None, signing_key: PathLike | None = None) -> Path:
    """Write the HTML report on a match output folder ``links`` (its providers' links files
    and match model) under the agreement's disclosure control; refused when the agreement
    is not in force."""
    folder = Path(links)
    inputs: dict[str, PathLike] = {"match model": folder / MODEL_FILE}
    if folder.is_dir():
        inputs |= {f"links[{p.stem}]": p for p in folder.glob("*.csv")}  # and changes.csv
    with audited_step("report", agreement=agreement, actor=None, inputs=inputs,
                      outputs={"report": output}, audit_log=audit_log,
                      signing_key=signing_key, today=today) as step:
        unit = step.agreement.agreement.linkage_unit
        for path in inputs.values():
            check_artefact(step.agreement, path, made_by=unit, holder=unit, today=today)
        frame = read_links([links])
        model = read_model(links)
        control = step.agreement.agreement.disclosure_control
        changes_file = folder / CHANGES_FILE
        changes = read_changes(changes_file) if changes_file.is_file() else None
        html = render_report(frame, model, control, title=title, changes=changes)
        step.write("report", output, lambda handle: handle.write(html))
        step.counts = {"pairs_of_sources": len(model.pairs)}
    return Path(output)
