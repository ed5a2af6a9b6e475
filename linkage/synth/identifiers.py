"""Valid UK child identifiers: NHS numbers and Unique Pupil Numbers (UPNs).

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
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def nhs_check_digit(first_nine: np.ndarray) -> np.ndarray:
    """Modulus 11 check digits for an ``(n, 9)`` int array of digits; 10 means "invalid"."""
    remainder = (first_nine @ _NHS_WEIGHTS) % 11
    check = 11 - remainder
    return np.where(check == 11, 0, check)


def is_valid_nhs_number(value: str) -> bool:
    """True when ``value`` is ten digits (spaces allowed) with a correct check digit."""
    digits = value.replace(" ", "")
    if len(digits) != 10 or not digits.isdigit():
        return False
    arr = np.frombuffer(digits.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    return int(nhs_check_digit(arr[None, :9])[0]) == int(arr[9])


def generate_nhs_numbers(count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct, valid NHS numbers as an object array of 10-digit strings.

    Numbers start 4xx-7xx as issued in England and Wales.
    """
    out: list[np.ndarray] = []
    seen: set[int] = set()
    need = count
    while need > 0:
        batch = int(need * 1.2) + 16
        body = rng.integers(400_000_000, 800_000_000, size=batch, dtype=np.int64)
        digits = (body[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        check = nhs_check_digit(digits)
        keep = check != 10
        numbers = body[keep] * 10 + check[keep]
        numbers = np.unique(numbers)
        fresh = np.asarray([n for n in numbers.tolist() if n not in seen], dtype=np.int64)
        fresh = rng.permutation(fresh)[:need]
        seen.update(fresh.tolist())
        out.append(fresh)
        need -= len(fresh)
    return np.asarray([f"{n:010d}" for n in np.concatenate(out).tolist()], dtype=object)


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters after it (all digits here)."""
    total = sum(int(ch) * pos for pos, ch in enumerate(body, start=2))
    return _UPN_LETTERS[total % 23]


def is_valid_upn(value: str) -> bool:
    """True when ``value`` is a 13-character UPN with a correct check letter."""
    return (len(value) == 13 and value[1:].isdigit()
            and value[0] == upn_check_letter(value[1:]))


def generate_upns(years: np.ndarray, la_code: int, rng: np.random.Generator) -> np.ndarray:
    """One UPN per entry of ``years`` (year of allocation, e.g. 2023), as an object array."""
    n = len(years)
    establishment = rng.integers(2000, 2999, size=n)
    serial = rng.permutation(n) % 1000
    out = np.empty(n, dtype=object)
    weights = np.arange(2, 14, dtype=np.int64)
    bodies = [f"{la_code:03d}{e:04d}{y % 100:02d}{s:03d}"
              for e, y, s in zip(establishment.tolist(), years.tolist(), serial.tolist(),
                                 strict=True)]
    arr = np.frombuffer("".join(bodies).encode("ascii"), dtype=np.uint8).reshape(n, 12)
    letters = ((arr.astype(np.int64) - 48) @ weights) % 23
    for i, (body, letter) in enumerate(zip(bodies, letters.tolist(), strict=True)):
        out[i] = _UPN_LETTERS[letter] + body
    return out
