"""``privacy-check`` as an audited step: a provider attacks its own encodings."""

from __future__ import annotations

import datetime as dt

from linkage.encoding import read_encodings
from linkage.errors import ProtocolError
from linkage.privacy import PrivacyReport, privacy_check
from linkage.steps.layer import PathLike, audited_step, default_audit_log


def check_privacy(*, agreement: PathLike, encodings: PathLike, reference: PathLike,
                  audit_log: PathLike | None = None, progress: bool = False,
                  today: dt.date | None = None,
                  signing_key: PathLike | None = None) -> PrivacyReport:
    """Run the attacks on ``encodings`` with ``reference`` (the extract they were made
    from) as the attacker's knowledge; the audit entry records the rates (no values)."""
    made = read_encodings(encodings)  # read once: its header names the actor
    partner = made.partner
    with audited_step("privacy-check", agreement=agreement, actor=partner,
                      inputs={"encodings": encodings, "reference": reference}, outputs={},
                      audit_log=audit_log or default_audit_log(encodings),
                      signing_key=signing_key, today=today) as step:
        # the provider's own file judged against the current bar: the same agreement,
        # though its version or content (e.g. a new maximum rate) may have moved on
        a = step.agreement.agreement
        if made.agreement_id != a.id:
            raise ProtocolError(f"{encodings}: was made under agreement "
                                f"'{made.agreement_id}', not '{a.id}' "
                                f"({step.agreement.path}: id).")
        step.agreement.protocol(partner)
        report = privacy_check(step.agreement, made, reference, progress=progress)
        risk = report.risk
        step.counts = {"frequency_alignment": risk.frequency_alignment,
                       "pattern_mining": risk.pattern_mining,
                       "graph_matching": risk.graph_matching,
                       "blocking_tokens": risk.blocking_tokens,
                       "advantage": risk.advantage, "over_limit": report.over_limit}
    return report

