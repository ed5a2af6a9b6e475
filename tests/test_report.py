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
    links = tmp_path / "linkage_unit"  # the match output folder
    assert main(["report", "--agreement", str(tmp_path / "protocols" / "agreement.yaml"),
                 "--links", str(links),
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


def _planted() -> tuple[pd.DataFrame, MatchModel]:
    """Links and a model whose raw counts are distinctive numbers that the disclosure
    control must round (not multiples of 5) or suppress (below 10)."""
    from linkage.matching.summary import PairSummary

    classes = [(1_363, ["health", "education"]),
               (108, ["health", "education", "social care"]),
               (3, ["health", "education", "social care", "early help"])]
    rows: list[tuple[int, str]] = []
    for count, partners in classes:
        for _ in range(count):
            cluster = len(rows)
            rows += [(cluster, p) for p in partners]
    frame = pd.DataFrame(rows, columns=["cluster_id", "partner"])
    frame["record_id"] = [f"r{i}" for i in range(len(frame))]
    frame["probability"] = 0.9
    histogram = [0] * 80
    histogram[20], histogram[60], histogram[70] = 97_999, 641, 7
    pair = PairSummary(left="health", right="education", lambda_=0.000123,
                       m=[[0.95, 0.05]], u=[[0.0123, 0.9877]], candidates=98_761,
                       links_above_threshold=113, pairs_per_pass={"a": 98_761},
                       skipped_blocks={}, weight_histogram=histogram,
                       examples=[{"label": "strongest link", "prior": -12.9,
                                  "fields": {"given_name": 8.1}, "levels": {"given_name": 0},
                                  "total": -4.8}])
    model = MatchModel(threshold=0.5, fields=["given_name"],
                       sizes={"health": 2_357, "education": 2_113, "social care": 1_131,
                              "early help": 3}, pairs=[pair])
    return frame, model


def _svg(text: str, title: str) -> str:
    start = text.index(f'aria-label="{title}"')
    return text[start:text.index("</svg>", start)]


def test_no_raw_count_reaches_the_report() -> None:
    import re

    frame, model = _planted()
    text = render_report(frame, model, DisclosureControl(minimum_cell_count=10,
                                                         rounding_base=5))
    # raw: 3,062 records, 1,474 clusters, 1,363 / 108 / 3 clusters by size, 1,474 / 1,474 /
    # 111 / 3 linked per partner, partner sizes, candidates, links above, histogram bins
    for raw in (3_062, 1_474, 1_363, 108, 111, 2_357, 2_113, 1_131, 98_761, 113, 97_999, 641):
        for written in (str(raw), f"{raw:,}"):
            assert not re.search(rf"(?<![\d.,]){re.escape(written)}(?!\d|[.,]\d)", text), raw
    assert "3,060 linked records in 1,475 clusters" in text
    assert "98,760 candidate pairs; 115 at or above the threshold" in text
    assert "<td>early help</td><td>&lt;10</td><td>&lt;10</td>" in text
    assert "<td>social care</td><td>1,130</td><td>110</td>" in text
    assert "<td>education + health</td><td>1,365</td>" in text
    assert "<td>early help + education + health + social care</td><td>&lt;10</td>" in text
    # every whole number of 10 or more in the text outside the charts is a published count
    body = text[text.index("<body>"):]
    prose = re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", " ", body, flags=re.S))
    for token in re.findall(r"(?<![\d.,])\d[\d,]*(?:\.\d+)?", prose):
        if "." not in token and int(token.replace(",", "")) >= 10:
            assert int(token.replace(",", "")) % 5 == 0, token
    # the rule is stated first thing in the counts section, from the agreement
    counts = text[text.index("<h2 id='counts'>Counts</h2>"):]
    assert counts.startswith("<h2 id='counts'>Counts</h2><p><strong>Disclosure control."
                             "</strong> Counts below 10 are shown as &lt;10; others are "
                             "rounded to the nearest multiple of 5, halves up (the agreement")
    # model parameters: lambda at 3 significant figures
    assert "&lambda; = 0.000123." in text


def test_cluster_size_chart_is_drawn_from_disclosed_counts() -> None:
    import re

    frame, model = _planted()
    text = render_report(frame, model, DisclosureControl(minimum_cell_count=10,
                                                         rounding_base=5))
    chart = _svg(text, "clusters by records per cluster")
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', chart)]
    labels = re.findall(r'text-anchor="middle">([^<]*)</text>', chart)
    assert labels == ["1,365", "110", "&lt;10"]
    assert heights[2] == 0.0
    assert heights[0] / heights[1] == pytest.approx(1_365 / 110, abs=0.05)
    assert heights[0] / heights[1] != pytest.approx(1_363 / 108, abs=0.05)
    # a size with no cluster between two that have some is drawn like any small count
    frame = frame[frame.cluster_id.map(frame.groupby("cluster_id").size()) != 3]
    chart = _svg(render_report(frame, model, DisclosureControl(minimum_cell_count=10,
                                                               rounding_base=5)),
                 "clusters by records per cluster")
    assert re.findall(r'text-anchor="middle">([^<]*)</text>', chart) == [
        "1,365", "&lt;10", "&lt;10"]


def test_match_weight_charts_are_drawn_from_disclosed_bins() -> None:
    import re

    frame, model = _planted()
    text = render_report(frame, model, DisclosureControl(minimum_cell_count=10,
                                                         rounding_base=5))
    bars = _svg(text, "match weight distribution (square-root scale)")
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', bars)]
    assert len(heights) == 160  # two stacked series of 80 bins
    assert heights[2 * 70] == heights[2 * 70 + 1] == 0.0  # the bin of 7 is not drawn
    assert sum(h > 0 for h in heights) >= 2
    assert "bins with fewer than 10 candidate pairs are drawn with height 0" in text
    # recall from the disclosed bins: nothing published above the bin of 641, so recall
    # there is 0 (the raw bin of 7 near weight +30 would lift it above 0)
    lines = _svg(text, "estimated precision and recall")
    recall = re.findall(r'points="([^"]+)"', lines)[1].split()
    assert all(float(p.split(",")[1]) == 200.0 for p in recall[61:])
    assert float(recall[60].split(",")[1]) < 200.0
    assert "computed from the published (disclosed) bin counts" in text
