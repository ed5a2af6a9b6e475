import subprocess
import sys

import pytest

from linkage import __version__
from linkage.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_console_script_help() -> None:
    out = subprocess.run([sys.executable, "-m", "linkage", "--help"], capture_output=True,
                         text=True, check=True)
    assert "synth" in out.stdout


def test_synth_writes_four_files(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--people", "300", "--seed", "2", "--out", str(tmp_path / "c")]) == 0
    names = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert names == ["education.csv", "health.csv", "social_care.csv", "truth.csv"]


@pytest.mark.parametrize("args, message", [
    (["--people", "-5"], "positive"),
    (["--people", "many"], "whole number"),
    (["--seed", "-1"], "negative"),
])
def test_synth_refuses_bad_arguments(tmp_path, capsys: pytest.CaptureFixture[str],
                                     args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["synth", *args, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_synth_refuses_non_empty_folder(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old.csv").write_text("x")
    assert main(["synth", "--people", "50", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not empty" in err and "--force" in err and "\n" not in err
