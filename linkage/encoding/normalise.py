"""Normalisation of identifier values before tokenising.

Every function takes the *distinct* raw values of a column (an object array of ``str``)
and returns the normalised values, with ``""`` meaning missing or invalid. Work is done
once per distinct value, never per record.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
from numba import njit

from linkage.identifiers import (
    NHS_CHECK_OF_REMAINDER,
    NHS_PLACEHOLDERS,
    NHS_TEST_RANGES,
    NHS_WEIGHTS,
)

_TITLES = frozenset({"mr", "mrs", "miss", "ms", "mx", "dr", "master", "baby", "infant"})
_NON_NAME = re.compile(r"[^a-z ]+")
_NON_TEXT = re.compile(r"[^a-z0-9 ]+")
_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
_SEX = {"m": "m", "male": "m", "1": "m", "boy": "m", "f": "f", "female": "f", "2": "f",
        "girl": "f"}


def normalise_name(value: str) -> str:
    """NFKD with diacritics folded, casefold, titles and punctuation stripped, spaces collapsed.

    Apostrophes vanish ("O'Brien" -> "obrien"); hyphens become spaces.
    """
    decomposed = unicodedata.normalize("NFKD", value)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    folded = folded.replace("'", "").replace("’", "").replace("-", " ")
    words = [w for w in _NON_NAME.sub(" ", folded).split() if w not in _TITLES]
    return " ".join(words)


def normalise_text(value: str) -> str:
    """Like :func:`normalise_name` but digits are kept and titles are not special."""
    decomposed = unicodedata.normalize("NFKD", value)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    folded = folded.replace("'", "").replace("’", "")
    return " ".join(_NON_TEXT.sub(" ", folded).split())


def normalise_texts(values: np.ndarray) -> np.ndarray:
    """:func:`normalise_text` over an object array of distinct values."""
    return np.asarray([normalise_text(v) for v in values], dtype=object)


def normalise_exact(values: np.ndarray) -> np.ndarray:
    """Codes compared exactly: surrounding space removed, case folded."""
    return np.asarray([v.strip().casefold() for v in values], dtype=object)


def normalise_names(values: np.ndarray) -> np.ndarray:
    """:func:`normalise_name` over an object array of distinct values."""
    return np.asarray([normalise_name(v) for v in values], dtype=object)


def _compact_upper(values: np.ndarray) -> np.ndarray:
    """Upper-case with spaces removed (vectorised); other punctuation removed per value."""
    text = np.asarray(values, dtype=np.str_) if len(values) else np.zeros(0, dtype="<U1")
    compact = np.strings.upper(np.strings.replace(text, " ", ""))
    odd = np.flatnonzero(~np.strings.isalnum(compact) & (np.strings.str_len(compact) > 0))
    if len(odd):
        cleaned = [re.sub(r"[^A-Za-z0-9]", "", v) for v in compact[odd].tolist()]
        compact = compact.astype(object)
        compact[odd] = cleaned
        compact = compact.astype(np.str_)
    return compact


def normalise_postcodes(values: np.ndarray) -> np.ndarray:
    """Upper-case, no spaces; values that are not a UK postcode become ``""``."""
    compact = _compact_upper(values)
    valid = pd.Series(compact, dtype=object).str.fullmatch(_POSTCODE.pattern).to_numpy(bool)
    return np.where(valid, compact, "").astype(object)


#: parse_nhs_numbers codes: below zero, why a record has no NHS number
NHS_MISSING, NHS_INVALID, NHS_ASK_PYTHON = -1, -2, -3

_NHS_SKIPPED = np.zeros(256, dtype=np.bool_)  # what normalisation strips: RE2's \s and "-"
_NHS_SKIPPED[[9, 10, 12, 13, 32, 45]] = True
_ASCII_BLANK = np.zeros(256, dtype=np.bool_)  # what str.strip() strips, in ASCII
_ASCII_BLANK[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


@njit(cache=True, nogil=True)
def _reserved(number: int, placeholders: np.ndarray,
              test_ranges: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether ``number`` is one of ``placeholders`` or in one of ``test_ranges`` (without
    branches: a third faster than returning at the first hit)."""
    hit = False
    for k in range(placeholders.shape[0]):
        hit |= number == placeholders[k]
    for k in range(test_ranges.shape[0]):
        hit |= (test_ranges[k, 0] <= number) & (number <= test_ranges[k, 1])
    return hit


@njit(cache=True, nogil=True)
def _parse_nhs(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, skipped: np.ndarray,
               blank: np.ndarray, weights: np.ndarray, check_of_remainder: np.ndarray,
               placeholders: np.ndarray, test_ranges: np.ndarray,
               out: np.ndarray) -> None:  # pragma: no cover - compiled
    """One record per string of an Arrow string array (``offsets`` (n+1,) int64, ``data``
    uint8, ``valid`` (n,) bool = not null): the NHS number as an integer, or a code below
    zero (``NHS_MISSING``, ``NHS_INVALID``, ``NHS_ASK_PYTHON`` for non-ASCII text).

    The rule comes in as data, from :mod:`linkage.identifiers` (``weights``,
    ``check_of_remainder``, ``placeholders``, ``test_ranges``), so it is written once and a
    cached compilation never holds a stale copy of it."""
    for i in range(out.shape[0]):
        if not valid[i]:
            out[i] = -1
            continue
        digits = 0
        number = 0
        total = 0
        all_blank = True
        status = 0
        for j in range(offsets[i], offsets[i + 1]):
            byte = data[j]
            if byte >= 128:
                status = -3
                break
            if not blank[byte]:
                all_blank = False
            if skipped[byte]:
                continue
            if byte < 48 or byte > 57 or digits == 10:
                status = -2
                continue
            d = byte - 48
            if digits < 9:
                total += d * weights[digits]
            elif check_of_remainder[total % 11] != d:
                status = -2
            number = number * 10 + d
            digits += 1
        if status == -3:
            out[i] = -3
        elif all_blank:
            out[i] = -1
        elif status == -2 or digits != 10 or _reserved(number, placeholders, test_ranges):
            out[i] = -2
        else:
            out[i] = number


def parse_nhs_numbers(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each record's NHS number: ``(n,)`` int64, the ten digits as an integer when they
    carry a correct Modulus 11 check digit (spaces and dashes removed), ``NHS_MISSING``
    (-1) for null or blank and ``NHS_INVALID`` (-2) for anything else.

    Invalid too, though they pass Modulus 11, are the placeholders and test numbers of
    :mod:`linkage.identifiers`: one digit ten times (``0000000000`` ... ``9999999999``, all
    ten pass Modulus 11), the runs ``0123456789`` and ``9876543210``, and every number from
    ``999 000 0000`` to ``999 999 9999``, which NHS England reserves for testing and never
    issues. Such a number is typed where the real one is unknown; encoding it would link
    every record that carries it. :func:`linkage.identifiers.is_valid_nhs_number` applies
    the same rule.

    One compiled pass over the Arrow string buffers: NHS numbers are nearly all distinct,
    so normalising "each distinct value once" would cost as much as a hash table of a
    million strings.
    """
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    out = np.empty(len(values), dtype=np.int64)
    start = 0
    for chunk in chunks:
        if not pa.types.is_large_string(chunk.type):
            chunk = chunk.cast(pa.large_string())
        n = len(chunk)
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset:
                                                                      chunk.offset + n + 1]
        data = (np.frombuffer(chunk.buffers()[2], dtype=np.uint8) if chunk.buffers()[2]
                else np.zeros(0, dtype=np.uint8))
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        _parse_nhs(offsets, data, valid, _NHS_SKIPPED, _ASCII_BLANK, NHS_WEIGHTS,
                   NHS_CHECK_OF_REMAINDER, NHS_PLACEHOLDERS, NHS_TEST_RANGES,
                   out[start:start + n])
        start += n
    ask = np.flatnonzero(out == NHS_ASK_PYTHON)
    if len(ask):  # non-ASCII: blank by str.strip() (e.g. a no-break space) or invalid
        text = pa.chunked_array(chunks, type=values.type).take(pa.array(ask)).to_pylist()
        out[ask] = [NHS_MISSING if not t.strip() else NHS_INVALID for t in text]
    return out


@njit(cache=True, nogil=True)
def _ten_digits(numbers: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    for i in range(numbers.shape[0]):
        value = numbers[i]
        for j in range(9, -1, -1):
            out[i, j] = 48 + value % 10
            value //= 10


def nhs_number_text(numbers: np.ndarray) -> np.ndarray:
    """Valid NHS numbers (int64, from :func:`parse_nhs_numbers`) as ten-digit ``<U10``."""
    ascii_digits = np.empty((len(numbers), 10), dtype=np.uint8)
    _ten_digits(np.ascontiguousarray(numbers, dtype=np.int64), ascii_digits)
    return ascii_digits.view("S10").ravel().astype("<U10")


def normalise_sexes(values: np.ndarray) -> np.ndarray:
    """``"m"`` or ``"f"``; anything else (unknown, blank) becomes ``""``."""
    return np.asarray([_SEX.get(v.strip().casefold(), "") for v in values], dtype=object)


def normalise_date(value: str, date_format: str) -> str:
    """ISO ``YYYY-MM-DD`` of ``value`` parsed with ``date_format``; ``""`` if it does not parse."""
    try:
        d = dt.datetime.strptime(value.strip(), date_format)
    except ValueError:
        return ""
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def normalise_dates(values: np.ndarray, date_format: str) -> np.ndarray:
    """:func:`normalise_date` over the distinct values (a few thousand in a cohort)."""
    return np.asarray([normalise_date(v, date_format) for v in values], dtype=object)
