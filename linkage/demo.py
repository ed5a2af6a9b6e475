"""``linkage demo``: the flow on a built-in synthetic cohort, ending in a summary."""

from __future__ import annotations

import tempfile
from pathlib import Path

from linkage.synth import CohortConfig, generate_cohort, write_cohort


def run_demo(out_dir: Path | None = None, people: int = 20_000, seed: int = 0) -> Path:
    """Run the demo into ``out_dir`` (a new temporary folder if None); return the folder."""
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="linkage-demo-"))
    print(f"linkage demo: {people:,} children, seed {seed}, output in {out}")
    cohort = generate_cohort(CohortConfig(people=people, seed=seed))
    write_cohort(cohort, out / "cohort", force=True)
    print(f"\n{'partner':<14}{'records':>10}")
    for partner, frame in cohort.extracts.items():
        print(f"{partner:<14}{len(frame):>10,}")
    print(f"\nsynthetic extracts and truth.csv: {out / 'cohort'}")
    return out
