"""``linkage protocol records-of-processing``: the records an IG lead keeps, from the agreement.

Registered under the ``protocol`` sub-command by :func:`add_records`, called from
``linkage.cli_governance.add_protocol``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_records(args: argparse.Namespace) -> int:
    from linkage.protocols import load_agreement
    from linkage.protocols.records import write_records

    loaded = load_agreement(args.agreement)
    for path in write_records(loaded, args.out):
        print(f"wrote {path}")
    return 0


def add_records(inner: argparse._SubParsersAction) -> None:
    """Register ``records-of-processing`` on the ``protocol`` sub-command's subparsers."""
    p = inner.add_parser(
        "records-of-processing", help="Art. 30 records and draft privacy notices",
        description="Write, for every party, its record of processing activities (UK GDPR "
                    "Art. 30(1)) as Markdown and CSV, and for every data provider a draft "
                    "privacy notice (Arts 13 and 14), all generated from the agreement and "
                    "its partner protocols. Regenerate them whenever the agreement changes.")
    p.add_argument("agreement", type=Path, help="the agreement (with its partner protocols)")
    p.add_argument("--out", type=Path, required=True,
                   help="folder to write PARTY.record-of-processing.md/.csv and "
                        "PARTY.privacy-notice.md into")
    p.set_defaults(handler=_cmd_records)
