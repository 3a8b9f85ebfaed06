"""ELOG Find-page exports: CSV (``mode=CSV1`` with ``,``, ``CSV2``/``CSV3`` with ``;``) and XML.

CSV facts (elogd 3.1.5, see ``tests/data/elog/README.md``): a header row of quoted names starting
with ``"Message ID"``, records ending with CRLF, quoted values with doubled ``"``, empty values
as nothing, CSV3 adds a ``Text`` column (quoted, with newlines, truncated to 1599 bytes, absent
for an empty text). XML: ``<ELOG_LIST><ENTRY><MID/><DATE/>...<TEXT/></ENTRY>``, attribute element
names with every non-alphanumeric character turned into ``_``.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lumiaudit.online.entries import Problems, RawEntry
from lumiaudit.online.values import norm_key

if TYPE_CHECKING:
    from _csv import Reader

__all__ = ["parse_csv_export", "parse_xml_export", "sniff_delimiter"]


def sniff_delimiter(header: str, candidates: str = ",;\t|") -> str:
    """Return the candidate delimiter occurring most often in ``header`` (outside quotes)."""
    unquoted = "".join(part for k, part in enumerate(header.split('"')) if k % 2 == 0)
    counts = {d: unquoted.count(d) for d in candidates}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_records(reader: Reader, source: str, problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line where the record starts, fields)`` for the records after the header.

    ``reader`` is a :func:`csv.reader` whose header was already read. A record the CSV module
    cannot parse is a problem at its line and ends the file (the reader cannot resync).
    """
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(source, start, f"unreadable CSV record: {exc}; rest of file skipped")
            return
        last_line = reader.line_num
        yield start, row


def parse_csv_export(text: str, source: str, problems: Problems) -> Iterator[RawEntry]:
    """Yield the entries of an ELOG CSV export (``,`` or ``;``).

    ``source_line`` is ``MID <n>``; ``line`` is the line where the record starts.
    """
    first = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first, ",;")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        problems.add(source, 1, "empty CSV export", first)
        return
    keys = [norm_key(h) for h in header]
    for start, row in csv_records(reader, source, problems):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) > len(keys):
            problems.add(
                source,
                start,
                f"record has {len(row)} fields, the header {len(keys)}; record skipped",
                delimiter.join(row),
            )
            continue
        attrs = dict(zip(keys, row, strict=False))
        mid = attrs.get("message_id", "").strip()[:40]
        if not mid.isdigit():
            problems.add(source, start, f"message id {mid!r} is not a number", delimiter.join(row))
        yield RawEntry(
            source=source,
            source_line=f"MID {mid}",
            line=str(start),
            entry_id=mid,
            attrs=attrs,
            text=attrs.get("text"),
            encoding=None,
        )


def parse_xml_export(data: bytes, source: str, problems: Problems) -> Iterator[RawEntry]:
    """Yield the entries of an ELOG XML export.

    A file that is not well-formed XML is one problem (with the parser's line and column) and
    gives no entries.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0]
        problems.add(source, line, f"not well-formed XML ({exc}); file skipped")
        return
    except (ValueError, RecursionError) as exc:
        problems.add(source, 1, f"unreadable XML ({exc}); file skipped")
        return
    entries = [root] if root.tag == "ENTRY" else root.findall("ENTRY")
    if root.tag not in ("ELOG_LIST", "ENTRY"):
        problems.add(source, 1, f"XML root element is <{root.tag}>, not <ELOG_LIST>; file skipped")
        return
    for k, entry in enumerate(entries, start=1):
        attrs = {norm_key(child.tag): (child.text or "") for child in entry}
        mid = attrs.get("mid", "").strip()[:40]
        if not mid.isdigit():
            problems.add(source, f"ENTRY {k}", f"message id {mid!r} is not a number")
        yield RawEntry(
            source=source,
            source_line=f"MID {mid}",
            line=f"MID {mid}",
            entry_id=mid,
            attrs=attrs,
            text=attrs.get("text"),
            encoding=attrs.get("encoding"),
        )
