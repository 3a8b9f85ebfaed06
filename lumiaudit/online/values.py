"""Parse numbers, run numbers, times and text as people type them into logbooks.

Every parser returns ``(value, reason)``: ``value`` is ``None`` when nothing usable was typed,
and ``reason`` then says why (``"empty"``, ``"marked as not available ('n/a')"``, ...). A value
that cannot be read is missing with a reason, never 0.
"""

from __future__ import annotations

import functools
import html
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

__all__ = [
    "DATE_MAX",
    "DATE_MIN",
    "NA_TOKENS",
    "date_in_range",
    "decode_bytes",
    "norm_key",
    "parse_count",
    "parse_elog_date",
    "parse_float",
    "parse_run",
    "parse_time",
    "strip_markup",
]

#: Texts shifters type for "no value" (compared case-insensitively, after stripping).
NA_TOKENS = frozenset(
    {
        "n/a",
        "na",
        "n.a.",
        "none",
        "null",
        "nan",
        "-",
        "--",
        "---",
        "?",
        "??",
        "???",
        "unknown",
        "tbd",
    }
)

#: Dates a ``datetime64[ns]`` column holds (pandas' nanosecond range, rounded inwards). A date
#: outside is read, but callers leave it missing with a problem (a typo such as year 7019).
DATE_MIN = datetime(1677, 9, 22, tzinfo=UTC)
DATE_MAX = datetime(2262, 4, 11, tzinfo=UTC)

# A digit group with optional thousands separators: 1,234,567 / 1 234 567 / 1'234'567.
_GROUPED = re.compile(r"(?<![\d.])\d{1,3}(?:([,' \u00a0\u202f\u2009])\d{3})(?:\1\d{3})*(?![\d.])")
# 1.234.567 (at least two dotted groups: 1.234 alone could be a decimal number).
_DOTTED = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3}){2,}(?![\d.,])")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
# Luminosity units: nb-1, nb^-1, /nb, pb-1 ... (their "-1" is not a second number).
_UNIT = re.compile(r"(?:/\s*[nfpu]b\b|\b[nfpu]b\s*\^?\s*\{?-1\}?)", re.IGNORECASE)
_RUN = re.compile(r"^(?:r|run)?\s*0*(\d+)$", re.IGNORECASE)
_EXP = re.compile(r"^(?:e|exp)?\s*0*(\d+)$", re.IGNORECASE)
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2})?)(?:\.\d+)?\s*"
    r"(Z|UTC|GMT|JST|CET|CEST|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_ZONES = {"Z": 0, "UTC": 0, "GMT": 0, "JST": 9 * 60, "CET": 60, "CEST": 120}
# The common elogd form, read without the email module: "05 Nov 2019 17:19:39 +0900".
_RFC2822 = re.compile(
    r"\b(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+([+-]\d{4})\b"
)
_MONTHS = {
    m: k
    for k, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_ELCODE = re.compile(r"\[/?[a-zA-Z*]+(?:=[^\]\n]*)?\]")
_HTML_TAG = re.compile(r"<[^<>\n]{0,400}>")
# Text a shifter does not type around a count: markup, code, entities, function calls.
_CODE = re.compile(r"[<>{}\[\]\\;`$]|&#?\w+;|[A-Za-z_]\w*\(")
_EXPONENT = re.compile(r"\d[eE][-+]?\d")


@functools.lru_cache(maxsize=4096)
def norm_key(name: str) -> str:
    """Normalise an attribute or column name for lookup.

    ELOG's XML export turns every non-alphanumeric character of an attribute name into ``_``;
    CSV keeps the spaces. Both, and any case, map to the same key.

    Examples
    --------
    >>> norm_key("Num events") == norm_key("Num_events") == "num_events"
    True
    """
    return re.sub(r"[^0-9a-z]", "_", name.strip().lower())


def _show(text: str, limit: int = 40) -> str:
    """``repr`` of a typed value for a message, shortened (a value may be megabytes long)."""
    short = text[: 4 * limit].strip()
    if len(short) > limit or len(text.strip()) > len(short):
        return repr(short[:limit]) + f"... ({len(text)} characters)"
    return repr(short)


def _missing_reason(text: str) -> str | None:
    stripped = text.strip()
    if not stripped:
        return "empty"
    if stripped.lower() in NA_TOKENS:
        return f"marked as not available ({_show(stripped)})"
    return None


def parse_count(text: str | None) -> tuple[int | None, str | None]:
    """Read an event count as typed: ``6725``, ``6,648``, ``1 234 567``, ``~ 1234567 events``.

    Parameters
    ----------
    text
        The typed text, or ``None`` when the field is absent.

    Returns
    -------
    tuple
        ``(count, None)`` or ``(None, reason)``.

    Examples
    --------
    >>> parse_count("1'234'567")
    (1234567, None)
    >>> parse_count("n/a")
    (None, "marked as not available ('n/a')")

    Words around one number are allowed (``~``, ``approx.``, ``events``). Markup or code
    (``<b>``, ``[b]``, ``&amp;``, ``alert(1)``, ``;``, ...) and scientific notation
    (``1e6``, a rounded figure, not an exact count) are refused: the value is missing with a
    reason rather than a number picked out of it.
    """
    if text is None:
        return None, "absent"
    reason = _missing_reason(text)
    if reason is not None:
        return None, reason
    if _CODE.search(text):
        return None, f"cannot read a count from {_show(text)} (markup or code around it)"
    if _EXPONENT.search(text):
        return None, f"count {_show(text)} is in scientific notation (not an exact count)"
    grouped = [m.group(0) for m in _GROUPED.finditer(text)]
    grouped += [m.group(0) for m in _DOTTED.finditer(text)]
    if len(grouped) == 1:
        rest = text.replace(grouped[0], " ", 1)
        if not re.search(r"\d", rest):
            return int(re.sub(r"\D", "", grouped[0])), None
    numbers = _NUMBER.findall(text)
    if len(numbers) != 1:
        what = "no number" if not numbers else f"{len(numbers)} numbers"
        return None, f"cannot read a count from {_show(text)} ({what})"
    number = numbers[0]
    if number.startswith("-"):
        return None, f"negative count {_show(text)}"
    try:
        value = float(number)
    except ValueError:  # pragma: no cover - the regex only matches floats
        return None, f"cannot read a count from {_show(text)}"
    if value > 2**62:
        return None, f"count {_show(text)} is implausibly large"
    if not value.is_integer():
        return None, f"count {_show(text)} is not a whole number"
    return int(value), None


def parse_run(text: str | None) -> tuple[int | None, str | None]:
    """Read a run number typed as ``1925``, ``01925``, ``r01925`` or ``run 1925``.

    Examples
    --------
    >>> parse_run("r01925")
    (1925, None)
    """
    if text is None:
        return None, "absent"
    reason = _missing_reason(text)
    if reason is not None:
        return None, reason
    m = _RUN.match(text.strip())
    if m is None or len(m.group(1)) > 12:
        return None, f"cannot read a run number from {_show(text)}"
    return int(m.group(1)), None


def parse_experiment(text: str | None) -> tuple[int | None, str | None]:
    """Read an experiment number typed as ``10``, ``0010`` or ``e0010``."""
    if text is None:
        return None, "absent"
    reason = _missing_reason(text)
    if reason is not None:
        return None, reason
    m = _EXP.match(text.strip())
    if m is None or len(m.group(1)) > 9:
        return None, f"cannot read an experiment number from {_show(text)}"
    return int(m.group(1)), None


def parse_float(text: str | None) -> tuple[float | None, str | None]:
    """Read a float such as a luminosity: ``29231.429``, ``1,234.5``, ``1.2e4 nb-1``.

    Examples
    --------
    >>> parse_float("1,234.5 /nb")
    (1234.5, None)
    """
    if text is None:
        return None, "absent"
    reason = _missing_reason(text)
    if reason is not None:
        return None, reason
    cleaned = re.sub(r"(?<=\d)[,'\u00a0\u202f](?=\d{3}\b)", "", text)
    cleaned = _UNIT.sub(" ", cleaned)
    numbers = _NUMBER.findall(cleaned)
    if len(numbers) != 1:
        return None, f"cannot read a number from {_show(text)}"
    value = float(numbers[0])
    return value, None


def parse_time(text: str | None, *, default_tz: timezone | None = None) -> datetime | None:
    """Find ``YYYY-MM-DD HH:MM[:SS] [zone]`` in ``text`` and return it in UTC.

    ``JST`` is +09:00. Without a zone, ``default_tz`` is assumed (``None``: UTC).

    Examples
    --------
    >>> parse_time("Start : 2019-11-05 09:00:00 JST").isoformat()
    '2019-11-05T00:00:00+00:00'
    """
    if not text:
        return None
    m = _TIME.search(text)
    if m is None:
        return None
    date, clock, zone = m.groups()
    hms = [int(x) for x in clock.split(":")]
    try:
        naive = datetime(
            int(date[:4]),
            int(date[5:7]),
            int(date[8:10]),
            hms[0],
            hms[1],
            hms[2] if len(hms) > 2 else 0,
        )
    except ValueError:
        return None
    if zone is None:
        tz = default_tz or UTC
    elif zone.upper() in _ZONES:
        tz = timezone(timedelta(minutes=_ZONES[zone.upper()]))
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return _utc(naive.replace(tzinfo=tz))


def parse_elog_date(text: str | None) -> datetime | None:
    """Read an ELOG ``Date`` (RFC 2822, ``Tue, 05 Nov 2019 17:19:39 +0900``) as UTC.

    The CSV export replaces the comma by a space (``Tue  05 Nov ...``); that form is read too,
    and ISO dates are accepted as a fallback.
    """
    if not text or not text.strip():
        return None
    m = _RFC2822.search(text)
    if m is not None and m.group(2).title() in _MONTHS:
        day, month, year, hh, mm, ss, zone = m.groups()
        sign = -1 if zone[0] == "-" else 1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        try:
            local = datetime(int(year), _MONTHS[month.title()], int(day), int(hh), int(mm), int(ss))
        except ValueError:
            return None
        return _utc(local.replace(tzinfo=timezone(offset)))
    try:
        parsed = parsedate_to_datetime(" ".join(text.split()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return parse_time(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _utc(parsed)


def _utc(aware: datetime) -> datetime:
    """``aware`` in UTC; beyond ``datetime``'s years 1-9999 the nearest end (still out of range)."""
    try:
        return aware.astimezone(UTC)
    except OverflowError:
        end = datetime.min if aware.year < 5000 else datetime.max
        return end.replace(tzinfo=UTC)


def date_in_range(value: datetime | None) -> bool:
    """Whether ``value`` (aware) fits a ``datetime64[ns]`` column (``None`` does: it is missing).

    Examples
    --------
    >>> date_in_range(parse_elog_date("Wed, 06 Nov 7019 14:09:04 +0900"))
    False
    """
    return value is None or DATE_MIN <= value <= DATE_MAX


def strip_markup(text: str) -> str:
    """Remove ELCode (``[b]..[/b]``) and HTML tags and unescape HTML entities."""
    text = _ELCODE.sub("", text)
    text = _HTML_TAG.sub("\n", text)
    return html.unescape(text).replace("\u00a0", " ")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a logbook file: UTF-8 (with or without BOM), else ISO-8859-1.

    A UTF-8 file with a few broken sequences (ELOG's CSV3 cuts the text at 1599 bytes, which can
    split a character) stays UTF-8 with replacement characters.

    Returns
    -------
    tuple
        ``(text, encoding)``.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    non_ascii = sum(1 for b in data if b >= 0x80)
    if bad * 8 < non_ascii:
        return text, "utf-8 (with broken sequences)"
    return data.decode("iso-8859-1"), "iso-8859-1"
