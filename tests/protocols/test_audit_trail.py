"""An audit trail that cannot be shortened unnoticed: the log's checkpoint, artefacts checked
against the log (``audit verify LOG ARTEFACT...``), and the agreement's dates in
``protocol check``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from linkage.cli import main
from linkage.errors import AuditLogError
from linkage.protocols.audit import (
    CHECKPOINT_FORMAT,
    append_entry,
    checkpoint_path,
    read_checkpoint,
    read_signing_key,
    verify_log,
)
from linkage.protocols.audit_artefacts import verify_artefacts
from linkage.protocols.provenance import provenance_path
from linkage.synth import Cohort, CohortConfig, generate_cohort

from ..helpers import PROVIDERS, copy_protocols, edit_yaml, encoded_workspace

# The log ------------------------------------------------------------------------------------


def _log(tmp_path: Path, key: Ed25519PrivateKey | None, n: int = 4) -> Path:
    path = tmp_path / "audit.jsonl"
    for i in range(n):
        append_entry(path, action="encode", actor=f"p{i}", agreement=("a", "1"),
                     inputs={"input": f"{i:064x}"}, counts={"records": i}, signing_key=key)
    return path


def _key(signed: bool) -> Ed25519PrivateKey | None:
    return Ed25519PrivateKey.generate() if signed else None


def _hashes(log: Path) -> list[str]:
    return [json.loads(line)["hash"] for line in log.read_text().splitlines()]


SIGNED = pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])


@SIGNED
def test_a_valid_log_passes_and_its_checkpoint_records_the_head(
        tmp_path: Path, signed: bool, capsys: pytest.CaptureFixture[str]) -> None:
    key = _key(signed)
    log = _log(tmp_path, key)
    public = key.public_key() if key else None
    report = verify_log(log, public)
    assert report.ok, report.problems
    assert report.entries == 4 and report.head == _hashes(log)[-1]
    marker = checkpoint_path(log)
    assert marker.name == "audit.jsonl.checkpoint"
    assert marker.stat().st_mode & 0o777 == 0o600
    body = json.loads(marker.read_text())
    assert body["format"] == CHECKPOINT_FORMAT
    assert body["entries"] == 4 and body["head"] == report.head
    assert bool(body["signature"]) is signed
    assert main(["audit", "verify", str(log)]) == 0
    out = capsys.readouterr().out
    assert "4 entries, chain intact" in out and report.head in out


@SIGNED
@pytest.mark.parametrize("cut", [1, 2, 4], ids=["last", "last-two", "all"])
def test_cutting_the_end_of_the_log_fails(tmp_path: Path, signed: bool, cut: int,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    key = _key(signed)
    log = _log(tmp_path, key)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-cut]))
    report = verify_log(log, key.public_key() if key else None)
    assert not report.ok
    assert any(p.startswith("the log was shortened: the checkpoint records 4 entries")
               and p.endswith(f"the log holds {4 - cut}") for p in report.problems), \
        report.problems
    assert main(["audit", "verify", str(log)]) == 1
    assert "the log was shortened" in capsys.readouterr().err
    if key:
        public = tmp_path / "signer.pub"
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        assert main(["audit", "verify", str(log), "--public-key", str(public)]) == 1


def test_a_deleted_log_with_its_checkpoint_left_fails(tmp_path: Path) -> None:
    log = _log(tmp_path, None)
    log.unlink()
    report = verify_log(log)
    assert not report.ok and any("the log holds 0" in p for p in report.problems)
    assert main(["audit", "verify", str(log)]) == 1


def test_a_log_without_its_checkpoint_fails(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    log = _log(tmp_path, None)
    checkpoint_path(log).unlink()
    report = verify_log(log)
    assert [p.split(":")[0] for p in report.problems] == ["checkpoint missing"]
    assert main(["audit", "verify", str(log)]) == 1
    assert "checkpoint missing: the log may have been replaced" in capsys.readouterr().err


def test_a_forged_checkpoint_fails_with_the_public_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    log = _log(tmp_path, key)
    marker = checkpoint_path(log)
    # the entry count edited alone: the head no longer matches, with or without the key
    body = json.loads(marker.read_text())
    marker.write_text(json.dumps({**body, "entries": 3}))
    assert not verify_log(log).ok
    assert any("checkpoint signature" in p for p in verify_log(log, key.public_key()).problems)
    # cut the last entry and forge a consistent checkpoint: only the signature shows it
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]))
    marker.write_text(json.dumps({**body, "entries": 3, "head": _hashes(log)[-1]}))
    assert verify_log(log).ok  # the documented limit of an unsigned check
    problems = verify_log(log, key.public_key()).problems
    assert len(problems) == 1 and "checkpoint signature missing or invalid" in problems[0]


def test_append_refuses_a_shortened_log_and_keeps_the_evidence(tmp_path: Path) -> None:
    log = _log(tmp_path, None)
    before = checkpoint_path(log).read_bytes()
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-2]))
    with pytest.raises(AuditLogError, match="the log was shortened"):
        append_entry(log, action="encode", actor="p9", agreement=("a", "1"))
    assert checkpoint_path(log).read_bytes() == before
    assert len(log.read_text().splitlines()) == 2


def test_a_copy_of_the_checkpoint_kept_elsewhere(tmp_path: Path) -> None:
    log = _log(tmp_path, None, n=2)
    kept = tmp_path / "board-minutes.checkpoint"
    shutil.copy(checkpoint_path(log), kept)
    for i in range(2):  # the log grows after the copy was taken: still consistent
        append_entry(log, action="match", actor="linkage_unit", agreement=("a", "1"),
                     counts={"i": i})
    assert verify_log(log, checkpoint=kept).ok
    assert main(["audit", "verify", str(log), "--checkpoint", str(kept)]) == 0
    # cut back past the copy and forge the checkpoint beside the log: the copy shows it
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0])
    checkpoint = read_checkpoint(checkpoint_path(log))
    assert checkpoint is not None and checkpoint.entries == 4
    checkpoint_path(log).write_text(json.dumps({
        "format": CHECKPOINT_FORMAT, "format_version": 1, "entries": 1,
        "head": _hashes(log)[0], "signature": ""}))
    assert verify_log(log).ok
    assert not verify_log(log, checkpoint=kept).ok
    assert main(["audit", "verify", str(log), "--checkpoint", str(kept)]) == 1


# Artefacts ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_cohort() -> Cohort:
    return generate_cohort(CohortConfig(people=200, seed=3))


def _signed_workspace(root: Path, cohort: Cohort) -> Path:
    """Like ``encoded_workspace``, each provider signing its step with one key."""
    from linkage.synth import write_cohort

    write_cohort(cohort, root / "cohort")
    agreement = copy_protocols(root)
    assert main(["keygen", "--out", str(root / "project.key")]) == 0
    assert main(["audit", "keygen", "--out", str(root / "signer.pem")]) == 0
    for partner in PROVIDERS:
        assert main(["encode", "--agreement", str(agreement), "--partner", partner,
                     "--key", str(root / "project.key"), "--input",
                     str(root / "cohort" / f"{partner}.csv"), "--output",
                     str(root / "enc" / f"{partner}.npz"), "--quiet",
                     "--signing-key", str(root / "signer.pem")]) == 0
    return root


def _verify(log: Path, *artefacts: Path, public: Path | None = None) -> int:
    key = ["--public-key", str(public)] if public else []
    return main(["audit", "verify", str(log), *map(str, artefacts), *key])


def test_artefacts_recorded_by_the_log_pass(tmp_path: Path, tiny_cohort: Cohort,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    enc = encoded_workspace(tmp_path, tiny_cohort) / "enc"
    artefacts = [enc / f"{p}.npz" for p in PROVIDERS]
    capsys.readouterr()
    assert _verify(enc / "audit.jsonl", *artefacts) == 0
    out = capsys.readouterr().out
    assert "3 entries" in out and "3 of 3 artefacts" in out
    assert verify_log(enc / "audit.jsonl").head in out


def test_an_artefact_past_the_cut_shows_a_shortened_log(tmp_path: Path, tiny_cohort: Cohort,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    enc = encoded_workspace(tmp_path, tiny_cohort) / "enc"
    log = enc / "audit.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:2]))  # social_care's entry (the third) is cut ...
    checkpoint_path(log).unlink()       # ... and the checkpoint with it
    report = verify_artefacts(log, [enc / f"{p}.npz" for p in PROVIDERS])
    assert report.matched == 2 and len(report.problems) == 1
    assert report.problems[0].startswith(f"{enc / 'social_care.npz'}: the log holds no "
                                         f"intact entry with hash")
    capsys.readouterr()
    assert _verify(log, enc / "social_care.npz") == 1
    err = capsys.readouterr().err
    assert "social_care.npz: the log holds no intact entry" in err
    assert all(line.strip() for line in err.splitlines())


def test_an_edited_artefact_fails(tmp_path: Path, tiny_cohort: Cohort,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    enc = encoded_workspace(tmp_path, tiny_cohort) / "enc"
    with open(enc / "health.npz", "ab") as handle:
        handle.write(b"\0")
    capsys.readouterr()
    assert _verify(enc / "audit.jsonl", enc / "health.npz", enc / "education.npz") == 1
    err = capsys.readouterr().err
    assert "health.npz: its bytes differ from those its provenance records" in err
    assert "education.npz" not in err


def test_an_artefact_without_provenance_fails(tmp_path: Path, tiny_cohort: Cohort,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    enc = encoded_workspace(tmp_path, tiny_cohort) / "enc"
    provenance_path(enc / "health.npz").unlink()
    capsys.readouterr()
    assert _verify(enc / "audit.jsonl", enc / "health.npz") == 1
    assert "health.npz: has no provenance" in capsys.readouterr().err


def test_an_artefact_its_entry_does_not_list_fails(tmp_path: Path,
                                                   tiny_cohort: Cohort) -> None:
    enc = encoded_workspace(tmp_path, tiny_cohort) / "enc"
    sidecar = json.loads(provenance_path(enc / "education.npz").read_text())
    health_head = json.loads(provenance_path(enc / "health.npz").read_text())[
        "audit_chain_head"]
    provenance_path(enc / "education.npz").write_text(
        json.dumps({**sidecar, "audit_chain_head": health_head}))
    report = verify_artefacts(enc / "audit.jsonl", [enc / "education.npz"])
    assert report.matched == 0
    assert "does not list this artefact's digest among its outputs" in report.problems[0]


def test_signed_artefacts_and_checkpoint(tmp_path: Path, tiny_cohort: Cohort) -> None:
    root = _signed_workspace(tmp_path, tiny_cohort)
    log, artefacts = root / "enc" / "audit.jsonl", [root / "enc" / f"{p}.npz" for p in PROVIDERS]
    public = root / "signer.pem.pub"
    assert _verify(log, *artefacts, public=public) == 0
    assert main(["audit", "keygen", "--out", str(root / "other.pem")]) == 0
    assert _verify(log, *artefacts, public=root / "other.pem.pub") == 1
    # the last step's entry is cut: the signed checkpoint and the artefact both show it
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]))
    assert _verify(log, public=public) == 1
    checkpoint_path(log).unlink()
    assert _verify(log, artefacts[-1], public=public) == 1
    # with no checkpoint left, the next step appends and signs a new one: the log alone
    # looks whole again, but the artefact made past the cut still shows it
    key = read_signing_key(root / "signer.pem")
    append_entry(log, action="encode", actor="health", agreement=("a", "1"), signing_key=key)
    assert verify_log(log, key.public_key()).ok
    assert not verify_artefacts(log, [artefacts[-1]]).ok


# Dates in protocol check --------------------------------------------------------------------


def _dated_agreement(tmp_path: Path, review: dt.date, expiry: dt.date) -> Path:
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement, lambda d: d.update(start_date=dt.date(2020, 1, 1), review_date=review,
                                            expiry_date=expiry))
    return agreement


def test_check_passes_an_in_date_agreement(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    today = dt.date.today()
    agreement = _dated_agreement(tmp_path, today + dt.timedelta(days=30),
                                 today + dt.timedelta(days=400))
    assert main(["protocol", "check", str(agreement)]) == 0
    out, err = capsys.readouterr()
    assert "valid agreement" in out and err == ""


def test_check_warns_on_an_overdue_review(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    agreement = _dated_agreement(tmp_path, dt.date(2021, 1, 1),
                                 dt.date.today() + dt.timedelta(days=400))
    assert main(["protocol", "check", str(agreement)]) == 0
    out, err = capsys.readouterr()
    assert "valid agreement" in out
    assert err.count("\n") == 1
    assert "review overdue since 2021-01-01; review and re-approve it" in err


def test_check_fails_on_an_expired_agreement(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    agreement = _dated_agreement(tmp_path, dt.date(2021, 1, 1), dt.date(2022, 1, 1))
    assert main(["protocol", "check", str(agreement)]) == 1
    out, err = capsys.readouterr()
    assert "valid" not in out
    assert err.count("\n") == 1 and "expiry_date" in err and "2022-01-01" in err
