"""The typed contracts between the stages: what encoding produces and matching consumes.

This module sits below :mod:`linkage.encoding` and :mod:`linkage.matching` (both import it,
it imports neither), so the two stages agree on one record shape without matching ever
touching a key:

- :class:`FieldKind`: what an identifier is (name, date, postcode...).
- :class:`BlockingPart`: one part of a blocking token or salt, ``FIELD`` or
  ``FIELD.derivation``, parsed once and refusing unknown derivations.
- :class:`SaltFallback` and :class:`ComparisonHints`: what the linkage unit must know of the
  schema to compare encodings (noise, salts, fallbacks), and nothing more.
- :class:`EncodedSource`: one partner's encodings, as a data provider writes them and the
  linkage unit reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np


class FieldKind(StrEnum):
    """What an identifier is; decides its normalisation, tokens and comparison levels."""

    NAME = "name"
    DATE = "date"
    SEX = "sex"
    POSTCODE = "postcode"
    NHS_NUMBER = "nhs_number"
    TEXT = "text"    #: any other free text (addresses, other identifiers): q-grams
    EXACT = "exact"  #: any other code compared exactly (one token)


class Derivation(StrEnum):
    """What part of a field's normalised value a blocking part or a salt takes."""

    WHOLE = ""          #: the whole value
    SOUNDEX = "soundex"
    YEAR = "year"       #: of a date
    MONTH = "month"     #: of a date
    OUTWARD = "outward"  #: of a postcode
    FIRST2 = "first2"   #: first two characters
    #: of a date: the year with the day and month as an unordered pair, so that a date and
    #: the same date with day and month swapped (2021-03-07, 2021-07-03) give one value
    UNORDERED = "unordered"
    #: of a date: the two-day span it falls in (days since 1970-01-01, halved, rounded
    #: down); with :attr:`TWO_DAYS_SHIFTED` (spans starting a day later), a date and the day
    #: before or after it share exactly one of the two, for a day mistyped by one
    TWO_DAYS = "two_days"
    TWO_DAYS_SHIFTED = "two_days_shifted"
    #: of a date: its month and day with the two-year span its year falls in (the year
    #: halved, rounded down); with :attr:`DAY_MONTH_TWO_YEARS_SHIFTED` (spans starting a year
    #: later), a date and the same day a year before or after share exactly one of the two,
    #: for a year mistyped by one
    DAY_MONTH_TWO_YEARS = "day_month_two_years"
    DAY_MONTH_TWO_YEARS_SHIFTED = "day_month_two_years_shifted"


#: The derivations that read a date (the schema refuses them on a field of another kind:
#: they need its normalised ``YYYY-MM-DD`` value)
DATE_DERIVATIONS = frozenset({Derivation.TWO_DAYS, Derivation.TWO_DAYS_SHIFTED,
                              Derivation.DAY_MONTH_TWO_YEARS,
                              Derivation.DAY_MONTH_TWO_YEARS_SHIFTED})


@dataclass(frozen=True)
class BlockingPart:
    """``FIELD`` or ``FIELD.derivation``, as written in a schema, parsed once."""

    field: str
    derivation: Derivation = Derivation.WHOLE

    @classmethod
    def parse(cls, text: str) -> BlockingPart:
        """Parse ``'date_of_birth.year'``; raises ``ValueError`` naming an unknown part."""
        name, dot, how = text.partition(".")
        if not name or (dot and not how):
            raise ValueError(f"'{text}' is not FIELD or FIELD.part")
        try:
            return cls(name, Derivation(how))
        except ValueError:
            known = ", ".join(d.value for d in Derivation if d.value)
            raise ValueError(f"'{text}' uses unknown part '.{how}' (known: {known})") from None

    def __str__(self) -> str:
        return f"{self.field}.{self.derivation.value}" if self.derivation else self.field


@dataclass(frozen=True)
class SaltFallback:
    """A blocking pass compared (tokens equal or not) where a salted field says nothing.

    A name salted with the date of birth says nothing when the dates differ (a typo). The
    keyed tokens of some blocking passes still do, and the linkage unit holds them anyway:

    - gated: ``[given_name.soundex, postcode]`` where the postcodes (the ``gate_field``)
      agree but the dates of birth do not;
    - either order: ``[given_name.soundex, family_name.soundex, date_of_birth]`` taken in
      either order, where the dates agree but *both* names disagree (given and family names
      recorded the other way round); ``swapped_field`` is the other name;
    - coarse date: ``[given_name, family_name, date_of_birth.month]`` where the dates of
      birth differ (both fields None): the exact names still agree through a mistyped day
      or year.
    """

    blocking_pass: str  #: the pass whose token equality is compared
    salted_field: str   #: the salted field it stands in for
    gate_field: str | None = None  #: gated: compared only where this field is at its top level
    swapped_field: str | None = None  #: either order: compared only where both names disagree

    def as_list(self) -> list[str | None]:
        """The four fields, for a JSON header."""
        return [self.blocking_pass, self.salted_field, self.gate_field, self.swapped_field]


@dataclass(frozen=True)
class ComparisonHints:
    """What the linkage unit needs of the schema to compare encodings (never the key)."""

    #: field -> probability that BLIP flipped each bit of its filters (absent: no noise)
    flip_probability: Mapping[str, float] = field(default_factory=dict)
    #: field -> the field whose value salts it (compared only where that field agrees)
    salted_by: Mapping[str, str] = field(default_factory=dict)
    salt_fallbacks: tuple[SaltFallback, ...] = ()
    #: salted field -> the blocking pass of its Soundex code with its whole salt
    #: (``[given_name.soundex, date_of_birth]``): where that pass's tokens are equal, a noisy
    #: filter near the top counts as the same name (the tokens carry no noise)
    confirmed_by: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EncodedSource:
    """One partner's encodings: everything the linkage unit needs, no key, no identifier.

    Arrays share the first dimension ``n`` (records). Produced by
    :class:`~linkage.encoding.BloomFilterEncoder`, written and read by
    :mod:`linkage.encoding.store`, consumed by :class:`~linkage.matching.Linker`.
    """

    partner: str                           #: the data provider (unique in a linkage run)
    record_ids: np.ndarray                 #: (n,) str, pseudonymous record ids
    record_filters: np.ndarray             #: (n, W) uint64, record-level filters
    field_filters: Mapping[str, np.ndarray]  #: field -> (n, w_f) uint64
    missing: np.ndarray                    #: (n, F) bool, field missing/invalid, field order
    field_names: tuple[str, ...]
    field_kinds: Mapping[str, FieldKind]   #: field -> kind, in ``field_names`` order
    blocking_keys: np.ndarray              #: (n, P) uint64 keyed blocking tokens; 0 = none
    blocking_names: tuple[str, ...]
    hints: ComparisonHints = field(default_factory=ComparisonHints)
    #: per field: records ``missing`` (blank) and ``invalid`` (failed normalisation)
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.record_ids)

    def __repr__(self) -> str:  # no record ids or bits: only the shape
        return (f"EncodedSource(partner={self.partner!r}, records={len(self)}, "
                f"fields={list(self.field_names)}, passes={len(self.blocking_names)})")

    def named(self, partner: str) -> EncodedSource:
        """The same encodings under another partner name."""
        return replace(self, partner=partner)

    def with_blocking(self, keys: np.ndarray, names: tuple[str, ...]) -> EncodedSource:
        """The same encodings with extra blocking passes appended (e.g. LSH keys made by the
        linkage unit): ``keys`` (n, extra) uint64."""
        return replace(self, blocking_keys=np.hstack([self.blocking_keys, keys]),
                       blocking_names=self.blocking_names + names)
