"""The encoding schema: what each identifier becomes, declared for a reviewer.

A schema is a pydantic model, loaded from the agreement file (``encoding:``) or built in
Python, validated at the edge and then used as a plain, frozen object. Field names are
meant to be read by an information-governance lead: ``bits_per_token`` (how many bit
positions each token sets, i.e. hashing strength), ``filter_bits`` (the filter length).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from linkage.contracts import (
    DATE_DERIVATIONS,
    BlockingPart,
    Derivation,
    FieldKind,
    SaltFallback,
)

SCHEMA_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Frozen):
    """How one identifier is normalised, tokenised and hashed."""

    name: str = Field(description="Identifier name, e.g. 'given_name'. Matched across partners.",
                      pattern=r"^[a-z][a-z0-9_]*$")
    kind: FieldKind = Field(description=(
        "name, date, sex, postcode, nhs_number, text (other free text) or exact (other codes)."))
    qgram_length: int = Field(2, ge=1, le=4, description=(
        "Length of the q-grams for names and postcodes (2 = bigrams)."))
    padded: bool = Field(True, description="Pad names with a start/end marker before q-grams.")
    date_format: str = Field("%Y-%m-%d", description="strptime format of dates in the extract.")
    filter_bits: int = Field(256, ge=64, le=65536, description=(
        "Length in bits of this field's own filter; a multiple of 64."))
    bits_per_token: int = Field(10, ge=1, le=64, description=(
        "Bit positions each token sets in the field's filter (hashing strength)."))
    record_bits_per_token: int = Field(0, ge=0, le=64, description=(
        "Bit positions each token sets in the record-level filter; 0 leaves it out."))
    salt_with: str | None = Field(None, description=(
        "A part of another field that salts this one's tokens, written as a blocking part: "
        "'date_of_birth' (the whole date), 'date_of_birth.year', 'family_name.soundex'..."))

    @model_validator(mode="after")
    def _check_lengths(self) -> FieldSpec:
        if self.filter_bits % 64:
            raise ValueError(f"filter_bits of field '{self.name}' must be a multiple of 64 "
                             f"(got {self.filter_bits})")
        return self

    @property
    def salt(self) -> BlockingPart | None:
        """``salt_with`` parsed (None: not salted)."""
        return BlockingPart.parse(self.salt_with) if self.salt_with else None


class HardeningSpec(_Frozen):
    """Defences applied to the filters after hashing (see docs/threat-model.md)."""

    balance: bool = Field(False, description=(
        "Append each filter's complement and permute (keyed): every filter half full."))
    xor_fold: bool = Field(False, description="Fold each filter in half with XOR.")
    blip_epsilon: float | None = Field(None, gt=0, description=(
        "Randomised response: flip each bit with probability 1/(1+e^epsilon)."))
    blip_fields: tuple[str, ...] | None = Field(None, description=(
        "Fields whose filters get BLIP noise (default: all). Codes that are unique or "
        "nearly so (NHS number) or have two values (sex) gain nothing from it and lose "
        "linkage quality."))
    diffusion_taps: int | None = Field(None, ge=2, le=32, description=(
        "Diffusion layer: each output bit is the XOR of this many keyed-random input bits."))
    applies_to: tuple[Literal["record", "field"], ...] = Field(("record", "field"), description=(
        "Which filters are hardened."))


class BlockingPass(_Frozen):
    """A keyed blocking token built by the data provider from parts of identifiers."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    either_order: bool = Field(False, description=(
        "The first two parts match in either order (e.g. given and family name swapped)."))
    parts: tuple[str, ...] = Field(min_length=1, max_length=3, description=(
        "Parts joined into the token: 'FIELD' (the whole normalised value), "
        "'FIELD.soundex', 'FIELD.year', 'FIELD.month', 'FIELD.outward', 'FIELD.first2', "
        "'FIELD.unordered' (a date's year with day and month in either order), "
        "'FIELD.two_days' and 'FIELD.two_days_shifted' (a date's two-day span, the second "
        "starting a day later: a date and the day next to it share one of the two), "
        "'FIELD.day_month_two_years' and 'FIELD.day_month_two_years_shifted' (a date's day "
        "and month with the two-year span of its year, the second starting a year later: a "
        "date and the same day a year before or after share one of the two)."))

    @property
    def parsed_parts(self) -> tuple[BlockingPart, ...]:
        """``parts`` parsed into field and derivation."""
        return tuple(BlockingPart.parse(p) for p in self.parts)


class EncodingSchema(_Frozen):
    """Everything needed to turn identifiers into filters, except the key."""

    version: int = Field(SCHEMA_VERSION, description="Version of this schema format.")
    record_filter_bits: int = Field(1024, ge=64, le=65536, description=(
        "Length in bits of the record-level filter (all fields together)."))
    fields: tuple[FieldSpec, ...] = Field(min_length=1)
    hardening: HardeningSpec = Field(default_factory=HardeningSpec)
    blocking: tuple[BlockingPass, ...] = Field(default=())

    @model_validator(mode="after")
    def _check_references(self) -> EncodingSchema:
        names = [f.name for f in self.fields]
        problems = []
        if len(set(names)) != len(names):
            problems.append("field names must be unique")
        if self.record_filter_bits % 64:
            problems.append("record_filter_bits must be a multiple of 64")
        problems += [problem for f in self.fields if (problem := _salt_problem(f, names))]
        if self.hardening.xor_fold:
            folded = [f"{self.record_filter_bits} (record)"] if "record" in \
                self.hardening.applies_to and self.record_filter_bits % 128 else []
            if "field" in self.hardening.applies_to:
                folded += [f"{f.filter_bits} ({f.name})" for f in self.fields
                           if f.filter_bits % 128]
            if folded:
                problems.append("xor_fold halves filters, so their lengths must be multiples "
                                "of 128; not: " + ", ".join(folded))
        for p in self.blocking:
            for text in p.parts:
                try:
                    part = BlockingPart.parse(text)
                except ValueError as error:
                    problems.append(f"blocking pass '{p.name}': {error}")
                    continue
                if part.field not in names:
                    problems.append(f"blocking pass '{p.name}' uses unknown field "
                                    f"'{part.field}'")
                elif part.derivation in DATE_DERIVATIONS and \
                        self.field(part.field).kind is not FieldKind.DATE:
                    problems.append(f"blocking pass '{p.name}': '{text}' takes a part of a "
                                    f"date, but field '{part.field}' is not a date")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _check_blip_fields(self) -> EncodingSchema:
        names = {f.name for f in self.fields}
        unknown = [f for f in self.hardening.blip_fields or () if f not in names]
        if unknown:
            raise ValueError(f"hardening.blip_fields names unknown field(s): "
                             f"{', '.join(unknown)}")
        return self

    def salted_by(self) -> dict[str, str]:
        """Field -> the field whose value (or part of it) salts its tokens."""
        return {f.name: salt.field for f in self.fields if (salt := f.salt) is not None}

    def without_hardening(self) -> EncodingSchema:
        """The same identifiers encoded plainly: no hardening and no salts (the baseline the
        privacy evaluation and the benchmarks compare hardening against)."""
        return self.model_copy(update={
            "hardening": HardeningSpec(),
            "fields": tuple(f.model_copy(update={"salt_with": None}) for f in self.fields)})

    def salt_fallbacks(self) -> tuple[SaltFallback, ...]:
        """Blocking passes that stand in for a salted field where it says nothing.

        A salted name says nothing when the dates of birth differ (a typo), but the keyed
        tokens of some blocking passes still do (see :class:`SaltFallback`). A pass
        qualifies as

        - gated: two parts, one a salted field (whole or derived), the other a whole field
          that is neither salted nor the salt (``[given_name.soundex, postcode]``);
        - either order: two salted fields and their whole salt, in either order
          (``names_either_order_dob``), for given and family names recorded swapped;
        - coarse date: whole salted fields and one derived part of their salt
          (``[given_name, family_name, date_of_birth.month]``): the exact names, where
          the dates differ but not in that part (a day mistyped, a year off by one). A
          salted field takes part in the first such pass only (whatever the order of the
          names in it; a later pass naming it does not qualify): two (month and year) agree
          together on namesakes born in the same month of a year, and counted as two
          independent comparisons they linked them (hard cohort, 20,000 children: F1
          0.9864 / 0.9782 / 0.9842 with the month alone, 0.9691 / 0.9540 / 0.9702 with both).
          Besides it, one pass with ``date_of_birth.unordered`` (day and month in either
          order) qualifies: where the dates differ its tokens agree only on a day/month
          swap, which leaves the month different (a month pass never agrees with it; a year
          pass does). The two-day spans (``date_of_birth.two_days`` and
          ``.two_days_shifted``, for a day mistyped by one) qualify as a pair: where the
          dates differ at most one of them agrees. So do the day and month with a two-year
          span of the year (``date_of_birth.day_month_two_years`` and
          ``.day_month_two_years_shifted``, for a year mistyped by one); where the dates
          differ they never agree together with a two-day span or the swap. Which passes
          can agree together where the dates differ is in :data:`_COARSE_SLOTS`: a month
          pass with either kind of span, a year pass with a two-day span or the swap; a
          name takes part in the first of those that could. With a span or the swapped
          date the names may be Soundex codes (a typo as well as the date error): namesakes
          born within a day, a year apart on the same day, or on the swapped date, are
          nearly as rare as on the date itself (:data:`_SOUNDEX_DATES`).

        Passes with Soundex codes of the names and a coarse date (``[given_name.soundex,
        family_name.soundex, date_of_birth.year]``) do not qualify: measured on the hard
        cohort, equal tokens there are as often common namesakes born the same year as a
        child with a mistyped date, and they cost more precision than they gave recall.
        """
        salted = self.salted_by()
        out: dict[str, SaltFallback] = {}
        coarse: set[tuple[str, str]] = set()  # (salted field, slot) taken already
        for blocking_pass in self.blocking:
            parts = blocking_pass.parsed_parts
            named = [p for p in parts if p.field in salted]
            rest = [p for p in parts if p.field not in salted]
            if not named or len({salted[p.field] for p in named}) != 1:
                continue
            salt = salted[named[0].field]
            if blocking_pass.either_order:
                if len(named) == 2 and named[0].field != named[1].field and len(rest) == 1 \
                        and rest[0] == BlockingPart(salt):
                    out[blocking_pass.name] = SaltFallback(
                        blocking_pass.name, named[0].field, swapped_field=named[1].field)
            elif named and len(rest) == 1 and rest[0].field == salt and rest[0].derivation \
                    and (all(not p.derivation for p in named)
                         or (rest[0].derivation in _SOUNDEX_DATES and
                             all(p.derivation is Derivation.SOUNDEX for p in named))):
                taken = {(p.field, slot) for p in named
                         for slot in _COARSE_SLOTS.get(rest[0].derivation, _ALL_SLOTS)}
                if coarse.isdisjoint(taken):  # passes that could agree together: the first
                    coarse.update(taken)
                    out[blocking_pass.name] = SaltFallback(blocking_pass.name,
                                                           named[0].field)
            elif len(named) == 1 and len(rest) == 1 and not rest[0].derivation \
                    and rest[0].field != salt:
                out[blocking_pass.name] = SaltFallback(blocking_pass.name, named[0].field,
                                                       gate_field=rest[0].field)
        return tuple(out.values())

    def salt_confirmations(self) -> dict[str, str]:
        """Salted field -> the first blocking pass of exactly its Soundex code and its whole
        salt (``[given_name.soundex, date_of_birth]``, in either order). Where that pass's
        tokens are equal, the names sound alike and the salt agrees, free of the filters'
        BLIP noise; the matcher then takes a noisy filter near the top as the top level
        (:func:`~linkage.matching.candidates.compare_pairs`)."""
        out: dict[str, str] = {}
        for spec in self.fields:
            if (salt := spec.salt) is None:
                continue
            want = {BlockingPart(spec.name, Derivation.SOUNDEX), salt}
            for blocking_pass in self.blocking:
                parts = blocking_pass.parsed_parts
                if not blocking_pass.either_order and len(parts) == 2 and set(parts) == want:
                    out[spec.name] = blocking_pass.name
                    break
        return out

    def field(self, name: str) -> FieldSpec:
        """The spec of field ``name``."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the schema: equal digests, comparable filters."""
        return canonical_digest(self.model_dump(mode="json"))


#: Which coarse-date fallbacks of one name can agree together where the dates differ: each
#: derivation takes its slots, and a later pass needing a slot already taken does not
#: qualify. A day/month swap (``unordered``) keeps the year and changes the month; the two
#: two-day spans never agree together (a date and the next day share exactly one), nor do
#: the two-year spans of the day and month (a date and the same day a year on share exactly
#: one), nor a two-day span with a two-year one (the first needs the day to differ, the
#: second the day and month equal). The month agrees through a day or a year mistyped, so
#: it takes every span; the year through a day mistyped or a swap; the two share
#: ``coarse`` (they agree together on a day mistyped within the month). Any other part of
#: the date takes every slot.
_SPANS = ("two_days", "two_days_shifted", "two_years", "two_years_shifted")
_ALL_SLOTS = ("coarse", "unordered", *_SPANS)
_COARSE_SLOTS: dict[Derivation, tuple[str, ...]] = {
    Derivation.UNORDERED: ("unordered",),
    Derivation.TWO_DAYS: ("two_days",),
    Derivation.TWO_DAYS_SHIFTED: ("two_days_shifted",),
    Derivation.DAY_MONTH_TWO_YEARS: ("two_years",),
    Derivation.DAY_MONTH_TWO_YEARS_SHIFTED: ("two_years_shifted",),
    Derivation.MONTH: ("coarse", *_SPANS),
    Derivation.YEAR: ("coarse", "two_days", "two_days_shifted", "unordered"),
}
#: The date parts with which a coarse-date fallback may take the names' Soundex codes
#: instead of the whole names: a day or a year mistyped by one, or day and month swapped
_SOUNDEX_DATES = frozenset({Derivation.UNORDERED, Derivation.TWO_DAYS,
                            Derivation.TWO_DAYS_SHIFTED, Derivation.DAY_MONTH_TWO_YEARS,
                            Derivation.DAY_MONTH_TWO_YEARS_SHIFTED})


def _salt_problem(spec: FieldSpec, names: list[str]) -> str | None:
    """What is wrong with ``spec.salt_with`` (None: nothing)."""
    if spec.salt_with is None:
        return None
    try:
        salt = BlockingPart.parse(spec.salt_with)
    except ValueError as error:
        return f"field '{spec.name}' salts with {error}"
    if salt.field not in names or salt.field == spec.name:
        return (f"field '{spec.name}' salts with '{spec.salt_with}', which is not a part of "
                f"another field")
    return None


def canonical_digest(data: object) -> str:
    """SHA-256 of ``data`` as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


#: The shipped hardening, with names salted by the date of birth (:data:`NAME_SALT`): BLIP
#: with epsilon 1.5 on the names and the postcode (chosen from the attacks x encodings table
#: in docs/threat-model.md: every attack under 1% at under 1 F1 point).
DEFAULT_HARDENING = HardeningSpec(
    blip_epsilon=1.5, blip_fields=("given_name", "family_name", "postcode"))
#: What salts the name fields in the shipped default.
NAME_SALT = "date_of_birth"


def default_schema(*, hardening: HardeningSpec = DEFAULT_HARDENING,
                   salt_names: bool = True) -> EncodingSchema:
    """The shipped default for the early-years identifiers (see docs/encoding.md).

    ``hardening=HardeningSpec(), salt_names=False`` gives the same identifiers encoded
    plainly (deterministic, unsalted bits: for tests and for comparisons against the
    default); :meth:`EncodingSchema.without_hardening` does the same for any schema.
    """
    salt = NAME_SALT if salt_names else None
    return EncodingSchema(
        hardening=hardening,
        fields=(
            FieldSpec(name="given_name", kind=FieldKind.NAME, filter_bits=256,
                      bits_per_token=12, record_bits_per_token=10, salt_with=salt),
            FieldSpec(name="family_name", kind=FieldKind.NAME, filter_bits=256,
                      bits_per_token=12, record_bits_per_token=10, salt_with=salt),
            FieldSpec(name="date_of_birth", kind=FieldKind.DATE, filter_bits=128,
                      bits_per_token=16, record_bits_per_token=12),
            FieldSpec(name="sex", kind=FieldKind.SEX, filter_bits=64, bits_per_token=8,
                      record_bits_per_token=4),
            FieldSpec(name="postcode", kind=FieldKind.POSTCODE, filter_bits=256,
                      bits_per_token=10, record_bits_per_token=6),
            FieldSpec(name="nhs_number", kind=FieldKind.NHS_NUMBER, filter_bits=128,
                      bits_per_token=16, record_bits_per_token=0),
        ),
        blocking=(
            BlockingPass(name="family_soundex_dob",
                         parts=("family_name.soundex", "date_of_birth")),
            BlockingPass(name="given_soundex_dob", parts=("given_name.soundex", "date_of_birth")),
            BlockingPass(name="names_soundex_year",
                         parts=("given_name.soundex", "family_name.soundex",
                                "date_of_birth.year")),
            BlockingPass(name="names_soundex_month",
                         parts=("given_name.soundex", "family_name.soundex",
                                "date_of_birth.month")),
            BlockingPass(name="names_swapped_dob",
                         parts=("given_name.soundex", "family_name.soundex",
                                "date_of_birth.unordered")),
            BlockingPass(name="names_two_days",
                         parts=("given_name.soundex", "family_name.soundex",
                                "date_of_birth.two_days")),
            BlockingPass(name="names_two_days_shifted",
                         parts=("given_name.soundex", "family_name.soundex",
                                "date_of_birth.two_days_shifted")),
            BlockingPass(name="names_two_years",
                         parts=("given_name.soundex", "family_name.soundex",
                                "date_of_birth.day_month_two_years")),
            BlockingPass(name="names_two_years_shifted",
                         parts=("given_name.soundex", "family_name.soundex",
                                "date_of_birth.day_month_two_years_shifted")),
            BlockingPass(name="names_either_order_dob", either_order=True,
                         parts=("given_name.soundex", "family_name.soundex", "date_of_birth")),
            BlockingPass(name="postcode_dob", parts=("postcode", "date_of_birth")),
            BlockingPass(name="given_soundex_postcode", parts=("given_name.soundex", "postcode")),
            BlockingPass(name="family_soundex_postcode",
                         parts=("family_name.soundex", "postcode")),
            BlockingPass(name="nhs_number", parts=("nhs_number",)),
        ),
    )
