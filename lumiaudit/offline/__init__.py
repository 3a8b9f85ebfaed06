"""Offline counting: discover ROOT files, count and check each one, aggregate per run.

Example (not a doctest: it needs a production)::

    from lumiaudit.offline import count_events
    result = count_events("prod/", mode="auto", jobs=2)
    result.runs[["run", "n_offline", "n_offline_full", "n_files_bad"]]
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lumiaudit.errors import ParameterError
from lumiaudit.offline.count import (
    DEFAULT_BACKOFF,
    DEFAULT_BRANCHES,
    DEFAULT_RETRIES,
    MODES,
    FileRecord,
    check_retries,
    count_file,
    is_url,
)
from lumiaudit.offline.discover import (
    Found,
    find_duplicates,
    found_from,
    reach,
    warn_odd_suffixes,
)
from lumiaudit.offline.runs import contributions_frame, files_frame, find_gaps, runs_frame
from lumiaudit.schema import FileStatus

if TYPE_CHECKING:
    from lumiaudit.offline.cache import CountCache, FileKey

__all__ = ["FileRecord", "OfflineResult", "count_events", "count_file"]

logger = logging.getLogger(__name__)


def __dir__() -> list[str]:
    return __all__


@dataclass(frozen=True)
class OfflineResult:
    """What :func:`count_events` found.

    Attributes
    ----------
    files
        ``FILES`` columns plus ``markers``, ``data_level``, ``mtime``, ``duplicate_of``,
        ``run_low``, ``run_high`` and, in deep mode, ``n_flag_0x..`` columns.
    contributions
        ``CONTRIBUTIONS``: entries of each counted file per (experiment, run).
    runs
        Per (experiment, run): ``n_offline``, ``n_offline_full``, ``n_files``,
        ``n_files_bad``, ``n_files_duplicate``, ``run_type``, ``markers`` (+ flag columns).
    gaps
        ``GAPS``: missing file indices and missing HLT units.
    stats
        How the counting went: ``files``, ``read`` (files opened), ``cached`` (taken from the
        cache), ``seconds``, ``mode``, ``tree``, ``not_counted`` (``path`` and ``error`` of
        every ``io_error`` file: not read, its events are missing from the totals).
    """

    files: pd.DataFrame
    contributions: pd.DataFrame
    runs: pd.DataFrame
    gaps: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Counts for a one-line report: files per status, runs, events, gaps, not counted."""
        statuses = self.files["status"].value_counts().sort_index()
        return {
            "files": len(self.files),
            "statuses": {str(k): int(v) for k, v in statuses.items()},
            "runs": len(self.runs),
            "events": int(self.contributions["n_entries"].sum()),
            "gaps": len(self.gaps),
            "not_counted": [r["path"] for r in self.stats.get("not_counted", [])],
            "unassigned": sum(r["events"] for r in self.stats.get("unassigned", [])),
            "read": self.stats.get("read"),
            "cached": self.stats.get("cached"),
            "unchanged": bool(self.stats.get("unchanged")),
        }


def _branch_overrides(profile: Any) -> dict[str, str]:
    """The profile's branch names that differ from :data:`DEFAULT_BRANCHES` (none: belle2)."""
    names: dict[str, str] = profile.branch_names()
    return {k: v for k, v in names.items() if k in DEFAULT_BRANCHES and DEFAULT_BRANCHES[k] != v}


#: Files named in the warning about files not counted (all are in ``stats["not_counted"]``).
NOT_COUNTED_SHOWN = 10


def _shorten(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _not_counted(records: list[FileRecord]) -> list[dict[str, str]]:
    """``path`` and ``error`` of the files that could not be read (``io_error``)."""
    return [{"path": r.path, "error": r.error} for r in records if r.status == "io_error"]


def _count_all(
    paths: list[str],
    *,
    tree: str,
    mode: str,
    jobs: int,
    scheduler: str | None,
    client: Any,
    cache: CountCache | None,
    keys: list[FileKey | None] | None,
    cache_mode: str,
    progress: bool,
    timeout: float | None,
    branch_names: Mapping[str, str] | None,
    retries: int,
    backoff: float,
    stats: dict[str, Any],
    names: str = "belle2",
) -> list[FileRecord]:
    from lumiaudit.offline.executors import map_files

    func = functools.partial(
        count_file,
        tree=tree,
        mode=mode,
        timeout=timeout,
        branch_names=None if branch_names is None else dict(branch_names),
        retries=retries,
        backoff=backoff,
        names=names,
    )

    def run(items: list[str]) -> list[FileRecord]:
        return map_files(
            func, items, jobs=jobs, client=client, scheduler=scheduler, progress=progress
        )

    stats.update(read=len(paths), cached=0)
    if cache is None:
        return run(paths)
    assert keys is not None
    hits = cache.lookup_many(keys, tree=tree, mode=cache_mode)
    records: list[FileRecord | None] = [h if isinstance(h, FileRecord) else None for h in hits]
    todo = [i for i, r in enumerate(records) if r is None]
    logger.info("cache %s: %d of %d files known", cache.path, len(paths) - len(todo), len(paths))
    stats.update(read=len(todo), cached=len(paths) - len(todo))
    fresh = run([paths[i] for i in todo])
    for i, rec in zip(todo, fresh, strict=True):
        records[i] = rec
    # an I/O error says nothing about the file: do not remember it
    keep = [(rec, keys[i]) for i, rec in zip(todo, fresh, strict=True) if rec.status != "io_error"]
    if keep:
        cache.store([r for r, _ in keep], tree=tree, mode=cache_mode, keys=[k for _, k in keep])
    return [r for r in records if r is not None]


def _cache_mode(mode: str, branch_names: Mapping[str, str] | None, names: str) -> str:
    """The mode a per-file record is cached under: results also depend on the branch names
    and on the file-name grammar (the run of a file may come from its name)."""
    if not branch_names and names == "belle2":
        return mode
    text = repr(sorted((branch_names or {}).items())) + ("" if names == "belle2" else names)
    digest = hashlib.sha1(text.encode(), usedforsecurity=False)
    return f"{mode}+{digest.hexdigest()[:12]}"


def _inputs(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def _check_cache_path(
    cache: Path,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    reals: set[str],
) -> None:
    """Refuse a cache path that is an input, a discovered file or inside an input directory.

    The cache is written: it must never land on or among the inputs ("never touch inputs").
    """
    real = Path(os.path.realpath(cache))
    hint = "put the count cache outside the production (e.g. ~/.cache/lumiaudit/counts.sqlite)"
    for item in _inputs(paths):
        if is_url(item):
            continue
        local = Path(os.path.realpath(item.removeprefix("file://")))
        if real == local:
            msg = "the count cache is one of the inputs"
            raise ParameterError(msg, path=cache, hint=hint)
        if local.is_dir() and real.is_relative_to(local):
            msg = f"the count cache lies inside the input directory {local}"
            raise ParameterError(msg, path=cache, hint=hint)
    if str(real) in reals:
        msg = "the count cache is one of the files to count"
        raise ParameterError(msg, path=cache, hint=hint)


def _count_and_tabulate(
    found: list[Found],
    unlisted: Mapping[int, Found],
    to_count: list[str],
    *,
    prof: Any,
    include_skims: bool,
    selection: Any,
    stats: dict[str, Any],
    **counting: Any,
) -> OfflineResult:
    """Count ``to_count`` (through the per-file cache, if any) and build the four tables."""
    from lumiaudit.offline.assign import apply_full, unassigned

    mode, tree, branch_names = counting["mode"], counting["tree"], counting["branch_names"]
    counted = _count_all(to_count, stats=stats, names=prof.names, **counting)
    fresh = iter(counted)
    records = [
        FileRecord(
            path=f.path, status=str(FileStatus.IO_ERROR), error=f.error, mode=mode, tree=tree
        )
        if i in unlisted
        else next(fresh)
        for i, f in enumerate(found)
    ]
    records = apply_full(records, prof.full)
    stats["not_counted"] = _not_counted(records)
    left = unassigned(
        records, run_branch=(branch_names or {}).get("run", DEFAULT_BRANCHES["run"]), tree=tree
    )
    if left:  # only then: a Belle II audit's stats stay as they were
        stats["unassigned"] = left
    if stats["not_counted"]:
        shown = stats["not_counted"][:NOT_COUNTED_SHOWN]
        more = len(stats["not_counted"]) - len(shown)
        logger.warning(
            "%d file%s not counted (io_error): %s%s",
            len(stats["not_counted"]),
            "s" * (len(stats["not_counted"]) != 1),
            "; ".join(f"{r['path']} ({_shorten(r['error'])})" for r in shown),
            f" and {more} more (see the files table)" if more else "",
        )
    duplicates = find_duplicates(found, readable=[r.readable for r in records])
    result = OfflineResult(
        files=files_frame(found, records, duplicates),
        contributions=contributions_frame(found, records, duplicates, include_skims=include_skims),
        runs=runs_frame(found, records, duplicates, include_skims=include_skims),
        gaps=find_gaps(found, records, duplicates, include_skims=include_skims),
        stats=stats,
    )
    if selection is not None:
        result = OfflineResult(
            files=result.files,
            contributions=selection.filter(result.contributions),
            runs=selection.filter(result.runs),
            gaps=selection.filter(result.gaps),
            stats=stats,
        )
    return result


def _memo_ids(
    entries: list[tuple[Any, ...]], inputs: Any, options: tuple[Any, ...]
) -> tuple[str, str] | None:
    """``(slot, fingerprint)`` of this run for :mod:`~lumiaudit.offline.result_cache`, or
    ``None`` when its result may not be reused or stored.

    ``entries`` describe every file in order, each ending with its error text and its stat
    key: a path that could not be listed or examined, or a file without stat key (a URL, a
    file that vanished), means no reuse and no store.
    """
    if any(e[-2] or e[-1] is None for e in entries):
        return None
    from lumiaudit.offline.result_cache import fingerprint, slot

    # the working directory too: relative inputs (and list lines) resolve from it, and a
    # file reached by a relative path counts as reached through a link when that path's
    # absolute form is not the real one
    slot_id = slot((*options, str(Path.cwd())), _inputs(inputs))
    return slot_id, fingerprint(
        slot_id, FileRecord, [e[:-1] for e in entries], [e[-1] for e in entries]
    )


#: Stats that describe one run, not the counted files (never taken from a stored result).
_RUN_STATS = frozenset({"read", "cached", "seconds", "not_counted", "unchanged"})


def _stored(cache: CountCache, memo: tuple[str, str] | None) -> Any:
    """The stored result of ``memo`` (see :func:`_memo_ids`), or ``None``."""
    if memo is None:
        return None
    from lumiaudit.offline.result_cache import lookup_result

    return lookup_result(cache, *memo)


def _reuse(stored: Any, start: float, cache: CountCache) -> OfflineResult:
    """The stored tables of an unchanged rerun, with their stats (no file read)."""
    from lumiaudit.offline.assign import warn_unassigned

    files, contributions, runs, gaps, kept = stored
    stats: dict[str, Any] = dict(kept)
    n = stats["files"]
    logger.info("cache %s: all %d files unchanged; the stored tables are reused", cache.path, n)
    stats.update(read=0, cached=n, unchanged=True, not_counted=[])
    warn_unassigned(stats.get("unassigned") or [])
    stats["seconds"] = round(time.perf_counter() - start, 3)
    return OfflineResult(
        files=files, contributions=contributions, runs=runs, gaps=gaps, stats=stats
    )


def count_events(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    tree: str | None = None,
    mode: str = "auto",
    jobs: int = 1,
    scheduler: str | None = None,
    client: Any = None,
    cache: Any = None,
    include_skims: bool = False,
    progress: bool = False,
    timeout: float | None = None,
    branch_names: Mapping[str, str] | None = None,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    allow_empty: bool = False,
    runs: Any = None,
    profile: Any = None,
) -> OfflineResult:
    """Discover, count and check offline ROOT files; aggregate per run.

    Parameters
    ----------
    paths
        Files, directories (recursive), globs, list files (one path or URL per line) and
        ``root://`` / ``https://`` URLs.
    tree
        Name of the event tree (default: the profile's, ``tree`` for Belle II).
    mode
        ``auto`` (default), ``fast`` or ``deep``; see :mod:`lumiaudit.offline.count`.
    jobs
        Local workers (``0``: one per CPU).
    scheduler, client
        Dask scheduler address or ``dask.distributed.Client`` to count on a cluster.
    cache
        Path of a SQLite count cache (or an open ``CountCache``): unchanged files are not
        read again.
    include_skims
        Count skim files (``skim/NAME/``) in the per-run totals.
    progress
        Progress bar on stderr.
    timeout
        Seconds one attempt at one remote file may take (default
        :data:`~lumiaudit.offline.count.DEFAULT_TIMEOUT`, 30 s); then it is abandoned. A
        remote file costs at most ``(retries + 1) * timeout`` plus the backoff waits, and it
        is an ``io_error`` row ("timed out after N s") when every attempt timed out.
    branch_names
        Overrides of :data:`lumiaudit.offline.count.DEFAULT_BRANCHES`.
    retries, backoff
        Remote (URL) reads that fail for a reason that may pass (lost connection, timeout,
        server error) are tried ``retries`` more times, after ``backoff``, ``2 * backoff``,
        ... seconds (default 3 retries after 0.5, 1 and 2 s); see
        :func:`~lumiaudit.offline.count.count_file`. Local files are read once. Files still
        not read are ``io_error`` and listed in ``stats["not_counted"]``.
    allow_empty
        Accept an input that holds no ROOT file at all (by default that is an error naming
        the input: an empty directory, an unmounted area or the wrong directory would
        otherwise pass as "every run is missing offline").
    runs
        A :class:`~lumiaudit.runselect.RunSelection` (or its text): files whose name gives a
        run outside it are not opened (``stats["not_selected"]`` counts them); files whose name
        gives no run (grid files, ``r00000``) are opened, and the per-run tables keep only the
        selected runs (by EventMetaData).
    profile
        A :class:`~lumiaudit.profiles.Profile`, a built-in name or a TOML path (default
        ``belle2``): tree, branch names, file-name grammar, what "full" means. ``tree`` and
        ``branch_names`` given here override it. Entries that no run can be assigned to are
        listed in ``stats["unassigned"]`` and logged as a warning.

    Returns
    -------
    OfflineResult
        Files, contributions, runs and gaps tables.

    Raises
    ------
    InputNotFoundError
        If an input path, glob or list line names nothing, or an input holds no ROOT file
        (unless ``allow_empty``).
    ParameterError
        For an unknown mode, a bad option combination, or a ``cache`` path that is an input,
        one of the files or inside an input directory.
    OutputError
        If ``cache`` is not a lumiaudit count cache (it is left untouched).
    """
    from lumiaudit.profiles import load_profile

    prof = load_profile(profile)
    tree = prof.tree if tree is None else tree
    branch_names = {**_branch_overrides(prof), **(branch_names or {})} or None
    check_retries(retries, backoff)
    if mode not in MODES:
        msg = f"unknown counting mode {mode!r}; use one of {', '.join(MODES)}"
        raise ParameterError(msg)
    if not tree:
        msg = "the event tree name is empty"
        raise ParameterError(msg, hint="e.g. tree='tree'")
    if jobs < 0:
        msg = f"jobs must be 0 (one per CPU) or more, got {jobs}"
        raise ParameterError(msg)
    start = time.perf_counter()
    reached = reach(paths, allow_empty=allow_empty)
    if cache is not None and isinstance(cache, str | os.PathLike):
        _check_cache_path(Path(cache), paths, {real for _, real, _ in reached})
    selection = None
    if runs is not None:
        from lumiaudit.runselect import RunSelection

        selection = RunSelection.coerce(runs)
    cache_mode = _cache_mode(mode, branch_names, prof.names)
    opened: CountCache | None = None
    if cache is not None:
        from lumiaudit.offline.cache import CountCache

        opened = cache if isinstance(cache, CountCache) else CountCache.open(cache)
    try:
        memo = None
        known: dict[str, FileKey | None] = {}
        options = (
            tree,
            cache_mode,
            include_skims,
            str(selection),
            prof.name,
            prof.names,
            prof.full,
        )
        if opened is not None and selection is None:
            # an unchanged rerun is recognised before any name is parsed (result_cache)
            from lumiaudit.offline.cache import file_key

            known = {real: file_key(real) for _, real, error in reached if not error}
            memo = _memo_ids(
                [(path, real, error, known.get(real)) for path, real, error in reached],
                paths,
                (*options, "reached"),
            )
            stored = _stored(opened, memo)
            if stored is not None:
                warn_odd_suffixes({real for _, real, _ in reached})
                return _reuse(stored, start, opened)
        found = found_from(reached, names=prof.names)
        stats: dict[str, Any] = {"files": len(found), "mode": mode, "tree": tree}
        if prof.name != "belle2":
            stats["profile"] = prof.name
        if selection is not None:
            # the pre-open hook: a two-run audit does not open a whole production
            kept = [f for f in found if selection.keeps_file(f.name)]
            stats.update(files=len(kept), not_selected=len(found) - len(kept), runs=str(selection))
            found = kept
        logger.info("%d files to count (mode %s, tree %r)", len(found), mode, tree)
        # paths that could not be listed or examined are rows too, never dropped
        unlisted = {i: f for i, f in enumerate(found) if f.error}
        to_count = [f.path for f in found if not f.error]
        keys: list[FileKey | None] | None = None
        if opened is not None:
            from lumiaudit.offline.cache import file_key

            for p in to_count:
                if p not in known:
                    known[p] = file_key(p)
            keys = [known[p] for p in to_count]
            if selection is not None:
                # the files left out count too (stats["not_selected"])
                memo = _memo_ids(
                    [(f.path, f.markers, f.reached_as, f.error, known.get(f.path)) for f in found],
                    paths,
                    (*options, "found", stats["not_selected"]),
                )
                stored = _stored(opened, memo)
                if stored is not None:
                    return _reuse(stored, start, opened)
        result = _count_and_tabulate(
            found,
            unlisted,
            to_count,
            tree=tree,
            mode=mode,
            jobs=jobs,
            scheduler=scheduler,
            client=client,
            cache=opened,
            keys=keys,
            cache_mode=cache_mode,
            progress=progress,
            timeout=timeout,
            branch_names=branch_names,
            retries=retries,
            backoff=backoff,
            stats=stats,
            prof=prof,
            include_skims=include_skims,
            selection=selection,
        )
        if memo is not None and opened is not None and not stats["not_counted"]:
            from lumiaudit.offline.result_cache import store_result

            described = {k: v for k, v in stats.items() if k not in _RUN_STATS}
            parts = (result.files, result.contributions, result.runs, result.gaps, described)
            store_result(opened, *memo, parts)
    finally:
        if opened is not None and opened is not cache:
            opened.close()
    stats["seconds"] = round(time.perf_counter() - start, 3)
    return result
