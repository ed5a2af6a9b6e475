"""The pattern-mining attack on field-level Bloom filters (after Christen, Ranbaduge,
Vatsalan and Schnell 2017-2018).

The attacker knows the schema (q-gram length, padding; the encoding header says so) and a
public list of values with frequencies, but not the key. It works in three steps:

1. **Anchor**: align the most frequent filter groups with the most frequent public values
   (:func:`~linkage.privacy.frequency.frequency_alignment_attack`'s grouping, tolerant of
   noise), taking only the ``anchors`` largest groups, where frequency is reliable.
2. **Mine**: every q-gram sets the same bit positions wherever it occurs, so the positions of
   q-gram ``g`` are those set in (nearly) all anchor filters whose value holds ``g`` and in
   few of those whose value does not.
3. **Decode**: each filter is read as the set of identified q-grams whose positions are
   (mostly) set, and the guess is the public value whose identified q-grams agree best
   (Jaccard; ties go to the more frequent value). This reaches values far too rare for the
   frequency attack.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage.bits import unpackbits_rows
from linkage.encoding import FieldKind, FieldSpec
from linkage.encoding.tokens import SALT_SEPARATOR, tokenise_values
from linkage.privacy.frequency import AttackResult, distinct_rows, record_groups, score_guesses

_SET_IN_HOLDERS = 0.9   # a q-gram's position is set in at least this share of anchors with it
_SET_IN_OTHERS = 0.35   # ... and in at most this share of anchors without it
_PRESENT = 0.8          # a filter holds a q-gram when this share of its positions is set


def qgram_table(values: pd.Index, q: int = 2, padded: bool = True) -> pd.DataFrame:
    """Boolean (value x q-gram) table: which tokens each public value holds.

    Tokenised exactly as the encoder does (the schema is public). Values of a salted field
    are written ``"name|salt"`` (all of them) and hold the encoder's salted tokens
    ``"gram|salt"``.
    """
    labels = np.asarray(values, dtype=str)
    parts = np.strings.partition(labels, SALT_SEPARATOR)
    salted = len(labels) > 0 and bool((parts[1] == SALT_SEPARATOR).all())
    spec = FieldSpec(name="attacked", kind=FieldKind.NAME, qgram_length=q, padded=padded)
    tokens = tokenise_values(parts[0], spec, parts[2] if salted else None)
    codes, distinct = pd.factorize(tokens.token)
    table = np.zeros((len(labels), len(distinct)), dtype=bool)
    table[tokens.owner, codes] = True
    return pd.DataFrame(table, index=values, columns=np.asarray(distinct, dtype=object))


def mine_qgram_positions(anchor_bits: np.ndarray, anchor_grams: pd.DataFrame
                         ) -> dict[str, np.ndarray]:
    """Positions of each q-gram held by at least two anchors.

    ``anchor_bits`` (A, m) 0/1 float32: mean bits of each anchor group; ``anchor_grams``
    (A x q-grams) bool for the values the anchors were aligned with.
    """
    found = {}
    for gram in anchor_grams.columns:
        holds = anchor_grams[gram].to_numpy()
        if holds.sum() < 2 or (~holds).sum() < 2:
            continue
        in_holders = anchor_bits[holds].min(axis=0)
        in_others = anchor_bits[~holds].mean(axis=0)
        positions = np.flatnonzero((in_holders >= _SET_IN_HOLDERS)
                                   & (in_others <= _SET_IN_OTHERS))
        if len(positions) >= 2:
            found[str(gram)] = positions
    return found


def pattern_mining_guesses(filters: np.ndarray, public_frequencies: pd.Series, *,
                           q: int = 2, padded: bool = True, anchors: int = 60,
                           group_threshold: float | None = None,
                           groups: np.ndarray | None = None) -> np.ndarray:
    """Mine q-gram bit patterns from one field's filters and decode every record.

    ``filters`` (n, w) uint64, missing values excluded; ``public_frequencies`` value ->
    count in the attacker's population. ``group_threshold`` groups near-identical filters
    for the anchors (noisy encodings); ``groups`` passes that grouping in when it is already
    computed. Returns (n,) object guesses (None: no guess).
    """
    group = record_groups(filters, group_threshold) if groups is None else groups
    top_groups = np.argsort(-np.bincount(group), kind="stable")[:anchors]
    public = public_frequencies.sort_values(ascending=False, kind="stable")
    k = min(len(top_groups), len(public))
    bits = unpackbits_rows(filters)
    anchor_bits = np.stack([bits[group == g].mean(axis=0) for g in top_groups[:k]])
    positions = mine_qgram_positions(anchor_bits.astype(np.float32),
                                     qgram_table(public.index[:k], q, padded))
    if not positions:
        return np.full(len(filters), None, dtype=object)
    names = list(positions)
    distinct, inverse, _ = distinct_rows(filters)
    dbits = unpackbits_rows(distinct).astype(np.float32)
    present = np.stack([dbits[:, positions[g]].mean(axis=1) >= _PRESENT for g in names],
                       axis=1).astype(np.float32)                           # (u, G)
    holds = qgram_table(public.index, q, padded).reindex(
        columns=names, fill_value=False).to_numpy(dtype=np.float32)           # (V, G)
    both = present @ holds.T
    union = present.sum(1)[:, None] + holds.sum(1)[None, :] - both
    jaccard = np.where(union > 0, both / np.maximum(union, 1), 0.0)
    tie_break = 1e-6 * np.linspace(1.0, 0.0, len(public))[None, :]
    guess = np.asarray(public.index, dtype=object)[np.argmax(jaccard + tie_break, axis=1)]
    return guess[inverse]


def pattern_mining_attack(filters: np.ndarray, public_frequencies: pd.Series,
                          true_values: np.ndarray, *, q: int = 2, padded: bool = True,
                          anchors: int = 60, group_threshold: float | None = None
                          ) -> AttackResult:
    """:func:`pattern_mining_guesses` scored against ``true_values`` (n,)."""
    guesses = pattern_mining_guesses(filters, public_frequencies, q=q, padded=padded,
                                     anchors=anchors, group_threshold=group_threshold)
    return score_guesses("pattern mining", guesses, true_values)
