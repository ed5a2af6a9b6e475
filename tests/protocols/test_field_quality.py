"""The agreement's data_quality clause and the check of an extract's counts against it."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from linkage.protocols import Agreement, ProtocolProblems, load_agreement
from linkage.protocols.data_quality import field_quality_problems
from linkage.protocols.models import DataQuality

from ..helpers import EXAMPLE, copy_protocols, edit_yaml


def example() -> dict[str, Any]:
    return yaml.safe_load((EXAMPLE / "agreement.yaml").read_text())


def test_defaults() -> None:
    clause = DataQuality()
    assert clause.maximum_missing_share == 0.5
    assert clause.per_field == {}
    data = example()
    del data["data_quality"]
    assert Agreement.model_validate(data).data_quality == DataQuality()


def test_example_states_the_clause() -> None:
    clause = load_agreement(EXAMPLE / "agreement.yaml").agreement.data_quality
    assert clause.maximum_missing_share == 0.5
    assert clause.per_field == {"nhs_number": 0.8}


@pytest.mark.parametrize("share", [0, -0.1, 1.01, 2])
def test_share_must_be_above_zero_and_at_most_one(share: float) -> None:
    with pytest.raises(ValidationError):
        DataQuality(maximum_missing_share=share)
    with pytest.raises(ValidationError):
        DataQuality(per_field={"nhs_number": share})


def test_share_of_one_is_allowed() -> None:
    assert DataQuality(maximum_missing_share=1, per_field={"sex": 1}).maximum_missing_share == 1


def test_unknown_keys_refused() -> None:
    with pytest.raises(ValidationError):
        DataQuality.model_validate({"maximum_missing_share": 0.5, "maximum_invalid": 0.1})


def test_per_field_names_must_be_encoding_fields(tmp_path: Path) -> None:
    data = example()
    data["data_quality"] = {"per_field": {"nhs_number": 0.9, "shoe_size": 0.5}}
    with pytest.raises(ValidationError, match=r"data_quality\.per_field names unknown field"):
        Agreement.model_validate(data)
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement, lambda d: d.update(data_quality={"per_field": {"shoe_size": 0.5}}))
    with pytest.raises(ProtocolProblems, match="shoe_size"):
        load_agreement(agreement)


COUNTS = {"given_name": {"missing": 12, "invalid": 5},
          "family_name": {"missing": 10, "invalid": 0},
          "nhs_number": {"missing": 3, "invalid": 3},
          "upn": {"missing": 20, "invalid": 0}}
HELD = {"given_name", "family_name", "nhs_number"}


def test_flags_fields_over_their_limit_only() -> None:
    problems = field_quality_problems(COUNTS, 20, DataQuality(), held=HELD)
    assert problems == [
        "given_name: 60% of 20 records missing or invalid (7 blank, 5 invalid), more than "
        "the 50% allowed by data_quality.maximum_missing_share"]
    # family_name is at exactly 50%: not over; upn is not held by this partner


def test_per_field_overrides() -> None:
    clause = DataQuality(per_field={"given_name": 0.7, "nhs_number": 0.1})
    problems = field_quality_problems(COUNTS, 20, clause, held=HELD)
    assert problems == [
        "nhs_number: 15% of 20 records missing or invalid (0 blank, 3 invalid), more than "
        "the 10% allowed by data_quality.per_field.nhs_number"]


def test_unheld_fields_are_not_checked() -> None:
    clause = DataQuality(maximum_missing_share=0.01)
    problems = field_quality_problems(COUNTS, 20, clause, held={"nhs_number"})
    assert [p.split(":")[0] for p in problems] == ["nhs_number"]
    assert field_quality_problems(COUNTS, 20, clause, held=()) == []


def test_just_over_the_limit_does_not_read_as_the_limit() -> None:
    problems = field_quality_problems({"sex": {"missing": 501, "invalid": 0}}, 1000,
                                      DataQuality(), held={"sex"})
    assert problems[0].startswith("sex: 50.1% of 1,000 records")


def test_no_records_no_problems() -> None:
    assert field_quality_problems({"sex": {"missing": 0, "invalid": 0}}, 0, DataQuality(),
                                  held={"sex"}) == []


def test_messages_carry_counts_not_values() -> None:
    """Only the field name, percentages and counts: no digits beyond those counts."""
    counts = {"nhs_number": {"missing": 9, "invalid": 7}, "postcode": {"missing": 8,
                                                                        "invalid": 8}}
    problems = field_quality_problems(counts, 10, DataQuality(), held=set(counts))
    assert len(problems) == 2
    for problem in problems:
        numbers = set(re.findall(r"\d+(?:\.\d+)?", problem.split(":", 1)[1]))
        assert numbers <= {"90", "80", "10", "2", "7", "0", "8", "50"}, problem
        assert not re.search(r"\d{4,}", problem.replace(",", ""))
