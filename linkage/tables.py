"""Reading partner extracts (CSV) with clear errors and no echo of personal data.

CSV files are parsed by Apache Arrow (multi-threaded, several times faster than pandas'
own parser on a million-row extract) into a DataFrame whose columns are Arrow-backed
strings; an empty cell is the empty string.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from linkage.errors import InputDataError

#: Largest CSV read in one piece (bytes). A first-1000-days extract of a whole region is
#: well under 1 GiB; a bigger file is most likely the wrong file.
MAX_TABLE_BYTES = 8 * 2**30


def read_table(path: str | os.PathLike[str], required: Sequence[str] = (), *,
               what: str = "extract", max_bytes: int = MAX_TABLE_BYTES) -> pd.DataFrame:
    """Read a CSV file with a header row; every column as text.

    Raises :class:`InputDataError` naming the file and the problem (missing file, empty
    file, a file larger than ``max_bytes``, missing columns, malformed rows), never the
    content of a row.
    """
    source = Path(path)
    if not source.is_file():
        raise InputDataError(f"{source}: {what} file not found.")
    size = source.stat().st_size
    if size == 0:
        raise InputDataError(f"{source}: {what} file is empty.")
    if size > max_bytes:
        raise InputDataError(f"{source}: {what} file is {size / 2**30:.1f} GiB, more than the "
                             f"{max_bytes / 2**30:.1f} GiB limit; split it or check it is "
                             f"the right file.")
    try:
        header = pacsv.read_csv(source, read_options=pacsv.ReadOptions(block_size=1 << 16),
                                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                                convert_options=pacsv.ConvertOptions(include_columns=[])
                                ).schema.names
    except pa.ArrowInvalid:
        header = []
    try:
        table = pacsv.read_csv(
            source,
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise InputDataError(f"{source}: malformed CSV ({_first_bad_row(source)}).") from None
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise InputDataError(f"{source}: missing column(s) {', '.join(missing)}; "
                             f"found {', '.join(table.column_names) or 'none'}.")
    if table.num_rows == 0:
        raise InputDataError(f"{source}: {what} file has a header but no rows.")
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _first_bad_row(source: Path) -> str:
    """Where a CSV first goes wrong, by row number and field count only (slow path)."""
    try:
        with open(source, encoding="utf-8", newline="") as handle:
            rows = csv.reader(handle)
            width = len(next(rows, []))
            for number, row in enumerate(rows, start=2):
                if len(row) != width:
                    return f"row {number} has {len(row)} fields, the header has {width}"
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except csv.Error as error:
        return f"unreadable: {type(error).__name__}"
    return "could not be parsed"
