"""Information-sharing protocols: agreement and partner files, validation, enforcement."""

from linkage.protocols.loading import (
    LoadedAgreement,
    Problem,
    ProtocolProblems,
    encoding_shortfalls,
    load_agreement,
    load_model,
)
from linkage.protocols.models import (
    Agreement,
    DisclosureControl,
    EncodingRequirements,
    PartnerProtocol,
    Release,
    Role,
)

__all__ = [
    "Agreement",
    "DisclosureControl",
    "EncodingRequirements",
    "LoadedAgreement",
    "PartnerProtocol",
    "Problem",
    "ProtocolProblems",
    "Release",
    "Role",
    "encoding_shortfalls",
    "load_agreement",
    "load_model",
]
