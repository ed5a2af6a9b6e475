"""Sub-commands for retention: ``linkage retention check|purge``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _load(args: argparse.Namespace) -> object:
    from linkage.protocols import load_agreement

    loaded = load_agreement(args.agreement)
    loaded.protocol(args.party)  # refuses a party not in the agreement
    return loaded


def _cmd_check(args: argparse.Namespace) -> int:
    from linkage.protocols.retention import overdue_artefacts

    overdue = overdue_artefacts(_load(args), args.party, args.folder)  # type: ignore[arg-type]
    for item in overdue:
        print(f"{item.path}: made {item.provenance.made_at[:10]} by {item.provenance.made_by}, "
              f"due for deletion on {item.due.isoformat()} ({item.clause})")
    if overdue:
        print(f"{len(overdue)} artefact(s) must be deleted: run 'linkage retention purge'",
              file=sys.stderr)
        return 1
    print(f"{args.folder}: nothing past {args.party}'s retention periods")
    return 0


def _cmd_purge(args: argparse.Namespace) -> int:
    from linkage.protocols.audit import read_signing_key
    from linkage.protocols.retention import purge

    signer = read_signing_key(args.signing_key) if args.signing_key else None
    log = args.audit_log or Path(args.folder) / "audit.jsonl"
    deleted = purge(_load(args), args.party, args.folder, audit_log=log,  # type: ignore[arg-type]
                    signing_key=signer)
    for item in deleted:
        print(f"deleted {item.path} (due {item.due.isoformat()}, {item.clause})")
    print(f"{len(deleted)} artefact(s) deleted; deletion certificate appended to {log}")
    return 0


def add_retention(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retention", help="list or delete artefacts past their retention",
                       description="Retention periods come from the holder's protocol "
                                   "(retention.encodings_days, retention.links_days).")
    inner = p.add_subparsers(dest="retention_command", metavar="ACTION")
    inner.required = True
    for name, handler, text in (("check", _cmd_check, "list what must be deleted (exit 1 "
                                                      "if anything is overdue)"),
                                ("purge", _cmd_purge, "delete it and record a deletion "
                                                      "certificate in the audit log")):
        q = inner.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        q.add_argument("folder", type=Path, help="folder holding the artefacts")
        q.add_argument("--agreement", type=Path, required=True)
        q.add_argument("--party", required=True, help="the party holding the artefacts")
        if name == "purge":
            q.add_argument("--audit-log", type=Path, default=None,
                           help="audit log for the certificate (default FOLDER/audit.jsonl)")
            q.add_argument("--signing-key", type=Path, default=None,
                           help="Ed25519 key to sign the certificate")
        q.set_defaults(handler=handler)
