"""The files the linkage unit writes into a match output folder.

``linkage match --output OUT`` writes:

- ``OUT/PARTNER.csv`` for each data provider: ``link_key,partner,record_id`` for *every*
  record that provider sent, and nothing of any other provider. A record that linked to
  nothing has a link key of its own, so the file does not tell the provider which of its
  children another service knows.
- ``OUT/link-quality.csv``: ``link_key,probability`` for each key shared by two or more
  records (the weakest link that joined them), for analysts; no record ids.
- ``OUT/match-model.json``: the :class:`~linkage.matching.MatchModel` (no record ids).
- ``OUT/candidates.npz`` (optional, the linkage unit's own): each pair of sources'
  candidate pairs as record ids with their match probabilities, for pairs completeness
  and calibration against a synthetic truth (``linkage evaluate``).

Link keys are random 96-bit pseudonyms drawn afresh for every run: they reveal neither the
order nor the size of a cluster. Readers validate what they read and raise one
:class:`~linkage.errors.InputDataError` naming the file and the problem, never a value.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from linkage.contracts import EncodedSource
from linkage.errors import InputDataError
from linkage.matching import LinkageResult, MatchModel
from linkage.matching.evaluation import SavedCandidates
from linkage.tables import read_table

PathLike = str | os.PathLike[str]

PARTNER_COLUMNS = ("link_key", "partner", "record_id")
QUALITY_FILE = "link-quality.csv"
MODEL_FILE = "match-model.json"
CANDIDATES_FILE = "candidates.npz"
CHANGES_FILE = "changes.csv"  #: with a store: keys created, joined, merged, split, retired
KEY_BYTES = 12


def partner_links_path(out: PathLike, partner: str) -> Path:
    """The file of ``partner``'s own link keys in a match output folder."""
    return Path(out) / f"{partner}.csv"


def random_link_keys(count: int) -> np.ndarray:
    """``count`` distinct random link keys from the operating system's CSPRNG:
    (count,) object, 24 hex characters each."""
    while True:
        text = secrets.token_bytes(KEY_BYTES * count).hex().encode("ascii")
        keys = np.frombuffer(text, dtype=f"S{2 * KEY_BYTES}").astype(str).astype(object)
        if len(np.unique(keys)) == count:  # a repeat is astronomically unlikely; redraw
            return keys


def keyed_records(sources: Sequence[EncodedSource], result: LinkageResult) -> pd.DataFrame:
    """Every record of every source with its link key: ``link_key, partner, record_id,
    probability`` (probability of the link that placed it; 0 for a record alone)."""
    frames = [pd.DataFrame({"partner": s.partner, "record_id": np.asarray(s.record_ids,
                                                                           dtype=object)})
              for s in sources]
    every = pd.concat(frames, ignore_index=True)
    linked = result.links[["partner", "record_id", "cluster_id", "probability"]]
    every = every.merge(linked, on=["partner", "record_id"], how="left")
    alone = every["cluster_id"].isna().to_numpy()
    cluster = every["cluster_id"].to_numpy(dtype=np.float64, copy=True)
    top = int(np.nanmax(cluster)) + 1 if (~alone).any() else 0
    cluster[alone] = top + np.arange(int(alone.sum()))
    codes = cluster.astype(np.int64)
    keys = random_link_keys(int(codes.max()) + 1 if len(codes) else 0)
    return pd.DataFrame({"link_key": keys[codes], "partner": every["partner"].to_numpy(),
                         "record_id": every["record_id"].to_numpy(),
                         "probability": every["probability"].fillna(0.0).to_numpy()})


def write_partner_links(keyed: pd.DataFrame, partner: str, handle: IO[Any]) -> None:
    """``partner``'s own rows only, in record-id order (not cluster order)."""
    mine = keyed.loc[keyed["partner"] == partner, list(PARTNER_COLUMNS)]
    mine.sort_values("record_id").to_csv(handle, index=False, lineterminator="\n")


def write_link_quality(keyed: pd.DataFrame, handle: IO[str]) -> None:
    """Per link key shared by two or more records, the weakest link's probability."""
    sizes = keyed.groupby("link_key")["record_id"].transform("size")
    shared = keyed[sizes.to_numpy() > 1]
    quality = shared.groupby("link_key")["probability"].min().round(6).reset_index()
    quality.sort_values("link_key").to_csv(handle, index=False, lineterminator="\n")


def read_partner_links(path: PathLike, partner: str | None = None) -> pd.DataFrame:
    """A provider's links file (``link_key, partner, record_id``): each record once, and,
    given ``partner``, that partner's records only."""
    frame = read_table(path, PARTNER_COLUMNS, what="links")
    frame = frame.astype({c: str for c in PARTNER_COLUMNS})[list(PARTNER_COLUMNS)]
    partners = frame["partner"].unique()
    if len(partners) != 1 or (partner is not None and partners[0] != partner):
        who = f"'{partner}'" if partner else "one partner"
        raise InputDataError(f"{path}: holds record ids of {len(partners)} partner(s), not of "
                             f"{who} alone; use the partner's own file from 'linkage match'.")
    repeated = frame.duplicated("record_id").to_numpy(bool)
    if repeated.any():
        raise InputDataError(f"{path}: row {int(repeated.argmax()) + 2}: a record appears "
                             f"twice ({int(repeated.sum())} repeated row(s)); a links file "
                             f"holds each record once.")
    return frame


def read_links(paths: Sequence[PathLike]) -> pd.DataFrame:
    """Provider links files (or match output folders) read together: ``cluster_id, partner,
    record_id`` with one cluster per link key, for evaluation and the report."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += links_files_in(path)
        elif path.name not in (QUALITY_FILE, CHANGES_FILE):  # e.g. from a shell glob
            files.append(path)
    if not files:
        raise InputDataError(f"{', '.join(map(str, paths))}: no providers' links files "
                             f"given ({QUALITY_FILE} holds no record ids).")
    frames = [read_partner_links(p) for p in files]
    partners = [f["partner"].iloc[0] for f in frames]
    if len(set(partners)) != len(partners):
        raise InputDataError(f"{', '.join(map(str, files))}: two links files of the same "
                             f"partner; give each provider's file once.")
    every = pd.concat(frames, ignore_index=True)
    return every.rename(columns={"link_key": "cluster_id"})


def links_files_in(folder: Path) -> list[Path]:
    """The provider links files in a match output folder."""
    found = sorted(p for p in folder.glob("*.csv") if p.name not in (QUALITY_FILE,
                                                                      CHANGES_FILE))
    if not found:
        raise InputDataError(f"{folder}: holds no links files; is it a 'linkage match' "
                             f"output folder?")
    return found


def write_model(model: MatchModel, handle: IO[str]) -> None:
    handle.write(model.to_json())


def read_model(out: PathLike) -> MatchModel:
    """The match model in a match output folder."""
    path = Path(out) / MODEL_FILE
    if not path.is_file():
        raise InputDataError(f"{path}: match model not found; 'linkage match' writes it in "
                             f"its output folder.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputDataError(f"{path}: unreadable match model ({type(error).__name__}).") \
            from None
    return MatchModel.from_json(text, source=str(path))


def write_candidates(result: LinkageResult, sources: Sequence[EncodedSource],
                     probabilities: Sequence[np.ndarray], handle: IO[bytes]) -> None:
    """Each pair of sources' candidate pairs as record ids (``keep_candidates`` runs),
    with each pair's match probability (``probabilities``, one array per pair model, from
    :meth:`~linkage.matching.Linker.candidate_probabilities`)."""
    ids = {s.partner: s.record_ids for s in sources}
    arrays: dict[str, Any] = {}
    for k, (pm, probability) in enumerate(zip(result.pair_models, probabilities,
                                              strict=True)):
        arrays[f"pair{k}_names"] = np.asarray([pm.left, pm.right])
        arrays[f"pair{k}_left"] = ids[pm.left][pm.candidates.left].astype(str)
        arrays[f"pair{k}_right"] = ids[pm.right][pm.candidates.right].astype(str)
        arrays[f"pair{k}_probability"] = np.asarray(probability, dtype=np.float64)
    np.savez(handle, **arrays)


def read_candidates(path: PathLike) -> list[SavedCandidates]:
    """Saved candidate pairs, per pair of sources (a file from before probabilities were
    saved reads with ``probability`` None)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            out = []
            k = 0
            while f"pair{k}_names" in archive.files:
                left, right = (str(x) for x in archive[f"pair{k}_names"].tolist())
                left_ids, right_ids = archive[f"pair{k}_left"], archive[f"pair{k}_right"]
                probability = (archive[f"pair{k}_probability"].astype(np.float64)
                               if f"pair{k}_probability" in archive.files else None)
                if len(left_ids) != len(right_ids) or (
                        probability is not None and (len(probability) != len(left_ids)
                                                     or not np.all((probability >= 0)
                                                                   & (probability <= 1)))):
                    raise ValueError
                out.append(SavedCandidates(left, right, left_ids, right_ids, probability))
                k += 1
    except (OSError, ValueError, KeyError, EOFError, TypeError):
        raise InputDataError(f"{path}: not a candidates file.") from None
    return out


def read_changes(path: PathLike) -> pd.DataFrame:
    """A store run's ``changes.csv`` (``link_key, event, other_key, records``; may be
    empty when nothing changed)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError):
        raise InputDataError(f"{path}: not a readable changes file.") from None
    if not {"link_key", "event"} <= set(frame.columns):
        raise InputDataError(f"{path}: a changes file needs link_key and event columns.")
    return frame
