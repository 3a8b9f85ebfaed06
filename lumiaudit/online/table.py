"""Any CSV/TSV table of runs, read through the mapping's ``[table]`` column names.

The delimiter (``,``, ``;``, tab or ``|``) is taken from the header line. Every data row that
names a run is one entry; ``source_line`` is the row's line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from lumiaudit.online.elog_export import csv_records, sniff_delimiter
from lumiaudit.online.entries import Problems, RawEntry
from lumiaudit.online.values import norm_key

__all__ = ["parse_table", "read_rows"]


def read_rows(text: str, source: str, problems: Problems) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, {normalised column: text})`` for every data row of a delimited table."""
    lines = text.split("\n", 1)
    delimiter = sniff_delimiter(lines[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [norm_key(h) for h in next(reader)]
    except (StopIteration, csv.Error):
        problems.add(source, 1, "empty table")
        return
    if delimiter == "|":  # psql output: skip the ----+---- rule
        header = [h.strip("_") for h in header]
    for start, row in csv_records(reader, source, problems):
        cells = [c.strip() for c in row]
        if not any(cells) or all(set(c) <= set("-+") for c in cells):
            continue
        if len(cells) == 1 and cells[0].startswith("("):  # psql "(12 rows)"
            continue
        if len(cells) != len(header):
            problems.add(
                source,
                start,
                f"row has {len(cells)} fields, the header {len(header)}; row skipped",
                delimiter.join(row),
            )
            continue
        yield start, dict(zip(header, cells, strict=True))


def parse_table(text: str, source: str, problems: Problems) -> Iterator[RawEntry]:
    """Yield one raw entry per data row of a CSV/TSV table."""
    for line, attrs in read_rows(text, source, problems):
        yield RawEntry(
            source=source, source_line=str(line), line=str(line), entry_id=str(line), attrs=attrs
        )
