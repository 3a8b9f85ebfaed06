"""Find lumiaudit's notebook templates, installed or in a source tree.

The templates live in ``notebooks/`` at the top of the repository. A wheel carries them as
``lumiaudit/_notebooks`` (``[tool.hatch.build.targets.wheel.force-include]`` in
``pyproject.toml``); an editable install or a plain checkout finds them beside the package.
``LUMIAUDIT_NOTEBOOKS`` points to another directory (a site's own templates).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumiaudit.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from lumiaudit.pipeline import Audit

__all__ = [
    "NOTEBOOKS",
    "file_health_tables",
    "flagged_table",
    "list_notebooks",
    "notebook_dir",
    "notebook_path",
    "open_audit",
    "run_lists",
    "run_tables",
]

#: The templates shipped with lumiaudit.
NOTEBOOKS: tuple[str, ...] = ("audit_overview", "run_drilldown", "file_health")

_PACKAGE = Path(__file__).resolve().parent


def _candidates() -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get("LUMIAUDIT_NOTEBOOKS")
    if env:
        dirs.append(Path(env))
    # wheel install first, then the source tree of an editable install or checkout
    dirs += [_PACKAGE / "_notebooks", _PACKAGE.parent / "notebooks"]
    return dirs


def notebook_dir() -> Path:
    """Return the directory holding the notebook templates.

    Returns
    -------
    pathlib.Path
        ``$LUMIAUDIT_NOTEBOOKS`` if set, else ``lumiaudit/_notebooks`` (wheel), else the
        ``notebooks/`` directory of the source tree.

    Raises
    ------
    ParameterError
        If none of these directories holds a notebook (a broken install).
    """
    tried = _candidates()
    for directory in tried:
        if directory.is_dir() and any(directory.glob("*.ipynb")):
            return directory
    msg = "no notebook templates found"
    raise ParameterError(
        msg,
        path=", ".join(str(d) for d in tried),
        hint="reinstall lumiaudit or set LUMIAUDIT_NOTEBOOKS to a directory of .ipynb files",
    )


def list_notebooks() -> list[str]:
    """Return the names (without ``.ipynb``) of the available templates, sorted.

    Examples
    --------
    >>> from lumiaudit.notebooks import list_notebooks
    >>> "audit_overview" in list_notebooks()
    True
    """
    return sorted(p.stem for p in notebook_dir().glob("*.ipynb"))


def notebook_path(name: str | os.PathLike[str]) -> Path:
    """Return the path of a template given its name, or of a notebook file given its path.

    Parameters
    ----------
    name
        A template name (``"audit_overview"``, with or without ``.ipynb``) or the path of an
        existing ``.ipynb`` file (a user's own notebook with a ``parameters`` cell).

    Raises
    ------
    ParameterError
        If there is no such template or file; the message lists the templates there are.
    """
    text = os.fspath(name)
    given = Path(text)
    if given.suffix == ".ipynb" and given.is_file():
        return given.resolve()
    directory = notebook_dir()
    stem = given.name[: -len(".ipynb")] if given.name.endswith(".ipynb") else given.name
    path = directory / f"{stem}.ipynb"
    if path.is_file() and os.sep not in text and "/" not in text:
        return path
    known = ", ".join(sorted(p.stem for p in directory.glob("*.ipynb")))
    msg = f"unknown notebook {text!r}"
    raise ParameterError(msg, hint=f"templates in {directory}: {known}")


# --------------------------------------------------------------------------------------------
# What the templates call. The notebooks hold no logic of their own: every table they show
# comes from here or from the Audit object, so the CLI, the API and the reports agree.

#: runs-table columns shown for flagged runs (those present are shown, in this order)
FLAGGED_COLUMNS: tuple[str, ...] = (
    "experiment",
    "run",
    "run_type",
    "status",
    "severity",
    "n_online",
    "n_offline",
    "n_offline_full",
    "diff",
    "ratio",
    "q_value",
    "reasons",
    "reason_events",
    "waived",
)


def open_audit(
    *,
    online: Sequence[str] = (),
    offline: Sequence[str] = (),
    audit_dir: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    run_range: Sequence[int] | None = None,
    **options: Any,
) -> Audit:
    """Load an audit directory, or run the audit and (optionally) write it.

    Parameters
    ----------
    online, offline
        Sources passed to :func:`lumiaudit.audit` (ignored when ``audit_dir`` is given).
    audit_dir
        An audit directory written before (``lumiaudit audit --out``): loaded, not recomputed.
    out_dir
        Where to write the audit directory (CSV tables, plots, ``summary.json``); ``None``
        writes nothing.
    thresholds
        Fields of :class:`lumiaudit.reconcile.stats.Thresholds` (e.g. ``{"z_fail": 6}``).
    run_range
        ``[first, last]``.
    **options
        Other keyword arguments of :func:`lumiaudit.audit` (tree, mode, jobs, cache, ...).

    Returns
    -------
    lumiaudit.pipeline.Audit

    Raises
    ------
    ParameterError
        If neither ``audit_dir`` nor both ``online`` and ``offline`` are given, or a threshold
        name is unknown.
    """
    from lumiaudit.pipeline import Audit, audit

    if audit_dir is not None:
        return Audit.load(audit_dir)
    if not online or not offline:
        msg = "give online and offline sources, or audit_dir"
        raise ParameterError(msg)
    limits = None
    if thresholds:
        from lumiaudit.reconcile.stats import Thresholds

        try:
            limits = Thresholds(**dict(thresholds))
        except TypeError as exc:
            msg = f"bad thresholds {dict(thresholds)!r}: {exc}"
            raise ParameterError(msg) from exc
    result = audit(
        list(online),
        list(offline),
        thresholds=limits,
        run_range=None if run_range is None else (int(run_range[0]), int(run_range[1])),
        **options,
    )
    if out_dir is not None:
        import matplotlib.pyplot as plt

        before = set(plt.get_fignums())
        result.write(out_dir)
        # figures left open by the writer would show up as empty plots in the notebook
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
    return result


def flagged_table(audit: Audit) -> pd.DataFrame:
    """The flagged runs with their status, counts and reasons (the columns that exist)."""
    flagged = audit.flagged
    return flagged[[c for c in FLAGGED_COLUMNS if c in flagged.columns]].reset_index(drop=True)


def run_lists(directory: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The good and bad run lists of a written audit directory (``{}`` when there is none)."""
    out: dict[str, Any] = {}
    if directory is None:
        return out
    for name in ("good_runs", "bad_runs"):
        path = Path(directory) / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def _run_rows(frame: pd.DataFrame, run: int, experiment: int | None) -> pd.DataFrame:
    from lumiaudit.schema import select_run

    return select_run(frame, run, experiment).reset_index(drop=True)


def _named(files: pd.DataFrame) -> pd.DataFrame:
    """Files with their base name first: paths are long, names are what people search for."""
    if "path" not in files.columns:
        return files
    out = files.copy()
    out.insert(0, "file", [None if p is None else Path(str(p)).name for p in files["path"]])
    return out


def run_tables(audit: Audit, run: int, experiment: int | None = None) -> dict[str, pd.DataFrame]:
    """Everything known about one run, table by table.

    Returns
    -------
    dict
        ``"run"`` (its runs-table row, transposed), ``"online entries"`` (every elog/run-DB
        entry naming it, chosen or not), ``"online conflicts"``, ``"files"`` (HLT unit, index,
        status, entries, full events and error-flag counts), ``"contributions"``, ``"gaps"``
        (missing file indices or HLT units) and ``"DAQ files"``.
    """
    return {
        # one column per matching run, one row per field: 40 fields do not fit across a page
        "run": _run_rows(audit.runs, run, experiment).astype(object).T,
        "online entries": _run_rows(audit.online_entries, run, experiment),
        "online conflicts": _run_rows(audit.conflicts, run, experiment),
        "files": _named(
            _run_rows(audit.files, run, experiment).sort_values(
                [c for c in ("hlt_unit", "file_index", "path") if c in audit.files.columns]
            )
        ),
        "contributions": _run_rows(audit.contributions, run, experiment),
        "gaps": _run_rows(audit.gaps, run, experiment),
        "DAQ files": _run_rows(audit.daq_files, run, experiment),
    }


def file_health_tables(audit: Audit) -> dict[str, pd.DataFrame]:
    """Per-file health of a production.

    Returns
    -------
    dict
        ``"status"`` (files, bytes and entries per FileStatus), ``"unreadable"`` (files whose
        events cannot be counted: :data:`lumiaudit.schema.UNREADABLE_STATUSES`),
        ``"duplicates"``, ``"metadata mismatches"``, ``"empty"``, ``"gaps"`` and ``"runs with
        bad files"``.
    """
    from lumiaudit.schema import UNREADABLE_STATUSES, FileStatus

    files = audit.files
    status = files["status"].astype("string")
    counts = (
        files.assign(status=status)
        .groupby("status", dropna=False)
        .agg(files=("path", "size"), bytes=("size_bytes", "sum"), entries=("n_entries", "sum"))
        .reset_index()
        .sort_values("files", ascending=False)
    )
    runs = audit.runs
    bad_runs = runs[(runs["n_files_bad"].fillna(0) > 0).astype(bool)] if len(runs) else runs
    return {
        "status": counts.reset_index(drop=True),
        "unreadable": _named(files[status.isin(UNREADABLE_STATUSES).fillna(False).astype(bool)]),
        "duplicates": _named(
            files[(status == FileStatus.DUPLICATE.value).fillna(False).astype(bool)]
        ),
        "metadata mismatches": _named(
            files[(status == FileStatus.METADATA_MISMATCH.value).fillna(False).astype(bool)]
        ),
        "empty": _named(files[(status == FileStatus.EMPTY.value).fillna(False).astype(bool)]),
        "gaps": audit.gaps,
        "runs with bad files": bad_runs[
            [c for c in (*FLAGGED_COLUMNS, "n_files", "n_files_bad") if c in bad_runs.columns]
        ],
    }
