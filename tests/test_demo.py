"""The demo runs the whole flow and reports quality against the truth."""

from pathlib import Path

from linkage.demo import run_demo
from linkage.protocols.audit import verify_log


def test_demo_small_cohort(tmp_path: Path) -> None:
    result = run_demo(out_dir=tmp_path, people=1_500, seed=3, quiet=True)
    pairs = result.quality.by_partner_pair
    assert pairs[("education", "health")].f1 > 0.95
    for name in ("links.csv", "links.csv.model.json", "links.csv.candidates.npz"):
        assert (tmp_path / "linkage_unit" / name).exists()
    releases = sorted(p.name for p in (tmp_path / "analysts").glob("*.csv"))
    assert releases == ["education.csv", "health.csv", "social_care.csv"]
    header = (tmp_path / "analysts" / "health.csv").read_text().splitlines()[0]
    assert header == "link_key,birth_weight_g,smoking_in_pregnancy"
    report = verify_log(tmp_path / "audit.jsonl")
    assert report.ok and report.entries == 7  # 3 encodes, 1 match, 3 releases
    # the linkage unit's folder holds no key and no identifiers
    key = (tmp_path / "providers" / "project.key").read_text().splitlines()[1]
    for path in (tmp_path / "linkage_unit").iterdir():
        assert key.encode() not in path.read_bytes()
