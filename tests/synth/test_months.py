"""Monthly extracts of one cohort: records arrive, mistakes are corrected, children move,
and the last month is the cohort itself."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from linkage.cli import main
from linkage.synth import Cohort
from linkage.synth.months import monthly_cohort


def test_months_grow_towards_the_final_cohort(small_cohort: Cohort) -> None:
    seq = monthly_cohort(small_cohort, 4, seed=2)
    assert len(seq.months) == 4
    for partner, final in small_cohort.extracts.items():
        ids = [set(m[partner].record_id) for m in seq.months]
        assert all(a <= b for a, b in itertools.pairwise(ids))  # nobody leaves
        assert 0.6 < len(ids[0]) / len(final) < 0.9  # most are there from the start
        last = seq.months[-1][partner].set_index("record_id").sort_index()
        assert last.equals(final.set_index("record_id").sort_index())
    first = seq.months[0]["health"].set_index("record_id")
    final = small_cohort.extracts["health"].set_index("record_id").loc[first.index]
    differs = (first[["date_of_birth", "family_name", "postcode"]]
               != final[["date_of_birth", "family_name", "postcode"]]).any(axis=1)
    assert 0.01 < differs.mean() < 0.1  # corrected or moved later


def test_synth_cli_writes_month_folders(tmp_path: Path) -> None:
    assert main(["synth", "--people", "300", "--seed", "1", "--months", "3", "--out",
                 str(tmp_path / "m")]) == 0
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "month-01", "month-02", "month-03", "truth.csv"]
    health = pd.read_csv(tmp_path / "m" / "month-03" / "health.csv", dtype=str)
    assert len(health) > len(pd.read_csv(tmp_path / "m" / "month-01" / "health.csv"))
