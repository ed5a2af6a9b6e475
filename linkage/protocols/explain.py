"""Plain-English summaries of protocol files, for information-governance leads.

Pure functions: models in, Markdown out. Everything said is derived from the files (the
encoding schema, the roles, the release clauses), never from a data record, and never
claims more protection than the schema gives: what the linkage unit can infer (exact
filters, blocking-token groups, overlap sizes) follows ``docs/threat-model.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

from linkage.contracts import BlockingPart, Derivation, FieldKind
from linkage.encoding.hardening import blip_flip_probability, field_flip_probability
from linkage.encoding.schema import EncodingSchema, FieldSpec
from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.models import Agreement, PartnerProtocol, Release, Role

_ORG_TYPES = {"nhs_trust": "NHS trust", "local_authority": "local authority",
              "school": "school", "linkage_unit": "linkage unit", "analyst": "analyst team"}
_ROLES = {Role.DATA_PROVIDER: "data provider", Role.LINKAGE_UNIT: "linkage unit",
          Role.ANALYST_RECIPIENT: "analyst recipient"}
_ARTICLE_6 = {"a_consent": "consent (Art. 6(1)(a))", "b_contract": "contract (Art. 6(1)(b))",
              "c_legal_obligation": "legal obligation (Art. 6(1)(c))",
              "d_vital_interests": "vital interests (Art. 6(1)(d))",
              "e_public_task": "public task (Art. 6(1)(e))",
              "f_legitimate_interests": "legitimate interests (Art. 6(1)(f))"}
_ARTICLE_9 = {"a_explicit_consent": "explicit consent (Art. 9(2)(a))",
              "b_employment_social_security": "employment and social security (Art. 9(2)(b))",
              "c_vital_interests": "vital interests (Art. 9(2)(c))",
              "g_substantial_public_interest": "substantial public interest (Art. 9(2)(g))",
              "h_health_or_social_care": "health or social care (Art. 9(2)(h))",
              "i_public_health": "public health (Art. 9(2)(i))",
              "j_archiving_research_statistics":
                  "archiving, research and statistics (Art. 9(2)(j))"}
#: Kinds whose values are few and frequent: an exact filter of one gives its value away.
_FEW_VALUES = (FieldKind.DATE, FieldKind.SEX)
#: Kinds a frequency list covers: an exact, unsalted filter of one is open to the attacks.
_FREQUENCY_ATTACKED = (FieldKind.NAME, FieldKind.POSTCODE, FieldKind.TEXT)
_THREAT_MODEL = "docs/threat-model.md"


def _words(name: str) -> str:
    return name.replace("_", " ").replace("nhs", "NHS")


#: What each derived blocking part is, in words (the whole value needs none)
_DERIVED_WORDS = {
    Derivation.SOUNDEX: "Soundex code", Derivation.YEAR: "year",
    Derivation.MONTH: "month, of any year",
    Derivation.OUTWARD: "outward code", Derivation.FIRST2: "first two characters",
    Derivation.UNORDERED: "year, with day and month in either order",
    Derivation.TWO_DAYS: "two-day span", Derivation.TWO_DAYS_SHIFTED:
    "two-day span starting a day later",
    Derivation.DAY_MONTH_TWO_YEARS: "day and month, with the two-year span of the year",
    Derivation.DAY_MONTH_TWO_YEARS_SHIFTED:
    "day and month, with the two-year span of the year starting a year later"}


def _part_words(part: BlockingPart) -> str:
    """A blocking part as a reader knows it: ``date of birth (two-day span)``."""
    how = _DERIVED_WORDS.get(part.derivation, part.derivation.value)
    return _words(part.field) + (f" ({how})" if part.derivation else "")


def _join(items: list[str], word: str = "and") -> str:
    if not items:
        return "nothing"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _code(items: tuple[str, ...] | list[str]) -> str:
    return _join([f"`{x}`" for x in items])


def _party(name: str, parties: Mapping[str, PartnerProtocol] | None = None) -> str:
    """A party as a reader knows it: its name in words, and its organisation if known."""
    protocol = (parties or {}).get(name)
    return f"{_words(name)} ({protocol.organisation})" if protocol else _words(name)


def _purpose(purpose_id: str, agreement: Agreement | None) -> str:
    """A purpose's description with its id in brackets (the id alone when unknown)."""
    if agreement is not None:
        for purpose in agreement.purposes:
            if purpose.id == purpose_id:
                return f"{purpose.description.rstrip('.')} (`{purpose_id}`)"
    return f"purpose `{purpose_id}`"


def _salt(spec: FieldSpec) -> str:
    salt = spec.salt
    if salt is None:
        return ""
    part = str(salt.derivation.value)
    return _words(salt.field) + (f" ({part})" if part else "")


def _providers(parties: Mapping[str, PartnerProtocol]) -> list[str]:
    return [n for n, p in parties.items() if Role.DATA_PROVIDER in p.roles]


# ---------------------------------------------------------------------------------------
# What the encoding protects, and what the linkage unit can infer despite it


def _field_groups(schema: EncodingSchema) -> tuple[list[FieldSpec], list[FieldSpec],
                                                   list[FieldSpec]]:
    """The fields with BLIP noise, the salted ones without noise, and the exact ones."""
    noisy, salted, exact = [], [], []
    for spec in schema.fields:
        if field_flip_probability(schema.hardening, spec.name) > 0:
            noisy.append(spec)
        elif spec.salt is not None:
            salted.append(spec)
        else:
            exact.append(spec)
    return noisy, salted, exact


def _protection_lines(schema: EncodingSchema) -> list[str]:
    """How each identifier's filter is protected, derived from the schema."""
    hard = schema.hardening
    noisy, _, exact = _field_groups(schema)
    lines = []
    if noisy and hard.blip_epsilon is not None:
        flip = blip_flip_probability(hard.blip_epsilon)
        record = (" and on the record-level filter" if "record" in hard.applies_to else "")
        lines.append(f"- Noise (BLIP randomised response, epsilon {hard.blip_epsilon:g}: each "
                     f"bit flipped with probability {flip:.0%}) on the filters of "
                     f"{_join([_words(f.name) for f in noisy])}{record}.")
    else:
        lines.append("- No identifier's filter carries noise (no BLIP randomised response).")
    by_salt: dict[str, list[str]] = {}
    for spec in schema.fields:
        if spec.salt is not None:
            by_salt.setdefault(_salt(spec), []).append(_words(spec.name))
    for salt, names in by_salt.items():
        lines.append(f"- Salted with the {salt}: {_join(names)} (equal values get unrelated "
                     f"filters where the {salt} differs).")
    if exact:
        lines.append(f"- Exact (no noise, not salted): {_join([_words(f.name) for f in exact])}"
                     f": equal values always give equal filters.")
    deterministic = [n for n, on in (("balancing", hard.balance), ("XOR-folding", hard.xor_fold),
                                     (f"a diffusion layer ({hard.diffusion_taps} taps)",
                                      hard.diffusion_taps is not None)) if on]
    if deterministic:
        lines.append(f"- Also {_join(deterministic)}, applied to the "
                     f"{_join([f'{x} filters' for x in hard.applies_to])}; these are "
                     f"deterministic, so equal values still give equal filters.")
    return lines


def _inference_lines(a: Agreement) -> tuple[list[str], list[str]]:
    """What the linkage unit can infer, and the warnings among it (exact, unsalted names)."""
    schema = a.encoding
    noisy, salted, exact = _field_groups(schema)
    lines = ["- It never holds the key and receives no identifier in readable form, so it "
             "cannot compute the filter of a guessed value. It can still infer the following: "
             "treat it as disclosed to the linkage unit."]
    warnings = []
    visible = [f for f in exact if f.kind in _FEW_VALUES]
    if visible:
        names = [_words(f.name) for f in visible]
        lines.append(f"- **Treat the {_join(names)} as visible to the linkage unit.** "
                     f"{'Their filters are' if len(names) > 1 else 'Its filter is'} exact "
                     f"(no noise, not salted), so it can group the records of every provider "
                     f"by {_join(names, 'and by')}; these take few, frequent values, so with "
                     f"public knowledge such as a register of births it can likely decode "
                     f"them ({_THREAT_MODEL}).")
    for spec in exact:
        if spec.kind in _FREQUENCY_ATTACKED:
            warning = (f"**WARNING:** the {_words(spec.name)} filter is exact (no noise, not "
                       f"salted): frequency attacks recover such values ({_THREAT_MODEL}); "
                       f"treat the {_words(spec.name)} as visible to the linkage unit.")
            lines.append(f"- {warning}")
            warnings.append(warning)
        elif spec.kind not in _FEW_VALUES:
            lines.append(f"- It can see which records share the same {_words(spec.name)} "
                         f"(its filter is exact: no noise, not salted), though not the value.")
    for spec in salted:
        lines.append(f"- The {_words(spec.name)} is salted with the {_salt(spec)} but carries "
                     f"no noise: records that share both share a filter, and the similarity "
                     f"of filters remains open to graph matching ({_THREAT_MODEL}).")
    if noisy and schema.hardening.blip_epsilon is not None:
        lines.append(f"- The {_join([_words(f.name) for f in noisy])} carry noise (epsilon "
                     f"{schema.hardening.blip_epsilon:g}); what they still leak depends on "
                     f"epsilon, salting and the size of the cohort: see the attacks x "
                     f"encodings table in {_THREAT_MODEL}, and measure this schema on a "
                     f"provider's own data with `linkage privacy-check`.")
    if schema.blocking:
        passes = "; ".join(("the first two in either order: " if p.either_order else "")
                           + " + ".join(_part_words(part) for part in p.parsed_parts)
                           for p in schema.blocking)
        lines.append(f"- Keyed blocking tokens are equal exactly when their parts are, so it "
                     f"sees which records share the parts of each pass, and how many share "
                     f"them: {passes}.")
    lines.append("- From each encoding file: the provider's record ids, how many records it "
                 "sent, and how many lack each identifier (missing or invalid).")
    lines.append("- From linking: overlap sizes, that is how many of each provider's children "
                 "are linked to each other provider's, and to each combination of providers. "
                 "It holds these as exact counts: disclosure control applies to the report "
                 "and aggregate outputs, not to what the linkage unit itself sees.")
    return lines, warnings


# ---------------------------------------------------------------------------------------
# Who receives what


def _releases_to(recipient: str, parties: Mapping[str, PartnerProtocol]
                 ) -> list[tuple[str, Release]]:
    return [(name, r) for name, p in parties.items() for r in p.releases
            if r.recipient == recipient]


def _release_warning(provider: str, release: Release, parties: Mapping[str, PartnerProtocol],
                     agreement: Agreement | None) -> str | None:
    """A warning for a release to a data provider or to the linkage unit (None: neither)."""
    recipient = parties.get(release.recipient)
    if recipient is None:
        return None
    what = (f"{_words(provider)} releases {_code(release.attributes)} to "
            f"{_words(release.recipient)}")
    if Role.DATA_PROVIDER in recipient.roles:
        return (f"**WARNING:** {what}, which is itself a data provider: it holds the project "
                f"key, its own identifiers and the link keys of its own records, so it can "
                f"attach these attributes to the named children it also serves.")
    if Role.LINKAGE_UNIT in recipient.roles or (
            agreement is not None and release.recipient == agreement.linkage_unit):
        return (f"**WARNING:** {what}, which is the linkage unit: it holds every provider's "
                f"encodings and the links, so it can attach these attributes to them.")
    return None


def _provider_lines(p: PartnerProtocol,
                    parties: Mapping[str, PartnerProtocol] | None) -> list[str]:
    fields = [_words(f) for f in p.identifiers]
    others = [_words(n) for n in _providers(parties or {}) if n != p.partner]
    shared = (f"shared only with the other data providers, {_join(others)}"
              if others else "shared only with the other data providers")
    return [f"- Will encode {_join(fields)} as keyed Bloom filters on its own systems. It "
            f"will not send them in readable form, and it keeps the key.",
            f"- Sends the linkage unit its encodings only: a filter per identifier, the "
            f"record-level filter, keyed blocking tokens, its record ids (column "
            f"`{p.record_id_column}`), and counts of its records and of missing values.",
            f"- Receives: the project key ({shared}; never with the linkage unit or a "
            f"recipient), and from the linkage unit a file with a link key for each of its "
            f"own records only, never another provider's records. Every record gets a key, "
            f"linked or not, so the file does not tell it which of its children other "
            f"services know (two of its own records sharing a key are duplicates)."]


def _linkage_unit_lines(agreement: Agreement | None,
                        parties: Mapping[str, PartnerProtocol] | None) -> list[str]:
    providers = _providers(parties or {})
    sources = (f"of {_join([_words(n) for n in providers])}" if providers
               else "of each data provider")
    lines = ["- Acts as the linkage unit: it links the encodings and returns link keys, "
             "never holding the key or readable identifiers.",
             f"- Receives: the encoded sources {sources} (a filter per identifier, the "
             f"record-level filter, keyed blocking tokens, record ids and counts of records "
             f"and missing values), never the key.",
             "- Returns to each data provider only that provider's own links file: "
             "`linkage match` writes one per provider, keying every record, so that no "
             "provider learns which of its children other services know."]
    if agreement is None:
        lines.append("- What it can infer depends on the agreement's encoding schema: explain "
                     "the agreement to see it.")
    else:
        visible = [_words(f.name) for f in _field_groups(agreement.encoding)[2]
                   if f.kind in _FEW_VALUES]
        seen = f"the {_join(visible)}, " if visible else ""
        lines.append(f"- Can infer (see \"What the linkage unit can see or infer\" above): "
                     f"{seen}groups of records sharing blocking tokens, and overlap sizes "
                     f"between providers.")
    return lines


def _recipient_lines(p: PartnerProtocol, agreement: Agreement | None,
                     parties: Mapping[str, PartnerProtocol] | None) -> list[str]:
    if parties is None:
        if Role.ANALYST_RECIPIENT not in p.roles:
            return []
        return ["- Receives the link keys and attributes that data providers' release clauses "
                "name, never identifiers; explain the agreement to see each clause."]
    received = _releases_to(p.partner, parties)
    if not received:
        return (["- Receives nothing: no release clause names it."]
                if Role.ANALYST_RECIPIENT in p.roles else [])
    lines = ["- Receives, under these release clauses, row-level data (one row per linked "
             "record of the releasing provider: its link key and the attributes named), "
             "never identifiers:"]
    for provider, release in received:
        lines.append(f"  - from {_party(provider, parties)}: {_code(release.attributes)}, "
                     f"for: {_purpose(release.purpose, agreement)}")
    if len({provider for provider, _ in received}) > 1:
        lines.append("- Link keys are the same across providers, so it can join the releases "
                     "of different providers child by child.")
    for provider, release in received:
        warning = _release_warning(provider, release, parties, agreement)
        if warning:
            lines.append(f"- {warning}")
    return lines


def explain_partner(protocol: PartnerProtocol, agreement: Agreement | None = None,
                    parties: Mapping[str, PartnerProtocol] | None = None) -> list[str]:
    """Markdown lines about one partner's protocol.

    With the ``agreement``, purposes are shown by description; with every party's protocol
    (``parties``, by name), each party's section also says what it receives from others
    and flags a release to a data provider or the linkage unit.
    """
    p = protocol
    kind = _ORG_TYPES[p.organisation_type]
    title = f"{_words(p.partner).capitalize()} ({p.organisation}, {kind})"
    lines = [f"## {title}", "", f"- Roles: {_join([_ROLES[r] for r in p.roles])}."]
    roles = set(p.roles)
    if Role.DATA_PROVIDER in roles:
        lines += _provider_lines(p, parties)
    if Role.LINKAGE_UNIT in roles:
        lines += _linkage_unit_lines(agreement, parties)
    lines += _recipient_lines(p, agreement, parties)
    for release in p.releases:
        lines.append(f"- May release {_code(release.attributes)} to "
                     f"{_party(release.recipient, parties)}, as row-level data (one row per "
                     f"linked record: its link key and these attributes), for: "
                     f"{_purpose(release.purpose, agreement)}")
        warning = _release_warning(p.partner, release, parties or {}, agreement)
        if warning:
            lines.append(f"- {warning}")
    basis = p.lawful_basis
    legal = f"- Lawful basis: {_ARTICLE_6[basis.article_6]}"
    if basis.article_9:
        legal += f"; special category condition: {_ARTICLE_9[basis.article_9]}"
        if basis.dpa_2018_schedule_1_paragraph:
            legal += f", DPA 2018 Schedule 1 paragraph {basis.dpa_2018_schedule_1_paragraph}"
        legal += (" (appropriate policy document in place)" if basis.appropriate_policy_document
                  else " (no appropriate policy document recorded)")
    else:
        legal += "; no special category (Article 9) condition recorded"
    lines.append(legal + ".")
    r = p.retention
    lines.append(f"- Keeps encodings for {_days(r.encodings_days)} and link keys for "
                 f"{_days(r.links_days)}. Deletion: {r.deletion_method}")
    lines.append("- Onward sharing: " + ("**allowed**: it may pass on data it receives."
                                         if p.onward_sharing else "not allowed."))
    contacts = f"- Data protection officer: {p.contacts.data_protection_officer}"
    if p.contacts.caldicott_guardian:
        contacts += f"; Caldicott Guardian: {p.contacts.caldicott_guardian}"
    lines.extend([contacts + ".", ""])
    return lines


# ---------------------------------------------------------------------------------------
# The agreement


def _linkage_unit_name(loaded: LoadedAgreement) -> str:
    unit = loaded.protocols.get(loaded.agreement.linkage_unit)
    return unit.organisation if unit else _words(loaded.agreement.linkage_unit)


def agreement_warnings(loaded: LoadedAgreement) -> list[str]:
    """The warnings an IG lead must see first (Markdown, each starting ``**WARNING:**``):
    releases to a data provider or the linkage unit, onward sharing, and identifiers the
    encoding leaves open to frequency attacks."""
    a, parties = loaded.agreement, loaded.protocols
    out = [w for name, p in parties.items() for r in p.releases
           if (w := _release_warning(name, r, parties, a))]
    out += [f"**WARNING:** {_words(name)} may share data it receives onward "
            f"(onward_sharing: true)." for name, p in parties.items() if p.onward_sharing]
    out += _inference_lines(a)[1]
    return out


def explain_agreement(loaded: LoadedAgreement) -> str:
    """A Markdown summary of an agreement and all its parties' protocols."""
    a = loaded.agreement
    enc = a.encoding
    controllers = {"joint": "joint controllers",
                   "separate": "separate controllers sharing data"}[a.controllers]
    lines = [f"# {a.title}", "",
             f"Agreement `{a.id}`, version {a.version}. In force from "
             f"{a.start_date:%d %B %Y} to {a.expiry_date:%d %B %Y}; review by "
             f"{a.review_date:%d %B %Y}. DPIA: {a.dpia_reference}. "
             f"Controllers: {controllers}.", ""]
    warnings = agreement_warnings(loaded)
    for warning in warnings:
        lines += [warning, ""]
    lines += ["**Purposes**", ""]
    lines += [f"- {p.description.rstrip('.')} (`{p.id}`)" for p in a.purposes]
    lines += ["", "**Legal powers relied on**", ""]
    lines += [f"- {x}" for x in a.legal_powers]
    hard = enc.hardening
    hardening = [n for n, on in (("balancing", hard.balance), ("XOR-folding", hard.xor_fold),
                                 (f"randomised response (epsilon {hard.blip_epsilon:g})"
                                  if hard.blip_epsilon is not None else "",
                                  hard.blip_epsilon is not None),
                                 (f"a diffusion layer ({hard.diffusion_taps} taps)",
                                  hard.diffusion_taps is not None)) if on]
    lines += ["", "**How identifiers are protected**", "",
              f"- Each identifier is turned into a keyed Bloom filter by the data provider "
              f"that holds it; the record-level filter has {enc.record_filter_bits} bits. "
              f"The key is shared by the data providers only; the linkage unit never "
              f"holds it.",
              *_protection_lines(enc),
              f"- Hashing strength is at most {a.encoding_requirements.maximum_bits_per_token}"
              f" bit positions per token; filters are at least "
              f"{a.encoding_requirements.minimum_record_filter_bits} bits (record) and "
              f"{a.encoding_requirements.minimum_field_filter_bits} bits (field).",
              "- Hardening: " + (_join(hardening) + "." if hardening else "none."),
              f"- The linkage unit is {_linkage_unit_name(loaded)}; it links the encodings "
              f"and returns link keys.",
              "", "**What the linkage unit can see or infer**", "",
              *_inference_lines(a)[0],
              "", "**Outputs and disclosure control**", "",
              f"- Counts below {a.disclosure_control.minimum_cell_count} children are "
              f"suppressed (shown as <{a.disclosure_control.minimum_cell_count}) and the "
              f"others rounded to a multiple of {a.disclosure_control.rounding_base}: this "
              f"applies to the linkage report's counts and to aggregate outputs (counts and "
              f"summaries) only.",
              "- Releases are not aggregate outputs: each is row-level data (one row per "
              "linked record of the releasing provider: its link key and the attributes its "
              "clause names) sent to the named recipient, with no suppression or rounding. "
              "A recipient that publishes counts from them must apply disclosure control "
              "itself.",
              "- Every step is written to a tamper-evident audit log"
              + (", signed by the actor." if a.audit.signed else " (entries are not signed)."),
              "", "**Who receives what**", ""]
    for name in loaded.protocols:
        lines += explain_partner(loaded.protocols[name], a, loaded.protocols)
    return "\n".join(lines).rstrip() + "\n"


def as_plain_text(markdown: str) -> str:
    """Markdown from this module as plain text (headings and emphasis removed)."""
    out = []
    for line in markdown.splitlines():
        line = line.lstrip("#").strip() if line.startswith("#") else line
        out.append(line.replace("**", "").replace("`", ""))
    return "\n".join(out) + "\n"
