"""The frequency-alignment attack on field-level Bloom filters.

The attacker (a curious linkage unit) holds one field's filters and a public frequency list
of that field's values (e.g. given names of local births). Deterministic encodings give every
occurrence of a value the same filter, so the k-th most frequent filter is guessed to be the
k-th most frequent value. We count how many records, and how many distinct values, the guess
gets right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class AttackResult:
    """How well an attack did against one field's encodings."""

    attack: str
    records: int
    records_correct: int
    values_guessed: int
    values_correct: int

    @property
    def record_rate(self) -> float:
        """Share of records whose value the attack recovered."""
        return self.records_correct / self.records if self.records else 0.0

    @property
    def value_rate(self) -> float:
        """Share of guessed distinct values that were right."""
        return self.values_correct / self.values_guessed if self.values_guessed else 0.0


def _row_groups(filters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical rows: each row's group id and each group's size."""
    rows = np.ascontiguousarray(filters).view(np.dtype((np.void, filters.shape[1] * 8)))
    _, inverse, counts = np.unique(rows.ravel(), return_inverse=True, return_counts=True)
    return inverse.ravel(), counts


def frequency_alignment_attack(filters: np.ndarray, public_frequencies: pd.Series,
                               true_values: np.ndarray, *, top: int = 200) -> AttackResult:
    """Align the ``top`` most frequent filters with the ``top`` most frequent public values.

    ``filters`` (n, w) uint64 of one field, missing values excluded; ``public_frequencies``
    maps a value to its count in the attacker's population; ``true_values`` (n,) holds the
    encoded records' real values, used only to score the attack.
    """
    group, sizes = _row_groups(filters)
    by_size = np.argsort(-sizes, kind="stable")[:top]
    names = public_frequencies.sort_values(ascending=False, kind="stable").index[:top]
    k = min(len(by_size), len(names))
    guess_of_group = np.full(len(sizes), None, dtype=object)
    guess_of_group[by_size[:k]] = np.asarray(names[:k], dtype=object)
    guesses = guess_of_group[group]
    correct = guesses == np.asarray(true_values, dtype=object)
    truth_of_group = pd.Series(np.asarray(true_values, dtype=object)).groupby(group).agg(
        lambda s: s.mode().iloc[0])
    values_correct = int(sum(guess_of_group[g] == truth_of_group[g] for g in by_size[:k]))
    return AttackResult("frequency alignment", len(filters), int(correct.sum()), k,
                        values_correct)
