"""Cells of the ticket and the JUnit report: escaping, counts, reasons, file problems.

One formatting for both (every number through :func:`lumiaudit.numbers.fmt`); text from
the inputs is untrusted and escaped for the target markup. Missing values are ``n/a``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import pandas as pd

from lumiaudit.numbers import fmt

__all__ = ["escape_jira", "escape_markdown", "file_problem", "reason_amounts"]

_NA = "n/a"
#: Markdown punctuation that can open or close markup inside a table cell (CommonMark / GFM:
#: code spans, emphasis, links, strikethrough, cell separators), escaped with ``\``.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
#: Jira wiki markup characters that start markup, macros, links, images or emoticons.
_JIRA_SPECIAL = re.compile(r"([|*_+\-^~?{}\[\]!#()])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _is_na(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _one_line(text: object) -> str:
    return " ".join(_CONTROL.sub("", str(text)).split())


def escape_markdown(text: object) -> str:
    """Escape untrusted text for a GitHub/GitLab Markdown table cell.

    HTML special characters become entities (no raw HTML passes through), ``@`` and ``#``
    become entities (no mentions or issue links), the Markdown characters that can form markup
    in a cell are backslash-escaped (pipes included, so a cell never splits), newlines and
    control characters are dropped.

    Examples
    --------
    >>> escape_markdown("a|b `c` <script>")
    'a\\\\|b \\\\`c\\\\` &lt;script&gt;'
    """
    if _is_na(text):
        return _NA
    line = _one_line(text)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # no @mentions or #issue references from input text
    line = line.replace("#", "&#35;").replace("@", "&#64;")
    return _MD_SPECIAL.sub(r"\\\1", line)


def escape_jira(text: object) -> str:
    """Escape untrusted text for a Jira wiki-markup table cell.

    Markup characters (``| * _ + - ^ ~ ? { } [ ] ! # ( )``) are backslash-escaped, so no
    table split, link, image, macro (``{html}``) or emoticon can be formed; a backslash
    becomes the entity ``&#92;`` (``\\\\`` would be a line break); newlines are dropped.

    Examples
    --------
    >>> escape_jira("a|b {html}")
    'a\\\\|b \\\\{html\\\\}'
    """
    if _is_na(text):
        return _NA
    out = []
    for char in _one_line(text):
        if char == "\\":
            out.append("&#92;")
        elif _JIRA_SPECIAL.fullmatch(char):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


# ------------------------------------------------------------------------------------ values


def _int_text(value: object) -> str:
    return fmt(value, "count", missing=_NA)


def _plain_int(value: object) -> str:
    return fmt(value, "run", missing=_NA)


def _ratio_text(value: object) -> str:
    return fmt(value, "ratio", missing=_NA)


def _q_text(value: object) -> str:
    if _is_na(value):
        return _NA
    q = float(str(value))
    if q == 0:
        return "0"
    return f"{q:.2g}" if q >= 1e-3 else f"{q:.1e}"


def _get(row: Mapping[str, Any], name: str) -> Any:
    return row.get(name, pd.NA)


def reason_amounts(reasons: object, reason_events: object = None) -> list[tuple[str, str]]:
    """Pair each reason code with its event amount.

    Parameters
    ----------
    reasons
        ``;``-separated reason codes (the ``reasons`` column).
    reason_events
        ``;``-separated ``code=events`` list (the ``reason_events`` column), or missing.

    Returns
    -------
    list of (code, amount)
        ``amount`` is the text after ``=`` (``""`` when the code has no amount). Codes only
        in ``reason_events`` are appended.

    Examples
    --------
    >>> reason_amounts("unreadable_file;outlier", "unreadable_file=980")
    [('unreadable_file', '980'), ('outlier', '')]
    """
    amounts: dict[str, str] = {}
    if not _is_na(reason_events):
        for part in str(reason_events).split(";"):
            code, _, amount = part.partition("=")
            if code.strip():
                amounts[code.strip()] = amount.strip()
    codes = [] if _is_na(reasons) else [c.strip() for c in str(reasons).split(";") if c.strip()]
    codes += [c for c in amounts if c not in codes]
    return [(code, amounts.get(code, "")) for code in codes]


def reason_events_text(reason_events: object) -> str:
    """The ``reason_events`` column for people: each amount through :func:`fmt`.

    >>> reason_events_text("no_offline_files=3213;elog_typo=-2753")
    'no_offline_files 3,213, elog_typo -2,753'
    """
    if _is_na(reason_events):
        return fmt(reason_events)
    pairs = reason_amounts(None, reason_events)
    return ", ".join(f"{code} {fmt(amount)}" for code, amount in pairs)


def _amount_text(amount: str) -> str:
    try:
        float(amount)
    except ValueError:
        return amount
    return f"{fmt(amount, 'count')} events"


#: What the compared offline count is, by the definition the online number follows.
_DEFINITION = {"full": "error-free", "entries": "tree entries"}


def _compared(row: Mapping[str, Any], follows: object) -> tuple[object, str]:
    """The offline count the ``diff`` was computed from and its name (issue 11: a ticket row
    printed the tree entries beside a diff computed from the error-free count)."""
    value = _get(row, "n_offline_def")
    how = str(follows) if isinstance(follows, str) and follows in _DEFINITION else None
    if _is_na(value):
        full, entries = _get(row, "n_offline_full"), _get(row, "n_offline")
        if how == "entries" or (how is None and _is_na(full)):
            value, how = entries, "entries"
        else:
            value, how = (entries, "entries") if _is_na(full) else (full, "full")
    return value, _DEFINITION.get(how or "full", "error-free")


#: A parenthesised low-level error (``(OSError: expected Chunk ... for file path ...)``).
_RAW_ERROR = re.compile(
    r"\s*\((?:[A-Za-z_.]*(?:Error|Exception)|errno)\b[^()]*(?:\([^()]*\)[^()]*)*\)"
)
_DETAIL_MAX = 120


def file_problem(error: object, path: object = None) -> str:
    """The problem of one file in one short sentence, without the path (the row names it).

    uproot's messages repeat the path (``... for file path /x/f.root``) and wrap the
    low-level error in parentheses; the ticket keeps lumiaudit's own first clause.

    Examples
    --------
    >>> file_problem('not a ROOT file: starts with "Error in" (OSError: expected Chunk of '
    ...     "length 403 for file path /d/f.root)", "/d/f.root")
    'not a ROOT file: starts with "Error in"'
    >>> file_problem("cannot open /d/f.root: Permission denied", "/d/f.root")
    'cannot open the file: Permission denied'
    """
    if _is_na(error) or not str(error).strip():
        return ""
    text = _one_line(error)
    text = _RAW_ERROR.sub("", text)
    if not _is_na(path) and str(path):
        full = str(path)
        text = re.sub(r"\s*\bfor file path\s+" + re.escape(full), "", text)
        text = text.replace(full, "the file").replace(PurePath(full).name, "the file")
    text = re.sub(r"\s{2,}", " ", text).strip(" ;,")
    if len(text) > _DETAIL_MAX:
        text = text[: _DETAIL_MAX - 1].rstrip() + "…"
    return text


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, values, strict=True)) for values in frame.itertuples(False)]
