"""PSI ELOG logbook files: on-disk day files (``YYMMDDa.log``), ``?cmd=download`` and Raw export.

Layout (elogd 3.1.5, ``src/elogd.c``; see ``tests/data/elog/README.md``): an entry starts at a
line ``$@MID@$: <n>``, then ``Attribute: value`` header lines (split at the first ``": "``), then
the first line of exactly 40 ``=`` (the text may contain more such lines), then the text up to
the next ``$@MID@$:`` line or the end of the file. Day files end header lines with LF and text
lines with CRLF; the Raw export ends every line with CRLF. Both are read the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

from lumiaudit.online.entries import Problems, RawEntry
from lumiaudit.online.values import norm_key

__all__ = ["MID_MARK", "SEPARATOR", "parse_logfile"]

MID_MARK = "$@MID@$:"
SEPARATOR = "=" * 40


def parse_logfile(text: str, source: str, problems: Problems) -> Iterator[RawEntry]:
    """Yield the entries of an ELOG logbook file.

    Parameters
    ----------
    text
        The decoded file content.
    source
        The path, for provenance.
    problems
        Collector: text before the first entry, header lines without ``": "``, entries without
        separator line, bad message ids.

    Yields
    ------
    RawEntry
        One per ``$@MID@$`` line; ``source_line`` is ``MID <n>``, ``line`` the line number of
        the ``$@MID@$`` line.
    """
    lines = text.split("\n")
    n = len(lines)
    i = 0
    while i < n and not lines[i].startswith(MID_MARK):
        if lines[i].strip():
            problems.add(source, i + 1, "text before the first $@MID@$ line ignored", lines[i])
            while i < n and not lines[i].startswith(MID_MARK):
                i += 1
            break
        i += 1
    while i < n:
        start = i
        mid = lines[i][len(MID_MARK) :].strip()[:40]
        if not mid.isdigit():
            problems.add(source, start + 1, "message id is not a number", lines[i])
        attrs: dict[str, str] = {}
        attr_lines: dict[str, int] = {}
        i += 1
        separated = False
        while i < n:
            line = lines[i]
            if line.endswith("\r"):
                line = line[:-1]
            if line.startswith(MID_MARK):
                break
            i += 1
            if line == SEPARATOR:
                separated = True
                break
            key, sep, value = line.partition(": ")
            if not sep:
                if line.endswith(":"):
                    key, value = line[:-1], ""
                elif not line.strip():
                    continue
                else:
                    problems.add(
                        source, i, f"MID {mid}: header line without 'Attribute: value'", line
                    )
                    continue
            attrs[norm_key(key)] = value
            attr_lines[norm_key(key)] = i
        body_start = i
        while i < n and not lines[i].startswith(MID_MARK):
            i += 1
        if not separated:
            problems.add(
                source,
                start + 1,
                f"MID {mid}: no line of 40 '=' after the header; entry read without text",
                lines[start],
            )
        body = "\n".join(line.rstrip("\r") for line in lines[body_start:i]) if separated else None
        if body is not None and body.endswith("\n") and i == n:
            body = body.rstrip("\n")
        yield RawEntry(
            source=source,
            source_line=f"MID {mid}",
            line=str(start + 1),
            entry_id=mid,
            attrs=attrs,
            text=body,
            encoding=attrs.get("encoding"),
            attr_lines=attr_lines,
        )
