"""A data provider's release: link keys joined to the attributes a recipient may have."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linkage.errors import InputDataError
from linkage.linkfiles import read_partner_links
from linkage.protocols.enforcement import authorise_release, record_id_column
from linkage.protocols.provenance import check_artefact
from linkage.steps.layer import PathLike, audited_step
from linkage.tables import read_table


@dataclass(frozen=True)
class ReleaseResult:
    output: Path
    rows: int
    attributes: list[str]
    purpose: str


def release_attributes(*, agreement: PathLike, links: PathLike, partner: str, input: PathLike,
                       recipient: str, output: PathLike, purpose: str | None = None,
                       attributes: list[str] | None = None, audit_log: PathLike | None = None,
                       today: dt.date | None = None,
                       signing_key: PathLike | None = None) -> ReleaseResult:
    """Write ``link_key`` plus the permitted attributes of ``partner``'s records.

    ``links`` is the partner's own links file from ``linkage match`` (another partner's, or
    one holding several partners' record ids, is refused)."""
    inputs = {"links": links, "input": input}
    if attributes is not None:
        attributes = list(dict.fromkeys(attributes))  # each column once
    with audited_step("release", agreement=agreement, actor=partner, inputs=inputs,
                      outputs={"release": output}, audit_log=audit_log,
                      signing_key=signing_key, today=today) as step:
        chosen_purpose, columns = authorise_release(step.agreement, partner, recipient,
                                                    purpose, attributes)
        id_column = record_id_column(step.agreement, partner)
        check_artefact(step.agreement, links, made_by=step.agreement.agreement.linkage_unit,
                       holder=partner, today=today)
        mine = read_partner_links(links, partner)
        extract = read_table(input, [id_column, *columns])
        repeated = extract[id_column].duplicated().to_numpy(bool)
        if repeated.any():
            row = int(repeated.argmax()) + 2
            raise InputDataError(f"{input}: row {row}: column '{id_column}' repeats an earlier "
                                 f"record id ({int(repeated.sum())} repeated row(s)); each "
                                 f"record may be released once.")
        joined = mine.merge(extract[[id_column, *columns]], left_on="record_id",
                            right_on=id_column, how="inner")
        released = pd.DataFrame({"link_key": joined["link_key"].astype(str)})
        for column in columns:
            released[column] = joined[column].to_numpy()
        step.write("release", output, lambda handle: released.to_csv(
            handle, index=False, lineterminator="\n"))
        step.counts = {"rows": len(released), "recipient": recipient,
                       "purpose": chosen_purpose, "attributes": columns}
    return ReleaseResult(Path(output), len(released), columns, chosen_purpose)
