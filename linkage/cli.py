"""The ``linkage`` command: a thin layer over the library.

Each sub-command parses its arguments, calls the library, and turns a
:class:`~linkage.errors.LinkageError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from linkage import __version__
from linkage.cli_governance import (
    add_audit,
    add_audit_options,
    add_privacy_check,
    add_protocol,
    add_release,
    add_report,
)
from linkage.cli_rights import add_retention, add_rights
from linkage.errors import LinkageError

Handler = Callable[[argparse.Namespace], int]


def _whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``, with a one-line reason."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
        if value < minimum:
            rule = "a positive whole number" if minimum == 1 else "not negative"
            raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
        return value
    return parse


_positive_int = _whole_number(1)
_non_negative_int = _whole_number(0)


def _add_cohort_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--people", type=_positive_int, default=20_000,
                   help="number of children in the population (default 20000)")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")


def _cmd_synth(args: argparse.Namespace) -> int:
    from linkage.synth import cohort_config, generate_cohort, write_cohort

    cohort = generate_cohort(cohort_config(args.profile, people=args.people, seed=args.seed))
    if args.months:
        from linkage.synth.months import monthly_cohort, write_monthly_cohort

        for path, rows in write_monthly_cohort(monthly_cohort(cohort, args.months,
                                                              seed=args.seed),
                                               args.out, force=args.force):
            print(f"wrote {path} ({rows:,} rows)")
        return 0
    paths = write_cohort(cohort, args.out, force=args.force)
    for path in paths:
        rows = len(cohort.truth) if path.stem == "truth" else len(cohort.extracts[path.stem])
        print(f"wrote {path} ({rows:,} rows)")
    return 0


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate a synthetic early-years cohort with ground truth",
                       description="Write health.csv, education.csv, social_care.csv and "
                                   "truth.csv for a synthetic cohort of children.")
    _add_cohort_options(p)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")
    p.add_argument("--months", type=_positive_int, default=None, metavar="M",
                   help="write M monthly extracts of the same cohort (month-01/ ... with "
                        "arrivals, corrections and moves) and the final truth.csv")
    p.add_argument("--profile", choices=("standard", "hard"), default="standard",
                   help="how corrupted the extracts are: 'standard' (default) or 'hard' "
                        "(heavier and co-occurring date errors, moves, nicknames, swapped "
                        "names, duplicates at another address; see docs/synthetic-cohort.md)")
    p.set_defaults(handler=_cmd_synth)


def _cmd_demo(args: argparse.Namespace) -> int:
    from linkage.demo import run_demo

    run_demo(out_dir=args.out, people=args.people, seed=args.seed)
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole flow on a built-in synthetic cohort",
                       description="Generate a synthetic cohort and run the linkage flow on "
                                   "it, ending in a quality summary.")
    _add_cohort_options(p)
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: a new temporary folder)")
    p.set_defaults(handler=_cmd_demo)


def _cmd_keygen(args: argparse.Namespace) -> int:
    from linkage.encoding import ProjectKey, write_key_file

    path = write_key_file(ProjectKey.generate(), args.out)
    print(f"wrote a new 256-bit project key to {path} (mode 0600). Share it with the data "
          f"providers only, never with the linkage unit.")
    return 0


def _add_keygen(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keygen", help="create a new project key (data providers only)",
                       description="Write a new random 256-bit project key, file mode 0600. "
                                   "Refuses to overwrite an existing file.")
    p.add_argument("--out", type=Path, required=True, help="key file to create")
    p.set_defaults(handler=_cmd_keygen)


def _cmd_encode(args: argparse.Namespace) -> int:
    from linkage.steps import encode_extract

    result = encode_extract(agreement=args.agreement, partner=args.partner, key=args.key,
                            input=args.input, output=args.output, audit_log=args.audit_log,
                            progress=not args.quiet, signing_key=args.signing_key,
                            opt_outs=args.opt_outs)
    print(f"encoded {result.records:,} records -> {result.output}")
    if args.opt_outs:
        print(f"dropped {result.opted_out:,} opted-out record(s) before encoding")
    print("missing or invalid per field (counted in the audit log): " + ", ".join(
        f"{f} {c['missing']:,} ({c['invalid']:,} invalid)" for f, c in result.counts.items()))
    return 0


def _add_encode(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encode", help="encode a partner's extract as keyed Bloom filters",
                       description="Encode the identifiers of a partner's CSV extract under "
                                   "the agreement and the partner's protocol.")
    p.add_argument("--agreement", type=Path, required=True, help="agreement YAML file")
    p.add_argument("--partner", required=True, help="partner name in the agreement")
    p.add_argument("--key", type=Path, required=True, help="project key file")
    p.add_argument("--input", type=Path, required=True, help="the partner's extract (CSV)")
    p.add_argument("--output", type=Path, required=True, help="encoding file to write (.npz)")
    p.add_argument("--opt-outs", type=Path, default=None, metavar="FILE",
                   help="current opt-out/objection list (CSV: record_id and/or nhs_number, "
                        "optional as_of); those records are dropped before hashing")
    add_audit_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_encode)


def _cmd_match(args: argparse.Namespace) -> int:
    from linkage.matching import Linker, LshParameters
    from linkage.steps import match_encodings

    backend = None
    if args.scheduler or args.workers:
        from linkage.matching.distributed import DaskBackend

        backend = DaskBackend(scheduler=args.scheduler, workers=args.workers,
                              progress=not args.quiet)
    linker = Linker(threshold=args.threshold, deduplicate=not args.no_dedup,
                    lsh=LshParameters() if args.lsh else None, progress=not args.quiet,
                    backend=backend)
    try:
        result = match_encodings(agreement=args.agreement, encodings=args.encodings,
                                 output=args.output, audit_log=args.audit_log, linker=linker,
                                 save_candidates=args.save_candidates,
                                 signing_key=args.signing_key, store=args.store,
                                 refit=args.refit, partial=args.partial)
    finally:
        if backend is not None:
            backend.close()
    if result.store_run is not None:
        print(result.store_run.report_line())
        for message in result.store_run.messages:
            print(message)
    links = result.result.links
    print(f"linked {len(links):,} records into {links.cluster_id.nunique():,} clusters; "
          f"each data provider's own link keys -> "
          + ", ".join(str(path) for path in result.files.values()))
    return 0


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _add_match(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("match", help="link encoding files (linkage unit; no key needed)",
                       description="Link the encodings of two or more data providers. Each "
                                   "provider gets a file of its own record ids with their "
                                   "link keys (link_key,partner,record_id), nothing of "
                                   "the others'.")
    p.add_argument("--agreement", type=Path, required=True, help="agreement YAML file")
    p.add_argument("--output", type=Path, required=True,
                   help="output folder: one links file per data provider (its own record "
                        "ids and link keys only), link-quality.csv, match-model.json")
    p.add_argument("encodings", type=Path, nargs="+", help="encoding files (.npz)")
    p.add_argument("--threshold", type=_probability, default=0.5,
                   help="match probability needed to link (default 0.5)")
    p.add_argument("--lsh", action="store_true",
                   help="add LSH blocking on record-level filters to the keyed passes")
    p.add_argument("--no-dedup", action="store_true",
                   help="do not link duplicate records within a source")
    p.add_argument("--save-candidates", action="store_true",
                   help="also write the candidate pairs (for pairs completeness)")
    p.add_argument("--store", metavar="STORE", default=None,
                   help="link into the linkage unit's store, created on the first run: a "
                        "SQLite file (embedded default) or a postgresql:// URL; link keys "
                        "stay stable from run to run (docs/store.md)")
    p.add_argument("--refit", action="store_true",
                   help="with --store: fit the model again on the whole current population")
    p.add_argument("--partial", action="store_true",
                   help="with --store: the files hold only new and changed records "
                        "(nothing is removed); default: each is the partner's whole extract")
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="run blocking and comparison on this Dask scheduler "
                              "(needs the [distributed] extra); the links are the same")
    cluster.add_argument("--workers", type=_positive_int, metavar="N",
                         help="start a local Dask cluster of N worker processes for the run")
    add_audit_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_match)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from linkage.steps import evaluate_links

    evaluation = evaluate_links(links=args.links, truth=args.truth)
    print(evaluation.quality.table().to_string(index=False, float_format="%.4f"))
    if evaluation.blocking is not None:
        print()
        print(evaluation.blocking.to_string(index=False, float_format="%.4f"))
    if evaluation.calibration is not None:
        print("\ncalibration: predicted against observed match rate per decile of the "
              "candidate pairs between sources\n(observed_low/high: its 95% interval; a "
              "predicted rate outside it is miscalibrated beyond sampling noise)")
        print(evaluation.calibration.to_string(index=False, float_format="%.3f"))
        if evaluation.calibration_chance is not None:
            median, high = evaluation.calibration_chance
            largest = float(evaluation.calibration.gap.abs().max())
            print(f"largest gap {largest:.3f}; a perfectly calibrated model would show "
                  f"{median:.3f} by chance in these bins (95th percentile {high:.3f})")
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="pairwise precision, recall and F1 against the truth",
                       description="Compare a links file with ground truth "
                                   "(partner,record_id,person_id).")
    p.add_argument("--links", type=Path, required=True, nargs="+",
                   help="the providers' links files from linkage match (or its output folder)")
    p.add_argument("--truth", type=Path, required=True, help="truth CSV")
    p.set_defaults(handler=_cmd_evaluate)


#: Sub-command registrars, in help order.
REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_synth,
    _add_keygen,
    _add_encode,
    _add_match,
    _add_evaluate,
    add_release,
    add_report,
    add_protocol,
    add_audit,
    add_privacy_check,
    add_retention,
    add_rights,
    _add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (used by ``main`` and by the docs tests)."""
    parser = argparse.ArgumentParser(
        prog="linkage",
        description="Privacy-preserving record linkage for early-years services.")
    parser.add_argument("--version", action="version", version=f"linkage {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of a failure (may quote input values)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``linkage`` console script.

    The one boundary where failures become one line on stderr: exit 2 for bad input or a
    refused step, 1 for a check that fails (``protocol check``, ``audit verify``,
    ``privacy-check``), never a traceback unless ``--debug`` is given.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        print("linkage: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the boundary: every failure is one line
        if args.debug:
            raise
        print(f"linkage {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 2


def one_line(error: BaseException) -> str:
    """A failure as one line that carries no value from a record.

    Our own errors carry messages written never to include record values. Anything else
    (the operating system, a library) is described by its kind and, for file errors, the
    path and the system's reason, never by its message, which could quote a value.
    """
    if isinstance(error, LinkageError):
        text = str(error)
        notes = getattr(error, "__notes__", [])
        text = " ".join([text, *notes]) if notes else text
        return " ".join(text.split())
    if isinstance(error, MemoryError):
        return ("ran out of memory; check the input is the right file, or split it "
                "(run with --debug for details).")
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        reason = error.strerror or type(error).__name__
        return f"{where}{reason}."
    return (f"unexpected {type(error).__name__}; nothing was written. Run again with --debug "
            f"to see where (the details may quote input values).")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
