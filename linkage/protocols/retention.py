"""Retention enforced: artefacts past their holder's retention period are refused by the
steps, listed by ``linkage retention check`` and deleted by ``linkage retention purge``,
which records a deletion certificate in the audit log.

The period is the *holder's* (the party running the step or the purge), from its
protocol's ``retention`` clause: ``encodings_days`` for encoding files, ``links_days`` for
everything derived from linking (links files, link quality, match model, candidates,
releases, reports). An artefact's age comes from its provenance (``made_at``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from linkage.errors import ProtocolError
from linkage.protocols.audit import append_entry
from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.provenance import Provenance, provenance_path, read_provenance


def retention_clause(role: str) -> str:
    """Which retention period applies to an artefact of this role."""
    return "encodings_days" if role == "encodings" else "links_days"


def due_date(loaded: LoadedAgreement, holder: str, found: Provenance) -> tuple[dt.date, str]:
    """When ``holder`` must have deleted the artefact, and the clause that says so."""
    clause = retention_clause(found.role)
    days = getattr(loaded.protocol(holder).retention, clause)
    made = dt.datetime.fromisoformat(found.made_at).date()
    return made + dt.timedelta(days=days), f"retention.{clause}"


def check_retention(loaded: LoadedAgreement, path: os.PathLike[str] | str, found: Provenance,
                    holder: str, today: dt.date | None = None) -> None:
    """Refuse an artefact that ``holder`` should already have deleted."""
    due, clause = due_date(loaded, holder, found)
    if (today or dt.date.today()) > due:
        raise ProtocolError(f"{path}: was made on {found.made_at[:10]} and was due for "
                            f"deletion by {holder} on {due.isoformat()} "
                            f"({loaded.protocol_paths[holder]}: {clause}); delete it with "
                            f"'linkage retention purge'.")


@dataclass(frozen=True)
class Overdue:
    path: Path
    provenance: Provenance
    due: dt.date
    clause: str


def overdue_artefacts(loaded: LoadedAgreement, holder: str, folder: os.PathLike[str] | str,
                      today: dt.date | None = None) -> list[Overdue]:
    """Artefacts under ``folder`` (found by their provenance files) past ``holder``'s
    retention period, oldest first."""
    today = today or dt.date.today()
    found = []
    for sidecar in sorted(Path(folder).rglob("*.provenance.json")):
        artefact = sidecar.with_name(sidecar.name[:-len(".provenance.json")])
        made = read_provenance(artefact)
        if made is None:
            continue
        due, clause = due_date(loaded, holder, made)
        if today > due:
            found.append(Overdue(artefact, made, due, clause))
    return sorted(found, key=lambda o: o.due)


def purge(loaded: LoadedAgreement, holder: str, folder: os.PathLike[str] | str, *,
          audit_log: os.PathLike[str] | str, signing_key: Ed25519PrivateKey | None = None,
          today: dt.date | None = None) -> list[Overdue]:
    """Delete ``holder``'s overdue artefacts under ``folder`` (with their provenance) and
    append a deletion certificate to the audit log: what (file, digest, maker, made), when,
    by whom and how (the protocol's ``deletion_method``)."""
    overdue = overdue_artefacts(loaded, holder, folder, today)
    if not overdue:
        return []
    protocol = loaded.protocol(holder)
    certificate = {"deleted": [{"file": o.path.name, "sha256": o.provenance.sha256,
                                "role": o.provenance.role, "made_by": o.provenance.made_by,
                                "made_at": o.provenance.made_at, "due": o.due.isoformat(),
                                "clause": o.clause} for o in overdue],
                   "method": protocol.retention.deletion_method}
    a = loaded.agreement
    # the certificate first: a purge cut short is finished by running it again
    append_entry(audit_log, action="retention-purge", actor=holder,
                 agreement=(a.id, a.version), counts={"deleted": len(overdue)},
                 detail=certificate, signing_key=signing_key)
    for o in overdue:
        for path in (o.path, provenance_path(o.path)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return overdue
