"""Placeholder and test NHS numbers pass Modulus 11 but are refused, by both implementations:
the compiled parser (:func:`parse_nhs_numbers`) and :func:`is_valid_nhs_number`."""

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.encoding.normalise import NHS_INVALID, NHS_MISSING, parse_nhs_numbers
from linkage.identifiers import NHS_NO_CHECK_DIGIT, is_valid_nhs_number, nhs_check_digit


def mod11(number: str) -> bool:
    """Modulus 11 alone, in plain Python, from its definition (no placeholders)."""
    total = sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return check != 10 and check % 11 == int(number[9])


def with_check(prefix: str) -> str | None:
    """The ten-digit number Modulus 11 allows after ``prefix``, or None."""
    for last in "0123456789":
        if mod11(prefix + last):
            return prefix + last
    return None


def parsed(values: Sequence[str | None]) -> list[int]:
    return parse_nhs_numbers(pa.array(values, type=pa.string())).tolist()


REPDIGITS = [str(d) * 10 for d in range(10)]
RUNS = ["0123456789", "9876543210"]
#: Modulus 11-valid numbers of the NHS test range 999 000 0000 - 999 999 9999
TEST_RANGE = [n for n in (with_check(p) for p in ("999000000", "999000001", "999123456",
                                                   "999876543", "999999998", "999999999"))
              if n is not None]


def test_every_repdigit_and_the_runs_pass_modulus_11() -> None:
    """Why the check digit alone does not catch them."""
    assert all(mod11(n) for n in REPDIGITS + RUNS + TEST_RANGE)
    assert len(TEST_RANGE) >= 4


@pytest.mark.parametrize("number", REPDIGITS + RUNS + TEST_RANGE)
def test_placeholders_and_test_numbers_are_invalid(number: str) -> None:
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    dashed = f"{number[:3]}-{number[3:6]}-{number[6:]}"
    assert parsed([number, spaced, dashed]) == [NHS_INVALID] * 3
    assert not is_valid_nhs_number(number)
    assert not is_valid_nhs_number(spaced)


def test_numbers_next_to_the_test_range_stay_valid() -> None:
    below = with_check("998999999") or with_check("998999998")
    assert below is not None and below.startswith("998")
    assert parsed([below, "9434765919", None, " "]) == [int(below), 9434765919, NHS_MISSING,
                                                         NHS_MISSING]
    assert is_valid_nhs_number(below)


def test_check_digit_refuses_prefixes_of_placeholders() -> None:
    """nhs_check_digit gives 10 where the only Modulus 11 completion is refused, so a
    generator that keeps check != 10 (linkage.synth) can never make a placeholder."""
    prefixes = ["444444444", "777777777", "000000000", "012345678", "987654321", "999123456",
                "943476591"]
    digits = np.array([[int(c) for c in p] for p in prefixes])
    checks = nhs_check_digit(digits).tolist()
    assert checks[:-1] == [NHS_NO_CHECK_DIGIT] * (len(prefixes) - 1)
    assert checks[-1] == 9  # 943 476 5919, the published example


_PREFIXES = st.one_of(
    st.integers(0, 999_999_999).map(lambda n: f"{n:09d}"),
    st.integers(0, 999_999).map(lambda n: f"999{n:06d}"),           # the test range
    st.integers(0, 9).map(lambda d: str(d) * 9),                     # repdigit prefixes
    st.sampled_from(["012345678", "987654321", "998999999", "999000000"]))


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(_PREFIXES, st.integers(0, 9)), min_size=1, max_size=40))
def test_both_implementations_agree_on_validity(numbers: list[tuple[str, int]]) -> None:
    """For any nine digits and any last digit: the compiled parser, is_valid_nhs_number and
    nhs_check_digit agree, and all say Modulus 11 and not a placeholder/test number."""
    texts = [p + str(last) for p, last in numbers]
    got = parsed(texts)
    checks = nhs_check_digit(np.array([[int(c) for c in p] for p, _ in numbers])).tolist()
    for text, value, check in zip(texts, got, checks, strict=True):
        valid = is_valid_nhs_number(text)
        assert (value >= 0) == valid, text
        assert value in (int(text), NHS_INVALID)
        assert valid == (check == int(text[9]))
        placeholder = len(set(text)) == 1 or text in RUNS or text.startswith("999")
        assert valid == (mod11(text) and not placeholder), text
