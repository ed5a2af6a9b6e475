"""Code examples in the README and docs run as written (on a small synthetic cohort)."""

import os
import re
from pathlib import Path

import pytest

from linkage.synth import Cohort, write_cohort

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: docs that are prose only (no Python examples); every other doc must show at least one
PROSE_ONLY = {"design.md", "ig-guide.md", "threat-model.md"}


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_prose_only_docs_exist_and_others_are_checked() -> None:
    names = {p.name for p in DOCS}
    assert names >= PROSE_ONLY, f"PROSE_ONLY names missing docs: {PROSE_ONLY - names}"
    assert "README.md" in names and len(names - PROSE_ONLY) >= 2


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_examples_run(path: Path, tmp_path: Path, small_cohort: Cohort,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(path)
    if path.name in PROSE_ONLY and not blocks:
        return
    assert blocks, f"{path.name} has no ```python example (list it in PROSE_ONLY if meant)"
    write_cohort(small_cohort, tmp_path / "cohort")
    for name in ("health", "education", "social_care"):
        (tmp_path / f"{name}.csv").write_text((tmp_path / "cohort" / f"{name}.csv").read_text())
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "protocols", tmp_path / "protocols")
    for block in blocks:
        if "read_encodings(p) for p in" in block:  # needs encoding files: make them first
            _encode_all(tmp_path)
        exec(compile(block, f"{path.name}:example", "exec"), {})


def _encode_all(tmp_path: Path) -> None:
    from linkage.cli import main

    if not (tmp_path / "project.key").exists():
        main(["keygen", "--out", str(tmp_path / "project.key")])
    for name in ("health", "education", "social_care"):
        main(["encode", "--agreement", "protocols/first-1000-days/agreement.yaml",
              "--partner", name, "--key", "project.key", "--input", f"{name}.csv",
              "--output", f"{name}.npz", "--quiet"])


def _bash_after(path: Path, heading: str) -> str:
    """The first ```bash block after ``heading`` in a Markdown file."""
    text = path.read_text()
    start = text.index(heading)
    return re.findall(r"```bash\n(.*?)```", text[start:], flags=re.S)[0]


def test_readme_flow_runs_as_written(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    script = _bash_after(ROOT / "README.md", "## The flow, step by step")
    script = script.replace("--people 20000", "--people 600")  # same commands, smaller cohort
    os.symlink(ROOT / "protocols", tmp_path / "protocols")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}"
               f"{os.environ.get('PATH', '')}")
    assert shutil.which("linkage", path=env["PATH"]), "the linkage command is not installed"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "chain intact" in done.stdout and "precision" in done.stdout
    assert (tmp_path / "to_analysts" / "health.csv").exists()
