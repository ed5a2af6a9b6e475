"""Sub-commands for IG leads and auditors: ``protocol``, ``audit`` and ``release``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from linkage.errors import ProtocolError


def _file_kind(path: Path) -> str:
    """``"agreement"`` if the file lists parties, else ``"partner protocol"``."""
    from linkage.protocols.loading import read_yaml_document

    data, _ = read_yaml_document(path)  # a file that is not readable YAML is refused here
    return "agreement" if isinstance(data, dict) and "parties" in data else "partner protocol"


def _load_any(path: Path) -> tuple[str, object]:
    """An agreement (with its parties) or a single partner protocol, by content."""
    from linkage.protocols import PartnerProtocol, load_agreement, load_model

    kind = _file_kind(path)
    if kind == "agreement":
        return kind, load_agreement(path)
    return kind, load_model(path, PartnerProtocol)


def _date_problems(path: Path, loaded: object) -> tuple[str | None, str | None]:
    """(a warning, a failure) for an agreement's dates today: its review is overdue, it
    has expired."""
    import datetime

    from linkage.protocols.loading import LoadedAgreement

    if not isinstance(loaded, LoadedAgreement):
        return None, None
    a, today = loaded.agreement, datetime.date.today()
    if today > a.expiry_date:
        return None, (f"{path}: expiry_date: agreement '{a.id}' expired on "
                      f"{a.expiry_date.isoformat()}; no step runs under it: renew it (a new "
                      f"version, re-approved) before use.")
    if today > a.review_date:
        return (f"{path}: review_date: warning: review overdue since "
                f"{a.review_date.isoformat()}; review and re-approve it."), None
    return None, None


def _cmd_check(args: argparse.Namespace) -> int:
    """Exit 1 when a file is invalid or an agreement has expired; an overdue review is a
    warning."""
    from linkage.protocols import ProtocolProblems

    failures = 0
    for path in args.files:
        try:
            kind, loaded = _load_any(path)
        except ProtocolProblems as error:
            failures += 1
            print(str(error), file=sys.stderr)
            continue
        warning, failure = _date_problems(path, loaded)
        if failure:
            failures += 1
            print(failure, file=sys.stderr)
            continue
        print(f"{path}: valid {kind}")
        if warning:
            print(warning, file=sys.stderr)
    return 1 if failures else 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from linkage.protocols.explain import as_plain_text, explain_agreement, explain_partner

    kind, loaded = _load_any(args.file)
    if kind == "agreement":
        text = explain_agreement(loaded)  # type: ignore[arg-type]
    else:
        text = "\n".join(explain_partner(loaded)) + "\n"  # type: ignore[arg-type]
    print(text if args.markdown else as_plain_text(text), end="")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    """Exit 1 when the changes need re-approval (a widening, or changed content under an
    unchanged version)."""
    from linkage.protocols import PartnerProtocol, load_agreement, load_model
    from linkage.protocols.diff import diff_agreements, diff_protocols

    kind_old, kind_new = _file_kind(args.old), _file_kind(args.new)
    if kind_old != kind_new:
        raise ProtocolError(f"{args.old} is an {kind_old} but {args.new} is a {kind_new}.")
    if kind_old == "agreement":
        result = diff_agreements(load_agreement(args.old), load_agreement(args.new))
    else:
        result = diff_protocols(load_model(args.old, PartnerProtocol),
                                load_model(args.new, PartnerProtocol))
    print(result.as_text(), end="")
    return 1 if result.needs_reapproval else 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from linkage.protocols import load_agreement
    from linkage.protocols.audit import read_signing_key
    from linkage.protocols.signoff import sign_agreement, signoffs_path

    loaded = load_agreement(args.agreement)
    approval = sign_agreement(loaded, args.party, read_signing_key(args.key), name=args.name,
                              role=args.role)
    print(f"{args.party} ({approval.role}) signed content {approval.digest[:16]}... of "
          f"agreement '{approval.agreement_id}' version {approval.version} -> "
          f"{signoffs_path(loaded)}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from linkage.protocols import load_agreement
    from linkage.protocols.signoff import content_digest, sign_off_status

    loaded = load_agreement(args.agreement)
    status = sign_off_status(loaded)
    print(f"{args.agreement}: content digest {content_digest(loaded)}")
    for party in status.signed:
        print(f"  signed:  {party}")
    for party in status.missing:
        print(f"  MISSING: {party} has not signed this content")
    for party in status.invalid:
        print(f"  INVALID: {party}'s sign-off is for other content or does not verify")
    if not (status.signed or status.missing or status.invalid):
        print("  no party lists a public key: nothing to sign")
    return 0 if status.complete else 1


def _cmd_schema(args: argparse.Namespace) -> int:
    from linkage.protocols.json_schema import SCHEMAS, schema_text, write_schemas

    if args.out:
        for path in write_schemas(args.out):
            print(f"wrote {path}")
    else:
        print(schema_text(args.which or next(iter(SCHEMAS))), end="")
    return 0


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    """Exit 1, one line per problem, unless the chain is intact, the log holds what its
    checkpoint records, and every artefact is recorded in it unchanged."""
    from linkage.protocols.audit import read_public_key, verify_log
    from linkage.protocols.audit_artefacts import verify_artefacts

    public = read_public_key(args.public_key) if args.public_key else None
    report = verify_log(args.log, public, checkpoint=args.checkpoint)
    artefacts = verify_artefacts(args.log, args.artefacts, public)
    if report.ok and artefacts.ok:
        signed = ", every entry and the checkpoint signed by that key" if public else ""
        print(f"{args.log}: {report.entries} entries, chain intact, checkpoint matches"
              f"{signed}")
        print(f"head: {report.head}  (keep it elsewhere: a later log must still hold it)")
        if artefacts.checked:
            print(f"{artefacts.matched} of {artefacts.checked} artefacts recorded in the log, "
                  f"unchanged")
        return 0
    for problem in report.problems:
        print(f"{args.log}: {problem}", file=sys.stderr)
    for problem in artefacts.problems:
        print(problem, file=sys.stderr)
    return 1


def _cmd_audit_keygen(args: argparse.Namespace) -> int:
    from linkage.protocols.audit import write_signing_key

    private, public = write_signing_key(args.out)
    print(f"wrote {private} (keep it; mode 0600) and {public} (give it to auditors)")
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from linkage.steps import release_attributes

    attributes = args.attributes.split(",") if args.attributes else None
    result = release_attributes(agreement=args.agreement, links=args.links,
                                partner=args.partner, input=args.input,
                                recipient=args.recipient, output=args.output,
                                purpose=args.purpose, attributes=attributes,
                                audit_log=args.audit_log, signing_key=args.signing_key)
    print(f"released {result.rows:,} rows of link_key, {', '.join(result.attributes)} to "
          f"{args.recipient} for '{result.purpose}' -> {result.output}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from linkage.steps import report_links

    path = report_links(agreement=args.agreement, links=args.links, output=args.output,
                        audit_log=args.audit_log, signing_key=args.signing_key)
    print(f"wrote {path}")
    return 0


def _cmd_privacy_check(args: argparse.Namespace) -> int:
    from linkage.steps import check_privacy

    report = check_privacy(agreement=args.agreement, encodings=args.input,
                           reference=args.reference, audit_log=args.audit_log,
                           signing_key=args.signing_key, progress=not args.quiet)
    risk = report.risk
    print(f"records re-identified (worst name field, best attacker setting):\n"
          f"  frequency alignment  {risk.frequency_alignment:.2%}\n"
          f"  pattern mining       {risk.pattern_mining:.2%}\n"
          f"  chance (guess the most frequent name)  {risk.chance:.2%}\n"
          f"  graph matching       {risk.graph_matching:.2%} "
          f"({risk.graph_claims_precision:.0%} of its claims right)\n"
          f"  blocking tokens      {risk.blocking_tokens:.2%} of records' "
          f"{risk.blocking_pass or 'pass'} value "
          f"(chance {risk.blocking_chance:.2%})\n"
          f"worst attack above chance: {risk.advantage:.2%}")
    if report.over_limit:
        print(f"above the agreement's maximum_reidentification_rate "
              f"({report.maximum_rate:.2%})", file=sys.stderr)
        return 1
    return 0


def add_privacy_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("privacy-check", help="attack your own encodings (worst case)",
                       description="Run the frequency-alignment, pattern-mining, "
                                   "graph-matching and blocking-token attacks on an encoding "
                                   "file, with the "
                                   "partner's own extract as the attacker's knowledge; fail "
                                   "when the worst attack's rate above chance exceeds the "
                                   "agreement's maximum_reidentification_rate.")
    p.add_argument("--agreement", type=Path, required=True)
    p.add_argument("--input", type=Path, required=True, help="encoding file (.npz)")
    p.add_argument("--reference", type=Path, required=True,
                   help="plaintext extract the encodings were made from (CSV)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (about a minute for 20,000 records)")
    add_audit_options(p)
    p.set_defaults(handler=_cmd_privacy_check)


def add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="an HTML report on the links (charts, no identifiers)",
                       description="Write a self-contained HTML report: match-weight "
                                   "distribution, estimated precision/recall, m and u, "
                                   "waterfalls, cluster sizes, suppressed counts.")
    p.add_argument("--agreement", type=Path, required=True,
                   help="agreement YAML (for its disclosure control)")
    p.add_argument("--links", type=Path, required=True,
                   help="the output folder of linkage match (links files and match model)")
    p.add_argument("--output", type=Path, required=True, help="HTML file to write")
    add_audit_options(p)
    p.set_defaults(handler=_cmd_report)


def add_protocol(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("protocol", help="check, explain, diff, sign, verify protocol files",
                       description="Tools for information-governance leads.")
    inner = p.add_subparsers(dest="protocol_command", metavar="ACTION")
    inner.required = True
    check = inner.add_parser("check", help="validate agreement/protocol files",
                             description="Validate files; list every problem with file, "
                                         "line and clause.")
    check.add_argument("files", type=Path, nargs="+")
    check.set_defaults(handler=_cmd_check)
    explain = inner.add_parser("explain", help="plain-English summary of a file",
                               description="Summarise an agreement (with its parties) or a "
                                           "partner protocol in plain English.")
    explain.add_argument("file", type=Path)
    explain.add_argument("--markdown", action="store_true", help="Markdown output")
    explain.set_defaults(handler=_cmd_explain)
    diff = inner.add_parser("diff", help="what changed between two versions",
                            description="List the changes from OLD to NEW in plain words, "
                                        "grouped into widenings that need re-approval, "
                                        "narrowings and edits; exit 1 when re-approval is "
                                        "needed.")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    diff.set_defaults(handler=_cmd_diff)
    sign = inner.add_parser("sign", help="approve the agreement's exact content as a party",
                            description="Sign the agreement's content digest (agreement, "
                                        "every partner protocol, listed keys) with the "
                                        "party's Ed25519 key; written to "
                                        "AGREEMENT.signoffs.json.")
    sign.add_argument("agreement", type=Path)
    sign.add_argument("--party", required=True, help="the party approving")
    sign.add_argument("--key", type=Path, required=True,
                      help="the party's Ed25519 private key (its public half is listed)")
    sign.add_argument("--name", required=True, help="the approver's name")
    sign.add_argument("--role", required=True,
                      help="the approver's role, e.g. DPO, Caldicott Guardian, SIRO")
    sign.set_defaults(handler=_cmd_sign)
    verify = inner.add_parser("verify", help="check every required sign-off",
                              description="List which parties have signed the agreement's "
                                          "current content; exit 1 if any is missing or "
                                          "invalid.")
    verify.add_argument("agreement", type=Path)
    verify.set_defaults(handler=_cmd_verify)
    schema = inner.add_parser("schema", help="JSON Schema of the protocol files",
                              description="Print a JSON Schema, or write all with --out.")
    schema.add_argument("which", nargs="?", choices=["agreement.schema.json",
                                                     "partner-protocol.schema.json"])
    schema.add_argument("--out", type=Path, help="folder to write every schema into")
    schema.set_defaults(handler=_cmd_schema)
    from linkage.cli_records import add_records

    add_records(inner)


def add_audit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="verify a tamper-evident audit log",
                       description="Audit log tools.")
    inner = p.add_subparsers(dest="audit_command", metavar="ACTION")
    inner.required = True
    verify = inner.add_parser("verify", help="detect edits, deletions, insertions, reordering",
                              description="Check every entry's hash and chain link, that the "
                                          "log still holds what its checkpoint "
                                          "(LOG.checkpoint) records, and that each ARTEFACT "
                                          "has provenance, is unchanged and is recorded by "
                                          "an entry of the log; exit 1 on any problem.")
    verify.add_argument("log", type=Path)
    verify.add_argument("artefacts", type=Path, nargs="*", metavar="ARTEFACT",
                        help="files written by audited steps (each with its "
                             "FILE.provenance.json)")
    verify.add_argument("--public-key", type=Path, default=None,
                        help="also check every entry's, the checkpoint's and each "
                             "artefact's provenance's Ed25519 signature")
    verify.add_argument("--checkpoint", type=Path, default=None,
                        help="a copy of the checkpoint kept elsewhere, to check instead of "
                             "LOG.checkpoint")
    verify.set_defaults(handler=_cmd_audit_verify)
    keygen = inner.add_parser("keygen", help="create an Ed25519 key to sign audit entries",
                              description="Write a signing key (mode 0600) and FILE.pub.")
    keygen.add_argument("--out", type=Path, required=True)
    keygen.set_defaults(handler=_cmd_audit_keygen)


def add_release(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("release", help="link keys + permitted attributes for a recipient",
                       description="Join link keys to the attributes the partner's protocol "
                                   "lets the recipient have, and nothing else.")
    p.add_argument("--agreement", type=Path, required=True)
    p.add_argument("--links", type=Path, required=True,
                   help="the partner's own links file from linkage match")
    p.add_argument("--partner", required=True, help="the data provider releasing")
    p.add_argument("--input", type=Path, required=True, help="the partner's extract (CSV)")
    p.add_argument("--recipient", required=True, help="the party receiving")
    p.add_argument("--output", type=Path, required=True, help="CSV to write")
    p.add_argument("--purpose", default=None, help="purpose id (needed if several apply)")
    p.add_argument("--attributes", default=None,
                   help="comma-separated subset of the permitted attributes")
    add_audit_options(p)
    p.set_defaults(handler=_cmd_release)


def add_audit_options(p: argparse.ArgumentParser) -> None:
    """``--audit-log`` and ``--signing-key``, taken by every command that touches data."""
    p.add_argument("--audit-log", type=Path, default=None,
                   help="audit log to append to (default: audit.jsonl beside the output)")
    p.add_argument("--signing-key", type=Path, default=None,
                   help="Ed25519 key to sign the audit entry (linkage audit keygen)")
