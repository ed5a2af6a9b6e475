"""A data dictionary per partner, and releases only to recipients (issue #15).

Each data provider classifies every column of its extract; identifiers (encoded or not)
are never released, a released column must be classified as an attribute, a release goes
only to an analyst recipient (to a data provider only when the clause says so, never to the
linkage unit), and small counts are suppressed below at least 5. Each rule is checked when
the protocols are loaded and again when a release is made.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from linkage.errors import ProtocolError
from linkage.protocols import (
    LoadedAgreement,
    Problem,
    ProtocolProblems,
    Release,
    load_agreement,
)
from linkage.protocols.enforcement import authorise_release
from linkage.protocols.models import ColumnClass
from linkage.synth.extracts import EXTRACT_COLUMNS
from tests.helpers import EXAMPLE, copy_protocols, edit_yaml


def refused(agreement: Path) -> list[Problem]:
    with pytest.raises(ProtocolProblems) as info:
        load_agreement(agreement)
    return list(info.value.problems)


def line_of(path: Path, start: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line of ``path`` that starts with ``start``
    once indented."""
    lines = [i for i, text in enumerate(path.read_text().splitlines(), 1)
             if text.lstrip(" -").startswith(start)]
    return lines[occurrence - 1]


def with_releases(loaded: LoadedAgreement, partner: str, *releases: Release,
                  **update: Any) -> LoadedAgreement:
    """``loaded`` with ``partner``'s protocol changed without validation: what a release
    step would see if loading had been bypassed (defence in depth)."""
    protocol = loaded.protocols[partner].model_copy(update={"releases": releases, **update})
    return dataclasses.replace(loaded, protocols={**loaded.protocols, partner: protocol})


def add_release(**release: Any) -> Any:
    return lambda d: d["releases"].append(release)


# ---------------------------------------------------------------------------------------
# the example protocols


def test_example_dictionaries_classify_every_column_of_the_synthetic_extracts() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    for partner, columns in EXTRACT_COLUMNS.items():
        dictionary = loaded.protocol(partner).data_dictionary
        assert list(dictionary) == list(columns), partner
    education = loaded.protocol("education").data_dictionary
    assert education["upn"] == education["preferred_name"] == ColumnClass.DIRECT_IDENTIFIER
    assert loaded.protocol("health").data_dictionary["birth_weight_g"] == \
        ColumnClass.SPECIAL_CATEGORY


# ---------------------------------------------------------------------------------------
# unencoded direct identifiers


@pytest.mark.parametrize("column", ["upn", "preferred_name"])
def test_releasing_an_unencoded_direct_identifier_is_refused_at_load(
        tmp_path: Path, column: str) -> None:
    agreement = copy_protocols(tmp_path)
    education = agreement.parent / "education.yaml"
    edit_yaml(education, lambda d: d["releases"][0]["attributes"].append(column))
    [problem] = refused(agreement)
    assert problem.file == education and problem.clause == "releases"
    assert problem.line == line_of(education, "releases:")
    assert problem.message == (f"releases[0].attributes lists '{column}', which is classified "
                               f"direct_identifier in data_dictionary: an identifier may never "
                               f"be released")


@pytest.mark.parametrize("column", ["upn", "preferred_name"])
def test_releasing_an_unencoded_direct_identifier_is_refused_at_release(column: str) -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    where = loaded.protocol_paths["education"]
    message = (f"{where}: data_dictionary.{column}: {column} may not be released: it is "
               f"classified direct_identifier")
    # asked for, though no clause lists it
    with pytest.raises(ProtocolError, match=message):
        authorise_release(loaded, "education", "analysts", attributes=[column])
    # listed by a clause that loading would have refused: still never released
    listed = with_releases(loaded, "education", Release(
        attributes=("good_level_of_development", column), recipient="analysts",
        purpose="school_readiness"))
    with pytest.raises(ProtocolError, match=message):
        authorise_release(listed, "education", "analysts")
    with pytest.raises(ProtocolError, match=message):
        authorise_release(listed, "education", "analysts", attributes=[column])


def test_encoded_identifiers_and_the_record_id_are_never_released() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    where = loaded.protocol_paths["health"]
    listed = with_releases(loaded, "health", Release(
        attributes=("record_id", "nhs_number"), recipient="analysts",
        purpose="school_readiness"), data_dictionary={})
    with pytest.raises(ProtocolError, match=f"{where}: record_id_column: record_id may not be "
                                            f"released: it is the record id"):
        authorise_release(listed, "health", "analysts")
    with pytest.raises(ProtocolError, match=f"{where}: identifiers.nhs_number: nhs_number may "
                                            f"not be released: it is an encoded identifier"):
        authorise_release(listed, "health", "analysts", attributes=["nhs_number"])


# ---------------------------------------------------------------------------------------
# unclassified columns


def test_an_unclassified_released_column_is_refused_at_load(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    health = agreement.parent / "health.yaml"
    edit_yaml(health, lambda d: d["releases"][0]["attributes"].append("apgar_score"))
    [problem] = refused(agreement)
    assert (problem.file, problem.line, problem.clause) == (
        health, line_of(health, "releases:"), "releases")
    assert problem.message == ("releases[0].attributes lists 'apgar_score', which is not "
                               "classified in data_dictionary (classify it before releasing "
                               "it)")


def test_an_unclassified_released_column_is_refused_at_release() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    listed = with_releases(loaded, "health", Release(
        attributes=("birth_weight_g", "apgar_score"), recipient="analysts",
        purpose="school_readiness"))
    with pytest.raises(ProtocolError, match=f"{loaded.protocol_paths['health']}: "
                                            f"data_dictionary: apgar_score may not be "
                                            f"released: the data dictionary does not "
                                            f"classify it"):
        authorise_release(listed, "health", "analysts")


def test_a_partner_that_releases_needs_a_data_dictionary(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    health = agreement.parent / "health.yaml"
    edit_yaml(health, lambda d: d.pop("data_dictionary"))
    [problem] = refused(agreement)
    assert (problem.file, problem.clause) == (health, "releases")
    assert "must classify every column of its extract under data_dictionary" in \
        problem.message


# ---------------------------------------------------------------------------------------
# identifiers must be classified as identifiers


def test_a_mapped_identifier_classified_as_an_attribute_is_refused(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    health = agreement.parent / "health.yaml"
    edit_yaml(health, lambda d: d["data_dictionary"].update(postcode="attribute",
                                                            record_id="special_category"))
    problems = refused(agreement)
    assert [(p.file, p.line, p.clause) for p in problems] == [
        (health, line_of(health, "record_id_column:"), "record_id_column"),
        (health, line_of(health, "identifiers:"), "identifiers")]
    assert problems[0].message.startswith("the record id column 'record_id' is classified "
                                          "special_category in data_dictionary")
    assert problems[1].message.startswith("identifiers.postcode reads column 'postcode', "
                                          "which is classified attribute in data_dictionary")
    assert "must be direct_identifier or quasi_identifier" in problems[1].message


def test_a_mapped_identifier_missing_from_the_dictionary_is_refused(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    health = agreement.parent / "health.yaml"
    edit_yaml(health, lambda d: d["identifiers"].update(postcode="home_postcode"))
    [problem] = refused(agreement)
    assert (problem.file, problem.clause) == (health, "identifiers")
    assert "column 'home_postcode', which is not classified in data_dictionary" in \
        problem.message


# ---------------------------------------------------------------------------------------
# recipients


def test_a_release_to_a_data_provider_needs_to_data_provider(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    health = agreement.parent / "health.yaml"
    edit_yaml(health, add_release(attributes=["birth_weight_g"], recipient="education",
                                  purpose="school_readiness"))
    [problem] = refused(agreement)
    assert (problem.file, problem.clause) == (health, "releases[1].recipient")
    assert problem.line == line_of(health, "recipient: education")
    assert problem.message.startswith(f"'education' is a data provider "
                                      f"({agreement.parent / 'education.yaml'}: roles)")
    assert "to_data_provider: true" in problem.message


def test_a_release_to_a_data_provider_that_says_so_is_accepted(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement.parent / "health.yaml", add_release(
        attributes=["birth_weight_g"], recipient="education", purpose="school_readiness",
        to_data_provider=True))
    loaded = load_agreement(agreement)
    assert loaded.protocol("health").releases[1].to_data_provider
    assert authorise_release(loaded, "health", "education") == (
        "school_readiness", ["birth_weight_g"])


def test_a_release_to_a_data_provider_is_refused_at_release_without_the_flag() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    unflagged = with_releases(loaded, "health", Release(
        attributes=("birth_weight_g",), recipient="education", purpose="school_readiness"))
    with pytest.raises(ProtocolError, match=f"{loaded.protocol_paths['health']}: "
                                            f"releases\\[0\\].to_data_provider: 'education' "
                                            f"is a data provider"):
        authorise_release(unflagged, "health", "education")


def test_to_data_provider_on_a_release_to_an_analyst_is_refused(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    health = agreement.parent / "health.yaml"
    edit_yaml(health, lambda d: d["releases"][0].update(to_data_provider=True))
    [problem] = refused(agreement)
    assert (problem.file, problem.line, problem.clause) == (
        health, line_of(health, "to_data_provider:"), "releases[0].to_data_provider")
    assert problem.message == "is true but 'analysts' is not a data provider (remove it)"


@pytest.mark.parametrize("flag", [False, True])
def test_a_release_to_the_linkage_unit_is_refused(tmp_path: Path, flag: bool) -> None:
    agreement = copy_protocols(tmp_path)
    health = agreement.parent / "health.yaml"
    edit_yaml(health, add_release(attributes=["birth_weight_g"], recipient="linkage_unit",
                                  purpose="school_readiness", to_data_provider=flag))
    [problem] = refused(agreement)
    assert (problem.file, problem.line, problem.clause) == (
        health, line_of(health, "recipient: linkage_unit"), "releases[1].recipient")
    assert problem.message.startswith("'linkage_unit' is the linkage unit, which may never "
                                      "receive a release")


def test_a_release_to_the_linkage_unit_is_refused_at_release() -> None:
    loaded = load_agreement(EXAMPLE / "agreement.yaml")
    to_unit = with_releases(loaded, "health", Release(
        attributes=("birth_weight_g",), recipient="linkage_unit", purpose="school_readiness",
        to_data_provider=True))
    with pytest.raises(ProtocolError, match=f"{loaded.protocol_paths['health']}: releases: "
                                            f"'linkage_unit' is the linkage unit "
                                            f"\\({loaded.path}: linkage_unit\\)"):
        authorise_release(to_unit, "health", "linkage_unit")


# ---------------------------------------------------------------------------------------
# disclosure control


@pytest.mark.parametrize("count", [1, 4])
def test_minimum_cell_count_below_five_is_refused(tmp_path: Path, count: int) -> None:
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement, lambda d: d["disclosure_control"].update(minimum_cell_count=count))
    [problem] = refused(agreement)
    assert (problem.file, problem.line, problem.clause) == (
        agreement, line_of(agreement, "minimum_cell_count:"),
        "disclosure_control.minimum_cell_count")
    assert "greater than or equal to 5" in problem.message


def test_minimum_cell_count_of_five_is_accepted(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    edit_yaml(agreement, lambda d: d["disclosure_control"].update(minimum_cell_count=5))
    assert load_agreement(agreement).agreement.disclosure_control.minimum_cell_count == 5
