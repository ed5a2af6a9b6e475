import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from linkage.synth.identifiers import (
    generate_nhs_numbers,
    generate_upns,
    is_valid_nhs_number,
    is_valid_upn,
    upn_check_letter,
)


def test_known_nhs_numbers() -> None:
    # Published example numbers with correct check digits.
    assert is_valid_nhs_number("9434765919")
    assert is_valid_nhs_number("943 476 5919")
    assert not is_valid_nhs_number("9434765918")
    assert not is_valid_nhs_number("94347659")
    assert not is_valid_nhs_number("943476591X")


def test_generated_nhs_numbers_are_valid_and_distinct() -> None:
    numbers = generate_nhs_numbers(5_000, np.random.default_rng(3))
    assert len(set(numbers.tolist())) == 5_000
    assert all(is_valid_nhs_number(n) for n in numbers)


@given(st.text(alphabet="0123456789", min_size=10, max_size=10), st.integers(0, 9),
       st.integers(1, 9))
def test_single_digit_change_breaks_the_check(number: str, pos: int, delta: int) -> None:
    if not is_valid_nhs_number(number):
        return
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1:]
    assert not is_valid_nhs_number(changed)


def test_upns_have_correct_check_letters() -> None:
    upns = generate_upns(np.array([2021, 2022, 2023] * 100), 383, np.random.default_rng(1))
    assert all(len(u) == 13 and is_valid_upn(u) for u in upns)
    assert all(u[1:4] == "383" for u in upns)
    # A changed digit changes the check letter.
    u = upns[0]
    wrong = u[0] + u[1:12] + str((int(u[12]) + 1) % 10)
    assert upn_check_letter(wrong[1:]) != u[0] or not is_valid_upn(wrong)
    assert not is_valid_upn(wrong)
