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
"""

from __future__ import annotations

import http.client
import re
import urllib.parse

from lumiaudit.offline.rootio import Unsure

__all__ = ["TAIL", "WINDOW", "HttpRanges"]

#: Bytes read by a request that misses the windows already read.
WINDOW = 64 * 1024

#: A read this close to the end of the file fetches the whole tail.
TAIL = 256 * 1024

#: Windows kept per file (the head, the tail and a few baskets).
_KEEP = 8

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


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
        connection = (
            http.client.HTTPSConnection
            if parts.scheme.lower() == "https"
            else http.client.HTTPConnection
        )
        self.url = url
        self._conn = connection(parts.hostname, parts.port, timeout=timeout)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._windows: list[tuple[int, bytes]] = []
        self.requests = 0
        try:
            head, self.size = self._get(0, WINDOW)
        except BaseException:
            self.close()
            raise
        self._windows.append((0, head))

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def _get(self, start: int, n: int) -> tuple[bytes, int]:
        """``n`` bytes at ``start`` (fewer at the end of the file) and the file's size."""
        self.requests += 1
        self._conn.request("GET", self._target, headers={"Range": f"bytes={start}-{start + n - 1}"})
        response = self._conn.getresponse()
        status = response.status
        if status != 206:
            response.close()
            self._conn.close()
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
