"""Where a ROOT file is and how it is reached: local path or URL, probes, timeouts, retries.

The one decision "local or remote, and through which client" is :func:`access`, modelled on
uproot's ``_util.file_path_to_source_class`` (uproot 4/5 before fsspec became its default):

- a path without ``scheme://`` is a local file, whatever other colons it holds (``/data/a:b``);
- ``file://`` is a local file too (the prefix is dropped);
- ``root://`` (and ``roots``, ``xroot``, ``xroots``) is XRootD;
- ``http://`` and ``https://`` are HTTP;
- any other ``scheme://``, fsspec chains such as ``simplecache::root://`` included, is fsspec.

Every caller in :mod:`lumiaudit.offline` asks :func:`access` (or :func:`is_url`), so discovery,
the counting, the cache, the executors and the per-lumisection reads never disagree about a path.

>>> access("root://eos.example.org//belle/f.root")
Access(kind='xrootd', path='root://eos.example.org//belle/f.root')
>>> access("file:///data/f.root"), is_url("/data/odd://name.root")
(Access(kind='local', path='/data/f.root'), False)
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
from pathlib import Path
from typing import Any, Literal, NamedTuple

from lumiaudit.errors import ParameterError

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "XRD_STREAM_ERROR_WINDOW",
    "Access",
    "access",
    "check_retries",
    "is_url",
    "open_uproot",
    "oserror_text",
    "permanent",
    "probe_local",
    "probe_remote",
    "source_timeout",
    "transient",
]

logger = logging.getLogger(__name__)

#: Default retries of a remote read (:func:`~lumiaudit.offline.count.count_file`).
DEFAULT_RETRIES = 3

#: Default seconds before the first retry; doubled for each further one.
DEFAULT_BACKOFF = 0.5

#: Seconds one attempt at one remote file may take when no ``timeout`` is given: its open,
#: its reads and, after a failure, the header probe, together. Never unbounded: XRootD's own
#: default request timeout is 1800 s and a stalled server would hold a count for hours.
DEFAULT_TIMEOUT = 30.0

#: XRootD's ``StreamErrorWindow`` (seconds) set before uproot opens a ``root://`` file unless
#: ``XRD_STREAMERRORWINDOW`` is in the environment. XRootD's default (1800 s) makes every
#: request to a server fail at once for 30 minutes after one connection error, so a server
#: restarted within seconds would stay unreachable for the retries.
XRD_STREAM_ERROR_WINDOW = 1

#: ``scheme://`` at the start, with fsspec chains (``simplecache::root://``).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*(?:::[A-Za-z][A-Za-z0-9+.\-]*)*)://")

_XROOTD = frozenset({"root", "roots", "xroot", "xroots"})
_HTTP = frozenset({"http", "https"})

Kind = Literal["local", "xrootd", "http", "fsspec"]


class Access(NamedTuple):
    """How a file is reached: ``kind`` and the ``path`` to hand to that client."""

    kind: Kind
    path: str

    @property
    def remote(self) -> bool:
        """Whether the file is read over the network (anything but ``local``)."""
        return self.kind != "local"


def access(path: str | os.PathLike[str]) -> Access:
    """Classify ``path``: a local file, XRootD, HTTP or another fsspec protocol.

    Parameters
    ----------
    path
        A local path, ``file://`` path or URL; a :class:`os.PathLike` is always local.

    Returns
    -------
    Access
        The kind and the path for its client (``file://`` removed for local files).

    Examples
    --------
    >>> [access(p).kind for p in ("a/b.root", "HTTPS://h/b.root", "s3://b/c.root")]
    ['local', 'http', 'fsspec']
    >>> access("simplecache::root://h//b.root").kind
    'fsspec'
    """
    if not isinstance(path, str):
        return Access("local", os.fspath(path))
    if "://" not in path:  # the usual case, and a hot path (every file of a rerun)
        return Access("local", path)
    match = _SCHEME.match(path)
    if match is None:
        return Access("local", path)
    scheme = match.group(1).lower()
    if scheme == "file":
        return Access("local", path[match.end() :])
    if scheme in _XROOTD:
        return Access("xrootd", path)
    if scheme in _HTTP:
        return Access("http", path)
    return Access("fsspec", path)


def is_url(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is read over the network (see :func:`access`).

    >>> is_url("root://h//f.root"), is_url("file:///f.root"), is_url("/data/f.root")
    (True, False, False)
    """
    return access(path).remote


def check_retries(retries: int, backoff: float) -> None:
    """Raise :class:`~lumiaudit.errors.ParameterError` for a negative ``retries``/``backoff``."""
    if retries < 0:
        msg = f"retries must be 0 or more, got {retries}"
        raise ParameterError(msg)
    if not backoff >= 0:  # NaN too
        msg = f"backoff must be 0 or more seconds, got {backoff}"
        raise ParameterError(msg)


def permanent(exc: BaseException) -> bool:
    """Whether an error says the file is not there or not ours to read (never retried)."""
    return isinstance(
        exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError
    )


def transient(exc: BaseException) -> bool:
    """Whether a failed remote read may succeed when tried again (network, server, timeout)."""
    import http.client

    return not permanent(exc) and isinstance(exc, OSError | http.client.HTTPException)


def oserror_text(exc: OSError) -> str:
    """``"FileNotFoundError: No such file or directory"``: the class and the OS's words."""
    return f"{type(exc).__name__}: {exc.strerror or exc}"


@functools.cache
def tune_xrootd() -> None:
    """Shorten XRootD's stream error window, once per process (see above)."""
    if "XRD_STREAMERRORWINDOW" in os.environ:
        return
    import importlib

    try:
        client: Any = importlib.import_module("XRootD.client")
    except ImportError:  # uproot reports the missing XRootD bindings when it opens the file
        return
    client.EnvPutInt("StreamErrorWindow", XRD_STREAM_ERROR_WINDOW)


def source_timeout(path: str, timeout: float) -> float | int:
    """The ``timeout`` option for uproot's source of ``path``.

    uproot's XRootD source hands it to ``XRootD.client.File.open``, which takes whole seconds
    only (a float raises ``TypeError: integer argument expected``): round up, at least 1.
    """
    if access(path).kind == "xrootd":
        return max(1, math.ceil(timeout))
    return timeout


def _http_handler() -> Any:
    """uproot's own HTTP source for ``http(s)://``: it honours ``timeout`` per request.

    (fsspec's HTTP filesystem, uproot's default when aiohttp is installed, passes the
    option to aiohttp, whose meaning of a bare number differs between versions.)
    """
    from uproot.source.http import HTTPSource

    return HTTPSource


def open_uproot(path: str, *, timeout: float | None = None) -> Any:
    """``uproot.open`` with the client chosen by :func:`access` and a bounded remote read.

    Parameters
    ----------
    path
        Local path, ``file://`` path or URL.
    timeout
        Seconds per remote request (default :data:`DEFAULT_TIMEOUT`); ignored for local files.

    Returns
    -------
    uproot.ReadOnlyDirectory
        The file's root directory, without object or array caches.
    """
    import uproot  # not imported by the lean path: a third of a second per worker process

    where = access(path)
    options: dict[str, Any] = {"object_cache": None, "array_cache": None}
    if where.kind == "xrootd":
        tune_xrootd()
    if where.remote:
        options["timeout"] = source_timeout(path, DEFAULT_TIMEOUT if timeout is None else timeout)
    if where.kind == "http":
        options["handler"] = _http_handler()
    return uproot.open(where.path, **options)


def probe_local(path: str, size: int | None) -> tuple[int | None, bytes | None]:
    """``(size, first 64 bytes)`` of a local file; ``None`` for bytes that cannot be read."""
    try:
        with Path(path).open("rb") as fh:
            return size, fh.read(64)
    except OSError as exc:
        logger.debug("cannot read the header of %s: %s", path, exc)
        return size, None


def probe_remote(path: str, timeout: float | None) -> tuple[int | None, bytes | None]:
    """Size and first bytes of a URL (only used after a failure, to tell why)."""
    try:
        if access(path).kind == "http":
            return _probe_http(path, timeout)
        import fsspec

        options = {"timeout": source_timeout(path, timeout)} if timeout else {}
        fs, inner = fsspec.core.url_to_fs(path, **options)
        size = int(fs.size(inner))
        with fs.open(inner, "rb") as fh:
            header = bytes(fh.read(64))
    except Exception as exc:  # any failure: the caller reports the original error
        logger.debug("cannot probe %s: %s", path, exc)
        return None, None
    else:
        return size, header


def _probe_http(path: str, timeout: float | None) -> tuple[int | None, bytes | None]:
    # plain urllib: uproot's HTTPSource takes a Content-Length of 0 for a missing one
    import urllib.request

    head = urllib.request.Request(path, method="HEAD")
    with urllib.request.urlopen(head, timeout=timeout or 30) as response:
        size = int(response.headers.get("Content-Length", -1))
    if size == 0:
        return 0, b""
    first = urllib.request.Request(path, headers={"Range": "bytes=0-63"})
    with urllib.request.urlopen(first, timeout=timeout or 30) as response:
        header = bytes(response.read(64))
    return (None if size < 0 else size), header
