"""Ticket-ready text from an audit: Markdown and Jira snippets, JUnit XML for CI dashboards.

Everything here is pure: tables in, a string out. Text that comes from the inputs (elog values,
file names, error messages) is untrusted and is escaped for the target markup, so that a pipe
does not break a table, a backtick does not open a code span and ``<script>`` never reaches a
page as HTML. Missing values are written ``n/a``, never 0.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

import pandas as pd

from lumiaudit.errors import ParameterError
from lumiaudit.schema import FileStatus, RunStatus, flagged, select_run

__all__ = [
    "escape_jira",
    "escape_markdown",
    "jira_snippet",
    "junit_xml",
    "markdown_snippet",
    "reason_amounts",
    "select_runs",
]

_NA = "n/a"
#: Markdown punctuation that can open or close markup inside a table cell (CommonMark / GFM:
#: code spans, emphasis, links, strikethrough, cell separators), escaped with ``\``.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
#: Jira wiki markup characters that start markup, macros, links, images or emoticons.
_JIRA_SPECIAL = re.compile(r"([|*_+\-^~?{}\[\]!#()])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _is_na(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _one_line(text: object) -> str:
    return " ".join(_CONTROL.sub("", str(text)).split())


def escape_markdown(text: object) -> str:
    """Escape untrusted text for a GitHub/GitLab Markdown table cell.

    HTML special characters become entities (no raw HTML passes through), ``@`` and ``#``
    become entities (no mentions or issue links), the Markdown characters that can form markup
    in a cell are backslash-escaped (pipes included, so a cell never splits), newlines and
    control characters are dropped.

    Examples
    --------
    >>> escape_markdown("a|b `c` <script>")
    'a\\\\|b \\\\`c\\\\` &lt;script&gt;'
    """
    if _is_na(text):
        return _NA
    line = _one_line(text)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # no @mentions or #issue references from input text
    line = line.replace("#", "&#35;").replace("@", "&#64;")
    return _MD_SPECIAL.sub(r"\\\1", line)


def escape_jira(text: object) -> str:
    """Escape untrusted text for a Jira wiki-markup table cell.

    Markup characters (``| * _ + - ^ ~ ? { } [ ] ! # ( )``) are backslash-escaped, so no
    table split, link, image, macro (``{html}``) or emoticon can be formed; a backslash
    becomes the entity ``&#92;`` (``\\\\`` would be a line break); newlines are dropped.

    Examples
    --------
    >>> escape_jira("a|b {html}")
    'a\\\\|b \\\\{html\\\\}'
    """
    if _is_na(text):
        return _NA
    out = []
    for char in _one_line(text):
        if char == "\\":
            out.append("&#92;")
        elif _JIRA_SPECIAL.fullmatch(char):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


# ------------------------------------------------------------------------------------ values


def _int_text(value: object) -> str:
    if _is_na(value):
        return _NA
    return f"{int(float(str(value))):,}"


def _plain_int(value: object) -> str:
    return _NA if _is_na(value) else str(int(float(str(value))))


def _ratio_text(value: object) -> str:
    if _is_na(value):
        return _NA
    return f"{float(str(value)):.4f}"


def _q_text(value: object) -> str:
    if _is_na(value):
        return _NA
    q = float(str(value))
    if q == 0:
        return "0"
    return f"{q:.2g}" if q >= 1e-3 else f"{q:.1e}"


def _get(row: Mapping[str, Any], name: str) -> Any:
    return row.get(name, pd.NA)


def reason_amounts(reasons: object, reason_events: object = None) -> list[tuple[str, str]]:
    """Pair each reason code with its event amount.

    Parameters
    ----------
    reasons
        ``;``-separated reason codes (the ``reasons`` column).
    reason_events
        ``;``-separated ``code=events`` list (the ``reason_events`` column), or missing.

    Returns
    -------
    list of (code, amount)
        ``amount`` is the text after ``=`` (``""`` when the code has no amount). Codes only
        in ``reason_events`` are appended.

    Examples
    --------
    >>> reason_amounts("unreadable_file;outlier", "unreadable_file=980")
    [('unreadable_file', '980'), ('outlier', '')]
    """
    amounts: dict[str, str] = {}
    if not _is_na(reason_events):
        for part in str(reason_events).split(";"):
            code, _, amount = part.partition("=")
            if code.strip():
                amounts[code.strip()] = amount.strip()
    codes = [] if _is_na(reasons) else [c.strip() for c in str(reasons).split(";") if c.strip()]
    codes += [c for c in amounts if c not in codes]
    return [(code, amounts.get(code, "")) for code in codes]


def _amount_text(amount: str) -> str:
    try:
        return f"{int(float(amount)):,} events"
    except ValueError:
        return amount


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


def _plots_for(plots: Sequence[str | PurePath], keys: set[tuple[object, int]]) -> list[str]:
    """PNG names to attach: the audit-wide figures and the drilldowns of these runs."""
    names = [PurePath(p).name for p in plots]
    pngs = [n for n in names if n.endswith(".png")] or names
    wanted_runs = {f"_r{r:05d}." for _, r in keys}
    out = [
        name
        for name in pngs
        if not name.startswith("drilldown_") or any(w in name for w in wanted_runs)
    ]

    def rank(name: str) -> tuple[int, str]:
        stem = PurePath(name).stem
        return (_PLOT_ORDER.index(stem) if stem in _PLOT_ORDER else len(_PLOT_ORDER), name)

    return sorted(out, key=rank)


def _title(runs: pd.DataFrame, summary: Mapping[str, Any] | None) -> str:
    n = len(runs)
    flagged = int(runs["flagged"].astype("boolean").fillna(False).sum()) if "flagged" in runs else 0
    label = (summary or {}).get("experiment_label") or "Belle II"
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
        parts.append(f"{totals['runs']} runs audited, {totals.get('runs_flagged', '?')} flagged")
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


#: Order of the figures in "plots to attach" (the most telling first; drilldowns last).
_PLOT_ORDER = (
    "ratio_vs_run",
    "diff_vs_run",
    "online_vs_offline",
    "funnel",
    "ratio_vs_time",
    "ratio_distribution",
    "diff_distribution",
)

_RUN_HEADER = ("exp", "run", "status", "online", "offline", "diff", "ratio", "q-value", "reasons")

#: What the compared offline count is, by the definition the online number follows.
_DEFINITION = {"full": "error-free", "entries": "tree entries"}


def _compared(row: Mapping[str, Any], follows: object) -> tuple[object, str]:
    """The offline count the ``diff`` was computed from and its name (issue 11: a ticket row
    printed the tree entries beside a diff computed from the error-free count)."""
    value = _get(row, "n_offline_def")
    how = str(follows) if isinstance(follows, str) and follows in _DEFINITION else None
    if _is_na(value):
        full, entries = _get(row, "n_offline_full"), _get(row, "n_offline")
        if how == "entries" or (how is None and _is_na(full)):
            value, how = entries, "entries"
        else:
            value, how = (entries, "entries") if _is_na(full) else (full, "full")
    return value, _DEFINITION.get(how or "full", "error-free")


def _run_header(runs: pd.DataFrame, summary: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The run-table header, with the offline column named after the compared count."""
    follows = (summary or {}).get("follows")
    names = {_compared(r, follows)[1] for r in _records(runs)}
    label = f"offline {names.pop()}" if len(names) == 1 else "offline (compared)"
    return tuple(label if c == "offline" else c for c in _RUN_HEADER)


_FILE_HEADER = ("run", "file", "status", "entries", "detail")
_GAP_HEADER = ("run", "HLT unit", "file index", "est. events", "kind")


def _run_cells(row: Mapping[str, Any], escape: Any, follows: object = None) -> list[str]:
    exp = _get(row, "experiment")
    compared, _ = _compared(row, follows)
    return [
        _NA if _is_na(exp) else str(int(exp)),
        str(int(row["run"])),
        escape(_get(row, "status")),
        _int_text(_get(row, "n_online")),
        _int_text(compared),
        _int_text(_get(row, "diff")),
        _ratio_text(_get(row, "ratio")),
        _q_text(_get(row, "q_value")),
        _reasons_cell(row, escape),
    ]


def _file_cells(row: Mapping[str, Any], escape: Any) -> list[str]:
    detail = _get(row, "error")
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
    est = _get(row, "est_events")
    return [
        _plain_int(_get(row, "run")),
        _plain_int(_get(row, "hlt_unit")),
        _plain_int(_get(row, "file_index")),
        _NA if _is_na(est) else f"~{float(est):,.0f}",
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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, values, strict=True)) for values in frame.itertuples(False)]


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
                "est. events",
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
    attach = _plots_for(plots, keys)
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


def junit_xml(runs: pd.DataFrame, *, name: str = "lumiaudit") -> str:
    """Return a JUnit XML report with one testcase per run, for CI dashboards.

    ``classname`` is ``<name>.eEEEE`` (the experiment), ``name`` is ``rRRRRR`` (the run).
    Flagged runs get a ``<failure>`` whose message is the reason codes (with event amounts)
    and whose text gives the counts; ``NOT_AUDITED`` runs get ``<skipped>``; other runs pass.

    Parameters
    ----------
    runs
        Runs table.
    name
        Test suite name.

    Returns
    -------
    str
        An XML document (UTF-8 declaration, ``<testsuites>`` root).

    Examples
    --------
    >>> import pandas as pd
    >>> xml = junit_xml(pd.DataFrame({"experiment": [10], "run": [3000], "status": ["OK"],
    ...                               "flagged": [False]}))
    >>> 'name="r03000"' in xml
    True
    """
    cases = []
    failures = skipped = 0
    for row in _records(runs):
        exp, run = _get(row, "experiment"), _get(row, "run")
        case = ET.Element(
            "testcase",
            {
                "classname": f"{name}.e{'xxxx' if _is_na(exp) else f'{int(exp):04d}'}",
                "name": f"r{_NA if _is_na(run) else f'{int(run):05d}'}",
                "time": "0",
            },
        )
        status = "" if _is_na(_get(row, "status")) else str(_get(row, "status"))
        flagged = _get(row, "flagged")
        if status == RunStatus.NOT_AUDITED.value:
            skipped += 1
            run_type = _get(row, "run_type")
            ET.SubElement(
                case,
                "skipped",
                {
                    "message": _one_line(
                        f"not audited (run type {'?' if _is_na(run_type) else run_type})"
                    )
                },
            )
        elif not _is_na(flagged) and bool(flagged):
            failures += 1
            pairs = reason_amounts(_get(row, "reasons"), _get(row, "reason_events"))
            compared, compared_name = _compared(row, None)
            message = "; ".join(f"{c}={a}" if a else c for c, a in pairs) or status
            failure = ET.SubElement(
                case, "failure", {"message": _one_line(message), "type": _one_line(status)}
            )
            failure.text = _one_line(
                f"status {status}; online {_int_text(_get(row, 'n_online'))}; "
                f"offline {compared_name} {_int_text(compared)}; "
                f"diff {_int_text(_get(row, 'diff'))}; ratio {_ratio_text(_get(row, 'ratio'))}; "
                f"q-value {_q_text(_get(row, 'q_value'))}"
            )
        cases.append(case)
    attrs = {
        "name": name,
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
    }
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", attrs)
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
