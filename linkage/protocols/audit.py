"""A tamper-evident, append-only audit log (JSON Lines).

Each entry holds the time, action, actor (partner), agreement id and version, SHA-256
digests of input and output files, counts and the outcome; never identifiers or keys.
Each entry carries ``prev``, the hash of the entry before it, and ``hash``, the SHA-256 of
its own canonical JSON without ``hash`` and ``signature``. Entries may be signed with an
Ed25519 key (``cryptography``). :func:`verify_log` detects any edit, deletion, insertion
or reordering and says at which line.

A hash chain alone cannot show that entries were cut from its *end*: a log without its
last entries, or an empty one, is still a valid chain. So every append also rewrites,
atomically and under the same lock, a checkpoint beside the log (``LOG.checkpoint``)::

    {"format": "linkage-audit-checkpoint", "format_version": 1, "entries": 12,
     "head": "<hash of entry 12>", "signature": "<hex Ed25519, or empty>"}

signed, when the appending step has a signing key, over its other fields.
:func:`verify_log` fails when the checkpoint records more entries than the log holds or a
head that is not the hash of that entry (the log was shortened, emptied or rewritten),
when a non-empty log has no checkpoint (it may have been replaced), and, given the public
key, when the checkpoint's signature does not verify. :func:`append_entry` refuses to
append to a log that its checkpoint shows was shortened, so the next step cannot paper
over a cut.

The limits, honestly: the checkpoint lives beside the log, so whoever can delete the
log's last entries can usually delete (or, without signatures, rewrite) the checkpoint
too. A log cut *and* stripped of its checkpoint is reported only as "checkpoint missing",
and if the next step then appends, a new checkpoint is written and the cut is no longer
visible from the log alone. It is then caught only by an artefact whose provenance points
at an entry past the cut (``linkage audit verify LOG ARTEFACT...``,
:mod:`linkage.protocols.audit_artefacts`) or by a copy of the checkpoint, or of the head
hash that ``linkage audit verify`` prints, kept somewhere the log's writers cannot change
(the minutes of the project board, an email to the auditor, another organisation's
system): ``linkage audit verify LOG --checkpoint COPY`` checks the log still holds the
entries that copy records. A signed checkpoint cannot be forged without the signing key,
but it can still be deleted, and an older signed checkpoint can be put back after a cut
made later than it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from linkage.errors import AuditLogError
from linkage.files import atomic_output, check_regular_file, parse_format_json, read_small_file

GENESIS = "0" * 64
CHECKPOINT_FORMAT = "linkage-audit-checkpoint"
CHECKPOINT_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _canonical(entry: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in entry.items() if k not in ("hash", "signature")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def entry_hash(entry: Mapping[str, Any]) -> str:
    """The hash an entry should carry: SHA-256 of its canonical JSON without ``hash`` and
    ``signature``."""
    return hashlib.sha256(_canonical(entry)).hexdigest()


def checkpoint_path(log: str | os.PathLike[str]) -> Path:
    """The checkpoint kept beside ``log``: ``LOG.checkpoint``."""
    path = Path(log)
    return path.with_name(path.name + ".checkpoint")


@dataclass(frozen=True)
class Checkpoint:
    """What the log held after its last append: how many entries, and the last one's hash."""

    entries: int
    head: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        """The canonical JSON of every field but the signature (what is signed)."""
        body = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
                "entries": self.entries, "head": self.head}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def verifies(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True

    def problem(self, hashes: Sequence[str | None]) -> str | None:
        """Why a log whose entries carry ``hashes`` (in order) is not the log this
        checkpoint was written for, or None when it is (or has grown since)."""
        recorded = (f"the checkpoint records {self.entries} entries with head "
                    f"{self.head[:16]}...")
        if self.entries > len(hashes):
            return f"the log was shortened: {recorded}, the log holds {len(hashes)}"
        found = hashes[self.entries - 1] if self.entries else GENESIS
        if found != self.head:
            return (f"the log was shortened or rewritten: {recorded}, but entry "
                    f"{self.entries} of the {len(hashes)} it holds has another hash")
        return None


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint | None:
    """The checkpoint at ``path`` (see :func:`checkpoint_path`), or None when there is
    none; :class:`AuditLogError` when it is unreadable or not a checkpoint."""
    source = Path(path)
    check_regular_file(source, what="audit checkpoint", error=AuditLogError, missing_ok=True)
    try:
        text = source.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise AuditLogError(f"{source}: the audit log's checkpoint is unreadable "
                            f"({error.strerror or type(error).__name__}).") from None
    remedy = "linkage writes it beside the audit log at every entry"
    data = parse_format_json(text, format_name=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION,
                             source=source, kind="audit log checkpoint", remedy=remedy,
                             error=AuditLogError)
    entries, head, signature = data.get("entries"), data.get("head"), data.get("signature")
    if (type(entries) is not int or entries < 0 or not isinstance(head, str)
            or not _HEX64.fullmatch(head) or not isinstance(signature, str)):
        raise AuditLogError(f"{source}: the audit log's checkpoint is incomplete or "
                            f"malformed; {remedy}.")
    return Checkpoint(entries, head, signature)


def _write_checkpoint(path: Path, entries: int, head: str,
                      signing_key: Ed25519PrivateKey | None) -> None:
    unsigned = Checkpoint(entries, head)
    signature = signing_key.sign(unsigned.signed_bytes()).hex() if signing_key else ""
    body = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
            "entries": entries, "head": head, "signature": signature}
    try:
        with atomic_output(path, "w", file_mode=0o600) as handle:
            handle.write(json.dumps(body, sort_keys=True) + "\n")
    except OSError as error:
        raise AuditLogError(f"{path}: the entry was appended, but the audit log's checkpoint "
                            f"could not be written ({error.strerror or type(error).__name__})."
                            ) from None


def _recorded_hash(raw: bytes) -> str | None:
    """The ``hash`` an entry line records, or None when the line is not an entry."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    recorded = entry.get("hash") if isinstance(entry, dict) else None
    return recorded if isinstance(recorded, str) else None


def _recorded_hashes(path: Path) -> list[str | None]:
    """Each entry's recorded hash, in order (None for a line that is not an entry);
    blank lines are not entries."""
    with open(path, "rb") as handle:
        return [_recorded_hash(raw) for raw in handle if raw.strip()]


def _check_before_append(target: Path, marker: Path) -> tuple[str, int]:
    """The hash to chain the next entry to and the number of entries; refuses a log that
    its checkpoint shows was shortened (appending would write a new checkpoint over the
    evidence)."""
    try:
        checkpoint = read_checkpoint(marker)
    except AuditLogError as error:
        raise AuditLogError(f"{error} Nothing is appended to {target} until this is "
                            f"investigated (run 'linkage audit verify {target}').") from None
    hashes = _recorded_hashes(target)
    problem = checkpoint.problem(hashes) if checkpoint else None
    if problem:
        raise AuditLogError(f"{target}: {problem}; nothing is appended to it until this is "
                            f"investigated (run 'linkage audit verify {target}').")
    if not hashes:
        return GENESIS, 0
    if hashes[-1] is None:
        raise AuditLogError(f"{target}: last entry is not a valid audit entry; run "
                            f"'linkage audit verify {target}'.")
    return hashes[-1], len(hashes)


def append_entry(path: str | os.PathLike[str], *, action: str, actor: str,
                 agreement: tuple[str, ...] | None, inputs: Mapping[str, str] | None = None,
                 outputs: Mapping[str, str] | None = None,
                 counts: Mapping[str, Any] | None = None, outcome: str = "ok",
                 detail: Mapping[str, Any] | None = None,
                 signing_key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """Append one entry; ``inputs``/``outputs`` map a role (e.g. "input") to a file digest;
    ``agreement`` is (id, version) or (id, version, content digest).

    The file is locked while the previous hash is read, the entry written and the
    checkpoint (``LOG.checkpoint``, signed with ``signing_key`` when given) rewritten.
    Refuses (:class:`AuditLogError`) a log its checkpoint shows was shortened.
    """
    target = Path(path)
    check_regular_file(target, what="audit log", error=AuditLogError, missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    marker = checkpoint_path(target)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o600)
    except OSError as error:
        raise AuditLogError(f"{target}: cannot open the audit log for appending "
                            f"({error.strerror or type(error).__name__}).") from None
    with open(fd, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            prev, entries = _check_before_append(target, marker)
            entry: dict[str, Any] = {
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "action": action, "actor": actor,
                "agreement": dict(zip(("id", "version", "digest"), agreement, strict=False))
                if agreement else None,
                "inputs": dict(inputs or {}), "outputs": dict(outputs or {}),
                "counts": dict(counts or {}), "outcome": outcome,
                "prev": prev,
            }
            if detail:
                entry["detail"] = dict(detail)
            entry["hash"] = entry_hash(entry)
            if signing_key is not None:
                entry["signature"] = signing_key.sign(_canonical(entry)).hex()
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            _write_checkpoint(marker, entries + 1, entry["hash"], signing_key)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return entry


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify_log`; ``head`` is the last entry's hash (worth keeping
    somewhere the log's writers cannot change)."""

    entries: int
    problems: tuple[str, ...]
    head: str = GENESIS

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_entries(source: Path, public_key: Ed25519PublicKey | None
                   ) -> tuple[list[str], list[str | None]]:
    """Every entry's hash, chain link (and signature): the problems, and each entry's
    recorded hash (None for a line that is not an entry)."""
    problems: list[str] = []
    hashes: list[str | None] = []
    prev = GENESIS
    with open(source, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                problems.append(f"line {number}: blank line inserted")
                continue
            try:
                entry = json.loads(raw.decode("utf-8"))
                recorded = entry["hash"]
                if not isinstance(entry, dict) or not isinstance(recorded, str):
                    raise TypeError
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                problems.append(f"line {number}: not a valid audit entry")
                hashes.append(None)
                continue
            hashes.append(recorded)
            if entry_hash(entry) != recorded:
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
    return problems, hashes


def _check_checkpoint(marker: Path, hashes: Sequence[str | None],
                      public_key: Ed25519PublicKey | None) -> list[str]:
    try:
        checkpoint = read_checkpoint(marker)
    except AuditLogError as error:
        return [str(error)]
    if checkpoint is None:
        return [f"checkpoint missing: the log may have been replaced, or its last entries "
                f"cut ({marker} not found)"] if hashes else []
    problems = [found] if (found := checkpoint.problem(hashes)) else []
    if public_key is not None and not checkpoint.verifies(public_key):
        problems.append(f"checkpoint signature missing or invalid ({marker} was not written "
                        f"by the holder of that key, or was edited)")
    return problems


def verify_log(path: str | os.PathLike[str],
               public_key: Ed25519PublicKey | None = None, *,
               checkpoint: str | os.PathLike[str] | None = None) -> AuditReport:
    """Check every entry's hash and chain link (and signature, given ``public_key``), and
    that the log still holds what its checkpoint records: ``LOG.checkpoint``, or
    ``checkpoint``, e.g. a copy kept elsewhere (the log may have grown since)."""
    source = Path(path)
    marker = Path(checkpoint) if checkpoint is not None else checkpoint_path(source)
    check_regular_file(source, what="audit log", error=AuditLogError, missing_ok=True)
    if not source.exists():
        if not marker.exists():
            raise AuditLogError(f"{source}: audit log not found.")
        problems = [f"the log is missing, but its checkpoint {marker} exists",
                    *_check_checkpoint(marker, [], public_key)]
        return AuditReport(0, tuple(problems))
    problems, hashes = _check_entries(source, public_key)
    problems += _check_checkpoint(marker, hashes, public_key)
    head = next((h for h in reversed(hashes) if h is not None), GENESIS)
    return AuditReport(len(hashes), tuple(problems), head)


def write_signing_key(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Create an Ed25519 signing key (PEM, mode 0600) and its public key beside it (.pub)."""
    from cryptography.hazmat.primitives import serialization

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
        key = serialization.load_pem_private_key(
            read_small_file(path, what="signing key", max_bytes=16_384, error=AuditLogError),
            password=None)
    except (OSError, ValueError, TypeError):
        raise AuditLogError(f"{path}: not a readable Ed25519 signing key.") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditLogError(f"{path}: not an Ed25519 signing key.")
    return key


def read_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Load an Ed25519 public key (the ``.pub`` file)."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(
            read_small_file(path, what="public key", max_bytes=16_384, error=AuditLogError))
    except (OSError, ValueError, TypeError):
        raise AuditLogError(f"{path}: not a readable Ed25519 public key.") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditLogError(f"{path}: not an Ed25519 public key.")
    return key
