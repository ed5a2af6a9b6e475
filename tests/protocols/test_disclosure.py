"""The agreement's disclosure rule: suppress below the minimum, round the rest half up."""

import numpy as np
import pandas as pd
import pytest

from linkage.protocols import DisclosureControl
from linkage.protocols.disclosure import (
    apply_disclosure_control,
    disclose,
    disclosed_count,
    disclosed_counts,
)

TEN_FIVE = DisclosureControl(minimum_cell_count=10, rounding_base=5)


@pytest.mark.parametrize("count", [0, 1, 3, 9])
def test_below_the_minimum_is_suppressed(count: int) -> None:
    assert disclosed_count(count, TEN_FIVE) is None
    assert disclose(count, TEN_FIVE) == "<10"
    assert disclosed_counts([count], TEN_FIVE) == [0.0]


def test_exactly_the_minimum_is_published() -> None:
    assert disclose(10, TEN_FIVE) == "10"
    # the minimum applies to the raw count, before rounding
    odd = DisclosureControl(minimum_cell_count=11, rounding_base=5)
    assert disclose(10, odd) == "<11" and disclose(11, odd) == "10"
    above = DisclosureControl(minimum_cell_count=7, rounding_base=5)
    assert disclose(6, above) == "<7" and disclose(7, above) == "5"


@pytest.mark.parametrize(("base", "count", "shown"), [
    (5, 12, 10), (5, 13, 15), (5, 1_363, 1_365), (5, 108, 110), (5, 248, 250),
    (10, 15, 20), (10, 25, 30), (10, 14, 10), (4, 14, 16), (4, 18, 20), (2, 11, 12),
])
def test_rounding_is_half_up(base: int, count: int, shown: int) -> None:
    control = DisclosureControl(minimum_cell_count=5, rounding_base=base)
    assert disclosed_count(count, control) == shown
    assert disclose(count, control) == str(shown)


def test_rounding_matches_the_float_rule_and_is_exact_for_large_counts() -> None:
    for base in (1, 2, 3, 4, 5, 7, 10, 100):
        control = DisclosureControl(minimum_cell_count=5, rounding_base=base)
        counts = np.arange(5, 2_000)
        expected = (np.floor(counts / base + 0.5) * base).astype(np.int64)
        assert [disclosed_count(int(c), control) for c in counts] == expected.tolist()
    big = 10**18 + 3  # beyond float precision
    assert disclosed_count(big, TEN_FIVE) == 10**18 + 5
    assert disclosed_count(np.int64(big), TEN_FIVE) == 10**18 + 5


def test_base_one_publishes_counts_unrounded() -> None:
    control = DisclosureControl(minimum_cell_count=10, rounding_base=1)
    assert [disclose(c, control) for c in (9, 10, 11, 1_363)] == ["<10", "10", "11", "1363"]
    lowest = DisclosureControl(minimum_cell_count=5, rounding_base=1)  # the floor allowed
    assert disclose(4, lowest) == "<5" and disclose(5, lowest) == "5"


def test_thousands_separators_are_formatting_only() -> None:
    assert disclose(1_363, TEN_FIVE, thousands=True) == "1,365"
    assert disclose(2_357, TEN_FIVE) == "2355"
    assert disclose(3, TEN_FIVE, thousands=True) == "<10"


def test_chart_values_are_published_numbers_with_zero_for_suppressed() -> None:
    assert disclosed_counts([1_363, 108, 3, 0, 10], TEN_FIVE) == [1365.0, 110.0, 0.0, 0.0, 10.0]
    assert disclosed_counts(np.array([12.0, 7.0]), TEN_FIVE) == [10.0, 0.0]
    assert disclosed_counts([], TEN_FIVE) == []


@pytest.mark.parametrize("bad", [-1, 2.5, float("nan"), float("inf"), "7", None])
def test_not_a_count_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="count"):
        disclosed_count(bad, TEN_FIVE)  # type: ignore[arg-type]


def test_series_uses_the_same_rule() -> None:
    counts = pd.Series({"a": 3, "b": 12, "c": 10, "d": 0, "e": 248, "f": 1_363})
    shown = apply_disclosure_control(counts, TEN_FIVE)
    assert shown.to_dict() == {"a": "<10", "b": "10", "c": "10", "d": "<10", "e": "250",
                               "f": "1365"}
    assert shown.dtype == object and list(shown.index) == list(counts.index)
    assert shown.tolist() == [disclose(c, TEN_FIVE) for c in counts]
    assert apply_disclosure_control(counts, TEN_FIVE, thousands=True)["f"] == "1,365"
    assert apply_disclosure_control(pd.Series([], dtype=np.int64), TEN_FIVE).empty
