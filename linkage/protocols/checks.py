"""Enforcement at the linkage unit: which encoding files may be linked together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linkage.errors import ProtocolError
from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.models import Role


def authorise_match(loaded: LoadedAgreement, files: Sequence[Any]) -> None:
    """Refuse encodings from another agreement or version, with other parameters, from a
    party that is not a data provider, or two files from the same partner.

    ``files``: objects with ``path``, ``agreement_id``, ``agreement_version``, ``partner``
    and ``schema`` (an :class:`~linkage.encoding.EncodingFile`).
    """
    a = loaded.agreement
    if len(files) < 2:
        raise ProtocolError("match needs encoding files from at least two data providers.")
    seen: dict[str, Any] = {}
    for f in files:
        if f.agreement_id != a.id:
            raise ProtocolError(f"{f.path}: was encoded under agreement '{f.agreement_id}', "
                                f"not '{a.id}' ({loaded.path}: id).")
        if f.agreement_version != a.version:
            raise ProtocolError(f"{f.path}: was encoded under version {f.agreement_version} of "
                                f"agreement '{a.id}', not version {a.version} "
                                f"({loaded.path}: version).")
        if f.schema != a.encoding:
            raise ProtocolError(f"{f.path}: encoding parameters differ from the agreement's "
                                f"({loaded.path}: encoding).")
        protocol = loaded.protocol(f.partner)
        if Role.DATA_PROVIDER not in protocol.roles:
            raise ProtocolError(f"{f.path}: comes from '{f.partner}', which is not a "
                                f"data_provider ({loaded.protocol_paths[f.partner]}: roles).")
        if f.partner in seen:
            raise ProtocolError(f"{f.path}: a second encoding file from '{f.partner}' "
                                f"(first: {seen[f.partner].path}).")
        seen[f.partner] = f
