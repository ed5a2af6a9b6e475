"""`protocol explain` and `protocol diff`: what an IG lead reads must be exactly true."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from linkage.protocols import Agreement, PartnerProtocol, load_agreement, load_model
from linkage.protocols.diff import ProtocolDiff, describe_changes, diff_agreements, diff_protocols
from linkage.protocols.explain import as_plain_text, explain_agreement

from ..helpers import EXAMPLE, copy_protocols, edit_yaml

Edit = Callable[[dict[str, Any]], Any]


def _sections(text: str) -> dict[str, str]:
    """Each party's section of an agreement's explanation, by its heading's first word."""
    parts = text.split("\n## ")[1:]
    return {part.split(" (")[0]: part for part in parts}


def _explained(tmp_path: Path, edits: dict[str, Edit]) -> str:
    agreement = copy_protocols(tmp_path)
    for name, change in edits.items():
        edit_yaml(agreement.parent / name, change)
    return explain_agreement(load_agreement(agreement))


# ---------------------------------------------------------------------------------------
# explain


def test_explain_treats_date_of_birth_and_sex_as_visible_to_the_linkage_unit() -> None:
    text = explain_agreement(load_agreement(EXAMPLE / "agreement.yaml"))
    assert "**Treat the date of birth and sex as visible to the linkage unit.**" in text
    assert "group the records of every provider by date of birth and by sex" in text
    assert "Exact (no noise, not salted): date of birth, sex and NHS number" in text
    assert "on the filters of given name, family name and postcode" in text
    assert "Salted with the date of birth: given name and family name" in text
    assert "overlap sizes, that is how many of each provider's children are linked to each " \
           "other provider's" in text
    assert "never readable identifiers" not in text  # the old, overclaiming sentence


def test_explain_names_the_parts_of_each_blocking_pass_in_words() -> None:
    text = explain_agreement(load_agreement(EXAMPLE / "agreement.yaml"))
    assert "given name (Soundex code) + family name (Soundex code) + date of birth " \
           "(two-day span starting a day later)" in text
    assert "date of birth (year, with day and month in either order)" in text
    assert "the first two in either order: given name (Soundex code)" in text
    assert "date_of_birth.two_days" not in text and "given_name.soundex" not in text


def test_explain_derives_what_is_visible_from_the_encoding(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["encoding"]["hardening"]["blip_fields"] = ["family_name", "postcode", "sex"]
        data["encoding"]["fields"][0].pop("salt_with")

    text = _explained(tmp_path, {"agreement.yaml": change})
    assert "**Treat the date of birth as visible to the linkage unit.**" in text
    assert "date of birth and sex as visible" not in text
    assert "on the filters of family name, sex and postcode" in text
    assert "Salted with the date of birth: family name" in text
    warning = ("**WARNING:** the given name filter is exact (no noise, not salted): frequency "
               "attacks recover such values")
    assert text.count(warning) == 2  # at the top, and where the linkage unit is described
    assert text.index(warning) < text.index("**Purposes**")


def test_explain_shows_purpose_descriptions_with_their_ids() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    text = explain_agreement(loaded)
    for purpose in loaded.agreement.purposes:
        assert f"- {purpose.description.rstrip('.')} (`{purpose.id}`)" in text
    assert "for: Understand what predicts a good level of development at the end of " \
           "reception (`school_readiness`)" in text


def test_explain_says_where_disclosure_control_applies() -> None:
    text = explain_agreement(load_agreement(EXAMPLE / "agreement.yaml"))
    assert "Counts below 10 children are suppressed" in text
    assert "applies to the linkage report's counts and to aggregate outputs" in text
    assert "Releases are not aggregate outputs: each is row-level data" in text
    assert "sent to the named recipient, with no suppression or rounding" in text


def test_explain_says_what_each_party_receives() -> None:
    text = explain_agreement(load_agreement(EXAMPLE / "agreement.yaml"))
    sections = _sections(text)
    assert set(sections) == {"Health", "Education", "Social care", "Linkage unit", "Analysts"}
    for provider, others in (("Health", "education and social care"),
                             ("Education", "health and social care"),
                             ("Social care", "health and education")):
        section = sections[provider]
        assert f"- Receives: the project key (shared only with the other data providers, " \
               f"{others}; never with the linkage unit or a recipient)" in section
        assert "a link key for each of its own records only, never another provider's " \
               "records" in section
    unit = sections["Linkage unit"]
    assert "- Receives: the encoded sources of health, education and social care" in unit
    assert "never the key" in unit
    assert "Returns to each data provider only that provider's own links file" in unit
    assert "Can infer" in unit and "the date of birth and sex" in unit
    assert "overlap sizes" in unit
    analysts = sections["Analysts"]
    assert "row-level data (one row per linked record" in analysts
    assert ("  - from health (Leeds Community Healthcare NHS Trust (example)): "
            "`birth_weight_g` and `smoking_in_pregnancy`, for: Understand what predicts a "
            "good level of development at the end of reception (`school_readiness`)"
            ) in analysts
    assert "  - from social care (Leeds City Council, Children and Families (example)): " \
           "`cin_category`, for: Plan safeguarding services" in analysts
    assert "WARNING" not in text


def test_explain_flags_a_release_to_a_data_provider(tmp_path: Path) -> None:
    def release(data: dict[str, Any]) -> None:
        data["releases"].append({"attributes": ["birth_weight_g"], "recipient": "education",
                                 "purpose": "school_readiness", "to_data_provider": True})

    text = _explained(tmp_path, {"health.yaml": release})
    flag = ("**WARNING:** health releases `birth_weight_g` to education, which is itself a "
            "data provider")
    assert text.index(flag) < text.index("**Purposes**")  # at the top
    assert flag in _sections(text)["Health"] and flag in _sections(text)["Education"]
    assert "  - from health (Leeds Community Healthcare NHS Trust (example)): " \
           "`birth_weight_g`" in _sections(text)["Education"]
    plain = as_plain_text(text).splitlines()
    assert any(line.startswith("WARNING: health releases birth_weight_g to education")
               for line in plain)


# ---------------------------------------------------------------------------------------
# diff


def _edited(tmp_path: Path, name: str, change: Edit) -> tuple[Any, Any]:
    """The example file ``name`` and an edited copy, as models."""
    model = Agreement if name == "agreement.yaml" else PartnerProtocol
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement.parent / name, change)
    return load_model(EXAMPLE / name, model), load_model(agreement.parent / name, model)


def _set(*path: str, value: Any) -> Edit:
    def change(data: dict[str, Any]) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value
    return change


WIDENINGS = [
    ("new-party", "agreement.yaml",
     lambda d: d["parties"].append({"name": "police", "protocol": "police.yaml"}),
     "new party 'police' (protocol police.yaml)", "party 'police' removed"),
    ("cell-count-lowered", "agreement.yaml",
     _set("disclosure_control", "minimum_cell_count", value=5),
     "disclosure control: minimum cell count lowered from 10 to 5",
     "disclosure control: minimum cell count raised from 5 to 10"),
    ("released-attribute-added", "social_care.yaml",
     lambda d: d["releases"][0]["attributes"].append("referral_date"),
     "release to analysts for purpose 'safeguarding': attribute(s) added: referral_date",
     "release to analysts for purpose 'safeguarding': attribute(s) removed: referral_date"),
    ("retention-lengthened", "health.yaml", _set("retention", "links_days", value=730),
     "retention: links days raised from 365 to 730",
     "retention: links days lowered from 730 to 365"),
    ("epsilon-raised", "agreement.yaml",
     _set("encoding", "hardening", "blip_epsilon", value=3.0),
     "encoding hardening: blip epsilon raised from 1.5 to 3.0",
     "encoding hardening: blip epsilon lowered from 3.0 to 1.5"),
    ("onward-sharing-on", "health.yaml", _set("onward_sharing", value=True),
     "onward sharing turned on (false -> true)", "onward sharing turned off (true -> false)"),
    ("article-9-removed", "social_care.yaml",
     lambda d: [d["lawful_basis"].pop(k) for k in ("article_9",
                                                   "dpa_2018_schedule_1_paragraph")],
     "lawful basis: article 9 removed (was 'g_substantial_public_interest')",
     "lawful basis: article 9 set to 'g_substantial_public_interest' (was not set)"),
    ("salting-removed", "agreement.yaml", lambda d: d["encoding"]["fields"][1].pop("salt_with"),
     "encoding identifier 'family_name': salt with removed (was 'date_of_birth')",
     "encoding identifier 'family_name': salt with set to 'date_of_birth' (was not set)"),
    ("audit-signing-off", "agreement.yaml", _set("audit", "signed", value=False),
     "audit: signed turned off (true -> false)", "audit: signed turned on (false -> true)"),
]


@pytest.mark.parametrize(("file", "change", "widening", "narrowing"),
                         [case[1:] for case in WIDENINGS], ids=[case[0] for case in WIDENINGS])
def test_diff_classifies_widenings_and_their_reverse_as_narrowings(
        tmp_path: Path, file: str, change: Edit, widening: str, narrowing: str) -> None:
    example, edited = _edited(tmp_path, file, change)
    if file == "agreement.yaml" and "signed" in widening:  # the example is unsigned
        example = example.model_copy(update={"audit": example.audit.model_copy(
            update={"signed": True})})
    wider = diff_protocols(example, edited)
    assert any(w.startswith(widening) for w in wider.widenings), wider.changes
    assert not wider.narrowings, wider.narrowings
    assert wider.needs_reapproval
    narrower = diff_protocols(edited, example)
    assert narrowing in narrower.narrowings, narrower.changes
    assert not narrower.widenings, narrower.widenings


def test_diff_decides_direction_by_value_not_by_clause(tmp_path: Path) -> None:
    example, edited = _edited(tmp_path, "agreement.yaml", lambda d: (
        d["disclosure_control"].update(minimum_cell_count=20, rounding_base=10),
        d.update(version="1.5")))
    diff = diff_protocols(example, edited)
    assert diff.narrowings == ("disclosure control: minimum cell count raised from 10 to 20",
                               "disclosure control: rounding base raised from 5 to 10")
    assert diff.widenings == () and diff.edits == ("version changed from '1.4' to '1.5'",)
    assert not diff.version_unchanged and not diff.needs_reapproval


def test_diff_of_whole_agreement_with_a_new_party_that_shares_onward(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    police = {"format_version": 1, "version": "1.0", "partner": "police",
              "organisation": "Police force (example)", "organisation_type": "analyst",
              "roles": ["analyst_recipient"], "lawful_basis": {"article_6": "e_public_task"},
              "contacts": {"data_protection_officer": "dpo@police.example"},
              "retention": {"encodings_days": 1, "links_days": 365,
                            "deletion_method": "Deleted at the end of the project."},
              "onward_sharing": True}
    (agreement.parent / "police.yaml").write_text("{}\n")
    edit_yaml(agreement.parent / "police.yaml", lambda d: d.update(police))
    edit_yaml(agreement, lambda d: (d["parties"].append({"name": "police",
                                                         "protocol": "police.yaml"}),
                                    d.update(version="1.5")))
    edit_yaml(agreement.parent / "social_care.yaml", lambda d: (
        d["releases"].append({"attributes": ["cin_category"], "recipient": "police",
                              "purpose": "safeguarding"}), d.update(version="1.5")))
    diff = diff_agreements(load_agreement(EXAMPLE / "agreement.yaml"), load_agreement(agreement))
    assert "new party 'police' (protocol police.yaml) (one more organisation takes part)" \
           in diff.widenings
    assert "police: onward sharing turned on for a new party (true) (received data may be " \
           "shared onward)" in diff.widenings
    assert "social_care: new release: social_care may release cin_category to police for " \
           "purpose 'safeguarding'" in diff.widenings
    assert not diff.narrowings and not diff.version_unchanged and diff.needs_reapproval


def test_diff_flags_a_new_release_to_a_data_provider(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement.parent / "health.yaml", lambda d: d["releases"].append(
        {"attributes": ["birth_weight_g"], "recipient": "education",
         "purpose": "school_readiness", "to_data_provider": True}))
    diff = diff_agreements(load_agreement(EXAMPLE / "agreement.yaml"), load_agreement(agreement))
    assert diff.widenings == ("health: new release: health may release birth_weight_g to "
                              "education for purpose 'school_readiness' (education is itself a "
                              "data provider: it can attach them to its own named records)",)
    assert diff.version_notes == ("health: version is unchanged (1.0) although the content "
                                  "changed: a changed protocol must carry a new version and be "
                                  "re-approved",)


def test_diff_reviewer_name_change_is_an_edit(tmp_path: Path) -> None:
    example, edited = _edited(tmp_path, "health.yaml", lambda d: (
        d["contacts"].update(caldicott_guardian="Dr A. Reviewer (example)"),
        d.update(version="1.5")))
    diff = diff_protocols(example, edited)
    assert diff.widenings == () and diff.narrowings == ()
    assert "contacts: caldicott guardian changed from 'Caldicott Guardian, Child Health " \
           "(example)' to 'Dr A. Reviewer (example)'" in diff.edits
    assert not diff.version_unchanged and not diff.needs_reapproval


def test_diff_says_when_the_version_did_not_change(tmp_path: Path) -> None:
    example, edited = _edited(tmp_path, "agreement.yaml", _set("title", value="Renamed"))
    diff = diff_protocols(example, edited)
    note = ("version is unchanged (1.4) although the content changed: a changed agreement "
            "must carry a new version and be re-approved")
    assert diff.version_unchanged and diff.version_notes == (note,)
    assert diff.widenings == () and diff.edits  # an edit alone, but the version was kept
    assert diff.needs_reapproval
    assert diff.as_text().startswith(f"WARNING: {note}\n")
    assert describe_changes(example, edited)[0] == note


def test_diff_of_identical_files_is_empty() -> None:
    example = load_model(EXAMPLE / "agreement.yaml", Agreement)
    assert diff_protocols(example, example) == ProtocolDiff()
    assert diff_protocols(example, example).as_text() == "no changes\n"
    assert describe_changes(example, example) == []
