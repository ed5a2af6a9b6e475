"""Helpers shared by tests: copies of the example protocols that a test may edit."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

EXAMPLE = Path(__file__).resolve().parent.parent / "protocols" / "first-1000-days"


def copy_protocols(tmp_path: Path) -> Path:
    """A copy of the example agreement folder; returns the agreement path."""
    target = tmp_path / "protocols"
    shutil.copytree(EXAMPLE, target)
    return target / "agreement.yaml"


def edit_yaml(path: Path, change: Any) -> None:
    """Load ``path``, apply ``change(data)`` in place, write it back."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
