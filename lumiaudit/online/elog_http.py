"""A PSI ELOG logbook over HTTP: ``elog+https://host/Beam+run/``.

elogd (3.1.5) exports the entries of a logbook's list page with ``?mode=XML``, ``?mode=CSV1``
(``,``), ``?mode=CSV2`` / ``?mode=CSV3`` (``;``, CSV3 with the text) and ``?mode=Raw`` on the
logbook URL; an export always holds every entry that matches, with no paging (see
``tests/data/elog/README.md``, recorded from elogd). Search attributes given in the URL's query
(``?Run+number=3030``) are kept. Without ``mode`` the XML export is asked for: it has the full
text (CSV3 cuts it at 1599 bytes).

A server that answers with something else (its login page when the logbook needs a password,
an error page) is an :class:`~lumiaudit.errors.OnlineFormatError` naming the URL, never a
logbook without entries.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lumiaudit.errors import OnlineFormatError, ParameterError
from lumiaudit.online.detect import detect_format
from lumiaudit.online.live import Fetcher, HttpOptions, Snapshot, auth_headers, redact_url
from lumiaudit.online.mapping import Mapping
from lumiaudit.online.values import decode_bytes

__all__ = ["MODES", "SCHEME", "fetch_elog"]

#: URL prefix naming a live ELOG logbook.
SCHEME = "elog+"

#: elogd export modes and the reader of each.
MODES = {
    "XML": "elog-xml",
    "CSV1": "elog-csv",
    "CSV2": "elog-csv",
    "CSV3": "elog-csv",
    "Raw": "elog",
}


def export_url(url: str, *, mode: str = "XML") -> tuple[str, str]:
    """``(url with ?mode=..., reader format)`` for a logbook URL (``elog+`` prefix optional).

    Examples
    --------
    >>> export_url("elog+https://elog.example/Beam+run/")
    ('https://elog.example/Beam+run/?mode=XML', 'elog-xml')
    """
    plain = url[len(SCHEME) :] if url.startswith(SCHEME) else url
    parts = urlsplit(plain)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"not an ELOG logbook URL: {redact_url(plain)!r}"
        raise ParameterError(
            msg,
            hint="use elog+https://host/Logbook/",
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    modes = {k.lower(): v for k, v in query}.get("mode")
    if modes is None:
        query.insert(0, ("mode", mode))
        modes = mode
    chosen = {m.lower(): m for m in MODES}.get(modes.lower())
    if chosen is None:
        msg = f"ELOG export mode {modes!r} is not read"
        raise ParameterError(msg, hint=f"use one of {', '.join(MODES)}")
    path = parts.path or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), "")), MODES[chosen]


def fetch_elog(
    url: str, *, mapping: Mapping, options: HttpOptions | None = None, mode: str = "XML"
) -> list[Snapshot]:
    """Fetch the export of a logbook; one :class:`Snapshot`.

    Raises
    ------
    InputReadError, InputNotFoundError
        The export could not be fetched (see :meth:`~lumiaudit.online.live.Fetcher.get`).
    OnlineFormatError
        The body is not the export asked for (a login or error page).
    ParameterError
        Not an http(s) URL or an unknown ``mode``.
    """
    target, fmt = export_url(url, mode=mode)
    fetcher = Fetcher(options, headers=auth_headers(target))
    _, body = fetcher.get(target)
    text, _ = decode_bytes(body[:8192])
    got = detect_format(text, mapping)
    if got != fmt:
        what = (
            "an HTML page (a login page?)"
            if text.lstrip().lower()[:5] in ("<!doc", "<html")
            else (got or "of no known format")
        )
        msg = f"ELOG answered with {what}, not the {fmt} export"
        raise OnlineFormatError(msg, path=redact_url(target))
    return [Snapshot.of(target, body, fmt)]
