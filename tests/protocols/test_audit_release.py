"""Audit log tamper evidence, release refusals and small-number suppression."""

import json
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from linkage.cli import main
from linkage.errors import ProtocolError
from linkage.protocols import DisclosureControl, load_agreement
from linkage.protocols.audit import append_entry, verify_log
from linkage.protocols.disclosure import apply_disclosure_control
from linkage.protocols.enforcement import authorise_release
from linkage.steps import release_attributes

from ..helpers import EXAMPLE


def _log(tmp_path: Path, n: int = 4, key: Ed25519PrivateKey | None = None) -> Path:
    path = tmp_path / "audit.jsonl"
    for i in range(n):
        append_entry(path, action="encode", actor=f"p{i}", agreement=("a", "1"),
                     inputs={"input": f"{i:064x}"}, counts={"records": i}, signing_key=key)
    return path


def test_intact_log_verifies(tmp_path: Path) -> None:
    report = verify_log(_log(tmp_path))
    assert report.ok and report.entries == 4


@pytest.mark.parametrize("tamper, where", [
    (lambda lines: [lines[0], lines[1].replace('"records": 1', '"records": 9'), *lines[2:]],
     "line 2: entry was edited"),
    (lambda lines: [lines[0], *lines[2:]], "line 2: chain broken"),
    (lambda lines: [lines[0], lines[2], lines[1], lines[3]], "line 2: chain broken"),
    (lambda lines: [lines[0], lines[1], lines[1], *lines[2:]], "line 3: chain broken"),
])
def test_tampering_is_detected_and_located(tmp_path: Path, tamper, where: str) -> None:  # type: ignore[no-untyped-def]
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(tamper(lines)) + "\n")
    report = verify_log(path)
    assert not report.ok
    assert any(where in p for p in report.problems), report.problems


def test_signed_entries(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = _log(tmp_path, 2, key)
    assert verify_log(path, key.public_key()).ok
    other = Ed25519PrivateKey.generate().public_key()
    assert not verify_log(path, other).ok


def test_audit_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _log(tmp_path)
    assert main(["audit", "verify", str(path)]) == 0
    entries = [json.loads(x) for x in path.read_text().splitlines()]
    entries[0]["actor"] = "mallory"
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    assert main(["audit", "verify", str(path)]) == 1
    assert "line 1: entry was edited" in capsys.readouterr().err


def test_release_refusals() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    assert authorise_release(loaded, "health", "analysts") == (
        "school_readiness", ["birth_weight_g", "smoking_in_pregnancy"])
    with pytest.raises(ProtocolError, match="permits no release to 'education'"):
        authorise_release(loaded, "health", "education")
    with pytest.raises(ProtocolError, match="for purpose 'safeguarding'"):
        authorise_release(loaded, "health", "analysts", purpose="safeguarding")
    with pytest.raises(ProtocolError, match="nhs_number may not be released"):
        authorise_release(loaded, "health", "analysts", attributes=["nhs_number"])
    with pytest.raises(ProtocolError, match="not a data_provider"):
        authorise_release(loaded, "analysts", "health")
    with pytest.raises(ProtocolError, match="not a party"):
        authorise_release(loaded, "health", "newspaper")


def test_release_writes_only_link_keys_and_permitted_attributes(tmp_path: Path) -> None:
    extract = pd.DataFrame({"record_id": ["h1", "h2", "h3"], "nhs_number": ["1", "2", "3"],
                            "given_name": ["A", "B", "C"], "birth_weight_g": ["3000", "2500",
                                                                               "4000"],
                            "smoking_in_pregnancy": ["N", "Y", "N"]})
    extract.to_csv(tmp_path / "health.csv", index=False)
    pd.DataFrame({"link_key": ["7", "9"], "partner": ["health", "health"],
                  "record_id": ["h2", "h3"]}).to_csv(tmp_path / "links.csv", index=False)
    result = release_attributes(agreement=EXAMPLE / "agreement.yaml",
                                links=tmp_path / "links.csv", partner="health",
                                input=tmp_path / "health.csv", recipient="analysts",
                                output=tmp_path / "out" / "release.csv")
    out = pd.read_csv(result.output, dtype=str)
    assert list(out.columns) == ["link_key", "birth_weight_g", "smoking_in_pregnancy"]
    assert out.link_key.tolist() == ["7", "9"]
    text = result.output.read_text()
    assert "h2" not in text and "B" not in text.split("\n", 1)[1]
    assert json.loads((tmp_path / "out" / "audit.jsonl").read_text().splitlines()[-1])[
        "action"] == "release"


def test_disclosure_control() -> None:
    counts = pd.Series({"a": 3, "b": 12, "c": 10, "d": 0, "e": 248})
    shown = apply_disclosure_control(counts, DisclosureControl(minimum_cell_count=10,
                                                               rounding_base=5))
    assert shown.to_dict() == {"a": "<10", "b": "10", "c": "10", "d": "<10", "e": "250"}


def test_signed_agreement_needs_a_signing_key(tmp_path: Path, small_cohort) -> None:  # type: ignore[no-untyped-def]
    from linkage.steps import encode_extract
    from linkage.synth import write_cohort

    from ..helpers import copy_protocols, edit_yaml

    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement, lambda d: d["audit"].update(signed=True))
    write_cohort(small_cohort, tmp_path / "cohort")
    assert main(["keygen", "--out", str(tmp_path / "project.key")]) == 0
    args = dict(agreement=agreement, partner="health", key=tmp_path / "project.key",
                input=tmp_path / "cohort" / "health.csv", output=tmp_path / "enc" / "h.npz")
    with pytest.raises(ProtocolError, match=r"audit\.signed"):
        encode_extract(**args)  # type: ignore[arg-type]
    assert main(["audit", "keygen", "--out", str(tmp_path / "signer.pem")]) == 0
    encode_extract(**args, signing_key=tmp_path / "signer.pem")  # type: ignore[arg-type]
    log = tmp_path / "enc" / "audit.jsonl"
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    assert entries[-1]["outcome"] == "ok" and "signature" in entries[-1]
    public = str(tmp_path / "signer.pem.pub")
    # the first entry (the refusal, before any key was given) is unsigned
    assert main(["audit", "verify", str(log), "--public-key", public]) == 1
    signed_log = tmp_path / "signed.jsonl"
    encode_extract(**args, signing_key=tmp_path / "signer.pem",  # type: ignore[arg-type]
                   audit_log=signed_log)
    assert main(["audit", "verify", str(signed_log), "--public-key", public]) == 0
    assert main(["audit", "keygen", "--out", str(tmp_path / "other.pem")]) == 0
    assert main(["audit", "verify", str(signed_log), "--public-key",
                 str(tmp_path / "other.pem.pub")]) == 1
