"""Encode every partner of a synthetic cohort under the example agreement (shared by the
benchmarks)."""

from __future__ import annotations

import hashlib

from linkage.encoding import BloomFilterEncoder, EncodingSchema, ProjectKey
from linkage.matching import Source, source_from_encodings
from linkage.protocols import LoadedAgreement
from linkage.synth import Cohort


def benchmark_key(label: str) -> ProjectKey:
    """A fixed key for repeatable benchmark runs (never for real data)."""
    return ProjectKey(hashlib.sha256(f"linkage benchmark key: {label}".encode()).digest())


def encode_cohort(cohort: Cohort, loaded: LoadedAgreement, schema: EncodingSchema,
                  key: ProjectKey, noise_seed: int | None = 1) -> list[Source]:
    """One :class:`Source` per partner, each reading the columns its protocol maps.

    BLIP noise is seeded (``noise_seed``) so that benchmark runs repeat; never for real data.
    """
    encoder = BloomFilterEncoder(schema, key, noise_seed=noise_seed)
    kinds = {f.name: f.kind.value for f in schema.fields}
    sources = []
    for partner, frame in cohort.extracts.items():
        mapping = {f.name: loaded.protocol(partner).identifiers.get(f.name)
                   for f in schema.fields}
        sources.append(source_from_encodings(partner, encoder.encode(frame, mapping), kinds))
    return sources
