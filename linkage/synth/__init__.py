"""Synthetic early-years cohorts with ground truth.

>>> from linkage.synth import CohortConfig, generate_cohort
>>> cohort = generate_cohort(CohortConfig(people=500, seed=1))
>>> sorted(cohort.extracts)
['education', 'health', 'social_care']
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from linkage.errors import InputDataError
from linkage.files import atomic_output
from linkage.synth.config import (
    EDUCATION,
    HARD_EDUCATION,
    HARD_HEALTH,
    HARD_SOCIAL_CARE,
    HEALTH,
    PROFILES,
    SOCIAL_CARE,
    CohortConfig,
    ServiceProfile,
    cohort_config,
)
from linkage.synth.extracts import EXTRACT_COLUMNS, TRUTH_COLUMNS, Cohort, draw_extracts
from linkage.synth.identifiers import is_valid_nhs_number, is_valid_upn
from linkage.synth.population import Population, generate_population

__all__ = [
    "EDUCATION",
    "EXTRACT_COLUMNS",
    "HARD_EDUCATION",
    "HARD_HEALTH",
    "HARD_SOCIAL_CARE",
    "HEALTH",
    "PROFILES",
    "SOCIAL_CARE",
    "TRUTH_COLUMNS",
    "Cohort",
    "CohortConfig",
    "Population",
    "ServiceProfile",
    "cohort_config",
    "generate_cohort",
    "is_valid_nhs_number",
    "is_valid_upn",
    "write_cohort",
]


def generate_cohort(config: CohortConfig | None = None) -> Cohort:
    """Generate the population and every service's extract; deterministic for a seed."""
    config = config or CohortConfig()
    rng = np.random.default_rng(config.seed)
    population = generate_population(config, rng)
    return draw_extracts(population, config, rng)


def write_cohort(cohort: Cohort, out_dir: str | os.PathLike[str], *,
                 force: bool = False, truth: bool = True) -> list[Path]:
    """Write one CSV per partner plus (unless ``truth=False``) ``truth.csv`` into
    ``out_dir``; return the paths.

    Refuses a non-empty ``out_dir`` unless ``force``. Each file is written atomically.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputDataError(f"{out}: exists and is not a folder.")
    if out.exists() and any(out.iterdir()) and not force:
        raise InputDataError(f"{out}: folder is not empty; pass --force to write into it.")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    tables = {**cohort.extracts, **({"truth": cohort.truth} if truth else {})}
    for name, frame in tables.items():
        path = out / f"{name}.csv"
        with atomic_output(path) as handle:
            frame.to_csv(handle, index=False, lineterminator="\n")
        written.append(path)
    return written
