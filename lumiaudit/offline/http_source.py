"""Byte ranges of one ``http(s)://`` file for the lean reader, over one kept-alive connection.

The lean reader needs a few small reads per file (the header, the top directory's keys, the
event tree's first bytes); at 20 ms per request the round trips, not the bytes, are the cost.
:class:`HttpRanges` therefore reads whole windows (:data:`WINDOW` bytes, the last
:data:`TAIL` bytes of the file at once: ROOT writes the trees' headers, the streamers and
the keys list at the end when it closes a file) and serves later reads from them.

Only plain ``206 Partial Content`` answers with an exact ``Content-Range`` are used. A
server that ignores ``Range`` (``200``), redirects or answers anything unexpected raises
:class:`~lumiaudit.offline.rootio.Unsure`, and the file is read by uproot; ``404`` is
:class:`FileNotFoundError`, ``401``/``403`` :class:`PermissionError` and other errors
:class:`OSError` naming the status, so that the caller's retries treat them as uproot's.
Every request has the caller's ``timeout`` (seconds per socket operation).

Connections are kept alive **across files**: when a file is closed after answers that were
read completely, its connection goes to a small pool of idle connections per server (scheme,
host, port; at most :data:`MAX_IDLE`), and the next file of that server takes it instead of
opening a new TCP (and TLS) connection. A server may close an idle connection at any time: a
reused connection that fails before any answer (``RemoteDisconnected``, reset, broken pipe) is
replaced by a new one and the request is sent once more, as browsers and urllib3 do for an
idempotent ``GET``; any other failure, and any failure of a new connection, is the file's. A
connection with an error, an answer not read to its end or a ``Connection: close`` is never
pooled. A forked child starts with an empty pool (sockets are not shared between processes);
the idle connections are closed at exit or by :func:`close_idle`.
"""

from __future__ import annotations

import atexit
import http.client
import os
import re
import threading
import urllib.parse

from lumiaudit.offline.rootio import Unsure

__all__ = ["MAX_IDLE", "TAIL", "WINDOW", "HttpRanges", "close_idle"]

#: Bytes read by a request that misses the windows already read.
WINDOW = 64 * 1024

#: A read this close to the end of the file fetches the whole tail.
TAIL = 256 * 1024

#: Windows kept per file (the head, the tail and a few baskets).
_KEEP = 8

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")

#: Idle connections kept per server.
MAX_IDLE = 64

#: What a reused connection that the server closed while it was idle fails with.
_STALE = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)

_Key = tuple[str, str, int | None]
_idle: dict[_Key, list[http.client.HTTPConnection]] = {}
_idle_lock = threading.Lock()


def _take(key: _Key) -> http.client.HTTPConnection | None:
    with _idle_lock:
        pool = _idle.get(key)
        return pool.pop() if pool else None


def _give(key: _Key, conn: http.client.HTTPConnection) -> None:
    with _idle_lock:
        pool = _idle.setdefault(key, [])
        if len(pool) < MAX_IDLE:
            pool.append(conn)
            return
    conn.close()


def close_idle() -> None:
    """Close every idle kept-alive connection (also run at exit)."""
    with _idle_lock:
        conns = [c for pool in _idle.values() for c in pool]
        _idle.clear()
    for conn in conns:
        conn.close()


def _forget_idle_in_child() -> None:
    # the child must not use (or close: the parent's) sockets; a new lock for a clean state
    global _idle_lock  # noqa: PLW0603
    _idle.clear()
    _idle_lock = threading.Lock()


atexit.register(close_idle)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_idle_in_child)


class HttpRanges:
    """Reads of one URL by ``Range`` requests (see the module docstring).

    Parameters
    ----------
    url
        ``http://`` or ``https://`` URL, without credentials.
    timeout
        Seconds per socket operation of each request.

    Raises
    ------
    Unsure, OSError
        See the module docstring; the first request (the head window) is made here.
    """

    def __init__(self, url: str, *, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            msg = f"not an HTTP URL: {url}"
            raise Unsure(msg)
        if parts.username or parts.password:
            msg = "credentials in the URL: left to uproot"
            raise Unsure(msg)
        scheme = parts.scheme.lower()
        self._factory = (
            http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        )
        self._key: _Key = (scheme, parts.hostname, parts.port)
        self._timeout = timeout
        self.url = url
        kept = _take(self._key)
        #: whether the connection came from the pool and has not answered yet (it may be stale)
        self._suspect = kept is not None
        self._conn: http.client.HTTPConnection | None = kept if kept is not None else self._new()
        if kept is not None:
            kept.timeout = timeout
            if kept.sock is not None:
                kept.sock.settimeout(timeout)
        #: whether the connection may go back to the pool (every answer read to its end)
        self._clean = True
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._windows: list[tuple[int, bytes]] = []
        self.requests = 0
        try:
            head, self.size = self._get(0, WINDOW)
        except BaseException:
            self.close()
            raise
        self._windows.append((0, head))

    def _new(self) -> http.client.HTTPConnection:
        return self._factory(self._key[1], self._key[2], timeout=self._timeout)

    def close(self) -> None:
        """Give the connection back to the pool, or close it (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._clean and conn.sock is not None:
            _give(self._key, conn)
        else:
            conn.close()

    def _response(self, start: int, n: int) -> http.client.HTTPResponse:
        """Send the range request and return the answer's head (one resend on a stale one)."""
        assert self._conn is not None, "read after close"
        headers = {"Range": f"bytes={start}-{start + n - 1}"}
        self._clean = False  # until the answer is read to its end
        try:
            self._conn.request("GET", self._target, headers=headers)
            response = self._conn.getresponse()
        except _STALE:
            if not self._suspect:
                raise
            # the server closed the idle connection: a new one, the same request once more
            self._conn.close()
            self._conn = self._new()
            self._suspect = False
            self._conn.request("GET", self._target, headers=headers)
            response = self._conn.getresponse()
        self._suspect = False
        return response

    def _get(self, start: int, n: int) -> tuple[bytes, int]:
        """``n`` bytes at ``start`` (fewer at the end of the file) and the file's size."""
        self.requests += 1
        response = self._response(start, n)
        status = response.status
        if status != 206:
            response.close()
            if self._conn is not None:
                self._conn.close()  # (never pooled: _clean stays False)
            text = f"HTTP {status} {response.reason} for {self.url}"
            if status == 404:
                raise FileNotFoundError(text)
            if status in (401, 403):
                raise PermissionError(text)
            if status >= 500 or status == 429:
                raise OSError(text)
            raise Unsure(text)  # 200 (no ranges), 3xx, 416, ...: uproot's way
        found = _CONTENT_RANGE.fullmatch(response.getheader("Content-Range", "").strip())
        body = response.read()
        self._clean = not response.will_close
        if found is None:
            msg = f"{self.url}: no exact Content-Range in a 206 answer"
            raise Unsure(msg)
        first, last, size = (int(g) for g in found.groups())
        if first != start or last - first + 1 != len(body) or last >= size:
            msg = f"{self.url}: asked for bytes {start}-{start + n - 1}, got {first}-{last}"
            raise Unsure(msg)
        return body, size

    def read(self, n: int, offset: int) -> bytes:
        """Up to ``n`` bytes at ``offset`` (fewer only at the end of the file)."""
        stop = min(offset + n, self.size)
        if offset >= stop:
            return b""
        for start, data in self._windows:
            if start <= offset and stop <= start + len(data):
                return data[offset - start : stop - start]
        first = max(0, self.size - TAIL) if offset >= self.size - TAIL else offset
        want = max(stop - first, WINDOW if first == offset else self.size - first)
        data, _ = self._get(first, min(want, self.size - first))
        if len(data) < stop - first:
            msg = f"{self.url}: {len(data)} bytes at {first}, {stop - first} wanted"
            raise Unsure(msg)
        self._windows = [*self._windows[-(_KEEP - 1) :], (first, data)]
        return data[offset - first : stop - first]
