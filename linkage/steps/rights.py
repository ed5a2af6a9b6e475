"""Subject access and erasure by link key, as audited steps.

- A data provider finds the link key of one of its records in its own links file
  (:func:`find_link_key`).
- The linkage unit lists everything it holds under a link key in a match output folder
  (:func:`list_link_key`) and, for an erasure or an objection, removes it
  (:func:`erase_link_key`): the rows of every provider's links file and of
  ``link-quality.csv``, rewritten with fresh provenance.
Audit entries record counts and the SHA-256 of the link key, never the key or a record id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import pandas as pd

from linkage.errors import InputDataError
from linkage.linkfiles import QUALITY_FILE, links_files_in, read_partner_links
from linkage.protocols.provenance import check_artefact
from linkage.steps.layer import PathLike, audited_step
from linkage.tables import read_table


def _key_digest(link_key: str) -> str:
    return hashlib.sha256(link_key.encode("utf-8")).hexdigest()


def find_link_key(*, agreement: PathLike, partner: str, links: PathLike, record_id: str,
                  audit_log: PathLike | None = None, signing_key: PathLike | None = None,
                  today: dt.date | None = None) -> str:
    """The link key of ``partner``'s record ``record_id`` in its own links file."""
    with audited_step("subject-access-find", agreement=agreement, actor=partner,
                      inputs={"links": links}, outputs={},
                      audit_log=audit_log or Path(links).parent / "audit.jsonl",
                      signing_key=signing_key, today=today) as step:
        check_artefact(step.agreement, links, made_by=step.agreement.agreement.linkage_unit,
                       holder=partner, today=today)
        frame = read_partner_links(links, partner)
        found = frame.loc[frame["record_id"] == record_id, "link_key"]
        if found.empty:
            raise InputDataError(f"{links}: the record id given is not in {partner}'s links "
                                 f"file.")
        key = str(found.iloc[0])
        step.counts = {"found": 1, "link_key_sha256": _key_digest(key)}
    return key


@dataclass(frozen=True)
class Holdings:
    """What the linkage unit holds under one link key in a match output folder."""

    records: dict[str, list[str]]   #: partner -> its record ids under the key
    files: list[Path]               #: the files holding them

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.records.values())


def _holdings(out: Path, link_key: str) -> tuple[Holdings, dict[Path, pd.DataFrame]]:
    frames = {path: read_partner_links(path) for path in links_files_in(out)}
    records: dict[str, list[str]] = {}
    for frame in frames.values():
        mine = frame[frame["link_key"] == link_key]
        if len(mine):
            records[str(mine["partner"].iloc[0])] = mine["record_id"].tolist()
    files = [p for p, f in frames.items() if (f["link_key"] == link_key).any()]
    quality = out / QUALITY_FILE
    if quality.exists() and (read_table(quality, ("link_key",), what="link quality")
                             ["link_key"] == link_key).any():
        files.append(quality)
    return Holdings(records, files), frames


def list_link_key(*, agreement: PathLike, links: PathLike, link_key: str,
                  audit_log: PathLike | None = None, signing_key: PathLike | None = None,
                  today: dt.date | None = None) -> Holdings:
    """Everything the linkage unit holds under ``link_key`` in the folder ``links``."""
    out = Path(links)
    with audited_step("subject-access-list", agreement=agreement, actor=None,
                      inputs={p.name: p for p in out.glob("*.csv")}, outputs={},
                      audit_log=audit_log or out / "audit.jsonl", signing_key=signing_key,
                      today=today) as step:
        holdings, _ = _holdings(out, link_key)
        step.counts = {"link_key_sha256": _key_digest(link_key),
                       "records": {p: len(r) for p, r in holdings.records.items()}}
    return holdings


def erase_link_key(*, agreement: PathLike, links: PathLike, link_key: str,
                   audit_log: PathLike | None = None, signing_key: PathLike | None = None,
                   today: dt.date | None = None) -> Holdings:
    """Remove every row held under ``link_key`` from the match output folder ``links``:
    each provider's links file and ``link-quality.csv`` are rewritten without it."""
    out = Path(links)
    holdings, frames = _holdings(out, link_key)
    if not holdings.files:
        raise InputDataError(f"{out}: no file here holds that link key; nothing to erase.")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in holdings.files}
    with audited_step("erasure", agreement=agreement, actor=None, inputs={},
                      outputs={f"rewritten[{p.name}]": p for p in holdings.files},
                      audit_log=audit_log or out / "audit.jsonl", signing_key=signing_key,
                      today=today) as step:
        for path in holdings.files:
            if path.name == QUALITY_FILE:
                kept = read_table(path, ("link_key", "probability"), what="link quality")
            else:
                kept = frames[path]
            kept = kept[kept["link_key"] != link_key]
            step.write(f"rewritten[{path.name}]", path, partial(_write_frame, kept))
        step.counts = {"link_key_sha256": _key_digest(link_key), "replaced": before,
                       "records_removed": {p: len(r) for p, r in holdings.records.items()}}
    return holdings


def _write_frame(frame: pd.DataFrame, handle: IO[Any]) -> None:
    frame.to_csv(handle, index=False, lineterminator="\n")


def erase_from_store(*, agreement: PathLike, store: str, link_key: str,
                     audit_log: PathLike, signing_key: PathLike | None = None,
                     today: dt.date | None = None) -> dict[str, int]:
    """Remove everything the linkage unit's store holds under ``link_key`` (records, links,
    cluster rows; the key ends as ``erased``). The store commits only after the audit
    entry is written; returns the count of records erased per partner."""
    from linkage.store.db import open_store
    from linkage.store.erasure import erase_link_key as erase_in_store

    with audited_step("erasure", agreement=agreement, actor=None, inputs={}, outputs={},
                      audit_log=audit_log, signing_key=signing_key, today=today) as step:

        def audit(counts: dict[str, int]) -> None:
            step.counts = {"link_key_sha256": _key_digest(link_key), "store": True,
                           "records_removed": counts}
            step.audit()

        with open_store(store) as opened:
            counts = erase_in_store(opened, step.agreement.agreement.id, link_key,
                                    before_commit=audit)
    return counts
