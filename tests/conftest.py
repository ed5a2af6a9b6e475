"""Shared fixtures: small synthetic cohorts, generated once per session."""

from __future__ import annotations

import pytest

from linkage.synth import Cohort, CohortConfig, Population, generate_cohort
from linkage.synth.population import generate_population


@pytest.fixture(scope="session")
def small_cohort() -> Cohort:
    return generate_cohort(CohortConfig(people=3_000, seed=7))


@pytest.fixture(scope="session")
def medium_population() -> tuple[CohortConfig, Population]:
    import numpy as np

    config = CohortConfig(people=40_000, seed=11)
    return config, generate_population(config, np.random.default_rng(config.seed))


@pytest.fixture(scope="session")
def medium_cohort() -> Cohort:
    return generate_cohort(CohortConfig(people=40_000, seed=11))
