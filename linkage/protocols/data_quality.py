"""The agreement's ``data_quality`` clause applied to an encoded extract's counts.

Counts only: a problem names the field, the share and the number of records, never a
value, so it can be shown, logged and written to the audit log as it is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from linkage.protocols.models import DataQuality


def _percent(share: float, limit: float) -> str:
    """``share`` (over ``limit``) as a percentage, with as many decimals as it takes to show
    it over the limit: a share just over 50% reads "50.2%", not "50%"."""
    for decimals in range(4):
        shown = round(share * 100, decimals)
        if shown > limit * 100:
            return f"{shown:.{decimals}f}%"
    return f"{share * 100:.4f}%"


def field_quality_problems(counts: Mapping[str, Mapping[str, int]], records: int,
                           clause: DataQuality, *, held: Collection[str]) -> list[str]:
    """One sentence per field whose share of records without a usable value is over the
    largest share ``clause`` allows; an empty list when every field is within its limit.

    ``counts`` is the encoder's (``EncodedSource.counts``): ``{field: {"missing": m,
    "invalid": i}}``, where ``missing`` counts every record without a usable value and
    ``invalid`` those of them whose value was there but unusable (a wrong check digit, a
    placeholder NHS number, a date that does not parse). ``records`` is the number of
    records in the extract. Only fields in ``held`` (those the partner's protocol maps to a
    column) are checked: a field a partner does not hold is missing from all its records
    by design.
    """
    if records <= 0:
        return []
    problems = []
    for field, count in counts.items():
        if field not in held:
            continue
        missing, invalid = int(count.get("missing", 0)), int(count.get("invalid", 0))
        share = missing / records
        if field in clause.per_field:
            limit, where = clause.per_field[field], f"data_quality.per_field.{field}"
        else:
            limit, where = clause.maximum_missing_share, "data_quality.maximum_missing_share"
        if share > limit:
            problems.append(
                f"{field}: {_percent(share, limit)} of {records:,} records missing or invalid "
                f"({missing - invalid:,} blank, {invalid:,} invalid), more than the "
                f"{limit * 100:g}% allowed by {where}")
    return problems
