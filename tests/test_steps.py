"""The audited step layer: outputs never destroy inputs, never exist without their audit
entry, leave nothing half-written; links do not depend on the order of the inputs."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.cohort_sources import encode_extracts
from linkage.cli import main
from linkage.encoding import ProjectKey
from linkage.errors import AuditLogError, InputDataError, ProtocolError
from linkage.files import TEMP_SUFFIX, remove_stale_temporaries
from linkage.matching import Linker
from linkage.protocols import load_agreement
from linkage.steps import audited_step, match_encodings
from linkage.synth import Cohort

from .helpers import EXAMPLE, clusters_of, copy_protocols, encoded_workspace

PARTNERS = ("health", "education", "social_care")


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, small_cohort: Cohort) -> Path:
    return encoded_workspace(tmp_path_factory.mktemp("steps"), small_cohort)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entries(log: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith((TEMP_SUFFIX, ".tmp"))]


@pytest.mark.parametrize("target", ["input", "links", "log", "agreement", "protocol"])
def test_an_output_may_not_overwrite_an_input_or_the_log(ws: Path, target: str) -> None:
    links = ws / "links" / "health.csv"
    if not links.exists():
        match_encodings(agreement=ws / "protocols" / "agreement.yaml",
                        encodings=[ws / "enc" / f"{p}.npz" for p in PARTNERS],
                        output=ws / "links", audit_log=ws / "audit.jsonl")
    paths = {"input": ws / "cohort" / "health.csv", "links": links,
             "log": ws / "audit.jsonl", "agreement": ws / "protocols" / "agreement.yaml",
             "protocol": ws / "protocols" / "health.yaml"}
    before = {p: _digest(p) for p in paths.values()}
    entries = len(_entries(ws / "audit.jsonl"))
    code = main(["release", "--agreement", str(paths["agreement"]), "--links", str(links),
                 "--partner", "health", "--input", str(paths["input"]), "--recipient",
                 "analysts", "--output", str(paths[target]),
                 "--audit-log", str(ws / "audit.jsonl")])
    assert code == 2
    after = {p: _digest(p) for p in paths.values() if p != paths["log"]}
    assert after == {p: d for p, d in before.items() if p != paths["log"]}
    log = _entries(ws / "audit.jsonl")
    assert len(log) == entries + 1 and log[-1]["outcome"] == "refused"
    assert not _leftovers(ws)


def test_encode_may_not_overwrite_the_key(ws: Path) -> None:
    key = ws / "key.npz"  # a key file that happens to end in .npz
    key.write_bytes((ws / "project.key").read_bytes())
    os.chmod(key, 0o600)
    before = _digest(key)
    assert main(["encode", "--agreement", str(ws / "protocols" / "agreement.yaml"),
                 "--partner", "health", "--key", str(key), "--input",
                 str(ws / "cohort" / "health.csv"), "--output", str(key), "--quiet"]) == 2
    assert _digest(key) == before and not _leftovers(ws)


def test_match_output_may_not_replace_an_encoding_file_or_the_log(ws: Path) -> None:
    encodings = [str(ws / "enc" / f"{p}.npz") for p in PARTNERS]
    agreement = str(ws / "protocols" / "agreement.yaml")
    npz = ws / "enc" / "health.npz"
    before = _digest(npz)
    # --output names a folder; an existing encoding file is refused, not replaced
    assert main(["match", "--agreement", agreement, "--output", str(npz), "--quiet",
                 *encodings]) == 2
    assert _digest(npz) == before
    # the audit log where a provider's links file would go: refused, log kept
    log = ws / "out" / "health.csv"
    log.parent.mkdir(exist_ok=True)
    log.write_text("")
    assert main(["match", "--agreement", agreement, "--output", str(ws / "out"), "--quiet",
                 "--audit-log", str(log), *encodings]) == 2
    assert log.read_text() == ""  # a folder of files match did not write is refused first
    release = ["release", "--agreement", agreement, "--links", str(ws / "x.csv"), "--partner",
               "health", "--input", str(ws / "cohort" / "health.csv"), "--recipient",
               "analysts", "--output", str(ws / "cohort" / "health.csv")]
    before = _digest(ws / "cohort" / "health.csv")
    assert main(release) == 2
    assert _digest(ws / "cohort" / "health.csv") == before


def test_an_output_appears_only_after_its_audit_entry(ws: Path, tmp_path: Path) -> None:
    """The audit log cannot be written (it is a folder): the step fails with the audit
    error, and no output exists without its entry."""
    log = tmp_path / "audit.jsonl"
    log.mkdir()
    out = tmp_path / "links"
    with pytest.raises(AuditLogError):
        match_encodings(agreement=ws / "protocols" / "agreement.yaml",
                        encodings=[ws / "enc" / f"{p}.npz" for p in PARTNERS], output=out,
                        audit_log=log)
    assert not list(out.glob("*")) and not _leftovers(tmp_path)


def test_a_failed_refusal_entry_does_not_hide_the_real_error(ws: Path, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.mkdir()
    step = audited_step("encode", agreement=ws / "protocols" / "agreement.yaml", actor="health",
                        inputs={}, outputs={"x": tmp_path / "x"}, audit_log=log,
                        today=dt.date(2099, 1, 1))
    with pytest.raises(ProtocolError, match="expiry_date") as caught, step:
        pass
    assert "could not be audited" in " ".join(getattr(caught.value, "__notes__", []))


def test_a_failing_body_leaves_no_output_and_is_audited_with_its_clause(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    log = tmp_path / "audit.jsonl"
    out = tmp_path / "out.csv"
    running = audited_step("release", agreement=agreement, actor="health", inputs={},
                           outputs={"release": out}, audit_log=log)
    with pytest.raises(InputDataError), running as step:
        step.write("release", out, lambda handle: handle.write("half"))
        raise InputDataError(f"{agreement}: releases.attributes: refused for the test")
    assert not out.exists() and not _leftovers(tmp_path)
    entry = _entries(log)[-1]
    assert entry["outcome"] == "refused"
    assert entry["detail"] == {"error": "InputDataError", "clause": "releases.attributes"}


def test_temporaries_of_killed_runs_are_removed_next_time(tmp_path: Path) -> None:
    target = tmp_path / "links.csv"
    dead = tmp_path / f".links.csv.999999999.abcd{TEMP_SUFFIX}"
    alive = tmp_path / f".links.csv.{os.getpid()}.abcd{TEMP_SUFFIX}"
    dead.write_text("x")
    alive.write_text("x")
    assert remove_stale_temporaries(target) == 1
    assert not dead.exists() and alive.exists()


def test_audit_log_and_outputs_are_private_whatever_the_umask(ws: Path, tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        out = tmp_path / "links"
        match_encodings(agreement=ws / "protocols" / "agreement.yaml",
                        encodings=[ws / "enc" / f"{p}.npz" for p in PARTNERS], output=out)
    finally:
        os.umask(old)
    for path in (out / "health.csv", out / "audit.jsonl", out / "match-model.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_cli_failures_are_one_line_without_traceback(ws: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out" / "health.csv").mkdir(parents=True)  # a folder where a file goes
    code = main(["match", "--agreement", str(ws / "protocols" / "agreement.yaml"), "--output",
                 str(tmp_path / "out"), "--quiet",
                 *(str(ws / "enc" / f"{p}.npz") for p in PARTNERS)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "folder" in err


@pytest.fixture(scope="module")
def sources(small_cohort: Cohort) -> list:  # type: ignore[type-arg]
    return encode_extracts(small_cohort.extracts, load_agreement(EXAMPLE / "agreement.yaml"),
                           keys=ProjectKey(bytes(range(32))), noise_seed=1)


@settings(max_examples=5, deadline=None)
@given(st.permutations(range(3)))
def test_links_do_not_depend_on_the_order_of_the_sources(sources: list,  # type: ignore[type-arg]
                                                         order: list[int]) -> None:
    expected = Linker().link(sources).links
    got = Linker().link([sources[i] for i in order]).links
    assert got.equals(expected)


def test_every_order_of_encoding_files_writes_the_same_links(ws: Path, tmp_path: Path) -> None:
    files = [ws / "enc" / f"{p}.npz" for p in PARTNERS]
    found = []
    for k, order in enumerate(itertools.permutations(files)):
        if k % 2:  # three of the six orders are enough to show it
            continue
        match_encodings(agreement=ws / "protocols" / "agreement.yaml", encodings=list(order),
                        output=tmp_path / f"links{k}")
        found.append(clusters_of(tmp_path / f"links{k}"))
    assert found[0] == found[1] == found[2]
