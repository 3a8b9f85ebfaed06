"""Recognise an online source by its content (never by its name)."""

from __future__ import annotations

import re

from lumiaudit.online.elog_logfile import MID_MARK
from lumiaudit.online.mapping import Mapping
from lumiaudit.online.values import norm_key

__all__ = ["FORMATS", "detect_format"]

#: Format names, in the order detection tries them.
FORMATS = ("elog", "elog-xml", "elog-csv", "rundb", "daq", "table")

_DAQ_COLUMNS = {"expno", "runno", "nevents"}


def _header_keys(first_line: str) -> set[str]:
    cells = re.split(r"[,;\t|]", first_line)
    return {norm_key(c.strip().strip('"')) for c in cells}


def detect_format(head: str, mapping: Mapping) -> str | None:
    """Return the format of a source from its first characters, or ``None``.

    Parameters
    ----------
    head
        The decoded start of the file (a few KiB are enough).
    mapping
        Used to recognise a generic table by its run and events columns.

    Examples
    --------
    >>> from lumiaudit.online.mapping import BELLE2
    >>> detect_format("$@MID@$: 1\\nDate: ...", BELLE2)
    'elog'
    """
    text = head.lstrip("\ufeff \t\r\n")
    if text.startswith(MID_MARK):
        return "elog"
    if text.startswith("<"):
        return "elog-xml" if "<ELOG_LIST" in text or "<ENTRY" in text else None
    if text[:1] in "{[" and text:
        return "rundb" if re.match(r"[\[{]\s*[\[{\"\]}]", text) else None
    first = text.split("\n", 1)[0].rstrip("\r")
    keys = _header_keys(first)
    if "message_id" in keys:
        return "elog-csv"
    if keys >= _DAQ_COLUMNS:
        return "daq"
    fields = mapping.table
    has_run = any(norm_key(n) in keys for n in fields.run)
    has_events = any(norm_key(n) in keys for n in fields.events)
    if has_run and has_events:
        return "table"
    return None
