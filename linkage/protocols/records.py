"""Records an IG lead must keep, generated from the reviewed agreement.

Per party, a record of processing activities (UK GDPR Art. 30(1)); per data provider, a
draft privacy notice (UK GDPR Arts 13 and 14). Both are pure functions of a
:class:`~linkage.protocols.loading.LoadedAgreement`: they say what the agreement and the
partner protocols say (which the tool enforces), so they change when the agreement does and
never drift from it. They are drafts for the IG lead to review, not legal advice.

``linkage protocol records-of-processing AGREEMENT --out DIR`` writes them (see
:func:`write_records`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from linkage.files import atomic_output
from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.models import (
    SCHEDULE_1_PARAGRAPHS,
    ColumnClass,
    PartnerProtocol,
    Role,
)

_ORGANISATION_TYPES = {"nhs_trust": "NHS trust", "local_authority": "local authority",
                       "school": "school", "linkage_unit": "linkage unit",
                       "analyst": "analyst team"}
_ROLES = {Role.DATA_PROVIDER: "data provider", Role.LINKAGE_UNIT: "linkage unit",
          Role.ANALYST_RECIPIENT: "analyst recipient"}
_ARTICLE_6 = {
    "a_consent": ("consent", "UK GDPR Art. 6(1)(a)"),
    "b_contract": ("a contract with you", "UK GDPR Art. 6(1)(b)"),
    "c_legal_obligation": ("a legal obligation", "UK GDPR Art. 6(1)(c)"),
    "d_vital_interests": ("to protect someone's life (vital interests)", "UK GDPR Art. 6(1)(d)"),
    "e_public_task": ("a task carried out in the public interest or in the exercise of "
                      "official authority (public task)", "UK GDPR Art. 6(1)(e)"),
    "f_legitimate_interests": ("legitimate interests", "UK GDPR Art. 6(1)(f)")}
_ARTICLE_9 = {
    "a_explicit_consent": ("explicit consent", "UK GDPR Art. 9(2)(a)"),
    "b_employment_social_security": ("employment, social security and social protection",
                                     "UK GDPR Art. 9(2)(b)"),
    "c_vital_interests": ("to protect someone's life (vital interests)",
                          "UK GDPR Art. 9(2)(c)"),
    "g_substantial_public_interest": ("reasons of substantial public interest",
                                      "UK GDPR Art. 9(2)(g)"),
    "h_health_or_social_care": ("the provision of health or social care, or the management "
                                "of health or social care services", "UK GDPR Art. 9(2)(h)"),
    "i_public_health": ("public health", "UK GDPR Art. 9(2)(i)"),
    "j_archiving_research_statistics": ("archiving, scientific research or statistics",
                                        "UK GDPR Art. 9(2)(j)")}
_ICO = ("Information Commissioner's Office, Wycliffe House, Water Lane, Wilmslow, Cheshire "
        "SK9 5AF; telephone 0303 123 1113; https://ico.org.uk/make-a-complaint")
_CSV_COLUMNS = ("party", "organisation", "item", "article", "value")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RecordItem:
    """One item of a record of processing: what Art. 30(1) asks, and the answer."""

    key: str  #: short name, e.g. ``purposes``
    article: str  #: where the law asks for it, e.g. ``UK GDPR Art. 30(1)(b)``
    title: str  #: the item as an IG lead calls it
    lines: tuple[str, ...]  #: the answer, one statement a line


@dataclass(frozen=True)
class RecordOfProcessing:
    """A party's record of processing activities for one agreement (UK GDPR Art. 30(1))."""

    party: str
    organisation: str
    agreement_id: str
    agreement_version: str
    items: tuple[RecordItem, ...]

    def item(self, key: str) -> RecordItem:
        """The item called ``key`` (e.g. ``"recipients"``)."""
        return next(i for i in self.items if i.key == key)

    def as_markdown(self) -> str:
        """The record as a Markdown document."""
        out = [f"# Record of processing: {self.organisation}", "",
               f"Party `{self.party}` to agreement `{self.agreement_id}` version "
               f"{self.agreement_version}. UK GDPR Art. 30(1) record, generated from the "
               f"reviewed agreement and partner protocols: regenerate it whenever they "
               f"change.", ""]
        for item in self.items:
            out += [f"## {item.title}", "", f"*{item.article}*", ""]
            out += [f"- {line}" for line in item.lines]
            out.append("")
        return "\n".join(out)

    def csv_rows(self) -> list[dict[str, str]]:
        """One row per item: party, organisation, item, article and value (the item's lines,
        one a line within the cell)."""
        return [{"party": self.party, "organisation": self.organisation, "item": item.title,
                 "article": item.article, "value": "\n".join(item.lines)}
                for item in self.items]

    def as_csv(self) -> str:
        """The record as CSV text (a header, then one row per item). A cell that a
        spreadsheet would read as a formula is prefixed with an apostrophe."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.csv_rows():
            writer.writerow({k: _cell(v) for k, v in row.items()})
        return buffer.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


# ---------------------------------------------------------------------------------------
# Records of processing


def records_of_processing(loaded: LoadedAgreement) -> dict[str, RecordOfProcessing]:
    """Every party's Art. 30(1) record, in the agreement's order of parties."""
    return {ref.name: _record(loaded, ref.name) for ref in loaded.agreement.parties}


def _record(loaded: LoadedAgreement, party: str) -> RecordOfProcessing:
    a, p = loaded.agreement, loaded.protocol(party)
    items = (
        RecordItem("controller", "UK GDPR Art. 30(1)(a)",
                   "Controller: name and contact details", tuple(_controller_lines(loaded, p))),
        RecordItem("dpo", "UK GDPR Art. 30(1)(a)", "Data Protection Officer",
                   tuple(_dpo_lines(p))),
        RecordItem("purposes", "UK GDPR Art. 30(1)(b)", "Purposes of the processing",
                   tuple(_purpose_lines(loaded, p))),
        RecordItem("lawful_basis", "UK GDPR Arts 6 and 9; DPA 2018 Sch. 1 para 41",
                   "Lawful basis, conditions and statutory powers",
                   tuple(_lawful_basis_lines(loaded, p))),
        RecordItem("data_subjects", "UK GDPR Art. 30(1)(c)", "Categories of data subjects",
                   (_data_subjects(loaded),)),
        RecordItem("personal_data", "UK GDPR Art. 30(1)(c)", "Categories of personal data",
                   tuple(_personal_data_lines(loaded, p))),
        RecordItem("recipients", "UK GDPR Art. 30(1)(d)", "Categories of recipients",
                   tuple(_recipient_lines(loaded, p))),
        RecordItem("international_transfers", "UK GDPR Art. 30(1)(e)",
                   "Transfers outside the UK, and their safeguards",
                   tuple(_transfer_lines(loaded))),
        RecordItem("retention", "UK GDPR Art. 30(1)(f)", "Time limits for erasure",
                   tuple(_retention_lines(loaded, p))),
        RecordItem("security", "UK GDPR Art. 30(1)(g), Art. 32(1)",
                   "Technical and organisational security measures",
                   tuple(_security_lines(loaded))),
        RecordItem("breach_contacts", "UK GDPR Arts 33-34", "Whom to tell of a breach",
                   tuple(_breach_lines(loaded, party))),
    )
    return RecordOfProcessing(party, p.organisation, a.id, a.version, items)


def _org(loaded: LoadedAgreement, party: str) -> str:
    """``Regional Linkage Unit (example) (linkage_unit)``: organisation and party name."""
    protocol = loaded.protocols.get(party)
    return f"{protocol.organisation} ({party})" if protocol else party


def _providers(loaded: LoadedAgreement) -> list[str]:
    return [n for n, p in loaded.protocols.items() if Role.DATA_PROVIDER in p.roles]


def _contact(p: PartnerProtocol) -> str:
    return p.contacts.privacy_notice_contact or p.contacts.data_protection_officer


def _controller_lines(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    a = loaded.agreement
    kind = _ORGANISATION_TYPES.get(p.organisation_type.value, p.organisation_type.value)
    roles = ", ".join(_ROLES[r] for r in p.roles)
    lines = [f"{p.organisation} ({kind}); role in this linkage: {roles}.",
             f"Contact: {_contact(p)}.",
             f"Agreement: {a.title} (`{a.id}` version {a.version}); this party's protocol "
             f"version {p.version}."]
    others = [_org(loaded, n) for n in loaded.protocols if n != p.partner]
    if a.controllers == "joint":
        lines.append(f"Joint controller (UK GDPR Art. 26) with: {', '.join(others)}; the "
                     f"agreement sets out their respective responsibilities.")
    else:
        lines.append(f"Separate controller; the other controllers are: {', '.join(others)}.")
    return lines


def _dpo_lines(p: PartnerProtocol) -> list[str]:
    lines = [f"Data Protection Officer: {p.contacts.data_protection_officer}."]
    if p.contacts.caldicott_guardian:
        lines.append(f"Caldicott Guardian: {p.contacts.caldicott_guardian}.")
    return lines


def _purpose_lines(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    lines = [f"`{purpose.id}`: {purpose.description}" for purpose in loaded.agreement.purposes]
    if Role.DATA_PROVIDER in p.roles:
        lines.append("Linking this party's records with the other data providers' "
                     "records, by keyed encodings, to serve these purposes.")
    if Role.LINKAGE_UNIT in p.roles:
        lines.append("Linking the data providers' keyed encodings and returning link keys "
                     "to each provider, to serve these purposes.")
    return lines


def _lawful_basis_lines(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    a, basis = loaded.agreement, p.lawful_basis
    words, article = _ARTICLE_6[basis.article_6]
    lines = [f"{article}: {words}."]
    if basis.article_9:
        words, article = _ARTICLE_9[basis.article_9]
        line = f"{article}: {words}"
        if basis.dpa_2018_schedule_1_paragraph:
            line += f"; {_paragraph(basis.dpa_2018_schedule_1_paragraph)}"
        lines.append(line + ".")
        lines.append("Appropriate policy document (DPA 2018 Sch. 1 para 39): "
                     + ("in place." if basis.appropriate_policy_document else "not recorded."))
    else:
        lines.append("No special category (Art. 9) condition: this party declares none.")
    lines += [f"Statutory power: {power}." for power in a.legal_powers]
    lines.append(f"DPIA: {a.dpia_reference}.")
    return lines


def _paragraph(number: int) -> str:
    heading = SCHEDULE_1_PARAGRAPHS.get(number)
    return f"DPA 2018 Schedule 1 paragraph {number}" + (f" ({heading})" if heading else "")


def _data_subjects(loaded: LoadedAgreement) -> str:
    if loaded.agreement.data_subjects:
        return loaded.agreement.data_subjects
    providers = ", ".join(_org(loaded, n) for n in _providers(loaded))
    return f"The people whose records the data providers hold: {providers}."


def _columns(p: PartnerProtocol, kind: ColumnClass) -> list[str]:
    return [c for c, k in p.data_dictionary.items() if k == kind]


def _words(name: str) -> str:
    """``nhs_number`` -> ``NHS number``: a clause or column name in words."""
    return " ".join("NHS" if w == "nhs" else w for w in name.split("_"))


def _provider_data_lines(p: PartnerProtocol) -> list[str]:
    lines = []
    if p.data_dictionary:
        for kind, label in ((ColumnClass.DIRECT_IDENTIFIER, "Direct identifiers"),
                            (ColumnClass.QUASI_IDENTIFIER, "Indirect (quasi-) identifiers"),
                            (ColumnClass.ATTRIBUTE, "Attributes"),
                            (ColumnClass.SPECIAL_CATEGORY,
                             "Special category data (UK GDPR Art. 9)")):
            columns = _columns(p, kind)
            if columns:
                lines.append(f"{label}: {', '.join(columns)}.")
    else:
        lines.append(f"Identifiers: {', '.join(p.identifiers.values())}; record id column: "
                     f"{p.record_id_column}.")
    encoded = ", ".join(_words(f) for f in p.identifiers)
    lines.append(f"Sent to the linkage unit: keyed Bloom-filter encodings of {encoded}, keyed "
                 f"blocking tokens, and its record ids; never readable identifiers.")
    lines.append("Received back: link keys against its own record ids.")
    return lines


def _personal_data_lines(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    lines: list[str] = []
    if Role.DATA_PROVIDER in p.roles:
        lines += _provider_data_lines(p)
    if Role.LINKAGE_UNIT in p.roles:
        fields = ", ".join(_words(f.name) for f in loaded.agreement.encoding.fields)
        lines.append(f"Keyed Bloom-filter encodings of {fields}, keyed blocking tokens and "
                     f"record ids from each data provider; never the key nor readable "
                     f"identifiers. It makes the link keys.")
    received = _received(loaded, p.partner)
    for provider, attributes, purpose in received:
        special = [c for c in attributes if loaded.protocol(provider).data_dictionary.get(c)
                   == ColumnClass.SPECIAL_CATEGORY]
        line = (f"From {_org(loaded, provider)}: link keys with {', '.join(attributes)}, "
                f"for purpose `{purpose}`")
        if special:
            line += f" (special category: {', '.join(special)})"
        lines.append(line + ".")
    if not lines:
        lines.append("None: this party receives no personal data under the agreement.")
    return lines


def _received(loaded: LoadedAgreement, party: str) -> list[tuple[str, tuple[str, ...], str]]:
    """(provider, attributes, purpose) of every release to ``party``."""
    return [(name, release.attributes, release.purpose)
            for name, protocol in loaded.protocols.items() for release in protocol.releases
            if release.recipient == party]


def _recipient_lines(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    a, lines = loaded.agreement, []
    if Role.DATA_PROVIDER in p.roles:
        lines.append(f"{_org(loaded, a.linkage_unit)}, the linkage unit: keyed encodings, "
                     f"keyed blocking tokens and record ids only.")
        for release in p.releases:
            lines.append(f"{_org(loaded, release.recipient)}: link keys with "
                         f"{', '.join(release.attributes)}, for purpose `{release.purpose}`.")
    if Role.LINKAGE_UNIT in p.roles:
        lines += [f"{_org(loaded, n)}: its own link keys, against its own record ids."
                  for n in _providers(loaded)]
    if p.onward_sharing:
        lines.append("Onward sharing of received data is allowed by this party's protocol "
                     "(onward_sharing: true): record each onward recipient here.")
    if not lines:
        lines.append("None: this party passes nothing on (onward_sharing: false).")
    return lines


def _transfer_lines(loaded: LoadedAgreement) -> list[str]:
    a = loaded.agreement
    transfers = a.international_transfers
    lines = ["None: no personal data is transferred outside the UK."
             if transfers.strip().casefold() == "none" else f"{transfers}."]
    if a.storage_location:
        lines.append(f"Storage and processing location: {a.storage_location}.")
    return lines


def _days(n: int) -> str:
    return f"{n} day" + ("" if n == 1 else "s")


def _retention_lines(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    a, r = loaded.agreement, p.retention
    return [f"Encodings: deleted after {_days(r.encodings_days)}.",
            f"Link keys: deleted after {_days(r.links_days)}.",
            f"Deletion method: {r.deletion_method}",
            f"The agreement is reviewed by {a.review_date.isoformat()} and expires on "
            f"{a.expiry_date.isoformat()}; no step runs under it after that."]


def _hardening(loaded: LoadedAgreement) -> str:
    hard = loaded.agreement.encoding.hardening
    parts = []
    if hard.balance:
        parts.append("balancing (each filter with its keyed-permuted complement)")
    if hard.xor_fold:
        parts.append("XOR folding")
    if hard.blip_epsilon is not None:
        fields = ", ".join(_words(f) for f in hard.blip_fields) if hard.blip_fields else \
            "every field"
        parts.append(f"randomised response (BLIP, epsilon {hard.blip_epsilon:g}) on {fields}")
    if hard.diffusion_taps is not None:
        parts.append(f"a keyed diffusion layer ({hard.diffusion_taps} taps)")
    return "; ".join(parts) if parts else "none"


def _security_lines(loaded: LoadedAgreement) -> list[str]:
    a = loaded.agreement
    enc, req, sdc = a.encoding, a.encoding_requirements, a.disclosure_control
    salted = [f"{_words(f.name)} (with {_words(f.salt_with)})" for f in enc.fields
              if f.salt_with]
    lines = [
        f"Pseudonymisation before anything leaves a data provider: identifiers are encoded "
        f"as keyed Bloom filters (a record filter of {enc.record_filter_bits} bits and one "
        f"filter per identifier), hashed with a secret project key that only the data "
        f"providers hold" + (f"; salted with another identifier: {', '.join(salted)}"
                             if salted else "") + ".",
        f"Hardening of the filters against re-identification: {_hardening(loaded)}.",
        f"Weakest encoding accepted (checked before encoding): record filters of at least "
        f"{req.minimum_record_filter_bits} bits, at most {req.maximum_bits_per_token} bits "
        f"per token" + (f", hardening required: {', '.join(req.required_hardening)}"
                        if req.required_hardening else "")
        + (f", worst attack re-identifying at most {req.maximum_reidentification_rate:.2%} "
           f"of records above chance" if req.maximum_reidentification_rate is not None
           else "") + ".",
        f"Separation of functions: the linkage unit ({_org(loaded, a.linkage_unit)}) "
        f"receives encodings only, never the key nor readable identifiers, and may not be a "
        f"data provider; recipients receive link keys with the attributes a release clause "
        f"permits, never identifiers.",
        "Audit: every step appends to a tamper-evident, hash-chained audit log"
        + (", each entry signed with the actor's Ed25519 key" if a.audit.signed else "")
        + "; refusals are logged too." if a.audit.required else
        "Audit: not required by the agreement.",
        f"Statistical disclosure control on aggregate outputs: counts below "
        f"{sdc.minimum_cell_count} suppressed, others rounded to a multiple of "
        f"{sdc.rounding_base}.",
    ]
    if a.sign_off.required:
        lines.append("Sign-off: no step runs until every party that lists a key has signed "
                     "the agreement's exact content.")
    return lines


def _breach_lines(loaded: LoadedAgreement, party: str) -> list[str]:
    contacts = [c for c in loaded.agreement.breach_contacts if c.party in (None, party)]
    lines = [f"{c.name}, {c.role}: {c.email}" + (f", {c.telephone}" if c.telephone else "")
             + ("" if c.party else " (for every party)") + "." for c in contacts]
    lines.append("Report a personal data breach to the ICO within 72 hours of becoming "
                 "aware of it, unless it is unlikely to result in a risk to people (UK GDPR "
                 "Art. 33); tell the people affected without undue delay when the risk to "
                 "them is high (Art. 34).")
    if not contacts:
        lines.insert(0, "No breach contact is named in the agreement (breach_contacts): add "
                        "one.")
    return lines


# ---------------------------------------------------------------------------------------
# Privacy notices


def _opt_outs(loaded: LoadedAgreement) -> set[str]:
    """The opt-outs and objections the agreement applies (its ``opt_outs.applies``)."""
    clause = getattr(loaded.agreement, "opt_outs", None)
    return {str(getattr(kind, "value", kind)) for kind in getattr(clause, "applies", ())}


def privacy_notice(loaded: LoadedAgreement, party: str) -> str:
    """A draft privacy notice (UK GDPR Arts 13 and 14) for data provider ``party``, as
    Markdown: who we are, purposes, lawful basis, recipients, retention, rights, how to
    complain, the DPO, and where the data comes from.

    Refuses a party that is not a data provider (recipients' notices differ: they say what
    they receive and from whom, in their own words).
    """
    from linkage.errors import ProtocolError

    p = loaded.protocol(party)
    if Role.DATA_PROVIDER not in p.roles:
        raise ProtocolError(f"{loaded.protocol_paths[party]}: roles: '{party}' is not a data "
                            f"provider; privacy notices are drafted for data providers.")
    a = loaded.agreement
    out = [f"# How {p.organisation} uses your information: {a.title}", "",
           f"*Draft privacy notice (UK GDPR Arts 13 and 14), generated from agreement "
           f"`{a.id}` version {a.version} and this organisation's protocol version "
           f"{p.version}. Review it, put it in plain words for the families you serve, and "
           f"publish it before the sharing starts ({a.start_date.isoformat()}).*", ""]
    sections: list[tuple[str, Iterable[str]]] = [
        ("Who we are", _who_we_are(loaded, p)),
        ("Whose information, and which information", _what_information(loaded, p)),
        ("Why we use it", [f"{x.description}" for x in a.purposes]),
        ("Our lawful basis", _notice_lawful_basis(loaded, p)),
        ("Who receives it, and how it is protected", _notice_recipients(loaded, p)),
        ("Where it is kept", _notice_location(loaded)),
        ("How long it is kept", _notice_retention(loaded, p)),
        ("Where your information comes from", _source(loaded, p)),
        ("Your rights", _rights(loaded, p)),
        ("How to complain", [
            f"Please contact our Data Protection Officer first: "
            f"{p.contacts.data_protection_officer}.",
            f"You have the right to complain to the Information Commissioner's Office (ICO), "
            f"the UK's data protection regulator: {_ICO}."]),
    ]
    for title, lines in sections:
        out += [f"## {title}", ""]
        out += [f"- {line}" for line in lines]
        out.append("")
    return "\n".join(out)


def _who_we_are(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    a = loaded.agreement
    others = ", ".join(loaded.protocol(n).organisation for n in loaded.protocols
                       if n != p.partner)
    lines = [f"{p.organisation} is the controller of your information for this project. "
             f"Contact us at: {_contact(p)}.",
             f"Our Data Protection Officer: {p.contacts.data_protection_officer}."]
    if p.contacts.caldicott_guardian:
        lines.append(f"Our Caldicott Guardian, who protects confidential health and care "
                     f"information: {p.contacts.caldicott_guardian}.")
    lines.append(("We are joint controllers with" if a.controllers == "joint" else
                  "The other organisations taking part, each a controller for its own part,"
                  " are") + f": {others}.")
    return lines


def _what_information(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    lines = [_data_subjects(loaded)]
    identifiers = ", ".join(_words(f) for f in p.identifiers)
    lines.append(f"To link records we use: {identifiers}.")
    shared = sorted({c for r in p.releases for c in r.attributes})
    special = [c for c in shared if p.data_dictionary.get(c) == ColumnClass.SPECIAL_CATEGORY]
    if shared:
        lines.append(f"Information about you that we share for the purposes below: "
                     f"{', '.join(_words(c) for c in shared)}.")
    if special:
        verb = "is" if len(special) == 1 else "are"
        lines.append(f"Of these, {', '.join(_words(c) for c in special)} {verb} special "
                     f"category information (for example about health), which the law "
                     f"protects further.")
    return lines


def _notice_lawful_basis(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    a, basis = loaded.agreement, p.lawful_basis
    words, article = _ARTICLE_6[basis.article_6]
    lines = [f"We use your information because it is needed for {words} ({article})."]
    if basis.article_9:
        words, article = _ARTICLE_9[basis.article_9]
        line = f"For special category information: {words} ({article})"
        if basis.dpa_2018_schedule_1_paragraph:
            line += f", with the condition in {_paragraph(basis.dpa_2018_schedule_1_paragraph)}"
        lines.append(line + ".")
    lines.append(f"The law that allows us to share it: {'; '.join(a.legal_powers)}.")
    lines.append(f"A Data Protection Impact Assessment ({a.dpia_reference}) covers this "
                 f"sharing.")
    return lines


def _notice_recipients(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    a = loaded.agreement
    unit = loaded.protocol(a.linkage_unit).organisation if a.linkage_unit in \
        loaded.protocols else a.linkage_unit
    lines = ["Before anything leaves us, your identifiers are turned into scrambled codes "
             "(keyed Bloom filters) with a secret key that only the organisations holding "
             "the original records have.",
             f"{unit} (the linkage unit) receives only these codes, never your name or the "
             f"key, and works out which codes belong to the same person. It sends us back a "
             f"link key for each of our records: a random number, not your name."]
    for release in p.releases:
        lines.append(f"{loaded.protocol(release.recipient).organisation} receives "
                     f"{', '.join(_words(c) for c in release.attributes)} with the link key, "
                     f"never your name or other identifiers, for this purpose: "
                     f"{_purpose_text(loaded, release.purpose)}")
    lines.append("Published results are counts, with small numbers suppressed so that no "
                 "one can be recognised.")
    return lines


def _notice_location(loaded: LoadedAgreement) -> list[str]:
    a = loaded.agreement
    lines = ["Your information is not sent outside the UK."
             if a.international_transfers.strip().casefold() == "none" else
             f"Some of your information is sent outside the UK: {a.international_transfers}."]
    if a.storage_location:
        lines.append(f"It is stored and used in: {a.storage_location}.")
    return lines


def _purpose_text(loaded: LoadedAgreement, purpose: str) -> str:
    return next((x.description for x in loaded.agreement.purposes if x.id == purpose), purpose)


def _notice_retention(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    r = p.retention
    lines = [f"The codes are deleted after {_days(r.encodings_days)} and the link keys after "
             f"{_days(r.links_days)}. {r.deletion_method}"]
    for recipient in sorted({release.recipient for release in p.releases}):
        other = loaded.protocol(recipient)
        lines.append(f"{other.organisation} keeps what it receives for at most "
                     f"{_days(other.retention.links_days)}. {other.retention.deletion_method}")
    lines.append(f"The sharing ends when the agreement expires on "
                 f"{loaded.agreement.expiry_date.isoformat()}, unless it is renewed.")
    return lines


def _source(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    lines = ["From our own records about you, collected when you (or your family) used our "
             "services.",
             "The link key comes from the linkage unit; it is a random number, not "
             "information about you."]
    for provider, attributes, _ in _received(loaded, p.partner):
        lines.append(f"From {loaded.protocol(provider).organisation}: "
                     f"{', '.join(_words(c) for c in attributes)}, with the link key.")
    return lines


def _rights(loaded: LoadedAgreement, p: PartnerProtocol) -> list[str]:
    basis = p.lawful_basis.article_6
    applied = _opt_outs(loaded)
    lines = ["You can ask for a copy of the information we hold about you (right of access, "
             "UK GDPR Art. 15).",
             "You can ask us to correct information that is wrong or incomplete "
             "(rectification, Art. 16)."]
    if basis in ("c_legal_obligation", "e_public_task"):
        lines.append("You can ask us to erase your information (Art. 17); this right applies "
                     "only in some circumstances, and not where we need the information for "
                     "a legal obligation or a task in the public interest (Art. 17(3)(b)).")
    else:
        lines.append("You can ask us to erase your information (Art. 17).")
    lines.append("You can ask us to restrict how we use your information, for example while "
                 "we check it is correct (Art. 18).")
    if basis in ("e_public_task", "f_legitimate_interests"):
        line = ("You can object to our use of your information (Art. 21); we must then stop "
                "unless we show compelling legitimate grounds that override your interests")
        if "article_21_objection" in applied:
            line += ", and objections we uphold are applied before anything is encoded"
        lines.append(line + ".")
    if basis == "a_consent":
        lines.append("You can withdraw your consent at any time (Art. 7(3)).")
    if basis in ("a_consent", "b_contract"):
        lines.append("You can ask for your information in a portable form (Art. 20).")
    if "national_data_opt_out" in applied:
        lines.append("If you have registered a National Data Opt-out "
                     "(https://www.nhs.uk/your-nhs-data-matters), your records are removed "
                     "before anything is encoded, and are not used for this project.")
    if "local_objection" in applied:
        lines.append(f"You can also ask {p.organisation} to add you to its own register of "
                     f"objections; records on it are removed before anything is encoded.")
    lines.append("No decision about you is made by automated means alone (Art. 22): the "
                 "linkage only prepares information for planning and analysis.")
    lines.append("A parent or carer can exercise these rights on behalf of a child. To use "
                 f"any of them, contact: {_contact(p)}.")
    return lines


# ---------------------------------------------------------------------------------------
# Writing


def write_records(loaded: LoadedAgreement, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every party's record of processing (Markdown and CSV) and every data provider's
    draft privacy notice into ``out_dir``; return the paths written.

    Files: ``PARTY.record-of-processing.md``, ``PARTY.record-of-processing.csv`` and
    ``PARTY.privacy-notice.md``. Each is written atomically: on failure no half-written file
    is left and an earlier copy is untouched.
    """
    out = Path(out_dir)
    texts: list[tuple[Path, str]] = []
    for party, record in records_of_processing(loaded).items():
        texts.append((out / f"{party}.record-of-processing.md", record.as_markdown()))
        texts.append((out / f"{party}.record-of-processing.csv", record.as_csv()))
        if Role.DATA_PROVIDER in loaded.protocol(party).roles:
            texts.append((out / f"{party}.privacy-notice.md", privacy_notice(loaded, party)))
    for path, text in texts:
        with atomic_output(path, file_mode=0o644) as handle:
            handle.write(text)
    return [path for path, _ in texts]
