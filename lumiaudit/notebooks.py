"""Find lumiaudit's notebook templates, installed or in a source tree.

The templates live in ``notebooks/`` at the top of the repository. A wheel carries them as
``lumiaudit/_notebooks`` (``[tool.hatch.build.targets.wheel.force-include]`` in
``pyproject.toml``); an editable install or a plain checkout finds them beside the package.
``LUMIAUDIT_NOTEBOOKS`` points to another directory (a site's own templates).
"""

from __future__ import annotations

import importlib
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
    "audit_notes",
    "changes_since",
    "explanations",
    "figure_html",
    "file_health_head",
    "file_health_tables",
    "flagged_table",
    "list_notebooks",
    "notebook_dir",
    "notebook_path",
    "open_audit",
    "plotted",
    "plotted_grid",
    "report_head",
    "run_head",
    "run_list_table",
    "run_tables",
    "runs_table",
    "section",
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


def open_audit(audit_dir: str | os.PathLike[str]) -> Audit:
    """Load the audit directory a template renders (``lumiaudit audit --out``, or the report's).

    The templates never audit: :func:`lumiaudit.report.run_report` (``lumiaudit report``) runs
    the audit once, in the calling process, and hands its directory to the notebook.

    Parameters
    ----------
    audit_dir
        An audit directory; relative to the kernel's working directory (the report directory
        for ``lumiaudit report``, ``notebooks/`` in JupyterLab).

    Returns
    -------
    lumiaudit.pipeline.Audit

    Raises
    ------
    InputNotFoundError
        There is no audit there; the hint says how to make one.
    AuditDirError
        A table or ``summary.json`` is damaged (the message names the file).
    """
    from lumiaudit.errors import InputNotFoundError
    from lumiaudit.pipeline import Audit

    path = Path(audit_dir)
    if not (path / "runs.csv").is_file():
        msg = "no audit directory here (no runs.csv)"
        raise InputNotFoundError(
            msg,
            path=path,
            hint="run `lumiaudit demo` (writes reports/demo) or `lumiaudit audit --out DIR` "
            "from the repository root, or set the notebook's audit_dir parameter",
        )
    return Audit.load(path)


def changes_since(
    previous: str | os.PathLike[str] | None, audit_dir: str | os.PathLike[str]
) -> tuple[Any, str | None]:
    """What changed since the ``previous`` audit (the nightly's last night).

    Returns
    -------
    (AuditDiff or None, str or None)
        The diff (:func:`lumiaudit.store.history.diff_audits`) and the previous audit's name;
        ``(None, None)`` without a previous audit; ``(None, why)`` when it cannot be read.
    """
    if previous is None:
        return None, None
    from lumiaudit.errors import LumiauditError
    from lumiaudit.store.history import diff_audits

    name = Path(previous).resolve().name
    try:
        return diff_audits(previous, audit_dir), name
    except LumiauditError as exc:
        return None, f"no comparison with {name}: {exc}"


def report_head(
    audit: Audit,
    *,
    audit_dir: str | os.PathLike[str] = ".",
    previous: str | os.PathLike[str] | None = None,
) -> Any:
    """The report's first screen as an IPython HTML object: the verdict, the flagged runs
    (severity first, why, how many events, where to look), input problems, and what changed
    since ``previous`` (an earlier audit or report directory) when one is given."""
    from lumiaudit.render.html import report_head as head

    changes, name = changes_since(previous, audit_dir)
    return _html(head(audit, changes=changes, previous=name))


def run_head(audit: Audit, run: int, experiment: int | None = None) -> Any:
    """The drilldown page's first line: the run, whether it is fine, its events and reasons
    (``run 105 (e12): WARN - 252 events missing offline: a file cannot be read ...``)."""
    from lumiaudit.render.firstscreen import run_verdict
    from lumiaudit.render.html import page_head

    return _html(page_head(run_verdict(audit.runs, run, experiment), audit.summary))


def file_health_head(audit: Audit) -> Any:
    """The file-health page's first line (``file health: 3 of 412 files unreadable, ...``)."""
    from lumiaudit.render.firstscreen import files_verdict
    from lumiaudit.render.html import page_head

    return _html(page_head(files_verdict(audit.files, audit.gaps), audit.summary))


def section(title: str, body: Any, *, open: bool = False) -> Any:
    """A collapsible report section holding a table (DataFrame), text, figure or HTML."""
    import pandas as pd

    from lumiaudit.render import html

    if isinstance(body, pd.DataFrame):
        inner = html.frame_html(body, max_rows=500)
    elif isinstance(body, Mapping):
        inner = html.tables_html(body)
    elif isinstance(body, str):
        inner = html.text_html(body)
    else:
        inner = figure_html(body)
    return _html(html.section(title, inner, open=open))


def _html(text: str) -> Any:
    # imported by name: IPython 8 re-exports HTML without marking it (mypy strict refuses the
    # attribute), IPython 9 marks it; a module looked up at run time types as Any under both
    display = importlib.import_module("IPython.display")
    return display.HTML(text)


def figure_html(fig: Any) -> str:
    """A matplotlib figure as an embedded PNG ``<img>`` (the figure is closed)."""
    import base64
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def plotted(plot: Any, *args: Any, figsize: tuple[float, float] = (10, 5), **kwargs: Any) -> Any:
    """A new figure with ``plot(*args, ax=ax, **kwargs)`` drawn on it (a bound Audit.plot_*)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    plot(*args, ax=ax, **kwargs)
    return fig


def plotted_grid(audit: Audit, names: Sequence[str], *, figsize: tuple[float, float]) -> Any:
    """A figure of two columns of ``audit.plot_<name>`` panels."""
    import matplotlib.pyplot as plt

    rows = (len(names) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=figsize, squeeze=False)
    # room between the rows for a header the label fit puts on two lines (plots._style)
    fig.subplots_adjust(hspace=0.32)
    for ax, name in zip(axes.flat, names, strict=False):
        getattr(audit, f"plot_{name}")(ax=ax)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    return fig


def explanations(audit: Audit) -> str:
    """``lumiaudit explain`` of every flagged run, one after the other."""
    flagged = audit.flagged
    import pandas as pd

    texts = [
        audit.explain(int(run), experiment=None if pd.isna(exp) else int(exp))
        for exp, run in zip(flagged["experiment"], flagged["run"], strict=True)
    ]
    return "\n".join(texts) if texts else "No run is flagged."


def flagged_table(audit: Audit) -> pd.DataFrame:
    """The flagged runs with their status, counts and reasons (the columns that exist)."""
    flagged = audit.flagged
    out = flagged[[c for c in FLAGGED_COLUMNS if c in flagged.columns]]
    return _readable_amounts(out).reset_index(drop=True)


def _readable_amounts(table: pd.DataFrame) -> pd.DataFrame:
    """The ``reason_events`` text with its amounts formatted (``elog_typo -2,753``) for the
    page; the stored table keeps the machine-readable ``code=events`` list."""
    if "reason_events" not in table.columns:
        return table
    import pandas as pd

    from lumiaudit.numbers import is_missing
    from lumiaudit.render.cells import reason_events_text

    text = [None if is_missing(v) else reason_events_text(v) for v in table["reason_events"]]
    return table.assign(reason_events=pd.array(text, dtype="string"))


def runs_table(audit: Audit) -> pd.DataFrame:
    """Every run with its status, counts and reasons (the columns of :data:`FLAGGED_COLUMNS`
    that exist), flagged runs first."""
    runs = audit.runs
    cols = [c for c in FLAGGED_COLUMNS if c in runs.columns]
    out = runs[cols]
    if "flagged" in runs.columns:
        flagged = runs["flagged"].fillna(False).astype(bool)
        out = out.assign(_f=~flagged).sort_values(["_f", *cols[:2]]).drop(columns="_f")
    return _readable_amounts(out).reset_index(drop=True)


def audit_notes(audit: Audit) -> str:
    """The audit's sentences about its sources, luminosity and flag rule, and its totals."""
    from lumiaudit.numbers import fmt

    summary = audit.summary or {}
    stats = summary.get("stats") or {}
    lines = []
    if stats.get("flag_rule"):
        lines.append(f"flag rule: {stats['flag_rule']}")
    lumi = (stats.get("lumi") or {}).get("text")
    if lumi:
        lines.append(f"luminosity: {lumi}")
    for name, source in (stats.get("sources") or {}).items():
        if (source or {}).get("text"):
            lines.append(f"source {name}: {source['text']}")
    totals = summary.get("totals") or {}
    if totals:
        lines.append("")
        width = max(len(k) for k in totals)
        lines += [f"{k:<{width}}  {fmt(v)}" for k, v in totals.items()]
    return "\n".join(lines)


def run_list_table(audit: Audit) -> pd.DataFrame:
    """The good, bad and ugly run lists as one table (``list, experiment, run, status,
    reasons``), as ``good_runs.json`` / ``bad_runs.json`` of the audit directory hold them."""
    from lumiaudit.runlists import classify_runs

    runs = audit.runs
    category = classify_runs(runs)
    cols = [c for c in ("experiment", "run", "status", "reasons") if c in runs.columns]
    out = runs[cols].copy()
    out.insert(0, "list", category.astype("string"))
    order = {"good": 0, "ugly": 1, "bad": 2}
    key = out["list"].map(lambda c: order.get(str(c), 3))
    return (
        out.assign(_k=key).sort_values(["_k", *cols[:2]]).drop(columns="_k").reset_index(drop=True)
    )


def _run_rows(frame: pd.DataFrame, run: int, experiment: int | None) -> pd.DataFrame:
    from lumiaudit.schema import select_run

    return select_run(frame, run, experiment).reset_index(drop=True)


#: the columns of a file-problem table, in this order (what a person checks; the path last,
#: it is long)
PROBLEM_FILE_COLUMNS = (
    "file",
    "experiment",
    "run",
    "hlt_unit",
    "file_index",
    "status",
    "error",
    "size_bytes",
    "n_entries",
    "n_meta",
    "duplicate_of",
    "path",
)


def _named(files: pd.DataFrame) -> pd.DataFrame:
    """Files with their base name first: paths are long, names are what people search for."""
    if "path" not in files.columns:
        return files
    out = files.copy()
    out.insert(0, "file", [None if p is None else Path(str(p)).name for p in files["path"]])
    return out


#: a run's files on its page (its first line names the run): where, what, how many, and why
#: not, then the error-flag counts
RUN_FILE_COLUMNS = (
    "file",
    "hlt_unit",
    "file_index",
    "status",
    "n_entries",
    "n_full",
    "n_meta",
    "size_bytes",
    "error",
    "markers",
    "duplicate_of",
    "path",
)


def _whole_estimates(gaps: pd.DataFrame) -> pd.DataFrame:
    """Gaps with their estimated events in whole events (a median of two files is no half
    event: ``380.5`` read as a count with decimals); missing stays missing."""
    if "est_events" not in gaps.columns:
        return gaps
    import pandas as pd

    est = pd.to_numeric(gaps["est_events"], errors="coerce").round().astype("Int64")
    return gaps.assign(est_events=est)


def _run_fields(rows: pd.DataFrame) -> pd.DataFrame:
    """A run's runs-table row(s) turned on their side: one row per field, the field's name
    first (the HTML shows no index), then one column per matching run, each value formatted by
    its field's kind (a luminosity as a luminosity, a count with separators)."""
    import pandas as pd

    from lumiaudit.numbers import fmt, is_missing
    from lumiaudit.render.html import column_kind

    out: dict[str, list[Any]] = {"field": [str(c) for c in rows.columns]}
    for _, row in rows.iterrows():
        exp, number = row.get("experiment"), row.get("run")
        label = f"run {fmt(number, 'run')}"
        if not is_missing(exp):
            label += f" (e{fmt(exp, 'run')})"
        values: list[Any] = []
        for name in rows.columns:
            value = row[name]
            if is_missing(value):
                values.append(pd.NA)
            elif isinstance(value, bool) or type(value).__name__ in {"bool_", "bool"}:
                values.append("yes" if value else "no")
            elif isinstance(value, str):
                values.append(value)
            elif pd.api.types.is_number(value):
                values.append(fmt(value, column_kind(str(name), rows[name])))
            else:
                values.append(str(value))
        out[label] = values
    return pd.DataFrame(out, index=[str(c) for c in rows.columns])


def _run_files(files: pd.DataFrame) -> pd.DataFrame:
    """:func:`_named` files of one run with :data:`RUN_FILE_COLUMNS` and the error-flag
    counts (``n_flag_0x..``)."""
    named = _named(files)
    cols = [c for c in RUN_FILE_COLUMNS if c in named.columns]
    cols += [c for c in named.columns if str(c).startswith("n_flag_")]
    return named[cols].reset_index(drop=True)


def _problem_files(files: pd.DataFrame) -> pd.DataFrame:
    """:func:`_named` files with only :data:`PROBLEM_FILE_COLUMNS` (that exist)."""
    named = _named(files)
    return named[[c for c in PROBLEM_FILE_COLUMNS if c in named.columns]].reset_index(drop=True)


def run_tables(audit: Audit, run: int, experiment: int | None = None) -> dict[str, pd.DataFrame]:
    """Everything known about one run, table by table.

    Returns
    -------
    dict
        ``"run"`` (its runs-table row on its side: ``field`` then one column per matching run,
        values formatted by the field's kind; indexed by field), ``"online entries"`` (every
        elog/run-DB entry naming it, chosen or not), ``"online conflicts"``, ``"files"`` (HLT
        unit, index, status, entries, full events and error-flag counts), ``"contributions"``,
        ``"gaps"`` (missing file indices or HLT units) and ``"DAQ files"``.
    """
    return {
        # one column per matching run, one row per field: 40 fields do not fit across a page
        "run": _run_fields(_run_rows(audit.runs, run, experiment)),
        # the page's first line names the run's experiment and type
        "online entries": _run_rows(audit.online_entries, run, experiment).drop(
            columns=["experiment", "run_type"], errors="ignore"
        ),
        "online conflicts": _run_rows(audit.conflicts, run, experiment),
        "files": _run_files(
            _run_rows(audit.files, run, experiment).sort_values(
                [c for c in ("hlt_unit", "file_index", "path") if c in audit.files.columns]
            )
        ),
        "contributions": _run_rows(audit.contributions, run, experiment),
        "gaps": _whole_estimates(_run_rows(audit.gaps, run, experiment)),
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
    import pandas as pd

    from lumiaudit.schema import UNREADABLE_STATUSES, FileStatus

    files = audit.files
    status = files["status"].astype("string")
    grouped = files.assign(status=status).groupby("status", dropna=False)
    counts = (
        pd.DataFrame(
            {
                "files": grouped["path"].size(),
                # a status whose files have no count (unreadable) has no sum: missing, never 0
                "bytes": grouped["size_bytes"].sum(min_count=1),
                "entries": grouped["n_entries"].sum(min_count=1),
            }
        )
        .reset_index()
        .sort_values("files", ascending=False)
    )
    runs = audit.runs
    bad_runs = runs[(runs["n_files_bad"].fillna(0) > 0).astype(bool)] if len(runs) else runs
    return {
        "status": counts.reset_index(drop=True),
        "unreadable": _problem_files(
            files[status.isin(UNREADABLE_STATUSES).fillna(False).astype(bool)]
        ),
        "duplicates": _problem_files(
            files[(status == FileStatus.DUPLICATE.value).fillna(False).astype(bool)]
        ),
        "metadata mismatches": _problem_files(
            files[(status == FileStatus.METADATA_MISMATCH.value).fillna(False).astype(bool)]
        ),
        "empty": _problem_files(
            files[(status == FileStatus.EMPTY.value).fillna(False).astype(bool)]
        ),
        "gaps": _whole_estimates(audit.gaps),
        "runs with bad files": bad_runs[
            [c for c in (*FLAGGED_COLUMNS, "n_files", "n_files_bad") if c in bad_runs.columns]
        ],
    }
