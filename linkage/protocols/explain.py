"""Plain-English summaries of protocol files, for information-governance leads."""

from __future__ import annotations

from linkage.protocols.loading import LoadedAgreement
from linkage.protocols.models import Agreement, PartnerProtocol, Role

_ORG_TYPES = {"nhs_trust": "NHS trust", "local_authority": "local authority",
              "school": "school", "linkage_unit": "linkage unit", "analyst": "analyst team"}
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


def _words(name: str) -> str:
    return name.replace("_", " ").replace("nhs", "NHS")


def _join(items: list[str]) -> str:
    if not items:
        return "nothing"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def explain_partner(protocol: PartnerProtocol, agreement: Agreement | None = None) -> list[str]:
    """Markdown lines about one partner's protocol."""
    p = protocol
    kind = _ORG_TYPES[p.organisation_type]
    title = f"{_words(p.partner).capitalize()} ({p.organisation}, {kind})"
    lines = [f"## {title}", ""]
    roles = set(p.roles)
    if Role.DATA_PROVIDER in roles:
        fields = [_words(f) for f in p.identifiers]
        lines.append(f"- Will encode {_join(fields)} as keyed Bloom filters on its own "
                     f"systems. It will not send them in readable form, and it keeps the key.")
    if Role.LINKAGE_UNIT in roles:
        lines.append("- Acts as the linkage unit: it receives encodings only, never the key or "
                     "readable identifiers, and returns link keys.")
    if Role.ANALYST_RECIPIENT in roles:
        lines.append("- Receives link keys with the attributes that partners release to it, "
                     "never identifiers.")
    basis = p.lawful_basis
    legal = f"- Lawful basis: {_ARTICLE_6[basis.article_6]}"
    if basis.article_9:
        legal += f"; special category condition: {_ARTICLE_9[basis.article_9]}"
        if basis.dpa_2018_schedule_1_paragraph:
            legal += f", DPA 2018 Schedule 1 paragraph {basis.dpa_2018_schedule_1_paragraph}"
        legal += (" (appropriate policy document in place)" if basis.appropriate_policy_document
                  else " (no appropriate policy document recorded)")
    lines.append(legal + ".")
    for release in p.releases:
        purpose = release.purpose
        if agreement is not None:
            purpose = next((x.description for x in agreement.purposes
                            if x.id == release.purpose), purpose)
        lines.append(f"- May release {_join([_words(a) for a in release.attributes])} to "
                     f"{_words(release.recipient)}, with link keys only, for: {purpose}")
    r = p.retention
    lines.append(f"- Keeps encodings for {r.encodings_days} days and link keys for "
                 f"{r.links_days} days. Deletion: {r.deletion_method}")
    lines.append("- Onward sharing: " + ("allowed." if p.onward_sharing else "not allowed."))
    contacts = f"- Data protection officer: {p.contacts.data_protection_officer}"
    if p.contacts.caldicott_guardian:
        contacts += f"; Caldicott Guardian: {p.contacts.caldicott_guardian}"
    lines.extend([contacts + ".", ""])
    return lines


def _linkage_unit_name(loaded: LoadedAgreement) -> str:
    unit = loaded.protocols.get(loaded.agreement.linkage_unit)
    return unit.organisation if unit else _words(loaded.agreement.linkage_unit)


def explain_agreement(loaded: LoadedAgreement) -> str:
    """A Markdown summary of an agreement and all its parties' protocols."""
    a = loaded.agreement
    enc = a.encoding
    lines = [f"# {a.title}", "",
             f"Agreement `{a.id}`, version {a.version}. In force from "
             f"{a.start_date:%d %B %Y} to {a.expiry_date:%d %B %Y}; review by "
             f"{a.review_date:%d %B %Y}. DPIA: {a.dpia_reference}. "
             f"Controllers: {a.controllers}.", "",
             "**Purposes**", ""]
    lines += [f"- {p.description}" for p in a.purposes]
    lines += ["", "**Legal powers relied on**", ""]
    lines += [f"- {x}" for x in a.legal_powers]
    hard = enc.hardening
    hardening = [n for n, on in (("balancing", hard.balance), ("XOR-folding", hard.xor_fold),
                                 (f"randomised response (epsilon {hard.blip_epsilon})",
                                  hard.blip_epsilon is not None),
                                 (f"a diffusion layer ({hard.diffusion_taps} taps)",
                                  hard.diffusion_taps is not None)) if on]
    lines += ["", "**How identifiers are protected**", "",
              f"- Each identifier is turned into a keyed Bloom filter; the record-level "
              f"filter has {enc.record_filter_bits} bits. The key is shared by the data "
              f"providers only; the linkage unit never holds it.",
              f"- Hashing strength is at most {a.encoding_requirements.maximum_bits_per_token}"
              f" bit positions per token; filters are at least "
              f"{a.encoding_requirements.minimum_record_filter_bits} bits (record) and "
              f"{a.encoding_requirements.minimum_field_filter_bits} bits (field).",
              "- Hardening: " + (_join(hardening) + "." if hardening else "none."),
              f"- The linkage unit is {_linkage_unit_name(loaded)}; it links the encodings "
              f"and returns link keys.",
              "", "**Outputs**", "",
              f"- Counts below {a.disclosure_control.minimum_cell_count} children are "
              f"suppressed and all counts are rounded to a multiple of "
              f"{a.disclosure_control.rounding_base}.",
              "- Every step is written to a tamper-evident audit log"
              + (", signed by the actor." if a.audit.signed else "."), ""]
    for name in loaded.protocols:
        lines += explain_partner(loaded.protocols[name], a)
    return "\n".join(lines).rstrip() + "\n"


def as_plain_text(markdown: str) -> str:
    """Markdown from this module as plain text (headings and emphasis removed)."""
    out = []
    for line in markdown.splitlines():
        line = line.lstrip("#").strip() if line.startswith("#") else line
        out.append(line.replace("**", "").replace("`", ""))
    return "\n".join(out) + "\n"
