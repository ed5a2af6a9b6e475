"""Sub-commands for data-subject rights and retention: ``linkage rights find|list|erase``
and ``linkage retention check|purge``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linkage.protocols import LoadedAgreement


def _load(args: argparse.Namespace) -> LoadedAgreement:
    from linkage.protocols import load_agreement

    loaded = load_agreement(args.agreement)
    loaded.protocol(args.party)  # refuses a party not in the agreement
    return loaded


def _cmd_check(args: argparse.Namespace) -> int:
    from linkage.protocols.retention import overdue_artefacts

    overdue = overdue_artefacts(_load(args), args.party, args.folder)
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
    deleted = purge(_load(args), args.party, args.folder, audit_log=log,
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


def _cmd_find(args: argparse.Namespace) -> int:
    from linkage.steps.rights import find_link_key

    key = find_link_key(agreement=args.agreement, partner=args.partner, links=args.links,
                        record_id=args.record_id, audit_log=args.audit_log,
                        signing_key=args.signing_key)
    print(key)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from linkage.steps.rights import list_link_key

    held = list_link_key(agreement=args.agreement, links=args.links, link_key=args.link_key,
                         audit_log=args.audit_log, signing_key=args.signing_key)
    for partner, records in sorted(held.records.items()):
        print(f"{partner}: {len(records)} record(s): {', '.join(records)}")
    print(f"{held.total} record(s) in {len(held.files)} file(s) under this link key")
    return 0


def _cmd_erase(args: argparse.Namespace) -> int:
    from linkage.errors import InputDataError
    from linkage.steps.rights import erase_from_store, erase_link_key

    if (args.links is None) == (args.store is None):
        raise InputDataError("give the match output folder or --store, not both or neither.")
    if args.store is not None:
        log = args.audit_log or Path("audit.jsonl")
        counts = erase_from_store(agreement=args.agreement, store=args.store,
                                  link_key=args.link_key, audit_log=log,
                                  signing_key=args.signing_key)
        print(f"erased {sum(counts.values())} record(s) under the link key from the store "
              f"(recorded in {log})")
        return 0

    held = erase_link_key(agreement=args.agreement, links=args.links, link_key=args.link_key,
                          audit_log=args.audit_log, signing_key=args.signing_key)
    print(f"erased {held.total} record(s) under the link key from "
          + ", ".join(p.name for p in held.files) + " (recorded in the audit log)")
    return 0


def add_rights(sub: argparse._SubParsersAction) -> None:
    from linkage.cli_governance import add_audit_options

    p = sub.add_parser("rights", help="subject access and erasure by link key",
                       description="A provider finds a record's link key; the linkage unit "
                                   "lists or erases everything it holds under that key.")
    inner = p.add_subparsers(dest="rights_command", metavar="ACTION")
    inner.required = True
    find = inner.add_parser("find", help="a provider: the link key of one of its records",
                            description="Print the link key of a record in the partner's "
                                        "own links file.")
    find.add_argument("--agreement", type=Path, required=True)
    find.add_argument("--partner", required=True)
    find.add_argument("--links", type=Path, required=True,
                      help="the partner's own links file from linkage match")
    find.add_argument("--record-id", required=True)
    add_audit_options(find)
    find.set_defaults(handler=_cmd_find)
    for name, handler, text in (("list", _cmd_list, "list what the linkage unit holds under "
                                                    "a link key"),
                                ("erase", _cmd_erase, "remove everything the linkage unit "
                                                      "holds under a link key")):
        q = inner.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        if name == "erase":
            q.add_argument("links", type=Path, nargs="?", default=None,
                           help="the output folder of linkage match")
            q.add_argument("--store", default=None,
                           help="or the linkage unit's store (SQLite file or postgresql:// "
                                "URL): erase the key's records, links and clusters there")
        else:
            q.add_argument("links", type=Path, help="the output folder of linkage match")
        q.add_argument("--agreement", type=Path, required=True)
        q.add_argument("--link-key", required=True)
        add_audit_options(q)
        q.set_defaults(handler=handler)
