"""Records an IG lead must keep, and lawful-basis coherence (issue #18).

The coherence checks refuse, with file, line and clause, what a reviewer would catch: an
Article 9 condition on the wrong DPA 2018 Schedule 1 paragraph, a paragraph that needs an
appropriate policy document without one, a provider of health or social-care data without an
Article 9 condition, an NHS trust without a Caldicott Guardian, and placeholders where a DPIA
reference or a statutory power belongs. The records of processing (UK GDPR Art. 30) and the
draft privacy notices (Arts 13-14) are generated from the loaded agreement and follow it.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from linkage.cli_records import add_records
from linkage.errors import ProtocolError
from linkage.protocols import Problem, ProtocolProblems, load_agreement
from linkage.protocols.models import (
    ARTICLE_9_PARAGRAPHS,
    NEEDS_POLICY_DOCUMENT,
    is_placeholder,
)
from linkage.protocols.records import privacy_notice, records_of_processing, write_records
from tests.helpers import EXAMPLE, copy_protocols, edit_yaml

Edit = Callable[[dict[str, Any]], Any]
PROVIDERS = ("health", "education", "social_care")
PARTIES = (*PROVIDERS, "linkage_unit", "analysts")


def refused(agreement: Path) -> list[Problem]:
    with pytest.raises(ProtocolProblems) as info:
        load_agreement(agreement)
    return list(info.value.problems)


def line_of(path: Path, start: str) -> int:
    """1-based line of the first line of ``path`` that starts with ``start`` once
    indentation and a list dash are stripped."""
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if text.lstrip(" -").startswith(start))


def edited(tmp_path: Path, edits: dict[str, Edit]) -> Path:
    """A copy of the example agreement folder with ``edits`` (file name -> change)."""
    agreement = copy_protocols(tmp_path)
    for name, change in edits.items():
        edit_yaml(agreement.parent / name, change)
    return agreement


def lawful_basis(**values: Any) -> Edit:
    """Set (a value) or remove (None) clauses of ``lawful_basis``."""
    def change(data: dict[str, Any]) -> None:
        for key, value in values.items():
            if value is None:
                data["lawful_basis"].pop(key, None)
            else:
                data["lawful_basis"][key] = value
    return change


def only_problem(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# ---------------------------------------------------------------------------------------
# Article 9 condition <-> DPA 2018 Schedule 1 paragraph


def test_the_example_agreement_is_coherent() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    assert loaded.agreement.international_transfers == "none"
    assert {c.party for c in loaded.agreement.breach_contacts} == set(PARTIES)
    assert all(p.contacts.privacy_notice_contact for p in loaded.protocols.values())


def test_rules_table_matches_dpa_2018() -> None:
    assert ARTICLE_9_PARAGRAPHS["h_health_or_social_care"] == {2}
    assert ARTICLE_9_PARAGRAPHS["i_public_health"] == {3}
    assert ARTICLE_9_PARAGRAPHS["j_archiving_research_statistics"] == {4}
    assert ARTICLE_9_PARAGRAPHS["g_substantial_public_interest"] == set(range(6, 29))
    assert {6, 18} <= ARTICLE_9_PARAGRAPHS["g_substantial_public_interest"]
    assert NEEDS_POLICY_DOCUMENT & {2, 3, 4} == set()
    assert {1, 6, 18, 28} <= NEEDS_POLICY_DOCUMENT


@pytest.mark.parametrize(("file", "condition", "paragraph", "wanted"), [
    ("health.yaml", "h_health_or_social_care", 18, "rests on Schedule 1 paragraph 2"),
    ("social_care.yaml", "g_substantial_public_interest", 2, "paragraphs 6-28"),
    ("social_care.yaml", "g_substantial_public_interest", 4, "paragraphs 6-28"),
    ("analysts.yaml", "j_archiving_research_statistics", 3, "rests on Schedule 1 paragraph 4"),
    ("health.yaml", "i_public_health", 2, "rests on Schedule 1 paragraph 3"),
    ("health.yaml", "a_explicit_consent", 2, "rests on no Schedule 1 paragraph"),
])
def test_mismatched_article_9_and_schedule_1_is_refused(
        tmp_path: Path, file: str, condition: str, paragraph: int, wanted: str) -> None:
    agreement = edited(tmp_path, {file: lawful_basis(
        article_9=condition, dpa_2018_schedule_1_paragraph=paragraph,
        appropriate_policy_document=True)})
    problem = only_problem(refused(agreement))
    path = agreement.parent / file
    assert (problem.file, problem.line, problem.clause) == (
        path, line_of(path, "dpa_2018_schedule_1_paragraph:"),
        "lawful_basis.dpa_2018_schedule_1_paragraph")
    assert wanted in problem.message
    assert f"{file}:{problem.line}: lawful_basis.dpa_2018_schedule_1_paragraph:" in str(problem)


@pytest.mark.parametrize(("file", "condition", "paragraph"), [
    ("health.yaml", "h_health_or_social_care", 2),
    ("health.yaml", "i_public_health", 3),
    ("social_care.yaml", "g_substantial_public_interest", 6),
    ("social_care.yaml", "g_substantial_public_interest", 18),
    ("analysts.yaml", "j_archiving_research_statistics", 4),
])
def test_matching_article_9_and_schedule_1_is_accepted(
        tmp_path: Path, file: str, condition: str, paragraph: int) -> None:
    agreement = edited(tmp_path, {file: lawful_basis(
        article_9=condition, dpa_2018_schedule_1_paragraph=paragraph,
        appropriate_policy_document=True)})
    basis = load_agreement(agreement).protocols[file.removesuffix(".yaml")].lawful_basis
    assert (basis.article_9, basis.dpa_2018_schedule_1_paragraph) == (condition, paragraph)


def test_a_paragraph_without_an_article_9_condition_is_refused(tmp_path: Path) -> None:
    agreement = edited(tmp_path, {"analysts.yaml": lawful_basis(article_9=None)})
    problem = only_problem(refused(agreement))
    assert problem.clause == "lawful_basis.dpa_2018_schedule_1_paragraph"
    assert "no Article 9 condition" in problem.message


# ---------------------------------------------------------------------------------------
# appropriate policy document


@pytest.mark.parametrize("change", [
    lawful_basis(appropriate_policy_document=False),
    lawful_basis(appropriate_policy_document=None),  # left out: false by default
], ids=["false", "left-out"])
def test_substantial_public_interest_without_policy_document_is_refused(
        tmp_path: Path, change: Edit) -> None:
    agreement = edited(tmp_path, {"social_care.yaml": change})
    problem = only_problem(refused(agreement))
    path = agreement.parent / "social_care.yaml"
    start = "appropriate_policy_document:" if "appropriate_policy_document" in \
        path.read_text() else "lawful_basis:"
    assert (problem.file, problem.line, problem.clause) == (
        path, line_of(path, start), "lawful_basis.appropriate_policy_document")
    assert "Schedule 1 paragraph 18 (safeguarding of children" in problem.message
    assert "appropriate policy document" in problem.message


def test_health_or_social_care_paragraph_needs_no_policy_document(tmp_path: Path) -> None:
    agreement = edited(tmp_path, {"health.yaml": lawful_basis(appropriate_policy_document=False),
                                  "analysts.yaml": lawful_basis(
                                      appropriate_policy_document=False)})
    loaded = load_agreement(agreement)
    assert not loaded.protocols["health"].lawful_basis.appropriate_policy_document
    assert not loaded.protocols["analysts"].lawful_basis.appropriate_policy_document


# ---------------------------------------------------------------------------------------
# a provider of health or social-care data declares an Article 9 condition


def test_nhs_trust_provider_without_article_9_is_refused(tmp_path: Path) -> None:
    agreement = edited(tmp_path, {"health.yaml": lambda d: (
        lawful_basis(article_9=None, dpa_2018_schedule_1_paragraph=None)(d),
        d["data_dictionary"].update(birth_weight_g="attribute", smoking_in_pregnancy="attribute"))})
    problem = only_problem(refused(agreement))
    path = agreement.parent / "health.yaml"
    assert (problem.file, problem.line, problem.clause) == (
        path, line_of(path, "lawful_basis:"), "lawful_basis.article_9")
    assert "as an NHS trust it provides health data" in problem.message
    assert "needs an Article 9 condition" in problem.message


def test_special_category_columns_need_article_9(tmp_path: Path) -> None:
    agreement = edited(tmp_path, {
        "social_care.yaml": lawful_basis(article_9=None, dpa_2018_schedule_1_paragraph=None),
        "education.yaml": lambda d: d["data_dictionary"].update(
            send_need="special_category")})
    problems = {p.file.name: p for p in refused(agreement)}
    assert set(problems) == {"social_care.yaml", "education.yaml"}
    assert "classifies cin_category as special_category" in problems["social_care.yaml"].message
    assert "classifies send_need as special_category" in problems["education.yaml"].message
    assert all(p.clause == "lawful_basis.article_9" and p.line for p in problems.values())


def test_a_provider_without_health_or_care_data_needs_no_article_9() -> None:
    education = load_agreement(EXAMPLE / "agreement.yaml").protocols["education"]
    assert education.organisation_type == "local_authority"
    assert education.lawful_basis.article_9 is None


# ---------------------------------------------------------------------------------------
# an NHS trust names its Caldicott Guardian


@pytest.mark.parametrize("guardian", [None, "TBC", "n/a"])
def test_nhs_trust_without_caldicott_guardian_is_refused(tmp_path: Path,
                                                         guardian: str | None) -> None:
    def change(data: dict[str, Any]) -> None:
        if guardian is None:
            data["contacts"].pop("caldicott_guardian")
        else:
            data["contacts"]["caldicott_guardian"] = guardian

    agreement = edited(tmp_path, {"health.yaml": change})
    problem = only_problem(refused(agreement))
    path = agreement.parent / "health.yaml"
    start = "caldicott_guardian:" if guardian else "contacts:"
    assert (problem.file, problem.line, problem.clause) == (
        path, line_of(path, start), "contacts.caldicott_guardian")
    assert "NHS organisation" in problem.message and "Caldicott Guardian" in problem.message


def test_a_local_authority_may_leave_out_the_caldicott_guardian() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    assert loaded.protocols["education"].contacts.caldicott_guardian is None
    assert loaded.protocols["health"].contacts.caldicott_guardian


# ---------------------------------------------------------------------------------------
# real references, not placeholders


@pytest.mark.parametrize("value", ["n/a", "N/A", "na", "none", "TBC", "tbd", "-", "todo",
                                   "XXX", "  ", "?"])
def test_placeholder_dpia_reference_is_refused(tmp_path: Path, value: str) -> None:
    agreement = edited(tmp_path, {"agreement.yaml": lambda d: d.update(dpia_reference=value)})
    problem = only_problem(refused(agreement))
    assert (problem.file, problem.line, problem.clause) == (
        agreement, line_of(agreement, "dpia_reference:"), "dpia_reference")
    assert "placeholder" in problem.message and "DPIA" in problem.message


def test_placeholder_legal_power_is_refused(tmp_path: Path) -> None:
    agreement = edited(tmp_path, {"agreement.yaml": lambda d: d.update(
        legal_powers=["Children Act 2004 s.10", "tbc"])})
    problem = only_problem(refused(agreement))
    assert (problem.file, problem.line, problem.clause) == (
        agreement, line_of(agreement, "tbc"), "legal_powers[1]")
    assert "not a statutory power" in problem.message


def test_only_tbc_as_legal_power_is_refused(tmp_path: Path) -> None:
    agreement = edited(tmp_path, {"agreement.yaml": lambda d: d.update(legal_powers=["tbc"])})
    assert only_problem(refused(agreement)).clause == "legal_powers[0]"


def test_real_references_are_not_placeholders() -> None:
    for text in ("DPIA-2026-014", "Children Act 2004 s.10", "Nonesuch Act 1999 s.1", "NA-17"):
        assert not is_placeholder(text), text
    for text in ("n/a", "N.A.", "T.B.C.", "to do", "xx", "---", "", "None", "TBA"):
        assert is_placeholder(text), text


# ---------------------------------------------------------------------------------------
# the new agreement clauses


@pytest.mark.parametrize(("change", "clause", "message"), [
    (lambda d: d.update(international_transfers="Backups kept in the USA"),
     "international_transfers", "not its safeguard"),
    (lambda d: d.update(international_transfers="tbc"), "international_transfers",
     "placeholder"),
    (lambda d: d.update(storage_location="TBD"), "storage_location", "placeholder"),
    (lambda d: d["breach_contacts"].append({"party": "police", "name": "A", "role": "DPO",
                                            "email": "dpo@police.example"}),
     "breach_contacts", "police, not a party"),
    (lambda d: d["breach_contacts"].append({"name": "A", "role": "DPO", "email": "nobody"}),
     "breach_contacts[5].email", "should match pattern"),
])
def test_new_agreement_clauses_are_checked(tmp_path: Path, change: Edit, clause: str,
                                           message: str) -> None:
    agreement = edited(tmp_path, {"agreement.yaml": change})
    problem = only_problem(refused(agreement))
    assert (problem.file, problem.clause) == (agreement, clause) and problem.line
    assert message in problem.message


def test_a_transfer_naming_its_safeguard_is_accepted(tmp_path: Path) -> None:
    text = "Backups in Ireland, under the UK adequacy regulations for the EEA"
    agreement = edited(tmp_path, {"agreement.yaml": lambda d: (
        d.update(international_transfers=text), d.pop("storage_location"),
        d["breach_contacts"].append({"name": "Project breach lead", "role": "SIRO",
                                     "email": "breach@linkage.example.org"}))})
    loaded = load_agreement(agreement)
    record = records_of_processing(loaded)["health"]
    assert text in "\n".join(record.item("international_transfers").lines)
    assert "Project breach lead, SIRO: breach@linkage.example.org (for every party)." in \
        record.item("breach_contacts").lines


# ---------------------------------------------------------------------------------------
# records of processing (UK GDPR Art. 30)


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(), newline="")))


def test_records_of_processing_one_markdown_and_one_csv_per_party(tmp_path: Path) -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    written = write_records(loaded, tmp_path / "records")
    names = sorted(p.name for p in (tmp_path / "records").iterdir())
    assert names == sorted(p.name for p in written)  # nothing else (no temporaries) left
    for party in PARTIES:
        assert f"{party}.record-of-processing.md" in names
        assert f"{party}.record-of-processing.csv" in names
    assert sorted(n for n in names if n.endswith("privacy-notice.md")) == sorted(
        f"{p}.privacy-notice.md" for p in PROVIDERS)
    records = records_of_processing(loaded)
    for party in PARTIES:
        markdown = (tmp_path / "records" / f"{party}.record-of-processing.md").read_text()
        assert markdown == records[party].as_markdown()
        for purpose in loaded.agreement.purposes:
            assert purpose.description in markdown
        rows = read_csv(tmp_path / "records" / f"{party}.record-of-processing.csv")
        assert len(rows) == len(records[party].items)  # one row per party per item
        assert {r["party"] for r in rows} == {party}
        assert len({r["item"] for r in rows}) == len(rows)
        by_item = {r["item"]: r for r in rows}
        assert by_item["Purposes of the processing"]["article"] == "UK GDPR Art. 30(1)(b)"
        retention = loaded.protocols[party].retention
        erasure = by_item["Time limits for erasure"]["value"]
        assert f"deleted after {retention.links_days} days" in erasure
        assert retention.deletion_method in erasure
        assert "keyed Bloom filters" in by_item[
            "Technical and organisational security measures"]["value"]


def test_records_name_recipients_from_the_release_clauses() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    records = records_of_processing(loaded)
    health = "\n".join(records["health"].item("recipients").lines)
    assert "Public Health Intelligence Team (example) (analysts): link keys with " \
           "birth_weight_g, smoking_in_pregnancy, for purpose `school_readiness`" in health
    assert "Regional Linkage Unit (example) (linkage_unit), the linkage unit" in health
    unit = "\n".join(records["linkage_unit"].item("recipients").lines)
    assert all(loaded.protocols[p].organisation in unit for p in PROVIDERS)
    received = "\n".join(records["analysts"].item("personal_data").lines)
    assert "cin_category, for purpose `safeguarding` (special category: cin_category)" in \
        received
    security = "\n".join(records["analysts"].item("security").lines)
    assert "BLIP, epsilon 1.5" in security and "hash-chained audit log" in security
    assert "Separation of functions" in security


def test_records_change_when_the_agreement_changes(tmp_path: Path) -> None:
    agreement = edited(tmp_path, {
        "agreement.yaml": lambda d: d["purposes"][2].update(
            description="Count children known to both health visiting and social care."),
        "health.yaml": lambda d: (d["retention"].update(links_days=200),
                                  d["releases"][0].update(purpose="safeguarding"))})
    out = tmp_path / "records"
    write_records(load_agreement(agreement), out)
    rows = {r["item"]: r["value"] for r in read_csv(out / "health.record-of-processing.csv")}
    assert "Count children known to both health visiting and social care." in \
        rows["Purposes of the processing"]
    assert "Plan safeguarding services" not in rows["Purposes of the processing"]
    assert "Link keys: deleted after 200 days." in rows["Time limits for erasure"]
    assert "for purpose `safeguarding`" in rows["Categories of recipients"]
    before = records_of_processing(load_agreement(EXAMPLE / "agreement.yaml"))["health"]
    assert "Link keys: deleted after 365 days." in before.item("retention").lines


def test_csv_cells_never_start_a_spreadsheet_formula(tmp_path: Path) -> None:
    agreement = edited(tmp_path, {"health.yaml": lambda d: d["contacts"].update(
        data_protection_officer="=HYPERLINK(\"http://x.example\")")})
    record = records_of_processing(load_agreement(agreement))["health"]
    rows = list(csv.DictReader(io.StringIO(record.as_csv())))
    dpo = next(r for r in rows if r["item"] == "Data Protection Officer")
    assert not dpo["value"].startswith("=")


# ---------------------------------------------------------------------------------------
# privacy notices (UK GDPR Arts 13-14)


def test_privacy_notice_names_basis_recipients_retention_rights_and_the_ico() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    notice = privacy_notice(loaded, "health")
    for expected in ("UK GDPR Art. 6(1)(e)", "UK GDPR Art. 9(2)(h)",
                     "DPA 2018 Schedule 1 paragraph 2 (health or social care purposes)",
                     "Digital Economy Act 2017 s.35",
                     "Regional Linkage Unit (example) (the linkage unit) receives only these "
                     "codes",
                     "Public Health Intelligence Team (example) receives birth weight g, "
                     "smoking in pregnancy",
                     "deleted after 90 days and the link keys after 365 days",
                     "Public Health Intelligence Team (example) keeps what it receives for at "
                     "most 730 days",
                     "Art. 15", "Art. 16", "Art. 17", "Art. 18", "Art. 21",
                     "Information Commissioner's Office (ICO)", "https://ico.org.uk",
                     "Our Data Protection Officer: dpo@health.example.nhs.uk",
                     "Our Caldicott Guardian", "From our own records about you",
                     "Your information is not sent outside the UK."):
        assert expected in notice, expected
    assert "National Data Opt-out" not in notice  # the example agreement does not apply it
    for purpose in loaded.agreement.purposes:
        assert purpose.description in notice
    social_care = privacy_notice(loaded, "social_care")
    assert "Schedule 1 paragraph 18 (safeguarding of children" in social_care
    assert "cin category is special category information" in social_care


def test_privacy_notice_follows_the_opt_outs_and_the_basis(tmp_path: Path) -> None:
    agreement = edited(tmp_path, {
        "agreement.yaml": lambda d: d.update(opt_outs={"applies": ["national_data_opt_out"]}),
        "education.yaml": lawful_basis(article_6="c_legal_obligation")})
    loaded = load_agreement(agreement)
    health = privacy_notice(loaded, "health")
    assert "National Data Opt-out" in health
    education = privacy_notice(loaded, "education")
    assert "UK GDPR Art. 6(1)(c)" in education
    assert "Art. 21" not in education  # no right to object to a legal obligation
    assert "Art. 17(3)(b)" in education


def test_privacy_notice_is_for_data_providers_only() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    with pytest.raises(ProtocolError, match="not a data provider"):
        privacy_notice(loaded, "analysts")
    with pytest.raises(ProtocolError, match="not a party"):
        privacy_notice(loaded, "nobody")


# ---------------------------------------------------------------------------------------
# the command (registered through linkage.cli_records.add_records)


def parser() -> argparse.ArgumentParser:
    """A tiny parser with ``protocol records-of-processing``, as cli_governance wires it."""
    top = argparse.ArgumentParser(prog="linkage")
    sub = top.add_subparsers(dest="command", required=True)
    protocol = sub.add_parser("protocol")
    inner = protocol.add_subparsers(dest="protocol_command", required=True)
    add_records(inner)
    return top


def test_records_command_writes_every_file(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["protocol", "records-of-processing",
                                str(EXAMPLE / "agreement.yaml"), "--out",
                                str(tmp_path / "out")])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert out.count("wrote ") == 2 * len(PARTIES) + len(PROVIDERS)
    assert (tmp_path / "out" / "health.privacy-notice.md").read_text() == privacy_notice(
        load_agreement(EXAMPLE / "agreement.yaml"), "health")


def test_records_command_needs_out_and_refuses_a_bad_agreement(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["protocol", "records-of-processing",
                             str(EXAMPLE / "agreement.yaml")])
    agreement = edited(tmp_path, {"agreement.yaml": lambda d: d.update(dpia_reference="n/a")})
    args = parser().parse_args(["protocol", "records-of-processing", str(agreement),
                                "--out", str(tmp_path / "out")])
    with pytest.raises(ProtocolProblems, match="dpia_reference"):
        args.handler(args)
    assert not (tmp_path / "out").exists()
