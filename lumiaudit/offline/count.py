"""Count one ROOT file: entries, FileMetaData, per-run split and a ``b2file-check``-like health.

basf2's ``b2file-check`` tests that a file is readable, has ``tree`` and ``persistent``, that
FileMetaData is readable, that the tree entries equal FileMetaData ``nEvents`` and that all
entries are readable. :func:`count_file` does the same in three depths:

``fast``
    Open the file and read ``fEntries`` of the event tree (what ``uproot.num_entries`` does).
    No FileMetaData, so ``metadata_mismatch`` cannot be seen and ``n_full`` stays missing.
``auto`` (default)
    ``fast`` plus the few FileMetaData leaves needed (``filter_name``, never the whole object
    with its map/vector members), and ``EventMetaData/m_run`` only when the run is ambiguous
    (no run in the name, or a FileMetaData run range that spans runs).
``deep``
    ``auto`` plus ``m_run``, ``m_errorFlag`` of every entry: per-run split, counted error-free
    events and per-bit error-flag counts; every basket of those branches must be readable.

:func:`count_file` never raises for a bad file: the problem is its ``status`` and ``error``.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import stat
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lumiaudit.errors import ParameterError
from lumiaudit.offline.deadline import with_deadline
from lumiaudit.offline.grammar import parse_name
from lumiaudit.offline.names import FileName
from lumiaudit.offline.rootio import LeanFile
from lumiaudit.offline.roottree import LeanTree
from lumiaudit.schema import FileStatus

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_BRANCHES",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "FLAG_BITS",
    "MODES",
    "FileRecord",
    "check_retries",
    "count_file",
    "is_url",
]

logger = logging.getLogger(__name__)

MODES = ("auto", "fast", "deep")

#: basf2 ``EventMetaData::EventErrorFlag`` bits (DOMAIN.md); other set bits are counted too.
FLAG_BITS = (0x1, 0x2, 0x4, 0x8, 0x10, 0x20)

#: Default retries of a remote read (:func:`count_file`).
DEFAULT_RETRIES = 3

#: Default seconds before the first retry; doubled for each further one.
DEFAULT_BACKOFF = 0.5


#: Branch and tree names read besides the event tree; override for other experiments' files.
DEFAULT_BRANCHES: Mapping[str, str] = {
    "run": "EventMetaData/m_run",
    "experiment": "EventMetaData/m_experiment",
    "error_flag": "EventMetaData/m_errorFlag",
    "persistent": "persistent",
    "n_events": "FileMetaData/m_nEvents",
    "n_full": "FileMetaData/m_nFullEvents",
    "experiment_low": "FileMetaData/m_experimentLow",
    "experiment_high": "FileMetaData/m_experimentHigh",
    "run_low": "FileMetaData/m_runLow",
    "run_high": "FileMetaData/m_runHigh",
    "data_description": "FileMetaData/m_dataDescription",
}

#: (experiment, run, n_entries, n_full) of one file in one run.
Contribution = tuple[int | None, int, int, int | None]


@dataclass(frozen=True, slots=True)
class FileRecord:
    """Everything known about one file that does not depend on other files (picklable).

    Attributes
    ----------
    path
        The path or URL as counted.
    status, error
        A :class:`~lumiaudit.schema.FileStatus` value and why the file is not ``ok``.
    size_bytes, mtime, mtime_ns, inode
        From ``os.stat`` for local files; ``None`` when unknown (URLs).
    n_entries
        Entries of the event tree; ``None`` if unreadable.
    n_meta, n_full
        FileMetaData ``nEvents`` and error-free events (``nFullEvents``, or counted in deep
        mode); ``None`` when unknown.
    experiment, run_low, run_high
        FileMetaData experiment (low) and run range (``-1`` for an empty file).
    data_level
        ``raw``, ``mdst``, ... from FileMetaData's ``dataLevel`` or the name.
    contributions
        ``(experiment, run, n_entries, n_full)`` per run the file's entries belong to.
    flag_counts
        ``(bit, events with the bit set)`` for the whole file, deep mode only.
    run_flag_counts
        ``(experiment, run, bit, count)``, deep mode only.
    mode, tree
        How the file was counted.
    """

    path: str
    status: str
    error: str = ""
    size_bytes: int | None = None
    mtime: float | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    n_entries: int | None = None
    n_meta: int | None = None
    n_full: int | None = None
    experiment: int | None = None
    run_low: int | None = None
    run_high: int | None = None
    data_level: str | None = None
    contributions: tuple[Contribution, ...] = ()
    flag_counts: tuple[tuple[int, int], ...] = ()
    run_flag_counts: tuple[tuple[int | None, int, int, int], ...] = field(default=())
    mode: str = "auto"
    tree: str = "tree"

    @property
    def readable(self) -> bool:
        """Whether the file's entries count (ok, empty or metadata_mismatch)."""
        return FileStatus(self.status).readable


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL (``root://``, ``https://``, ...) rather than a local path."""
    return "://" in path and not path.startswith("file://")


class _Bad(Exception):
    """Internal: the file is bad, with a status."""

    def __init__(self, status: FileStatus, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def _header_problem(header: bytes, size: int | None) -> _Bad | None:
    """Check the ROOT file header (``TFile::Init``): magic bytes and ``fEND`` vs size."""
    if size == 0:
        return _Bad(FileStatus.ZERO_BYTES, "file has 0 bytes")
    if header[:4] != b"root":
        return _Bad(FileStatus.NOT_ROOT, f"not a ROOT file: starts with {header[:8]!r}")
    if len(header) < 20:
        return _Bad(FileStatus.TRUNCATED, f"ROOT header cut after {len(header)} bytes")
    version = struct.unpack(">i", header[4:8])[0]
    end = (
        struct.unpack(">q", header[12:20])[0]
        if version >= 1_000_000
        else struct.unpack(">i", header[12:16])[0]
    )
    if size is not None and end > size:
        return _Bad(FileStatus.TRUNCATED, f"file has {size} bytes but its ROOT header says {end}")
    return None


def _http_handler(path: str) -> Any:
    """uproot's own HTTP source for ``http(s)://``: it honours ``timeout`` per request.

    (fsspec's HTTP filesystem, uproot's default when aiohttp is installed, passes the
    option to aiohttp, whose meaning of a bare number differs between versions.)
    """
    if path.startswith(("http://", "https://")):
        from uproot.source.http import HTTPSource

        return HTTPSource
    return None


#: Seconds one attempt at one remote file may take when no ``timeout`` is given: its open,
#: its reads and, after a failure, the header probe, together. Never unbounded: XRootD's own
#: default request timeout is 1800 s and a stalled server would hold a count for hours.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class _Failure:
    """Internal: a failed attempt, with what the header probe saw (``None``: not probed)."""

    exc: BaseException
    size: int | None
    header: bytes | None


def _probe_local(path: str, size: int | None) -> tuple[int | None, bytes | None]:
    try:
        with Path(path).open("rb") as fh:
            return size, fh.read(64)
    except OSError as exc:
        logger.debug("cannot read the header of %s: %s", path, exc)
        return size, None


def _probe_remote(path: str, timeout: float | None) -> tuple[int | None, bytes | None]:
    """Size and first bytes of a URL (only used after a failure, to tell why)."""
    try:
        if path.startswith(("http://", "https://")):
            return _probe_http(path, timeout)
        import fsspec

        options = {"timeout": _source_timeout(path, timeout)} if timeout else {}
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


def _classify(exc: BaseException, header_bad: _Bad | None, *, header_seen: bool) -> _Bad:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    if header_bad is not None:
        return _Bad(header_bad.status, f"{header_bad.error} ({text})")
    if not header_seen or isinstance(
        exc,
        TimeoutError
        | PermissionError
        | ConnectionError
        | FileNotFoundError
        | IsADirectoryError
        | ImportError,
    ):
        # nothing shows that the file itself is bad: it may be fine
        return _Bad(FileStatus.IO_ERROR, text)
    # a ROOT header that looks fine but records that cannot be read: cut or corrupt
    return _Bad(FileStatus.TRUNCATED, text)


def _get(arrays: Mapping[str, Any], branch: str) -> Any:
    # basf2 writes split objects (key: the leaf name), uproot flat branches (the full name)
    value = arrays.get(branch)
    return arrays.get(branch.rsplit("/", 1)[-1]) if value is None else value


def _scalar(arrays: Mapping[str, Any], branch: str) -> int | None:
    value = _get(arrays, branch)
    if value is None or len(value) != 1:
        return None
    return int(value[0])


def _data_level(arrays: Mapping[str, Any], branch: str) -> str | None:
    keys = _get(arrays, f"{branch}.first")
    values = _get(arrays, f"{branch}.second")
    if keys is None or values is None or len(keys) != 1:
        return None
    mapping = dict(zip(list(keys[0]), list(values[0]), strict=False))
    level = mapping.get("dataLevel")
    return None if level is None else str(level)


def _split(
    runs: np.ndarray,
    experiments: np.ndarray | None,
    flags: np.ndarray | None,
    default_experiment: int | None,
) -> tuple[tuple[Contribution, ...], tuple[tuple[int | None, int, int, int], ...]]:
    """Per-run entries, error-free entries and flag-bit counts from per-event arrays."""
    exps = (
        experiments.astype(np.int64)
        if experiments is not None
        else np.full(len(runs), -1 if default_experiment is None else default_experiment)
    )
    runs = runs.astype(np.int64)
    if len(runs) and runs.min() == runs.max() and exps.min() == exps.max():
        # the usual file: one run (np.unique over rows costs more than the rest of the split)
        uniq = np.array([[exps[0], runs[0]]], dtype=np.int64)
        inverse = np.zeros(len(runs), dtype=np.intp)
    else:
        keys = np.stack([exps, runs], axis=1)
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
    contributions: list[Contribution] = []
    run_flags: list[tuple[int | None, int, int, int]] = []
    for i, (exp_value, run_value) in enumerate(uniq.tolist()):
        mask = inverse == i
        exp = None if exp_value < 0 else int(exp_value)
        n_full = None if flags is None else int(np.count_nonzero(flags[mask] == 0))
        contributions.append((exp, int(run_value), int(np.count_nonzero(mask)), n_full))
        if flags is not None:
            run_flags.extend((exp, int(run_value), b, n) for b, n in _bit_counts(flags[mask]))
    return tuple(contributions), tuple(run_flags)


def _bit_counts(flags: np.ndarray) -> tuple[tuple[int, int], ...]:
    flags = flags.astype(np.uint64)
    seen = int(np.bitwise_or.reduce(flags)) if len(flags) else 0
    bits = sorted(set(FLAG_BITS) | {1 << i for i in range(64) if seen >> i & 1})
    return tuple((b, int(np.count_nonzero(flags & np.uint64(b)))) for b in bits)


def count_file(
    path: str,
    *,
    tree: str = "tree",
    mode: str = "auto",
    timeout: float | None = None,
    branch_names: Mapping[str, str] | None = None,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    names: str = "belle2",
) -> FileRecord:
    """Count the entries of one ROOT file and check its health.

    Parameters
    ----------
    path
        Local path or URL (``root://``, ``https://``); uproot opens it.
    tree
        Name of the event tree.
    mode
        ``auto``, ``fast`` or ``deep`` (see the module docstring).
    timeout
        For URLs: seconds one attempt at the file may take, all of it (open, reads and,
        after a failure, the header probe); each request to the server gets the same
        timeout. Default :data:`DEFAULT_TIMEOUT`. An attempt still running then is abandoned
        and counts as timed out (``io_error``, "timed out after N s"), so a file costs at
        most ``(retries + 1) * timeout`` plus the backoff waits. Local files are not bounded
        (a FIFO or device is refused before opening).
    branch_names
        Overrides of :data:`DEFAULT_BRANCHES` (for other experiments' files).
    retries
        For URLs only: how many times a read that failed for a reason that may pass
        (connection lost or refused, request timed out, server error) is tried again, after
        waiting ``backoff``, ``2 * backoff``, ``4 * backoff``, ... seconds (default: 3 retries
        after 0.5, 1 and 2 s). What shows that the file itself is bad (not found, no access,
        not ROOT, cut, no tree) is never retried, and local files are read once. A file that
        still fails is ``io_error`` with the last error and the number of attempts.
    backoff
        Seconds before the first retry; doubled for each further one.
    names
        File-name grammar (``belle2``, ``none`` or a regex; see
        :mod:`lumiaudit.offline.grammar`).

    Returns
    -------
    FileRecord
        Never raises for a bad file: ``status`` and ``error`` say what is wrong.

    Raises
    ------
    ParameterError
        If ``mode`` is not one of :data:`MODES`, ``retries`` or ``backoff`` is negative, or
        ``timeout`` is not positive.

    Examples
    --------
    Run from a clone of the repository (a vendored ROOT-written b2-sample file):

    >>> rec = count_file(
    ...     "tests/data/b2-sample/prod/release-03-02-04/DB00000677/bucket7/e0010/4S/r03000/"
    ...     "all/mdst/sub00/mdst.physics.0010.03000.HLT1.f00000.root"
    ... )
    >>> rec.status, rec.n_entries, rec.contributions
    ('ok', 454, ((10, 3000, 454, 443),))
    """
    if mode not in MODES:
        msg = f"unknown counting mode {mode!r}; use one of {', '.join(MODES)}"
        raise ParameterError(msg)
    check_retries(retries, backoff)
    branches = {**DEFAULT_BRANCHES, **(branch_names or {})}
    base: dict[str, Any] = {"path": str(path), "mode": mode, "tree": tree}
    path = str(path)
    remote = is_url(path)
    local = path[len("file://") :] if path.startswith("file://") else path
    if not remote:
        try:
            st = Path(local).stat()
            base.update(
                size_bytes=st.st_size, mtime=st.st_mtime, mtime_ns=st.st_mtime_ns, inode=st.st_ino
            )
            if not stat.S_ISREG(st.st_mode):
                # a FIFO or device would block the reader; a directory is not a file
                kind = "directory" if stat.S_ISDIR(st.st_mode) else "special file"
                return FileRecord(
                    status=str(FileStatus.IO_ERROR), error=f"not a regular file: {kind}", **base
                )
        except OSError as exc:
            return FileRecord(status=str(FileStatus.IO_ERROR), error=_oserror(exc), **base)
        if st.st_size == 0:
            return FileRecord(status=str(FileStatus.ZERO_BYTES), error="file has 0 bytes", **base)
    if remote:
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        if not timeout > 0:
            msg = f"timeout must be more than 0 seconds, got {timeout}"
            raise ParameterError(msg)
    elif lean_enabled():
        try:
            return _read(
                path,
                local,
                remote,
                tree,
                mode,
                timeout,
                branches,
                dict(base),
                lean=True,
                names=names,
            )
        except Exception as exc:  # Unsure, or anything unusual: the full reading decides
            logger.debug("%s: lean reading gave up (%s); reading it with uproot", path, exc)
    attempt = 0
    while True:
        attempt += 1
        if remote:
            assert timeout is not None
            try:
                outcome = with_deadline(
                    functools.partial(
                        _attempt, path, local, remote, tree, mode, timeout, branches, base, names
                    ),
                    timeout,
                    path,
                )
            except TimeoutError as exc:  # only the deadline: _attempt catches the rest
                outcome = _Failure(exc, None, None)
        else:
            outcome = _attempt(path, local, remote, tree, mode, timeout, branches, base, names)
        if isinstance(outcome, FileRecord):
            return outcome
        error_exc, size, probed = outcome.exc, outcome.size, outcome.header
        transient = remote and _transient(error_exc)
        header_seen = probed is not None
        header_bad = _header_problem(probed, size) if probed is not None else None
        # a network, server or timeout error, or a server that did not even give the
        # first bytes, may pass; a file that is not ROOT or cut will not
        retry = (transient or (remote and not header_seen and not _permanent(error_exc))) and (
            header_bad is None
        )
        if retry and attempt <= retries:
            delay = backoff * 2 ** (attempt - 1)
            logger.info(
                "%s: attempt %d of %d failed (%s: %s); retrying in %g s",
                path,
                attempt,
                retries + 1,
                type(error_exc).__name__,
                " ".join(str(error_exc).split()),
                delay,
            )
            time.sleep(delay)
            continue
        record = dict(base)
        record["size_bytes"] = size if remote else base["size_bytes"]
        failure = _classify(error_exc, header_bad, header_seen=header_seen and not transient)
        error = failure.error
        if retry:
            error = f"{error} (after {attempt} attempt{'s' * (attempt != 1)})"
        return FileRecord(status=str(failure.status), error=error, **record)


def _attempt(
    path: str,
    local: str,
    remote: bool,
    tree: str,
    mode: str,
    timeout: float | None,
    branches: Mapping[str, str],
    base: dict[str, Any],
    names: str = "belle2",
) -> FileRecord | _Failure:
    """One attempt at a file: its record, or the failure and what the header probe saw."""
    try:
        return _read(path, local, remote, tree, mode, timeout, branches, dict(base), names=names)
    except _Bad as bad:  # what the file holds: reading it again changes nothing
        return FileRecord(status=str(bad.status), error=bad.error, **base)
    except Exception as exc:  # a bad file may raise anything from deep inside uproot
        if remote and isinstance(exc, TimeoutError):
            # a stalled server: probing it would only wait for the timeout again
            return _Failure(exc, None, None)
        # only now look at the header (magic bytes, fEND vs size) to tell why
        size, probed = (
            _probe_remote(path, timeout) if remote else _probe_local(local, base["size_bytes"])
        )
        return _Failure(exc, size, probed)


def lean_enabled() -> bool:
    """Whether local files are read by the lean reader first (``LUMIAUDIT_LEAN=0``: never).

    The lean reader (:mod:`lumiaudit.offline.rootio`, :mod:`lumiaudit.offline.roottree`)
    reads only the bytes a count needs and hands back only records of readable files; every
    file it cannot read with certainty, and every file with a problem, is read again by
    uproot. Turning it off changes the speed, never a result.
    """
    return os.environ.get("LUMIAUDIT_LEAN", "1") != "0"


def check_retries(retries: int, backoff: float) -> None:
    """Raise :class:`~lumiaudit.errors.ParameterError` for a negative ``retries``/``backoff``."""
    if retries < 0:
        msg = f"retries must be 0 or more, got {retries}"
        raise ParameterError(msg)
    if not backoff >= 0:  # NaN too
        msg = f"backoff must be 0 or more seconds, got {backoff}"
        raise ParameterError(msg)


def _permanent(exc: BaseException) -> bool:
    """Whether an error says the file is not there or not ours to read (never retried)."""
    return isinstance(
        exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError
    )


def _transient(exc: BaseException) -> bool:
    """Whether a failed remote read may succeed when tried again (network, server, timeout)."""
    import http.client

    return not _permanent(exc) and isinstance(exc, OSError | http.client.HTTPException)


def _oserror(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or exc}"


#: XRootD's ``StreamErrorWindow`` (seconds) set by :func:`count_file` unless
#: ``XRD_STREAMERRORWINDOW`` is in the environment. XRootD's default (1800 s) makes every
#: request to a server fail at once for 30 minutes after one connection error, so a server
#: restarted within seconds would stay unreachable for the retries.
XRD_STREAM_ERROR_WINDOW = 1


@functools.cache
def _tune_xrootd() -> None:
    """Shorten XRootD's stream error window, once per process (see above)."""
    if "XRD_STREAMERRORWINDOW" in os.environ:
        return
    import importlib

    try:
        client: Any = importlib.import_module("XRootD.client")
    except ImportError:  # uproot reports the missing XRootD bindings when it opens the file
        return
    client.EnvPutInt("StreamErrorWindow", XRD_STREAM_ERROR_WINDOW)


def _is_xrootd(path: str) -> bool:
    return path.startswith(("root://", "roots://", "xroot://", "xroots://"))


def _source_timeout(path: str, timeout: float) -> float | int:
    """The ``timeout`` option for uproot's source of ``path``.

    uproot's XRootD source hands it to ``XRootD.client.File.open``, which takes whole seconds
    only (a float raises ``TypeError: integer argument expected``): round up, at least 1.
    """
    if _is_xrootd(path):
        return max(1, math.ceil(timeout))
    return timeout


def _leaves(tree: Any, names: list[str], present: set[str] | None = None) -> dict[str, Any]:
    """Read a few leaves (and the parts of split ones) in one request.

    When every name is a branch of ``tree`` (``present``: its recursive keys, read here when
    not given) they are read by name, which skips uproot's pattern matching over all branches
    (a third of the time for these small per-file reads); otherwise by ``filter_name``, which
    also finds leaf-only names and the parts of split branches.
    """
    if isinstance(tree, LeanTree):  # every name a branch of plain numbers, or Unsure
        return tree.arrays(names)
    if present is None:
        present = set(tree.keys())
    if names and all(n in present for n in names):
        direct = _baskets(tree, names)
        return direct if direct is not None else dict(tree.arrays(names, library="np"))
    return dict(tree.arrays(filter_name=[*names, *(f"{n}/*" for n in names)], library="np"))


def _baskets(tree: Any, names: list[str]) -> dict[str, Any] | None:
    """Plain numbers read basket by basket (every basket is read and decompressed).

    ``tree.arrays`` spends more time planning a read than reading a few small baskets; for
    fixed-size numbers the baskets are the array. ``None`` when a branch is anything else
    (jagged, objects, embedded baskets) or the baskets do not add up to the entries: the
    caller then uses ``tree.arrays``.
    """
    from uproot.interpretation.numerical import AsDtype

    out: dict[str, Any] = {}
    for name in names:
        branch = tree[name]
        interpretation = branch.interpretation
        if type(interpretation) is not AsDtype or branch.embedded_baskets:
            return None
        parts = [
            branch.basket(i).array(interpretation, library="np") for i in range(branch.num_baskets)
        ]
        if not parts:
            return None
        array = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if len(array) != branch.num_entries:
            return None
        out[name] = array
    return out


#: Classes of a ROOT event tree: ``TNtuple``/``TNtupleD`` derive from ``TTree`` (ROOT's
#: ``TNtuple::Class()->InheritsFrom(TTree::Class())``) and are counted like one.
TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD")

#: The first ``TTree`` class version whose ``fEntries`` is a ``Long64_t``; older versions
#: (ROOT 3/4, e.g. scikit-hep-testdata's ``uproot-from-geant4.root``: ``TTree`` v5) stored a
#: ``Double_t``. ``uproot.num_entries`` reads 8 bytes as an integer whatever the version and
#: so returns the bit pattern of the double (4607182418800017408 for 1.0). uproot's oldest
#: hand-written TTree model is v16; below it uproot follows the file's streamers.
TTREE_LONG64_ENTRIES = 16

#: Entries per byte of file that no ROOT file can exceed: a basket holds at most 2**31 bytes
#: (``Int_t`` buffer), every entry of a branch takes at least one byte, and every basket costs
#: a ``TKey`` of at least 64 bytes on disk. A count above ``size * MAX_ENTRIES_PER_BYTE`` is
#: not a count (a misread header) and is never reported.
MAX_ENTRIES_PER_BYTE = 2**31 // 64


def _is_tree(kind: str) -> bool:
    return kind in TREE_CLASSES or kind.startswith("TTree")


def _entries_value(value: Any, *, what: str) -> int:
    """An entry count as an ``int``; a float (old ``Double_t`` ``fEntries``) must be integral."""
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number) or number != math.floor(number):
            raise _Bad(FileStatus.TRUNCATED, f"{what} is {number!r}, not a number of entries")
        return int(number)
    return int(value)


def _num_entries(f: Any, tree: str, kind: str) -> int:
    """``fEntries`` without reading the branch list (what ``uproot.num_entries`` does).

    The shortcut is taken only for ``TTree`` class versions whose ``fEntries`` is a
    ``Long64_t``; older ones (``Double_t``) and ``TNtuple``/``TNtupleD`` are read through the
    file's streamers.
    """
    if isinstance(f, LeanFile):  # TTree v16+ (Long64_t fEntries), TNtuple(D); or Unsure
        return LeanTree(f, tree).num_entries
    if kind.startswith("TTree"):
        from uproot.models.TTree import Model_TTree_NumEntries

        f.file.custom_classes = {"TTree": Model_TTree_NumEntries}
        try:
            short = f[tree]
            if getattr(short, "instance_version", 0) >= TTREE_LONG64_ENTRIES:
                return int(short.all_members["fEntries"][0])
            logger.debug(
                "%s: TTree v%s stores fEntries as a double: reading its streamer",
                f.file.file_path,
                getattr(short, "instance_version", "?"),
            )
        except Exception as exc:  # e.g. memberwise streaming: read the whole TTree
            logger.debug("fEntries shortcut failed for %s: %s", f.file.file_path, exc)
        finally:
            f.file.custom_classes = None
    return _tree_entries(f[tree])


def _tree_entries(events: Any) -> int:
    """Entries of a fully read tree object, as the streamer gave its ``fEntries``."""
    return _entries_value(events.num_entries, what=f"fEntries of {events.object_path!r}")


def _check_entries(n_entries: int, size: int | None, tree: str) -> None:
    """Refuse an entry count that no file of ``size`` bytes can hold (see above)."""
    if n_entries < 0 or (size is not None and n_entries > size * MAX_ENTRIES_PER_BYTE):
        raise _Bad(
            FileStatus.TRUNCATED,
            f"TTree {tree!r} claims {n_entries} entries, impossible for a file of "
            f"{size if size is not None else 'unknown'} bytes: its header is misread or corrupt",
        )


def _open(
    path: str, local: str, remote: bool, timeout: float | None, *, lean: bool, size: int | None
) -> Any:
    """The lean reader's :class:`LeanFile` (local files), or uproot's file."""
    if lean:
        # Unsure for a header that disagrees with the size, and for what it cannot read
        return LeanFile(local, size=size)
    import uproot  # not imported by the lean path: a third of a second per worker process

    options: dict[str, Any] = {"object_cache": None, "array_cache": None}
    if remote and _is_xrootd(path):
        _tune_xrootd()
    if remote:
        options["timeout"] = _source_timeout(path, DEFAULT_TIMEOUT if timeout is None else timeout)
    if remote and (handler := _http_handler(path)) is not None:
        options["handler"] = handler
    return uproot.open(local if not remote else path, **options)


def _tree(f: Any, name: str) -> Any:
    return LeanTree(f, name) if isinstance(f, LeanFile) else f[name]


def _read(
    path: str,
    local: str,
    remote: bool,
    tree: str,
    mode: str,
    timeout: float | None,
    branches: Mapping[str, str],
    base: dict[str, Any],
    *,
    lean: bool = False,
    names: str = "belle2",
) -> FileRecord:
    name: FileName = parse_name(path, names)
    with _open(path, local, remote, timeout, lean=lean, size=base.get("size_bytes")) as f:
        if remote:
            try:
                base["size_bytes"] = int(f.file.source.num_bytes)
            except Exception:  # size is a nicety for URLs
                base["size_bytes"] = None
        if not lean and base.get("size_bytes") is not None and f.file.fEND > base["size_bytes"]:
            raise _Bad(
                FileStatus.TRUNCATED,
                f"file has {base['size_bytes']} bytes but its ROOT header says {f.file.fEND}",
            )
        keys = {k.split(";")[0]: v for k, v in f.classnames().items()}
        kind = keys.get(tree, "")
        if not _is_tree(kind) and kind != "ROOT::RNTuple":
            there = ", ".join(f"{k} ({v})" for k, v in sorted(keys.items())) or "nothing"
            raise _Bad(FileStatus.NO_TREE, f"no TTree {tree!r} in file; it holds {there}")
        problems: list[str] = []
        n_meta = n_full = exp_low = exp_high = run_low = run_high = None
        data_level = name.data_level
        if mode != "fast":
            persistent = branches["persistent"]
            if persistent and keys.get(persistent, "").startswith("TTree"):
                meta_tree = _tree(f, persistent)
                if meta_tree.num_entries != 1:
                    # e.g. after hadd: b2file-check rejects it, FileMetaData is ambiguous
                    problems.append(
                        f"{persistent!r} has {meta_tree.num_entries} entries instead of 1"
                    )
                else:
                    wanted = [
                        branches[k]
                        for k in (
                            "n_events",
                            "n_full",
                            "experiment_low",
                            "experiment_high",
                            "run_low",
                            "run_high",
                        )
                    ]
                    if data_level is None:  # a map<string,string>: needs the streamers
                        wanted.append(branches["data_description"])
                    arrays = _leaves(meta_tree, wanted)
                    n_meta = _scalar(arrays, branches["n_events"])
                    n_full = _scalar(arrays, branches["n_full"])
                    exp_low = _scalar(arrays, branches["experiment_low"])
                    exp_high = _scalar(arrays, branches["experiment_high"])
                    run_low = _scalar(arrays, branches["run_low"])
                    run_high = _scalar(arrays, branches["run_high"])
                    data_level = _data_level(arrays, branches["data_description"]) or data_level
        experiment = exp_low if exp_low is not None and exp_low >= 0 else name.experiment
        multi_exp = exp_low is not None and exp_high is not None and exp_low != exp_high
        multi_run = (
            run_low is not None and run_high is not None and run_low >= 0 and run_low != run_high
        )
        ambiguous = name.run is None or multi_run or multi_exp
        contributions: tuple[Contribution, ...] = ()
        flag_counts: tuple[tuple[int, int], ...] = ()
        run_flags: tuple[tuple[int | None, int, int, int], ...] = ()
        # per-event reads are for TTrees; an RNTuple is counted by its entries
        need_events = _is_tree(kind) and (mode == "deep" or (mode == "auto" and ambiguous))
        if need_events:
            events = _tree(f, tree)
            n_entries = _tree_entries(events)
        else:
            n_entries = _num_entries(f, tree, kind)
        _check_entries(n_entries, base.get("size_bytes"), tree)
        if need_events and n_entries > 0:
            present = (
                events.keys_present([branches[k] for k in ("run", "error_flag", "experiment")])
                if isinstance(events, LeanTree)
                else set(events.keys())
            )
            wanted = [branches["run"], branches["error_flag"]]
            if multi_exp or experiment is None:
                wanted.append(branches["experiment"])
            wanted = [b for b in wanted if b in present]
            # every basket of these branches is read: a cut or corrupt file fails here
            found = _leaves(events, wanted, present)
            arrays = {b: _get(found, b) for b in wanted}
            flags = arrays.get(branches["error_flag"])
            if flags is not None and mode == "deep":
                flag_counts = _bit_counts(flags)
                n_full = int(np.count_nonzero(flags == 0))
            elif flags is not None and n_full is None:
                n_full = int(np.count_nonzero(flags == 0))
            runs = arrays.get(branches["run"])
            if runs is not None:
                contributions, run_flags = _split(
                    runs, arrays.get(branches["experiment"]), flags, experiment
                )
                if mode != "deep":
                    run_flags = ()
            elif mode == "deep" and flags is not None and name.run is not None:
                run_flags = tuple((experiment, name.run, b, n) for b, n in flag_counts)
        if not contributions:
            run = name.run
            if not multi_run and run_low is not None and run_low >= 0:
                run = run_low  # what the file holds beats what its name says
            if run is not None:
                contributions = ((experiment, run, n_entries, n_full),)
            elif n_entries:
                # not a problem of the file: it just cannot be put into a run
                logger.debug("%s: run unknown (no run in the name, no run branch)", path)
    status = FileStatus.OK
    if n_meta is not None and n_meta != n_entries:
        status = FileStatus.METADATA_MISMATCH
        problems.insert(0, f"FileMetaData nEvents {n_meta} != {n_entries} tree entries")
    elif problems and any("instead of 1" in p for p in problems):
        status = FileStatus.METADATA_MISMATCH
    elif n_entries == 0:
        status = FileStatus.EMPTY
    return FileRecord(
        status=str(status),
        error="; ".join(problems),
        n_entries=n_entries,
        n_meta=n_meta,
        n_full=n_full,
        experiment=experiment,
        run_low=run_low,
        run_high=run_high,
        data_level=data_level,
        contributions=contributions,
        flag_counts=flag_counts,
        run_flag_counts=run_flags,
        **base,
    )
