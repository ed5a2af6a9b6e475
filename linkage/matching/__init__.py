"""The linkage unit's stage: packed filters in, links out. Never touches a key.

Imports flow one way: this package uses :mod:`linkage.bits` and numpy, never
:mod:`linkage.encoding`.
"""

from linkage.matching.blocking import BlockingResult, LshParameters
from linkage.matching.clustering import greedy_clusters, greedy_one_to_one, one_to_one
from linkage.matching.comparison import FieldComparison, comparisons_for
from linkage.matching.evaluation import PairQuality, QualityReport, pairwise_quality
from linkage.matching.linker import LinkageResult, Linker, PairModel, Source, source_from_encodings
from linkage.matching.scoring import FellegiSunter
from linkage.matching.similarity import CandidatePairs, dice_above, dice_similarity, popcounts

__all__ = [
    "BlockingResult",
    "CandidatePairs",
    "FellegiSunter",
    "FieldComparison",
    "LinkageResult",
    "Linker",
    "LshParameters",
    "PairModel",
    "PairQuality",
    "QualityReport",
    "Source",
    "comparisons_for",
    "dice_above",
    "dice_similarity",
    "greedy_clusters",
    "greedy_one_to_one",
    "one_to_one",
    "pairwise_quality",
    "popcounts",
    "source_from_encodings",
]
