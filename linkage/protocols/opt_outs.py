"""Opt-outs and objections, applied by a data provider before anything is hashed.

A provider passes its current list (``linkage encode ... --opt-outs FILE``): a CSV with a
``record_id`` column (its own record ids) and/or an ``nhs_number`` column, and optionally
``as_of`` (the date the list was drawn, ISO ``YYYY-MM-DD``). Matching records are dropped
from the extract before encoding; only their count is audited. The agreement's
``opt_outs`` clause says whether a list is required and how old it may be.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.errors import InputDataError, ProtocolError
from linkage.protocols.loading import LoadedAgreement
from linkage.tables import read_table


@dataclass(frozen=True)
class OptOutList:
    """A provider's opt-out list: record ids and NHS numbers (digits only) to drop."""

    record_ids: frozenset[str]
    nhs_numbers: frozenset[str]
    as_of: dt.date

    def __len__(self) -> int:
        return len(self.record_ids) + len(self.nhs_numbers)


def _digits(values: pd.Series) -> pd.Series:
    return values.astype(str).str.replace(r"[\s-]", "", regex=True)


def read_opt_outs(path: str | os.PathLike[str]) -> OptOutList:
    """Read an opt-out list; refuse one with neither a record_id nor an nhs_number column."""
    source = Path(path)
    frame = read_table(source, (), what="opt-out list")
    if not {"record_id", "nhs_number"} & set(frame.columns):
        raise InputDataError(f"{source}: an opt-out list needs a record_id or an nhs_number "
                             f"column.")
    ids = frame["record_id"] if "record_id" in frame else pd.Series([], dtype=str)
    nhs = _digits(frame["nhs_number"]) if "nhs_number" in frame else pd.Series([], dtype=str)
    if "as_of" in frame:
        dates = pd.to_datetime(frame["as_of"], format="%Y-%m-%d", errors="coerce")
        if dates.isna().any():
            row = int(np.flatnonzero(dates.isna().to_numpy())[0]) + 2
            raise InputDataError(f"{source}: row {row}: column 'as_of' is not a YYYY-MM-DD "
                                 f"date.")
        as_of = dates.min().date()
    else:
        as_of = dt.datetime.fromtimestamp(source.stat().st_mtime, dt.UTC).date()
    return OptOutList(frozenset(ids[ids != ""]), frozenset(nhs[nhs != ""]), as_of)


def check_opt_out_list(loaded: LoadedAgreement, listed: OptOutList | None, *,
                       source: object, today: dt.date | None = None) -> None:
    """Refuse a missing list the agreement requires, or one older than it allows."""
    clause = loaded.agreement.opt_outs
    if listed is None:
        if clause.required:
            raise ProtocolError(f"{loaded.path}: opt_outs.required: the agreement requires "
                                f"the provider's current opt-out list; pass --opt-outs FILE.")
        return
    age = ((today or dt.date.today()) - listed.as_of).days
    if age > clause.maximum_age_days:
        raise ProtocolError(f"{loaded.path}: opt_outs.maximum_age_days: the opt-out list "
                            f"{source} is {age} days old, more than the "
                            f"{clause.maximum_age_days} allowed; draw a current one.")


def drop_opted_out(frame: pd.DataFrame, listed: OptOutList, *, id_column: str,
                   nhs_column: str | None) -> tuple[pd.DataFrame, int]:
    """``frame`` without the listed records, and how many were dropped."""
    drop = frame[id_column].astype(str).isin(listed.record_ids).to_numpy()
    if nhs_column is not None and listed.nhs_numbers:
        drop = drop | _digits(frame[nhs_column]).isin(listed.nhs_numbers).to_numpy()
    return frame.loc[~drop].reset_index(drop=True), int(drop.sum())
