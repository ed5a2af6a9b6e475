"""Sort-based distinct values of large integer arrays.

``np.unique`` in numpy 2.4 is slow on tens of millions of int64 values (we measured 144 s
for 59 million, against 1.5 s for a stable sort): these helpers sort once with the stable
(radix/merge) sort and mark the run boundaries.
"""

from __future__ import annotations

import numpy as np


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a 1-D integer array."""
    ordered = np.sort(values, kind="stable")
    if len(ordered) == 0:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def distinct_with_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct values, the index of each input's value, and each value's count."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    if len(ordered) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return ordered, empty, empty
    starts = np.empty(len(ordered), dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = group
    counts = np.diff(np.r_[np.flatnonzero(starts), len(ordered)])
    return ordered[starts], inverse, counts
