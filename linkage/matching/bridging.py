"""What duplicates change between sources: a third record can show two records of one
source to be one child, and a child's duplicate records share its one match.

**Bridged duplicates.** Two records of one source that both match one record of another
source strongly are one child.

Deduplication compares two records of a source directly, and a duplicate re-registered at
another address with a mistyped date or a new family name has little left in common with
its first record. A record of another source can sit between them: the health record
agrees with the school's first record on the address and with its second on the date.
Between sources, each record of the smaller source has at most one match, so both school
records link to the health record; the one-to-one assignment then keeps one, and the
other is left out of the child's cluster unless deduplication joined the two.

For two records ``x`` and ``y`` of one source that both link to ``h`` with likelihood ratios
``2**L_x`` and ``2**L_y`` (match weight without the prior), the three hypotheses that
matter are: ``x`` and ``y`` are ``h``'s match together (so duplicates; prior the
deduplication model's ``lambda``, likelihood ``2**(L_x + L_y)``), only ``x`` is, only ``y``
is. Their odds give the bridged pair the match weight

    ``prior_weight + L_x + L_y - log2(2**L_x + 2**L_y)``,

about the deduplication prior plus the weaker link's evidence: two near-certain links to
one record make a duplicate likely, while a namesake that links to ``h`` only because it
has no better candidate (``h``'s own match links to it far more strongly) stays below the
threshold. Bridged pairs then pass the same gate as any within-source pair (twins, unique
identifiers that differ: :func:`~linkage.matching.clustering.select_links`), and where they
share the date and the home, given names alike even under noise (``DedupGate.home_field``).
Only the smaller source of a pair is bridged through it: a record of the larger source is
one of the competing record's candidates, which share one match, so two of them never both
reach a threshold of 0.5.

**Shared matches.** Between sources, a record of the smaller source has at most one match,
and its candidates share it: when the larger source holds a child twice (two identical
records), each gets half the match probability and neither reaches the threshold. Once
deduplication has joined the two (:func:`duplicate_groups`), they are one candidate again:
the pair's probability is its group's (``groups`` of
:func:`~linkage.matching.scoring.one_match_weights`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from linkage.matching.uniques import distinct_with_inverse


@dataclass(frozen=True)
class CrossLinks:
    """The scored pairs between two sources that contend for a link (at or above the floor
    of :func:`~linkage.matching.tasks.link_floor` and at least
    :data:`~linkage.matching.linker.CONTENDER_PROBABILITY` probable), before the one-to-one
    assignment."""

    left: str                #: partner of ``left_rows``
    right: str               #: partner of ``right_rows``
    left_rows: np.ndarray    #: (P,) int64
    right_rows: np.ndarray   #: (P,) int64
    evidence: np.ndarray     #: (P,) float64, log2 likelihood ratio (match weight - prior)
    probability: np.ndarray  #: (P,) float64, match probability, candidates sharing a match
    side: str                #: whose records' candidates share one match: left or right
    #: (n,) float64 per record of that side: odds of its candidates left out (under the
    #: floor, or under the contender probability)
    dropped_odds: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.evidence)

    def above(self, threshold: float) -> CrossLinks:
        """Only the pairs whose probability reaches ``threshold``."""
        keep = self.probability >= threshold
        return CrossLinks(self.left, self.right, self.left_rows[keep], self.right_rows[keep],
                          self.evidence[keep], self.probability[keep], self.side,
                          self.dropped_odds)


def bridge_weight(evidence_x: np.ndarray, evidence_y: np.ndarray,
                  prior_weight: float) -> np.ndarray:
    """Match weight of within-source pairs whose records link to one third record with
    ``evidence_x`` and ``evidence_y`` (P,) float64 log2 likelihood ratios, under the
    deduplication prior ``prior_weight`` (log2 odds): (P,) float64 (see the module)."""
    x = np.asarray(evidence_x, np.float64)
    y = np.asarray(evidence_y, np.float64)
    return prior_weight + x + y - np.logaddexp2(x, y)


#: A record of another source that links to more records of one source than this bridges
#: none of them: the pairs grow with the square of the count, and so many records linked to
#: one are a broken extract (rows repeated) or a broken model, not a child's duplicates
MAX_BRIDGED_RECORDS = 32


def bridged_pairs(partner: str, cross: Sequence[CrossLinks], *, prior_weight: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of ``partner``'s records that link to one record of another source.

    ``cross``: the links at or above the threshold of every pair of sources
    (:meth:`CrossLinks.above`; those without ``partner`` are ignored). Returns ``(left,
    right, weight)``: (B,) int64 rows with ``left < right``, each pair once with its largest
    :func:`bridge_weight` over the records bridging it (records linked to more than
    :data:`MAX_BRIDGED_RECORDS` of ``partner``'s bridge nothing).
    """
    own, hub, evidence = [], [], []
    for k, links in enumerate(cross):
        if len(links) == 0:
            continue
        for mine, theirs, name in ((links.left_rows, links.right_rows, links.left),
                                   (links.right_rows, links.left_rows, links.right)):
            if name == partner:
                own.append(mine.astype(np.int64))
                # one number per record of the other side: which pair of sources, which row
                hub.append(theirs.astype(np.int64) * 2 * len(cross) + 2 * k
                           + int(name == links.right))
                evidence.append(links.evidence)
    empty = np.zeros(0, np.int64)
    if not own:
        return empty, empty, np.zeros(0)
    rows, hubs, ev = np.concatenate(own), np.concatenate(hub), np.concatenate(evidence)
    order = np.argsort(hubs, kind="stable")
    rows, hubs, ev = rows[order], hubs[order], ev[order]
    starts = np.flatnonzero(np.r_[True, hubs[1:] != hubs[:-1]])
    sizes = np.diff(np.r_[starts, len(hubs)])
    left, right, weight = [], [], []
    for size in np.unique(sizes[(sizes > 1) & (sizes <= MAX_BRIDGED_RECORDS)]):
        first = starts[sizes == size]
        for i in range(size - 1):
            for j in range(i + 1, size):
                x, y = first + i, first + j
                left.append(np.minimum(rows[x], rows[y]))
                right.append(np.maximum(rows[x], rows[y]))
                weight.append(bridge_weight(ev[x], ev[y], prior_weight))
    if not left:
        return empty, empty, np.zeros(0)
    lo, hi, w = np.concatenate(left), np.concatenate(right), np.concatenate(weight)
    keep = lo != hi
    lo, hi, w = lo[keep], hi[keep], w[keep]
    codes, inverse, _ = distinct_with_inverse(lo * (int(hi.max(initial=0)) + 1) + hi)
    best = np.full(len(codes), -np.inf)
    np.maximum.at(best, inverse, w)
    pick = np.flatnonzero(w == best[inverse])
    _, first_pick = np.unique(inverse[pick], return_index=True)
    pick = pick[first_pick]
    return lo[pick], hi[pick], w[pick]


def duplicate_groups(n_records: int, left_rows: np.ndarray, right_rows: np.ndarray
                     ) -> np.ndarray:
    """Group label of each of a source's ``n_records`` records: (n,) int64, the connected
    pieces of its within-source links ``(left_rows[e], right_rows[e])``."""
    graph = coo_matrix((np.ones(len(left_rows)), (left_rows, right_rows)),
                       shape=(n_records, n_records))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def matched_apart(left_rows: np.ndarray, right_rows: np.ndarray,
                  matches: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Which within-source pairs ``(left_rows[k], right_rows[k])`` (K,) int64 each are two
    children by their matches in other sources: (K,) bool.

    ``matches``: per other source, ``(match, group)``: ``match`` (n,) int64, the row there
    of each of this source's ``n`` records' match (-1: none), and ``group`` (n_other,)
    int64, the duplicate group of each of that source's records (:func:`duplicate_groups`).
    Two records matched to records of another source that deduplication keeps apart are
    two children: each record has at most one match in another source, so one child would
    have been matched to one record (or to two of one group). This is what separates
    namesakes born a day apart at two addresses (a duplicate re-registered with a mistyped
    date looks just the same to the pair's own comparison) once each has its own match.
    """
    apart = np.zeros(len(left_rows), dtype=bool)
    for match, group in matches:
        x, y = match[left_rows], match[right_rows]
        both = (x >= 0) & (y >= 0)
        apart[both] |= group[x[both]] != group[y[both]]
    return apart
