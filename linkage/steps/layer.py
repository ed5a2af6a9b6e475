"""The one audited step: every command that reads or writes data runs inside it.

:func:`audited_step` does, in this order:

1. refuses an output path that is also an input, the key, the agreement, a partner
   protocol or the audit log (so an output never destroys an input or the history);
2. loads the agreement and its partner protocols, checks it is in force (when the step
   needs that) and that its required sign-offs are valid for its exact content, and reads
   the actor's signing key (refusing to run unsigned when the agreement requires
   signatures or the actor lists a public key, and refusing a key that is not the
   actor's listed one);
3. runs the body, which writes each output through :meth:`Step.write` into a temporary
   file beside its destination;
4. on success appends one audit entry with the agreement's content digest and the digests
   of the inputs and the written outputs, writes each output's provenance (maker, content
   digest, chain head, signature: :mod:`linkage.protocols.provenance`), *then* renames the
   outputs into place: an output never exists without its audit entry;
5. on failure removes the temporaries and appends a refusal entry naming the error class
   and the protocol clause, then re-raises. If the audit log itself cannot be written, the
   original error is still the one raised.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from linkage.errors import AuditLogError, InputDataError, LinkageError, ProtocolError
from linkage.files import fsync_path, same_file, sha256_file, temporary_sibling
from linkage.protocols import load_agreement
from linkage.protocols.audit import append_entry, checkpoint_path, read_signing_key
from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.provenance import write_provenance
from linkage.protocols.signoff import check_signer, content_digest, require_sign_offs

PathLike = str | os.PathLike[str]

#: ``FILE: CLAUSE: message`` is the form of every protocol refusal; this finds the clause.
_CLAUSE = re.compile(r":\s([a-z_][a-z0-9_]*(?:(?:\.|\[)[a-z0-9_\]\[.]*)?):\s")


def default_audit_log(output: PathLike) -> Path:
    """``audit.jsonl`` beside an output file (the contract's default)."""
    return Path(output).resolve().parent / "audit.jsonl"


@dataclass
class _Staged:
    target: Path
    temporary: Path


@dataclass
class Step:
    """A running audited step: its agreement, actor, and the outputs it has written."""

    action: str
    actor: str
    log: Path
    loaded: LoadedAgreement | None = None
    signer: Ed25519PrivateKey | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, PathLike] = field(default_factory=dict)
    _outputs: dict[str, _Staged] = field(default_factory=dict)
    _entry: dict[str, Any] | None = None
    _new_folders: list[Path] = field(default_factory=list)  #: made for outputs; removed on failure

    def audit(self) -> dict[str, Any]:
        """Append the step's audit entry now (once): for a body that must commit something
        outside the step's files (a store transaction) only after its entry exists. Outputs
        written after this call are not in the entry, so write them first."""
        if self._entry is None:
            written = {role: staged.temporary for role, staged in self._outputs.items()}
            self._entry = append_entry(
                self.log, action=self.action, actor=self.actor,
                agreement=_agreement_fields(self.agreement), inputs=_digests(self.inputs),
                outputs=_digests(written), counts=self.counts, signing_key=self.signer)
        return self._entry

    @property
    def agreement(self) -> LoadedAgreement:
        if self.loaded is None:  # only reachable if a body runs before loading, a bug
            raise ProtocolError("the step's agreement was not loaded")
        return self.loaded

    def write(self, role: str, target: PathLike, writer: Callable[[IO[Any]], object], *,
              binary: bool = False) -> Path:
        """Write one output with ``writer(handle)`` into a temporary beside ``target``;
        it is renamed into place only after the step's audit entry is appended."""
        final = Path(target)
        if final.is_dir():
            raise InputDataError(f"{final}: is a folder; give a file name for the {role}.")
        try:
            tmp = temporary_sibling(final)
        except OSError as error:
            raise InputDataError(f"{final}: cannot write the {role} here "
                                 f"({error.strerror or type(error).__name__}).") from None
        self._outputs[role] = _Staged(final, tmp)
        mode = "wb" if binary else "w"
        encoding, newline = (None, None) if binary else ("utf-8", "")
        with open(tmp, mode, encoding=encoding, newline=newline) as handle:
            writer(handle)
        fsync_path(tmp)
        return final

    def _discard(self) -> None:
        for staged in self._outputs.values():
            with contextlib.suppress(FileNotFoundError):
                staged.temporary.unlink()
        for folder in sorted(self._new_folders, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # only if still empty
                folder.rmdir()

    def _commit(self) -> None:
        for staged in self._outputs.values():
            os.replace(staged.temporary, staged.target)


def _missing_folders(paths: list[PathLike]) -> list[Path]:
    """The folders above ``paths`` that do not exist yet (a failed step removes them)."""
    missing: list[Path] = []
    for path in paths:
        folder = Path(path).absolute().parent
        while not folder.exists() and folder not in missing:
            missing.append(folder)
            folder = folder.parent
    return missing


def check_output_paths(outputs: Mapping[str, PathLike], protected: Mapping[str, PathLike]
                       ) -> None:
    """Refuse an output that would overwrite a protected file (an input, the key, the
    agreement, a protocol, the audit log) or another output of the same step."""
    seen: dict[str, Path] = {}
    for role, path in outputs.items():
        for other_role, other in protected.items():
            if same_file(path, other):
                raise InputDataError(f"{path}: the {role} would overwrite the {other_role}; "
                                     f"choose another output path.")
        for other_role, other_path in seen.items():
            if same_file(path, other_path):
                raise InputDataError(f"{path}: the {role} and the {other_role} are the same "
                                     f"file; choose distinct output paths.")
        seen[role] = Path(path)


def clause_of(error: BaseException) -> str | None:
    """The protocol clause a refusal names (``FILE: CLAUSE: ...``), if any."""
    found = _CLAUSE.search(str(error))
    return found.group(1) if found else None


def _digests(paths: Mapping[str, PathLike]) -> dict[str, str]:
    return {role: sha256_file(p) for role, p in paths.items() if Path(p).is_file()}


@contextlib.contextmanager
def audited_step(action: str, *, agreement: PathLike, actor: str | None,
                 inputs: Mapping[str, PathLike], outputs: Mapping[str, PathLike],
                 audit_log: PathLike | None = None, signing_key: PathLike | None = None,
                 secrets: Mapping[str, PathLike] | None = None, in_force: bool = True,
                 today: dt.date | None = None) -> Iterator[Step]:
    """Run one step of the flow under the agreement, audited (see the module docstring).

    ``actor=None`` means the agreement's linkage unit. ``outputs`` maps a role to the path
    the body will write (through :meth:`Step.write`); ``secrets`` (e.g. the key file) are
    protected like inputs but never digested into the log.
    """
    first_output = next(iter(outputs.values()), None)
    log = Path(audit_log) if audit_log else default_audit_log(first_output or ".")
    step = Step(action, actor or "linkage_unit", log, inputs=inputs,
                _new_folders=_missing_folders([*outputs.values(), log]))
    try:
        protected = {**inputs, **(secrets or {}), "agreement": agreement, "audit log": log,
                     "audit checkpoint": checkpoint_path(log)}
        check_output_paths(outputs, protected)
        step.loaded = load_agreement(agreement)
        check_output_paths(outputs, {f"{p}'s protocol": path for p, path
                                     in step.loaded.protocol_paths.items()})
        if actor is None:
            step.actor = step.loaded.agreement.linkage_unit
        if in_force:
            step.loaded.check_in_force(today)
        require_sign_offs(step.loaded)
        step.signer = _signer(step.loaded, signing_key)
        check_signer(step.loaded, step.actor, step.signer)
        yield step
        entry = step.audit()
        for role, staged in step._outputs.items():
            write_provenance(staged.target, staged.temporary, role=role, loaded=step.loaded,
                             made_by=step.actor, chain_head=str(entry["hash"]),
                             signer=step.signer)
        step._commit()
    except BaseException as error:
        step._discard()
        if isinstance(error, LinkageError | OSError | ValueError | MemoryError):
            _audit_refusal(step, error, inputs)
        raise


def _agreement_fields(loaded: LoadedAgreement) -> tuple[str, str, str]:
    """What an audit entry records of the agreement: id, version and content digest."""
    a = loaded.agreement
    try:
        digest = content_digest(loaded)
    except ProtocolError:  # a listed key that cannot be read: refused elsewhere
        digest = ""
    return a.id, a.version, digest


def _signer(loaded: LoadedAgreement, signing_key: PathLike | None) -> Ed25519PrivateKey | None:
    """The actor's signing key; refuse to run unsigned when the agreement requires it."""
    if signing_key is not None:
        return read_signing_key(signing_key)
    if loaded.agreement.audit.signed:
        raise ProtocolError(f"{loaded.path}: audit.signed: the agreement requires signed "
                            f"audit entries; pass --signing-key (create one with "
                            f"'linkage audit keygen').")
    return None


def _audit_refusal(step: Step, error: BaseException, inputs: Mapping[str, PathLike]) -> None:
    """Record a refused or failed step: the error class and the clause, digests only of
    inputs that exist. A failure to write this entry never hides ``error``."""
    detail: dict[str, Any] = {"error": type(error).__name__}
    clause = clause_of(error)
    if clause:
        detail["clause"] = clause
    try:
        append_entry(step.log, action=step.action, actor=step.actor,
                     agreement=_agreement_fields(step.loaded) if step.loaded else None,
                     inputs=_digests(inputs), outcome="refused", detail=detail,
                     signing_key=step.signer)
    except (AuditLogError, OSError) as audit_error:
        error.add_note(f"(the refusal could not be audited: {audit_error})")
