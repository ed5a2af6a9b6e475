"""Optional: the report in a real headless Chromium (run with ``pytest -m browser``).

Deselected by default (it needs Debian's ``chromium`` package); when selected it fails,
rather than skips, if Chromium is missing.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from linkage.demo import run_demo


@pytest.mark.browser
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "install Chromium (apt-get install chromium) to run browser tests"
    run_demo(out_dir=tmp_path, people=1_000, seed=2, quiet=True)
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,3000",
                    f"--screenshot={shot}", (tmp_path / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # charts, not a blank page
