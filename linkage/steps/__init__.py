"""The steps of the flow as library calls, each checked against the protocols and audited.

The CLI calls these; data teams may too. Every step that reads or writes data runs inside
:func:`~linkage.steps.layer.audited_step`: it loads the agreement, refuses what the
protocols do not permit, writes its outputs to temporaries, appends to the audit log and
only then puts the outputs in place.
"""

from linkage.steps.encode import EncodeResult, encode_extract
from linkage.steps.evaluate import Evaluation, evaluate_links
from linkage.steps.layer import audited_step, default_audit_log
from linkage.steps.match import MatchResult, match_encodings
from linkage.steps.privacy import check_privacy
from linkage.steps.release import ReleaseResult, release_attributes
from linkage.steps.report import report_links

__all__ = [
    "EncodeResult",
    "Evaluation",
    "MatchResult",
    "ReleaseResult",
    "audited_step",
    "check_privacy",
    "default_audit_log",
    "encode_extract",
    "evaluate_links",
    "match_encodings",
    "release_attributes",
    "report_links",
]
