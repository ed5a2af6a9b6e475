"""Reading partner extracts (CSV) with clear errors and no echo of personal data.

CSV files are parsed by Apache Arrow (multi-threaded, several times faster than pandas'
own parser on a million-row extract) into a DataFrame whose columns are Arrow-backed
strings; an empty cell is the empty string.

An extract is untrusted input: it may have no header row, the wrong encoding, binary
junk, a ragged row or a megabyte-long "name". Every such file is refused with one
:class:`~linkage.errors.InputDataError` line naming the file, the row (1-based, the header
row is row 1, counted in lines of the file) and the column where that helps, the rule and
what to do. A message never carries a value read from the file: a header row that may be
a data record is described by its number of columns, and a column is named only when it
is one the caller asked for (else by its position).

The checks on values run as vectorised Arrow compute over the parsed table; the file is
read again line by line only to say where a refused file first goes wrong.
"""

from __future__ import annotations

import csv
import errno
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from linkage.errors import InputDataError

#: Largest CSV read in one piece (bytes). A first-1000-days extract of a whole region is
#: well under 1 GiB; a bigger file is most likely the wrong file.
MAX_TABLE_BYTES = 8 * 2**30

#: Longest value (characters) of any cell, header names included. Record ids, names,
#: dates, NHS numbers and postcodes are well under 100 characters and a full address
#: line under 300; a longer value is a wrong column, a free-text field or a hostile
#: file, and would make the encoder's work per record unbounded.
MAX_VALUE_CHARS = 1_000

_UTF8_ADVICE = "save the file as UTF-8 (in Excel: 'CSV UTF-8') and try again"
_NUL_ADVICE = "the file is binary or corrupt; export it again as plain CSV text"
_ROW_ADVICE = "check the export's quoting and delimiters"
#: Characters that Python's surrogateescape error handler puts in place of bytes that
#: are not UTF-8.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def read_table(path: str | os.PathLike[str], required: Sequence[str] = (), *,
               what: str = "extract", max_bytes: int = MAX_TABLE_BYTES,
               max_value_chars: int = MAX_VALUE_CHARS) -> pd.DataFrame:
    """Read a CSV file with a header row; every column as text.

    Raises :class:`InputDataError` naming the file and the problem, never the content of
    a row: a missing, unreadable, empty or too large (``max_bytes``) file; no header row,
    missing ``required`` columns or duplicate column names; a row that is not UTF-8,
    holds a NUL byte, has the wrong number of fields or a value longer than
    ``max_value_chars`` characters; no data rows, or no data in any ``required`` column
    (all of them when none is required).
    """
    source = Path(path)
    loaded = _load(source, what, required, max_bytes, max_value_chars)
    if isinstance(loaded, str):
        raise InputDataError(f"{source}: {loaded}")
    return loaded.to_pandas(types_mapper=pd.ArrowDtype)


def _load(source: Path, what: str, required: Sequence[str], max_bytes: int,
          max_value_chars: int) -> pa.Table | str:
    """The file as a table of strings, or the reason (a message tail) it is refused."""
    problem = _file_problem(source, what, max_bytes)
    if problem is not None:
        return problem
    names = _read_header(source, what, required, max_value_chars)
    if isinstance(names, str):
        return names
    table = _read_body(source, names, what, required, max_value_chars)
    if isinstance(table, str):
        return table
    return _value_problem(source, table, what, required, max_value_chars) or table


def _file_problem(source: Path, what: str, max_bytes: int) -> str | None:
    """Why the file cannot be read at all, if it cannot."""
    try:
        if source.is_dir():
            return f"{what} path is a directory, not a file; give the CSV file itself."
        if not source.exists():
            return f"{what} file not found; check the path."
        if not source.is_file():
            return f"{what} path is not a regular file; give the CSV file itself."
        size = source.stat().st_size
        with open(source, "rb"):
            pass
    except OSError as error:
        return _os_problem(error, what)
    if size == 0:
        return f"{what} file is empty; check the export finished."
    if size > max_bytes:
        return (f"{what} file is {size / 2**30:.1f} GiB, more than the "
                f"{max_bytes / 2**30:.1f} GiB limit; split it or check it is the right file.")
    return None


def _os_problem(error: OSError, what: str) -> str:
    """An operating-system error as one line without the path repeated."""
    if isinstance(error, PermissionError) or error.errno == errno.EACCES:
        return f"{what} file cannot be read (permission denied); check its permissions."
    if isinstance(error, IsADirectoryError):
        return f"{what} path is a directory, not a file; give the CSV file itself."
    reason = error.strerror or type(error).__name__
    return f"{what} file cannot be read ({reason}); check the path and the disk."


def _read_header(source: Path, what: str, required: Sequence[str],
                 max_value_chars: int) -> list[str] | str:
    """The header row's names (from the first block only), or why they are refused."""
    names: list[str] = []
    failed = False
    try:
        with pacsv.open_csv(source, convert_options=pacsv.ConvertOptions(include_columns=[])
                            ) as reader:
            names = list(reader.schema.names)
    except OSError as error:
        return _os_problem(error, what)
    except (pa.ArrowException, ValueError):  # UnicodeDecodeError included
        failed = True
    if failed:  # diagnosed outside the handler: Arrow's message may quote the row
        return _parse_problem(source, what, required, max_value_chars)
    return _header_problem(names, what, required, max_value_chars) or names


def _header_problem(names: Sequence[str], what: str, required: Sequence[str],
                    max_value_chars: int) -> str | None:
    """Refuse a header row that is not one: NUL bytes, over-long or missing or duplicate
    names. Only the caller's own column names are ever quoted."""
    for name in names:
        if "\x00" in name:
            return f"row 1 (the header row) contains a NUL byte; {_NUL_ADVICE}."
    if any(len(name) > max_value_chars for name in names):
        return (f"row 1 (the header row) has a column name longer than {max_value_chars:,} "
                f"characters; is the header row missing, or is this the wrong file?")
    wanted = list(dict.fromkeys(required))
    missing = [column for column in wanted if column not in names]
    if missing:
        return (f"missing column(s) {', '.join(missing)}; the header row has "
                f"{len(names)} column(s) and needs {', '.join(wanted)}; is the header "
                f"row missing, or is this the wrong {what} file?")
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            if name in wanted:
                return (f"column '{name}' appears twice in the header row (columns "
                        f"{seen[name]} and {position}); rename or remove one.")
            return (f"columns {seen[name]} and {position} of the header row have the same "
                    f"name; rename one so that no values are lost.")
        seen[name] = position
    return None


def _read_body(source: Path, names: Sequence[str], what: str, required: Sequence[str],
               max_value_chars: int) -> pa.Table | str:
    """The whole file as a table of strings (the fast path), or why it cannot be."""
    failed = False
    try:
        table = pacsv.read_csv(
            source,
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except OSError as error:
        return _os_problem(error, what)
    except (pa.ArrowException, ValueError):  # UnicodeDecodeError included
        failed = True
    if failed:  # diagnosed outside the handler: Arrow's message may quote the row
        return _parse_problem(source, what, required, max_value_chars)
    if table.column_names != list(names):
        return f"{what} file changed while it was read; try again."
    return table


def _value_problem(source: Path, table: pa.Table, what: str, required: Sequence[str],
                   max_value_chars: int) -> str | None:
    """Refuse NUL bytes and over-long values (the first offending row, by vectorised
    Arrow compute), no rows, and no data at all in the columns that matter."""
    if table.num_rows == 0:
        return f"{what} file has a header but no rows; check the export wrote the data."
    wanted = list(dict.fromkeys(required)) or table.column_names
    offences: list[tuple[int, int, str]] = []  # (data row index, rule order, message)
    has_data = False
    for position, name in enumerate(table.column_names):
        column = table.column(position)
        longest = pc.max(pc.binary_length(column)).as_py() or 0
        has_data = has_data or (name in wanted and longest > 0)
        if longest == 0:
            continue
        label = _column_label(name, position, required)
        nul = _first_nul(column)
        if nul >= 0:
            offences.append((nul, 0, f"{label} contains a NUL byte; {_NUL_ADVICE}."))
        if longest > max_value_chars:  # bytes >= characters: count characters only now
            over = pc.greater(pc.utf8_length(column), max_value_chars)
            index = pc.index(over, True).as_py()
            if index >= 0:
                offences.append((index, 1, f"{label} has a value longer than the "
                                        f"{max_value_chars:,}-character limit; check the "
                                        f"column holds what it should."))
    if offences:
        index, _, rule = min(offences)
        row = _row_of_record(source, index)
        where = f"row {row}" if row else f"data row {index + 1:,} (after the header)"
        return f"{where}, {rule}"
    if not has_data:
        return (f"every value of column(s) {', '.join(wanted)} is empty in all "
                f"{table.num_rows:,} row(s); check the export wrote the data.")
    return None


def _first_nul(column: pa.ChunkedArray) -> int:
    """Index of the first value holding a NUL byte, or -1."""
    base = 0
    for chunk in column.chunks:
        found = _first_nul_in_chunk(chunk) if len(chunk) else -1
        if found >= 0:
            return base + found
        base += len(chunk)
    return -1


def _first_nul_in_chunk(chunk: pa.Array) -> int:
    """One vectorised, zero-copy pass over a string array's UTF-8 bytes (some 15 times
    faster than Arrow's substring search); the value holding the first NUL by its
    offsets."""
    if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
        return int(pc.index(pc.match_substring(chunk, "\x00"), True).as_py())
    _, offset_buffer, data_buffer = chunk.buffers()
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offset_buffer, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]
    if data_buffer is None or offsets[-1] == offsets[0]:
        return -1
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]]
    if data.min() != 0:
        return -1
    at = int(offsets[0]) + int(np.argmin(data))  # argmin: the first zero byte
    return int(np.searchsorted(offsets, at, side="right")) - 1


def _column_label(name: str, position: int, required: Sequence[str]) -> str:
    """A column as a message may name it: by name only if the caller asked for it (a
    header row may be a data record), otherwise by position."""
    return f"column '{name}'" if name in required else f"column {position + 1}"


class _BadLine(Exception):
    """A line of the file that is not UTF-8 text or holds a NUL byte."""

    def __init__(self, line: int, rule: str) -> None:
        super().__init__(line, rule)
        self.line = line
        self.rule = rule


class _BadRecord(Exception):
    """A record Python's csv module cannot parse (``too_long``: past its field limit)."""

    def __init__(self, line: int, too_long: bool) -> None:
        super().__init__(line, too_long)
        self.line = line
        self.too_long = too_long


def _checked_lines(lines: Iterable[str]) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        if _NOT_UTF8.search(line):
            raise _BadLine(number, f"is not UTF-8 text; {_UTF8_ADVICE}")
        if "\x00" in line:
            raise _BadLine(number, f"contains a NUL byte; {_NUL_ADVICE}")
        yield line


def _records(source: Path) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, last line, fields) of each non-blank record, as Arrow sees them.

    Raises :class:`_BadLine` and :class:`_BadRecord`; the slow path, for messages only.
    """
    with open(source, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(_checked_lines(handle))
        start = 1
        while True:
            failed = False
            try:
                fields = next(reader, None)
            except csv.Error as error:  # its text names no value, but is not ours either
                failed, too_long = True, "field larger than field limit" in str(error)
            if failed:
                raise _BadRecord(start, too_long)
            if fields is None:
                return
            if fields:  # Arrow skips blank lines, and so do its row counts
                yield start, reader.line_num, fields
            start = reader.line_num + 1


def _row_of_record(source: Path, index: int) -> int | None:
    """The file line on which data record ``index`` (0-based) starts."""
    try:
        for count, (start, _, _) in enumerate(_records(source), start=-1):
            if count == index:
                return start
    except _BadLine as bad:
        return bad.line
    except (_BadRecord, OSError):
        return None
    return None


def _parse_problem(source: Path, what: str, required: Sequence[str],
                   max_value_chars: int) -> str:
    """Where a file Arrow could not parse first goes wrong, by row number, field count
    and column position only (slow path)."""
    width: int | None = None
    names: list[str] = []
    rows = 0
    spans_lines: int | None = None
    try:
        for start, end, fields in _records(source):
            if width is None:
                width, names = len(fields), fields
                problem = _header_problem(names, what, required, max_value_chars)
                if problem:
                    return problem
                continue
            rows += 1
            problem = _row_problem(start, fields, names, required, max_value_chars)
            if problem:
                return problem
            if spans_lines is None and end > start:
                spans_lines = start
    except _BadLine as bad:
        return f"row {bad.line} {bad.rule}."
    except _BadRecord as bad:
        if bad.too_long:
            limit = min(max_value_chars, csv.field_size_limit())
            return (f"row {bad.line} has a value longer than the {limit:,}-character limit; "
                    f"check the column holds what it should.")
        return f"malformed CSV (row {bad.line} could not be parsed); {_ROW_ADVICE}."
    except OSError as error:
        return _os_problem(error, what)
    if width is None:
        return f"{what} file has no header row (only blank lines); check the export."
    if rows == 0:
        return f"{what} file has a header but no rows; check the export wrote the data."
    if spans_lines is not None:
        return (f"malformed CSV (row {spans_lines} has a quoted value over several "
                f"lines); remove line breaks from values and export again.")
    return f"malformed CSV (could not be parsed); {_ROW_ADVICE}."


def _row_problem(start: int, fields: Sequence[str], names: Sequence[str],
                 required: Sequence[str], max_value_chars: int) -> str | None:
    """A data record's wrong field count or over-long value (slow path)."""
    if len(fields) != len(names):
        return (f"malformed CSV (row {start} has {len(fields)} fields, the header has "
                f"{len(names)}); {_ROW_ADVICE}.")
    for position, value in enumerate(fields):
        if len(value) > max_value_chars:
            label = _column_label(names[position], position, required)
            return (f"row {start}, {label} has a value longer than the "
                    f"{max_value_chars:,}-character limit; check the column holds what it "
                    f"should.")
    return None
