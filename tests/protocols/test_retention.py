"""Retention: overdue artefacts are refused, listed, and purged with a certificate."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from linkage.cli import main
from linkage.errors import ProtocolError
from linkage.protocols import load_agreement
from linkage.protocols.retention import overdue_artefacts
from linkage.steps import match_encodings, release_attributes
from linkage.synth import Cohort

from ..helpers import PROVIDERS, encoded_workspace


def test_overdue_artefacts_are_refused_listed_and_purged(tmp_path: Path,
                                                         small_cohort: Cohort) -> None:
    ws = encoded_workspace(tmp_path, small_cohort)
    agreement = ws / "protocols" / "agreement.yaml"
    result = match_encodings(agreement=agreement,
                             encodings=[ws / "enc" / f"{p}.npz" for p in PROVIDERS],
                             output=ws / "links")
    loaded = load_agreement(agreement)
    later = dt.date.today() + dt.timedelta(days=400)  # past health's 365 days for links
    with pytest.raises(ProtocolError, match=r"retention\.links_days"):
        release_attributes(agreement=agreement, links=result.files["health"], partner="health",
                           input=ws / "cohort" / "health.csv", recipient="analysts",
                           output=ws / "out.csv", today=later)
    assert not (ws / "out.csv").exists()
    # the linkage unit keeps encodings 30 days: in 31 they are all overdue, links not yet
    soon = dt.date.today() + dt.timedelta(days=31)
    overdue = overdue_artefacts(loaded, "linkage_unit", ws / "enc", soon)
    assert sorted(o.path.name for o in overdue) == sorted(f"{p}.npz" for p in PROVIDERS)
    assert not overdue_artefacts(loaded, "linkage_unit", ws / "enc")  # not today
    assert main(["retention", "check", str(ws / "enc"), "--agreement", str(agreement),
                 "--party", "linkage_unit"]) == 0
    from linkage.protocols.retention import purge

    deleted = purge(loaded, "linkage_unit", ws / "enc", audit_log=ws / "enc" / "audit.jsonl",
                    today=soon)
    assert len(deleted) == 3 and not list((ws / "enc").glob("*.npz"))
    assert not list((ws / "enc").glob("*.provenance.json"))
    entry = json.loads((ws / "enc" / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["action"] == "retention-purge" and entry["actor"] == "linkage_unit"
    certificate = entry["detail"]
    assert {d["file"] for d in certificate["deleted"]} == {f"{p}.npz" for p in PROVIDERS}
    assert certificate["method"].startswith("Encodings deleted")
    assert all(d["clause"] == "retention.encodings_days" for d in certificate["deleted"])
