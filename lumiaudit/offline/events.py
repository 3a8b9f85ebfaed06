"""Events counted twice: the same (experiment, run, event) in two files, by event number.

A merge left behind or a resubmitted job that wrote its events again under a new file index
(DOMAIN.md cause 10) makes a run's offline count larger than what the DAQ wrote, while every
file is readable and has a name of its own: nothing in the file list shows it. basf2 numbers
the events of a run once, in the event builder (``EventMetaData::m_event``), and every HLT unit
writes a disjoint part of them, so an event number of one run in two files is an event
counted twice.

:func:`read_event_numbers` reads ``EventMetaData/m_experiment``, ``m_run`` and ``m_event`` of
one file (the lean reader first for a local file, uproot for anything it is unsure of, and
for URLs under a hard deadline like every remote read of the counting stage). It never
raises: a file that cannot be read has an ``error``, and its run stays *not checked*, never
"no duplicates". :func:`find_duplicate_events` (pure) names the pairs of files that share
events and the exact number; :func:`check_duplicate_events` is what an audit calls: for the
runs with an unexplained excess after the first reconciliation (auto and deep mode alike), it
reads the event numbers of that run's counted files and returns the table
:func:`lumiaudit.reconcile.reconcile` takes as ``duplicate_events``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lumiaudit.numbers import fmt
from lumiaudit.offline.access import DEFAULT_TIMEOUT, access, open_uproot
from lumiaudit.offline.deadline import with_deadline
from lumiaudit.schema import Reason, RunStatus

__all__ = [
    "DUPLICATE_EVENT_COLUMNS",
    "EVENT_BRANCHES",
    "EventNumbers",
    "check_duplicate_events",
    "duplicate_events_in",
    "excess_runs",
    "find_duplicate_events",
    "read_event_numbers",
]

logger = logging.getLogger(__name__)

#: basf2 ``EventMetaData`` leaves that identify an event (DOMAIN.md).
EVENT_BRANCHES: Mapping[str, str] = {
    "experiment": "EventMetaData/m_experiment",
    "run": "EventMetaData/m_run",
    "event": "EventMetaData/m_event",
}

#: Columns of the ``duplicate_events`` table and their dtypes. Rows are of three kinds:
#: a pair of files sharing events (``path``: the first file holding them, ``other``: the file
#: holding them again, ``n_events`` of them; ``path == other`` for events repeated inside one
#: file); a file whose event numbers could not be read (``n_events`` <NA>, ``error``); and, for
#: a run checked without any event twice, one row with ``path`` and ``other`` <NA> and
#: ``n_events`` 0. The ``n_events`` of a run's pair rows add up to its events counted twice:
#: entries minus distinct event numbers.
DUPLICATE_EVENT_COLUMNS: Mapping[str, str] = {
    "experiment": "Int64",
    "run": "Int64",
    "path": "string",
    "other": "string",
    "n_events": "Int64",
    "error": "string",
}

#: (experiment, run); the experiment is None for a production keyed by run alone.
RunKey = tuple[int | None, int]


@dataclass(frozen=True, slots=True)
class EventNumbers:
    """The event identifiers of one file (picklable: worker processes return it).

    Attributes
    ----------
    path
        The file.
    experiment
        ``m_experiment`` per entry, or None when not read (a run-only key).
    run, event
        ``m_run`` and ``m_event`` per entry (empty when ``error``).
    error
        Why the event numbers could not be read (empty when they could).
    """

    path: str
    experiment: np.ndarray | None
    run: np.ndarray
    event: np.ndarray
    error: str = ""


def _failed(path: str, error: str) -> EventNumbers:
    none = np.zeros(0, dtype=np.int64)
    return EventNumbers(path, None, none, none, " ".join(error.split()))


def _lean(path: str, tree: str, names: list[str]) -> dict[str, np.ndarray]:
    from lumiaudit.offline.rootio import LeanFile
    from lumiaudit.offline.roottree import LeanTree

    with LeanFile(path) as f:
        events = LeanTree(f, tree)
        n = events.num_entries
        arrays = events.arrays(names) if n else {b: np.zeros(0, dtype=np.int64) for b in names}
        arrays["__entries__"] = np.asarray([n])
        return arrays


def _uproot(path: str, tree: str, names: list[str], timeout: float | None) -> dict[str, Any]:
    # access.open_uproot: the client of the URL's kind, its timeout in the unit it takes
    with open_uproot(path, timeout=timeout) as f:
        if tree not in f:
            there = ", ".join(sorted({k.split(";")[0] for k in f.keys(recursive=False)}))
            msg = f"no TTree {tree!r} in file; it holds {there or 'nothing'}"
            raise KeyError(msg)
        events = f[tree]
        present = set(events.keys())
        missing = [b for b in names if b not in present and b.rsplit("/", 1)[-1] not in present]
        if missing:
            msg = f"no branch {', '.join(map(repr, missing))} in tree {tree!r}"
            raise KeyError(msg)
        found = dict(events.arrays(filter_name=names, library="np"))
        out = {b: found.get(b, found.get(b.rsplit("/", 1)[-1])) for b in names}
        out["__entries__"] = np.asarray([events.num_entries])
        return out


def read_event_numbers(
    path: str,
    *,
    tree: str = "tree",
    branches: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> EventNumbers:
    """Read the experiment, run and event number of every entry of one file.

    Parameters
    ----------
    path
        Local path or URL.
    tree
        The event tree.
    branches
        Overrides of :data:`EVENT_BRANCHES` (``experiment`` ``""``: a run-only key, not read).
    timeout
        Seconds the whole read may take: for a URL, default
        :data:`~lumiaudit.offline.access.DEFAULT_TIMEOUT`, past it the file is reported
        "timed out after N s"; a local file is bounded only when given (as in counting).

    Returns
    -------
    EventNumbers
        Never raises for a bad file: ``error`` says what went wrong.
    """
    names = {**EVENT_BRANCHES, **(branches or {})}
    if not names.get("event") or not names.get("run"):
        return _failed(path, "no event-number branch in the profile: cannot be checked")
    wanted = [names["run"], names["event"], *([names["experiment"]] if names["experiment"] else [])]
    where = access(path)
    if where.remote and timeout is None:
        timeout = DEFAULT_TIMEOUT
    arrays: dict[str, Any] | None = None
    if not where.remote:
        try:
            arrays = _lean(where.path, tree, wanted)
        except Exception as exc:  # Unsure or anything unusual: uproot decides
            logger.debug("%s: lean event-number read gave up (%s)", path, exc)
    if arrays is None:
        read = functools.partial(_uproot, path, tree, wanted, timeout)
        try:
            arrays = read() if timeout is None else with_deadline(read, timeout, path)
        except Exception as exc:  # a bad or unreachable file: reported, never guessed
            return _failed(path, f"{type(exc).__name__}: {exc}")
    n = int(arrays["__entries__"][0])
    lengths = {b: len(arrays[b]) for b in wanted}
    if any(v != n for v in lengths.values()):
        held = ", ".join(f"{b} {fmt(v)}" for b, v in lengths.items())
        return _failed(path, f"event-number branches hold {held} values for {fmt(n)} entries")
    exp = arrays[names["experiment"]] if names["experiment"] else None
    return EventNumbers(
        path,
        None if exp is None else np.asarray(exp, dtype=np.int64),
        np.asarray(arrays[names["run"]], dtype=np.int64),
        _as_u64(np.asarray(arrays[names["event"]])),
    )


def _as_u64(values: np.ndarray) -> np.ndarray:
    """Event numbers as uint64, one to one (a signed branch keeps its bit pattern)."""
    if values.dtype.kind == "u":
        return values.astype(np.uint64)
    return values.astype(np.int64).view(np.uint64)


def find_duplicate_events(
    numbers: Sequence[EventNumbers], *, experiment: int | None, run: int
) -> pd.DataFrame:
    """The pairs of files holding the same events of one run (pure).

    Parameters
    ----------
    numbers
        The event numbers of the run's files (files of other runs contribute only the events
        of this run; a file with an ``error`` becomes an error row).
    experiment, run
        The run (experiment None: any experiment, for a run-only key).

    Returns
    -------
    pandas.DataFrame
        :data:`DUPLICATE_EVENT_COLUMNS` for this run (see there for the three kinds of rows).

    Examples
    --------
    >>> import numpy as np
    >>> ev = lambda p, lo, hi: EventNumbers(
    ...     p, None, np.full(hi - lo, 5), np.arange(lo, hi, dtype=np.uint64))
    >>> t = find_duplicate_events([ev("a", 0, 1000), ev("b", 700, 1000)], experiment=None, run=5)
    >>> t[["path", "other", "n_events"]].values.tolist()
    [['a', 'b', 300]]
    """
    rows: list[dict[str, Any]] = []
    parts: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    order = sorted(numbers, key=lambda n: n.path)
    for i, num in enumerate(order):
        if num.error:
            rows.append({"path": num.path, "error": num.error})
            continue
        mine = num.run == run
        if experiment is not None and num.experiment is not None:
            mine &= num.experiment == experiment
        events = num.event[mine]
        parts.append(events)
        ids.append(np.full(len(events), i, dtype=np.int64))
    if parts:
        events = np.concatenate(parts)
        owner = np.concatenate(ids)
        # stable: the first holder of an event is the file whose path sorts first
        idx = np.argsort(events, kind="stable")
        events, owner = events[idx], owner[idx]
        again = np.flatnonzero(events[1:] == events[:-1])
        if len(again):
            # each repeat is one event counted twice, charged to (previous holder, this file)
            first, later = owner[again], owner[again + 1]
            pairs, counts = np.unique(np.stack([first, later], axis=1), axis=0, return_counts=True)
            for (a, b), k in zip(pairs.tolist(), counts.tolist(), strict=True):
                rows.append({"path": order[a].path, "other": order[b].path, "n_events": k})
        elif not rows:
            rows.append({"n_events": 0})
    frame = pd.DataFrame(rows, columns=list(DUPLICATE_EVENT_COLUMNS))
    frame["experiment"] = experiment
    frame["run"] = run
    return frame.astype(dict(DUPLICATE_EVENT_COLUMNS))


def duplicate_events_in(
    paths: Sequence[str],
    *,
    tree: str = "tree",
    branches: Mapping[str, str] | None = None,
    timeout: float | None = None,
    jobs: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Events held twice among the given files, for every run their events belong to.

    Parameters
    ----------
    paths
        Files or URLs (each read once).
    tree, branches, timeout
        As for :func:`read_event_numbers`.
    jobs, progress
        As for :func:`lumiaudit.offline.count_events`.

    Returns
    -------
    pandas.DataFrame
        :data:`DUPLICATE_EVENT_COLUMNS`, one block per (experiment, run) found in the files'
        events; a file that could not be read is an error row (experiment and run <NA>: its
        events, and so its runs, are unknown).
    """
    numbers = _read_all(list(paths), tree, branches, timeout, jobs, progress)
    keys: set[RunKey] = set()
    for num in numbers.values():
        if num.error:
            continue
        exps = num.experiment if num.experiment is not None else np.full(len(num.run), -1)
        for e, r in set(zip(exps.tolist(), num.run.tolist(), strict=True)):
            keys.add((None if e < 0 else int(e), int(r)))
    frames = [
        find_duplicate_events([n for n in numbers.values() if not n.error], experiment=e, run=r)
        for e, r in sorted(keys, key=lambda k: (-1 if k[0] is None else k[0], k[1]))
    ]
    failed = [n for n in numbers.values() if n.error]
    if failed:
        frames.append(
            pd.DataFrame({"path": [n.path for n in failed], "error": [n.error for n in failed]})
        )
    return _concat(frames)


def _read_all(
    paths: list[str],
    tree: str,
    branches: Mapping[str, str] | None,
    timeout: float | None,
    jobs: int,
    progress: bool,
) -> dict[str, EventNumbers]:
    from lumiaudit.offline.executors import map_files

    func = functools.partial(read_event_numbers, tree=tree, branches=branches, timeout=timeout)
    read: list[EventNumbers] = map_files(
        func, paths, jobs=jobs, progress=progress, description="event numbers"
    )
    return dict(zip(paths, read, strict=True))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty()
    out = pd.concat(frames, ignore_index=True)
    return out.reindex(columns=list(DUPLICATE_EVENT_COLUMNS)).astype(dict(DUPLICATE_EVENT_COLUMNS))


def excess_runs(runs: pd.DataFrame) -> list[RunKey]:
    """Runs whose offline count exceeds the online one and nothing explains it.

    Parameters
    ----------
    runs
        The runs table of a reconciliation (``status``, ``reasons``).

    Returns
    -------
    list
        ``(experiment, run)`` keys, in table order.
    """
    if len(runs) == 0 or "reasons" not in runs:
        return []
    out: list[RunKey] = []
    for exp, run, status, reasons in zip(
        runs["experiment"], runs["run"], runs["status"], runs["reasons"], strict=True
    ):
        codes = set(str(reasons).split(";")) if isinstance(reasons, str) else set()
        if str(status) == RunStatus.EXCESS.value and Reason.UNEXPLAINED.value in codes:
            out.append((None if pd.isna(exp) else int(exp), int(run)))
    return out


def _files_of(contributions: pd.DataFrame, keys: Iterable[RunKey]) -> dict[RunKey, list[str]]:
    """The counted files of each run (the contributions: no duplicates, no skims)."""
    out: dict[RunKey, list[str]] = {}
    if len(contributions) == 0 or "path" not in contributions:
        return out
    wanted = set(keys)
    for path, exp, run in zip(
        contributions["path"], contributions["experiment"], contributions["run"], strict=True
    ):
        if pd.isna(run):
            continue
        key = (None if pd.isna(exp) else int(exp), int(run))
        if key in wanted:
            out.setdefault(key, [])
            if str(path) not in out[key]:
                out[key].append(str(path))
    return out


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(DUPLICATE_EVENT_COLUMNS)).astype(dict(DUPLICATE_EVENT_COLUMNS))


def check_duplicate_events(
    runs: pd.DataFrame,
    contributions: pd.DataFrame | None,
    *,
    files: pd.DataFrame | None = None,
    offline_runs: pd.DataFrame | None = None,
    production: str | None = None,
    tree: str = "tree",
    branches: Mapping[str, str] | None = None,
    timeout: float | None = None,
    jobs: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Escalate to event numbers for the runs with an unexplained excess.

    Parameters
    ----------
    runs
        The runs table of the first reconciliation.
    contributions
        The counting stage's ``contributions`` (``path``, ``experiment``, ``run``): which
        files' events a run's offline count adds up.
    files, offline_runs, production
        As given to :func:`lumiaudit.reconcile.reconcile`: where a run has several
        productions, only the audited one's files are read (two productions of a run hold
        the same events and are never summed, so they are no duplicates either).
    tree, branches, timeout
        As for :func:`read_event_numbers`.
    jobs, progress
        As for :func:`lumiaudit.offline.count_events`.

    Returns
    -------
    pandas.DataFrame
        :data:`DUPLICATE_EVENT_COLUMNS` for every run checked (empty: nothing to check).
    """
    keys = excess_runs(runs)
    if not keys or contributions is None:
        return _empty()
    if files is not None and offline_runs is not None:
        from lumiaudit.reconcile.productions import by_production, without_skims

        # the same choice as the reconciliation's: skims are no production of their own
        evidence = without_skims(files, contributions)
        chosen = by_production(evidence, contributions, offline_runs, production=production)
        contributions = chosen.contributions if chosen.contributions is not None else contributions
    by_run = _files_of(contributions, keys)
    paths = sorted({p for ps in by_run.values() for p in ps})
    frames: list[pd.DataFrame] = []
    if paths:
        logger.info(
            "reading event numbers of %d file(s) of %d run(s) with an unexplained excess",
            len(paths),
            len(by_run),
        )
        numbers = _read_all(paths, tree, branches, timeout, jobs, progress)
        for (exp, run), ps in by_run.items():
            frames.append(find_duplicate_events([numbers[p] for p in ps], experiment=exp, run=run))
    out = _concat(frames)
    failed = out[out["error"].notna()]
    if len(failed):
        logger.warning(
            "%d file(s) whose event numbers could not be read (their runs stay unexplained): "
            "%s: %s",
            len(failed),
            failed["path"].iloc[0],
            failed["error"].iloc[0],
        )
    return out
