"""Hostile or careless protocol files are refused with one clear line per problem (issue #14).

Each class of bad file (repeated clause, anchors and aliases, oversized file, party file
outside the agreement's folder, impossible date, anything YAML cannot build) must raise
``ProtocolProblems`` naming the file, the line and the clause, never a traceback, and
never echo a value from the file.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.errors import LinkageError, ProtocolError
from linkage.protocols import (
    Agreement,
    PartnerProtocol,
    ProtocolProblems,
    load_agreement,
    load_model,
)
from linkage.protocols.loading import MAX_PROTOCOL_BYTES, Problem, _marks, read_yaml_document

from ..helpers import EXAMPLE, copy_protocols, edit_yaml

LAUGHS = "lol: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))


def refused(call: Callable[[], object]) -> ProtocolProblems:
    """The ProtocolProblems raised by ``call``, checked to hold one line per problem."""
    with pytest.raises(ProtocolProblems) as info:
        call()
    error = info.value
    assert isinstance(error, ProtocolError) and isinstance(error, LinkageError)
    assert error.problems
    assert len(str(error).splitlines()) == 1 + len(error.problems)
    assert all("\n" not in str(problem) for problem in error.problems)
    return error


def problem_at(error: ProtocolProblems, file: Path, line: int, clause: str) -> Problem:
    """The one problem of ``error`` at ``file:line`` in ``clause``, as printed."""
    found = [p for p in error.problems if p.file == file and p.line == line and
             p.clause == clause]
    assert len(found) == 1, str(error)
    assert f"{file}:{line}: {clause}:" in str(error)
    return found[0]


def line_of(path: Path, start: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line of ``path`` starting with ``start``."""
    lines = [i for i, text in enumerate(path.read_text().splitlines(), 1)
             if text.startswith(start)]
    return lines[occurrence - 1]


def test_example_reads_the_same_through_the_safe_reader() -> None:
    data, marks = read_yaml_document(EXAMPLE / "agreement.yaml")
    assert data == yaml.safe_load((EXAMPLE / "agreement.yaml").read_text())
    assert marks[("expiry_date",)] == line_of(EXAMPLE / "agreement.yaml", "expiry_date:")
    assert set(load_agreement(EXAMPLE / "agreement.yaml").protocols) == {
        "health", "education", "social_care", "linkage_unit", "analysts"}


@pytest.mark.parametrize(("file", "addition", "clause", "start"), [
    ("agreement.yaml", "expiry_date: 2099-12-31\n", "expiry_date", "expiry_date:"),
    ("health.yaml", "releases:\n  - {attributes: [birth_weight_g], recipient: analysts, "
     "purpose: safeguarding}\n", "releases", "releases:"),
    ("health.yaml", "", "lawful_basis.article_6", "  article_6:"),
])
def test_repeated_clause_is_refused(tmp_path: Path, file: str, addition: str, clause: str,
                                    start: str) -> None:
    agreement = copy_protocols(tmp_path)
    target = agreement.parent / file
    text = target.read_text()
    if not addition:  # repeat a nested clause in place
        text = text.replace("  article_6: e_public_task\n",
                            "  article_6: e_public_task\n  article_6: f_legitimate_interests\n")
    target.write_text(text + addition)
    error = refused(lambda: load_agreement(agreement))
    problem = problem_at(error, target, line_of(target, start, 2), clause)
    assert f"first on line {line_of(target, start)}" in problem.message
    assert "a reviewed file may not repeat a clause" in problem.message
    assert "2099" not in str(error) and "f_legitimate" not in str(error)


def test_billion_laughs_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    for call in (lambda: load_agreement(path), lambda: load_model(path, PartnerProtocol)):
        error = refused(call)
        problem = problem_at(error, path, 1, "lol")
        assert "YAML anchors and aliases are not allowed in protocol files" in problem.message
    marks = _marks(yaml.compose(LAUGHS))  # each alias node is walked once, not 9**9 times
    assert len(marks) < 200


def test_single_alias_is_refused_with_its_clause(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    text = agreement.read_text().replace("start_date: 2026-04-01", "start_date: &s 2026-04-01")
    agreement.write_text(text.replace("review_date: 2027-03-31", "review_date: *s"))
    error = refused(lambda: load_agreement(agreement))
    problem_at(error, agreement, line_of(agreement, "start_date:"), "start_date")


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    padding = "# padding\n" * (MAX_PROTOCOL_BYTES // 10 + 1)
    agreement.write_text(agreement.read_text() + padding)
    error = refused(lambda: load_agreement(agreement))
    [problem] = error.problems
    assert problem.file == agreement and problem.clause == "" and problem.line is None
    assert f"{agreement}: is larger than {MAX_PROTOCOL_BYTES // 1024} KiB" in str(error)


@pytest.mark.parametrize("protocol", ["../outside.yaml", "sub/../../outside.yaml",
                                      "ABSOLUTE", "escape.yaml"])
def test_party_protocol_outside_the_agreement_folder_is_refused(tmp_path: Path,
                                                                protocol: str) -> None:
    agreement = copy_protocols(tmp_path)
    outside = tmp_path / "outside.yaml"
    shutil.copy(agreement.parent / "education.yaml", outside)
    (agreement.parent / "escape.yaml").symlink_to(outside)
    (agreement.parent / "sub").mkdir()
    protocol = str(outside) if protocol == "ABSOLUTE" else protocol
    edit_yaml(agreement, lambda d: d["parties"][1].update(protocol=protocol))
    error = refused(lambda: load_agreement(agreement))
    problem = problem_at(error, agreement, line_of(agreement, "- name: education") + 1,
                         "parties[1].protocol")
    assert "points outside the agreement's folder" in problem.message
    assert "outside.yaml" not in str(error)


def test_party_protocol_in_a_linked_or_sub_folder_is_accepted(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    (agreement.parent / "parties").mkdir()
    shutil.move(agreement.parent / "health.yaml", agreement.parent / "parties" / "health.yaml")
    edit_yaml(agreement, lambda d: d["parties"][0].update(protocol="parties/../parties/"
                                                          "health.yaml"))
    link = tmp_path / "link"
    link.symlink_to(agreement.parent)
    loaded = load_agreement(link / "agreement.yaml")
    assert loaded.protocol_paths["health"] == agreement.parent / "parties" / "health.yaml"


def test_impossible_date_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    agreement = copy_protocols(tmp_path)
    text = agreement.read_text().replace("expiry_date: 2029-03-31", "expiry_date: 2029-02-30")
    agreement.write_text(text)
    error = refused(lambda: load_agreement(agreement))
    problem = problem_at(error, agreement, line_of(agreement, "expiry_date:"), "expiry_date")
    assert "is not a real date" in problem.message
    assert "2029" not in str(error)


@pytest.mark.parametrize(("content", "line", "clause", "words"), [
    (b"partner: !!python/object/apply:os.system [echo owned]\n", 1, "partner", "YAML tag"),
    (b"lawful_basis:\n  article_6: !!binary aGVsbG8=\n", 2, "lawful_basis.article_6",
     "YAML tag"),
    (b"version: 1\n<<: {partner: x}\n", 2, "", "merge keys"),
    (b"retention:\n  encodings_days: !!int 12abc\n", 2, "retention.encodings_days",
     "cannot be read as a whole number"),
    (b"? [a, b]\n: 1\n", 1, "", "a clause name must be plain text"),
    (b"a: " + b"[" * 100 + b"]" * 100 + b"\n", 1, None, "nested more than"),
    (b"partner: x\n\xff\xfeowned\n", None, "", "is not UTF-8 text"),
    (bytes(range(1, 32)) * 4, None, "", "not valid YAML"),
    (b"- owned\n- list\n", 1, "", "expected a mapping of clauses"),
    (b"owned: [\n", 2, "", "not valid YAML"),
    (b"", 1, "", "expected a mapping of clauses"),
    (b"a: 1\n---\nb: 2\n", 2, "", "not valid YAML"),
])
def test_anything_yaml_cannot_build_is_one_clear_problem(
        tmp_path: Path, content: bytes, line: int | None, clause: str | None,
        words: str) -> None:
    path = tmp_path / "protocol.yaml"
    path.write_bytes(content)
    error = refused(lambda: load_model(path, PartnerProtocol))
    [problem] = error.problems
    assert problem.file == path and problem.line == line and words in problem.message
    assert clause is None or problem.clause == clause
    assert str(error).splitlines()[1].startswith(f"  - {path}")
    assert "owned" not in str(error) and "os.system" not in str(error)


@pytest.mark.parametrize(("name", "words"), [
    ("", "is not a regular file (a folder or a device?)"),
    ("missing.yaml", "file not found"),
])
def test_folder_and_missing_file_are_problems(tmp_path: Path, name: str, words: str) -> None:
    path = tmp_path / name
    error = refused(lambda: load_model(path, Agreement))
    assert str(error).splitlines()[1] == f"  - {path}: {words}"


def test_unprintable_clause_name_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "protocol.yaml"
    path.write_text('"owned\\nline": 1\n')
    error = refused(lambda: load_model(path, PartnerProtocol))
    assert "owned" not in str(error) and "<unreadable clause name>" in str(error)


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=12), st.dates(), st.sampled_from(
                         ["health.yaml", "../x.yaml", "/etc/hostname", ".", "", "fuzz.yaml"]))
_TREES = st.recursive(_SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.sampled_from(
        ["parties", "name", "protocol", "expiry_date", "encoding", "partner"])), children,
        max_size=5)), max_leaves=25)
_PARTY = st.fixed_dictionaries({"name": _SCALARS, "protocol": _SCALARS})
_AGREEMENTS = st.builds(lambda parties, extra: {**extra, "parties": parties},
                        st.lists(_PARTY, max_size=3), st.dictionaries(st.text(max_size=8),
                                                                      _TREES, max_size=3))
def _spliced(args: tuple[str, int, bytes]) -> bytes:
    """An example file with random bytes written over it at ``offset``."""
    name, offset, noise = args
    text = (EXAMPLE / name).read_bytes()
    offset %= len(text)
    return text[:offset] + noise + text[offset + len(noise):]


_DOCUMENTS = st.one_of(
    st.binary(max_size=300),
    _TREES.map(lambda tree: yaml.safe_dump(tree).encode()),
    _AGREEMENTS.map(lambda tree: yaml.safe_dump(tree).encode()),
    st.tuples(st.sampled_from(["agreement.yaml", "health.yaml"]), st.integers(0, 4000),
              st.binary(max_size=20)).map(_spliced),
)


@pytest.fixture(scope="module")
def fuzz_folder() -> Iterator[Path]:
    """A copy of the example agreement folder that the property test writes into."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "protocols"
        shutil.copytree(EXAMPLE, target)
        yield target


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(content=_DOCUMENTS)
def test_any_file_raises_only_linkage_errors(fuzz_folder: Path, content: bytes) -> None:
    path = fuzz_folder / "fuzz.yaml"
    path.write_bytes(content)
    for call in (lambda: load_agreement(path), lambda: load_model(path, PartnerProtocol),
                 lambda: read_yaml_document(path)):
        try:
            call()
        except LinkageError:
            pass
        except Exception as error:  # anything else is the bug this test looks for
            raise AssertionError(f"{type(error).__name__} escaped for {content!r}") from error


def test_dates_and_values_survive_a_safe_read(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("a: 2029-03-31\nb: [1, 2.5, true, null, text]\nc: {d: '2029-02-30'}\n")
    data, marks = read_yaml_document(path)
    assert data == {"a": dt.date(2029, 3, 31), "b": [1, 2.5, True, None, "text"],
                    "c": {"d": "2029-02-30"}}
    assert marks[("c", "d")] == 3
