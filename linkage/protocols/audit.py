"""A tamper-evident, append-only audit log (JSON Lines).

Each entry holds the time, action, actor (partner), agreement id and version, SHA-256
digests of input and output files, counts and the outcome; never identifiers or keys.
Each entry carries ``prev``, the hash of the entry before it, and ``hash``, the SHA-256 of
its own canonical JSON without ``hash`` and ``signature``. Entries may be signed with an
Ed25519 key (``cryptography``). :func:`verify_log` detects any edit, deletion, insertion
or reordering and says at which line.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from linkage.errors import AuditLogError

GENESIS = "0" * 64


def _canonical(entry: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in entry.items() if k not in ("hash", "signature")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _last_hash(path: Path) -> str:
    if not path.exists() or path.stat().st_size == 0:
        return GENESIS
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        step = min(size, 1 << 16)
        handle.seek(size - step)
        tail = handle.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        return str(json.loads(tail)["hash"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise AuditLogError(f"{path}: last entry is not a valid audit entry; run "
                            f"'linkage audit verify {path}'.") from None


def append_entry(path: str | os.PathLike[str], *, action: str, actor: str,
                 agreement: tuple[str, ...] | None, inputs: Mapping[str, str] | None = None,
                 outputs: Mapping[str, str] | None = None,
                 counts: Mapping[str, Any] | None = None, outcome: str = "ok",
                 detail: Mapping[str, Any] | None = None,
                 signing_key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """Append one entry; ``inputs``/``outputs`` map a role (e.g. "input") to a file digest;
    ``agreement`` is (id, version) or (id, version, content digest).

    The file is locked while the previous hash is read and the entry written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as error:
        raise AuditLogError(f"{target}: cannot open the audit log for appending "
                            f"({error.strerror or type(error).__name__}).") from None
    with open(fd, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            entry: dict[str, Any] = {
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "action": action, "actor": actor,
                "agreement": dict(zip(("id", "version", "digest"), agreement, strict=False))
                if agreement else None,
                "inputs": dict(inputs or {}), "outputs": dict(outputs or {}),
                "counts": dict(counts or {}), "outcome": outcome,
                "prev": _last_hash(target),
            }
            if detail:
                entry["detail"] = dict(detail)
            entry["hash"] = hashlib.sha256(_canonical(entry)).hexdigest()
            if signing_key is not None:
                entry["signature"] = signing_key.sign(_canonical(entry)).hex()
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return entry


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify_log`."""

    entries: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(path: str | os.PathLike[str],
               public_key: Ed25519PublicKey | None = None) -> AuditReport:
    """Check every entry's hash and chain link (and signature, given ``public_key``)."""
    source = Path(path)
    if not source.exists():
        raise AuditLogError(f"{source}: audit log not found.")
    problems: list[str] = []
    prev = GENESIS
    count = 0
    with open(source, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                problems.append(f"line {number}: blank line inserted")
                continue
            count += 1
            try:
                entry = json.loads(raw.decode("utf-8"))
                recorded = entry["hash"]
                if not isinstance(entry, dict) or not isinstance(recorded, str):
                    raise TypeError
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                problems.append(f"line {number}: not a valid audit entry")
                continue
            if hashlib.sha256(_canonical(entry)).hexdigest() != recorded:
                problems.append(f"line {number}: entry was edited (its hash does not match)")
            if entry.get("prev") != prev:
                problems.append(f"line {number}: chain broken (an entry before it was "
                                f"deleted, inserted or reordered)")
            if public_key is not None:
                try:
                    public_key.verify(bytes.fromhex(entry.get("signature", "")),
                                      _canonical(entry))
                except (InvalidSignature, ValueError):
                    problems.append(f"line {number}: signature missing or invalid")
            prev = recorded
    return AuditReport(count, tuple(problems))


def write_signing_key(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Create an Ed25519 signing key (PEM, mode 0600) and its public key beside it (.pub)."""
    from cryptography.hazmat.primitives import serialization

    from linkage.files import atomic_output

    target = Path(path)
    public = target.with_name(target.name + ".pub")
    if target.exists() or public.exists():
        raise AuditLogError(f"{target}: already exists; a signing key is never overwritten.")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    with atomic_output(target, "wb", file_mode=0o600) as handle:
        handle.write(private_pem)
    with atomic_output(public, "wb", file_mode=0o644) as handle:
        handle.write(public_pem)
    return target, public


def read_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load an Ed25519 signing key written by :func:`write_signing_key`."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        raise AuditLogError(f"{path}: not a readable Ed25519 signing key.") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditLogError(f"{path}: not an Ed25519 signing key.")
    return key


def read_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Load an Ed25519 public key (the ``.pub`` file)."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError):
        raise AuditLogError(f"{path}: not a readable Ed25519 public key.") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditLogError(f"{path}: not an Ed25519 public key.")
    return key
