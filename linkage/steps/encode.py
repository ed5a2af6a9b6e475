"""The data provider's step: an extract in, an encoding file out (under the agreement)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from linkage.encoding import BloomFilterEncoder, read_key_file
from linkage.encoding.store import save_encodings
from linkage.errors import InputDataError, ProtocolError
from linkage.protocols.data_quality import field_quality_problems
from linkage.protocols.enforcement import authorise_encode, record_id_column
from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.opt_outs import check_opt_out_list, drop_opted_out, read_opt_outs
from linkage.protocols.signoff import content_digest
from linkage.steps.layer import PathLike, audited_step
from linkage.tables import read_table


@dataclass(frozen=True)
class EncodeResult:
    output: Path
    records: int
    counts: dict[str, dict[str, int]]  #: per field: missing, invalid
    opted_out: int = 0                 #: records dropped by the opt-out list


def encoding_path(output: PathLike) -> Path:
    """The encoding file ``output`` names (``.npz`` appended if absent)."""
    target = Path(output)
    return target if target.suffix == ".npz" else target.with_name(target.name + ".npz")


def encode_extract(*, agreement: PathLike, partner: str, key: PathLike, input: PathLike,
                   output: PathLike, audit_log: PathLike | None = None,
                   progress: bool = False, today: dt.date | None = None,
                   signing_key: PathLike | None = None,
                   opt_outs: PathLike | None = None) -> EncodeResult:
    """Encode a partner's extract under the agreement; write the encoding file.

    ``opt_outs``: the provider's current opt-out list; its records are dropped before
    anything is hashed (the agreement's ``opt_outs`` clause may require one)."""
    target = encoding_path(output)
    inputs = {"input": input, **({"opt-out list": opt_outs} if opt_outs else {})}
    with audited_step("encode", agreement=agreement, actor=partner, inputs=inputs,
                      outputs={"encodings": target}, secrets={"key": key},
                      audit_log=audit_log, signing_key=signing_key, today=today) as step:
        loaded = step.agreement
        mapping = authorise_encode(loaded, partner, today=today)
        check_schema_risk(loaded)
        id_column = record_id_column(loaded, partner)
        needed = [id_column, *(c for c in mapping.values() if c is not None)]
        listed = read_opt_outs(opt_outs) if opt_outs else None
        check_opt_out_list(loaded, listed, source=opt_outs, today=today)
        frame = read_table(input, needed)
        dropped = 0
        if listed is not None:
            frame, dropped = drop_opted_out(frame, listed, id_column=id_column,
                                            nhs_column=mapping.get("nhs_number"))
        project_key = read_key_file(key)
        encodings = BloomFilterEncoder(loaded.agreement.encoding, project_key).encode(
            frame, mapping, record_id_column=id_column, progress=progress, source=str(input),
            partner=partner)
        counts = {f: dict(c) for f, c in encodings.counts.items()}
        step.counts = {"records": len(encodings), "opted_out": dropped, "fields": counts}
        check_field_quality(loaded, partner, input, counts, len(encodings))
        a = loaded.agreement
        digest = content_digest(loaded)
        step.write("encodings", target, lambda handle: save_encodings(
            handle, encodings, schema=a.encoding, agreement_id=a.id,
            agreement_version=a.version, agreement_digest=digest), binary=True)
    return EncodeResult(target, len(encodings), counts, dropped)


def check_field_quality(loaded: LoadedAgreement, partner: str, input: PathLike,
                        counts: dict[str, dict[str, int]], records: int) -> None:
    """Refuse an extract whose mapped fields are missing or invalid in more records than the
    agreement's ``data_quality`` clause allows (counts only in the message)."""
    held = [f for f, column in loaded.protocol(partner).identifiers.items() if column]
    problems = field_quality_problems(counts, records, loaded.agreement.data_quality,
                                      held=held)
    if problems:
        raise InputDataError(f"{input}: data_quality: " + "; ".join(problems) + ". Check the "
                             f"column mapping in {partner}'s protocol and the date formats, "
                             f"or fix the extract; nothing was written.")


def check_schema_risk(loaded: LoadedAgreement) -> None:
    """Refuse a schema whose attacks beat the agreement's maximum_reidentification_rate on
    the synthetic reference cohort (only when the agreement sets that clause)."""
    limit = loaded.agreement.encoding_requirements.maximum_reidentification_rate
    if limit is None:
        return
    from linkage.privacy import assess_schema  # imported on demand: it needs the synth stage

    risk = assess_schema(loaded.agreement.encoding)
    if risk.advantage > limit:
        raise ProtocolError(
            f"{loaded.path}: encoding_requirements.maximum_reidentification_rate: on the "
            f"synthetic reference cohort the encoding schema lets an attacker re-identify "
            f"{risk.advantage:.2%} of records above chance (frequency alignment "
            f"{risk.frequency_alignment:.2%}, pattern mining {risk.pattern_mining:.2%}, chance "
            f"{risk.chance:.2%}, graph matching {risk.graph_matching:.2%}, blocking tokens "
            f"{risk.blocking_tokens:.2%} against {risk.blocking_chance:.2%} by chance), more "
            f"than the {limit:.2%} allowed. Strengthen encoding.hardening (docs/threat-model.md).")
