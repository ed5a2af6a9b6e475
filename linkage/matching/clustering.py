"""From scored pairs to links: one-to-one assignment and clusters across sources.

Per pair of sources, :func:`one_to_one` keeps at most one link per record (exactly for
small groups of competing links, greedily for large ones). Across sources, edges are then
accepted greedily in descending match weight. Two clusters merge only if they
hold no source in common, so every cluster has at most one record per source, except that
records joined by a within-source (deduplication) edge may share a source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from linkage.contracts import EncodedSource
from linkage.errors import MatchingError
from linkage.matching.comparison import NAME_CONTAINMENT
from linkage.matching.similarity import dice_and_overlap, dice_similarity
from linkage.matching.uniques import distinct_with_inverse


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


def one_to_one(a: np.ndarray, b: np.ndarray, weight: np.ndarray, *,
               max_optimal: int = 64) -> np.ndarray:
    """One-to-one assignment between two sources: (E,) bool, which edges are kept.

    The edges ``(a[e], b[e])`` form connected components. A component of one edge keeps it;
    a component of at most ``max_optimal`` records is solved exactly (the assignment of
    largest total weight, scipy's ``linear_sum_assignment``); larger ones greedily by weight.
    """
    accepted = np.zeros(len(a), dtype=bool)
    if len(a) == 0:
        return accepted
    n_a, n_b = int(a.max()) + 1, int(b.max()) + 1
    graph = coo_matrix((np.ones(len(a)), (a, b + n_a)), shape=(n_a + n_b, n_a + n_b))
    _, label = connected_components(graph, directed=False)
    component = label[a]
    edges_in = np.bincount(component, minlength=label.max() + 1)
    single = edges_in[component] == 1
    accepted[single] = True
    nodes_in = np.bincount(label, minlength=label.max() + 1)
    rest = np.flatnonzero(~single)
    order = rest[np.argsort(component[rest], kind="stable")]
    bounds = np.flatnonzero(np.diff(component[order])) + 1
    # maximise the total weight; an edge of weight <= 0 (possible only with a threshold
    # below 0.5) counts as the smallest positive weight, so it is kept when nothing competes
    positive = np.maximum(weight, 1e-9)
    for group in np.split(order, bounds):
        if len(group) == 0:
            continue
        if nodes_in[component[group[0]]] > max_optimal:
            accepted[group] = greedy_one_to_one(a[group], b[group], weight[group])
            continue
        rows, row_of = np.unique(a[group], return_inverse=True)
        cols, col_of = np.unique(b[group], return_inverse=True)
        matrix = np.zeros((len(rows), len(cols)))
        matrix[row_of, col_of] = positive[group]
        chosen_rows, chosen_cols = linear_sum_assignment(matrix, maximize=True)
        keep = np.zeros((len(rows), len(cols)), dtype=bool)
        keep[chosen_rows, chosen_cols] = True
        accepted[group] = keep[row_of, col_of] & (matrix[row_of, col_of] > 0)
    return accepted


def greedy_one_to_one(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """One-to-one assignment between two sources, greedy by weight: (E,) bool accepted."""
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    n_a = int(a.max()) + 1
    source = np.r_[np.zeros(n_a, np.int64), np.ones(int(b.max()) + 1, np.int64)]
    clusters = greedy_clusters(source, a, b + n_a, weight, np.ones(len(a)))
    return clusters.accepted


#: Dice at which two filters hold the same value: equal values give Dice 1; the debiased
#: Dice of noisy (BLIP) filters of equal values scatters around 1 by about +-0.1, and that of
#: different values (an NHS number, a date) stays far below.
_SAME_VALUE = 0.95
_NOISY_SAME_VALUE = 0.7


def same_value(source: EncodedSource, other: EncodedSource, name: str, left: np.ndarray,
                right: np.ndarray) -> np.ndarray:
    """Whether the pairs' values of field ``name`` are the same: (P,) bool."""
    flip = source.hints.flip_probability.get(name, 0.0)
    sim = dice_similarity(source.field_filters[name], other.field_filters[name], left, right,
                          flip_probability=flip)
    return sim >= (_NOISY_SAME_VALUE if flip else _SAME_VALUE)


@dataclass(frozen=True)
class DedupGate:
    """Fields that must agree for two records of one source to link (deduplication).

    Twins share a family name, date of birth, sex and postcode; only the given name tells
    them apart, and they are far more common than duplicate records, so a within-source
    link needs the given name to agree (Dice >= ``min_similarity``) - where the two records
    share the ``twins_share`` field and the ``home_field``. Records born on different days
    cannot be twins, and there the gate would only refuse duplicates with a mistyped date
    (whose salted names cannot be compared at all); their match probability alone decides.
    So it does for records born the same day at different addresses: in one source they
    are far more often a child registered again after a move (with a nickname, or a name
    mistyped) than twins recorded apart. A given name wholly inside the other (a middle
    name added: Harry and Harry Sebastian) agrees too: twins' names are not.
    """

    fields: tuple[str, ...] = ("given_name",)
    min_similarity: float = 0.85
    #: unique identifiers: two records of one source whose values differ (both present) are
    #: two children, however alike the rest (namesakes born the same day); a child with two
    #: NHS numbers is rarer than that, and a missed duplicate is safer than a false merge
    different_if: tuple[str, ...] = ("nhs_number",)
    #: the same for filters with BLIP noise (their debiased Dice scatters by about +-0.1:
    #: two noisy filters of one name reach 0.85 only about half the time, while twins'
    #: different names stay under about 0.45)
    noisy_min_similarity: float = 0.6
    twins_share: str | None = "date_of_birth"  #: None: gate every within-source pair
    #: twins share it too: the given names are checked only where the two records share it
    #: as well as ``twins_share`` (a missing home counts as shared; None: the date alone);
    #: and a pair found through a third record (:mod:`~linkage.matching.bridging`) that
    #: shares both must have given names agreeing at ``min_similarity`` even under noise
    #: (twins are often given alike names, and the bridge's evidence is the third record's,
    #: not the pair's own)
    home_field: str | None = "postcode"
    #: a given name lying wholly inside the other agrees: the overlap coefficient of the two
    #: filters ``|A & B| / min(|A|, |B|)`` (debiased under noise) at or above this (None:
    #: Dice only). Measured on six hard cohorts (20,000 children) with the home above:
    #: duplicates' median F1 0.940 / 0.992 / 0.947 -> 0.946 / 0.995 / 0.963 (education /
    #: health / social care); docs/matching.md, "The twins gate"
    contained_at: float | None = NAME_CONTAINMENT


def select_links(source: EncodedSource, other: EncodedSource, left: np.ndarray,
                 right: np.ndarray, weights: np.ndarray, probability: np.ndarray, *,
                 threshold: float, gate: DedupGate | None = None) -> np.ndarray:
    """Which scored candidate pairs may link: (P,) bool.

    A pair links when its probability reaches ``threshold``; between two sources, then at
    most one link per record (:func:`one_to_one`); within one source (``source is other``),
    the pair must also pass the ``gate``.
    """
    chosen = probability >= threshold
    if source is not other:
        picked = np.flatnonzero(chosen)
        chosen[picked] = one_to_one(left[picked], right[picked], weights[picked])
        return chosen
    if gate is None:
        return chosen
    for name in gate.different_if:
        if name not in source.field_filters:
            continue
        picked = np.flatnonzero(chosen)
        k = source.field_names.index(name)
        both = ~source.missing[left[picked], k] & ~other.missing[right[picked], k]
        same = same_value(source, other, name, left[picked], right[picked])
        chosen[picked[both & ~same]] = False
    gated = chosen.copy()  # the chosen pairs that could be twins
    if gate.twins_share is not None and gate.twins_share in source.field_filters:
        picked = np.flatnonzero(gated)
        gated[picked] = same_value(source, other, gate.twins_share, left[picked],
                                    right[picked])
        if gate.home_field is not None and gate.home_field in source.field_filters:
            picked = np.flatnonzero(gated)
            gated[picked] = home_shared(source, other, gate.home_field, left[picked],
                                        right[picked])
    for name in gate.fields:  # only the pairs still chosen need scoring
        if name not in source.field_filters:
            continue
        picked = np.flatnonzero(gated & chosen)
        flip = source.hints.flip_probability.get(name, 0.0)
        sim, overlap = dice_and_overlap(source.field_filters[name], other.field_filters[name],
                                        left[picked], right[picked], flip_probability=flip)
        agrees = sim >= (gate.noisy_min_similarity if flip else gate.min_similarity)
        if gate.contained_at is not None:
            agrees |= overlap >= gate.contained_at
        chosen[picked] = agrees | names_swapped(source, name, left[picked], right[picked])
    return chosen


def home_shared(source: EncodedSource, other: EncodedSource, name: str, left: np.ndarray,
                right: np.ndarray) -> np.ndarray:
    """Whether the pairs' records may share a home: field ``name`` the same, or missing in
    either record: (P,) bool."""
    k = source.field_names.index(name)
    unknown = source.missing[left, k] | other.missing[right, k]
    out = unknown.copy()
    known = np.flatnonzero(~unknown)
    out[known] = same_value(source, other, name, left[known], right[known])
    return out


def names_swapped(source: EncodedSource, name: str, left: np.ndarray, right: np.ndarray
                  ) -> np.ndarray:
    """Whether two records of ``source`` hold field ``name`` and its partner written the
    other way round: (P,) bool. An either-order salt fallback's tokens are equal (they are
    the same in either order) *and* the partner field differs: twins share the family name
    (and may share a given name's Soundex code, Sophie and Sophia), so only swapped names
    are one child's whatever the given names' Dice."""
    out = np.zeros(len(left), dtype=bool)
    for fb in source.hints.salt_fallbacks:
        if fb.swapped_field is None or name not in (fb.salted_field, fb.swapped_field) \
                or fb.blocking_pass not in source.blocking_names:
            continue
        partner = fb.swapped_field if name == fb.salted_field else fb.salted_field
        j = source.blocking_names.index(fb.blocking_pass)
        ka, kb = source.blocking_keys[left, j], source.blocking_keys[right, j]
        equal = np.flatnonzero((ka == kb) & (ka != 0))
        if partner in source.field_filters and len(equal):
            equal = equal[~same_value(source, source, partner, left[equal], right[equal])]
        out[equal] = True
    return out


@dataclass(frozen=True)
class PairLinks:
    """The links chosen between two sources (or within one): rows and their scores."""

    left: str                #: partner of ``left_rows``
    right: str               #: partner of ``right_rows`` (== left: deduplication)
    left_rows: np.ndarray    #: (E,) int64
    right_rows: np.ndarray   #: (E,) int64
    probability: np.ndarray  #: (E,) float64
    weight: np.ndarray       #: (E,) float64


def merge_links(first: PairLinks, second: PairLinks) -> PairLinks:
    """The links of ``first`` and ``second`` (the same pair of sources) as one, each pair of
    records once with its larger weight; within a source ``(x, y)`` and ``(y, x)`` are one
    pair. Sorted by ``(left_rows, right_rows)``."""
    if (first.left, first.right) != (second.left, second.right):
        raise MatchingError("Only links between the same sources can be merged.")
    left = np.concatenate([first.left_rows, second.left_rows]).astype(np.int64)
    right = np.concatenate([first.right_rows, second.right_rows]).astype(np.int64)
    weight = np.concatenate([first.weight, second.weight])
    probability = np.concatenate([first.probability, second.probability])
    if first.left == first.right:
        left, right = np.minimum(left, right), np.maximum(left, right)
    order = np.lexsort((-weight, right, left))  # by pair, the largest weight first
    left, right = left[order], right[order]
    keep = np.r_[True, (left[1:] != left[:-1]) | (right[1:] != right[:-1])]
    return PairLinks(first.left, first.right, left[keep], right[keep],
                     probability[order][keep], weight[order][keep])


def cluster_links(sources: Sequence[EncodedSource], links: Sequence[PairLinks]) -> pd.DataFrame:
    """Cluster every source's records from the chosen links: one row per linked record,
    ``cluster_id, partner, record_id, probability`` (the best link that placed it)."""
    offsets = np.cumsum([0] + [len(s) for s in sources])
    index = {s.partner: k for k, s in enumerate(sources)}
    source_of = np.repeat(np.arange(len(sources)), [len(s) for s in sources])
    a = np.concatenate([pl.left_rows + offsets[index[pl.left]] for pl in links])
    b = np.concatenate([pl.right_rows + offsets[index[pl.right]] for pl in links])
    weight = np.concatenate([pl.weight for pl in links])
    prob = np.concatenate([pl.probability for pl in links])
    within = np.concatenate([np.full(len(pl.weight), pl.left == pl.right) for pl in links])
    clusters = greedy_clusters(source_of, a.astype(np.int64), b.astype(np.int64), weight,
                               prob, within_source=within)
    sizes = np.bincount(clusters.label, minlength=len(source_of))
    linked = sizes[clusters.label] > 1
    _, cluster_ids, _ = distinct_with_inverse(clusters.label[linked])
    partner = np.asarray([s.partner for s in sources], dtype=object)[source_of[linked]]
    record_ids = np.concatenate([s.record_ids for s in sources])[linked]
    return pd.DataFrame({"cluster_id": cluster_ids.astype(np.int64), "partner": partner,
                         "record_id": record_ids,
                         "probability": np.round(clusters.probability[linked], 6)}
                        ).sort_values(["cluster_id", "partner"], ignore_index=True)
