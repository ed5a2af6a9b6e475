"""Candidate pairs and their comparison levels: the work a backend runs.

Blocking and comparing are the part of linking that grows with the data; scoring,
assignment and clustering work on the (much smaller) result. So the :class:`Linker` hands
this part to a backend: :class:`InProcessBackend` (the default) or
:class:`linkage.matching.distributed.DaskBackend`. Both return the same arrays, sorted by
``(left, right)``, so everything after them gives identical links.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from linkage.matching.blocking import BlockingResult, block
from linkage.matching.comparison import FieldComparison
from linkage.matching.similarity import dice_similarity


@dataclass(frozen=True)
class ComparisonInputs:
    """What comparing needs of one source: blocking keys, field filters, missing flags."""

    keys: np.ndarray                       #: (n, passes) uint64, 0 = no key
    field_filters: dict[str, np.ndarray]   #: field -> (n, w) uint64
    missing: np.ndarray                    #: (n, F) bool, in ``field_names`` order
    field_names: tuple[str, ...]
    flip_probability: Mapping[str, float] = field(default_factory=dict)  #: BLIP noise by field
    salted_by: Mapping[str, str] = field(default_factory=dict)  #: field -> field salting it

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs (sorted by left, right) and their levels ``(P, fields)`` int8."""

    blocking: BlockingResult
    levels: np.ndarray


def compare_pairs(a: ComparisonInputs, b: ComparisonInputs, left: np.ndarray,
                  right: np.ndarray, comparisons: Sequence[FieldComparison]) -> np.ndarray:
    """Comparison level of every field for the pairs ``(a[left], b[right])``: (P, F) int8.

    A field salted with another (``salted_by``) only says something when the salt agrees:
    where the salting field is not at its top level, the salted field is set to missing
    (-1, neutral), so the model scores it conditionally instead of counting the salt twice.
    """
    out = np.empty((len(left), len(comparisons)), dtype=np.int8)
    for f, comp in enumerate(comparisons):
        sim = dice_similarity(a.field_filters[comp.name], b.field_filters[comp.name],
                              left, right,
                              flip_probability=a.flip_probability.get(comp.name, 0.0))
        k = a.field_names.index(comp.name)
        out[:, f] = comp.levels(sim, a.missing[left, k] | b.missing[right, k])
    column = {comp.name: f for f, comp in enumerate(comparisons)}
    for salted, salt in a.salted_by.items():
        if salted in column and salt in column:
            out[out[:, column[salt]] != 0, column[salted]] = -1
    return out


class CandidateBackend(Protocol):
    """Runs blocking and comparison for one pair of sources (or one source with itself)."""

    def candidates(self, a: ComparisonInputs, b: ComparisonInputs, names: tuple[str, ...],
                   comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                   self_join: bool) -> Candidates: ...


class InProcessBackend:
    """Blocking and comparison in this process (numba kernels use every core)."""

    def candidates(self, a: ComparisonInputs, b: ComparisonInputs, names: tuple[str, ...],
                   comparisons: Sequence[FieldComparison], *, max_block_pairs: int,
                   self_join: bool) -> Candidates:
        blocking = block(a.keys, b.keys, names, max_block_pairs=max_block_pairs,
                         self_join=self_join)
        return Candidates(blocking, compare_pairs(a, b, blocking.left, blocking.right,
                                                  comparisons))
