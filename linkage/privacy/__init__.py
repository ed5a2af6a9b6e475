"""Attacks on our own encodings, to measure what they protect (see docs/threat-model.md).

So far: the frequency-alignment attack on field-level filters. The pattern-mining and
graph-matching attacks of the privacy evaluation are still to come.
"""

from linkage.privacy.check import PrivacyReport, privacy_check
from linkage.privacy.frequency import AttackResult, frequency_alignment_attack

__all__ = ["AttackResult", "PrivacyReport", "frequency_alignment_attack", "privacy_check"]
