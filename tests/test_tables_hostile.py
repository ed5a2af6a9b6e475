"""Hostile and careless extracts (issue #14): every one is refused with one line naming
the file (and the row and column where that helps), and no value read from the file
ever appears in the message."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage import tables
from linkage.errors import InputDataError
from linkage.tables import MAX_VALUE_CHARS, read_table

REQUIRED = ["record_id", "given_name"]
#: Values no message may contain: a record id, an NHS number, names, a postcode, a date.
SECRETS = ["H2568ce13a2", "9434765919", "Zebedee", "Evelyn", "LS4 6GE", "2021-03-04"]
HEADER = "record_id,nhs_number,given_name,family_name,postcode,date_of_birth\n"
RECORD = "H2568ce13a2,9434765919,Zebedee,Evelyn,LS4 6GE,2021-03-04\n"


def refused(path: Path, required: Iterable[str] = REQUIRED, secrets: Iterable[str] = SECRETS,
            **options: int) -> str:
    """Read ``path`` expecting a refusal; check the message is one line, names the file,
    quotes none of ``secrets`` and chains no other exception (whose text a traceback
    would show). Returns the message without the path."""
    with pytest.raises(InputDataError) as info:
        read_table(path, list(required), **options)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__context__ is None
    for secret in secrets:
        assert secret not in message, (secret, message)
    return message[len(f"{path}: "):]


def write(tmp_path: Path, content: str | bytes, name: str = "extract.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


# 1. Personal data in messages: a file whose first line is a record -----------------------

def test_headerless_file_is_described_by_its_width_not_its_values(tmp_path: Path) -> None:
    message = refused(write(tmp_path, RECORD * 3))
    assert "missing column(s) record_id, given_name" in message
    assert "the header row has 6 column(s)" in message
    assert "is the header row missing" in message


def test_found_header_names_are_never_listed(tmp_path: Path) -> None:
    # Half a header: the names present could be data, so none of them is echoed.
    path = write(tmp_path, "record_id,Zebedee,9434765919\nr1,a,b\n")
    message = refused(path)
    assert "missing column(s) given_name" in message
    assert "3 column(s)" in message


# 2. Duplicate header names --------------------------------------------------------------

def test_duplicate_required_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "record_id,given_name,record_id\nH2568ce13a2,Zebedee,9434765919\n")
    message = refused(path)
    assert "column 'record_id' appears twice" in message
    assert "columns 1 and 3" in message


def test_duplicate_other_column_is_named_by_position(tmp_path: Path) -> None:
    path = write(tmp_path, "record_id,given_name,Evelyn,postcode,Evelyn\n"
                           "r1,Zebedee,9434765919,LS4 6GE,x\n")
    message = refused(path)
    assert "columns 3 and 5 of the header row have the same name" in message


# 3. Not UTF-8 -----------------------------------------------------------------------------

def test_latin1_row_is_named_without_its_bytes(tmp_path: Path) -> None:
    text = HEADER + RECORD + "\nH1,9434765919,Zoë Zebedee,Evelyn,LS4 6GE,2021-03-04\n"
    message = refused(write(tmp_path, text.encode("latin-1")), secrets=[*SECRETS, "Zo"])
    assert message.startswith("row 4 is not UTF-8 text")  # the blank line 3 counts
    assert "UTF-8" in message


def test_non_utf8_header_is_row_1(tmp_path: Path) -> None:
    path = write(tmp_path, "record_id,given_namé\nr1,Zebedee\n".encode("latin-1"))
    assert refused(path).startswith("row 1 is not UTF-8 text")
    utf16 = write(tmp_path, (HEADER + RECORD).encode("utf-16"), "utf16.csv")
    assert refused(utf16).startswith("row 1 is not UTF-8 text")


def test_utf8_with_bom_and_crlf_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, ("\ufeff" + HEADER + RECORD).replace("\n", "\r\n"))
    frame = read_table(path, REQUIRED)
    assert frame.given_name.tolist() == ["Zebedee"]


# 4. NUL bytes -----------------------------------------------------------------------------

def test_nul_in_a_value_names_row_and_column(tmp_path: Path) -> None:
    text = HEADER + RECORD + "\r\n" + RECORD.replace("Zebedee", "Zeb\x00edee")
    message = refused(write(tmp_path, text), secrets=[*SECRETS, "Zeb", "edee"])
    assert message.startswith("row 4, column 'given_name' contains a NUL byte")


def test_nul_in_an_unrequested_column_is_named_by_position(tmp_path: Path) -> None:
    text = HEADER + RECORD.replace("Evelyn", "Eve\x00lyn")
    assert refused(write(tmp_path, text)).startswith("row 2, column 4 contains a NUL byte")


def test_nul_in_header_or_broken_file(tmp_path: Path) -> None:
    header = write(tmp_path, "record_id,given\x00name\nr1,Zebedee\n")
    assert refused(header).startswith("row 1 (the header row) contains a NUL byte")
    # NUL on a line Arrow cannot parse either: found by the line-by-line diagnosis.
    broken = write(tmp_path, "record_id,given_name\nr1,Zebedee\nr2,Zeb\x00,9434765919\n", "b.csv")
    assert refused(broken).startswith("row 3 contains a NUL byte")


# 5. Over-long values ------------------------------------------------------------------------

def test_value_over_the_limit_names_row_and_column(tmp_path: Path) -> None:
    long_name = "Zebedee" * 150  # 1,050 characters
    path = write(tmp_path, HEADER + RECORD + RECORD.replace("Zebedee", long_name))
    message = refused(path, secrets=[*SECRETS, long_name])
    assert message.startswith("row 3, column 'given_name' has a value longer than the "
                              f"{MAX_VALUE_CHARS:,}-character limit")


def test_limit_counts_characters_and_is_a_keyword(tmp_path: Path) -> None:
    at_limit = write(tmp_path, "record_id,given_name\nr1," + "é" * MAX_VALUE_CHARS + "\n")
    assert len(read_table(at_limit, REQUIRED).given_name[0]) == MAX_VALUE_CHARS  # 2,000 bytes
    path = write(tmp_path, "record_id,given_name\nr1,Zebedee\nr2,Zebedee Evelyn\n", "small.csv")
    message = refused(path, max_value_chars=12)  # "Zebedee Evelyn" has 14 characters
    assert message.startswith("row 3, column 'given_name' has a value longer than the "
                              "12-character limit")


def test_megabyte_values_and_names_are_refused(tmp_path: Path) -> None:
    huge = "Zebedee" * 300_000  # 2.1 MB: more than one Arrow block
    body = write(tmp_path, HEADER + RECORD + RECORD.replace("Zebedee", huge))
    assert refused(body, secrets=[*SECRETS, huge]).startswith("row 3")
    header = write(tmp_path, "record_id," + huge + "\nr1,x\n", "header.csv")
    assert refused(header, secrets=[*SECRETS, huge]).startswith("row 1")
    name = write(tmp_path, "record_id,given_name\nr1,x\n".replace("given_name", "Zebedee" * 200),
                 "name.csv")
    assert "column name longer than" in refused(name, ["record_id"])


# 6. Malformed rows --------------------------------------------------------------------------

@pytest.mark.parametrize(("row", "fields"), [
    ("H2568ce13a2,9434765919,Zebedee,Evelyn,LS4 6GE,2021-03-04,Evelyn\n", 7),
    ("H2568ce13a2,9434765919,Zebedee\n", 3),
    ('H2568ce13a2,"9434765919,Zebedee,Evelyn,LS4 6GE,2021-03-04\n', 2),
])
def test_wrong_field_count_names_the_row_only(tmp_path: Path, row: str, fields: int) -> None:
    message = refused(write(tmp_path, HEADER + RECORD + row + RECORD))
    assert f"row 3 has {fields} fields, the header has 6" in message


# 7. Empty, blank and unreadable files -------------------------------------------------------

def test_blank_required_columns_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "record_id,given_name,postcode\n,,LS4 6GE\n,,LS4 6GE\n")
    message = refused(path)
    assert "every value of column(s) record_id, given_name is empty in all 2 row(s)" in message
    # With no required column, every column must be blank to be refused.
    assert read_table(path).postcode.tolist() == ["LS4 6GE", "LS4 6GE"]
    blank = write(tmp_path, "record_id,given_name\n,\n,\n", "blank.csv")
    assert "is empty in all 2 row(s)" in refused(blank, [])


@pytest.mark.parametrize(("content", "problem"), [
    ("record_id,given_name\n", "header but no rows"),
    ("record_id,given_name", "header but no rows"),
    ("record_id,given_name\n\n\r\n", "header but no rows"),
    ("\n\r\n\n", "no header row"),
    ("", "is empty"),
])
def test_files_without_data(tmp_path: Path, content: str, problem: str) -> None:
    assert problem in refused(write(tmp_path, content))


def test_directory_and_special_files(tmp_path: Path) -> None:
    assert "is a directory" in refused(tmp_path)
    assert "not found" in refused(tmp_path / "absent.csv")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        assert "not a regular file" in refused(fifo)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, HEADER + RECORD)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    with monkeypatch.context() as patch:
        patch.setattr(tables, "open", denied, raising=False)
        assert "permission denied" in refused(path)
    if os.geteuid() != 0:  # root reads anything
        path.chmod(0)
        try:
            assert "permission denied" in refused(path)
        finally:
            path.chmod(0o600)


# Property: any bytes at all give a DataFrame or an InputDataError, never a value ------------

#: Letters that no message word contains four of in a row, and digits; the dirty cells add
#: CSV's own syntax, line breaks and NUL, and over-long values.
_LETTERS = "ZQXJKzqxj0123456789 é-"
_CLEAN = st.one_of(st.text(alphabet=st.sampled_from(list(_LETTERS)), max_size=12),
                   st.sampled_from(SECRETS))
_DIRTY = st.one_of(
    _CLEAN,
    st.text(alphabet=st.sampled_from([*_LETTERS, ",", '"', "\r", "\n", "\x00"]), max_size=12),
    st.integers(990, 1_100).map(lambda n: "Z" * n))
_NAMES = st.sampled_from([*REQUIRED, "postcode"])


def _csv_cell(value: str, quote: bool) -> str:
    return '"' + value.replace('"', '""') + '"' if quote else value


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """Random CSV-ish bytes and the values written into them: raw binary, or a header
    (holding the required columns half the time) and rows of random width, randomly
    quoted, line-ended and encoded, then (if not clean) spliced with NUL and bad UTF-8."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200)), []
    clean = draw(st.booleans())
    value = _CLEAN if clean else _DIRTY
    name = st.one_of(_NAMES, value)
    if draw(st.booleans()):
        extra = st.lists(name.filter(lambda n: n not in REQUIRED), max_size=3, unique=True)
        header = draw(st.permutations([*REQUIRED, *draw(extra)]))
    else:
        header = draw(st.lists(name, min_size=1, max_size=5))
    width = st.just(len(header)) if clean else st.one_of(st.just(len(header)),
                                                         st.integers(0, 7))
    rows = [draw(st.lists(value, min_size=size, max_size=size))
            for size in draw(st.lists(width, max_size=6))]
    lines = [",".join(_csv_cell(cell, draw(st.booleans())) for cell in row)
             for row in [header, *rows]]
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    encodings = ["utf-8", "utf-8-sig"] if clean else ["utf-8", "utf-8-sig", "latin-1"]
    data = (newline.join(lines) + draw(st.sampled_from(["", newline]))).encode(
        draw(st.sampled_from(encodings)), errors="replace")
    for _ in range(0 if clean else draw(st.integers(0, 3))):  # splice in NUL, bad UTF-8
        at = draw(st.integers(0, len(data)))
        junk = draw(st.one_of(st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80"]),
                              st.binary(max_size=4)))
        data = data[:at] + junk + data[at:]
    return data, [cell for row in [header, *rows] for cell in row]


def _tokens(values: Sequence[str]) -> set[str]:
    found = {value for value in values if value in SECRETS}
    for value in values:
        found.update(re.findall(r"[A-Za-z0-9]{4,}", value))
    return found - {part for name in REQUIRED for part in re.findall(r"[a-z]+", name)}


@settings(max_examples=150, deadline=None)
@given(csv_files())
def test_any_bytes_give_a_table_or_a_clean_refusal(case: tuple[bytes, list[str]]) -> None:
    data, values = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.csv"
        path.write_bytes(data)
        try:
            frame = read_table(path, REQUIRED)
        except InputDataError as error:
            message = str(error).replace(str(path), "")
            assert "\n" not in message
            assert error.__context__ is None
            for token in _tokens(values):
                assert token not in message, (token, message)
        else:
            assert isinstance(frame, pd.DataFrame)
            assert set(REQUIRED) <= set(frame.columns)
            assert len(frame) > 0
            for column in frame.columns:
                assert frame[column].str.len().max() <= MAX_VALUE_CHARS
                assert not frame[column].str.contains("\x00", regex=False).any()
