"""Statistical disclosure control for aggregate outputs (counts in reports and summaries)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage.protocols.models import DisclosureControl


def apply_disclosure_control(counts: pd.Series, control: DisclosureControl) -> pd.Series:
    """Counts as published: below ``minimum_cell_count`` shown as ``<N``, others rounded
    to the nearest multiple of ``rounding_base``."""
    values = counts.astype(np.int64)
    base = control.rounding_base
    rounded = (np.floor(values / base + 0.5) * base).astype(np.int64).astype(str)
    small = values < control.minimum_cell_count
    return pd.Series(np.where(small, f"<{control.minimum_cell_count}", rounded),
                     index=counts.index, dtype=object)
