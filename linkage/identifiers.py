"""Check digits of UK child identifiers, shared by the generator and the encoders.

NHS numbers are ten digits whose last digit is a Modulus 11 check digit over the first
nine: the digits times the weights 10 down to 2 are summed, and the check digit is 11 minus
the remainder of that sum divided by 11, where 11 means 0 and 10 means that no number with
those nine digits is ever issued. This module holds the rule once, as tables
(:data:`NHS_WEIGHTS`, :data:`NHS_CHECK_OF_REMAINDER`) that both the functions here and the
compiled parser in :mod:`linkage.encoding.normalise` read.

Some numbers pass Modulus 11 but belong to no child, and are refused as well
(:data:`NHS_PLACEHOLDERS`, :data:`NHS_TEST_RANGES`):

- the ten numbers of one repeated digit, ``0000000000`` to ``9999999999``: every one of
  them passes Modulus 11 (the weights sum to 54, and 54 x d leaves 11 - d), and they are
  typed where a number is unknown;
- the runs ``0123456789`` and ``9876543210``, which pass Modulus 11 and are typed as
  examples (``1234567890`` fails it already);
- ``999 000 0000`` to ``999 999 9999``, which NHS England reserves for testing and never
  issues.

UPNs are 13 characters: a check letter, then the local authority code (3 digits), the
establishment number (4 digits), the two-digit year of allocation and a 3-digit serial. The
check letter is the sum of characters 2-13 times their position (2-13), modulo 23, read in
``ABCDEFGHJKLMNPQRTUVWXYZ``.
"""

from __future__ import annotations

import numpy as np

#: Modulus 11 weights of NHS-number digits 1..9 (the tenth digit is the check digit)
NHS_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)
#: what no check digit can be: no number with these nine digits is issued
NHS_NO_CHECK_DIGIT = 10


def _check_of_remainder(remainder: np.ndarray) -> np.ndarray:
    """The Modulus 11 rule: ``11 - remainder``, where 11 means 0 (10 stays: no digit)."""
    check = 11 - remainder
    return np.where(check == 11, 0, check)


#: the check digit for each remainder (0..10) of the weighted sum divided by 11
NHS_CHECK_OF_REMAINDER = _check_of_remainder(np.arange(11, dtype=np.int64))
#: numbers that pass Modulus 11 but are placeholders: one digit ten times, and two runs
NHS_PLACEHOLDERS = np.unique(np.r_[np.arange(10, dtype=np.int64) * 1_111_111_111,
                                   [123_456_789, 9_876_543_210]]).astype(np.int64)
#: inclusive ranges of numbers never issued: 999 000 0000 - 999 999 9999 (NHS test numbers)
NHS_TEST_RANGES = np.array([[9_990_000_000, 9_999_999_999]], dtype=np.int64)
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def is_nhs_placeholder(numbers: np.ndarray) -> np.ndarray:
    """For ten-digit numbers as integers: True for a placeholder or an NHS test number."""
    numbers = np.asarray(numbers, dtype=np.int64)
    reserved = np.isin(numbers, NHS_PLACEHOLDERS)
    for low, high in NHS_TEST_RANGES.tolist():
        reserved |= (numbers >= low) & (numbers <= high)
    return reserved


def nhs_check_digit(first_nine: np.ndarray) -> np.ndarray:
    """Modulus 11 check digits for an ``(n, 9)`` int array of digits.

    10 (:data:`NHS_NO_CHECK_DIGIT`) means no valid NHS number begins with these nine
    digits: Modulus 11 gives 10, or the only number it allows is a placeholder or an NHS
    test number (see the module's docstring). So a number is valid exactly when its last
    digit equals the check digit of its first nine.
    """
    first_nine = np.asarray(first_nine, dtype=np.int64)
    check = NHS_CHECK_OF_REMAINDER[(first_nine @ NHS_WEIGHTS) % 11]
    prefix = first_nine @ (10 ** np.arange(8, -1, -1, dtype=np.int64))
    return np.where(is_nhs_placeholder(prefix * 10 + check), NHS_NO_CHECK_DIGIT, check)


def is_valid_nhs_number(value: str) -> bool:
    """True when ``value`` is ten digits (spaces allowed) with a correct check digit and
    is neither a placeholder nor an NHS test number."""
    digits = value.replace(" ", "")
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    arr = np.frombuffer(digits.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    return int(nhs_check_digit(arr[None, :9])[0]) == int(arr[9])


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters after it (all digits here)."""
    total = sum(int(ch) * pos for pos, ch in enumerate(body, start=2))
    return UPN_LETTERS[total % 23]


def is_valid_upn(value: str) -> bool:
    """True when ``value`` is a 13-character UPN with a correct check letter."""
    return (len(value) == 13 and value[1:].isascii() and value[1:].isdigit()
            and value[0] == upn_check_letter(value[1:]))
