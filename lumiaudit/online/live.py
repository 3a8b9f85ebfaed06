"""HTTP access to live online systems, bounded in time, with a snapshot of every response.

One :class:`Fetcher` per operation: a ``urllib3.PoolManager`` with ``urllib3.util.Retry``
(retries with exponential backoff on connection errors and on 429/5xx, honouring
``Retry-After``), explicit connect/read timeouts and a deadline for the whole operation (every
request gets at most the time left; a body is read in chunks and abandoned when the deadline
passes, so a server trickling bytes cannot hold the audit). Every response body is kept as a
:class:`Snapshot` (URL without credentials, time, sha256, body), which
:func:`write_snapshots` stores and :func:`read_snapshots` reads back, so an audit that read a
live system can be rerun offline from the directory (``--online snapshots/``).

Credentials come from the environment (``LUMIAUDIT_HTTP_TOKEN`` for a bearer token,
``LUMIAUDIT_HTTP_USER`` / ``LUMIAUDIT_HTTP_PASSWORD`` for basic auth), from user info in the URL,
or from a netrc file (``$NETRC`` or ``~/.netrc``) entry for the host. They are sent only to the
host of the URL given, never logged, never stored: :func:`redact_url` strips them from every
URL that reaches a message, a log line, a table or a snapshot.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import netrc
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lumiaudit.errors import ConfigError, InputNotFoundError, InputReadError

__all__ = [
    "SNAPSHOT_INDEX",
    "Fetcher",
    "HttpOptions",
    "Snapshot",
    "is_snapshot_dir",
    "read_snapshots",
    "redact_url",
    "write_snapshots",
]

log = logging.getLogger(__name__)

#: Name of the manifest of a snapshot directory.
SNAPSHOT_INDEX = "snapshots.json"
_MARK = "lumiaudit online snapshots"
# Query parameters that carry secrets (ELOG's uname/upassword login, API keys).
_SECRET_PARAMS = {"token", "access_token", "api_key", "apikey", "key", "password", "upassword"}
# Statuses worth a retry (overload, gateway trouble); others are final answers.
_RETRIED = (429, 500, 502, 503, 504)
_EXTENSIONS = {"rundb": "json", "elog-xml": "xml", "elog-csv": "csv", "elog": "txt"}


def redact_url(url: str) -> str:
    """``url`` without user info and with secret query values replaced by ``***``.

    Examples
    --------
    >>> redact_url("https://me:pw@rundb.example/runs/?token=abc&min_experiment=10")
    'https://rundb.example/runs/?token=%2A%2A%2A&min_experiment=10'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    query = [
        (k, "***" if k.lower() in _SECRET_PARAMS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, host, parts.path, urlencode(query), ""))


@dataclass(frozen=True)
class Snapshot:
    """One response body of a live online source, as it was fetched.

    Attributes
    ----------
    url
        The URL fetched, credentials removed (:func:`redact_url`).
    fetched_at
        UTC time of the response, ISO 8601 (``2026-12-01T20:00:00Z``).
    sha256
        Hex digest of ``body``.
    body
        The bytes the server sent.
    format
        The reader that parses ``body`` (``rundb``, ``elog-xml``, ``elog-csv``, ``elog``).
    """

    url: str
    fetched_at: str
    sha256: str
    body: bytes = field(repr=False)
    format: str

    @classmethod
    def of(cls, url: str, body: bytes, format: str) -> Snapshot:
        """A snapshot of ``body`` fetched now from ``url`` (credentials are stripped here)."""
        return cls(
            url=redact_url(url),
            fetched_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            sha256=hashlib.sha256(body).hexdigest(),
            body=body,
            format=format,
        )


@dataclass(frozen=True)
class HttpOptions:
    """Time bounds and retries of live reads.

    Attributes
    ----------
    connect_timeout, read_timeout
        Seconds to connect, and to wait for the next bytes of a response.
    deadline
        Seconds for the whole operation (all pages, retries and backoff included).
    retries
        Retries per request on connection errors, timeouts and 429/500/502/503/504.
    backoff
        ``urllib3.util.Retry`` backoff factor (seconds; doubles with each retry).
    max_bytes
        Largest response body accepted.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    deadline: float = 600.0
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = 512 * 1024 * 1024


def _netrc_auth(host: str) -> tuple[str, str] | None:
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        # the message of NetrcParseError quotes no secret, only the file and line
        msg = f"cannot read netrc: {getattr(exc, 'msg', exc)}"
        raise ConfigError(msg, path=path) from None
    if entry is None or entry[2] is None:
        return None
    return entry[0], entry[2]


def auth_headers(url: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``Authorization`` header for ``url``: env token, env user, URL user info, netrc."""
    env = os.environ if env is None else env
    parts = urlsplit(url)
    token = env.get("LUMIAUDIT_HTTP_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = env.get("LUMIAUDIT_HTTP_USER"), env.get("LUMIAUDIT_HTTP_PASSWORD")
    if not user and parts.username:
        user, password = parts.username, parts.password or ""
    if not user and parts.hostname:
        found = _netrc_auth(parts.hostname)
        if found:
            user, password = found
    if not user:
        return {}
    pair = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
    return {"Authorization": f"Basic {pair}"}


class Fetcher:
    """GET with retries, timeouts and a whole-operation deadline; one instance per operation.

    Parameters
    ----------
    options
        Time bounds; the deadline starts when the fetcher is made.
    headers
        Extra request headers (the ``Authorization`` header of :func:`auth_headers`).
    """

    def __init__(self, options: HttpOptions | None = None, *, headers: Mapping[str, str] = {}):
        import urllib3

        self.options = options or HttpOptions()
        self._end = time.monotonic() + self.options.deadline
        self._headers = {"Accept": "application/json, text/xml, text/csv, */*", **headers}
        retry = urllib3.util.Retry(
            total=self.options.retries,
            connect=self.options.retries,
            read=self.options.retries,
            status=self.options.retries,
            redirect=5,
            backoff_factor=self.options.backoff,
            backoff_max=min(30.0, self.options.deadline / 4),
            status_forcelist=_RETRIED,
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        # Authorization is dropped on a redirect to another host (urllib3's default).
        self._pool = urllib3.PoolManager(retries=retry)

    def left(self) -> float:
        """Seconds left before the deadline."""
        return self._end - time.monotonic()

    def get(self, url: str, *, accept_status: Iterable[int] = (200,)) -> tuple[int, bytes]:
        """Return ``(status, body)`` of a GET of ``url``.

        Raises
        ------
        InputReadError
            Connection refused, timed out (after the retries), deadline passed, a status not in
            ``accept_status``, or a body above ``max_bytes``. The message names the URL without
            credentials.
        InputNotFoundError
            HTTP 404.
        """
        import urllib3

        shown = redact_url(url)
        left = self.left()
        if left <= 0:
            msg = f"deadline of {self.options.deadline:g} s passed before this request"
            raise InputReadError(
                msg,
                path=shown,
                hint="raise the deadline (HttpOptions.deadline) or narrow the query",
            )
        timeout = urllib3.util.Timeout(
            connect=min(self.options.connect_timeout, left),
            read=min(self.options.read_timeout, left),
            total=left,
        )
        try:
            resp = self._pool.request(
                "GET", url, headers=self._headers, timeout=timeout, preload_content=False
            )
        except urllib3.exceptions.MaxRetryError as exc:
            msg = f"cannot fetch after {self.options.retries} retries: {_cause(exc.reason)}"
            raise InputReadError(
                msg,
                path=shown,
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            msg = f"cannot fetch: {_cause(exc)}"
            raise InputReadError(msg, path=shown) from None
        try:
            body = self._read_body(resp, shown)
        finally:
            resp.release_conn()
        if resp.status not in set(accept_status):
            message = f"HTTP {resp.status} {resp.reason or ''}".strip()
            if resp.status in _RETRIED and self.options.retries:
                message += f" (after {self.options.retries} retries)"
            if resp.status == 404:
                raise InputNotFoundError(message, path=shown)
            hint = None
            if resp.status in (401, 403):
                hint = "set LUMIAUDIT_HTTP_TOKEN, LUMIAUDIT_HTTP_USER/PASSWORD or a netrc entry"
            raise InputReadError(message, path=shown, hint=hint)
        log.debug("GET %s: %d, %d bytes", shown, resp.status, len(body))
        return resp.status, body

    def _read_body(self, resp: Any, shown: str) -> bytes:
        import urllib3

        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.stream(1 << 16):
                size += len(chunk)
                if size > self.options.max_bytes:
                    msg = f"response larger than {self.options.max_bytes} bytes"
                    raise InputReadError(msg, path=shown)
                if self.left() <= 0:
                    msg = f"deadline of {self.options.deadline:g} s passed while reading"
                    raise InputReadError(
                        msg,
                        path=shown,
                    )
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            msg = f"cannot read the response: {_cause(exc)}"
            raise InputReadError(msg, path=shown) from None
        return b"".join(chunks)


def _cause(exc: BaseException | None) -> str:
    """A short cause without URLs (urllib3 messages repeat the URL, with its query)."""
    import urllib3

    # NewConnectionError derives from ConnectTimeoutError: test it first
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "connection failed (refused or unreachable)"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return "read timed out"
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return "connect timed out"
    if isinstance(exc, urllib3.exceptions.ResponseError):
        return "too many error responses"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "connection broken"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS error"
    return type(exc).__name__ if exc is not None else "unknown error"


# ------------------------------------------------------------------ snapshot directories


def write_snapshots(snapshots: Iterable[Snapshot], directory: str | os.PathLike[str]) -> Path:
    """Write ``snapshots`` into ``directory`` (created): one file per body and the manifest.

    The manifest :data:`SNAPSHOT_INDEX` lists ``file, url, fetched_at, sha256, format`` per
    body, in fetch order. The directory is read back by :func:`read_snapshots` and by
    :func:`lumiaudit.online.read_online` (``--online DIR``).

    Returns
    -------
    Path
        The directory.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for k, snap in enumerate(snapshots, start=1):
        name = f"{k:04d}-{snap.format}.{_EXTENSIONS.get(snap.format, 'txt')}"
        (out / name).write_bytes(snap.body)
        items.append(
            {
                "file": name,
                "url": snap.url,
                "fetched_at": snap.fetched_at,
                "sha256": snap.sha256,
                "format": snap.format,
            }
        )
    index = {"kind": _MARK, "version": 1, "snapshots": items}
    (out / SNAPSHOT_INDEX).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return out


def is_snapshot_dir(path: Path) -> bool:
    """Whether ``path`` is a directory written by :func:`write_snapshots`."""
    return path.is_dir() and (path / SNAPSHOT_INDEX).is_file()


def read_snapshots(directory: str | os.PathLike[str]) -> list[Snapshot]:
    """Read a snapshot directory, checking every body against its recorded sha256.

    Raises
    ------
    InputReadError
        A body is missing, unreadable, or differs from its digest (changed since fetched).
    ConfigError
        The manifest is not one written by :func:`write_snapshots`.
    """
    root = Path(directory)
    index_path = root / SNAPSHOT_INDEX
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"unreadable snapshot manifest: {exc}"
        raise ConfigError(msg, path=index_path) from None
    if not isinstance(index, dict) or index.get("kind") != _MARK:
        msg = "not a lumiaudit snapshot manifest"
        raise ConfigError(msg, path=index_path)
    out: list[Snapshot] = []
    for k, item in enumerate(index.get("snapshots", []), start=1):
        try:
            name, url, digest = str(item["file"]), str(item["url"]), str(item["sha256"])
            fetched, fmt = str(item["fetched_at"]), str(item["format"])
        except (KeyError, TypeError):
            msg = f"snapshot {k}: incomplete record"
            raise ConfigError(msg, path=index_path) from None
        path = root / Path(name).name  # never outside the directory
        try:
            body = path.read_bytes()
        except OSError as exc:
            msg = f"cannot read snapshot body: {exc.strerror}"
            raise InputReadError(msg, path=path) from None
        if hashlib.sha256(body).hexdigest() != digest:
            msg = f"snapshot of {url} does not match its sha256 (changed since it was fetched)"
            raise InputReadError(
                msg,
                path=path,
            )
        out.append(Snapshot(url=url, fetched_at=fetched, sha256=digest, body=body, format=fmt))
    return out
