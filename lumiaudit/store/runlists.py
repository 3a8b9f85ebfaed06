"""Writing run lists and ``GoodRuns/ BadRuns/ UglyRuns/`` symlink views.

The categories come from :func:`lumiaudit.runlists.classify_runs`; the records of a run list
(:func:`run_records`, the objects of ``good_runs.json``, ``bad_runs.json`` and of
``lumiaudit runlist --format json``) are built here only. A symlink view directory is
a lumiaudit output of kind ``views``: its ``.lumiaudit`` marker records every link it made,
and a later run removes or moves only those. A view directory (``GoodRuns``) that is itself a
symlink is never followed; an entry lumiaudit did not make is never removed, and one that is
in the way of a link is an error raised before anything changes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit.errors import OutputError, OutputRefusedError
from lumiaudit.runlists import classify_runs
from lumiaudit.store.atomic import write_text
from lumiaudit.store.outdir import check_output, read_marker, write_marker
from lumiaudit.store.tables import write_csv

__all__ = ["VIEWS", "run_records", "symlink_view", "write_runlists"]

log = logging.getLogger(__name__)

#: Directory name of each category in a symlink view.
VIEWS: dict[str, str] = {"good": "GoodRuns", "bad": "BadRuns", "ugly": "UglyRuns"}

_RUN_DIR = re.compile(r"^r(\d{4,6})(?:_bad)?$")


def run_records(
    runs: pd.DataFrame, categories: pd.Series, wanted: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """The run-list records of ``runs``: one JSON-ready dict per run.

    Parameters
    ----------
    runs
        Runs table rows (``experiment, run, status, reasons``; ``n_online, n_offline, diff,
        unexplained_diff, severity`` are added where present and not missing).
    categories
        The category of each row (:func:`lumiaudit.runlists.classify_runs`), same index.
    wanted
        Keep only these categories (default: every row that has one).

    Returns
    -------
    list of dict
        ``{"experiment", "run", "status", "category", "reasons": [...], ...}``; a missing
        experiment is ``None`` (a run-only key), a missing count is left out, never 0.
    """
    keep = categories.notna() if wanted is None else categories.isin(list(wanted))
    sel = runs[keep.fillna(False).astype(bool)]
    recs = []
    for (_, row), cat in zip(sel.iterrows(), categories[sel.index], strict=True):
        reasons = str(row["reasons"]).split(";") if isinstance(row.get("reasons"), str) else []
        rec: dict[str, Any] = {
            "experiment": None if pd.isna(row["experiment"]) else int(row["experiment"]),
            "run": int(row["run"]),
            "status": str(row["status"]),
            "category": str(cat),
            "reasons": reasons,
        }
        for col in ("n_online", "n_offline", "diff", "unexplained_diff"):
            if col in row and not pd.isna(row[col]):
                rec[col] = int(row[col])
        if "severity" in row and isinstance(row["severity"], str):
            rec["severity"] = row["severity"]
        recs.append(rec)
    return recs


def write_runlists(runs: pd.DataFrame, out_dir: str | PathLike[str]) -> dict[str, Path]:
    """Write ``good_runs.json``, ``bad_runs.json`` (bad and ugly runs, with their reasons),
    ``good_runs.csv`` and ``bad_runs.csv`` into ``out_dir``.

    The JSON files are a list of ``{"experiment", "run", "status", "category", "reasons", ...}``
    objects, readable back by :func:`lumiaudit.runlists.read_mask`.

    Returns
    -------
    dict
        File key (``good_runs.json`` ...) to path.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot write run list: {exc.strerror or exc}"
        raise OutputError(msg, path=out) from None
    cats = classify_runs(runs)
    written: dict[str, Path] = {}
    for name, wanted in (("good_runs", ("good",)), ("bad_runs", ("bad", "ugly"))):
        recs = run_records(runs, cats, wanted)
        path = out / f"{name}.json"
        write_text(path, json.dumps(recs, indent=1) + "\n")
        written[path.name] = path
        table = pd.DataFrame(
            [{**r, "reasons": ";".join(r["reasons"])} for r in recs],
            columns=["experiment", "run", "status", "category", "reasons"],
        )
        path = out / f"{name}.csv"
        write_csv(table, path)
        written[path.name] = path
    return written


def _run_dirs(files: pd.DataFrame) -> dict[tuple[int, int], list[Path]]:
    """Run directories (``rNNNNN`` or ``rNNNNN_bad``) holding each run's files."""
    out: dict[tuple[int, int], list[Path]] = {}
    if len(files) == 0 or "path" not in files:
        return out
    row: Any
    for row in files.itertuples(index=False):
        if pd.isna(row.run) or pd.isna(row.experiment) or not isinstance(row.path, str):
            continue
        if "://" in row.path:
            continue
        p = Path(row.path)
        for parent in p.parents:
            m = _RUN_DIR.match(parent.name)
            if m and int(m.group(1)) == int(row.run):
                dirs = out.setdefault((int(row.experiment), int(row.run)), [])
                if parent not in dirs:
                    dirs.append(parent)
                break
    return out


def _wanted(runs: pd.DataFrame, files: pd.DataFrame) -> dict[str, Path]:
    """``GoodRuns/r00105`` -> the run directory, for every audited run with files."""
    cats = classify_runs(runs)
    dirs = _run_dirs(files)
    experiments = {e for e, _ in dirs}
    wanted: dict[str, Path] = {}
    for (_, row), cat in zip(runs.iterrows(), cats, strict=True):
        if pd.isna(cat) or pd.isna(row["experiment"]):
            # run-only keys (profiles): no eEEEE/rRRRRR run directories to link to
            continue
        key = (int(row["experiment"]), int(row["run"]))
        for n, target in enumerate(dirs.get(key, [])):
            name = target.name if len(experiments) <= 1 else f"e{key[0]:04d}_{target.name}"
            if n:
                name = f"{name}.{n}"
            wanted[f"{VIEWS[str(cat)]}/{name}"] = target.resolve()
    return wanted


def _check_views(out: Path, wanted: dict[str, Path], made: set[str]) -> None:
    """Every refusal happens here, before anything is changed."""
    for view in VIEWS.values():
        vdir = out / view
        if vdir.is_symlink():
            msg = "a symlink; symlink views never follow a symlinked view directory"
            raise OutputRefusedError(
                msg,
                path=vdir,
                hint="remove the link or choose another --symlink-view",
            )
        if vdir.exists() and not vdir.is_dir():
            msg = "exists and is not a directory"
            raise OutputRefusedError(msg, path=vdir)
    for rel, target in wanted.items():
        link = out / rel
        if link.is_symlink():
            if rel not in made and link.readlink() != target:
                msg = "a symlink lumiaudit did not make is in the way"
                raise OutputRefusedError(msg, path=link)
        elif link.exists():
            msg = "not a symlink, refusing to replace it"
            raise OutputRefusedError(msg, path=link)


def symlink_view(
    runs: pd.DataFrame,
    files: pd.DataFrame,
    out_dir: str | PathLike[str],
    *,
    inputs: Iterable[str | PathLike[str]] = (),
) -> dict[str, int]:
    """Materialize ``GoodRuns/``, ``BadRuns/`` and ``UglyRuns/`` as symlinks to run directories.

    Idempotent: links already right are kept, links of runs that changed category are moved,
    stale links removed: only links recorded in ``out_dir/.lumiaudit`` (made by an earlier
    call) are ever removed; the data is never touched.

    Parameters
    ----------
    runs
        Runs table (``experiment, run, status, flagged, reasons``).
    files
        Files table (``path, experiment, run``): where the run directories are.
    out_dir
        Where the three view directories go: absent, empty, or an earlier view.
    inputs
        Inputs of the command (the audit directory): ``out_dir`` must stay clear of them.

    Returns
    -------
    dict
        Number of links per view directory name (plus ``removed`` and ``created``).

    Raises
    ------
    OutputRefusedError
        ``out_dir`` is not a lumiaudit view, a view directory is a symlink, or an entry
        lumiaudit did not make is in the way; nothing has been changed.
    OutputError
        The links cannot be written.
    """
    out = check_output(out_dir, kind="views", inputs=inputs, what="symlink view directory")
    marker = read_marker(out) if out.is_dir() else None
    made = {str(x) for x in (marker or {}).get("links", []) if isinstance(x, str)}
    wanted = _wanted(runs, files)
    _check_views(out, wanted, made)
    counts = dict.fromkeys(VIEWS.values(), 0) | {"created": 0, "removed": 0}
    kept_foreign = 0
    try:
        out.mkdir(parents=True, exist_ok=True)
        # recorded before the first link is made: an interrupted run still knows its links
        write_marker(out, "views", {"links": sorted(made | set(wanted))})
        for view in VIEWS.values():
            (out / view).mkdir(parents=True, exist_ok=True)
            for entry in (out / view).iterdir():
                rel = f"{view}/{entry.name}"
                if rel in wanted:
                    continue
                if rel in made and entry.is_symlink():
                    entry.unlink()
                    counts["removed"] += 1
                else:
                    kept_foreign += 1
        for rel, target in sorted(wanted.items()):
            link = out / rel
            if link.is_symlink():
                if link.readlink() == target:
                    counts[link.parent.name] += 1
                    continue
                link.unlink()
            link.symlink_to(target, target_is_directory=True)
            counts["created"] += 1
            counts[link.parent.name] += 1
        write_marker(out, "views", {"links": sorted(wanted)})
    except OSError as exc:
        msg = f"cannot write the symlink view: {exc.strerror or exc}"
        raise OutputError(msg, path=exc.filename or out) from None
    if kept_foreign:
        log.info("%s: kept %d entries lumiaudit did not make", out, kept_foreign)
    log.info("symlink view in %s: %s", out, counts)
    return counts
