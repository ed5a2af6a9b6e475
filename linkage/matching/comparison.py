"""Field similarities -> comparison levels, the input of the Fellegi-Sunter model.

Each field's Dice similarity on a candidate pair falls into a level: level 0 is the
closest agreement, the last level is disagreement, and ``-1`` marks a pair where either
record lacks the field (the model treats it as neutral).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from linkage.errors import MatchingError

#: Default Dice thresholds by identifier kind (descending; below the last = disagree).
#: Dates: 3 positional tokens, so 2 of 3 agree ~ 0.67 and 1 of 3 ~ 0.33.
DEFAULT_THRESHOLDS: dict[str, tuple[float, ...]] = {
    "name": (0.95, 0.85, 0.7, 0.5),
    "date": (0.99, 0.6, 0.3),
    "sex": (0.99,),
    "postcode": (0.95, 0.6, 0.35),
    "nhs_number": (0.95,),
    "text": (0.95, 0.8, 0.6),
    "exact": (0.95,),
}

#: Thresholds for filters hardened with BLIP (applied to the debiased Dice). Noise spreads
#: each similarity over about +-0.1, so the levels are finer and lower: the model then
#: learns how the spread-out agreement of matches differs from non-matches. Measured on the
#: synthetic cohort at epsilon 2: F1 0.983 with these against 0.972 with the defaults.
NOISY_THRESHOLDS: dict[str, tuple[float, ...]] = {
    "name": (0.9, 0.8, 0.7, 0.6, 0.45),
    "date": (0.9, 0.75, 0.55, 0.25),
    "sex": (0.8,),
    "postcode": (0.9, 0.75, 0.55, 0.3),
    "nhs_number": (0.85,),
    "text": (0.9, 0.75, 0.6, 0.45),
    "exact": (0.85,),
}


#: Under BLIP noise, the levels whose lower threshold is at least this say "the same value"
#: (:meth:`FieldComparison.agrees`): with the default noisy thresholds, the top two. Measured
#: on the hard cohort (20,000 children, epsilon 1.5): of true pairs with equal postcodes 76%
#: reach level 0 (>= 0.9) and 21% level 1 (>= 0.75); equal given names spread alike.
NOISY_AGREEMENT = 0.75

#: Within a source, under BLIP noise, a salted name whose filters reach this debiased Dice
#: (the top three levels with the default noisy thresholds) counts as the same name where
#: its confirming pass's noise-free tokens are equal (``ComparisonHints.confirmed_by``: the
#: Soundex code with the salt; :func:`~linkage.matching.candidates.compare_pairs`). From the
#: agreeing levels only (0.8) the duplicates gained as much (hard cohort, six seeds), but
#: measured between sources as well, the largest calibration gap at 200,000 children was
#: 0.24 from 0.8 against 0.11 from 0.7 (0.16 without; between sources it is not done).
NOISY_CONFIRMED = 0.7

#: Names: a pair below the agreeing levels whose shorter name lies (almost) wholly inside the
#: longer one gets a level of its own ("Smith" and "Smith-Jones", "Oliver" and "Oliver
#: James"): the overlap coefficient ``|A & B| / min(|A|, |B|)`` at or above this.
NAME_CONTAINMENT = 0.9


@dataclass(frozen=True)
class FieldComparison:
    """How one field's similarity is cut into levels.

    ``contained_at``: when set, a pair below the agreeing levels whose overlap coefficient
    reaches it takes an extra level after disagreement (index ``len(thresholds) + 1``): part of a
    double-barrelled family name, or a middle name in the given-name field.

    ``agreeing_levels``: how many top levels say "the same value" where another comparison
    asks whether this field agrees (:meth:`agrees`). One for exact filters; under BLIP
    noise, those whose threshold reaches :data:`NOISY_AGREEMENT` (two by default).
    """

    name: str
    thresholds: tuple[float, ...]
    contained_at: float | None = None
    agreeing_levels: int = 1

    def __post_init__(self) -> None:
        t = self.thresholds
        if not t or any(b >= a for a, b in itertools.pairwise(t)) or \
                not all(0 < x <= 1 for x in t):
            raise MatchingError(f"The thresholds of field '{self.name}' must be decreasing "
                                f"values in (0, 1]. Got {t} instead.")
        if not 1 <= self.agreeing_levels <= len(t):
            raise MatchingError(f"The agreeing_levels of field '{self.name}' must be between "
                                f"1 and its number of thresholds ({len(t)}). Got "
                                f"{self.agreeing_levels} instead.")

    @property
    def n_levels(self) -> int:
        return len(self.thresholds) + 1 + (self.contained_at is not None)

    @property
    def confirmable_levels(self) -> int:
        """How many top levels a noise-free confirmation raises to the top
        (:data:`NOISY_CONFIRMED`): those whose threshold reaches it (at least the agreeing
        ones)."""
        return max(self.agreeing_levels, sum(t >= NOISY_CONFIRMED for t in self.thresholds))

    def agrees(self, levels: np.ndarray) -> np.ndarray:
        """(P,) int8 levels -> (P,) bool: the two values are the same, or one lies inside
        the other (a top agreeing level, or the containment level); False where missing."""
        out = (levels >= 0) & (levels < self.agreeing_levels)
        if self.contained_at is not None:
            out |= levels == len(self.thresholds) + 1
        return out

    def levels(self, similarity: np.ndarray, missing: np.ndarray,
               overlap: np.ndarray | None = None) -> np.ndarray:
        """(P,) float similarity, (P,) bool missing -> (P,) int8 levels (-1 = missing);
        ``overlap`` (P,) float, the overlap coefficient, for ``contained_at``."""
        cuts = -np.asarray(self.thresholds, dtype=np.float32)
        level = np.searchsorted(cuts, -similarity.astype(np.float32), side="left")
        if self.contained_at is not None and overlap is not None:
            # below the agreeing levels only: under BLIP noise the debiased overlap of two
            # filters of one name is near 1 too, and a name on its second level is the same
            # name, not one inside another
            below = level >= self.agreeing_levels
            level[below & (overlap >= self.contained_at)] = len(self.thresholds) + 1
        return np.where(missing, -1, level).astype(np.int8)


def comparisons_for(kinds: Mapping[str, str],
                    overrides: Mapping[str, tuple[float, ...]] | None = None, *,
                    noisy: Collection[str] = ()) -> tuple[FieldComparison, ...]:
    """One :class:`FieldComparison` per field, by kind, with optional per-field overrides.

    ``noisy``: fields whose filters carry BLIP noise; :data:`NOISY_THRESHOLDS` are their
    defaults.
    """
    overrides = overrides or {}

    def default(name: str, kind: str) -> tuple[float, ...]:
        return (NOISY_THRESHOLDS if name in noisy else DEFAULT_THRESHOLDS)[kind]

    out = []
    for name, kind in kinds.items():
        thresholds = tuple(overrides.get(name, default(name, kind)))
        agreeing = max(1, sum(t >= NOISY_AGREEMENT for t in thresholds)) if name in noisy \
            else 1
        out.append(FieldComparison(name, thresholds, NAME_CONTAINMENT if kind == "name" else None,
                                   agreeing))
    return tuple(out)
