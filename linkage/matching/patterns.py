"""Comparison patterns and their counts: all the Fellegi-Sunter fit needs of the candidates.

Every candidate pair has one comparison level per field; pairs with the same levels (the same
*pattern*) get the same match weight. A few thousand distinct patterns stand for millions of
pairs, so the model is fitted on :class:`PatternCounts`: a Dask worker (or the in-process
backend, chunk by chunk) reduces its pairs to counts, and the counts of all chunks merge
exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from linkage.matching.uniques import distinct_with_inverse


def distinct_patterns(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of ``levels`` (P, F) int8 with their counts and each row's pattern index:
    ``(K, F)`` int8, ``(K,)`` float64, ``(P,)`` int64.

    Rows are packed into one integer each (mixed radix, level + 1 per field) so the
    de-duplication is a fast 1-D sort even for tens of millions of pairs.
    """
    shifted = levels.astype(np.int64) + 1
    radix = int(shifted.max(initial=0)) + 1
    if radix ** levels.shape[1] >= 2**62:  # too many fields to pack: sort the rows instead
        rows, inverse, counts = np.unique(levels, axis=0, return_inverse=True,
                                          return_counts=True)
        return rows.astype(levels.dtype), counts.astype(np.float64), inverse.ravel()
    weights = radix ** np.arange(levels.shape[1], dtype=np.int64)
    codes, inverse, counts = distinct_with_inverse(shifted @ weights)
    patterns = (codes[:, None] // weights[None, :]) % radix - 1
    return patterns.astype(levels.dtype), counts.astype(np.float64), inverse.ravel()


@dataclass(frozen=True)
class PatternCounts:
    """Distinct comparison patterns of some candidate pairs and how many pairs have each."""

    patterns: np.ndarray  #: (K, F) int8, distinct rows
    counts: np.ndarray    #: (K,) int64, pairs with each pattern

    @property
    def total(self) -> int:
        """Pairs counted."""
        return int(self.counts.sum())

    @classmethod
    def of(cls, levels: np.ndarray) -> PatternCounts:
        """The patterns of ``levels`` (P, F) int8."""
        patterns, counts, _ = distinct_patterns(np.asarray(levels, dtype=np.int8))
        return cls(patterns, counts.astype(np.int64))

    @classmethod
    def merge(cls, parts: Sequence[PatternCounts], n_fields: int) -> PatternCounts:
        """The counts of several chunks of pairs as one (exact: counts add up)."""
        if not parts:
            return cls(np.zeros((0, n_fields), np.int8), np.zeros(0, np.int64))
        stacked = np.concatenate([p.patterns for p in parts]).astype(np.int8)
        counts = np.concatenate([p.counts for p in parts])
        if len(stacked) == 0:
            return cls(stacked.reshape(0, n_fields), counts.astype(np.int64))
        patterns, _, inverse = distinct_patterns(stacked)
        return cls(patterns, np.bincount(inverse, weights=counts,
                                         minlength=len(patterns)).astype(np.int64))
