"""linkage: privacy-preserving record linkage for early-years services.

Partners encode identifiers as keyed Bloom filters at home (:mod:`linkage.encoding`);
a linkage unit with no key links the encodings (:mod:`linkage.matching`); protocols
declared in YAML govern every step (:mod:`linkage.protocols`); synthetic cohorts with
ground truth drive the tests and benchmarks (:mod:`linkage.synth`).

The names a data team needs are available here and imported on first use, so that
``import linkage`` (and the command line) stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

from linkage.errors import LinkageError

__version__ = "0.1.0"

_EXPORTS = {
    "BloomFilterEncoder": "linkage.encoding",
    "EncodingSchema": "linkage.encoding",
    "ProjectKey": "linkage.encoding",
    "default_schema": "linkage.encoding",
    "read_encodings": "linkage.encoding",
    "Linker": "linkage.matching",
    "FellegiSunter": "linkage.matching",
    "pairwise_quality": "linkage.matching",
    "LinkerSettings": "linkage.matching",
    "EncodedSource": "linkage.contracts",
    "FieldKind": "linkage.contracts",
    "load_agreement": "linkage.protocols",
    "CohortConfig": "linkage.synth",
    "generate_cohort": "linkage.synth",
    "encode_extract": "linkage.steps",
    "match_encodings": "linkage.steps",
    "release_attributes": "linkage.steps",
    "evaluate_links": "linkage.steps",
    "report_links": "linkage.steps",
    "check_privacy": "linkage.steps",
}

__all__ = ["LinkageError", "__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'linkage' has no attribute '{name}'")
