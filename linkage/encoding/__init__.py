"""The data provider's stage: identifiers -> keyed Bloom-filter encodings.

The key never leaves this stage: :mod:`linkage.matching` works on what
:func:`write_encodings` writes, which holds no key and nothing derived from it.
"""

from linkage.contracts import EncodedSource, FieldKind
from linkage.encoding.encoder import BloomFilterEncoder
from linkage.encoding.keys import ProjectKey, read_key_file, write_key_file
from linkage.encoding.schema import (
    BlockingPass,
    EncodingSchema,
    FieldSpec,
    HardeningSpec,
    default_schema,
)
from linkage.encoding.store import EncodingFile, read_encodings, write_encodings

__all__ = [
    "BlockingPass",
    "BloomFilterEncoder",
    "EncodedSource",
    "EncodingFile",
    "EncodingSchema",
    "FieldKind",
    "FieldSpec",
    "HardeningSpec",
    "ProjectKey",
    "default_schema",
    "read_encodings",
    "read_key_file",
    "write_encodings",
    "write_key_file",
]
