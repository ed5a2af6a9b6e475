"""The corruption model: how a true value becomes what a service recorded.

Each function takes the selected values (an object array of ``str``) and returns
corrupted copies; :func:`corrupt_records` picks which records get which error by the
rates of a :class:`~linkage.synth.config.ServiceProfile`. Only the selected few values
go through Python string code, so the cost scales with the error rate.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import numpy as np

from linkage.synth.names import NICKNAMES, VARIANT_GROUPS

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _row_i, _row in enumerate(_KEYBOARD_ROWS):
    for _i, _ch in enumerate(_row):
        near = _row[max(0, _i - 1):_i] + _row[_i + 1:_i + 2]
        for _other_i in (_row_i - 1, _row_i + 1):
            if 0 <= _other_i < len(_KEYBOARD_ROWS):
                near += _KEYBOARD_ROWS[_other_i][_i:_i + 1]
        _NEIGHBOURS[_ch] = near

_VARIANTS: dict[str, tuple[str, ...]] = {}
for _group in VARIANT_GROUPS:
    for _name in _group:
        _VARIANTS[_name] = tuple(v for v in _group if v != _name)


def typo(value: str, rng: np.random.Generator) -> str:
    """One keyboard-neighbour substitution, dropped, doubled or transposed letter."""
    if len(value) < 2:
        return value
    pos = int(rng.integers(0, len(value)))
    kind = int(rng.integers(0, 4))
    ch = value[pos]
    if kind == 0 and ch.lower() in _NEIGHBOURS:
        near = _NEIGHBOURS[ch.lower()]
        new = near[int(rng.integers(0, len(near)))]
        return value[:pos] + (new.upper() if ch.isupper() else new) + value[pos + 1:]
    if kind == 1 and len(value) > 3:
        return value[:pos] + value[pos + 1:]
    if kind == 2:
        return value[:pos] + ch + value[pos:]
    pos = min(pos, len(value) - 2)
    return value[:pos] + value[pos + 1] + value[pos] + value[pos + 2:]


def spelling_variant(value: str, rng: np.random.Generator) -> str:
    """A phonetic or spelling variant when one is known, else a vowel change."""
    options = _VARIANTS.get(value)
    if options:
        return options[int(rng.integers(0, len(options)))]
    for a, b in (("ie", "y"), ("y", "ie"), ("ph", "f"), ("ck", "k"), ("ee", "ea"), ("ll", "l")):
        if a in value[1:]:
            return value[0] + value[1:].replace(a, b, 1)
    return value


def nickname(value: str, rng: np.random.Generator) -> str:
    """A short form of the name when one is known; the name itself otherwise."""
    options = NICKNAMES.get(value)
    return options[int(rng.integers(0, len(options)))] if options else value


def strip_diacritics(value: str) -> str:
    """Remove combining marks: "Oisín" -> "Oisin"."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def family_name_part(value: str, rng: np.random.Generator) -> str:
    """One half of a hyphenated or double-barrelled name; unchanged otherwise."""
    for sep in ("-", " "):
        if sep in value and not value.startswith(("Al-", "El-")):
            parts = value.split(sep)
            return parts[int(rng.integers(0, len(parts)))]
    return value


def whitespace_noise(value: str, rng: np.random.Generator) -> str:
    """A stray leading, trailing or doubled space."""
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return " " + value
    if kind == 1:
        return value + " "
    return value.replace(" ", "  ") if " " in value else value + "  "


def apply(values: np.ndarray, rate: float | np.ndarray, rng: np.random.Generator,
          change: Callable[[str, np.random.Generator], str]) -> np.ndarray:
    """Return ``values`` with ``change`` applied to each non-empty entry with prob. ``rate``.

    ``values``: (n,) object array of str; ``rate`` a probability or one per value (n,).
    Returns a new array; the input is untouched.
    """
    out = values.copy()
    if np.max(rate, initial=0.0) <= 0:
        return out
    chosen = np.flatnonzero(rng.random(len(values)) < rate)
    for i in chosen.tolist():
        if out[i]:
            out[i] = change(out[i], rng)
    return out


def shift_dates(dates: np.ndarray, rng: np.random.Generator, *, swap: float | np.ndarray,
                day: float | np.ndarray, year: float | np.ndarray) -> np.ndarray:
    """Day/month swaps (where the day is 12 or less), off-by-one days and years.

    ``dates``: (n,) datetime64[D]; each rate a probability or one per date (n,). Returns a
    new datetime64[D] array.
    """
    out = dates.copy()
    n = len(dates)
    years = out.astype("datetime64[Y]")
    months = (out.astype("datetime64[M]") - years.astype("datetime64[M]")).astype(int) + 1
    days = (out - out.astype("datetime64[M]").astype("datetime64[D]")).astype(int) + 1
    swap_mask = (rng.random(n) < swap) & (days <= 12) & (days != months)
    if swap_mask.any():
        new = (years[swap_mask].astype("datetime64[M]")
               + (days[swap_mask] - 1).astype("timedelta64[M]")).astype("datetime64[D]")
        out[swap_mask] = new + (months[swap_mask] - 1).astype("timedelta64[D]")
    day_mask = rng.random(n) < day
    out[day_mask] += rng.choice(np.array([-1, 1]), size=int(day_mask.sum())).astype(
        "timedelta64[D]")
    year_mask = rng.random(n) < year
    out[year_mask] += rng.choice(np.array([-365, 365]), size=int(year_mask.sum())).astype(
        "timedelta64[D]")
    return out
