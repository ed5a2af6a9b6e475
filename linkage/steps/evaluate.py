"""Quality of links against a synthetic truth (no agreement: the truth exists only for
synthetic cohorts, so nothing here is personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linkage.errors import InputDataError
from linkage.linkfiles import candidates_path, read_candidates, read_links
from linkage.matching import QualityReport, pairwise_quality
from linkage.matching.evaluation import blocking_quality
from linkage.steps.layer import PathLike
from linkage.tables import read_table


@dataclass(frozen=True)
class Evaluation:
    quality: QualityReport
    blocking: pd.DataFrame | None  #: per partner pair: candidates, pairs completeness, RR


def evaluate_links(*, links: PathLike, truth: PathLike,
                   candidates: PathLike | None = None) -> Evaluation:
    """Pairwise quality of a links file against ground truth (and blocking, if saved)."""
    link_frame = read_links(links)
    truth_frame = read_table(truth, ["partner", "record_id", "person_id"], what="truth")
    truth_frame = truth_frame.astype(str)
    _check_consistent(links, link_frame, truth, truth_frame)
    quality = pairwise_quality(link_frame, truth_frame)
    path = Path(candidates) if candidates else candidates_path(links)
    blocking = blocking_quality(read_candidates(path), truth_frame) if path.exists() else None
    return Evaluation(quality, blocking)


def _check_consistent(links: PathLike, link_frame: pd.DataFrame, truth: PathLike,
                      truth_frame: pd.DataFrame) -> None:
    """Refuse a truth that repeats a record, or links that name records the truth lacks."""
    keys = ["partner", "record_id"]
    repeated = truth_frame.duplicated(keys).to_numpy(bool)
    if repeated.any():
        raise InputDataError(f"{truth}: row {int(repeated.argmax()) + 2}: a record appears "
                             f"twice ({int(repeated.sum())} repeated row(s)).")
    known = pd.MultiIndex.from_frame(truth_frame[keys])
    absent = ~pd.MultiIndex.from_frame(link_frame[keys]).isin(known)
    if absent.any():
        raise InputDataError(f"{links}: row {int(absent.argmax()) + 2}: {int(absent.sum())} "
                             f"linked record(s) are not in the truth file {truth}; is the "
                             f"truth partial or from another cohort?")
