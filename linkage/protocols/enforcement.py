"""Enforcement points: each step asks here whether the protocols permit it.

One ``authorise_*`` function per step (encode, match, release). Every refusal is a
:class:`~linkage.errors.ProtocolError` naming the file and clause.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from linkage.encoding.schema import EncodingSchema
from linkage.errors import ProtocolError
from linkage.protocols.loading import LoadedAgreement, encoding_shortfalls
from linkage.protocols.models import Role


def authorise_encode(loaded: LoadedAgreement, partner: str, *,
                     schema: EncodingSchema | None = None,
                     columns: Mapping[str, str | None] | None = None,
                     today: dt.date | None = None) -> dict[str, str | None]:
    """Check that ``partner`` may encode under ``loaded``; return field -> column to read.

    Refuses: an agreement not in force, a partner not in it or not a data provider, a
    schema weaker than the agreement's minimum, and any column the partner's protocol does
    not list under ``identifiers``. Fields the partner does not hold map to ``None``.
    """
    loaded.check_in_force(today)
    protocol = loaded.protocol(partner)
    where = loaded.protocol_paths[partner]
    if Role.DATA_PROVIDER not in protocol.roles:
        raise ProtocolError(f"{where}: roles: '{partner}' is not a data_provider, so it may "
                            f"not encode identifiers.")
    schema = schema or loaded.agreement.encoding
    if schema != loaded.agreement.encoding:
        shortfalls = encoding_shortfalls(loaded.agreement, schema)
        if shortfalls:
            clause, message = shortfalls[0]
            raise ProtocolError(f"{loaded.path}: {clause}: the schema is weaker than the "
                                f"agreement allows: {message}.")
    permitted = dict(protocol.identifiers)
    mapping: dict[str, str | None] = {f.name: permitted.get(f.name) for f in schema.fields}
    for field, column in (columns or {}).items():
        if column is not None and permitted.get(field) != column:
            raise ProtocolError(f"{where}: identifiers.{field}: column '{column}' is not "
                                f"permitted for '{field}' by {partner}'s protocol.")
        mapping[field] = column
    return mapping


def record_id_column(loaded: LoadedAgreement, partner: str) -> str:
    """The record-id column a data provider declared."""
    column = loaded.protocol(partner).record_id_column
    if column is None:
        raise ProtocolError(f"{loaded.protocol_paths[partner]}: record_id_column: missing.")
    return column


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


def authorise_release(loaded: LoadedAgreement, partner: str, recipient: str,
                      purpose: str | None = None,
                      attributes: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """The purpose and the attributes ``partner`` may release to ``recipient``.

    Refuses a partner that is not a data provider, a recipient or purpose with no release
    clause, and any attribute the clause does not list.
    """
    protocol = loaded.protocol(partner)
    loaded.protocol(recipient)
    where = loaded.protocol_paths[partner]
    if Role.DATA_PROVIDER not in protocol.roles:
        raise ProtocolError(f"{where}: roles: '{partner}' is not a data_provider and holds "
                            f"no attributes to release.")
    clauses = [r for r in protocol.releases if r.recipient == recipient]
    if not clauses:
        raise ProtocolError(f"{where}: releases: {partner}'s protocol permits no release to "
                            f"'{recipient}'.")
    if purpose is not None:
        clauses = [r for r in clauses if r.purpose == purpose]
        if not clauses:
            raise ProtocolError(f"{where}: releases: no release to '{recipient}' is permitted "
                                f"for purpose '{purpose}'.")
    elif len({r.purpose for r in clauses}) > 1:
        raise ProtocolError(f"{where}: releases: releases to '{recipient}' serve several "
                            f"purposes; name one with --purpose.")
    clause = clauses[0]
    permitted = [a for r in clauses if r.purpose == clause.purpose for a in r.attributes]
    if attributes is None:
        return clause.purpose, permitted
    refused = [a for a in attributes if a not in permitted]
    if refused:
        raise ProtocolError(f"{where}: releases: {', '.join(refused)} may not be released to "
                            f"'{recipient}' for '{clause.purpose}' (permitted: "
                            f"{', '.join(permitted)}).")
    return clause.purpose, list(attributes)
