"""Attacks on our own encodings, to measure what they protect (see docs/threat-model.md).

Attacks a curious linkage unit could run with public knowledge: frequency alignment and
pattern mining on field-level filters, similarity-graph matching on whole records, and
frequency alignment on the keyed blocking tokens. Each is scored against the truth.
"""

from linkage.privacy.assessment import (
    PassRisk,
    SchemaRisk,
    assess_blocking_passes,
    assess_schema,
)
from linkage.privacy.check import PrivacyReport, privacy_check
from linkage.privacy.frequency import (
    AttackResult,
    frequency_alignment_attack,
    frequency_alignment_guesses,
    score_guesses,
    token_frequency_guesses,
)
from linkage.privacy.graph_matching import graph_matching_attack
from linkage.privacy.pattern_mining import pattern_mining_attack, pattern_mining_guesses

__all__ = ["AttackResult", "PassRisk", "PrivacyReport", "SchemaRisk", "assess_blocking_passes",
           "assess_schema",
           "frequency_alignment_attack", "frequency_alignment_guesses", "graph_matching_attack",
           "pattern_mining_attack", "pattern_mining_guesses", "privacy_check", "score_guesses",
           "token_frequency_guesses"]
