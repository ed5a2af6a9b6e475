"""Encode every partner of a synthetic cohort under the example agreement (shared by the
benchmarks)."""

from __future__ import annotations

import hashlib

from linkage.encoding import EncodingSchema, ProjectKey
from linkage.matching import Source
from linkage.pipeline import cohort_sources
from linkage.protocols import LoadedAgreement
from linkage.synth import Cohort


def benchmark_key(label: str) -> ProjectKey:
    """A fixed key for repeatable benchmark runs (never for real data)."""
    return ProjectKey(hashlib.sha256(f"linkage benchmark key: {label}".encode()).digest())


def encode_cohort(cohort: Cohort, loaded: LoadedAgreement, schema: EncodingSchema,
                  key: ProjectKey, noise_seed: int | None = 1) -> list[Source]:
    """One :class:`Source` per partner, BLIP noise seeded so that benchmark runs repeat."""
    return cohort_sources(cohort.extracts, loaded, keys=key, schema=schema,
                          noise_seed=noise_seed)
