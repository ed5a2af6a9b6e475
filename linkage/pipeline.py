"""The steps of the flow as library calls, each checked against the protocols and audited.

The CLI calls these; data teams may too. Each step reads the agreement, refuses what the
protocols do not permit, writes its output atomically and appends to the audit log.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from linkage.encoding import BloomFilterEncoder, read_key_file, write_encodings
from linkage.errors import LinkageError
from linkage.files import sha256_file
from linkage.protocols import load_agreement
from linkage.protocols.audit import append_entry
from linkage.protocols.enforcement import authorise_encode, record_id_column
from linkage.tables import read_table

PathLike = str | os.PathLike[str]


def default_audit_log(output: PathLike) -> Path:
    """``audit.jsonl`` beside an output file (the contract's default)."""
    return Path(output).resolve().parent / "audit.jsonl"


@dataclass(frozen=True)
class EncodeResult:
    output: Path
    records: int
    counts: dict[str, dict[str, int]]


def encode_extract(*, agreement: PathLike, partner: str, key: PathLike, input: PathLike,
                   output: PathLike, audit_log: PathLike | None = None,
                   progress: bool = False, today: dt.date | None = None) -> EncodeResult:
    """Encode a partner's extract under the agreement; write the encoding file."""
    log = Path(audit_log) if audit_log else default_audit_log(output)
    loaded = None
    try:
        loaded = load_agreement(agreement)
        mapping = authorise_encode(loaded, partner, today=today)
        id_column = record_id_column(loaded, partner)
        needed = [id_column, *(c for c in mapping.values() if c is not None)]
        frame = read_table(input, needed)
        project_key = read_key_file(key)
        encodings = BloomFilterEncoder(loaded.agreement.encoding, project_key).encode(
            frame, mapping, record_id_column=id_column, progress=progress, source=str(input))
        written = write_encodings(output, encodings, schema=loaded.agreement.encoding,
                                  partner=partner, agreement_id=loaded.agreement.id,
                                  agreement_version=loaded.agreement.version)
    except LinkageError as error:
        _audit_refusal(log, "encode", partner, loaded, error, {"input": input})
        raise
    append_entry(log, action="encode", actor=partner,
                 agreement=(loaded.agreement.id, loaded.agreement.version),
                 inputs={"input": sha256_file(input)}, outputs={"encodings": sha256_file(written)},
                 counts={"records": len(encodings), "fields": encodings.counts})
    return EncodeResult(written, len(encodings), encodings.counts)


def _audit_refusal(log: Path, action: str, actor: str, loaded: object, error: Exception,
                   inputs: dict[str, PathLike]) -> None:
    """Record a refused or failed step (digests only of inputs that exist)."""
    agreement = getattr(loaded, "agreement", None)
    digests = {role: sha256_file(p) for role, p in inputs.items() if Path(p).is_file()}
    append_entry(log, action=action, actor=actor,
                 agreement=(agreement.id, agreement.version) if agreement else None,
                 inputs=digests, outcome="refused", detail=type(error).__name__)
