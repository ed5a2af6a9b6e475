"""Generators of valid NHS numbers and UPNs for the synthetic cohort."""

from __future__ import annotations

import numpy as np

from linkage.identifiers import (
    UPN_LETTERS,
    is_valid_nhs_number,
    is_valid_upn,
    nhs_check_digit,
    upn_check_letter,
)

__all__ = ["generate_nhs_numbers", "generate_upns", "is_valid_nhs_number", "is_valid_upn",
           "nhs_check_digit", "upn_check_letter"]


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
        out[i] = UPN_LETTERS[letter] + body
    return out
