"""The issue-16 lines that ``python -m benchmarks --ci`` prints from linkage_quality's JSON."""

from benchmarks.__main__ import hard_target_status


def _hard(chance: dict[str, float] | None) -> dict[str, object]:
    default: dict[str, object] = {
        "pairs": {"a~b": {"f1": 0.995}, "a~c": {"f1": 0.985}},
        "duplicates": {"a": {"f1": 0.96}},
        "calibration_max_gap": 0.30, "calibration_max_excess": 0.02}
    if chance is not None:
        default["calibration_max_gap_if_calibrated"] = chance
    return {"default": default, "hardening_cost_f1": {"a~b": 0.001, "a~c": -0.002}}


def test_each_target_is_met_or_not_by_its_own_direction() -> None:
    lines = hard_target_status(_hard(None))
    assert len(lines) == 5 and not any("by chance" in line for line in lines)
    f1, cost, duplicates, gap, excess = lines
    assert "F1 per pair" in f1 and f1.endswith("not yet met")  # the lowest pair counts
    assert "cost" in cost and cost.endswith(": met")  # the largest cost: 0.001 <= 0.003
    assert "duplicates" in duplicates and duplicates.endswith(": met")
    assert "largest decile gap 0.3" in gap and gap.endswith("not yet met")
    assert "beyond" in excess and excess.endswith(": met")  # 0.02 <= 0.05


def test_the_chance_figures_follow_the_calibration_lines_when_measured() -> None:
    lines = hard_target_status(_hard({"median": 0.2032, "p95": 0.3748}))
    assert "median 0.20, 95th percentile 0.37" in lines[-1]
    assert "cannot be judged" in lines[-1]
