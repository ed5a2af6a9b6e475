"""Subject access and erasure by link key, with audit evidence that carries no identifier."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from linkage.cli import main
from linkage.errors import InputDataError
from linkage.steps import match_encodings
from linkage.steps.rights import erase_link_key, find_link_key, list_link_key
from linkage.synth import Cohort

from ..helpers import PROVIDERS, clusters_of, encoded_workspace


def test_find_list_and_erase_a_child_by_link_key(tmp_path: Path, small_cohort: Cohort,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ws = encoded_workspace(tmp_path, small_cohort)
    agreement = ws / "protocols" / "agreement.yaml"
    out = ws / "links"
    match_encodings(agreement=agreement, encodings=[ws / "enc" / f"{p}.npz" for p in PROVIDERS],
                    output=out)
    frames = {p: pd.read_csv(out / f"{p}.csv", dtype=str) for p in PROVIDERS}
    shared = set(frames["health"].link_key) & set(frames["education"].link_key)
    record = frames["health"][frames["health"].link_key.isin(shared)].record_id.iloc[0]
    key = find_link_key(agreement=agreement, partner="health", links=out / "health.csv",
                        record_id=record)
    held = list_link_key(agreement=agreement, links=out, link_key=key)
    assert held.records["health"] == [record] and "education" in held.records
    assert main(["rights", "list", str(out), "--agreement", str(agreement), "--link-key",
                 key]) == 0
    assert record in capsys.readouterr().out
    before = clusters_of(out)
    erase_link_key(agreement=agreement, links=out, link_key=key)
    after = clusters_of(out)
    gone = {(p, r) for p, ids in held.records.items() for r in ids}
    assert after == {c for c in before if not c & gone}  # only that child's rows left
    with pytest.raises(InputDataError, match="nothing to erase"):
        erase_link_key(agreement=agreement, links=out, link_key=key)
    log = (out / "audit.jsonl").read_text()
    assert key not in log and record not in log
    entry = json.loads(log.splitlines()[-1])
    assert entry["action"] == "erasure" and entry["counts"]["records_removed"]["health"] == 1
    assert main(["audit", "verify", str(out / "audit.jsonl"), str(out / "health.csv")]) == 0
