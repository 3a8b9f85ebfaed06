"""Per-lumisection counting: events per (run, LS) of each file, and the LS each file processed.

CMS NanoAOD keeps the run and luminosity block of every event (``Events/run``,
``Events/luminosityBlock``) and, per file, one ``LuminosityBlocks`` entry per (run, LS) the job
processed. An LS listed there with no event is processed and empty; an LS in neither is not
processed at all (a job that never ran: what CRAB's ``notFinishedLumis`` names).

:func:`count_lumis_file` never raises for a bad file: its ``error`` says what went wrong, and
the caller treats that file's runs as not checked per LS (never as zero).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lumiaudit.offline.access import open_uproot

__all__ = ["LUMI_COLUMNS", "LumiRecord", "count_lumis", "count_lumis_file"]

logger = logging.getLogger(__name__)

#: Columns of the offline per-LS table.
LUMI_COLUMNS = {
    "run": "Int64",
    "ls": "Int64",
    "n_offline": "Int64",
    "n_duplicate": "Int64",
    "n_files": "Int64",
    "processed": "boolean",
}


@dataclass(frozen=True, slots=True)
class LumiRecord:
    """Per-LS counts of one file (picklable).

    Attributes
    ----------
    path
        The file.
    counts
        ``(run, ls, events, distinct events)`` of the event tree (distinct by event number;
        ``-1`` when the format has no event branch).
    processed
        ``(run, ls)`` entries of the lumisection tree (empty if the format has none).
    error
        Why the file could not be counted per LS (empty when it could).
    """

    path: str
    counts: tuple[tuple[int, int, int, int], ...] = ()
    processed: tuple[tuple[int, int], ...] = ()
    error: str = ""


def _distinct(runs: np.ndarray, lss: np.ndarray, events: np.ndarray) -> dict[tuple[int, int], int]:
    """Distinct event numbers per (run, LS): a merge may write one event twice."""
    keys = np.stack(
        [runs.astype(np.int64), lss.astype(np.int64), events.astype(np.uint64).view(np.int64)],
        axis=1,
    )
    if len(keys) == 0:
        return {}
    uniq = np.unique(keys, axis=0)
    pairs, counts = np.unique(uniq[:, :2], axis=0, return_counts=True)
    return {
        (int(r), int(ls)): int(n)
        for (r, ls), n in zip(pairs.tolist(), counts.tolist(), strict=True)
    }


def _pairs(runs: np.ndarray, lss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = np.stack([runs.astype(np.int64), lss.astype(np.int64)], axis=1)
    if len(keys) == 0:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64)
    uniq, counts = np.unique(keys, axis=0, return_counts=True)
    return uniq, counts


def count_lumis_file(
    path: str,
    *,
    tree: str,
    run_branch: str,
    ls_branch: str,
    lumi_tree: str = "",
    event_branch: str = "",
    timeout: float | None = None,
) -> LumiRecord:
    """Count the events of one file per (run, LS) and list the LS it processed.

    Parameters
    ----------
    path
        Local path or URL.
    tree, run_branch, ls_branch
        Event tree and its run and lumisection branches (NanoAOD: ``Events``, ``run``,
        ``luminosityBlock``).
    lumi_tree
        Per-file tree of processed (run, LS) with the same two branch names
        (``LuminosityBlocks``); ``""`` for none.
    event_branch
        Event-number branch (``event``) for the distinct-event count; ``""`` or absent: none.
    timeout
        Seconds per remote request.

    Returns
    -------
    LumiRecord
        Never raises for a bad file.
    """
    try:
        with open_uproot(path, timeout=timeout) as f:
            events = f[tree]
            present = set(events.keys())
            missing = [b for b in (run_branch, ls_branch) if b not in present]
            if missing:
                return LumiRecord(
                    path, error=f"no branch {', '.join(map(repr, missing))} in tree {tree!r}"
                )
            with_events = bool(event_branch) and event_branch in present
            names = [run_branch, ls_branch, *([event_branch] if with_events else [])]
            arrays = events.arrays(names, library="np")
            uniq, counts = _pairs(arrays[run_branch], arrays[ls_branch])
            distinct = (
                _distinct(arrays[run_branch], arrays[ls_branch], arrays[event_branch])
                if with_events
                else {}
            )
            processed: tuple[tuple[int, int], ...] = ()
            if lumi_tree and lumi_tree in f:
                lumis = f[lumi_tree].arrays([run_branch, ls_branch], library="np")
                done, _ = _pairs(lumis[run_branch], lumis[ls_branch])
                processed = tuple((int(r), int(ls)) for r, ls in done.tolist())
            return LumiRecord(
                path,
                counts=tuple(
                    (int(r), int(ls), int(n), distinct.get((int(r), int(ls)), -1))
                    for (r, ls), n in zip(uniq.tolist(), counts.tolist(), strict=True)
                ),
                processed=processed,
            )
    except Exception as exc:  # any failure of a bad file: reported, never a count of 0
        return LumiRecord(path, error=" ".join(f"{type(exc).__name__}: {exc}".split()))


def count_lumis(
    paths: Sequence[str],
    *,
    profile: Any,
    jobs: int = 1,
    timeout: float | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Per-LS counts of the given (readable, counted) files, summed over files.

    Parameters
    ----------
    paths
        The files whose events count (not duplicates, not unreadable ones).
    profile
        A :class:`~lumiaudit.profiles.Profile` with ``lumis`` set.
    jobs, timeout, progress
        As for :func:`lumiaudit.offline.count_events`.

    Returns
    -------
    (DataFrame, list)
        :data:`LUMI_COLUMNS` (one row per (run, LS) seen in events or in the lumisection
        tree; ``n_offline`` is 0 for an LS processed without events) and the ``path`` and
        ``error`` of every file that could not be counted per LS.
    """
    from lumiaudit.offline.executors import map_files

    if profile.lumis is None:
        msg = f"profile {profile.name!r} has no lumisections"
        raise ValueError(msg)
    func = functools.partial(
        count_lumis_file,
        tree=profile.tree,
        run_branch=profile.branch_names()["run"],
        ls_branch=profile.lumis.branch,
        lumi_tree=profile.lumis.tree,
        event_branch=profile.branch_names().get("event", ""),
        timeout=timeout,
    )
    records: list[LumiRecord] = map_files(
        func, list(paths), jobs=jobs, progress=progress, description="lumisections"
    )
    events: dict[tuple[int, int], int] = {}
    files: dict[tuple[int, int], list[str]] = {}
    distinct: dict[tuple[int, int], int | None] = {}
    processed: set[tuple[int, int]] = set()
    failed: list[dict[str, str]] = []
    for rec in records:
        if rec.error:
            failed.append({"path": rec.path, "error": rec.error})
            continue
        for run, ls, n, n_distinct in rec.counts:
            key = (run, ls)
            events[key] = events.get(key, 0) + n
            files.setdefault(key, []).append(rec.path)
            distinct[key] = None if n_distinct < 0 else n_distinct
        processed.update(rec.processed)
    # an LS in several files (a resubmitted job, overlapping merges): its events may be there
    # twice; only the event numbers of those files tell (DOMAIN.md cause 10: never sum them)
    shared = {k: v for k, v in files.items() if len(v) > 1}
    if shared:
        distinct.update(_shared_distinct(shared, func.keywords))
    if failed:
        logger.warning(
            "%d file%s not counted per lumisection: %s: %s",
            len(failed),
            "s" * (len(failed) != 1),
            failed[0]["path"],
            failed[0]["error"],
        )
    keys = sorted(set(events) | processed)
    frame = pd.DataFrame(
        {
            "run": [k[0] for k in keys],
            "ls": [k[1] for k in keys],
            "n_offline": [events.get(k, 0) for k in keys],
            "n_duplicate": [
                None
                if distinct.get(k) is None
                else events[k] - distinct[k]  # type: ignore[operator]
                if k in events
                else 0
                for k in keys
            ],
            "n_files": [len(files.get(k, ())) for k in keys],
            "processed": [k in processed for k in keys],
        }
    )
    frame = frame.astype(LUMI_COLUMNS)
    if not profile.lumis.tree:  # no lumisection tree: whether an LS was processed is unknown
        frame["processed"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    return frame, failed


def _shared_distinct(
    shared: dict[tuple[int, int], list[str]], options: dict[str, Any]
) -> dict[tuple[int, int], int | None]:
    """Distinct event numbers of each LS that several files hold (None: cannot be told)."""
    run_b, ls_b, ev_b = options["run_branch"], options["ls_branch"], options["event_branch"]
    out: dict[tuple[int, int], int | None] = dict.fromkeys(shared, None)
    if not ev_b:
        return out
    parts: dict[tuple[int, int], list[np.ndarray]] = {k: [] for k in shared}
    broken: set[tuple[int, int]] = set()
    by_file: dict[str, list[tuple[int, int]]] = {}
    for key, paths in shared.items():
        for path in paths:
            by_file.setdefault(path, []).append(key)
    for path, keys in sorted(by_file.items()):
        try:
            with open_uproot(path, timeout=options.get("timeout")) as f:
                arrays = f[options["tree"]].arrays([run_b, ls_b, ev_b], library="np")
        except Exception as exc:  # that LS stays unknown, never "no duplicates"
            logger.warning("%s: cannot read event numbers: %s", path, exc)
            broken.update(keys)
            continue
        runs, lss = arrays[run_b].astype(np.int64), arrays[ls_b].astype(np.int64)
        for run, ls in keys:
            parts[(run, ls)].append(arrays[ev_b][(runs == run) & (lss == ls)])
    for key, chunks in parts.items():
        if key not in broken:
            out[key] = len(np.unique(np.concatenate(chunks))) if chunks else 0
    return out
