"""Parse numbers, run numbers, times and text as people type them into logbooks.

Every parser returns ``(value, reason)``: ``value`` is ``None`` when nothing usable was typed,
and ``reason`` then says why (``"empty"``, ``"marked as not available ('n/a')"``, ...). A value
that cannot be read is missing with a reason, never 0.
"""

from __future__ import annotations

import functools
import html
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from lumiaudit.numbers import fmt

__all__ = [
    "COUNT_MAX",
    "COUNT_SEPARATORS",
    "DATE_MAX",
    "DATE_MIN",
    "LUMI_TO_NB",
    "NA_TOKENS",
    "date_in_range",
    "decode_bytes",
    "norm_key",
    "parse_count",
    "parse_elog_date",
    "parse_float",
    "parse_lumi",
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

#: Largest count an ``Int64`` column holds (numpy int64); a larger typed count is a problem.
COUNT_MAX = 2**63 - 1

#: Thousands separators accepted in a typed count (one kind per count): ``,`` ``'`` ``.``
#: (with at least two groups: ``1.234`` alone could be a decimal number), a blank, a no-break
#: space (U+00A0), a narrow no-break space (U+202F) or a thin space (U+2009).
COUNT_SEPARATORS = ",'. \u00a0\u202f\u2009"

# The documented forms of a typed count, matched against the whole (stripped) text. ASCII
# digits only: ``\d`` would accept Arabic-Indic or full-width digits, which int() reads.
_COUNT = re.compile(
    r"(?P<number>[0-9]+"
    r"|[0-9]{1,3}(?P<sep>[,' \u00a0\u202f\u2009])[0-9]{3}(?:(?P=sep)[0-9]{3})*"
    r"|[0-9]{1,3}\.[0-9]{3}(?:\.[0-9]{3})+)"
    r"(?:\s+(?:events?|evts?))?",
    re.IGNORECASE,
)
# Why a text is not a count, tried in order for the problem's reason (the first that applies).
_NOT_A_COUNT = (
    (re.compile(r"^\s*-\s*[0-9]"), "negative"),
    (re.compile(r"[0-9]\s*[eE]\s*[-+]?[0-9]"), "in scientific notation (not an exact count)"),
    (
        re.compile(
            r"^\s*(?:~|≈|<|>|about\b|approx|ca\.|circa\b|roughly\b|nearly\b|almost\b)", re.I
        ),
        "approximate, not an exact count",
    ),
    (
        re.compile(
            r"[0-9]\s*(?:[kKMG]\b|[kKMG](?:evt|ev)|thousand|million|billion|mio\b|mil\b)", re.I
        ),
        "a multiplier (k, M, thousand, ...) gives a rounded figure, not an exact count",
    ),
    (re.compile(r"%"), "a percentage, not a count"),
    (re.compile(r"[0-9]\.[0-9]{1,2}(?![0-9])|[0-9]\.[0-9]{4,}"), "not a whole number"),
    (re.compile(r"[0-9][oOlIsSB]|[oOlIsSB][0-9]"), "letters among the digits (O for 0? l for 1?)"),
)
_NO_DIGIT = re.compile(r"^[^0-9]*$")
# A plain number as machines write it (luminosity): 29231.429, 1,234.5, 1.2e4, .5
_FLOAT = re.compile(
    r"(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
)
# Integrated-luminosity units (inverse barns): nb-1, nb^-1, nb^{-1}, nb⁻¹, /nb, 1/nb, and the
# same with p, f, u, µ; the factor converts to nb^-1 (1 fb^-1 = 10^6 nb^-1, 1 /ub = 10^-3 nb^-1).
_LUMI_UNIT = re.compile(
    r"(?:1?\s*/\s*(?P<a>[nfpuµμ])b|(?P<b>[nfpuµμ])b\s*(?:\^\s*\{?\s*-\s*1\s*\}?|-1|\u207b\u00b9))"
)
#: nb^-1 per unit of integrated luminosity, by the barn prefix (``n`` nb, ``p`` pb, ...).
LUMI_TO_NB = {"n": 1.0, "p": 1e3, "f": 1e6, "u": 1e-3, "µ": 1e-3, "μ": 1e-3}
_RUN = re.compile(r"^(?:r|run)?\s*0*([0-9]+)$", re.IGNORECASE)
_EXP = re.compile(r"^(?:e|exp)?\s*0*([0-9]+)$", re.IGNORECASE)
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
    """Read an event count, only when the whole text is a count in a documented form.

    The forms (after stripping blanks at both ends):

    - plain ASCII digits: ``6725``, ``0``;
    - digits grouped in threes by one kind of thousands separator (:data:`COUNT_SEPARATORS`):
      ``6,648``, ``1 234 567``, ``1'234'567``, ``1\u202f234\u202f567``, ``1.234.567`` (dots need
      at least two groups: ``1.234`` could be a decimal number);
    - either of these followed by a blank and the word ``events`` (or ``event``, ``evts``).

    Anything else, e.g. ``12k``, ``2M events``, ``about 5 thousand``, ``~ 2000``, ``l234``,
    ``99%``, ``#1234``, ``1234O``, ``1e6``, ``12.5``, ``-5``, markup, or a count above
    :data:`COUNT_MAX`, is missing with a reason (callers record it as a located problem): a
    number picked out of such a text would be a guess.

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
    >>> parse_count("12k")[0] is None
    True
    """
    if text is None:
        return None, "absent"
    reason = _missing_reason(text)
    if reason is not None:
        return None, reason
    m = _COUNT.fullmatch(text.strip())
    if m is not None:
        digits = re.sub(r"[^0-9]", "", m.group("number"))
        # a length check first: int() of a 5000-digit string raises (CPython's digit limit)
        if len(digits.lstrip("0")) > len(str(COUNT_MAX)) or int(digits) > COUNT_MAX:
            return None, f"cannot read a count from {_show(text)}: above {fmt(COUNT_MAX)}"
        return int(digits), None
    return None, f"cannot read a count from {_show(text)}: {_why_not_a_count(text)}"


def _why_not_a_count(text: str) -> str:
    """The reason a text that is not in a documented count form was refused."""
    if _CODE.search(text):
        return "markup or code around it"
    if _NO_DIGIT.match(text):
        return "no number"
    for pattern, why in _NOT_A_COUNT:
        if pattern.search(text):
            return why
    return (
        "not a count in a documented form (digits, optionally grouped in threes by , ' . or "
        "a blank, and an optional trailing 'events')"
    )


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
    """Read a non-negative number when the whole text is one: ``29231.429``, ``1,234.5``, ``1.2e4``.

    Examples
    --------
    >>> parse_float("1,234.5")
    (1234.5, None)
    >>> parse_float("12k")[0] is None
    True
    """
    if text is None:
        return None, "absent"
    reason = _missing_reason(text)
    if reason is not None:
        return None, reason
    number = text.strip()
    if not _FLOAT.fullmatch(number):
        return None, f"cannot read a number from {_show(text)}"
    value = float(number.replace(",", ""))
    if not math.isfinite(value):
        return None, f"number {_show(text)} is out of range"
    return value, None


def parse_lumi(text: str | None) -> tuple[float | None, str | None]:
    """Read an integrated luminosity in nb^-1: ``29231.429``, ``12.5 pb-1``, ``3.2 /fb``.

    The whole text must be a number (:func:`parse_float`) with an optional inverse-barn unit
    (``nb-1``, ``nb^-1``, ``nb^{-1}``, ``/nb``, and the same for ``pb``, ``fb``, ``ub``/``µb``),
    which is converted to nb^-1. Without a unit the value is taken in nb^-1, the unit of the
    Belle II elog body line and of the run database's ``statistics.lumi_recorded``.

    Examples
    --------
    >>> parse_lumi("1,234.5 /nb")
    (1234.5, None)
    >>> parse_lumi("2 fb^-1")
    (2000000.0, None)
    """
    if text is None:
        return None, "absent"
    reason = _missing_reason(text)
    if reason is not None:
        return None, reason
    stripped = text.strip()
    factor = 1.0
    unit = _LUMI_UNIT.search(stripped)
    if unit is not None and unit.end() == len(stripped):
        factor = LUMI_TO_NB[unit.group("a") or unit.group("b")]
        stripped = stripped[: unit.start()].strip()
    value, _ = parse_float(stripped)
    if value is None:
        return None, f"cannot read a luminosity from {_show(text)}"
    return value * factor, None


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
