"""From scored pairs to links: one-to-one assignment and clusters across sources.

Edges are accepted greedily in descending match weight. Two clusters merge only if they
hold no source in common, so every cluster has at most one record per source, except that
records joined by a within-source (deduplication) edge may share a source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from linkage.errors import MatchingError


@njit(cache=True)
def _find(parent: np.ndarray, x: int) -> int:  # pragma: no cover - compiled
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True)
def _greedy_union(n: int, source_bits: np.ndarray, a: np.ndarray, b: np.ndarray,
                  same_source_ok: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Accept edges in the given order when their clusters share no source.

    Returns (accepted (E,) bool, root (n,) int64 of every record).
    """
    parent = np.arange(n)
    mask = source_bits.copy()
    accepted = np.zeros(len(a), dtype=np.bool_)
    for e in range(len(a)):
        ra = _find(parent, a[e])
        rb = _find(parent, b[e])
        if ra == rb:
            continue
        if (mask[ra] & mask[rb]) != 0 and not same_source_ok[e]:
            continue
        parent[rb] = ra
        mask[ra] |= mask[rb]
        accepted[e] = True
    for x in range(n):
        parent[x] = _find(parent, x)
    return accepted, parent


@dataclass(frozen=True)
class Clusters:
    """Cluster label of every record, and the probability of the link that placed it."""

    label: np.ndarray        #: (n,) int64, records with the same label are one child
    probability: np.ndarray  #: (n,) float64, best accepted link touching the record (0: none)
    accepted: np.ndarray     #: (E,) bool, which input edges were accepted


def greedy_clusters(source: np.ndarray, a: np.ndarray, b: np.ndarray, weight: np.ndarray,
                    probability: np.ndarray, *, within_source: np.ndarray | None = None
                    ) -> Clusters:
    """Cluster ``n = len(source)`` records from edges ``(a[e], b[e])``.

    ``source`` (n,) int: each record's source (0-63). Edges are taken by descending
    ``weight``; within-source edges (``within_source[e]``, deduplication) are taken first.
    """
    if len(source) and int(source.max()) >= 64:
        raise MatchingError("At most 64 sources can be clustered together.")
    within = np.zeros(len(a), bool) if within_source is None else within_source
    order = np.lexsort((-weight, ~within))
    bits = np.left_shift(np.uint64(1), source.astype(np.uint64))
    accepted_sorted, label = _greedy_union(len(source), bits, a[order].astype(np.int64),
                                           b[order].astype(np.int64), within[order])
    accepted = np.zeros(len(a), dtype=bool)
    accepted[order] = accepted_sorted
    best = np.zeros(len(source))
    np.maximum.at(best, a[accepted], probability[accepted])
    np.maximum.at(best, b[accepted], probability[accepted])
    return Clusters(label, best, accepted)


def greedy_one_to_one(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """One-to-one assignment between two sources, greedy by weight: (E,) bool accepted."""
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    n_a = int(a.max()) + 1
    source = np.r_[np.zeros(n_a, np.int64), np.ones(int(b.max()) + 1, np.int64)]
    clusters = greedy_clusters(source, a, b + n_a, weight, np.ones(len(a)))
    return clusters.accepted
