"""A cohort seen month by month: the extracts each service would send over a year.

Each record of the final cohort gets the month it first reaches its service (most are
there from the start; births, new nursery places and referrals arrive later). Before it is
corrected, a small share of records carries a mistake (a date of birth with day and month
swapped, or a mistyped family name), and a share of children appears at their previous
address until they move. Month ``m``'s extract of a service holds every record that has
arrived by then, as that service knows it then: a full re-extract, as partners send.
The truth (``truth.csv``) is the final cohort's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.errors import InputDataError
from linkage.files import atomic_output
from linkage.synth.extracts import Cohort

#: Share of records present from the first month; the others arrive in a later month.
PRESENT_FROM_START = 0.75
#: Share of records that carry a mistake until a later month corrects it.
CORRECTED_LATER = 0.03
#: Share of records shown at their previous address until the child moves.
MOVED_LATER = 0.03


@dataclass(frozen=True)
class MonthlyCohort:
    """``months[m][partner]``: the extract sent in month ``m + 1``; the final truth."""

    months: tuple[Mapping[str, pd.DataFrame], ...]
    truth: pd.DataFrame


def _swap_day_month(dates: pd.Series) -> pd.Series:
    parts = dates.str.split("-", expand=True)
    swapped = parts[0] + "-" + parts[2] + "-" + parts[1]
    valid = parts[2].astype(int) <= 12
    return dates.where(~valid | (parts[1] == parts[2]), swapped)


def _mistype(names: pd.Series, rng: np.random.Generator) -> pd.Series:
    def one(name: str) -> str:
        if len(name) < 3:
            return name + "e"
        i = int(rng.integers(1, len(name) - 1))
        return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    return names.map(one)


def monthly_cohort(cohort: Cohort, months: int, *, seed: int = 0) -> MonthlyCohort:
    """The extracts of ``months`` consecutive months (full re-extracts) of ``cohort``."""
    if months < 1:
        raise InputDataError(f"months must be a positive whole number, got {months}.")
    rng = np.random.default_rng(seed)
    plan = {}
    for partner, frame in cohort.extracts.items():
        n = len(frame)
        arrives = np.where(rng.random(n) < PRESENT_FROM_START, 1,
                           rng.integers(1, months + 1, n))
        corrected = np.where(rng.random(n) < CORRECTED_LATER,
                             rng.integers(arrives, months + 1), 0)  # 0: never wrong
        moved = np.where(rng.random(n) < MOVED_LATER, rng.integers(arrives, months + 1), 0)
        wrong = frame.copy()
        fix_dob = rng.random(n) < 0.5
        wrong.loc[fix_dob, "date_of_birth"] = _swap_day_month(
            frame.loc[fix_dob, "date_of_birth"].astype(str))
        wrong.loc[~fix_dob, "family_name"] = _mistype(
            frame.loc[~fix_dob, "family_name"].astype(str), rng)
        previous = frame["postcode"].to_numpy()[rng.permutation(n)]
        plan[partner] = (arrives, corrected, moved, wrong, previous)
    sequence = []
    for month in range(1, months + 1):
        extracts = {}
        for partner, frame in cohort.extracts.items():
            arrives, corrected, moved, wrong, previous = plan[partner]
            now = frame.copy()
            mistaken = month < corrected
            now.loc[mistaken, ["date_of_birth", "family_name"]] = \
                wrong.loc[mistaken, ["date_of_birth", "family_name"]]
            not_yet_moved = month < moved
            now.loc[not_yet_moved, "postcode"] = previous[not_yet_moved]
            extracts[partner] = now.loc[arrives <= month].reset_index(drop=True)
        sequence.append(extracts)
    return MonthlyCohort(tuple(sequence), cohort.truth)


def write_monthly_cohort(cohort: MonthlyCohort, out_dir: str | os.PathLike[str], *,
                         force: bool = False) -> list[tuple[Path, int]]:
    """``out_dir/month-01/PARTNER.csv`` ... and ``out_dir/truth.csv``; (path, rows) each."""
    from linkage.synth import write_cohort

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise InputDataError(f"{out}: folder is not empty; pass --force to write into it.")
    written = []
    for month, extracts in enumerate(cohort.months, start=1):
        folder = out / f"month-{month:02d}"
        paths = write_cohort(Cohort(dict(extracts), cohort.truth), folder, force=True,
                             truth=False)
        written += [(path, len(extracts[path.stem])) for path in paths]
    truth = out / "truth.csv"
    with atomic_output(truth) as handle:
        cohort.truth.to_csv(handle, index=False, lineterminator="\n")
    written.append((truth, len(cohort.truth)))
    return written
