"""The Belle II run database over REST: ``rundb+https://host/rest/v1/runs/?min_experiment=10``.

The run database answers in pages ``{"count": N, "next": url | null, "previous": ...,
"results": [run, ...]}`` (Django REST framework style, as the Belle II RunDB does); nested
objects such as ``statistics`` are only included when asked for with ``expand=statistics``.
:func:`fetch_rundb` follows ``next`` until it is ``null`` and returns one :class:`Snapshot` per
page; the pages are then read like saved run-DB JSON (:mod:`lumiaudit.online.rundb`).

Rules that keep a paginated read honest and bounded:

- ``next`` must stay on the scheme, host and port of the first URL (credentials are never sent
  elsewhere) and never repeat a page already read (a loop);
- at most ``max_pages`` pages, all within the fetcher's deadline;
- a page that is not JSON, or not an object with a ``results`` list, is an
  :class:`~lumiaudit.errors.OnlineFormatError` naming the page's URL: the pages after it cannot
  be found, so the read stops rather than returning part of the runs as if it were all;
- a ``count`` that disagrees with the number of runs read is a problem row, not silence.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lumiaudit.errors import OnlineFormatError, ParameterError
from lumiaudit.online.entries import Problems
from lumiaudit.online.live import Fetcher, HttpOptions, Snapshot, auth_headers, redact_url

__all__ = ["SCHEME", "fetch_rundb"]

log = logging.getLogger(__name__)

#: URL prefix naming a live run database (``rundb+https://...``, ``rundb+http://...``).
SCHEME = "rundb+"


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _with_expand(url: str, expand: tuple[str, ...]) -> str:
    """Add ``expand=...`` unless the URL already says what to expand."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not expand or any(k == "expand" for k, _ in query):
        return url
    query.append(("expand", ",".join(expand)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def fetch_rundb(
    url: str,
    *,
    problems: Problems,
    options: HttpOptions | None = None,
    expand: tuple[str, ...] = ("statistics",),
    max_pages: int = 10_000,
) -> list[Snapshot]:
    """Fetch every page of a run-database query.

    Parameters
    ----------
    url
        ``rundb+https://host/path/?query`` (or ``https://...``).
    problems
        Collector: a ``count`` that disagrees with the runs read.
    options
        Timeouts, retries and the deadline of the whole read.
    expand
        Nested objects to ask for (``expand=statistics``) when the URL has no ``expand``.
    max_pages
        Refuse to follow more pages than this.

    Returns
    -------
    list of Snapshot
        One per page, in order (format ``rundb``).

    Raises
    ------
    InputReadError, InputNotFoundError
        A page could not be fetched (HTTP error, timeout, deadline), see
        :meth:`~lumiaudit.online.live.Fetcher.get`.
    OnlineFormatError
        A page is not a run-DB JSON page, or ``next`` leaves the host, loops or exceeds
        ``max_pages``.
    ParameterError
        The URL is not http(s).
    """
    first = url[len(SCHEME) :] if url.startswith(SCHEME) else url
    if urlsplit(first).scheme not in ("http", "https") or not urlsplit(first).hostname:
        msg = f"not a run-database URL: {redact_url(first)!r}"
        raise ParameterError(
            msg,
            hint="use rundb+https://host/path/?query",
        )
    first = _with_expand(first, expand)
    fetcher = Fetcher(options, headers=auth_headers(first))
    origin = _origin(first)
    seen: set[str] = set()
    snaps: list[Snapshot] = []
    count: int | None = None
    n_runs = 0
    page_url: str | None = first
    while page_url is not None:
        shown = redact_url(page_url)
        if page_url in seen:
            msg = "'next' points to a page already read (a loop)"
            raise OnlineFormatError(msg, path=shown)
        if len(snaps) >= max_pages:
            msg = f"more than {max_pages} pages; stopped"
            raise OnlineFormatError(msg, path=shown)
        seen.add(page_url)
        _, body = fetcher.get(page_url)
        snaps.append(Snapshot.of(page_url, body, "rundb"))
        try:
            page = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            msg = f"run-database page is not JSON ({type(exc).__name__}: {str(exc)[:80]})"
            raise OnlineFormatError(
                msg,
                path=shown,
            ) from None
        if not isinstance(page, dict) or not isinstance(page.get("results"), list):
            msg = 'run-database page is not {"results": [...], "next": ...}'
            raise OnlineFormatError(msg, path=shown)
        n_runs += len(page["results"])
        if count is None and isinstance(page.get("count"), int):
            count = page["count"]
        nxt = page.get("next")
        if nxt is not None and not isinstance(nxt, str):
            msg = "'next' is neither a URL nor null"
            raise OnlineFormatError(msg, path=shown)
        page_url = urljoin(page_url, nxt) if nxt else None
        if page_url is not None and _origin(page_url) != origin:
            msg = (
                f"'next' leaves {origin[1]} for {redact_url(page_url)}; not followed "
                "(credentials are only sent to the host given)"
            )
            raise OnlineFormatError(
                msg,
                path=shown,
            )
    log.info("%s: %d pages, %d runs", redact_url(first), len(snaps), n_runs)
    if count is not None and count != n_runs:
        problems.add(
            redact_url(first),
            "pages",
            f"the run database announced count {count} but its pages held {n_runs} runs "
            "(changed while reading?); rerun or check the query",
        )
    return snaps
