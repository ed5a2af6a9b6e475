"""Quality of links against a synthetic truth (no agreement: the truth exists only for
synthetic cohorts, so nothing here is personal data)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linkage.errors import InputDataError
from linkage.linkfiles import CANDIDATES_FILE, read_candidates, read_links
from linkage.matching import QualityReport, pairwise_quality
from linkage.matching.evaluation import (
    blocking_quality,
    calibrated_max_gap,
    candidate_calibration,
)
from linkage.steps.layer import PathLike
from linkage.tables import read_table


@dataclass(frozen=True)
class Evaluation:
    quality: QualityReport
    blocking: pd.DataFrame | None  #: per partner pair: candidates, pairs completeness, RR
    #: predicted against observed match rate per decile over the candidate pairs between
    #: sources (:func:`~linkage.matching.evaluation.calibration_table`), when saved
    calibration: pd.DataFrame | None = None
    #: the largest gap of ``calibration`` a perfectly calibrated model would show by chance
    #: (median, 95th percentile; :func:`~linkage.matching.evaluation.calibrated_max_gap`)
    calibration_chance: tuple[float, float] | None = None


def evaluate_links(*, links: PathLike | Sequence[PathLike], truth: PathLike,
                   candidates: PathLike | None = None) -> Evaluation:
    """Pairwise quality of the providers' links files (or a match output folder), read
    together, against ground truth; blocking quality and the calibration of the match
    probabilities too when the candidates were saved (``match --save-candidates``)."""
    paths = [links] if isinstance(links, str | os.PathLike) else list(links)
    link_frame = read_links(paths)
    truth_frame = read_table(truth, ["partner", "record_id", "person_id"], what="truth")
    truth_frame = truth_frame.astype(str)
    _check_consistent(", ".join(map(str, paths)), link_frame, truth, truth_frame)
    quality = pairwise_quality(link_frame, truth_frame)
    path = Path(candidates) if candidates else _saved_candidates(paths)
    if path is None or not path.exists():
        return Evaluation(quality, None)
    saved = read_candidates(path)
    with_probability = any(c.probability is not None and c.left != c.right for c in saved)
    blocking = blocking_quality(saved, truth_frame)
    if not with_probability:
        return Evaluation(quality, blocking)
    calibration = candidate_calibration(saved, truth_frame)
    return Evaluation(quality, blocking, calibration, calibrated_max_gap(calibration))


def _saved_candidates(paths: Sequence[PathLike]) -> Path | None:
    """``candidates.npz`` in the match output folder the links come from, if any."""
    folder = Path(paths[0]) if Path(paths[0]).is_dir() else Path(paths[0]).parent
    found = folder / CANDIDATES_FILE
    return found if found.exists() else None


def _check_consistent(links: object, link_frame: pd.DataFrame, truth: PathLike,
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
