"""The HTML report renders from a match run and holds no identifiers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from linkage.cli import main
from linkage.demo import run_demo
from linkage.matching import MatchModel
from linkage.protocols import DisclosureControl
from linkage.report import estimated_quality, render_report


def test_report_from_demo(tmp_path: Path) -> None:
    run_demo(out_dir=tmp_path, people=1_200, seed=5, quiet=True)
    text = (tmp_path / "report.html").read_text()
    assert text.startswith("<!doctype html>") and text.count("<svg") >= 8
    assert "health ~ education" in text and "Waterfall, strongest link" in text
    assert "<th>level 0</th>" in text and "given_name" in text
    assert "Counts below 10 are shown as &lt;10" in text
    assert "<script" not in text and "http://" not in text  # self-contained, offline
    cohort = pd.read_csv(tmp_path / "cohort" / "health.csv", dtype=str)
    for value in cohort.record_id.head(50).tolist() + cohort.nhs_number.dropna().head(50).tolist():
        assert value not in text
    out = tmp_path / "again.html"
    assert main(["report", "--agreement", str(tmp_path / "protocols" / "agreement.yaml"),
                 "--links", str(tmp_path / "linkage_unit" / "links.csv"),
                 "--output", str(out)]) == 0
    assert out.read_text() == text


def test_small_numbers_suppressed_in_counts() -> None:
    links = pd.DataFrame({"cluster_id": [0, 0, 1, 1, 2, 2, 2],
                          "partner": ["h", "e", "h", "e", "h", "e", "s"],
                          "record_id": list("abcdefg"), "probability": 0.9})
    summary = MatchModel(threshold=0.5, fields=[], sizes={"h": 3, "e": 3, "s": 1}, pairs=[])
    text = render_report(links, summary, DisclosureControl(minimum_cell_count=10,
                                                           rounding_base=5))
    assert "<td>e + h</td><td>&lt;10</td>" in text
    assert "<td>e + h + s</td><td>&lt;10</td>" in text


def test_estimated_quality_is_monotone() -> None:
    rng = np.random.default_rng(0)
    histogram = rng.integers(0, 1000, size=80).astype(float)
    q = estimated_quality(histogram)
    assert (np.diff(q.recall) <= 1e-9).all()
    assert q.recall.iloc[0] == pytest.approx(1.0)
    assert 0 <= q.precision.min() <= q.precision.max() <= 1 + 1e-12


def test_match_model_round_trips_and_refuses_other_files() -> None:
    from linkage.errors import InputDataError

    model = MatchModel(threshold=0.7, fields=["a"], sizes={"h": 3}, pairs=[])
    again = MatchModel.from_json(model.to_json())
    assert again == model and again.threshold == 0.7
    for text in ("[]", "{", '{"format": "other"}', model.to_json().replace('"threshold": 0.7',
                                                                            '"threshold": 7')):
        with pytest.raises(InputDataError, match="model"):
            MatchModel.from_json(text, source="m.json")
