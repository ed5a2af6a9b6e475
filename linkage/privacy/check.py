"""``linkage privacy-check``: run the attacks on an encoding file, worst case first.

The data provider runs it on its own encodings with its own extract as the attacker's
reference (full overlap: the attacker knows every encoded value's frequency and every
record's identifiers), so the rates are an upper bound for an attacker with a public
register. The agreement's ``encoding_requirements.maximum_reidentification_rate``, when set,
is the bar for the worst attack's rate above chance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from linkage.encoding import EncodingFile, ProjectKey, read_encodings
from linkage.errors import InputDataError
from linkage.privacy.assessment import SchemaRisk, run_attacks
from linkage.protocols.loading import LoadedAgreement
from linkage.tables import read_table


@dataclass(frozen=True)
class PrivacyReport:
    """Attack results and the agreement's bar (None when it sets none)."""

    risk: SchemaRisk
    maximum_rate: float | None

    @property
    def over_limit(self) -> bool:
        return self.maximum_rate is not None and self.risk.advantage > self.maximum_rate


def privacy_check(loaded: LoadedAgreement, encodings: str | os.PathLike[str] | EncodingFile,
                  reference: str | os.PathLike[str], *, graph_sample: int = 2_000,
                  progress: bool = False) -> PrivacyReport:
    """Attack ``encodings`` (a file, or one already read) with ``reference`` (the extract
    they were made from) as the attacker's knowledge and the truth, joined on the
    partner's record id."""
    file = encodings if isinstance(encodings, EncodingFile) else read_encodings(encodings)
    protocol = loaded.protocol(file.partner)
    id_column = protocol.record_id_column or "record_id"
    columns = {f.name: protocol.identifiers.get(f.name) for f in file.schema.fields}
    held = {field: column for field, column in columns.items() if column}
    plain = read_table(reference, [id_column, *held.values()], what="reference")
    plain = plain.set_index(id_column)
    enc = file.encodings
    position = plain.index.get_indexer(pd.Index(enc.record_ids))
    if (position < 0).any():
        raise InputDataError(f"{reference}: {int((position < 0).sum())} encoded record id(s) "
                             f"are not in the reference file (column '{id_column}').")
    truth = pd.DataFrame({field: plain[column].to_numpy(dtype=object)[position]
                          for field, column in held.items()})
    sample = np.random.default_rng(0).choice(len(enc), min(graph_sample, len(enc)),
                                             replace=False)
    register = truth.iloc[sample].reset_index(drop=True)
    register.insert(0, "record_id", [f"r{i}" for i in range(len(register))])
    risk = run_attacks(file.schema, enc, truth, truth, sample, register,
                       attacker_key=ProjectKey.generate(), progress=progress)
    return PrivacyReport(risk, loaded.agreement.encoding_requirements
                         .maximum_reidentification_rate)
