"""Protocol files: good and bad fixtures, every problem reported with file, line, clause."""

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.cli import main
from linkage.protocols import (
    Agreement,
    PartnerProtocol,
    ProtocolProblems,
    load_agreement,
    load_model,
)
from linkage.protocols.diff import describe_changes
from linkage.protocols.explain import explain_agreement
from linkage.protocols.json_schema import SCHEMAS, schema_text

from ..helpers import EXAMPLE, copy_protocols, edit_yaml

DATA = Path(__file__).resolve().parent.parent / "data" / "protocols"


def test_example_files_are_valid() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    assert set(loaded.protocols) == {"health", "education", "social_care", "linkage_unit",
                                     "analysts"}


@pytest.mark.parametrize("path", sorted(DATA.glob("bad-*.yaml")), ids=lambda p: p.stem)
def test_bad_fixtures_report_line_and_clause(path: Path) -> None:
    header = path.read_text().splitlines()[0]
    assert header.startswith("# expect:")
    wants = [w.strip() for w in header.removeprefix("# expect:").split("|")]
    model = Agreement if "agreement" in path.stem else PartnerProtocol
    with pytest.raises(ProtocolProblems) as info:
        load_model(path, model)
    message = str(info.value)
    for want in wants:
        assert want in message, (want, message)
    assert "Input should be" not in message or "input_value" not in message
    for problem in info.value.problems:
        assert problem.file == path


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement, lambda d: d.update(controllers="shared", tittle="typo",
                                            dpia_reference=""))
    edit_yaml(agreement.parent / "health.yaml", lambda d: d.update(onward_sharing="maybe"))
    with pytest.raises(ProtocolProblems) as info:
        load_agreement(agreement)
    clauses = {p.clause for p in info.value.problems}
    assert {"controllers", "tittle", "dpia_reference", "onward_sharing"} <= clauses
    assert all(p.line for p in info.value.problems)


def test_good_minimal_protocol() -> None:
    assert load_model(DATA / "good-protocol-minimal.yaml", PartnerProtocol).partner == "analysts"


def test_cross_file_problems(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    # (releasing an identifier is refused by the protocol file alone, before these checks:
    # see test_data_dictionary.py)
    edit_yaml(agreement.parent / "health.yaml", lambda d: (
        d["releases"][0].update(purpose="marketing"),
        d["data_dictionary"].update(shoe="quasi_identifier"),
        d["identifiers"].update(shoe_size="shoe")))
    edit_yaml(agreement.parent / "linkage_unit.yaml",
              lambda d: d.update(roles=["linkage_unit", "data_provider"],
                                 record_id_column="id", identifiers={"sex": "sex"}))
    with pytest.raises(ProtocolProblems) as info:
        load_agreement(agreement)
    text = str(info.value)
    assert "'marketing' is not a purpose" in text
    assert "identifiers.shoe_size" in text
    assert "may not also be a data provider" in text


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["version", "title", "controllers", "dpia_reference", "linkage_unit",
                        "start_date", "parties", "encoding", "purposes"]),
       st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(),
                                                                         max_size=2)))
def test_any_corrupted_clause_is_refused_cleanly(clause: str, value: object) -> None:
    data = yaml.safe_load((EXAMPLE / "agreement.yaml").read_text())
    data[clause] = value
    try:
        Agreement.model_validate(data)
    except Exception as error:  # pydantic's error, turned into ours by load_model
        assert type(error).__name__ == "ValidationError"
    else:
        assert clause in ("title", "dpia_reference", "version") and isinstance(value, str)


def test_json_schema_committed_copy_is_fresh() -> None:
    for name in SCHEMAS:
        committed = (EXAMPLE.parent / "schema" / name).read_text()
        assert committed == schema_text(name), "run: linkage protocol schema --out protocols/schema"
        assert json.loads(committed)["additionalProperties"] is False


def test_explain_reads_like_a_summary() -> None:
    text = explain_agreement(load_agreement(EXAMPLE / "agreement.yaml"))
    assert "Health (" in text and "NHS trust" in text
    assert "It will not send them in readable form" in text
    assert "Counts below 10 children are suppressed" in text
    assert "never the key" in text


def test_diff_in_plain_words() -> None:
    old = load_model(EXAMPLE / "agreement.yaml", Agreement)
    new = old.model_copy(update={"expiry_date": dt.date(2030, 3, 31),
                                 "legal_powers": (*old.legal_powers, "Childcare Act 2006")})
    changes = describe_changes(old, new)
    assert "expiry date extended from 2029-03-31 to 2030-03-31" in changes
    assert any(c.startswith("legal powers widened: added Childcare Act 2006") for c in changes)


def test_protocol_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocol", "check", str(EXAMPLE / "agreement.yaml")]) == 0
    bad = sorted(DATA.glob("bad-*.yaml"))[0]
    assert main(["protocol", "check", str(bad)]) == 1
    assert main(["protocol", "explain", str(EXAMPLE / "health.yaml")]) == 0
    assert "Will encode" in capsys.readouterr().out
