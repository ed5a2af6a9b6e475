"""Agreement and partner protocol models: what the IG lead reviewed, as typed objects.

Unknown keys are rejected, names read well to a reviewer, and every file carries
``version:`` (the reviewed document's version) and ``format_version:`` (the file format,
for migrations). The JSON Schema for editors is generated from these models
(``linkage protocol schema``); nothing outside the files overrides them.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from linkage.encoding.schema import EncodingSchema

_SLUG = r"^[a-z][a-z0-9_-]*$"


class _Clause(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(StrEnum):
    DATA_PROVIDER = "data_provider"
    LINKAGE_UNIT = "linkage_unit"
    ANALYST_RECIPIENT = "analyst_recipient"


class OrganisationType(StrEnum):
    NHS_TRUST = "nhs_trust"
    LOCAL_AUTHORITY = "local_authority"
    SCHOOL = "school"
    LINKAGE_UNIT = "linkage_unit"
    ANALYST = "analyst"


class ColumnClass(StrEnum):
    """What a column of a data provider's extract is, for information governance.

    ``direct_identifier``: identifies a child on its own (name, NHS number, UPN, the
    provider's record id); it is never released, whatever a release clause says.
    ``quasi_identifier``: identifies a child when combined with other data (date of birth,
    sex, postcode); it is never released either. ``attribute``: what the data is about
    (an outcome, a service event), releasable under a release clause. ``special_category``:
    an attribute that is UK GDPR Art. 9 data (health, ethnicity, religion, sexual life...);
    sharing it needs an Art. 9 condition (``lawful_basis.article_9``).
    """

    DIRECT_IDENTIFIER = "direct_identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    ATTRIBUTE = "attribute"
    SPECIAL_CATEGORY = "special_category"


_IDENTIFIER_CLASSES = frozenset({ColumnClass.DIRECT_IDENTIFIER, ColumnClass.QUASI_IDENTIFIER})
_RELEASABLE_CLASSES = frozenset({ColumnClass.ATTRIBUTE, ColumnClass.SPECIAL_CATEGORY})


# ---------------------------------------------------------------------------------------
# Lawful-basis coherence: which DPA 2018 Schedule 1 paragraph goes with which Article 9
# condition, and which paragraphs need an appropriate policy document.

SCHEDULE_1_PARAGRAPHS: dict[int, str] = {
    1: "employment, social security and social protection",
    2: "health or social care purposes", 3: "public health",
    4: "research etc", 6: "statutory and government purposes",
    7: "administration of justice and parliamentary purposes",
    8: "equality of opportunity or treatment", 9: "racial and ethnic diversity at senior levels",
    10: "preventing or detecting unlawful acts", 11: "protecting the public",
    12: "regulatory requirements", 13: "journalism etc in connection with unlawful acts",
    14: "preventing fraud", 15: "suspicion of terrorist financing or money laundering",
    16: "support for individuals with a particular disability or medical condition",
    17: "counselling etc", 18: "safeguarding of children and of individuals at risk",
    19: "safeguarding of economic well-being of certain individuals", 20: "insurance",
    21: "occupational pensions", 22: "political parties",
    23: "elected representatives responding to requests",
    24: "disclosure to elected representatives",
    25: "informing elected representatives about prisoners",
    26: "publication of legal judgments", 27: "anti-doping in sport",
    28: "standards of behaviour in sport"}
"""DPA 2018 Schedule 1 paragraphs that can carry an Article 9 condition, by their headings
(Part 1: paragraphs 1-4; Part 2, substantial public interest: paragraphs 6-28)."""

ARTICLE_9_PARAGRAPHS: dict[str, frozenset[int]] = {
    "a_explicit_consent": frozenset(),  # Art. 9(2)(a) needs no Schedule 1 condition
    "b_employment_social_security": frozenset({1}),  # s.10(2): Sch. 1 Part 1 para 1
    "c_vital_interests": frozenset(),  # Art. 9(2)(c) needs no Schedule 1 condition
    "g_substantial_public_interest": frozenset(range(6, 29)),  # s.10(3): Sch. 1 Part 2
    "h_health_or_social_care": frozenset({2}),  # s.10(2): Sch. 1 Part 1 para 2
    "i_public_health": frozenset({3}),  # s.10(2): Sch. 1 Part 1 para 3
    "j_archiving_research_statistics": frozenset({4}),  # s.10(2): Sch. 1 Part 1 para 4
}
"""Article 9(2) condition -> the DPA 2018 Schedule 1 paragraphs it may rest on (DPA 2018
s.10(2)-(3)); an empty set: the condition rests on no Schedule 1 paragraph."""

NEEDS_POLICY_DOCUMENT: frozenset[int] = frozenset({1, *range(6, 29)})
"""Schedule 1 paragraphs relied on only with an appropriate policy document in place.

Our reading of DPA 2018 s.10 and Schedule 1: para 1(1)(b) (employment, social security
and social protection) requires one; Part 2 para 5(1) requires one for every substantial
public interest condition (paras 6-28) "except as otherwise provided" (a few Part 2
paragraphs disapply it; this tool asks for one for all of 6-28, the cautious reading); the
document itself is described in Part 4 para 39 (procedures for complying with the Art. 5
principles, and retention and erasure policies). Paras 2 (health or social care), 3
(public health) and 4 (research) do not require one (para 2 rests instead on the
obligation of secrecy in s.11(1))."""

_PLACEHOLDERS = frozenset({"na", "none", "nil", "null", "tbc", "tbd", "tba", "todo",
                           "unknown", "pending", "placeholder", "fixme", "ref", "reference"})
_PLACEHOLDER_EXAMPLES = "such as n/a, none, tbc, tbd, -, todo or xxx"


def is_placeholder(text: str) -> bool:
    """True when ``text`` stands in for a value not yet known: ``n/a``, ``TBC``, ``-``,
    ``todo``, ``xxx``, blank or punctuation only (letters' case and punctuation ignored).
    A run of two or more ``x`` is one; a lone ``x`` is let through."""
    squashed = "".join(ch for ch in text.casefold() if ch.isalnum())
    return not squashed or squashed in _PLACEHOLDERS or \
        (len(squashed) > 1 and set(squashed) == {"x"})


def _real_legal_power(text: str) -> str:
    if is_placeholder(text):
        raise ValueError(f"is a placeholder ({_PLACEHOLDER_EXAMPLES}), not a statutory power: "
                         f"cite the Act and section relied on, e.g. 'Children Act 2004 s.10'")
    return text


_LegalPower = Annotated[str, Field(min_length=1), AfterValidator(_real_legal_power)]
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_TRANSFER_SAFEGUARD = re.compile(
    r"\b(adequacy|idta|international data transfer (agreement|addendum)|addendum|"
    r"standard contractual clauses|sccs?|binding corporate rules|bcrs?|"
    r"art(icle|\.)?\s*(46|47|49))\b", re.IGNORECASE)


class Purpose(_Clause):
    id: str = Field(pattern=_SLUG, description=(
        "Short name used by releases, e.g. 'school_readiness'."))
    description: str = Field(min_length=1, description="The purpose in plain words.")


class PartyReference(_Clause):
    name: str = Field(pattern=_SLUG, description="Partner name, e.g. 'health'.")
    protocol: str = Field(description=(
        "Path of the partner's protocol file, relative to the agreement."))
    public_key: str | None = Field(None, description=(
        "Path, relative to the agreement, of the party's Ed25519 public key (PEM, from "
        "'linkage audit keygen'). Its approver signs the agreement with the private half "
        "('linkage protocol sign'), and the party signs what it makes (encoding files, "
        "links, releases, audit entries); others verify with this key before use."))


class EncodingRequirements(_Clause):
    """The weakest encoding the agreement accepts."""

    minimum_record_filter_bits: int = Field(512, ge=64)
    minimum_field_filter_bits: int = Field(64, ge=64)
    maximum_bits_per_token: int = Field(30, ge=1, description=(
        "Upper bound on hashing strength: more bits per token make frequency attacks easier."))
    require_keyed_hashing: Literal[True] = True
    required_hardening: tuple[Literal["balance", "xor_fold", "blip", "diffusion"], ...] = ()
    maximum_reidentification_rate: float | None = Field(None, ge=0, le=1, description=(
        "Largest share of records the worst attack may re-identify above chance: checked "
        "by 'encode' on the synthetic reference cohort and by 'privacy-check' on a "
        "provider's own extract."))


class DisclosureControl(_Clause):
    """Output statistical disclosure control for aggregate outputs."""

    minimum_cell_count: int = Field(10, ge=5, description=(
        "Counts below this are suppressed in any aggregate output. At least 5, as in ONS "
        "and NHS England practice for small numbers; 10 is common for children's data."))
    rounding_base: int = Field(5, ge=1, description="Counts are rounded to a multiple of this.")


_Share = Annotated[float, Field(gt=0, le=1)]


class DataQuality(_Clause):
    """How complete a provider's identifiers must be before its extract is encoded.

    A column that is mostly blank or invalid (e.g. NHS numbers that fail their check digit,
    or placeholders such as 0000000000) links few records and biases the linked data
    towards the children whose records are complete, so 'encode' refuses such an extract
    rather than encode it.
    """

    maximum_missing_share: _Share = Field(0.5, description=(
        "Largest share of a provider's records (above 0, at most 1) in which an identifier "
        "it holds may be missing or invalid; 'encode' refuses an extract over it. 1 turns "
        "the check off."))
    per_field: dict[str, _Share] = Field(default_factory=dict, description=(
        "A different largest share for named identifiers (encoding field names), e.g. "
        "{nhs_number: 0.2} where every record should carry one."))


class OptOutKind(StrEnum):
    NATIONAL_DATA_OPT_OUT = "national_data_opt_out"  #: NHS England's, for planning/research
    ARTICLE_21_OBJECTION = "article_21_objection"    #: UK GDPR Art. 21 right to object
    LOCAL_OBJECTION = "local_objection"              #: a partner's own objection register


class OptOuts(_Clause):
    """Which opt-outs and objections apply, and how fresh each provider's list must be."""

    applies: tuple[OptOutKind, ...] = Field((), description=(
        "The opt-outs and objections honoured: national_data_opt_out, "
        "article_21_objection, local_objection."))
    required: bool = Field(False, description=(
        "'encode' refuses to run without the provider's current list (--opt-outs FILE)."))
    maximum_age_days: int = Field(31, ge=1, description=(
        "A list older than this many days (by its as_of column, else the file's date) is "
        "refused: objections must reach the linkage promptly."))


class SignOff(_Clause):
    """Who must approve this exact content before any step runs."""

    required: bool = Field(False, description=(
        "Every party that lists a public_key must have signed the agreement's current "
        "content digest ('linkage protocol sign'); steps refuse to run until it has."))


class AuditRequirements(_Clause):
    required: bool = Field(True, description="Every step appends to a tamper-evident audit log.")
    signed: bool = Field(False, description="Entries are signed with the actor's Ed25519 key.")


class BreachContact(_Clause):
    """Someone to tell at once of a personal data breach.

    A controller reports a breach to the ICO within 72 hours of becoming aware of it, and
    tells the children's families without undue delay when the risk to them is high (UK GDPR
    Arts 33-34); every party must know whom to tell, the same day.
    """

    party: str | None = Field(None, pattern=_SLUG, description=(
        "The party this person answers for; leave it out for someone who acts for every "
        "party (e.g. the project's breach lead)."))
    name: str = Field(min_length=1, description="The person, or the team's name.")
    role: str = Field(min_length=1, description=(
        "e.g. 'Data Protection Officer', 'Senior Information Risk Owner', 'IG manager'."))
    email: str = Field(pattern=_EMAIL, description="Monitored every working day.")
    telephone: str | None = Field(None, description="For out-of-hours reports.")


class Agreement(_Clause):
    """A linkage project: who takes part, why, under which law, until when, and how."""

    format_version: Literal[1] = 1
    id: str = Field(pattern=_SLUG)
    version: str = Field(min_length=1, description="Version of this reviewed document.")
    title: str = Field(min_length=1)
    purposes: tuple[Purpose, ...] = Field(min_length=1)
    controllers: Literal["joint", "separate"] = Field(description=(
        "Joint controllers, or separate controllers sharing data."))
    legal_powers: tuple[_LegalPower, ...] = Field(min_length=1, description=(
        "Statutory powers relied on, e.g. 'Digital Economy Act 2017 s.35'. Each must cite a "
        "real power: a placeholder (n/a, none, tbc, tbd, -, todo, xxx) is refused."))
    dpia_reference: str = Field(min_length=1, description=(
        "Reference of the DPIA covering this linkage, as recorded in the DPIA log. A "
        "placeholder (n/a, none, tbc, tbd, -, todo, xxx) is refused: the DPIA must exist "
        "before the sharing starts (UK GDPR Art. 35)."))
    start_date: dt.date
    review_date: dt.date
    expiry_date: dt.date
    parties: tuple[PartyReference, ...] = Field(min_length=2)
    linkage_unit: str = Field(pattern=_SLUG, description="The party that links, holding no key.")
    encoding: EncodingSchema
    encoding_requirements: EncodingRequirements = Field(default_factory=EncodingRequirements)
    disclosure_control: DisclosureControl = Field(default_factory=DisclosureControl)
    data_quality: DataQuality = Field(default_factory=DataQuality)
    opt_outs: OptOuts = Field(default_factory=OptOuts)
    sign_off: SignOff = Field(default_factory=SignOff)
    audit: AuditRequirements = Field(default_factory=AuditRequirements)
    breach_contacts: tuple[BreachContact, ...] = Field((), description=(
        "Whom to tell at once of a personal data breach, so that it reaches the ICO within "
        "72 hours (UK GDPR Art. 33): one list for the project, or one or more entries per "
        "party (say which with 'party')."))
    storage_location: str | None = Field(None, description=(
        "Where the encodings, links and released data are stored and processed, e.g. "
        "'UK, NHS data centre (Leeds)'. Printed in the records of processing."))
    international_transfers: str = Field("none", min_length=1, description=(
        "'none' (the default) when no personal data leaves the UK. Otherwise say where it "
        "goes and under which safeguard (UK GDPR Chapter V): UK adequacy regulations, an "
        "International Data Transfer Agreement (IDTA), the International Data Transfer "
        "Addendum to the EU standard contractual clauses, binding corporate rules, or an "
        "Art. 49 exception; a transfer that names no safeguard is refused."))
    data_subjects: str | None = Field(None, description=(
        "Whom the data is about, in plain words, e.g. 'Children born in Leeds from April "
        "2021, up to the end of reception'. Printed in the records of processing and the "
        "privacy notices; left out, they describe the people in the providers' records."))

    @field_validator("dpia_reference")
    @classmethod
    def _dpia_is_real(cls, reference: str) -> str:
        if is_placeholder(reference):
            raise ValueError(f"is a placeholder ({_PLACEHOLDER_EXAMPLES}), not a DPIA "
                             f"reference: complete the DPIA and give its reference")
        return reference

    @field_validator("storage_location", "data_subjects")
    @classmethod
    def _said_in_words(cls, text: str | None) -> str | None:
        if text is not None and is_placeholder(text):
            raise ValueError(f"is a placeholder ({_PLACEHOLDER_EXAMPLES}): say it in words, "
                             f"or leave the clause out")
        return text

    @field_validator("international_transfers")
    @classmethod
    def _transfer_safeguarded(cls, transfers: str) -> str:
        if transfers.strip().casefold() == "none":
            return transfers
        if is_placeholder(transfers):
            raise ValueError(f"is a placeholder ({_PLACEHOLDER_EXAMPLES}): write 'none' when "
                             f"no personal data leaves the UK, or name the transfer and its "
                             f"safeguard")
        if not _TRANSFER_SAFEGUARD.search(transfers):
            raise ValueError("names a transfer outside the UK but not its safeguard: say "
                             "which applies (UK adequacy regulations, an IDTA, the "
                             "International Data Transfer Addendum, binding corporate rules, "
                             "or an Art. 49 exception), or write 'none'")
        return transfers

    @field_validator("breach_contacts")
    @classmethod
    def _breach_contacts_are_parties(cls, contacts: tuple[BreachContact, ...],
                                     info: ValidationInfo) -> tuple[BreachContact, ...]:
        parties = {p.name for p in info.data.get("parties") or ()}
        unknown = sorted({c.party for c in contacts if c.party and c.party not in parties})
        if parties and unknown:
            raise ValueError(f"names {', '.join(unknown)}, not a party to the agreement")
        return contacts

    @model_validator(mode="after")
    def _check(self) -> Agreement:
        problems = []
        if not self.start_date <= self.review_date <= self.expiry_date:
            problems.append("dates must satisfy start_date <= review_date <= expiry_date")
        names = [p.name for p in self.parties]
        if len(set(names)) != len(names):
            problems.append("party names must be unique")
        if self.linkage_unit not in names:
            problems.append(f"linkage_unit '{self.linkage_unit}' is not one of the parties")
        purposes = [p.id for p in self.purposes]
        if len(set(purposes)) != len(purposes):
            problems.append("purpose ids must be unique")
        if self.sign_off.required and not any(p.public_key for p in self.parties):
            problems.append("sign_off.required needs at least one party with a public_key")
        fields = {f.name for f in self.encoding.fields}
        unknown = [f for f in self.data_quality.per_field if f not in fields]
        if unknown:
            problems.append(f"data_quality.per_field names unknown field(s): "
                            f"{', '.join(unknown)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LawfulBasis(_Clause):
    """UK GDPR Article 6 basis and, separately, the Article 9 condition."""

    article_6: Literal["a_consent", "b_contract", "c_legal_obligation", "d_vital_interests",
                       "e_public_task", "f_legitimate_interests"]
    article_9: Literal["a_explicit_consent", "b_employment_social_security", "c_vital_interests",
                       "g_substantial_public_interest", "h_health_or_social_care",
                       "i_public_health", "j_archiving_research_statistics"] | None = None
    dpa_2018_schedule_1_paragraph: int | None = Field(None, ge=1, le=37, description=(
        "DPA 2018 Schedule 1 paragraph the Article 9 condition rests on, and it must match "
        "it: 1 for 9(2)(b) employment; 2 (health or social care) for 9(2)(h); 3 (public "
        "health) for 9(2)(i); 4 (research) for 9(2)(j); one of 6-28 (substantial public "
        "interest, e.g. 6 statutory purposes, 18 safeguarding of children) for 9(2)(g); none "
        "for 9(2)(a) or (c)."))
    appropriate_policy_document: bool = Field(False, validate_default=True, description=(
        "Whether an appropriate policy document (DPA 2018 Sch. 1 para 39) is in place. "
        "Required with paragraph 1 and paragraphs 6-28; not with paragraphs 2, 3 or 4."))

    @field_validator("dpa_2018_schedule_1_paragraph")
    @classmethod
    def _paragraph_matches_condition(cls, paragraph: int | None,
                                     info: ValidationInfo) -> int | None:
        if paragraph is None or "article_9" not in info.data:
            return paragraph  # a missing paragraph, or a failed article_9, is reported apart
        condition = info.data["article_9"]
        if condition is None:
            raise ValueError("names a Schedule 1 paragraph but lawful_basis.article_9 gives no "
                             "Article 9 condition: add the condition it serves, or remove it")
        allowed = ARTICLE_9_PARAGRAPHS[condition]
        if paragraph in allowed:
            return paragraph
        named = _paragraph_words(paragraph)
        article = f"Art. 9(2)({condition[0]})"
        if not allowed:
            raise ValueError(f"names {named}, which does not apply: {article} "
                             f"('{condition}') rests on no Schedule 1 paragraph, so remove "
                             f"dpa_2018_schedule_1_paragraph")
        if condition == "g_substantial_public_interest":
            wanted = ("a Part 2 substantial public interest condition, paragraphs 6-28 (e.g. "
                      "6 statutory and government purposes, 18 safeguarding of children and "
                      "of individuals at risk)")
        else:
            wanted = _paragraph_words(min(allowed))
        raise ValueError(f"names {named}, which does not go with article_9 '{condition}': "
                         f"{article} rests on {wanted} (DPA 2018 s.10)")

    @field_validator("appropriate_policy_document")
    @classmethod
    def _policy_document_in_place(cls, in_place: bool, info: ValidationInfo) -> bool:
        paragraph = info.data.get("dpa_2018_schedule_1_paragraph")
        if paragraph in NEEDS_POLICY_DOCUMENT and not in_place:
            raise ValueError(f"is needed: {_paragraph_words(paragraph)} may be relied on "
                             f"only with an appropriate policy document in place (DPA 2018 "
                             f"Sch. 1 "
                             f"{'para 1(1)(b)' if paragraph == 1 else 'para 5(1)'}, its "
                             f"content set by para 39): write it, then say "
                             f"appropriate_policy_document: true")
        return in_place


def _paragraph_words(paragraph: int) -> str:
    """``Schedule 1 paragraph 18 (safeguarding of children and of individuals at risk)``."""
    heading = SCHEDULE_1_PARAGRAPHS.get(paragraph)
    return f"Schedule 1 paragraph {paragraph}" + (f" ({heading})" if heading else "")


class Contacts(_Clause):
    """Who answers for the processing at this partner, as printed in its privacy notice."""

    caldicott_guardian: str | None = Field(None, description=(
        "The Caldicott Guardian (name or post), who safeguards confidential patient and "
        "service-user information. Required of an NHS organisation (organisation_type "
        "nhs_trust); expected of a local authority with social care functions."))
    data_protection_officer: str = Field(min_length=1, description=(
        "How to reach the Data Protection Officer (UK GDPR Arts 37-39), e.g. an email "
        "address: printed in the records of processing and the privacy notice."))
    privacy_notice_contact: str | None = Field(None, description=(
        "Where the public asks about this processing or exercises their rights (an address, "
        "email or web page), printed in the privacy notice as the controller's contact "
        "details (UK GDPR Arts 13(1)(a), 14(1)(a)). Left out, the DPO's contact is used."))


class Release(_Clause):
    """Attributes this partner may release, to whom, for which purpose."""

    attributes: tuple[str, ...] = Field(min_length=1, description=(
        "Columns of the extract released with the link key; each must be classified "
        "'attribute' or 'special_category' in the partner's data_dictionary."))
    recipient: str = Field(pattern=_SLUG, description=(
        "The party receiving them: an analyst_recipient, never the linkage unit."))
    purpose: str = Field(pattern=_SLUG)
    to_data_provider: bool = Field(False, description=(
        "This release goes to a party that is itself a data provider; it can join the link "
        "keys back to its own named records. Say so only when the agreement means it: a "
        "release to a data provider is refused without it."))


class Retention(_Clause):
    encodings_days: int = Field(ge=1, description="Encodings are deleted after this many days.")
    links_days: int = Field(ge=1, description="Link keys are deleted after this many days.")
    deletion_method: str = Field(min_length=1)


class PartnerProtocol(_Clause):
    """One partner's part in the agreement, reviewed by its own IG lead."""

    format_version: Literal[1] = 1
    version: str = Field(min_length=1)
    partner: str = Field(pattern=_SLUG)
    organisation: str = Field(min_length=1)
    organisation_type: OrganisationType
    roles: tuple[Role, ...] = Field(min_length=1)
    lawful_basis: LawfulBasis
    contacts: Contacts
    data_dictionary: dict[str, ColumnClass] = Field(default_factory=dict, description=(
        "Column of this partner's extract -> its class: 'direct_identifier' (identifies a "
        "child on its own: name, NHS number, UPN, record id), 'quasi_identifier' (identifies "
        "in combination: date of birth, sex, postcode), 'attribute' (what the data is about) "
        "or 'special_category' (UK GDPR Art. 9 data such as health or ethnicity). Needed "
        "when the partner releases anything; identifiers and the record id must be "
        "classified as identifiers, released columns as attributes."))
    record_id_column: str | None = Field(None, description="Column holding the record id.")
    identifiers: dict[str, str] = Field(default_factory=dict, description=(
        "Identifier (encoding field) -> column of this partner's extract it may encode."))
    releases: tuple[Release, ...] = ()
    retention: Retention
    onward_sharing: bool = Field(False, description="Whether received data may be shared onward.")

    @field_validator("record_id_column")
    @classmethod
    def _record_id_classified(cls, column: str | None, info: ValidationInfo) -> str | None:
        dictionary = info.data.get("data_dictionary") or {}
        if column is not None and dictionary:
            problem = _identifier_class_problem(dictionary, column)
            if problem:
                raise ValueError(f"the record id column '{column}' {problem}")
        return column

    @field_validator("identifiers")
    @classmethod
    def _identifiers_classified(cls, identifiers: dict[str, str],
                                info: ValidationInfo) -> dict[str, str]:
        dictionary = info.data.get("data_dictionary") or {}
        problems = []
        for field, column in identifiers.items() if dictionary else ():
            problem = _identifier_class_problem(dictionary, column)
            if problem:
                problems.append(f"identifiers.{field} reads column '{column}', which {problem}")
        if problems:
            raise ValueError("; ".join(problems))
        return identifiers

    @field_validator("releases")
    @classmethod
    def _releases_classified(cls, releases: tuple[Release, ...],
                             info: ValidationInfo) -> tuple[Release, ...]:
        if "data_dictionary" not in info.data:
            return releases  # the dictionary itself failed; that problem is reported
        dictionary: dict[str, ColumnClass] = info.data["data_dictionary"]
        if releases and not dictionary:
            raise ValueError("a partner that releases attributes must classify every column "
                             "of its extract under data_dictionary")
        problems = []
        for i, release in enumerate(releases):
            for column in release.attributes:
                kind = dictionary.get(column)
                if kind is None:
                    problems.append(f"releases[{i}].attributes lists '{column}', which is "
                                    f"not classified in data_dictionary (classify it before "
                                    f"releasing it)")
                elif kind not in _RELEASABLE_CLASSES:
                    problems.append(f"releases[{i}].attributes lists '{column}', which is "
                                    f"classified {kind.value} in data_dictionary: an "
                                    f"identifier may never be released")
        if problems:
            raise ValueError("; ".join(problems))
        return releases

    @model_validator(mode="after")
    def _check(self) -> PartnerProtocol:
        if Role.DATA_PROVIDER in self.roles and (not self.identifiers
                                                 or not self.record_id_column):
            raise ValueError("a data_provider must declare record_id_column and identifiers")
        if self.lawful_basis.article_9 is not None and \
                self.lawful_basis.dpa_2018_schedule_1_paragraph is None and \
                self.lawful_basis.article_9 in ("g_substantial_public_interest",
                                                "h_health_or_social_care", "i_public_health",
                                                "j_archiving_research_statistics"):
            raise ValueError("this Article 9 condition needs dpa_2018_schedule_1_paragraph")
        return self


def _identifier_class_problem(dictionary: dict[str, ColumnClass], column: str) -> str | None:
    """Why ``column`` may not be read as an identifier under ``dictionary`` (None: it may)."""
    kind = dictionary.get(column)
    if kind is None:
        return ("is not classified in data_dictionary (classify it as direct_identifier or "
                "quasi_identifier)")
    if kind not in _IDENTIFIER_CLASSES:
        return (f"is classified {kind.value} in data_dictionary, but a column that is "
                f"encoded or used as a record id must be direct_identifier or "
                f"quasi_identifier")
    return None
