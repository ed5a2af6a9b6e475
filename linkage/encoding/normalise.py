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
import pyarrow.compute as pc

from linkage.identifiers import nhs_check_digit

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


def normalise_nhs_numbers(values: np.ndarray | pa.Array) -> np.ndarray:
    """Ten digits with a correct Modulus 11 check digit, else ``""`` (counted by the caller).

    Runs on Arrow arrays (spaces and dashes removed, the ten-digit pattern checked, digits
    read straight from the string buffer): a column can hold a million distinct numbers.
    Returns a ``<U10`` array.
    """
    arr = values if isinstance(values, pa.Array) else pa.array(
        np.asarray(values, dtype=object), type=pa.string())
    clean = pc.fill_null(pc.match_substring_regex(arr, pattern=r"^[0-9]{10}$"), False)
    if pc.all(clean).as_py():
        compact, shaped = arr, clean  # the usual case: nothing to strip
    else:
        compact = pc.replace_substring_regex(arr, pattern=r"[\s-]", replacement="")
        shaped = pc.fill_null(pc.match_substring_regex(compact, pattern=r"^[0-9]{10}$"), False)
    index = np.flatnonzero(shaped.to_numpy(zero_copy_only=False))
    out = np.full(len(arr), "", dtype="<U10")
    if len(index) == 0:
        return out
    chosen = pa.concat_arrays([compact.take(pa.array(index))])  # fresh, contiguous buffers
    offsets = np.frombuffer(chosen.buffers()[1], dtype=np.int32)[:len(chosen) + 1]
    data = np.frombuffer(chosen.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    digits = data.reshape(-1, 10).astype(np.int64) - 48
    valid = nhs_check_digit(digits[:, :9]) == digits[:, 9]
    text = (digits[valid] + 48).astype(np.uint8).view("S10").ravel()
    out[index[valid]] = text.astype("<U10")
    return out


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
