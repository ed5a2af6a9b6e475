"""Dice similarity of packed Bloom filters: aligned pairs and thresholded all-pairs.

``dice = 2 |A & B| / (|A| + |B|)``, with 0 when both filters are empty. All functions take
``(n, w)`` uint64 matrices (records x 64-bit words).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.errors import MatchingError
from linkage.matching import kernels


def popcounts(filters: np.ndarray) -> np.ndarray:
    """Set bits per row: ``(n, w)`` uint64 -> ``(n,)`` int32."""
    return np.bitwise_count(filters).sum(axis=1, dtype=np.int32)


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.dtype != np.uint64 or b.dtype != np.uint64 or a.ndim != 2 or b.ndim != 2:
        raise MatchingError("filters must be 2-D uint64 arrays (records x words).")
    if a.shape[1] != b.shape[1]:
        raise MatchingError(f"filters have different lengths: {a.shape[1] * 64} and "
                            f"{b.shape[1] * 64} bits.")
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def dice_similarity(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray, *,
                    pop_a: np.ndarray | None = None, pop_b: np.ndarray | None = None,
                    flip_probability: float = 0.0) -> np.ndarray:
    """Dice of the pairs ``(a[ia[p]], b[ib[p]])``: (P,) float32, compiled and parallel.

    ``flip_probability`` > 0 (filters hardened with BLIP, which flips each bit with that
    probability) estimates the Dice of the filters *before* the noise instead: see
    :func:`debiased_dice`.
    """
    a, b = _check_pair(a, b)
    pop_a = popcounts(a) if pop_a is None else pop_a
    pop_b = popcounts(b) if pop_b is None else pop_b
    ia = np.ascontiguousarray(ia, dtype=np.int64)
    ib = np.ascontiguousarray(ib, dtype=np.int64)
    inter = kernels.pair_intersections(a, b, ia, ib)
    if flip_probability > 0:
        return debiased_dice(inter, pop_a[ia], pop_b[ib], a.shape[1] * 64, flip_probability)
    total = pop_a[ia] + pop_b[ib]
    return np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 0.0).astype(np.float32)


def dice_and_overlap(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray, *,
                     flip_probability: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Dice and overlap coefficient ``|A & B| / min(|A|, |B|)`` of the pairs
    ``(a[ia[p]], b[ib[p]])``: two (P,) float32, debiased like :func:`dice_similarity`."""
    a, b = _check_pair(a, b)
    ia = np.ascontiguousarray(ia, dtype=np.int64)
    ib = np.ascontiguousarray(ib, dtype=np.int64)
    inter = kernels.pair_intersections(a, b, ia, ib).astype(np.float64)
    x = popcounts(a)[ia].astype(np.float64)
    y = popcounts(b)[ib].astype(np.float64)
    p = flip_probability
    if p > 0:
        if not 0.0 < p < 0.5:
            raise MatchingError(f"flip probability must be in (0, 0.5), got {p}.")
        bits, q = a.shape[1] * 64, 1.0 - 2.0 * p
        x, y = (x - bits * p) / q, (y - bits * p) / q
        inter = (inter - (x + y) * p * q - bits * p * p) / (q * q)
    dice = np.where(x + y > 0, 2.0 * inter / np.maximum(x + y, 1e-9), 0.0)
    smaller = np.minimum(x, y)
    overlap = np.where(smaller > 0, inter / np.maximum(smaller, 1e-9), 0.0)
    return (np.clip(dice, 0.0, 1.0).astype(np.float32),
            np.clip(overlap, 0.0, 1.0).astype(np.float32))


def debiased_dice(inter: np.ndarray, pop_a: np.ndarray, pop_b: np.ndarray, bits: int,
                  p: float) -> np.ndarray:
    """Dice of noise-free filters estimated from filters whose bits were flipped with
    probability ``p`` (randomised response), all arrays (P,): (P,) float32 in [0, 1].

    With true counts ``x, y`` and true intersection ``c`` over ``m`` bits, the observed
    counts have expectations ``x (1-2p) + m p`` and
    ``c (1-2p)^2 + (x + y) p (1-2p) + m p^2``; solving for ``x, y, c`` gives unbiased
    estimates, and Dice ``2c / (x + y)``.
    """
    if not 0.0 < p < 0.5:
        raise MatchingError(f"flip probability must be in (0, 0.5), got {p}.")
    q = 1.0 - 2.0 * p
    x = (pop_a - bits * p) / q
    y = (pop_b - bits * p) / q
    c = (inter - (x + y) * p * q - bits * p * p) / (q * q)
    total = x + y
    dice = np.where(total > 0, 2.0 * c / np.maximum(total, 1e-9), 0.0)
    return np.clip(dice, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class ScoredPairs:
    """Sparse pairs between two sets of records: ``a[i]`` ~ ``b[j]`` with a score."""

    left: np.ndarray   #: (P,) int64 row in the first set
    right: np.ndarray  #: (P,) int64 row in the second set
    score: np.ndarray  #: (P,) float32, e.g. Dice similarity

    def __len__(self) -> int:
        return len(self.left)


def cardinality_bounds(pop_a: np.ndarray, sorted_pop_b: np.ndarray,
                       threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Column ranges that can reach ``threshold``; ``sorted_pop_b`` ascending.

    Dice ``>= t`` needs ``|B|`` in ``[|A| t / (2 - t), |A| (2 - t) / t]``.
    """
    if threshold <= 0:
        return (np.zeros(len(pop_a), np.int64), np.full(len(pop_a), len(sorted_pop_b),
                                                        np.int64))
    with np.errstate(over="ignore", divide="ignore"):
        low = np.ceil(pop_a * threshold / (2 - threshold) - 1e-9)
        high = np.floor(pop_a * (2 - threshold) / threshold + 1e-9)
    lo = np.searchsorted(sorted_pop_b, low, side="left").astype(np.int64)
    hi = np.searchsorted(sorted_pop_b, high, side="right").astype(np.int64)
    return lo, hi


def dice_above(a: np.ndarray, b: np.ndarray, threshold: float, *,
               row_chunk: int = 4096, capacity: int = 32) -> ScoredPairs:
    """All pairs ``(i, j)`` with Dice ``>= threshold``, pruned by cardinality first.

    Memory is bounded by ``row_chunk * capacity`` per chunk plus the result.
    """
    if not 0.0 <= threshold <= 1.0:
        raise MatchingError(f"The 'threshold' parameter of dice_above must be a float in "
                            f"[0, 1]. Got {threshold} instead.")
    a, b = _check_pair(a, b)
    pop_a = popcounts(a)
    order = np.argsort(popcounts(b), kind="stable")
    b_sorted = np.ascontiguousarray(b[order])
    pop_b = popcounts(b_sorted)
    lo, hi = cardinality_bounds(pop_a, pop_b, threshold)
    lefts, rights, scores = [], [], []
    for start in range(0, len(a), row_chunk):
        sl = slice(start, start + row_chunk)
        counts, cols, sims = kernels.threshold_rows(
            a[sl], b_sorted, pop_a[sl], pop_b, lo[sl], hi[sl], threshold, capacity)
        over = counts > capacity
        if over.any():  # retry the crowded rows with room for all their matches
            rows = np.flatnonzero(over)
            big = int(counts.max())
            c2, cols2, sims2 = kernels.threshold_rows(
                np.ascontiguousarray(a[sl][rows]), b_sorted, pop_a[sl][rows], pop_b,
                lo[sl][rows], hi[sl][rows], threshold, big)
            counts[rows] = 0
            lefts.append(np.repeat(rows + start, c2))
            mask2 = np.arange(big)[None, :] < c2[:, None]
            rights.append(order[cols2[mask2]])
            scores.append(sims2[mask2])
        kept = np.minimum(counts, capacity)
        mask = np.arange(capacity)[None, :] < kept[:, None]
        lefts.append(np.repeat(np.arange(start, start + len(counts)), kept))
        rights.append(order[cols[mask]])
        scores.append(sims[mask])
    if not lefts:
        empty = np.zeros(0, np.int64)
        return ScoredPairs(empty, empty, np.zeros(0, np.float32))
    return ScoredPairs(np.concatenate(lefts).astype(np.int64),
                          np.concatenate(rights).astype(np.int64), np.concatenate(scores))
