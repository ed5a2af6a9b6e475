"""Check digits of UK child identifiers, shared by the generator and the encoders.

NHS numbers are ten digits whose last digit is a Modulus 11 check digit over the first
nine (weights 10 down to 2; a check value of 10 is never issued). UPNs are 13
characters: a check letter, then the local authority code (3 digits), the establishment
number (4 digits), the two-digit year of allocation and a 3-digit serial. The check letter
is the sum of characters 2-13 times their position (2-13), modulo 23, read in
``ABCDEFGHJKLMNPQRTUVWXYZ``.
"""

from __future__ import annotations

import numpy as np

_NHS_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)  # weights for digits 1..9
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def nhs_check_digit(first_nine: np.ndarray) -> np.ndarray:
    """Modulus 11 check digits for an ``(n, 9)`` int array of digits; 10 means "invalid"."""
    remainder = (first_nine @ _NHS_WEIGHTS) % 11
    check = 11 - remainder
    return np.where(check == 11, 0, check)


def is_valid_nhs_number(value: str) -> bool:
    """True when ``value`` is ten digits (spaces allowed) with a correct check digit."""
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
