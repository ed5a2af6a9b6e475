"""Hostile and careless use of every ``linkage`` command (issue #14).

One small valid workspace (a 300-child synthetic cohort with planted records, a key, a copy
of the example protocols, three encoding files, a match output folder, an audit log) is
built once. Every case runs ``python -m linkage ...`` in its own copy of that workspace,
after making the bad file it is about, and checks that the command

- exits 2 (bad input or a refused step) or 1 (a check that fails), as the case says;
- says why on exactly one stderr line (a usage error: argparse's usage, then one line; a
  failed ``protocol check`` or ``audit verify``: its problems, one per line), with no
  ``Traceback`` anywhere;
- quotes no value planted in the data (a name, an NHS number, a postcode, a record id),
  on stdout, on stderr, or in the audit log;
- leaves every file as it was: no new output, no leftover temporary, inputs byte-identical
  (mode included), except that the audit log (and its companions, such as a checkpoint
  beside it) may gain exactly one ``refused`` entry, with its hash chain still intact.

The ``valid-*`` cases run each command unchanged and must succeed, so that a hostile case
cannot pass by being refused for some other reason. The cases run three processes at a
time (each spends about a second importing) and each is reported as its own test. By
default a selection (``QUICK``) covers every class of bad input; ``LINKAGE_HOSTILE_ALL=1``
runs all of them (a few minutes). A property test feeds random bytes to ``encode`` as its
extract (in-process, so that 30 examples take seconds rather than a minute).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.cli import main
from linkage.protocols.audit import verify_log

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "protocols" / "first-1000-days"

#: Planted in the data; no message, output or audit entry of a refusal may contain them
#: (compared case-insensitively; the postcode and NHS number also without spaces).
PLANTED = ("Zebedee", "Quaxley", "9434765919", "943 476 5919", "LS4 6GE", "LS46GE", "zzqqxx")

HEALTH_HEADER = ("record_id,nhs_number,given_name,family_name,sex,date_of_birth,postcode,"
                 "birth_weight_g,smoking_in_pregnancy\n")
HEALTH_ROW = "Hzzqqxx01,9434765919,Zebedee,Quaxley,M,2023-05-04,LS4 6GE,3100,N\n"
SOCIAL_ROW = "Szzqqxx02,9434765919,Zebedee,Quaxley,M,2023-05-04,LS4 6GE,2024-01-01,N1\n"
LINKS_HEADER = "link_key,partner,record_id\n"
LINKS_ROW = "Kzzqqxx9,health,Hzzqqxx01\n"
TRUTH_HEADER = "partner,record_id,person_id\n"
TRUTH_ROW = "health,Hzzqqxx01,Zebedee-9434765919\n"

AGREEMENT = "prot/agreement.yaml"
TIMEOUT = 60


# Making bad files --------------------------------------------------------------------------

Maker = Callable[[Path, Path], None]
"""Makes one thing at ``path`` in the case's workspace ``root``."""


def content(data: bytes | str, mode: int = 0o644) -> Maker:
    raw = data.encode() if isinstance(data, str) else data

    def make(path: Path, root: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        path.chmod(mode)
    return make


def copy_of(source: str, change: Callable[[bytes], bytes] = lambda b: b) -> Maker:
    """A copy of a workspace file (mode kept), its bytes passed through ``change``."""
    def make(path: Path, root: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / source, path)
        path.write_bytes(change(path.read_bytes()))
    return make


def _missing(path: Path, root: Path) -> None:
    """Nothing at ``path``."""


def folder(path: Path, root: Path) -> None:
    path.mkdir(parents=True)


def symlink_loop(path: Path, root: Path) -> None:
    """Unreadable even by root: opening it fails with 'too many levels of symbolic links'."""
    os.symlink(path.name, path)


def fifo(path: Path, root: Path) -> None:
    """A named pipe: a reader that opens it without checking waits for a writer forever."""
    os.mkfifo(path)


def symlink_to(target: str) -> Maker:
    def make(path: Path, root: Path) -> None:
        os.symlink(os.path.relpath(root / target, path.parent), path)
    return make


def hard_link_to(target: str) -> Maker:
    def make(path: Path, root: Path) -> None:
        os.link(root / target, path)
    return make


def mode(bits: int, source: str = "project.key") -> Maker:
    def make(path: Path, root: Path) -> None:
        shutil.copy2(root / source, path)
        path.chmod(bits)
    return make


def npz_variant(change: Callable[[dict[str, np.ndarray]], None],
                source: str = "enc/health.npz") -> Maker:
    """An encoding file rebuilt from ``source`` with its arrays changed."""
    def make(path: Path, root: Path) -> None:
        with np.load(root / source, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        change(arrays)
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
    return make


def header_change(**values: object) -> Callable[[dict[str, np.ndarray]], None]:
    def change(arrays: dict[str, np.ndarray]) -> None:
        header = json.loads(arrays["header"].tobytes())
        for key, value in values.items():
            section, _, name = key.partition("__")
            if name:
                header[section][name] = value
            else:
                header[key] = value
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return change


def extra_member(name: str, data: bytes) -> Maker:
    def make(path: Path, root: Path) -> None:
        shutil.copy2(root / "enc/health.npz", path)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(name, data)
    return make


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def bit_flipped(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0x10
    return bytes(flipped)


def random_bytes(size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    return data[: size // 2] + b"Zebedee,9434765919,LS4 6GE\n" + data[size // 2:]


def csv_variants(header: str, row: str, value: str = "Zebedee") -> dict[str, Maker]:
    """Every kind of broken CSV, built around a real header and a planted ``row``."""
    names = header.rstrip("\n").split(",")
    h, r = header.encode(), row.encode()
    return {
        "no-header": content(r * 3),
        "wrong-columns": content("id,name,born\nHzzqqxx01,Zebedee Quaxley,2023-05-04\n"),
        "missing-column": content(",".join(names[:1] + names[2:]) + "\n" + ",".join(
            (cells := row.rstrip("\n").split(","))[:1] + cells[2:]) + "\n"),
        "duplicate-column": content(f"{names[0]},{header}" + f"Zebedee,{row}"),
        "not-utf8": content(h + r.replace(value.encode(), "Zébédee".encode("latin-1"))),
        "utf16": content((header + row).encode("utf-16")),
        "nul-byte": content(h + r.replace(value.encode(), b"Zeb\x00edee")),
        "50kB-value": content(h + r.replace(value.encode(), value.encode() * 7200)),
        "empty": content(b""),
        "header-only": content(h),
        "all-blank": content(b"\n\n  \n\r\n"),
        "blank-values": content(h + ("," * (len(names) - 1) + "\n").encode() * 3),
        "ragged-row": content(h + r.rstrip(b"\n") + b",Zebedee,9434765919\n"),
        "random-bytes": content(random_bytes(4096, seed=len(header))),
        "directory": folder,
        "missing": _missing,
        "symlink-loop": symlink_loop,
    }


EXTRACT = csv_variants(HEALTH_HEADER, HEALTH_ROW)
LINKS = csv_variants(LINKS_HEADER, LINKS_ROW, value="Hzzqqxx01")
TRUTH = csv_variants(TRUTH_HEADER, TRUTH_ROW, value="Hzzqqxx01")

YAML_VARIANTS: dict[str, Maker] = {
    "duplicate-key": copy_of(AGREEMENT, lambda b: b + b"\nid: zebedee-9434765919\n"),
    "alias": copy_of(AGREEMENT, lambda b: b.replace(b"dpia_reference: DPIA-2026-014",
                                                    b"dpia_reference: &a DPIA-2026-014\n"
                                                    b"title2: *a")),
    "impossible-date": copy_of(AGREEMENT, lambda b: b.replace(b"expiry_date: 2029-03-31",
                                                              b"expiry_date: 2029-02-30")),
    "random-bytes": content(random_bytes(2048, seed=7)),
    "not-utf8": copy_of(AGREEMENT, lambda b: b.replace(b"title:", "title: Zébédee".encode(
        "latin-1") + b" -")),
    "python-tag": content("format_version: 1\nid: !!python/object/apply:os.system "
                          "['echo Zebedee > pwned']\n"),
    "billion-laughs": content("a: &a [Zebedee, Zebedee]\nb: &b [*a, *a, *a, *a]\n"
                              "c: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n"),
    "top-level-list": content("- Zebedee\n- 9434765919\n"),
    "empty": content(b""),
    "too-large": content("# Zebedee\n" * 30_000),
    "deep-nesting": content("a: " + "[" * 200 + "]" * 200 + "\n"),
    "directory": folder,
    "missing": _missing,
    "symlink-loop": symlink_loop,
}


# Commands ----------------------------------------------------------------------------------

def cmd(*words: str, **options: str | bool | None) -> tuple[str, ...]:
    """``linkage WORDS --OPTION VALUE ...``; ``True`` is a flag, ``None`` leaves it out."""
    args = list(words)
    for name, value in options.items():
        flag = "--" + name.rstrip("_").replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not None and value is not False:
            args += [flag, str(value)]
    return tuple(args)


def encode(**changes: str | bool | None) -> tuple[str, ...]:
    options: dict[str, str | bool | None] = {
        "agreement": AGREEMENT, "partner": "health", "key": "project.key",
        "input": "cohort/health.csv", "output": "out/health.npz", "audit_log": "audit.jsonl",
        "quiet": True}
    return cmd("encode", **{**options, **changes})


def match(*encodings: str, **changes: str | bool | None) -> tuple[str, ...]:
    options: dict[str, str | bool | None] = {
        "agreement": AGREEMENT, "output": "out/links", "audit_log": "audit.jsonl",
        "quiet": True}
    files = encodings or ("enc/health.npz", "enc/education.npz", "enc/social_care.npz")
    return (*cmd("match", **{**options, **changes}), *files)


def release(**changes: str | bool | None) -> tuple[str, ...]:
    options: dict[str, str | bool | None] = {
        "agreement": AGREEMENT, "links": "links/health.csv", "partner": "health",
        "input": "cohort/health.csv", "recipient": "analysts", "output": "out/release.csv",
        "audit_log": "audit.jsonl"}
    return cmd("release", **{**options, **changes})


def report(**changes: str | bool | None) -> tuple[str, ...]:
    options: dict[str, str | bool | None] = {
        "agreement": AGREEMENT, "links": "links", "output": "out/report.html",
        "audit_log": "audit.jsonl"}
    return cmd("report", **{**options, **changes})


def evaluate(**changes: str | bool | None) -> tuple[str, ...]:
    options: dict[str, str | bool | None] = {"links": "links", "truth": "cohort/truth.csv"}
    return cmd("evaluate", **{**options, **changes})


def privacy(**changes: str | bool | None) -> tuple[str, ...]:
    options: dict[str, str | bool | None] = {
        "agreement": AGREEMENT, "input": "enc/health.npz", "reference": "cohort/health.csv",
        "audit_log": "audit.jsonl", "quiet": True}
    return cmd("privacy-check", **{**options, **changes})


# Cases -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One hostile run: ``args`` in a fresh workspace copy after making ``files`` there."""

    id: str
    args: tuple[str, ...]
    files: dict[str, Maker] = field(default_factory=dict)
    code: int = 2
    usage: bool = False  #: an argparse usage error
    check: bool = False  #: a failed check: one stderr line per problem
    audit: str = "audit.jsonl"  #: the audit log that may gain one refused entry


def usage(id: str, args: tuple[str, ...]) -> Case:
    return Case(id, args, usage=True)


def _with_repeated_row(data: bytes) -> bytes:
    return data + data.split(b"\n", 2)[1] + b"\n"


def _copy_links(path: Path, root: Path) -> None:
    shutil.copytree(root / "links", path)


def replaced(make: Maker) -> Maker:
    """``make`` in place of a copied artefact, whose provenance sidecar (if any) is removed,
    as a hostile sender would, so that the file's own reader sees it."""
    def remake(path: Path, root: Path) -> None:
        for old in (path, path.with_name(path.name + ".provenance.json")):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists() or old.is_symlink():
                old.unlink()
        make(path, root)
    return remake


def _synth_and_keygen() -> Iterator[Case]:
    yield usage("synth-people-0", cmd("synth", people="0", out="new"))
    yield usage("synth-people-negative", cmd("synth", people="-3", out="new"))
    yield usage("synth-people-float", cmd("synth", people="1e3", out="new"))
    yield usage("synth-seed-text", cmd("synth", seed="many", out="new"))
    yield usage("synth-no-out", cmd("synth", people="10"))
    yield Case("synth-out-is-a-file", cmd("synth", people="20", out="cohort/health.csv"))
    yield Case("synth-out-not-empty", cmd("synth", people="20", out="cohort"))
    yield Case("synth-out-under-a-file", cmd("synth", people="20", out="cohort/health.csv/new"))
    yield Case("keygen-out-exists", cmd("keygen", out="project.key"))
    yield Case("keygen-out-is-input", cmd("keygen", out="cohort/health.csv"))
    yield Case("keygen-out-is-audit-log", cmd("keygen", out="audit.jsonl"))
    yield Case("keygen-out-is-a-folder", cmd("keygen", out="enc"))
    yield Case("keygen-out-under-a-file", cmd("keygen", out="cohort/health.csv/new.key"))
    yield usage("keygen-no-out", cmd("keygen"))


def _encode_inputs() -> Iterator[Case]:
    for name, make in EXTRACT.items():
        yield Case(f"encode-input-{name}", encode(input="bad/extract.csv"),
                   {"bad/extract.csv": make})
    yield Case("encode-input-fifo", encode(input="bad/extract.csv"),
               {"bad/extract.csv": fifo})
    yield Case("encode-input-newline-in-path", encode(input="bad\nname.csv"))
    yield Case("encode-input-duplicate-ids", encode(input="bad/extract.csv"),
               {"bad/extract.csv": content(HEALTH_HEADER + HEALTH_ROW * 3)})
    yield Case("encode-input-long-record-id", encode(input="bad/extract.csv"),
               {"bad/extract.csv": content(HEALTH_HEADER + "Hzzqqxx01" * 40
                                           + HEALTH_ROW[9:])})
    yield Case("encode-input-impossible-dates", encode(input="bad/extract.csv"),
               {"bad/extract.csv": content(HEALTH_HEADER + "".join(
                   f"Hzzqqxx{i:02d}," + HEALTH_ROW[10:].replace("2023-05-04", "2023-02-30")
                   for i in range(5)))})
    yield Case("encode-input-is-the-key", encode(input="project.key"))
    yield Case("encode-input-is-an-encoding", encode(input="enc/health.npz"))
    keys: dict[str, Maker] = {
        "missing": _missing, "directory": folder, "symlink-loop": symlink_loop,
        "empty": content(b"", mode=0o600),
        "garbage": content("linkage-project-key v1\nZebedee 9434765919\n", mode=0o600),
        "short": content("linkage-project-key v1\nWmViZWRlZQ==\n", mode=0o600),
        "not-ascii": content("linkage-project-key v1\nZébédee\n".encode("latin-1"), mode=0o600),
        "world-readable": mode(0o644), "is-the-extract": copy_of("cohort/health.csv")}
    for name, make in keys.items():
        yield Case(f"encode-key-{name}", encode(key="bad/project.key"),
                   {"bad/project.key": make})


def _encode_agreements() -> Iterator[Case]:
    for name, make in YAML_VARIANTS.items():
        yield Case(f"encode-agreement-{name}", encode(agreement="prot/bad.yaml"),
                   {"prot/bad.yaml": make})
    yield Case("encode-agreement-fifo", encode(agreement="prot/bad.yaml"),
               {"prot/bad.yaml": fifo})
    yield Case("encode-agreement-party-outside-folder", encode(agreement="prot/bad.yaml"),
               {"prot/bad.yaml": copy_of(AGREEMENT, lambda b: b.replace(
                   b"protocol: health.yaml", b"protocol: ../cohort/health.csv"))})
    yield Case("encode-agreement-party-is-itself", encode(agreement="prot/bad.yaml"),
               {"prot/bad.yaml": copy_of(AGREEMENT, lambda b: b.replace(
                   b"protocol: health.yaml", b"protocol: bad.yaml"))})
    yield Case("encode-agreement-expired", encode(agreement="prot/bad.yaml"),
               {"prot/bad.yaml": copy_of(AGREEMENT, lambda b: b.replace(
                   b"start_date: 2026-04-01", b"start_date: 2020-04-01").replace(
                   b"review_date: 2027-03-31", b"review_date: 2021-03-31").replace(
                   b"expiry_date: 2029-03-31", b"expiry_date: 2022-03-31"))})
    yield Case("encode-agreement-is-the-extract", encode(agreement="cohort/health.csv"))
    yield Case("encode-partner-unknown", encode(partner="nobody"))
    yield Case("encode-partner-linkage-unit", encode(partner="linkage_unit"))
    yield Case("encode-partner-analysts", encode(partner="analysts"))
    yield Case("encode-partner-empty", encode(partner=""))
    yield Case("encode-partner-newline", encode(partner="nobody\nelse"))
    yield usage("encode-no-key", encode(key=None))


def _encode_outputs() -> Iterator[Case]:
    yield Case("encode-output-is-input", encode(input="bad/extract.npz",
                                                output="bad/extract.npz"),
               {"bad/extract.npz": copy_of("cohort/health.csv")})
    yield Case("encode-output-is-key", encode(key="bad/key.npz", output="bad/key.npz"),
               {"bad/key.npz": copy_of("project.key")})
    yield Case("encode-output-is-agreement", encode(agreement="prot/agreement.npz",
                                                    output="prot/agreement.npz"),
               {"prot/agreement.npz": copy_of(AGREEMENT)})
    yield Case("encode-output-is-partner-protocol", encode(agreement="prot/bad.yaml",
                                                           output="prot/health.npz"),
               {"prot/bad.yaml": copy_of(AGREEMENT, lambda b: b.replace(
                   b"protocol: health.yaml", b"protocol: health.npz")),
                "prot/health.npz": copy_of("prot/health.yaml")})
    yield Case("encode-output-is-audit-log", encode(output="log.npz", audit_log="log.npz"),
               {"log.npz": copy_of("audit.jsonl")}, audit="log.npz")
    yield Case("encode-output-links-to-input", encode(output="bad/out.npz"),
               {"bad/out.npz": symlink_to("cohort/health.csv")})
    yield Case("encode-output-hard-link-to-key", encode(output="bad/out.npz"),
               {"bad/out.npz": hard_link_to("project.key")})
    yield Case("encode-output-is-a-folder", encode(output="bad/out.npz"),
               {"bad/out.npz": folder})
    yield Case("encode-output-under-a-file", encode(output="cohort/health.csv/out.npz"))
    yield Case("encode-output-under-a-file-default-log",
               encode(output="cohort/health.csv/out.npz", audit_log=None))
    # into an existing folder: a refusal at the audit log leaves a new folder behind
    yield Case("encode-audit-log-is-a-folder", encode(audit_log="enc", output="enc/new.npz"),
               audit="enc")
    yield Case("encode-audit-log-not-utf8", encode(audit_log="bad.jsonl", output="enc/new.npz"),
               {"bad.jsonl": content(b'{"hash": "Z\xe9b\xe9dee"}\n')}, audit="bad.jsonl")
    yield Case("encode-audit-log-garbage", encode(audit_log="bad.jsonl", output="enc/new.npz"),
               {"bad.jsonl": content("Zebedee,9434765919\n")}, audit="bad.jsonl")
    yield Case("encode-audit-log-symlink-loop", encode(audit_log="bad.jsonl",
                                                       output="enc/new.npz"),
               {"bad.jsonl": symlink_loop}, audit="bad.jsonl")
    yield Case("encode-signing-key-garbage", encode(signing_key="bad.pem"),
               {"bad.pem": content("Zebedee 9434765919\n")})
    yield Case("encode-signing-key-missing", encode(signing_key="bad.pem"))
    yield Case("encode-signing-key-is-a-folder", encode(signing_key="enc"))


BAD_NPZ: dict[str, Maker] = {
    "truncated": copy_of("enc/health.npz", truncated),
    "bit-flipped": copy_of("enc/health.npz", bit_flipped),
    "extra-member": extra_member("extra.npy", b"\x93NUMPY junk"),
    "path-traversal-member": extra_member("../header.npy", b"\x93NUMPY junk"),
    "pickled-member": npz_variant(lambda a: a.__setitem__(
        "record_ids", a["record_ids"].astype(object))),
    "repeated-record-ids": npz_variant(lambda a: a.__setitem__(
        "record_ids", np.full(len(a["record_ids"]), "Hzzqqxx01"))),
    "other-agreement": npz_variant(header_change(agreement__id="another-agreement")),
    "other-version": npz_variant(header_change(agreement__version="9.9")),
    "header-not-json": npz_variant(lambda a: a.__setitem__(
        "header", np.frombuffer(b"Zebedee 9434765919", dtype=np.uint8))),
    "header-partner-analysts": npz_variant(header_change(partner="analysts")),
    "rows-disagree": npz_variant(lambda a: a.__setitem__("record_ids", a["record_ids"][:-1])),
    "is-a-csv": copy_of("cohort/health.csv"),
    "empty": content(b""),
    "random-bytes": content(random_bytes(4096, seed=3)),
    "directory": folder,
    "missing": _missing,
    "symlink-loop": symlink_loop,
    "fifo": fifo,
}


def _match() -> Iterator[Case]:
    for name, make in BAD_NPZ.items():
        yield Case(f"match-encoding-{name}", match("bad/health.npz", "enc/education.npz"),
                   {"bad/health.npz": make})
    yield Case("match-encoding-altered", match("bad/health.npz", "enc/education.npz"),
               {"bad/health.npz": copy_of("enc/health.npz", bit_flipped),
                "bad/health.npz.provenance.json": copy_of("enc/health.npz.provenance.json")})
    yield Case("match-encoding-provenance-garbage", match(),
               {"enc/health.npz.provenance.json": replaced(content(random_bytes(256, 9)))})
    yield Case("match-same-encoding-twice", match("enc/health.npz", "enc/health.npz"))
    yield Case("match-one-encoding", match("enc/health.npz"))
    yield Case("match-agreement-random-bytes", match(agreement="prot/bad.yaml"),
               {"prot/bad.yaml": YAML_VARIANTS["random-bytes"]})
    yield Case("match-output-is-a-file", match(output="cohort/health.csv"))
    yield Case("match-output-file-is-input", match("bad/health.csv", "enc/education.npz",
                                                   output="bad"),
               {"bad/health.csv": copy_of("enc/health.npz")})
    yield Case("match-output-file-is-agreement", match(agreement="bad/health.csv", output="bad"),
               {"bad": lambda path, root: shutil.copytree(root / "prot", path),
                "bad/health.csv": copy_of(AGREEMENT)})
    yield Case("match-output-file-is-audit-log", match(output="out", audit_log="out/health.csv"),
               {"out/health.csv": copy_of("audit.jsonl")}, audit="out/health.csv")
    yield Case("match-output-under-a-file", match(output="cohort/health.csv/links"))
    yield Case("match-output-under-a-file-default-log",
               match(output="cohort/health.csv/links", audit_log=None))
    for value in ("1.3", "nan", "inf", "-0.1", "0", "1", "half", ""):
        yield usage(f"match-threshold-{value or 'empty'}", match(threshold=value))
    for value in ("0", "-2", "two"):
        yield usage(f"match-workers-{value}", match(workers=value))
    yield usage("match-workers-and-scheduler", match(workers="2", scheduler="tcp://x:1"))
    yield usage("match-no-encodings", cmd("match", agreement=AGREEMENT, output="out"))


def _evaluate() -> Iterator[Case]:
    for name in ("no-header", "wrong-columns", "duplicate-column", "not-utf8", "nul-byte",
                 "50kB-value", "empty", "header-only", "random-bytes", "directory", "missing",
                 "symlink-loop"):
        yield Case(f"evaluate-links-{name}", evaluate(links="bad/health.csv"),
                   {"bad/health.csv": LINKS[name]})
    yield Case("evaluate-links-repeated-rows", evaluate(links="bad/health.csv"),
               {"bad/health.csv": copy_of("links/health.csv", _with_repeated_row)})
    yield Case("evaluate-links-two-partners-in-one-file", evaluate(links="bad/health.csv"),
               {"bad/health.csv": copy_of("links/health.csv", lambda b: b + b"Kzzqqxx9,"
                                          b"education,Ezzqqxx03\n")})
    yield Case("evaluate-links-same-file-twice",
               cmd("evaluate", "--links", "links/health.csv", "links/health.csv",
                   truth="cohort/truth.csv"))
    yield Case("evaluate-links-folder-without-links", evaluate(links="enc"))
    yield Case("evaluate-links-working-folder", evaluate(links="."))
    yield Case("evaluate-links-quality-file", evaluate(links="links/link-quality.csv"))
    yield Case("evaluate-links-is-the-truth", evaluate(links="cohort/truth.csv"))
    for name in ("no-header", "wrong-columns", "not-utf8", "empty", "header-only", "missing"):
        yield Case(f"evaluate-truth-{name}", evaluate(truth="bad/truth.csv"),
                   {"bad/truth.csv": TRUTH[name]})
    yield Case("evaluate-truth-repeated-record", evaluate(truth="bad/truth.csv"),
               {"bad/truth.csv": copy_of("cohort/truth.csv", lambda b: b + TRUTH_ROW.encode())})
    yield Case("evaluate-truth-other-cohort", evaluate(truth="bad/truth.csv"),
               {"bad/truth.csv": content(TRUTH_HEADER + TRUTH_ROW)})
    yield Case("evaluate-candidates-corrupt", evaluate(links="bad"),
               {"bad": _copy_links, "bad/candidates.npz": content(random_bytes(512, seed=5))})
    yield usage("evaluate-no-truth", evaluate(truth=None))


def _release() -> Iterator[Case]:
    for name in ("no-header", "wrong-columns", "not-utf8", "nul-byte", "50kB-value", "empty",
                 "header-only", "ragged-row", "directory", "missing"):
        yield Case(f"release-input-{name}", release(input="bad/extract.csv"),
                   {"bad/extract.csv": EXTRACT[name]})
    yield Case("release-input-duplicate-ids", release(input="bad/extract.csv"),
               {"bad/extract.csv": copy_of("cohort/health.csv",
                                           lambda b: b + HEALTH_ROW.encode() * 2)})
    for name in ("no-header", "wrong-columns", "not-utf8", "empty", "missing"):
        yield Case(f"release-links-{name}", release(links="bad/health.csv"),
                   {"bad/health.csv": LINKS[name]})
    yield Case("release-links-repeated-rows", release(links="bad/health.csv"),
               {"bad/health.csv": copy_of("links/health.csv", _with_repeated_row)})
    yield Case("release-links-altered", release(links="bad/health.csv"),
               {"bad/health.csv": copy_of("links/health.csv", _with_repeated_row),
                "bad/health.csv.provenance.json": copy_of("links/health.csv.provenance.json")})
    yield Case("release-links-of-another-partner", release(links="links/education.csv"))
    yield Case("release-links-is-the-folder", release(links="links"))
    yield Case("release-recipient-a-provider", release(recipient="education"))
    yield Case("release-recipient-unknown", release(recipient="nobody"))
    yield Case("release-recipient-linkage-unit", release(recipient="linkage_unit"))
    yield Case("release-partner-linkage-unit", release(partner="linkage_unit"))
    yield Case("release-purpose-unknown", release(purpose="marketing"))
    yield Case("release-attribute-identifier", release(attributes="nhs_number"))
    yield Case("release-attribute-blank", release(attributes=",,"))
    yield Case("release-attribute-twice", release(attributes="birth_weight_g,birth_weight_g"),
               code=0)  # released once
    yield Case("release-output-is-input", release(output="cohort/health.csv"))
    yield Case("release-output-is-links", release(output="links/health.csv"))
    yield Case("release-output-is-agreement", release(output=AGREEMENT))
    yield Case("release-output-is-partner-protocol", release(output="prot/analysts.yaml"))
    yield Case("release-output-is-audit-log", release(output="audit.jsonl"))
    yield Case("release-output-links-to-input", release(output="bad/out.csv"),
               {"bad/out.csv": symlink_to("cohort/health.csv")})
    yield Case("release-output-is-a-folder", release(output="enc"))
    yield Case("release-output-under-a-file", release(output="project.key/out.csv"))


MODELS: dict[str, Maker] = {
    "garbage": content(random_bytes(1024, seed=11)),
    "not-utf8": content('{"format": "Z\xe9b\xe9dee"}'.encode("latin-1")),
    "a-list": content('["Zebedee", 9434765919]'),
    "wrong-format": content('{"format": "Zebedee", "format_version": 1}'),
    "no-pairs": copy_of("links/match-model.json", lambda b: json.dumps(
        {k: v for k, v in json.loads(b).items() if k != "pairs"}).encode()),
    "pairs-wrong-type": copy_of("links/match-model.json", lambda b: json.dumps(
        {**json.loads(b), "pairs": [{"m": "Zebedee"}]}).encode()),
    "threshold-nan": copy_of("links/match-model.json", lambda b: json.dumps(
        {**json.loads(b), "threshold": float("nan")}).encode()),
    "deep-nesting": content("[" * 100_000 + "]" * 100_000),
    "directory": folder,
    "missing": _missing,
}


def _report() -> Iterator[Case]:
    for name in ("no-header", "wrong-columns", "not-utf8", "empty", "directory"):
        yield Case(f"report-links-{name}", report(links="bad"),
                   {"bad": _copy_links, "bad/health.csv": replaced(LINKS[name])})
    yield Case("report-links-repeated-rows", report(links="bad"),
               {"bad": _copy_links, "bad/health.csv": replaced(
                   copy_of("links/health.csv", _with_repeated_row))})
    yield Case("report-links-altered", report(links="bad"),
               {"bad": _copy_links, "bad/health.csv": copy_of("links/health.csv",
                                                              _with_repeated_row)})
    yield Case("report-links-provenance-garbage", report(links="bad"),
               {"bad": _copy_links, "bad/health.csv.provenance.json": content(
                   random_bytes(256, seed=17))})
    yield Case("report-links-provenance-other-maker", report(links="bad"),
               {"bad": _copy_links, "bad/health.csv.provenance.json": copy_of(
                   "links/health.csv.provenance.json",
                   lambda b: b.replace(b'"linkage_unit"', b'"health"'))})
    yield Case("report-links-folder-without-links", report(links="enc"))
    yield Case("report-links-is-a-file", report(links="links/health.csv"))
    yield Case("report-links-missing", report(links="nowhere"))
    for name, make in MODELS.items():
        yield Case(f"report-model-{name}", report(links="bad"),
                   {"bad": _copy_links, "bad/match-model.json": replaced(make)})
    yield Case("report-output-is-links", report(output="links/health.csv"))
    yield Case("report-output-is-model", report(output="links/match-model.json"))
    yield Case("report-output-is-agreement", report(output=AGREEMENT))
    yield Case("report-output-is-audit-log", report(output="audit.jsonl"))
    yield Case("report-output-is-a-folder", report(output="enc"))
    yield Case("report-output-under-a-file", report(output="project.key/report.html"))


def _privacy_check() -> Iterator[Case]:
    for name in ("truncated", "is-a-csv", "missing", "directory"):
        yield Case(f"privacy-check-input-{name}", privacy(input="bad/health.npz"),
                   {"bad/health.npz": BAD_NPZ[name]})
    for name in ("no-header", "wrong-columns", "not-utf8", "empty", "missing", "directory"):
        yield Case(f"privacy-check-reference-{name}", privacy(reference="bad/extract.csv"),
                   {"bad/extract.csv": EXTRACT[name]})
    yield Case("privacy-check-audit-log-is-a-folder", privacy(audit_log="enc"), audit="enc")


PARTNER_YAML = "prot/health.yaml"


def _protocol() -> Iterator[Case]:
    for name, make in YAML_VARIANTS.items():
        yield Case(f"protocol-check-{name}", cmd("protocol", "check", "prot/bad.yaml"),
                   {"prot/bad.yaml": make}, code=1, check=True)
    yield Case("protocol-check-fifo", cmd("protocol", "check", "prot/bad.yaml"),
               {"prot/bad.yaml": fifo}, code=1, check=True)
    partner: dict[str, Maker] = {
        "duplicate-key": copy_of(PARTNER_YAML, lambda b: b + b"\npartner: zebedee\n"),
        "not-utf8": copy_of(PARTNER_YAML, lambda b: b.replace(
            b"organisation:", "organisation: Zébédee".encode("latin-1") + b" -")),
        "python-tag": YAML_VARIANTS["python-tag"], "random-bytes": YAML_VARIANTS["random-bytes"],
        "directory": folder, "missing": _missing}
    for name, make in partner.items():
        yield Case(f"protocol-explain-{name}", cmd("protocol", "explain", "prot/bad.yaml"),
                   {"prot/bad.yaml": make})
        yield Case(f"protocol-diff-{name}", cmd("protocol", "diff", PARTNER_YAML,
                                                "prot/bad.yaml"),
                   {"prot/bad.yaml": make})
    yield Case("protocol-diff-agreement-and-partner",
               cmd("protocol", "diff", AGREEMENT, PARTNER_YAML))
    yield usage("protocol-schema-unknown", cmd("protocol", "schema", "other.json"))
    yield Case("protocol-schema-out-is-a-file", cmd("protocol", "schema", out="project.key"))
    yield usage("protocol-no-action", cmd("protocol"))


def _audit_and_demo() -> Iterator[Case]:
    yield Case("audit-verify-missing", cmd("audit", "verify", "bad.jsonl"))
    yield Case("audit-verify-directory", cmd("audit", "verify", "enc"))
    yield Case("audit-verify-not-utf8", cmd("audit", "verify", "bad.jsonl"),
               {"bad.jsonl": copy_of("audit.jsonl", lambda b: b + "Zébédee\n".encode(
                   "latin-1"))}, code=1, check=True)
    yield Case("audit-verify-edited", cmd("audit", "verify", "bad.jsonl"),
               {"bad.jsonl": copy_of("audit.jsonl", lambda b: b.replace(b'"health"',
                                                                        b'"Zebedee"', 1))},
               code=1, check=True)
    yield Case("audit-verify-truncated", cmd("audit", "verify", "bad.jsonl"),
               {"bad.jsonl": copy_of("audit.jsonl", lambda b: b[: len(b) - 40])},
               code=1, check=True)
    yield Case("audit-verify-random-bytes", cmd("audit", "verify", "bad.jsonl"),
               {"bad.jsonl": content(random_bytes(1024, seed=13))}, code=1, check=True)
    yield Case("audit-verify-public-key-garbage",
               cmd("audit", "verify", "audit.jsonl", public_key="bad.pub"),
               {"bad.pub": content("Zebedee 9434765919\n")})
    yield Case("audit-verify-public-key-is-the-log",
               cmd("audit", "verify", "audit.jsonl", public_key="audit.jsonl"))
    yield Case("audit-keygen-out-exists", cmd("audit", "keygen", out="audit.jsonl"))
    yield Case("audit-keygen-pub-exists", cmd("audit", "keygen", out="sign"),
               {"sign.pub": content("mine\n")})
    yield Case("audit-keygen-out-under-a-file", cmd("audit", "keygen", out="project.key/sign"))
    yield usage("audit-no-action", cmd("audit"))
    yield usage("demo-people-0", cmd("demo", people="0"))
    yield Case("demo-out-is-a-file", cmd("demo", people="50", out="project.key"))


def _valid() -> Iterator[Case]:
    """The unchanged commands the hostile cases vary: each must succeed, or the hostile
    cases would be refused for some other reason."""
    for name, args in (("encode", encode()), ("match", match()), ("evaluate", evaluate()),
                       ("release", release()), ("report", report()), ("privacy-check",
                                                                      privacy())):
        yield Case(f"valid-{name}", args, code=0)


def _found_by_the_first_pass() -> Iterator[Case]:
    """Cases that failed when this suite was first run, each fixed at its root: pipes
    where files belong (a read that never ends), outputs over a folder of other files, the
    demo over a real project, half-written schemas, folders left behind, and an encoding
    file from another agreement given to privacy-check."""
    yield Case("encode-key-fifo", encode(key="bad/k"), {"bad/k": fifo})
    yield Case("encode-signing-key-fifo", encode(signing_key="bad/k"), {"bad/k": fifo})
    yield Case("encode-audit-log-fifo", encode(output="enc/new.npz", audit_log="bad/a"),
               {"bad/a": fifo}, audit="bad/a")
    yield Case("audit-verify-fifo", cmd("audit", "verify", "bad/a"), {"bad/a": fifo},
               audit="bad/a")
    yield Case("match-output-is-the-extracts-folder", match(output="cohort"))
    yield Case("demo-out-is-a-project", cmd("demo", people="50", out="."))
    yield Case("protocol-schema-target-is-a-folder", cmd("protocol", "schema", out="s"),
               {"s/partner-protocol.schema.json": folder})
    yield Case("encode-new-folder-audit-log-refused",
               encode(output="newdir/x.npz", audit_log="enc"), audit="enc/audit.jsonl")
    yield Case("match-new-folder-audit-log-refused", match(output="newdir", audit_log="enc"),
               audit="enc/audit.jsonl")
    yield Case("privacy-check-other-agreement", privacy(input="bad/h.npz"),
               {"bad/h.npz": npz_variant(header_change(agreement={
                   "id": "another-agreement", "version": "1.0", "digest": None}))})


CASES = [*_valid(), *_found_by_the_first_pass(), *_synth_and_keygen(), *_encode_inputs(),
         *_encode_agreements(), *_encode_outputs(), *_match(), *_evaluate(), *_release(),
         *_report(), *_privacy_check(), *_protocol(), *_audit_and_demo()]
#: The cases run by default: every class of hostile input at least once, in ~1 minute (each
#: case is a process that spends about a second importing). The others repeat a class on
#: another command or file; run them all with LINKAGE_HOSTILE_ALL=1 (about 5 minutes).
QUICK = frozenset({
    "synth-out-under-a-file", "keygen-out-exists",
    *(f"encode-input-{name}" for name in (
        "no-header", "wrong-columns", "missing-column", "duplicate-column", "not-utf8",
        "nul-byte", "50kB-value", "empty", "header-only", "all-blank", "directory", "missing",
        "symlink-loop")),
    "encode-key-garbage",
    *(f"encode-agreement-{name}" for name in (
        "duplicate-key", "alias", "impossible-date", "random-bytes")),
    *(f"encode-output-{name}" for name in (
        "is-input", "is-key", "is-agreement", "is-audit-log", "is-a-folder")),
    "encode-audit-log-is-a-folder", "encode-audit-log-not-utf8",
    *(f"match-encoding-{name}" for name in (
        "truncated", "bit-flipped", "extra-member", "repeated-record-ids")),
    "match-output-file-is-input", "match-output-under-a-file",
    "evaluate-links-repeated-rows", "evaluate-candidates-corrupt",
    "release-input-nul-byte", "release-links-of-another-partner", "release-output-is-links",
    "report-model-garbage", "report-model-pairs-wrong-type", "report-output-is-model",
    "privacy-check-input-truncated",
    "protocol-check-duplicate-key", "protocol-check-python-tag", "protocol-diff-duplicate-key",
    "protocol-schema-out-is-a-file",
    "audit-verify-not-utf8", "audit-keygen-out-exists", "demo-out-is-a-file",
})
FIRST_PASS = frozenset(c.id for c in _found_by_the_first_pass())
SELECTED = [c for c in CASES if os.environ.get("LINKAGE_HOSTILE_ALL") or c.usage
            or c.code == 0 or c.id in QUICK or c.id in FIRST_PASS]


# Running a case ----------------------------------------------------------------------------

@dataclass
class Outcome:
    case: Case
    root: Path
    returncode: int | None
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]
    log_before: bytes | None
    log_after: bytes | None
    chain_was_intact: bool

    @property
    def command(self) -> str:
        return "linkage " + " ".join(_quote(a) for a in self.case.args)


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./=:" for c in arg) else repr(arg)


def fingerprint(root: Path) -> dict[str, str]:
    """Every path under ``root``: kind, and for a file its mode and SHA-256."""
    found: dict[str, str] = {}
    for folder_path, folders, files in os.walk(root):
        for name in [*folders, *files]:
            path = Path(folder_path, name)
            info = os.lstat(path)
            key = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                found[key] = "link to " + os.readlink(path)
            elif stat.S_ISDIR(info.st_mode):
                found[key] = "folder"
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[key] = f"file {stat.S_IMODE(info.st_mode):o} {digest}"
            else:
                found[key] = "special"
    return found


def _regular_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def run_case(case: Case, template: Path, base: Path) -> Outcome:
    root = base / case.id
    shutil.copytree(template, root, symlinks=True)
    for relative, make in case.files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        make(root / relative, root)
    log = root / case.audit
    log_before = _regular_bytes(log)
    chain = log_before is not None and verify_log(log).ok
    before = fingerprint(root)
    try:
        done = subprocess.run([sys.executable, "-m", "linkage", *case.args], cwd=root,
                              capture_output=True, text=True, errors="replace",
                              timeout=TIMEOUT, env={**os.environ, "COLUMNS": "100"})
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        code, out, err = None, "", f"(timed out after {TIMEOUT} s)"
    return Outcome(case, root, code, out, err, before, fingerprint(root), log_before,
                   _regular_bytes(log), chain)


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [value for value in PLANTED if value.lower() in lowered]


def problems(outcome: Outcome) -> list[str]:
    """Every invariant the outcome breaks (empty when the refusal was clean)."""
    case, found = outcome.case, []
    code, err = outcome.returncode, outcome.stderr
    if code is None:
        return [err]
    if case.code == 0:  # a valid run, which the hostile cases vary
        return [] if code == 0 and "Traceback" not in err else [f"exit status {code}"]
    if code != case.code:
        found.append(f"exit status {code}, expected {case.code}")
    lines = err.rstrip("\n").split("\n")
    if case.usage:
        if not (err.startswith("usage:") and lines[-1].startswith("linkage")):
            found.append("not an argparse usage error")
    elif case.check and code == 1:
        if not err.strip() or any(not line.strip() for line in lines):
            found.append("a failed check must say what failed, one line per problem")
    elif len(lines) != 1 or not lines[0].strip():
        found.append(f"stderr has {len([x for x in lines if x.strip()])} non-empty lines, not 1")
    for stream, text in (("stdout", outcome.stdout), ("stderr", err)):
        if "Traceback" in text:
            found.append(f"a traceback on {stream}")
        if leaks(text):
            found.append(f"{stream} quotes planted data")
    found += _file_problems(outcome)
    return found


def _file_problems(outcome: Outcome) -> list[str]:
    """Files made, removed or changed, apart from the audit log and its companions (e.g. a
    checkpoint beside it), which may change only with one appended refusal."""
    log = outcome.case.audit

    def other(paths: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in paths.items() if k != log and not k.startswith(log + ".")}

    before, after = other(outcome.before), other(outcome.after)
    found = [f"new: {p}" for p in sorted(after.keys() - before.keys())]
    found += [f"removed: {p}" for p in sorted(before.keys() - after.keys())]
    found += [f"changed: {p}" for p in sorted(before.keys() & after.keys())
              if before[p] != after[p]]
    old, new = outcome.log_before, outcome.log_after
    if old == new:
        companions = {k for k in outcome.before.keys() | outcome.after.keys()
                      if k.startswith(log + ".")}
        return found + [f"changed: {k}" for k in sorted(companions)
                        if outcome.before.get(k) != outcome.after.get(k)]
    if new is None or not new.startswith(old or b""):
        return [*found, "the audit log was rewritten, not appended to"]
    added = new[len(old or b""):].decode("utf-8", "replace").splitlines()
    if len(added) != 1:
        return [*found, f"the audit log gained {len(added)} entries, not one"]
    entry = json.loads(added[0])
    if entry.get("outcome") != "refused":
        found.append(f"the audit log gained an entry with outcome {entry.get('outcome')!r}")
    if leaks(added[0]):
        found.append("the audit entry quotes planted data")
    if outcome.chain_was_intact and not verify_log(outcome.root / log).ok:
        found.append("the audit log's chain is broken")
    return found


# Fixtures and tests ------------------------------------------------------------------------

def build_workspace(root: Path) -> Path:
    """The valid workspace every case copies: cohort (with planted records), key,
    protocols, encodings, the match output folder ``links`` and the audit log."""
    from linkage.encoding import ProjectKey, write_key_file
    from linkage.matching import Linker
    from linkage.steps import encode_extract, match_encodings
    from linkage.synth import CohortConfig, generate_cohort, write_cohort

    write_cohort(generate_cohort(CohortConfig(people=300, seed=1)), root / "cohort")
    for name, row in (("health", HEALTH_ROW), ("social_care", SOCIAL_ROW)):
        with open(root / "cohort" / f"{name}.csv", "a", encoding="utf-8") as handle:
            handle.write(row)
    with open(root / "cohort" / "truth.csv", "a", encoding="utf-8") as handle:
        handle.write("health,Hzzqqxx01,900001\nsocial_care,Szzqqxx02,900001\n")
    shutil.copytree(EXAMPLE, root / "prot")  # a real folder, not the repository's link
    write_key_file(ProjectKey.generate(), root / "project.key")
    log = root / "audit.jsonl"
    agreement = root / AGREEMENT
    for partner in ("health", "education", "social_care"):
        encode_extract(agreement=agreement, partner=partner, key=root / "project.key",
                       input=root / "cohort" / f"{partner}.csv",
                       output=root / "enc" / f"{partner}.npz", audit_log=log)
    match_encodings(agreement=agreement, encodings=[root / "enc" / f"{p}.npz" for p in
                                                    ("health", "education", "social_care")],
                    output=root / "links", audit_log=log, linker=Linker())
    assert "zzqqxx" in (root / "links" / "health.csv").read_text()
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("workspace"))


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, workspace: Path,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Run the selected cases, a few processes at a time."""
    wanted = {item.callspec.params["case"].id for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")
              and "case" in item.callspec.params}
    base = tmp_path_factory.mktemp("cases")
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda c: run_case(c, workspace, base),
                        [c for c in CASES if c.id in wanted])
        return {outcome.case.id: outcome for outcome in done}


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", SELECTED, ids=[c.id for c in SELECTED])
def test_hostile_input_is_refused_cleanly(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    found = problems(outcome)
    assert not found, (f"{outcome.command}\nexit {outcome.returncode}\n"
                       f"stderr: {outcome.stderr[:300]!r}\nproblems: {found}")


# Random bytes as the extract (in-process: a process per example would take a minute) -----

_PIECES = st.sampled_from([b",", b"\n", b"\r\n", b'"', b"\x00", b"\xff\xfe", b"\xc3",
                           b"Zebedee", b"9434765919", b"LS4 6GE", b"Hzzqqxx01",
                           b"2023-02-30", b"Z" * 1200, HEALTH_ROW.encode()])
_BYTES = st.one_of(
    st.binary(max_size=600),
    st.lists(st.one_of(_PIECES, st.binary(max_size=8)), max_size=40).map(b"".join),
    st.lists(st.one_of(_PIECES, st.binary(max_size=8)), max_size=40).map(
        lambda parts: HEALTH_HEADER.encode() + b"".join(parts)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_BYTES)
def test_encode_refuses_random_bytes_cleanly(workspace: Path, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder_path = Path(temporary)
        extract = folder_path / "extract.csv"
        extract.write_bytes(data)
        log = folder_path / "audit.jsonl"
        args = encode(agreement=str(workspace / AGREEMENT), key=str(workspace / "project.key"),
                      input=str(extract), output=str(folder_path / "out.npz"),
                      audit_log=str(log))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        names = {p.name for p in folder_path.iterdir()}
        audit = {n for n in names if n == log.name or n.startswith(log.name + ".")}
        assert extract.read_bytes() == data
        entries = []
        if log.exists():
            entries = [json.loads(line) for line in log.read_text().splitlines()]
            assert verify_log(log).ok
        assert len(entries) <= 1
        if code == 0:  # the bytes made a valid extract: a written, audited encoding
            assert "out.npz" in names
            assert {n for n in names - audit if not n.startswith("out.npz")} == {"extract.csv"}
            assert [e["outcome"] for e in entries] == ["ok"]
            return
        assert code == 2
        message = err.getvalue()
        assert message.count("\n") == 1 and message.strip(), message
        assert not leaks(message) and not leaks(out.getvalue()), message
        assert "Traceback" not in message
        assert names - audit == {"extract.csv"}, names
        assert all(e["outcome"] == "refused" for e in entries)
        assert not any(leaks(json.dumps(e)) for e in entries)
