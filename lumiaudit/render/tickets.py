"""Ticket-ready text from an audit: Markdown and Jira snippets, JUnit XML for CI dashboards.

Everything here is pure: tables in, a string out. Text that comes from the inputs (elog values,
file names, error messages) is untrusted and is escaped for the target markup, so that a pipe
does not break a table, a backtick does not open a code span and ``<script>`` never reaches a
page as HTML. Missing values are written ``n/a``, never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

import pandas as pd

from lumiaudit.errors import ParameterError
from lumiaudit.numbers import fmt
from lumiaudit.render.cells import (
    _DEFINITION,
    _NA,
    _amount_text,
    _compared,
    _get,
    _int_text,
    _is_na,
    _plain_int,
    _q_text,
    _ratio_text,
    _records,
    escape_jira,
    escape_markdown,
    file_problem,
    reason_amounts,
)
from lumiaudit.render.junit import junit_xml
from lumiaudit.schema import FileStatus, flagged, select_run

__all__ = [
    "escape_jira",
    "escape_markdown",
    "file_problem",
    "jira_snippet",
    "junit_xml",
    "markdown_snippet",
    "reason_amounts",
    "select_runs",
]


def _reasons_cell(row: Mapping[str, Any], escape: Any) -> str:
    pairs = reason_amounts(_get(row, "reasons"), _get(row, "reason_events"))
    if not pairs:
        return "none"
    parts = []
    for code, amount in pairs:
        text = escape(code)
        if amount:
            text += f" ({escape(_amount_text(amount))})"
        parts.append(text)
    return ", ".join(parts)


def select_runs(
    runs: pd.DataFrame,
    run_numbers: Iterable[int] | None = None,
    *,
    experiment: int | None = None,
) -> pd.DataFrame:
    """Choose the runs a ticket is about.

    Parameters
    ----------
    runs
        Runs table.
    run_numbers
        Runs to include (in the given order); None for all flagged runs.
    experiment
        Restrict to one experiment.

    Returns
    -------
    DataFrame
        The selected rows.

    Raises
    ------
    ParameterError
        If a requested run is not in the audit.
    """
    table = runs
    if experiment is not None:
        table = table[(table["experiment"] == experiment).fillna(False).to_numpy(dtype=bool)]
    if run_numbers is None:
        return flagged(table)
    wanted = list(dict.fromkeys(int(r) for r in run_numbers))
    present = set(table["run"].dropna().astype(int))
    missing = [r for r in wanted if r not in present]
    if missing:
        msg = (
            f"run(s) {', '.join(map(str, missing))} not in the audit "
            f"({len(present)} runs, {min(present, default=0)}-{max(present, default=0)})"
        )
        raise ParameterError(msg)
    parts = [select_run(table, r) for r in wanted]
    return pd.concat(parts, ignore_index=True) if parts else table.iloc[0:0]


def _keys(runs: pd.DataFrame) -> set[tuple[object, int]]:
    exps = (
        runs["experiment"] if "experiment" in runs.columns else pd.Series(pd.NA, index=runs.index)
    )
    return {
        (None if _is_na(e) else int(e), int(r))
        for e, r in zip(exps, runs["run"], strict=True)
        if not _is_na(r)
    }


def _rows_for(frame: pd.DataFrame | None, keys: set[tuple[object, int]]) -> pd.DataFrame:
    if frame is None or frame.empty or "run" not in frame.columns:
        return pd.DataFrame()
    exps = (
        frame["experiment"]
        if "experiment" in frame.columns
        else pd.Series(pd.NA, index=frame.index)
    )
    runs_only = {r for _, r in keys}
    mask = [
        not _is_na(r)
        and ((None if _is_na(e) else int(e), int(r)) in keys or (_is_na(e) and int(r) in runs_only))
        for e, r in zip(exps, frame["run"], strict=True)
    ]
    return frame[mask]


def _bad_files(files: pd.DataFrame | None, keys: set[tuple[object, int]]) -> pd.DataFrame:
    rows = _rows_for(files, keys)
    if rows.empty or "status" not in rows.columns:
        return rows
    return rows[(rows["status"].astype("string") != FileStatus.OK.value).fillna(True)]


#: Reasons a file grid (the drilldown) shows: losses or extras of files. An elog typo, an
#: unexplained difference or a missing online count shows nothing there (all green).
_FILE_REASONS = frozenset(
    {
        "unreadable_file",
        "file_index_gap",
        "missing_hlt_unit",
        "duplicate_file",
        "metadata_mismatch",
        "processing_loss",
        "unlisted_file",
        "empty_file",
    }
)
#: Reasons that lose events: the funnel shows where they went.
_LOSS_REASONS = frozenset(
    {"unreadable_file", "file_index_gap", "missing_hlt_unit", "processing_loss", "no_offline_files"}
)


def _codes(runs: pd.DataFrame) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for r in _records(runs):
        codes = {c for c, _ in reason_amounts(_get(r, "reasons"), _get(r, "reason_events"))}
        out.setdefault(int(r["run"]), set()).update(codes)
    return out


def _plots_for(plots: Sequence[str | PurePath], runs: pd.DataFrame) -> list[str]:
    """PNG names to attach, chosen by relevance to these runs' reasons.

    ``diff_vs_run`` (the size of each problem) always; ``funnel`` when a run lost events;
    ``online_vs_offline`` when several runs are reported; a run's drilldown only when its
    reasons are about files (a drilldown of an elog typo is all green and says nothing).
    The distributions and the time plot are for the report, not the ticket.
    """
    names = [PurePath(p).name for p in plots]
    pngs = [n for n in names if n.endswith(".png")] or names
    codes = _codes(runs) if len(runs) and "run" in runs.columns else {}
    every = set().union(*codes.values()) if codes else set()
    wanted = ["diff_vs_run", "ratio_vs_run"]
    if every & _LOSS_REASONS:
        wanted.append("funnel")
    if len(codes) > 1:
        wanted.append("online_vs_offline")
    drill = {f"_r{run:05d}" for run, c in codes.items() if c & _FILE_REASONS}
    out = [n for n in pngs if PurePath(n).stem in wanted]
    out.sort(key=lambda n: wanted.index(PurePath(n).stem))
    out += sorted(
        n
        for n in pngs
        if n.startswith("drilldown_") and any(PurePath(n).stem.endswith(d) for d in drill)
    )
    return out


def _title(runs: pd.DataFrame, summary: Mapping[str, Any] | None) -> str:
    n = len(runs)
    flagged = int(runs["flagged"].astype("boolean").fillna(False).sum()) if "flagged" in runs else 0
    label = (summary or {}).get("experiment_label") or "lumiaudit"  # never a guessed experiment
    if n == 1:
        row = runs.iloc[0]
        exp = "" if _is_na(row.get("experiment")) else f"e{int(row['experiment'])} "
        if exp.strip() in str(label).split():
            exp = ""
        return f"{label} {exp}run {int(row['run'])}: {row.get('status', '')}"
    return f"{label}: {n} runs ({flagged} flagged)"


def _context(summary: Mapping[str, Any] | None, audited: int | None) -> str:
    if not summary:
        return ""
    parts = []
    totals = summary.get("totals") or {}
    if totals.get("runs") is not None:
        # audited as the report's verdict counts them: non-physics runs are not audited
        n_runs = int(totals["runs"])
        skipped = int((summary.get("status_counts") or {}).get("NOT_AUDITED", 0))
        runs_text = (
            f"{fmt(n_runs - skipped)} of {fmt(n_runs)} runs audited"
            if skipped
            else f"{fmt(n_runs)} runs audited"
        )
        parts.append(f"{runs_text}, {fmt(totals.get('runs_flagged'))} flagged")
    elif audited is not None:
        parts.append(f"{audited} runs")
    run_range = summary.get("run_range")
    if isinstance(run_range, list | tuple) and len(run_range) == 2:
        run_range = f"{run_range[0]}–{run_range[1]}"
    if run_range:
        parts.append(f"runs {run_range}")
    if summary.get("follows"):
        how = _DEFINITION.get(str(summary["follows"]), str(summary["follows"]))
        parts.append(f"online follows the {how} offline count")
    if summary.get("created"):
        parts.append(f"created {str(summary['created'])[:19]}")
    if summary.get("lumiaudit_version"):
        parts.append(f"lumiaudit {summary['lumiaudit_version']}")
    lumi = (summary.get("stats") or {}).get("lumi") or {}
    if lumi.get("recorded_nb"):
        parts.append(str(lumi.get("text")))
    return "; ".join(str(p) for p in parts)


_RUN_HEADER = ("exp", "run", "status", "online", "offline", "diff", "ratio", "q-value", "reasons")


def _run_header(runs: pd.DataFrame, summary: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The run-table header, with the offline column named after the compared count."""
    follows = (summary or {}).get("follows")
    # a run without an offline count (n/a) compares nothing: it does not make the name vague
    pairs = [_compared(r, follows) for r in _records(runs)]
    names = {name for value, name in pairs if not _is_na(value)} or {name for _, name in pairs}
    label = f"offline {names.pop()}" if len(names) == 1 else "offline (compared)"
    return tuple(label if c == "offline" else c for c in _RUN_HEADER)


_FILE_HEADER = ("run", "file", "status", "entries", "detail")
# no events column: the run table already gives each cause its one amount (issue 16: a gap
# estimate "~1,040" stood beside "file_index_gap (650 events)")
_GAP_HEADER = ("run", "HLT unit", "file index", "kind")


def _run_cells(row: Mapping[str, Any], escape: Any, follows: object = None) -> list[str]:
    exp = _get(row, "experiment")
    compared, _ = _compared(row, follows)
    return [
        _NA if _is_na(exp) else str(int(exp)),
        str(int(row["run"])),
        escape(_get(row, "status")),
        _int_text(_get(row, "n_online")),
        _int_text(compared),
        fmt(_get(row, "diff"), "signed", missing=_NA),  # +252 / -2,753, as on the report
        _ratio_text(_get(row, "ratio")),
        _q_text(_get(row, "q_value")),
        _reasons_cell(row, escape),
    ]


def _file_cells(row: Mapping[str, Any], escape: Any) -> list[str]:
    detail: object = file_problem(_get(row, "error"), _get(row, "path"))
    dup = _get(row, "duplicate_of")
    if not _is_na(dup) and str(dup):
        detail = f"duplicate of {dup}"
    return [
        _plain_int(_get(row, "run")),
        escape(_get(row, "path")),
        escape(_get(row, "status")),
        _int_text(_get(row, "n_entries")),
        "" if _is_na(detail) or not str(detail) else escape(detail),
    ]


def _gap_cells(row: Mapping[str, Any], escape: Any) -> list[str]:
    index = _get(row, "file_index")
    return [
        _plain_int(_get(row, "run")),
        _plain_int(_get(row, "hlt_unit")),
        "whole unit" if _is_na(index) else _plain_int(index),
        escape(_get(row, "kind")),
    ]


#: Evidence notes a ticket repeats: the per-file amounts and the witnesses' verdicts.
_FINDINGS = (
    "processing_loss:",
    "unlisted_file:",
    "duplicate_events:",
    "sources:",
    "several productions",
)


def _findings(runs: pd.DataFrame) -> list[str]:
    """``run N: <note>`` for the evidence notes of :data:`_FINDINGS` (per-file losses ...)."""
    if "evidence" not in runs.columns:
        return []
    out = []
    for r in _records(runs):
        ev = _get(r, "evidence")
        if _is_na(ev):
            continue
        for note in str(ev).split(" | "):
            if note.startswith(_FINDINGS):
                out.append(f"run {_plain_int(_get(r, 'run'))}: {note}")
    return out


def _snippet(
    runs: pd.DataFrame,
    *,
    files: pd.DataFrame | None,
    gaps: pd.DataFrame | None,
    plots: Sequence[str | PurePath],
    summary: Mapping[str, Any] | None,
    title: str | None,
    max_files: int,
    jira: bool,
) -> str:
    esc = escape_jira if jira else escape_markdown

    def header(cells: Sequence[str]) -> list[str]:
        if jira:
            return ["||" + "||".join(cells) + "||"]
        align = [
            "---:"
            if c.startswith("offline")
            or c
            in (
                "exp",
                "run",
                "online",
                "diff",
                "ratio",
                "q-value",
                "entries",
                "HLT unit",
                "file index",
            )
            else "---"
            for c in cells
        ]
        return ["| " + " | ".join(cells) + " |", "|" + "|".join(align) + "|"]

    def row(cells: Sequence[str]) -> str:
        cells = [c if c else " " for c in cells]
        return ("|" + "|".join(cells) + "|") if jira else ("| " + " | ".join(cells) + " |")

    def heading(text: str, level: int) -> str:
        return f"h{level}. {text}" if jira else f"{'#' * level} {text}"

    def bold(text: str) -> str:
        return f"*{text}*" if jira else f"**{text}**"

    lines = [heading(esc(title or _title(runs, summary)), 3)]
    context = _context(summary, len(runs))
    if context:
        lines += ["", esc(context)]
    lines.append("")
    if runs.empty:
        lines.append("No runs selected (no flagged runs in this audit).")
        return "\n".join(lines) + "\n"
    lines += header(_run_header(runs, summary))
    follows = (summary or {}).get("follows")
    lines += [row(_run_cells(r, esc, follows)) for r in _records(runs)]
    keys = _keys(runs)

    bad = _bad_files(files, keys)
    if not bad.empty:
        lines += ["", bold(f"Affected files ({len(bad)})"), ""]
        lines += header(_FILE_HEADER)
        lines += [row(_file_cells(r, esc)) for r in _records(bad.head(max_files))]
        if len(bad) > max_files:
            lines.append(f"+{len(bad) - max_files} more (see files.csv)")
    gap_rows = _rows_for(gaps, keys)
    if not gap_rows.empty:
        lines += ["", bold(f"Missing files and HLT units ({len(gap_rows)})"), ""]
        lines += header(_GAP_HEADER)
        lines += [row(_gap_cells(r, esc)) for r in _records(gap_rows.head(max_files))]
        if len(gap_rows) > max_files:
            lines.append(f"+{len(gap_rows) - max_files} more (see gaps.csv)")
    found = _findings(runs)
    if found:
        lines += ["", bold("Per-file and per-source findings"), ""]
        lines += [f"- {esc(text)}" for text in found[:max_files]]
        if len(found) > max_files:
            lines.append(f"+{len(found) - max_files} more (see runs.csv evidence)")
    attach = _plots_for(plots, runs)
    if attach:
        lines += ["", bold("Plots to attach") + ":"]
        if jira:
            lines += [f"!{name}|thumbnail!" for name in attach]
        else:
            lines += [f"- {esc(name)}" for name in attach]
    return "\n".join(lines) + "\n"


def markdown_snippet(
    runs: pd.DataFrame,
    *,
    files: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
    plots: Sequence[str | PurePath] = (),
    summary: Mapping[str, Any] | None = None,
    title: str | None = None,
    max_files: int = 20,
) -> str:
    """Return a GitHub/GitLab Markdown snippet about ``runs``.

    Parameters
    ----------
    runs
        The runs the ticket is about (see :func:`select_runs`): one row each in the table
        (exp, run, status, online, offline, diff, ratio, q-value, reasons with event amounts).
    files
        Files table: the non-ok files of these runs are listed (status, entries, error or
        ``duplicate_of``).
    gaps
        Gaps table: missing file indices and HLT units of these runs.
    plots
        Names (or paths) of the figures written for the audit; PNGs are listed to attach
        (drilldowns only for these runs).
    summary
        The audit's ``summary.json`` content, for a context line.
    title
        Heading (default: experiment label, run or number of runs).
    max_files
        At most this many rows in the files and gaps tables.

    Returns
    -------
    str
        Markdown ending with a newline.
    """
    return _snippet(
        runs,
        files=files,
        gaps=gaps,
        plots=plots,
        summary=summary,
        title=title,
        max_files=max_files,
        jira=False,
    )


def jira_snippet(
    runs: pd.DataFrame,
    *,
    files: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
    plots: Sequence[str | PurePath] = (),
    summary: Mapping[str, Any] | None = None,
    title: str | None = None,
    max_files: int = 20,
) -> str:
    """Return a Jira wiki-markup snippet about ``runs``.

    Same content as :func:`markdown_snippet`; tables use ``||`` headers and the plots are
    embedded as ``!name.png|thumbnail!`` (attach the files to the issue first).

    Returns
    -------
    str
        Jira wiki markup ending with a newline.
    """
    return _snippet(
        runs,
        files=files,
        gaps=gaps,
        plots=plots,
        summary=summary,
        title=title,
        max_files=max_files,
        jira=True,
    )
