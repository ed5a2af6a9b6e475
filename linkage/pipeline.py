"""The steps of the flow as library calls, each checked against the protocols and audited.

The CLI calls these; data teams may too. Each step reads the agreement, refuses what the
protocols do not permit, writes its output atomically and appends to the audit log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from linkage.encoding import (
    BloomFilterEncoder,
    EncodingSchema,
    ProjectKey,
    read_encodings,
    read_key_file,
    write_encodings,
)
from linkage.errors import InputDataError, LinkageError, ProtocolError
from linkage.files import atomic_output, sha256_file
from linkage.matching import (
    LinkageResult,
    Linker,
    QualityReport,
    Source,
    pairwise_quality,
    source_from_encodings,
)
from linkage.matching.evaluation import pairs_completeness
from linkage.protocols import load_agreement
from linkage.protocols.audit import append_entry, read_signing_key
from linkage.protocols.checks import authorise_match
from linkage.protocols.enforcement import authorise_encode, record_id_column
from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.release import authorise_release
from linkage.tables import read_table

PathLike = str | os.PathLike[str]


def default_audit_log(output: PathLike) -> Path:
    """``audit.jsonl`` beside an output file (the contract's default)."""
    return Path(output).resolve().parent / "audit.jsonl"


@dataclass
class _Step:
    """One audited step: the loaded agreement, the actor and its signing key."""

    action: str
    actor: str
    log: Path
    loaded: LoadedAgreement | None = None
    signer: Ed25519PrivateKey | None = None

    @property
    def agreement(self) -> LoadedAgreement:
        assert self.loaded is not None  # set before the body of the step runs
        return self.loaded

    def record(self, *, inputs: dict[str, PathLike], outputs: dict[str, PathLike],
               counts: dict[str, Any]) -> None:
        """Append the successful outcome, with digests of the files."""
        a = self.agreement.agreement
        append_entry(self.log, action=self.action, actor=self.actor, agreement=(a.id, a.version),
                     inputs={k: sha256_file(p) for k, p in inputs.items()},
                     outputs={k: sha256_file(p) for k, p in outputs.items()}, counts=counts,
                     signing_key=self.signer)


@contextlib.contextmanager
def _audited(action: str, *, agreement: PathLike, actor: str | None,
             signing_key: PathLike | None, audit_log: PathLike | None, output: PathLike,
             inputs: dict[str, PathLike]) -> Iterator[_Step]:
    """Load the agreement and the signing key; a refusal inside is audited and re-raised.

    ``actor=None`` means the agreement's linkage unit.
    """
    log = Path(audit_log) if audit_log else default_audit_log(output)
    step = _Step(action, actor or "linkage_unit", log)
    try:
        step.loaded = load_agreement(agreement)
        if actor is None:
            step.actor = step.loaded.agreement.linkage_unit
        step.signer = _signer(step.loaded, signing_key)
        yield step
    except LinkageError as error:
        _audit_refusal(step, error, inputs)
        raise


@dataclass(frozen=True)
class EncodeResult:
    output: Path
    records: int
    counts: dict[str, dict[str, int]]


def encode_extract(*, agreement: PathLike, partner: str, key: PathLike, input: PathLike,
                   output: PathLike, audit_log: PathLike | None = None,
                   progress: bool = False, today: dt.date | None = None,
                   signing_key: PathLike | None = None) -> EncodeResult:
    """Encode a partner's extract under the agreement; write the encoding file."""
    with _audited("encode", agreement=agreement, actor=partner, signing_key=signing_key,
                  audit_log=audit_log, output=output, inputs={"input": input}) as step:
        loaded = step.agreement
        mapping = authorise_encode(loaded, partner, today=today)
        check_schema_risk(loaded)
        id_column = record_id_column(loaded, partner)
        needed = [id_column, *(c for c in mapping.values() if c is not None)]
        frame = read_table(input, needed)
        project_key = read_key_file(key)
        encodings = BloomFilterEncoder(loaded.agreement.encoding, project_key).encode(
            frame, mapping, record_id_column=id_column, progress=progress, source=str(input))
        written = write_encodings(output, encodings, schema=loaded.agreement.encoding,
                                  partner=partner, agreement_id=loaded.agreement.id,
                                  agreement_version=loaded.agreement.version)
    step.record(inputs={"input": input}, outputs={"encodings": written},
                counts={"records": len(encodings), "fields": encodings.counts})
    return EncodeResult(written, len(encodings), encodings.counts)


def cohort_sources(extracts: Mapping[str, pd.DataFrame], loaded: LoadedAgreement, *,
                   keys: Mapping[str, ProjectKey] | ProjectKey,
                   schema: EncodingSchema | None = None,
                   noise_seed: int | None = None) -> list[Source]:
    """Encode each partner's extract in memory (each reading the columns its protocol maps)
    and return the linkage unit's view of them: one :class:`Source` per partner.

    For synthetic cohorts, tests and benchmarks: ``keys`` is one key for all or a key per
    partner; ``schema`` defaults to the agreement's; ``noise_seed`` fixes BLIP noise so that
    runs repeat (never for real data). Nothing is checked or audited here.
    """
    schema = schema or loaded.agreement.encoding
    kinds = {f.name: f.kind.value for f in schema.fields}
    sources = []
    for partner, frame in extracts.items():
        key = keys if isinstance(keys, ProjectKey) else keys[partner]
        mapping = {f.name: loaded.protocol(partner).identifiers.get(f.name)
                   for f in schema.fields}
        encoded = BloomFilterEncoder(schema, key, noise_seed=noise_seed).encode(frame, mapping)
        sources.append(source_from_encodings(partner, encoded, kinds))
    return sources


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


def _signer(loaded: LoadedAgreement, signing_key: PathLike | None) -> Ed25519PrivateKey | None:
    """The actor's signing key; refuse to run unsigned when the agreement requires it."""
    if signing_key is not None:
        return read_signing_key(signing_key)
    if loaded.agreement.audit.signed:
        raise ProtocolError(f"{loaded.path}: audit.signed: the agreement requires signed "
                            f"audit entries; pass --signing-key (create one with "
                            f"'linkage audit keygen').")
    return None


def _audit_refusal(step: _Step, error: Exception, inputs: dict[str, PathLike]) -> None:
    """Record a refused or failed step (digests only of inputs that exist); signed when the
    signing key was read before the refusal."""
    agreement = step.loaded.agreement if step.loaded else None
    digests = {role: sha256_file(p) for role, p in inputs.items() if Path(p).is_file()}
    append_entry(step.log, action=step.action, actor=step.actor,
                 agreement=(agreement.id, agreement.version) if agreement else None,
                 inputs=digests, outcome="refused", detail=type(error).__name__,
                 signing_key=step.signer)


@dataclass(frozen=True)
class MatchResult:
    output: Path
    result: LinkageResult
    records: dict[str, int]


def match_encodings(*, agreement: PathLike, encodings: list[PathLike], output: PathLike,
                    audit_log: PathLike | None = None, linker: Linker | None = None,
                    save_candidates: bool = False, today: dt.date | None = None,
                    signing_key: PathLike | None = None) -> MatchResult:
    """Link encoding files under the agreement (as the linkage unit; no key needed).

    Writes ``output`` (cluster_id, partner, record_id, probability), ``output`` +
    ``.model.json`` (the fitted models and blocking counts) and, with ``save_candidates``,
    ``output`` + ``.candidates.npz`` (candidate pairs, for pairs completeness).
    """
    with _audited("match", agreement=agreement, actor=None, signing_key=signing_key,
                  audit_log=audit_log, output=output,
                  inputs={f"encodings[{i}]": p for i, p in enumerate(encodings)}) as step:
        loaded = step.agreement
        loaded.check_in_force(today)
        files = [read_encodings(p) for p in encodings]
        authorise_match(loaded, files)
        kinds = {f.name: f.kind.value for f in loaded.agreement.encoding.fields}
        sources = [source_from_encodings(f.partner, f.encodings, kinds) for f in files]
        linker = linker or Linker()
        if save_candidates:
            linker.keep_candidates = True
        result = linker.link(sources)
    out = Path(output)
    with atomic_output(out) as handle:
        result.links.to_csv(handle, index=False, lineterminator="\n")
    records = {s.name: len(s) for s in sources}
    _write_model_summary(out, result, records)
    if save_candidates:
        _write_candidates(out, result, sources)
    counts = {"records": records, "linked_records": len(result.links),
              "clusters": int(result.links.cluster_id.nunique()) if len(result.links) else 0}
    step.record(inputs={f.partner: p for f, p in zip(files, encodings, strict=True)},
                outputs={"links": out}, counts=counts)
    return MatchResult(out, result, records)


def _write_model_summary(out: Path, result: LinkageResult, sizes: dict[str, int]) -> None:
    summary = {"sizes": sizes, "fields": list(result.field_names), "pairs": [{
        "left": pm.left, "right": pm.right, "lambda": pm.model.lambda_,
        "m": [x.tolist() for x in pm.model.m_], "u": [x.tolist() for x in pm.model.u_],
        "candidates": len(pm.blocking), "links_above_threshold": len(pm.weight),
        "pairs_per_pass": pm.blocking.pairs_per_pass,
        "skipped_blocks": pm.blocking.skipped_blocks,
        "weight_histogram": pm.weight_histogram.tolist(),
        "examples": list(pm.examples),
    } for pm in result.pair_models if pm.fitted]}
    with atomic_output(out.with_name(out.name + ".model.json")) as handle:
        json.dump(summary, handle, indent=1)


def _write_candidates(out: Path, result: LinkageResult, sources: list[Source]) -> None:
    ids = {s.name: s.record_ids for s in sources}
    arrays: dict[str, Any] = {}
    for k, pm in enumerate(result.pair_models):
        arrays[f"pair{k}_names"] = np.asarray([pm.left, pm.right])
        arrays[f"pair{k}_left"] = ids[pm.left][pm.blocking.left].astype(str)
        arrays[f"pair{k}_right"] = ids[pm.right][pm.blocking.right].astype(str)
    with atomic_output(out.with_name(out.name + ".candidates.npz"), "wb") as handle:
        np.savez(handle, **arrays)


@dataclass(frozen=True)
class Evaluation:
    quality: QualityReport
    blocking: pd.DataFrame | None  #: per partner pair: candidates, pairs completeness, RR


def evaluate_links(*, links: PathLike, truth: PathLike,
                   candidates: PathLike | None = None) -> Evaluation:
    """Pairwise quality of a links file against ground truth (and blocking, if saved)."""
    link_frame = read_table(links, ["cluster_id", "partner", "record_id"], what="links")
    truth_frame = read_table(truth, ["partner", "record_id", "person_id"], what="truth")
    link_frame = link_frame.astype({"cluster_id": str, "partner": str, "record_id": str})
    truth_frame = truth_frame.astype(str)
    quality = pairwise_quality(link_frame, truth_frame)
    cand_path = Path(candidates) if candidates else Path(str(links) + ".candidates.npz")
    blocking = _blocking_quality(cand_path, truth_frame) if cand_path.exists() else None
    return Evaluation(quality, blocking)


def _blocking_quality(path: Path, truth: pd.DataFrame) -> pd.DataFrame:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        raise InputDataError(f"{path}: not a candidates file.") from None
    rows = []
    sizes = truth.groupby("partner").size()
    person = truth.set_index(["partner", "record_id"]).person_id
    k = 0
    while f"pair{k}_names" in archive.files:
        left_name, right_name = archive[f"pair{k}_names"].tolist()
        a = person.loc[left_name]
        b = person.loc[right_name]
        pairs = a.rename("p").reset_index().merge(b.rename("p").reset_index(), on="p")
        if left_name == right_name:
            pairs = pairs[pairs.record_id_x < pairs.record_id_y]
        index_a = pd.Index(a.index)
        index_b = pd.Index(b.index)
        n_b = len(index_b)
        cand_l = index_a.get_indexer(archive[f"pair{k}_left"])
        cand_r = index_b.get_indexer(archive[f"pair{k}_right"])
        true_l = index_a.get_indexer(pairs.record_id_x)
        true_r = index_b.get_indexer(pairs.record_id_y)
        if left_name == right_name:  # unordered pairs: compare both orientations
            cand_l, cand_r = np.minimum(cand_l, cand_r), np.maximum(cand_l, cand_r)
            true_l, true_r = np.minimum(true_l, true_r), np.maximum(true_l, true_r)
            total = len(index_a) * (len(index_a) - 1) // 2
        else:
            total = len(index_a) * n_b
        rows.append({"pair": f"{left_name}~{right_name}", "candidates": len(cand_l),
                     "pairs_completeness": pairs_completeness(cand_l, cand_r, true_l, true_r,
                                                              n_b),
                     "reduction_ratio": 1 - len(cand_l) / max(total, 1),
                     "records": f"{sizes.get(left_name, 0)} x {sizes.get(right_name, 0)}"})
        k += 1
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ReleaseResult:
    output: Path
    rows: int
    attributes: list[str]
    purpose: str


def release_attributes(*, agreement: PathLike, links: PathLike, partner: str, input: PathLike,
                       recipient: str, output: PathLike, purpose: str | None = None,
                       attributes: list[str] | None = None, audit_log: PathLike | None = None,
                       today: dt.date | None = None,
                       signing_key: PathLike | None = None) -> ReleaseResult:
    """Write ``link_key`` plus the permitted attributes of ``partner``'s linked records."""
    with _audited("release", agreement=agreement, actor=partner, signing_key=signing_key,
                  audit_log=audit_log, output=output,
                  inputs={"links": links, "input": input}) as step:
        loaded = step.agreement
        loaded.check_in_force(today)
        chosen_purpose, columns = authorise_release(loaded, partner, recipient, purpose,
                                                    attributes)
        id_column = record_id_column(loaded, partner)
        link_frame = read_table(links, ["cluster_id", "partner", "record_id"], what="links")
        extract = read_table(input, [id_column, *columns])
        mine = link_frame[link_frame["partner"] == partner]
        joined = mine.merge(extract[[id_column, *columns]], left_on="record_id",
                            right_on=id_column, how="inner")
        released = pd.DataFrame({"link_key": joined["cluster_id"].astype(str)})
        for column in columns:
            released[column] = joined[column].to_numpy()
    out = Path(output)
    with atomic_output(out) as handle:
        released.to_csv(handle, index=False, lineterminator="\n")
    step.record(inputs={"links": links, "input": input}, outputs={"release": out},
                counts={"rows": len(released), "recipient": recipient,
                        "purpose": chosen_purpose, "attributes": columns})
    return ReleaseResult(out, len(released), columns, chosen_purpose)
