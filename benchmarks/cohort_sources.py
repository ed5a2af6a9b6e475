"""Encode every partner of a synthetic cohort under the example agreement (shared by the
benchmarks)."""

from __future__ import annotations

from linkage.encoding import BloomFilterEncoder, EncodingSchema, ProjectKey
from linkage.encoding.hardening import field_flip_probability
from linkage.matching import Source, source_from_encodings
from linkage.protocols import LoadedAgreement
from linkage.synth import Cohort


def encode_cohort(cohort: Cohort, loaded: LoadedAgreement, schema: EncodingSchema,
                  key: ProjectKey) -> list[Source]:
    """One :class:`Source` per partner, each reading the columns its protocol maps."""
    encoder = BloomFilterEncoder(schema, key)
    kinds = {f.name: f.kind.value for f in schema.fields}
    sources = []
    for partner, frame in cohort.extracts.items():
        mapping = {f.name: loaded.protocol(partner).identifiers.get(f.name)
                   for f in schema.fields}
        sources.append(source_from_encodings(
            partner, encoder.encode(frame, mapping), kinds,
            flip_probability=field_flip_probability(schema.hardening)))
    return sources
