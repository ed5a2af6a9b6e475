"""``linkage privacy-check``: run the attacks on an encoding file, worst case first.

The data provider runs it on its own encodings with its own extract as the attacker's
reference (full overlap: the attacker knows every encoded value's frequency), so the rates
are an upper bound for an attacker with a public list. Fields of kind ``name`` and ``text``
are attacked; the agreement's ``encoding_requirements.maximum_reidentification_rate``, when
set, is the bar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from linkage.encoding import read_encodings
from linkage.encoding.normalise import normalise_names, normalise_texts
from linkage.encoding.schema import IdentifierKind
from linkage.errors import InputDataError
from linkage.privacy.frequency import AttackResult, frequency_alignment_attack
from linkage.protocols.loading import LoadedAgreement
from linkage.tables import read_table

ATTACKED_KINDS = (IdentifierKind.NAME, IdentifierKind.TEXT)


@dataclass(frozen=True)
class PrivacyReport:
    """Attack results per field, and the agreement's bar (None when it sets none)."""

    results: dict[str, AttackResult]
    maximum_rate: float | None

    @property
    def over_limit(self) -> list[str]:
        if self.maximum_rate is None:
            return []
        return [f for f, r in self.results.items() if r.record_rate > self.maximum_rate]


def privacy_check(loaded: LoadedAgreement, encodings: str | os.PathLike[str],
                  reference: str | os.PathLike[str]) -> PrivacyReport:
    """Attack each name/text field of ``encodings`` with ``reference`` as the attacker's
    knowledge and the truth (joined on the partner's record id)."""
    file = read_encodings(encodings)
    protocol = loaded.protocol(file.partner)
    id_column = protocol.record_id_column or "record_id"
    fields = {f.name: f for f in file.schema.fields if f.kind in ATTACKED_KINDS}
    columns = {name: protocol.identifiers.get(name) for name in fields}
    needed = [id_column, *(c for c in columns.values() if c)]
    plain = read_table(reference, needed, what="reference").set_index(id_column)
    enc = file.encodings
    position = plain.index.get_indexer(pd.Index(enc.record_ids))
    if (position < 0).any():
        raise InputDataError(f"{reference}: {int((position < 0).sum())} encoded record id(s) "
                             f"are not in the reference file (column '{id_column}').")
    results = {}
    for name, spec in fields.items():
        column = columns[name]
        if column is None:
            continue
        raw = plain[column].to_numpy(dtype=object)[position]
        normalise = normalise_names if spec.kind is IdentifierKind.NAME else normalise_texts
        truth = normalise(raw)
        held = ~enc.missing[:, enc.field_names.index(name)] & (truth != "")
        public = pd.Series(truth[held]).value_counts()
        results[name] = frequency_alignment_attack(enc.field_filters[name][held], public,
                                                   np.asarray(truth[held], dtype=object))
    return PrivacyReport(results, loaded.agreement.encoding_requirements
                         .maximum_reidentification_rate)
