"""`linkage keygen` and `linkage encode`, with the protocol enforcement points of encode."""

import datetime as dt
import json
from pathlib import Path

import pytest

from linkage.cli import main
from linkage.encoding import read_encodings
from linkage.errors import ProtocolError
from linkage.steps import encode_extract
from linkage.synth import Cohort, write_cohort

from .helpers import copy_protocols, edit_yaml


@pytest.fixture()
def workspace(tmp_path: Path, small_cohort: Cohort) -> Path:
    write_cohort(small_cohort, tmp_path / "cohort")
    assert main(["keygen", "--out", str(tmp_path / "project.key")]) == 0
    return tmp_path


def _encode(ws: Path, agreement: Path, partner: str = "health", **kw: object) -> object:
    return encode_extract(agreement=agreement, partner=partner, key=ws / "project.key",
                          input=ws / "cohort" / f"{partner}.csv",
                          output=ws / "enc" / f"{partner}.npz", **kw)  # type: ignore[arg-type]


def test_cli_encode_writes_readable_file_and_audit(workspace: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    agreement = copy_protocols(workspace)
    for partner in ("health", "education", "social_care"):
        assert main(["encode", "--agreement", str(agreement), "--partner", partner,
                     "--key", str(workspace / "project.key"),
                     "--input", str(workspace / "cohort" / f"{partner}.csv"),
                     "--output", str(workspace / "enc" / f"{partner}.npz"), "--quiet"]) == 0
    back = read_encodings(workspace / "enc" / "education.npz")
    assert back.agreement_id == "first-1000-days" and back.partner == "education"
    entries = [json.loads(x) for x in (workspace / "enc" / "audit.jsonl").read_text().splitlines()]
    assert [e["actor"] for e in entries] == ["health", "education", "social_care"]
    assert all(e["outcome"] == "ok" for e in entries)


def test_keygen_refuses_existing_file(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--out", str(workspace / "project.key")]) == 2
    assert "never overwritten" in capsys.readouterr().err


def test_refuses_partner_not_in_agreement(workspace: Path) -> None:
    with pytest.raises(ProtocolError, match="'nursery' is not a party"):
        _encode(workspace, copy_protocols(workspace), partner="nursery")


def test_refuses_party_that_is_not_a_data_provider(workspace: Path) -> None:
    agreement = copy_protocols(workspace)
    (workspace / "cohort" / "analysts.csv").write_text("record_id\nx\n")
    with pytest.raises(ProtocolError, match="roles: 'analysts' is not a data_provider"):
        _encode(workspace, agreement, partner="analysts")


@pytest.mark.parametrize("today, clause", [(dt.date(2030, 1, 1), "expiry_date"),
                                           (dt.date(2025, 1, 1), "start_date")])
def test_refuses_agreement_not_in_force(workspace: Path, today: dt.date, clause: str) -> None:
    with pytest.raises(ProtocolError, match=clause):
        _encode(workspace, copy_protocols(workspace), today=today)
    log = (workspace / "enc" / "audit.jsonl").read_text()
    assert '"outcome": "refused"' in log


def test_refuses_column_not_permitted(workspace: Path) -> None:
    from linkage.protocols import load_agreement
    from linkage.protocols.enforcement import authorise_encode

    loaded = load_agreement(copy_protocols(workspace))
    with pytest.raises(ProtocolError, match=r"identifiers\.given_name: column 'preferred_name'"):
        authorise_encode(loaded, "education", columns={"given_name": "preferred_name"})


def test_refuses_weaker_schema(workspace: Path) -> None:
    from linkage.protocols import load_agreement
    from linkage.protocols.enforcement import authorise_encode

    loaded = load_agreement(copy_protocols(workspace))
    weak = loaded.agreement.encoding.model_copy(update={"record_filter_bits": 256})
    with pytest.raises(ProtocolError, match=r"record_filter_bits: the schema is weaker"):
        authorise_encode(loaded, "health", schema=weak)


def test_missing_column_named_with_file(workspace: Path) -> None:
    agreement = copy_protocols(workspace)
    edit_yaml(agreement.parent / "health.yaml",
              lambda d: (d["identifiers"].update(postcode="home_postcode"),
                         d["data_dictionary"].update(home_postcode="quasi_identifier")))
    with pytest.raises(Exception, match=r"health.csv: missing column\(s\) home_postcode"):
        _encode(workspace, agreement)
    assert not (workspace / "enc" / "health.npz").exists()


def test_refuses_extract_whose_dates_are_all_in_another_format(workspace: Path) -> None:
    """Every date of birth in the wrong format would silently salt the names with nothing:
    the data_quality clause refuses it, nothing is written, the refusal names the clause."""
    import pandas as pd

    from linkage.errors import InputDataError

    extract = workspace / "cohort" / "health.csv"
    frame = pd.read_csv(extract, dtype=str, keep_default_na=False)
    frame["date_of_birth"] = pd.to_datetime(frame["date_of_birth"]).dt.strftime("%d/%m/%Y")
    frame.to_csv(extract, index=False)
    with pytest.raises(InputDataError, match="date_of_birth: 100% of") as caught:
        _encode(workspace, copy_protocols(workspace))
    assert "data_quality.maximum_missing_share" in str(caught.value)
    assert not (workspace / "enc" / "health.npz").exists()
    assert not [p for p in (workspace / "enc").iterdir()
                if p.name not in ("audit.jsonl", "audit.jsonl.checkpoint")]
    entry = json.loads((workspace / "enc" / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["outcome"] == "refused" and entry["detail"]["clause"] == "data_quality"
