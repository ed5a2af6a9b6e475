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


PROVIDERS = ("health", "education", "social_care")


def encoded_workspace(root: Path, cohort: Any) -> Path:
    """``root`` with the cohort's extracts, the example protocols, a key, and each data
    provider's encoding file in ``enc/`` (made through the CLI, as a provider would)."""
    from linkage.cli import main
    from linkage.synth import write_cohort

    write_cohort(cohort, root / "cohort")
    agreement = copy_protocols(root)
    assert main(["keygen", "--out", str(root / "project.key")]) == 0
    for partner in PROVIDERS:
        assert main(["encode", "--agreement", str(agreement), "--partner", partner,
                     "--key", str(root / "project.key"), "--input",
                     str(root / "cohort" / f"{partner}.csv"), "--output",
                     str(root / "enc" / f"{partner}.npz"), "--quiet"]) == 0
    return root


def clusters_of(*paths: Path) -> set[frozenset[tuple[str, str]]]:
    """The clusters in match output folders or links files, as sets of (partner, record
    id): link keys are random per run, so runs are compared by their clusters."""
    from linkage.linkfiles import read_links

    frame = read_links(list(paths))
    return {frozenset(zip(g["partner"], g["record_id"], strict=True))
            for _, g in frame.groupby("cluster_id")}
