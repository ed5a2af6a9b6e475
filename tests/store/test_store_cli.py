"""`linkage match --store`: the audited step links into the store; keys stay stable and the
store never changes without its audit entry."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from linkage.cli import main
from linkage.errors import AuditLogError
from linkage.steps import match_encodings
from linkage.store import open_store
from linkage.synth import Cohort

from ..helpers import PROVIDERS, encoded_workspace


def _keys(folder: Path) -> pd.DataFrame:
    return pd.concat([pd.read_csv(folder / f"{p}.csv", dtype=str) for p in PROVIDERS]
                     ).sort_values(["partner", "record_id"], ignore_index=True)


def test_match_into_a_store_keeps_link_keys_from_run_to_run(tmp_path: Path,
                                                            small_cohort: Cohort) -> None:
    ws = encoded_workspace(tmp_path, small_cohort)
    agreement = str(ws / "protocols" / "agreement.yaml")
    store = str(ws / "unit.sqlite")
    encodings = [str(ws / "enc" / f"{p}.npz") for p in PROVIDERS]
    for month in ("m1", "m2"):
        assert main(["match", "--agreement", agreement, "--store", store, "--output",
                     str(ws / month), "--quiet", *encodings]) == 0
    assert _keys(ws / "m1").equals(_keys(ws / "m2"))
    changes = pd.read_csv(ws / "m2" / "changes.csv")
    assert changes.empty
    entries = [json.loads(x) for x in (ws / "m2" / "audit.jsonl").read_text().splitlines()]
    assert entries[-1]["action"] == "match" and entries[-1]["counts"]["kind"] == "update"
    assert main(["audit", "verify", str(ws / "m2" / "audit.jsonl"),
                 str(ws / "m2" / "health.csv")]) == 0
    # the audit log cannot be written: the run fails and the store is as it was
    with open_store(store) as opened:
        before = opened.dump()
    (ws / "bad.jsonl").mkdir()
    with pytest.raises(AuditLogError):
        match_encodings(agreement=agreement, encodings=encodings, output=ws / "m3",
                        store=store, audit_log=ws / "bad.jsonl")
    with open_store(store) as opened:
        assert opened.dump() == before
    assert not (ws / "m3" / "health.csv").exists()


def test_erasure_from_the_store_is_audited_and_lasting(tmp_path: Path,
                                                       small_cohort: Cohort) -> None:
    ws = encoded_workspace(tmp_path, small_cohort)
    agreement = str(ws / "protocols" / "agreement.yaml")
    store = str(ws / "unit.sqlite")
    encodings = [str(ws / "enc" / f"{p}.npz") for p in PROVIDERS]
    assert main(["match", "--agreement", agreement, "--store", store, "--output",
                 str(ws / "m1"), "--quiet", *encodings]) == 0
    keys = _keys(ws / "m1")
    shared = keys.groupby("link_key").partner.nunique()
    key = str(shared[shared > 1].index[0])
    held = keys[keys.link_key == key]
    log = ws / "unit-audit.jsonl"
    assert main(["rights", "erase", "--store", store, "--agreement", agreement, "--link-key",
                 key, "--audit-log", str(log)]) == 0
    with open_store(store) as opened:
        links = opened.links("first-1000-days")
        history = opened.history("first-1000-days")
    assert key not in set(links.link_key)
    erased = set(zip(held.partner, held.record_id, strict=True))
    assert not erased & set(zip(links.partner, links.record_id, strict=True))
    assert history.iloc[-1].event == "erased"
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["action"] == "erasure" and key not in log.read_text()
    assert sum(entry["counts"]["records_removed"].values()) == len(held)
    assert main(["rights", "erase", "--store", store, "--agreement", agreement, "--link-key",
                 key, "--audit-log", str(log)]) == 2  # nothing left to erase


def test_report_on_a_store_run_says_what_changed(tmp_path: Path, small_cohort: Cohort) -> None:
    ws = encoded_workspace(tmp_path, small_cohort)
    agreement = str(ws / "protocols" / "agreement.yaml")
    encodings = [str(ws / "enc" / f"{p}.npz") for p in PROVIDERS]
    assert main(["match", "--agreement", agreement, "--store", str(ws / "u.sqlite"),
                 "--output", str(ws / "m1"), "--quiet", *encodings]) == 0
    assert main(["report", "--agreement", agreement, "--links", str(ws / "m1"), "--output",
                 str(ws / "r.html")]) == 0
    text = (ws / "r.html").read_text()
    assert "This run (linkage store)" in text and " created" in text
    created = int((pd.read_csv(ws / "m1" / "changes.csv").event == "created").sum())
    assert f"{created:,} created" not in text or created % 5 == 0  # rounded, base 5
