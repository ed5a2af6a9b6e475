"""Reading extracts: one clear error per problem, never a value from a row."""

from pathlib import Path

import pytest

from linkage.errors import InputDataError
from linkage.tables import read_table


def test_errors_name_the_file_and_problem(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="not found"):
        read_table(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputDataError, match="is empty"):
        read_table(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("record_id,given_name\n")
    with pytest.raises(InputDataError, match="header but no rows"):
        read_table(header_only, ["record_id"])
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("record_id,given_name\nr1,Alice\nr2,Secretname,extra\n")
    with pytest.raises(InputDataError) as info:
        read_table(ragged)
    assert "row 3 has 3 fields, the header has 2" in str(info.value)
    assert "Secretname" not in str(info.value)
    with pytest.raises(InputDataError, match=r"missing column\(s\) postcode"):
        read_table(header_only, ["postcode"])
    big = tmp_path / "big.csv"
    big.write_text("record_id\n" + "r\n" * 100)
    with pytest.raises(InputDataError, match="limit"):
        read_table(big, max_bytes=50)


def test_text_columns_keep_leading_zeros_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("record_id,nhs_number,sex\nr1,0123456789,\nr2,,F\n")
    frame = read_table(path, ["record_id"])
    assert frame.nhs_number.tolist() == ["0123456789", ""]
    assert frame.sex.tolist() == ["", "F"]
