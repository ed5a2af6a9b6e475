"""The linkage unit's stage: encoded sources in, links out. Never touches a key.

Imports flow one way: this package uses :mod:`linkage.contracts`, :mod:`linkage.bits` and
numpy, never :mod:`linkage.encoding`.
"""

from linkage.matching.blocking import CandidatePairs, LshParameters
from linkage.matching.clustering import (
    DedupGate,
    greedy_clusters,
    greedy_one_to_one,
    one_to_one,
    select_links,
)
from linkage.matching.comparison import FieldComparison, comparisons_for
from linkage.matching.evaluation import (
    PairQuality,
    QualityReport,
    calibration_table,
    pairwise_quality,
)
from linkage.matching.linker import LinkageResult, Linker, LinkerSettings, PairModel
from linkage.matching.scoring import FellegiSunter, match_probability
from linkage.matching.similarity import ScoredPairs, dice_above, dice_similarity, popcounts
from linkage.matching.summary import MatchModel

__all__ = [
    "CandidatePairs",
    "DedupGate",
    "FellegiSunter",
    "FieldComparison",
    "LinkageResult",
    "Linker",
    "LinkerSettings",
    "LshParameters",
    "MatchModel",
    "PairModel",
    "PairQuality",
    "QualityReport",
    "ScoredPairs",
    "calibration_table",
    "comparisons_for",
    "dice_above",
    "dice_similarity",
    "greedy_clusters",
    "greedy_one_to_one",
    "match_probability",
    "one_to_one",
    "pairwise_quality",
    "popcounts",
    "select_links",
]
