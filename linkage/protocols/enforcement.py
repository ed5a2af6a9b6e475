"""Enforcement points: each step asks here whether the protocols permit it.

Every refusal is a :class:`~linkage.errors.ProtocolError` naming the file and clause.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

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
