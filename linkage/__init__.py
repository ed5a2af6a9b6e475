"""linkage: privacy-preserving record linkage for early-years services.

Partners encode identifiers as keyed Bloom filters at home (:mod:`linkage.encoding`);
a linkage unit with no key links the encodings (:mod:`linkage.matching`); protocols
declared in YAML govern every step (:mod:`linkage.protocols`); synthetic cohorts with
ground truth drive the tests and benchmarks (:mod:`linkage.synth`).
"""

from __future__ import annotations

from linkage.errors import LinkageError

__version__ = "0.1.0"

__all__ = ["LinkageError", "__version__"]
