"""The demo runs the whole flow and reports quality against the truth."""

import base64
import io
import logging
import zipfile
from pathlib import Path

import pytest

from linkage.demo import run_demo
from linkage.protocols.audit import verify_log


def test_demo_small_cohort(tmp_path: Path) -> None:
    result = run_demo(out_dir=tmp_path, people=1_500, seed=3, quiet=True)
    pairs = result.quality.by_partner_pair
    assert pairs[("education", "health")].f1 > 0.95
    for name in ("health.csv", "education.csv", "social_care.csv", "link-quality.csv",
                 "match-model.json", "candidates.npz"):
        assert (tmp_path / "linkage_unit" / name).exists()
    releases = sorted(p.name for p in (tmp_path / "analysts").glob("*.csv"))
    assert releases == ["education.csv", "health.csv", "social_care.csv"]
    header = (tmp_path / "analysts" / "health.csv").read_text().splitlines()[0]
    assert header == "link_key,birth_weight_g,smoking_in_pregnancy"
    report = verify_log(tmp_path / "audit.jsonl")
    assert report.ok and report.entries == 8  # 3 encodes, 1 match, 3 releases, 1 report


def key_forms(secret: bytes) -> dict[str, bytes]:
    """The ways a leaked key would show up in a file or a log: raw, hex, base64/32, repr.

    Padding is left off the base-N forms so that a padded, unpadded or wrapped-at-the-end
    copy is found alike.
    """
    return {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "base64": base64.b64encode(secret).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
        "base32": base64.b32encode(secret).rstrip(b"="),
        "base32 lower": base64.b32encode(secret).rstrip(b"=").lower(),
        "repr": repr(secret).encode()[2:-1],  # b'\x..' as printed, without b'' quotes
    }


def leaks(blob: bytes, forms: dict[str, bytes]) -> list[str]:
    """Names of the key forms found in ``blob`` (and in the members of a zip/npz blob)."""
    found = [name for name, form in forms.items() if form in blob]
    if blob[:4] == b"PK\x03\x04":  # a zip (e.g. .npz): its members may be compressed
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            for member in archive.namelist():
                found += [f"{name} in {member}" for name in leaks(archive.read(member), forms)]
    return found


def test_leak_scan_finds_every_form() -> None:
    secret = bytes(range(1, 33))
    forms = key_forms(secret)
    for name, form in forms.items():
        assert name in leaks(b"prefix " + form + b" suffix", forms)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.npy", b"x" * 100 + secret.hex().encode())
    assert forms["hex"] not in packed.getvalue() and leaks(packed.getvalue(), forms)
    assert not leaks(bytes(range(33, 65)) * 4, forms)


def test_demo_never_writes_or_prints_the_key(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    run_demo(out_dir=tmp_path, people=1_000, seed=5, quiet=False)
    key_file = tmp_path / "providers" / "project.key"
    lines = key_file.read_text().splitlines()
    secret = base64.b64decode(lines[1], validate=True)
    assert len(secret) == 32
    forms = key_forms(secret)
    scanned = []
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and path != key_file:
            scanned.append(path.relative_to(tmp_path).as_posix())
            assert not leaks(path.read_bytes(), forms), f"key found in {path}"
    # the scan covered what the demo wrote: encodings, links, releases, audit log, report
    for expected in ("encodings/health.npz", "linkage_unit/health.csv", "analysts/health.csv",
                     "audit.jsonl", "report.html"):
        assert expected in scanned
    out, err = capfd.readouterr()
    assert "linkage demo" in out  # the output was captured, not lost
    for name, text in (("stdout", out), ("stderr", err), ("log", caplog.text)):
        assert not leaks(text.encode("utf-8", "surrogateescape"), forms), f"key in {name}"
