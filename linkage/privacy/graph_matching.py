"""The similarity-graph matching attack (after Vidanage, Ranbaduge, Christen and Schnell 2019).

Bloom filters are built to preserve similarity, so the graph of "which records are similar
to which" survives encoding. The attacker encodes its own plaintext records (a register of
local births that overlaps the extract) under the public schema with a key of its own,
builds similarity graphs on each side (one per view: each field's filters, and the fields
concatenated), describes every node by features that do not depend on the key (per view:
how many bits its filter sets, its degree at several similarity thresholds, its strongest
edge weights), and pairs encoded and plaintext nodes that are each
other's nearest neighbours in feature space. A pair is a claimed re-identification; we count
the claims that are right.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from linkage.matching import dice_above, popcounts
from linkage.privacy.frequency import AttackResult

DEGREE_THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def node_features(filters: np.ndarray, *, neighbours: int = 8) -> np.ndarray:
    """Key-independent features of each record in its similarity graph: ``(n, f)`` float64.

    Columns: set bits; degree at each of :data:`DEGREE_THRESHOLDS`; the ``neighbours``
    highest edge weights (Dice), in descending order, 0 where there are fewer.
    """
    n = len(filters)
    pairs = dice_above(filters, filters, DEGREE_THRESHOLDS[0])
    keep = pairs.left != pairs.right
    left, score = pairs.left[keep], pairs.score[keep]
    degrees = [np.bincount(left[score >= t], minlength=n) for t in DEGREE_THRESHOLDS]
    order = np.lexsort((-score, left))
    left, score = left[order], score[order]
    start = np.searchsorted(left, np.arange(n))
    rank = np.arange(len(left)) - start[left]
    top = np.zeros((n, neighbours))
    within = rank < neighbours
    top[left[within], rank[within]] = score[within]
    return np.column_stack([popcounts(filters), *degrees, top]).astype(np.float64)


def graph_matching_attack(encoded: Sequence[np.ndarray], plaintext: Sequence[np.ndarray],
                          true_index: np.ndarray, *, neighbours: int = 8) -> AttackResult:
    """Re-identify encoded records by matching graph features with the attacker's records.

    ``encoded``: views of the filters the linkage unit holds, each (n, w_i) uint64 (e.g.
    each field, and the fields concatenated); ``plaintext``: the same views of the
    attacker's records encoded under its own key and the same schema, each (m, w_i);
    ``true_index`` (n,) int: row of ``plaintext`` that is really each encoded record (-1 if
    none), used only to score the attack.
    """
    fe = np.hstack([node_features(v, neighbours=neighbours) for v in encoded])
    fp = np.hstack([node_features(v, neighbours=neighbours) for v in plaintext])
    pooled = np.vstack([fe, fp])
    scale = pooled.std(axis=0)
    scale[scale == 0] = 1.0
    fe, fp = fe / scale, fp / scale
    _, nearest_plain = cKDTree(fp).query(fe)
    _, nearest_encoded = cKDTree(fe).query(fp)
    mutual = nearest_encoded[nearest_plain] == np.arange(len(fe))
    correct = mutual & (nearest_plain == np.asarray(true_index))
    return AttackResult("graph matching", len(fe), int(correct.sum()), int(mutual.sum()),
                        int(correct.sum()))
