"""Opt-outs and objections are dropped before hashing; only their count is audited."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from linkage.cli import main
from linkage.encoding import read_encodings
from linkage.errors import InputDataError, ProtocolError
from linkage.steps import encode_extract
from linkage.synth import Cohort, write_cohort

from ..helpers import copy_protocols, edit_yaml


@pytest.fixture()
def ws(tmp_path: Path, small_cohort: Cohort) -> Path:
    write_cohort(small_cohort, tmp_path / "cohort")
    copy_protocols(tmp_path)
    assert main(["keygen", "--out", str(tmp_path / "project.key")]) == 0
    return tmp_path


def _encode(ws: Path, opt_outs: Path | None = None, today: dt.date | None = None) -> object:
    return encode_extract(agreement=ws / "protocols" / "agreement.yaml", partner="health",
                          key=ws / "project.key", input=ws / "cohort" / "health.csv",
                          output=ws / "enc" / "health.npz", opt_outs=opt_outs, today=today)


def test_opted_out_records_never_reach_the_encoding_file(ws: Path) -> None:
    health = pd.read_csv(ws / "cohort" / "health.csv", dtype=str, keep_default_na=False)
    by_id = health.record_id.iloc[:5].tolist()
    with_nhs = health[health.nhs_number != ""].iloc[10:13]
    listed = pd.DataFrame({"record_id": by_id + [""] * 3,
                           "nhs_number": [""] * 5 + [f"{n[:3]} {n[3:6]} {n[6:]}"
                                                      for n in with_nhs.nhs_number],
                           "as_of": dt.date.today().isoformat()})
    listed.to_csv(ws / "opt-outs.csv", index=False)
    result = _encode(ws, ws / "opt-outs.csv")
    assert result.opted_out == 8 and result.records == len(health) - 8  # type: ignore[attr-defined]
    kept = set(read_encodings(ws / "enc" / "health.npz").encodings.record_ids)
    assert not kept & {*by_id, *with_nhs.record_id}
    entry = json.loads((ws / "enc" / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["counts"]["opted_out"] == 8 and "opt-out list" in entry["inputs"]
    text = (ws / "enc" / "audit.jsonl").read_text()
    assert not any(rid in text for rid in by_id)


def test_a_required_list_must_be_given_and_fresh(ws: Path) -> None:
    agreement = ws / "protocols" / "agreement.yaml"
    edit_yaml(agreement, lambda d: d.update(opt_outs={
        "applies": ["national_data_opt_out", "article_21_objection"], "required": True,
        "maximum_age_days": 7}))
    with pytest.raises(ProtocolError, match=r"opt_outs\.required"):
        _encode(ws)
    pd.DataFrame({"record_id": ["x"], "as_of": ["2026-01-01"]}).to_csv(
        ws / "old.csv", index=False)
    with pytest.raises(ProtocolError, match=r"opt_outs\.maximum_age_days"):
        _encode(ws, ws / "old.csv", today=dt.date(2026, 6, 1))
    assert not (ws / "enc" / "health.npz").exists()
    pd.DataFrame({"name": ["x"]}).to_csv(ws / "bad.csv", index=False)
    with pytest.raises(InputDataError, match="record_id or an nhs_number"):
        _encode(ws, ws / "bad.csv")
