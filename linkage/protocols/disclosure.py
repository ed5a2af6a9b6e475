"""Statistical disclosure control for aggregate outputs (counts in reports and summaries).

One rule, from the agreement's :class:`~linkage.protocols.models.DisclosureControl`: a count
below ``minimum_cell_count`` is suppressed (published as ``<N``); any other count is rounded
to the nearest multiple of ``rounding_base``, halves rounded up. :func:`disclosed_count` is
that rule; everything else here only formats its result:

- :func:`disclose`: one count as the text to print;
- :func:`disclosed_counts`: counts as the numbers to draw a chart from (0 where suppressed),
  so that a bar's height never shows more than the published number;
- :func:`apply_disclosure_control`: a Series of counts as published strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from linkage.protocols.models import DisclosureControl

#: A count as it may arrive: a Python or NumPy number holding a non-negative whole value.
Count: TypeAlias = int | float | np.number[Any]


def _as_count(count: Count) -> int:
    """``count`` as a non-negative int; a float only when it is a whole number."""
    try:
        value = int(count)
        whole = bool(value == count)
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or value < 0:
        raise ValueError(f"a count must be a non-negative whole number, not {count!r}")
    return value


def disclosed_count(count: Count, control: DisclosureControl) -> int | None:
    """The published value of one count: ``None`` when it is below
    ``minimum_cell_count`` (suppressed), otherwise rounded to the nearest multiple of
    ``rounding_base``, halves up (in exact integer arithmetic)."""
    value = _as_count(count)
    if value < control.minimum_cell_count:
        return None
    base = control.rounding_base
    return (2 * value + base) // (2 * base) * base


def suppressed_label(control: DisclosureControl) -> str:
    """How a suppressed count is printed: ``<N`` (plain text; escape it for HTML)."""
    return f"<{control.minimum_cell_count}"


def disclose(count: Count, control: DisclosureControl, *, thousands: bool = False) -> str:
    """One count as published: ``<N`` when suppressed, else the rounded value (with
    thousands separators when ``thousands``). Plain text: escape it for HTML."""
    shown = disclosed_count(count, control)
    if shown is None:
        return suppressed_label(control)
    return f"{shown:,}" if thousands else str(shown)


def disclosed_counts(values: Iterable[Count], control: DisclosureControl) -> list[float]:
    """Counts as a chart may draw them: each rounded value, and 0 for a suppressed count."""
    out = []
    for value in values:
        shown = disclosed_count(value, control)
        out.append(0.0 if shown is None else float(shown))
    return out


def apply_disclosure_control(counts: pd.Series, control: DisclosureControl, *,
                             thousands: bool = False) -> pd.Series:
    """Counts as published: below ``minimum_cell_count`` shown as ``<N``, others rounded
    to the nearest multiple of ``rounding_base`` (halves up). Same index, strings (with
    thousands separators when ``thousands``)."""
    return pd.Series([disclose(v, control, thousands=thousands) for v in counts.tolist()],
                     index=counts.index, dtype=object)
