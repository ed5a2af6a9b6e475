"""The files the linkage unit writes: links, the match model, and candidate pairs.

- links CSV: ``cluster_id,partner,record_id,probability``, one row per linked record;
- ``LINKS.model.json``: the :class:`~linkage.matching.MatchModel` (no record ids);
- ``LINKS.candidates.npz`` (optional): each pair of sources' candidate pairs as record ids,
  for pairs completeness against a synthetic truth.

Readers validate what they read and raise one :class:`~linkage.errors.InputDataError`
naming the file and the problem, never a value from it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from linkage.contracts import EncodedSource
from linkage.errors import InputDataError
from linkage.matching import LinkageResult, MatchModel
from linkage.tables import read_table

LINK_COLUMNS = ("cluster_id", "partner", "record_id", "probability")

PathLike = str | os.PathLike[str]


def model_path(links: PathLike) -> Path:
    """Where the match model of a links file lives."""
    path = Path(links)
    return path.with_name(path.name + ".model.json")


def candidates_path(links: PathLike) -> Path:
    """Where the candidate pairs of a links file live (when saved)."""
    path = Path(links)
    return path.with_name(path.name + ".candidates.npz")


def write_links(links: pd.DataFrame, handle: IO[str]) -> None:
    links.to_csv(handle, index=False, lineterminator="\n", columns=list(LINK_COLUMNS))


def read_links(path: PathLike) -> pd.DataFrame:
    """A links file, with every record in at most one cluster."""
    frame = read_table(path, LINK_COLUMNS[:3], what="links")
    frame = frame.astype({"cluster_id": str, "partner": str, "record_id": str})
    repeated = frame.duplicated(["partner", "record_id"]).to_numpy(bool)
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0]) + 2
        raise InputDataError(f"{path}: row {row}: a record appears twice ({int(repeated.sum())} "
                             f"repeated row(s)); a links file holds each record once.")
    return frame


def write_model(model: MatchModel, handle: IO[str]) -> None:
    handle.write(model.to_json())


def read_model(links: PathLike) -> MatchModel:
    """The match model written beside ``links``."""
    path = model_path(links)
    if not path.is_file():
        raise InputDataError(f"{path}: match model not found; 'linkage match' writes it "
                             f"beside the links file.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputDataError(f"{path}: unreadable match model ({type(error).__name__}).") \
            from None
    return MatchModel.from_json(text, source=str(path))


def write_candidates(result: LinkageResult, sources: Sequence[EncodedSource],
                     handle: IO[bytes]) -> None:
    """Each pair of sources' candidate pairs as record ids (``keep_candidates`` runs)."""
    ids = {s.partner: s.record_ids for s in sources}
    arrays: dict[str, Any] = {}
    for k, pm in enumerate(result.pair_models):
        arrays[f"pair{k}_names"] = np.asarray([pm.left, pm.right])
        arrays[f"pair{k}_left"] = ids[pm.left][pm.candidates.left].astype(str)
        arrays[f"pair{k}_right"] = ids[pm.right][pm.candidates.right].astype(str)
    np.savez(handle, **arrays)


def read_candidates(path: PathLike) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """Saved candidate pairs: per pair of sources, (left partner, right partner, left
    record ids, right record ids)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            out = []
            k = 0
            while f"pair{k}_names" in archive.files:
                left, right = (str(x) for x in archive[f"pair{k}_names"].tolist())
                out.append((left, right, archive[f"pair{k}_left"], archive[f"pair{k}_right"]))
                k += 1
    except (OSError, ValueError, KeyError, EOFError):
        raise InputDataError(f"{path}: not a candidates file.") from None
    return out
