"""Check artefacts against the audit log that recorded them.

Every output of an audited step carries a provenance sidecar whose ``audit_chain_head`` is
the hash of the step's own audit entry (:mod:`linkage.protocols.provenance`).
:func:`verify_artefacts` checks, for each artefact, that it has provenance, that its bytes
are still those its provenance records, that the log still holds an intact entry with that
hash, and that this entry lists the artefact's digest among its outputs. An artefact made
after the point where a log was cut therefore shows the cut, even when the log's
checkpoint was deleted with its tail (``linkage audit verify LOG ARTEFACT...``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from linkage.errors import AuditLogError, InputDataError
from linkage.files import sha256_file
from linkage.protocols.audit import entry_hash
from linkage.protocols.provenance import Provenance, provenance_path, read_provenance

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ArtefactReport:
    """The result of :func:`verify_artefacts`: how many artefacts were checked, how many
    matched the log, and one line per problem (each naming its artefact)."""

    checked: int
    matched: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def intact_entries(log: PathLike) -> dict[str, tuple[int, dict[str, Any]]]:
    """The log's intact entries (their hash matches their content) by hash, with their
    line numbers; an unreadable or missing log holds none."""
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    try:
        with open(log, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    entry = json.loads(raw.decode("utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                recorded = entry.get("hash") if isinstance(entry, dict) else None
                if isinstance(recorded, str) and entry_hash(entry) == recorded:
                    found[recorded] = (number, entry)
    except OSError:
        return {}
    return found


def _signature_ok(found: Provenance, public_key: Ed25519PublicKey) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(bytes.fromhex(found.signature), found.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


def _artefact_problems(path: Path, entries: dict[str, tuple[int, dict[str, Any]]],
                       public_key: Ed25519PublicKey | None) -> list[str]:
    if not path.is_file():
        return [f"{path}: not found, or not a file"]
    try:
        found = read_provenance(path)
    except InputDataError as error:
        return [str(error)]
    if found is None:
        return [f"{path}: has no provenance ({provenance_path(path).name} is missing), so "
                f"it cannot be traced to an audit entry"]
    problems = []
    try:
        if sha256_file(path) != found.sha256:
            problems.append(f"{path}: its bytes differ from those its provenance records "
                            f"(it was altered after it was made)")
    except OSError as error:
        problems.append(f"{path}: unreadable ({error.strerror or type(error).__name__})")
    head = found.audit_chain_head
    if head not in entries:
        problems.append(f"{path}: the log holds no intact entry with hash {head[:16]}... "
                        f"(its provenance's audit_chain_head): the log was shortened, "
                        f"replaced or edited after it was made, or it was recorded in "
                        f"another log")
    else:
        number, entry = entries[head]
        outputs = entry.get("outputs")
        if not isinstance(outputs, dict) or found.sha256 not in outputs.values():
            problems.append(f"{path}: the log's entry at line {number} ({head[:16]}...) "
                            f"does not list this artefact's digest among its outputs")
    if public_key is not None and not _signature_ok(found, public_key):
        problems.append(f"{path}: its provenance's signature is missing or is not by that "
                        f"key")
    return problems


def verify_artefacts(log: PathLike, artefacts: Iterable[PathLike],
                     public_key: Ed25519PublicKey | None = None) -> ArtefactReport:
    """Check each artefact against ``log`` (see the module docstring); with
    ``public_key``, also that its provenance is signed by that key."""
    source = Path(log)
    if source.is_dir():
        raise AuditLogError(f"{source}: is a folder, not an audit log.")
    entries = intact_entries(source)
    checked = matched = 0
    problems: list[str] = []
    for artefact in artefacts:
        checked += 1
        found = _artefact_problems(Path(artefact), entries, public_key)
        matched += not found
        problems += found
    return ArtefactReport(checked, matched, tuple(problems))
