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
from linkage.protocols.models import ColumnClass, Release, Role
from linkage.protocols.provenance import check_artefact, check_made_under


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


def authorise_match(loaded: LoadedAgreement, files: Sequence[Any], *, minimum: int = 2) -> None:
    """Refuse encodings from another agreement or version, with other parameters, from a
    party that is not a data provider, or two files from the same partner.

    ``files``: objects with ``path``, ``agreement_id``, ``agreement_version``, ``partner``
    and ``schema`` (an :class:`~linkage.encoding.EncodingFile`).
    """
    a = loaded.agreement
    if len(files) < minimum:
        raise ProtocolError(f"match needs encoding files from at least {minimum} data "
                            f"providers.")
    seen: dict[str, Any] = {}
    for f in files:
        check_made_under(loaded, f.path, f.agreement_id, f.agreement_version,
                         f.agreement_digest)
        loaded.protocol(f.partner)
        check_artefact(loaded, f.path, made_by=f.partner, holder=a.linkage_unit)
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

    Refuses a partner that is not a data provider; a recipient that is the linkage unit,
    a data provider unless the release clause says ``to_data_provider: true``, or any other
    party without the ``analyst_recipient`` role; a recipient or purpose with no release
    clause; any attribute the clause does not list; and any column the partner's
    ``data_dictionary`` does not classify as ``attribute`` or ``special_category``. An
    identifier (a direct or quasi identifier, an encoded column, the record id) is never
    released, whatever the release clause says.
    """
    protocol = loaded.protocol(partner)
    receiver = loaded.protocol(recipient)
    where = loaded.protocol_paths[partner]
    if Role.DATA_PROVIDER not in protocol.roles:
        raise ProtocolError(f"{where}: roles: '{partner}' is not a data_provider and holds "
                            f"no attributes to release.")
    if recipient == loaded.agreement.linkage_unit or Role.LINKAGE_UNIT in receiver.roles:
        raise ProtocolError(f"{where}: releases: '{recipient}' is the linkage unit "
                            f"({loaded.path}: linkage_unit), which may never receive a "
                            f"release: it holds every provider's encodings and the links.")
    clauses = [(i, r) for i, r in enumerate(protocol.releases) if r.recipient == recipient]
    if not clauses:
        raise ProtocolError(f"{where}: releases: {partner}'s protocol permits no release to "
                            f"'{recipient}'.")
    if purpose is not None:
        clauses = [(i, r) for i, r in clauses if r.purpose == purpose]
        if not clauses:
            raise ProtocolError(f"{where}: releases: no release to '{recipient}' is permitted "
                                f"for purpose '{purpose}'.")
    elif len({r.purpose for _, r in clauses}) > 1:
        raise ProtocolError(f"{where}: releases: releases to '{recipient}' serve several "
                            f"purposes; name one with --purpose.")
    chosen = clauses[0][1].purpose
    clauses = [(i, r) for i, r in clauses if r.purpose == chosen]
    _check_recipient_role(loaded, partner, recipient, clauses)
    permitted = list(dict.fromkeys(a for _, r in clauses for a in r.attributes))
    wanted = permitted if attributes is None else list(attributes)
    _check_released_columns(loaded, partner, wanted)
    refused = [a for a in wanted if a not in permitted]
    if refused:
        raise ProtocolError(f"{where}: releases: {', '.join(refused)} may not be released to "
                            f"'{recipient}' for '{chosen}' (permitted: "
                            f"{', '.join(permitted)}).")
    return chosen, wanted


def _check_recipient_role(loaded: LoadedAgreement, partner: str, recipient: str,
                          clauses: Sequence[tuple[int, Release]]) -> None:
    """Refuse a release to a data provider unless every clause used says
    ``to_data_provider: true``, and to any other party that is not an analyst_recipient."""
    where = loaded.protocol_paths[partner]
    roles = loaded.protocol(recipient).roles
    for i, clause in clauses:
        if Role.DATA_PROVIDER in roles and not clause.to_data_provider:
            raise ProtocolError(f"{where}: releases[{i}].to_data_provider: '{recipient}' is a "
                                f"data provider ({loaded.protocol_paths[recipient]}: roles) "
                                f"and can join the link keys back to its own named records; "
                                f"the release clause does not say to_data_provider: true.")
        if Role.DATA_PROVIDER not in roles and Role.ANALYST_RECIPIENT not in roles:
            raise ProtocolError(f"{where}: releases[{i}].recipient: '{recipient}' does not "
                                f"hold the analyst_recipient role "
                                f"({loaded.protocol_paths[recipient]}: roles).")


def _check_released_columns(loaded: LoadedAgreement, partner: str,
                            columns: Sequence[str]) -> None:
    """Refuse any column that is an identifier or record id, or that ``partner``'s data
    dictionary does not classify as an attribute or special-category attribute."""
    protocol = loaded.protocol(partner)
    where = loaded.protocol_paths[partner]
    encoded = {column: field for field, column in protocol.identifiers.items()}
    for column in columns:
        kind = protocol.data_dictionary.get(column)
        if column == protocol.record_id_column:
            raise ProtocolError(f"{where}: record_id_column: {column} may not be released: it "
                                f"is the record id, and identifiers are never released.")
        if column in encoded:
            raise ProtocolError(f"{where}: identifiers.{encoded[column]}: {column} may not be "
                                f"released: it is an encoded identifier, and identifiers "
                                f"are never released.")
        if kind is None:
            raise ProtocolError(f"{where}: data_dictionary: {column} may not be released: "
                                f"the data dictionary does not classify it (only attribute "
                                f"and special_category columns are released).")
        if kind not in (ColumnClass.ATTRIBUTE, ColumnClass.SPECIAL_CATEGORY):
            raise ProtocolError(f"{where}: data_dictionary.{column}: {column} may not be "
                                f"released: it is classified {kind.value}, and identifiers "
                                f"are never released, whatever a release clause says.")
