"""The frequency-alignment attack on field-level Bloom filters.

The attacker (a curious linkage unit) holds one field's filters and a public frequency list
of that field's values (e.g. given names of local births). Deterministic encodings give every
occurrence of a value the same filter, so the k-th most frequent filter is guessed to be the
k-th most frequent value. Randomised response (BLIP) makes every filter distinct, so the
attacker first groups *near-identical* filters (Dice at least ``group_threshold``: noisy
copies of one value sit closer to each other than to other values) around dense centres
and aligns the groups instead. We count how many records, and how many distinct values, the
guess gets right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from linkage.matching import dice_above


@dataclass(frozen=True)
class AttackResult:
    """How well an attack did against one field's (or one extract's) encodings."""

    attack: str
    records: int
    records_correct: int
    values_guessed: int
    values_correct: int

    @property
    def record_rate(self) -> float:
        """Share of records whose value (or identity) the attack recovered."""
        return self.records_correct / self.records if self.records else 0.0

    @property
    def value_rate(self) -> float:
        """Share of guessed distinct values (or claimed identities) that were right."""
        return self.values_correct / self.values_guessed if self.values_guessed else 0.0


def distinct_rows(filters: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Identical rows of ``(n, w)`` uint64 grouped.

    Returns ``(distinct (u, w), inverse (n,), counts (u,))``.
    """
    filters = np.ascontiguousarray(filters)
    rows = filters.view(np.dtype((np.void, filters.shape[1] * 8)))
    _, first, inverse, counts = np.unique(rows.ravel(), return_index=True, return_inverse=True,
                                          return_counts=True)
    return filters[first], inverse.ravel(), counts


def near_identical_groups(filters: np.ndarray, threshold: float, *,
                          groups: int = 400) -> np.ndarray:
    """Group rows around dense centres: (n,) group id.

    Greedy canopy clustering on the graph of Dice ``>= threshold``: the record with the most
    ungrouped neighbours founds a group with those neighbours, ``groups`` times; the rest
    stay alone. Unlike connected components it does not chain different values together
    when noise makes the threshold low.
    """
    distinct, inverse, counts = distinct_rows(filters)
    u = len(distinct)
    pairs = dice_above(distinct, distinct, threshold)
    graph = csr_matrix((np.ones(len(pairs), dtype=np.float64), (pairs.left, pairs.right)),
                       shape=(u, u))
    weight = counts.astype(np.float64)
    label = np.full(u, -1, dtype=np.int64)
    degree = graph @ weight  # records (not distinct filters) within reach, self included
    for g in range(groups):
        centre = int(np.argmax(degree))
        if degree[centre] <= 0:
            break
        members = graph.indices[graph.indptr[centre]:graph.indptr[centre + 1]]
        members = members[label[members] < 0]
        label[members] = g
        label[centre] = g
        gone = np.zeros(u)
        gone[members] = weight[members]
        gone[centre] = weight[centre]
        degree -= graph @ gone  # neighbours lose the members just grouped
        degree[label >= 0] = -1.0
    alone = label < 0
    label[alone] = groups + np.arange(int(alone.sum()))
    return label[inverse]


def score_guesses(attack: str, guesses: np.ndarray, true_values: np.ndarray) -> AttackResult:
    """Score per-record guesses (None = no guess) against the truth."""
    guesses = np.asarray(guesses, dtype=object)
    correct = guesses == np.asarray(true_values, dtype=object)
    made = np.asarray([g is not None for g in guesses], dtype=bool)
    return AttackResult(attack, len(guesses), int(correct.sum()),
                        len(pd.unique(guesses[made])), len(pd.unique(guesses[correct])))


def record_groups(filters: np.ndarray, group_threshold: float | None) -> np.ndarray:
    """(n,) group id: identical filters, or near-identical ones when ``group_threshold``."""
    if group_threshold is None:
        return distinct_rows(filters)[1]
    return near_identical_groups(filters, group_threshold)


def frequency_alignment_guesses(filters: np.ndarray, public_frequencies: pd.Series, *,
                                top: int = 200, group_threshold: float | None = None,
                                groups: np.ndarray | None = None) -> np.ndarray:
    """Align the ``top`` largest filter groups with the ``top`` most frequent public values.

    ``filters`` (n, w) uint64 of one field, missing values excluded; ``public_frequencies``
    maps a value to its count in the attacker's population. ``group_threshold`` (None:
    identical filters only) groups near-identical filters first, against noisy encodings;
    ``groups`` passes that grouping in when it is already computed.
    Returns (n,) object: each record's guessed value, None where no guess.
    """
    group = record_groups(filters, group_threshold) if groups is None else groups
    sizes = np.bincount(group)
    by_size = np.argsort(-sizes, kind="stable")[:top]
    names = public_frequencies.sort_values(ascending=False, kind="stable").index[:top]
    k = min(len(by_size), len(names))
    guess_of_group = np.full(len(sizes), None, dtype=object)
    guess_of_group[by_size[:k]] = np.asarray(names[:k], dtype=object)
    return guess_of_group[group]


def frequency_alignment_attack(filters: np.ndarray, public_frequencies: pd.Series,
                               true_values: np.ndarray, *, top: int = 200,
                               group_threshold: float | None = None) -> AttackResult:
    """:func:`frequency_alignment_guesses` scored against ``true_values`` (n,)."""
    guesses = frequency_alignment_guesses(filters, public_frequencies, top=top,
                                          group_threshold=group_threshold)
    label = "frequency alignment" if group_threshold is None else \
        f"frequency alignment (groups at Dice >= {group_threshold:g})"
    return score_guesses(label, guesses, true_values)


def token_frequency_guesses(tokens: np.ndarray, public_frequencies: pd.Series, *,
                            top: int = 200) -> np.ndarray:
    """Frequency alignment on deterministic tokens (keyed blocking keys): records holding
    the same token form a group, and the ``top`` largest groups are aligned with the
    ``top`` most frequent public values of what the token encodes.

    ``tokens`` (n,) uint64 of one blocking pass (records without a token excluded);
    returns (n,) object guesses, None where no guess. No noise protects a blocking token:
    equal values give equal tokens by design, so that blocking can find them.
    """
    codes = pd.factorize(np.asarray(tokens))[0]
    return frequency_alignment_guesses(np.zeros((len(codes), 1), dtype=np.uint64),
                                       public_frequencies, top=top, groups=codes)
