"""Encode every partner of a synthetic cohort in memory (shared by the benchmarks and the
tests; nothing here is checked against the protocols or audited)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd

from linkage.contracts import EncodedSource
from linkage.encoding import BloomFilterEncoder, EncodingSchema, ProjectKey
from linkage.protocols import LoadedAgreement
from linkage.synth import Cohort


def benchmark_key(label: str) -> ProjectKey:
    """A fixed key for repeatable benchmark runs (never for real data)."""
    return ProjectKey(hashlib.sha256(f"linkage benchmark key: {label}".encode()).digest())


def encode_extracts(extracts: Mapping[str, pd.DataFrame], loaded: LoadedAgreement, *,
                    keys: Mapping[str, ProjectKey] | ProjectKey,
                    schema: EncodingSchema | None = None,
                    noise_seed: int | None = None) -> list[EncodedSource]:
    """Each partner's extract encoded as its protocol maps it: one source per partner.

    ``keys`` is one key for all or a key per partner; ``schema`` defaults to the
    agreement's; ``noise_seed`` fixes BLIP noise so that runs repeat (never for real data).
    """
    schema = schema or loaded.agreement.encoding
    sources = []
    for partner, frame in extracts.items():
        key = keys if isinstance(keys, ProjectKey) else keys[partner]
        mapping = {f.name: loaded.protocol(partner).identifiers.get(f.name)
                   for f in schema.fields}
        encoder = BloomFilterEncoder(schema, key, noise_seed=noise_seed)
        sources.append(encoder.encode(frame, mapping, partner=partner))
    return sources


def encode_cohort(cohort: Cohort, loaded: LoadedAgreement, schema: EncodingSchema,
                  key: ProjectKey, noise_seed: int | None = 1) -> list[EncodedSource]:
    """One encoded source per partner, BLIP noise seeded so that benchmark runs repeat."""
    return encode_extracts(cohort.extracts, loaded, keys=key, schema=schema,
                           noise_seed=noise_seed)
