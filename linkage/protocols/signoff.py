"""What the IG leads signed is what runs: the agreement's content digest and its sign-offs.

- :func:`content_digest`: SHA-256 of the canonical JSON of the agreement, every partner
  protocol and every listed public key. Any change to any of them changes it; every
  artefact and audit entry carries it, and steps refuse inputs made under another digest.
- Sign-off: each party's approver (name, role such as DPO, Caldicott Guardian or SIRO,
  date) signs the digest with the Ed25519 key whose public half the agreement lists for
  that party (``parties[].public_key``). Signatures live beside the agreement in
  ``AGREEMENT.signoffs.json`` (signing cannot change the content it signs). With
  ``sign_off.required``, steps refuse an agreement whose sign-offs are missing or invalid.
- Parties bound to keys: a party that lists a public key must sign what it makes with the
  private half (:func:`check_signer`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from linkage.errors import ProtocolError
from linkage.files import atomic_output
from linkage.protocols.loading import LoadedAgreement

SIGNOFF_FORMAT = "linkage-agreement-signoffs"


def _canonical(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def public_key_path(loaded: LoadedAgreement, party: str) -> Path | None:
    """The listed public key file of ``party`` (None when it lists none)."""
    for reference in loaded.agreement.parties:
        if reference.name == party and reference.public_key:
            folder = loaded.path.resolve().parent
            path = (folder / reference.public_key).resolve()
            if folder not in path.parents:
                raise ProtocolError(f"{loaded.path}: parties.{party}.public_key: points "
                                    f"outside the agreement's folder.")
            return path
    return None


def public_key(loaded: LoadedAgreement, party: str) -> Ed25519PublicKey | None:
    """The Ed25519 public key the agreement lists for ``party`` (None when it lists none)."""
    path = public_key_path(loaded, party)
    if path is None:
        return None
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, TypeError):
        raise ProtocolError(f"{loaded.path}: parties.{party}.public_key: {path} is not a "
                            f"readable Ed25519 public key.") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ProtocolError(f"{loaded.path}: parties.{party}.public_key: {path} is not an "
                            f"Ed25519 public key.")
    return key


def content_digest(loaded: LoadedAgreement) -> str:
    """SHA-256 (hex) of the agreement, every partner protocol and every listed public key."""
    keys = {}
    for reference in loaded.agreement.parties:
        path = public_key_path(loaded, reference.name)
        keys[reference.name] = hashlib.sha256(path.read_bytes()).hexdigest() \
            if path is not None and path.is_file() else None
    body = {"agreement": loaded.agreement.model_dump(mode="json"),
            "protocols": {name: p.model_dump(mode="json")
                          for name, p in sorted(loaded.protocols.items())},
            "public_keys": keys}
    return hashlib.sha256(_canonical(body)).hexdigest()


@dataclass(frozen=True)
class Approval:
    """One party's approver signing one content digest."""

    party: str
    name: str
    role: str          #: e.g. DPO, Caldicott Guardian, SIRO
    date: str          #: ISO date of approval
    agreement_id: str
    version: str
    digest: str
    signature: str = ""  #: hex Ed25519 signature over the other fields

    def signed_bytes(self) -> bytes:
        body = asdict(self)
        body.pop("signature")
        return _canonical(body)


def signoffs_path(loaded: LoadedAgreement) -> Path:
    return loaded.path.with_name(loaded.path.name + ".signoffs.json")


def read_approvals(loaded: LoadedAgreement) -> list[Approval]:
    path = signoffs_path(loaded)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != SIGNOFF_FORMAT:
            raise ValueError
        return [Approval(**a) for a in data["approvals"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise ProtocolError(f"{path}: not a readable sign-off file; re-create it with "
                            f"'linkage protocol sign'.") from None


def sign_agreement(loaded: LoadedAgreement, party: str, key: Ed25519PrivateKey, *, name: str,
                   role: str, date: dt.date | None = None) -> Approval:
    """Record ``party``'s approval of the agreement's current content, signed with ``key``
    (which must match the party's listed public key). Replaces the party's earlier one."""
    loaded.protocol(party)
    check_signer(loaded, party, key, required=True)
    if not name.strip() or not role.strip():
        raise ProtocolError("sign-off needs the approver's name and role (e.g. DPO).")
    a = loaded.agreement
    unsigned = Approval(party, name.strip(), role.strip(), (date or dt.date.today()).isoformat(),
                        a.id, a.version, content_digest(loaded))
    approval = Approval(**{**asdict(unsigned),
                           "signature": key.sign(unsigned.signed_bytes()).hex()})
    kept = [x for x in read_approvals(loaded) if x.party != party]
    body: dict[str, Any] = {"format": SIGNOFF_FORMAT,
                            "approvals": [asdict(x) for x in [*kept, approval]]}
    with atomic_output(signoffs_path(loaded), file_mode=0o644) as handle:
        json.dump(body, handle, indent=1)
    return approval


@dataclass(frozen=True)
class SignOffStatus:
    """Which listed parties have validly signed the current content."""

    signed: tuple[str, ...]
    missing: tuple[str, ...]
    invalid: tuple[str, ...]   #: signed another content, or the signature does not verify

    @property
    def complete(self) -> bool:
        return not self.missing and not self.invalid


def sign_off_status(loaded: LoadedAgreement) -> SignOffStatus:
    digest = content_digest(loaded)
    approvals = {a.party: a for a in read_approvals(loaded)}
    signed, missing, invalid = [], [], []
    for reference in loaded.agreement.parties:
        key = public_key(loaded, reference.name)
        if key is None:
            continue
        approval = approvals.get(reference.name)
        if approval is None:
            missing.append(reference.name)
        elif approval.digest != digest or not _verifies(key, approval):
            invalid.append(reference.name)
        else:
            signed.append(reference.name)
    return SignOffStatus(tuple(signed), tuple(missing), tuple(invalid))


def _verifies(key: Ed25519PublicKey, approval: Approval) -> bool:
    try:
        key.verify(bytes.fromhex(approval.signature), approval.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


def require_sign_offs(loaded: LoadedAgreement) -> None:
    """Refuse to run under an agreement whose required sign-offs are missing or invalid."""
    if not loaded.agreement.sign_off.required:
        return
    status = sign_off_status(loaded)
    if status.complete:
        return
    parts = []
    if status.missing:
        parts.append(f"not signed by {', '.join(status.missing)}")
    if status.invalid:
        parts.append(f"the sign-off of {', '.join(status.invalid)} is for other content or "
                     f"does not verify (was the agreement or a protocol changed after it "
                     f"was signed? a changed agreement needs a new version and new sign-offs)")
    raise ProtocolError(f"{loaded.path}: sign_off.required: {'; '.join(parts)}. Sign with "
                        f"'linkage protocol sign'; check with 'linkage protocol verify'.")


def check_signer(loaded: LoadedAgreement, party: str, key: Ed25519PrivateKey | None, *,
                 required: bool = False) -> None:
    """A party that lists a public key must sign with its private half, and only with it."""
    listed = public_key(loaded, party)
    if listed is None:
        if required:
            raise ProtocolError(f"{loaded.path}: parties.{party}.public_key: '{party}' lists no "
                                f"public key, so its signature cannot be checked.")
        return
    if key is None:
        raise ProtocolError(f"{loaded.path}: parties.{party}.public_key: '{party}' lists a "
                            f"public key, so what it makes must be signed; pass "
                            f"--signing-key with its private key.")
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    if key.public_key().public_bytes(*raw) != listed.public_bytes(*raw):
        raise ProtocolError(f"{loaded.path}: parties.{party}.public_key: the signing key given "
                            f"is not '{party}''s listed key.")


def verify_signature(loaded: LoadedAgreement, party: str, message: bytes,
                     signature: str, *, what: os.PathLike[str] | str) -> None:
    """Refuse ``message`` unless ``signature`` (hex) is ``party``'s, by its listed key."""
    key = public_key(loaded, party)
    if key is None:
        return
    try:
        key.verify(bytes.fromhex(signature or ""), message)
    except (InvalidSignature, ValueError):
        raise ProtocolError(f"{what}: its signature is not '{party}''s ({loaded.path}: "
                            f"parties.{party}.public_key); it was altered, relabelled or "
                            f"made by someone else.") from None
