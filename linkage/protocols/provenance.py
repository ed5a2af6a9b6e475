"""Provenance of every artefact: who made it, under which agreement content, when, at which
audit chain head, signed by its maker.

Each output of an audited step gets a sidecar ``FILE.provenance.json``::

    {"format": "linkage-provenance", "format_version": 1, "role": "links[health]",
     "file": "health.csv", "sha256": "...", "agreement": {"id", "version", "digest"},
     "made_by": "linkage_unit", "made_at": "2026-12-01T18:00:00+00:00",
     "audit_chain_head": "<hash of the step's audit entry>", "signature": "<hex or empty>"}

A consumer (:func:`check_artefact`) refuses an artefact whose bytes do not match, that was
made under other agreement content, by another party than expected, or whose signature is
not its maker's listed key. ``linkage audit verify LOG ARTEFACT...`` checks that the log
still holds each artefact's chain head, so a shortened log fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from linkage.errors import InputDataError, ProtocolError
from linkage.files import atomic_output, parse_format_json, sha256_file
from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.signoff import content_digest, public_key, verify_signature

FORMAT_NAME = "linkage-provenance"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Provenance:
    role: str
    file: str
    sha256: str
    agreement_id: str
    version: str
    digest: str
    made_by: str
    made_at: str
    audit_chain_head: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        body = asdict(self)
        body.pop("signature")
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def provenance_path(artefact: os.PathLike[str] | str) -> Path:
    path = Path(artefact)
    return path.with_name(path.name + ".provenance.json")


def write_provenance(artefact: Path, temporary: Path, *, role: str, loaded: LoadedAgreement,
                     made_by: str, chain_head: str, signer: Ed25519PrivateKey | None) -> Path:
    """Write the sidecar of ``artefact`` (whose bytes are in ``temporary`` until it is
    renamed into place)."""
    a = loaded.agreement
    unsigned = Provenance(role, artefact.name, sha256_file(temporary), a.id, a.version,
                          content_digest(loaded), made_by,
                          dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), chain_head)
    signature = signer.sign(unsigned.signed_bytes()).hex() if signer else ""
    body = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            **asdict(unsigned), "signature": signature}
    target = provenance_path(artefact)
    with atomic_output(target) as handle:
        json.dump(body, handle, indent=1)
    return target


def read_provenance(artefact: os.PathLike[str] | str) -> Provenance | None:
    """The sidecar of ``artefact``, or None when it has none."""
    path = provenance_path(artefact)
    if not path.is_file():
        return None
    try:
        text = path.read_bytes()
    except OSError as error:
        raise InputDataError(f"{path}: unreadable ({error.strerror}).") from None
    data = parse_format_json(text, format_name=FORMAT_NAME, version=FORMAT_VERSION,
                             source=path, kind="provenance file",
                             remedy="it is written by linkage beside each artefact",
                             error=InputDataError)
    data.pop("format"), data.pop("format_version")
    try:
        return Provenance(**{k: str(v) for k, v in data.items()})
    except TypeError:
        raise InputDataError(f"{path}: provenance file is incomplete or malformed.") from None


def check_artefact(loaded: LoadedAgreement, artefact: os.PathLike[str] | str, *,
                   made_by: str, holder: str | None = None,
                   today: dt.date | None = None) -> Provenance | None:
    """Refuse ``artefact`` unless it was made by ``made_by`` under this agreement's exact
    content and, when ``made_by`` lists a public key, signed by it; and, given the
    ``holder`` using it, unless it is within the holder's retention period. An artefact
    without a sidecar is accepted only when its maker lists no key."""
    path = Path(artefact)
    found = read_provenance(path)
    if found is None:
        if public_key(loaded, made_by) is not None:
            raise ProtocolError(f"{path}: has no provenance file, but '{made_by}' lists a "
                                f"public key ({loaded.path}: parties.{made_by}.public_key), "
                                f"so what it makes must be signed.")
        return None
    if found.made_by != made_by:
        raise ProtocolError(f"{path}: was made by '{found.made_by}', not '{made_by}'.")
    if sha256_file(path) != found.sha256:
        raise ProtocolError(f"{path}: its bytes differ from those its provenance records "
                            f"(it was altered after it was made).")
    check_made_under(loaded, path, found.agreement_id, found.version, found.digest)
    verify_signature(loaded, made_by, found.signed_bytes(), found.signature, what=path)
    if holder is not None:
        from linkage.protocols.retention import check_retention  # it imports this module

        check_retention(loaded, path, found, holder, today)
    return found


def check_made_under(loaded: LoadedAgreement, what: os.PathLike[str] | str, agreement_id: str,
                     version: str, digest: str | None) -> None:
    """Refuse an input made under another agreement, version or content."""
    a = loaded.agreement
    if agreement_id != a.id:
        raise ProtocolError(f"{what}: was made under agreement '{agreement_id}', not "
                            f"'{a.id}' ({loaded.path}: id).")
    if version != a.version:
        raise ProtocolError(f"{what}: was made under version {version} of agreement "
                            f"'{a.id}', not version {a.version} ({loaded.path}: version).")
    if digest is not None and digest != content_digest(loaded):
        raise ProtocolError(f"{what}: was made under other content of agreement '{a.id}' "
                            f"version {a.version} ({loaded.path}: version): the agreement or a "
                            f"partner protocol changed without a new version. A changed "
                            f"agreement must carry a new version and be re-approved.")
