"""Release: link keys joined to the attributes a recipient may have, and nothing else.

Also the statistical disclosure control that aggregate outputs apply.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from linkage.errors import ProtocolError
from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.models import DisclosureControl, Role


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


def apply_disclosure_control(counts: pd.Series, control: DisclosureControl) -> pd.Series:
    """Counts as published: below ``minimum_cell_count`` shown as ``<N``, others rounded
    to the nearest multiple of ``rounding_base``."""
    values = counts.astype(np.int64)
    base = control.rounding_base
    rounded = (np.floor(values / base + 0.5) * base).astype(np.int64).astype(str)
    small = values < control.minimum_cell_count
    return pd.Series(np.where(small, f"<{control.minimum_cell_count}", rounded),
                     index=counts.index, dtype=object)
