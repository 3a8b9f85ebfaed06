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
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from lumiaudit.errors import ParameterError
from lumiaudit.numbers import fmt
from lumiaudit.offline.access import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    access,
    check_retries,
    is_url,
    open_uproot,
    oserror_text,
    permanent,
    probe_local,
    probe_remote,
    transient,
)
from lumiaudit.offline.deadline import with_deadline
from lumiaudit.offline.failure import Failure, classify, header_problem
from lumiaudit.offline.grammar import parse_name
from lumiaudit.offline.names import FileName
from lumiaudit.offline.rootio import LeanFile
from lumiaudit.offline.roottree import LeanTree
from lumiaudit.offline.uproot_read import (
    FLAG_BITS,
    Bad,
    Contribution,
    bit_counts,
    check_entries,
    get,
    is_tree,
    leaves,
    num_entries,
    scalar,
    split,
    text,
    tree_entries,
)
from lumiaudit.offline.uproot_read import data_level as read_data_level
from lumiaudit.schema import READABLE_STATUSES, FileStatus

# the names below were defined here before the reading layer moved out (issue 12); they stay
# importable from here
__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_BRANCHES",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "FLAG_BITS",
    "MODES",
    "Contribution",
    "FileRecord",
    "check_retries",
    "count_file",
    "is_url",
    "lean_enabled",
]

logger = logging.getLogger(__name__)

MODES = ("auto", "fast", "deep")


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
    "release": "FileMetaData/m_release",
}


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
    release
        FileMetaData's ``m_release`` (the basf2 release that wrote the file, e.g.
        ``release-06-00-00``); ``None`` when the file has none or it is empty (fast mode:
        not read).
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
    release: str | None = None
    contributions: tuple[Contribution, ...] = ()
    flag_counts: tuple[tuple[int, int], ...] = ()
    run_flag_counts: tuple[tuple[int | None, int, int, int], ...] = field(default=())
    mode: str = "auto"
    tree: str = "tree"

    @property
    def readable(self) -> bool:
        """Whether the file's entries count (ok, empty or metadata_mismatch)."""
        return self.status in _READABLE

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # positional fields, not dataclass's __setstate__ (which calls fields() per record):
        # unpickling is most of a cached rerun's cost per file
        return (FileRecord, tuple(getattr(self, name) for name in _FIELDS))


_FIELDS = tuple(f.name for f in fields(FileRecord))
_READABLE = READABLE_STATUSES  # a module global: the lookup is on the rerun's hot path


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
    where = access(path)
    remote, local = where.remote, where.path
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
            return FileRecord(status=str(FileStatus.IO_ERROR), error=oserror_text(exc), **base)
        if st.st_size == 0:
            return FileRecord(status=str(FileStatus.ZERO_BYTES), error="file has 0 bytes", **base)
    if remote:
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        if not timeout > 0:
            msg = f"timeout must be more than 0 seconds, got {timeout}"
            raise ParameterError(msg)
    elif lean_enabled():
        # Unsure, or anything unusual: the full reading below decides
        lean = _lean_read(path, local, remote, tree, mode, timeout, branches, base, names)
        if lean is not None:
            return lean
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
                outcome = Failure(exc, None, None)
        else:
            outcome = _attempt(path, local, remote, tree, mode, timeout, branches, base, names)
        if isinstance(outcome, FileRecord):
            return outcome
        error_exc, size, probed = outcome.exc, outcome.size, outcome.header
        passing = remote and transient(error_exc)
        header_seen = probed is not None
        header_bad = header_problem(probed, size) if probed is not None else None
        # a network, server or timeout error, or a server that did not even give the
        # first bytes, may pass; a file that is not ROOT or cut will not
        retry = (passing or (remote and not header_seen and not permanent(error_exc))) and (
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
        failure = classify(error_exc, header_bad, header_seen=header_seen and not passing)
        error = failure.error
        if retry:
            error = f"{error} (after {attempt} attempt{'s' * (attempt != 1)})"
        return FileRecord(status=str(failure.status), error=error, **record)


def _lean_read(
    path: str,
    local: str,
    remote: bool,
    tree: str,
    mode: str,
    timeout: float | None,
    branches: Mapping[str, str],
    base: Mapping[str, Any],
    names: str,
    *,
    passes: tuple[type[BaseException], ...] = (),
) -> FileRecord | None:
    """The lean reader's record, or ``None`` when it gave up (uproot's reading decides);
    exceptions of the ``passes`` types are raised to the caller."""
    try:
        return _read(
            path, local, remote, tree, mode, timeout, branches, dict(base), lean=True, names=names
        )
    except passes:
        raise
    except Exception as exc:
        logger.debug("%s: lean reading gave up (%s); reading it with uproot", path, exc)
        return None


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
) -> FileRecord | Failure:
    """One attempt at a file: its record, or the failure and what the header probe saw.

    An ``http(s)://`` file is read by the lean reader over range requests first
    (:mod:`~lumiaudit.offline.http_source`); what it cannot read with certainty, and every
    file with a problem, is read by uproot in the same attempt. A network error of the lean
    read is the attempt's failure (retried, probed and reported like uproot's).
    """
    import http.client

    try:
        if remote and access(path).kind == "http" and lean_enabled():
            # a network error is this attempt's failure; Unsure or a problem of the file:
            # uproot decides
            lean = _lean_read(
                path,
                local,
                remote,
                tree,
                mode,
                timeout,
                branches,
                base,
                names,
                passes=(OSError, http.client.HTTPException),
            )
            if lean is not None:
                return lean
        return _read(path, local, remote, tree, mode, timeout, branches, dict(base), names=names)
    except Bad as bad:  # what the file holds: reading it again changes nothing
        return FileRecord(status=str(bad.status), error=bad.error, **base)
    except Exception as exc:  # a bad file may raise anything from deep inside uproot
        if remote and isinstance(exc, TimeoutError):
            # a stalled server: probing it would only wait for the timeout again
            return Failure(exc, None, None)
        # only now look at the header (magic bytes, fEND vs size) to tell why
        size, probed = (
            probe_remote(path, timeout) if remote else probe_local(local, base["size_bytes"])
        )
        return Failure(exc, size, probed)


def lean_enabled() -> bool:
    """Whether local files are read by the lean reader first (``LUMIAUDIT_LEAN=0``: never).

    The lean reader (:mod:`lumiaudit.offline.rootio`, :mod:`lumiaudit.offline.roottree`)
    reads only the bytes a count needs and hands back only records of readable files; every
    file it cannot read with certainty, and every file with a problem, is read again by
    uproot. Turning it off changes the speed, never a result.
    """
    return os.environ.get("LUMIAUDIT_LEAN", "1") != "0"


def _open(
    path: str, local: str, remote: bool, timeout: float | None, *, lean: bool, size: int | None
) -> Any:
    """The lean reader's :class:`LeanFile` (local files), or uproot's file."""
    if lean and remote:  # http(s):// only (see _attempt): windows of range requests
        from lumiaudit.offline.http_source import HttpRanges

        assert timeout is not None
        return LeanFile(path, source=HttpRanges(path, timeout=timeout))
    if lean:
        # Unsure for a header that disagrees with the size, and for what it cannot read
        return LeanFile(local, size=size)
    return open_uproot(path if remote else local, timeout=timeout if remote else None)


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
        if remote and lean:
            base["size_bytes"] = f.size  # from the server's Content-Range
        elif remote:
            try:
                base["size_bytes"] = int(f.file.source.num_bytes)
            except Exception:  # size is a nicety for URLs
                base["size_bytes"] = None
        if not lean and base.get("size_bytes") is not None and f.file.fEND > base["size_bytes"]:
            raise Bad(
                FileStatus.TRUNCATED,
                f"file has {fmt(base['size_bytes'])} bytes but its ROOT header says "
                f"{fmt(f.file.fEND)}",
            )
        keys = {k.split(";")[0]: v for k, v in f.classnames().items()}
        kind = keys.get(tree, "")
        if not is_tree(kind) and kind != "ROOT::RNTuple":
            there = ", ".join(f"{k} ({v})" for k, v in sorted(keys.items())) or "nothing"
            raise Bad(FileStatus.NO_TREE, f"no TTree {tree!r} in file; it holds {there}")
        problems: list[str] = []
        n_meta = n_full = exp_low = exp_high = run_low = run_high = None
        release: str | None = None
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
                    release_branch = branches["release"]
                    if lean:  # strings are read apart; an absent one is missing, not Unsure
                        if release_branch and meta_tree.keys_present([release_branch]):
                            found = meta_tree.strings([release_branch])[release_branch]
                            release = found[0] if len(found) == 1 and found[0] else None
                    elif release_branch:
                        wanted.append(release_branch)
                    arrays = leaves(meta_tree, wanted)
                    if not lean and release_branch:
                        release = text(arrays, release_branch)
                    n_meta = scalar(arrays, branches["n_events"])
                    n_full = scalar(arrays, branches["n_full"])
                    exp_low = scalar(arrays, branches["experiment_low"])
                    exp_high = scalar(arrays, branches["experiment_high"])
                    run_low = scalar(arrays, branches["run_low"])
                    run_high = scalar(arrays, branches["run_high"])
                    data_level = read_data_level(arrays, branches["data_description"]) or data_level
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
        need_events = is_tree(kind) and (mode == "deep" or (mode == "auto" and ambiguous))
        if need_events:
            events = _tree(f, tree)
            n_entries = tree_entries(events)
        else:
            n_entries = num_entries(f, tree, kind)
        check_entries(n_entries, base.get("size_bytes"), tree)
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
            found = leaves(events, wanted, present)
            arrays = {b: get(found, b) for b in wanted}
            flags = arrays.get(branches["error_flag"])
            if flags is not None and mode == "deep":
                flag_counts = bit_counts(flags)
                n_full = int(np.count_nonzero(flags == 0))
            elif flags is not None and n_full is None:
                n_full = int(np.count_nonzero(flags == 0))
            runs = arrays.get(branches["run"])
            if runs is not None:
                contributions, run_flags = split(
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
        problems.insert(0, f"FileMetaData nEvents {fmt(n_meta)} != {fmt(n_entries)} tree entries")
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
        release=release,
        contributions=contributions,
        flag_counts=flag_counts,
        run_flag_counts=run_flags,
        **base,
    )
