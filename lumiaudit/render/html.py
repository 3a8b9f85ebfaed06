"""An audit as HTML: the report's first screen, its collapsible details, the JupyterLab view.

No file I/O. Every table is rendered from a DataFrame with one formatting policy
(:func:`lumiaudit.numbers.fmt`): run, experiment and other identifiers without
separators, counts with them, differences signed, ratios with 5 decimals, luminosity with its
unit, missing as an em dash (never ``<NA>`` or ``nan``), no index column. Every value is
escaped with :func:`html.escape`: elog text and file names are untrusted, a ``<script>`` in them
is shown as text and never runs.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

from lumiaudit._version import __version__
from lumiaudit.numbers import Kind, fmt, is_missing

__all__ = [
    "STYLE",
    "audit_html",
    "changes_html",
    "column_kind",
    "details",
    "frame_html",
    "funnel_html",
    "report_head",
    "section",
    "tables_html",
    "text_html",
]

#: how missing values read in the HTML
DASH = "\u2014"


class _AuditLike(Protocol):
    summary: dict[str, Any]
    runs: Any
    funnel: Any


#: column name -> kind, where the name alone decides (else :func:`column_kind` looks at it)
_KINDS: dict[str, Kind] = {
    "run": "run",
    "experiment": "run",
    "hlt_unit": "id",
    "file_index": "id",
    "line": "id",
    "entry_id": "id",
    "run_low": "run",
    "run_high": "run",
    "diff": "signed",
    "diff_full": "signed",
    "diff_entries": "signed",
    "unexplained_diff": "signed",
    "diff_old": "signed",
    "diff_new": "signed",
    "ratio": "ratio",
    "ratio_full": "ratio",
    "ratio_entries": "ratio",
}


def column_kind(name: str, values: pd.Series | None = None) -> Kind:
    """The :func:`fmt` kind of a column, from its name, else from its values.

    >>> column_kind("run"), column_kind("n_online"), column_kind("lumi_affected_nb")
    ('run', 'count', 'lumi')
    """
    if name in _KINDS:
        return _KINDS[name]
    if name.startswith("ratio"):
        return "ratio"
    if name.endswith("_nb"):
        return "lumi"
    if name.startswith(("n_", "events", "runs", "files", "est_")) or name in {
        "online",
        "offline",
        "entries",
        "bytes",
        "size_bytes",
        "value",
        "expected",
    }:
        return "count"
    if values is not None and pd.api.types.is_float_dtype(values.dtype):
        finite = pd.to_numeric(values, errors="coerce").dropna()
        if len(finite) and (finite == finite.round()).all():
            return "count"
        return "float"
    return "count"


def _cell(value: Any, kind: Kind) -> str:
    if isinstance(value, list | tuple):
        return "<br>".join(html.escape(str(v)) for v in value) or DASH
    if is_missing(value):
        return f'<span class="la-na">{DASH}</span>'
    if isinstance(value, bool) or type(value).__name__ in {"bool_", "bool"}:  # numpy 1 and 2
        return "yes" if value else "no"
    if isinstance(value, str):
        return html.escape(value)
    return html.escape(fmt(value, kind, missing=DASH))


#: short headers of wide-named narrow columns (as the flagged runs' table says ``exp``)
_HEADERS = {"experiment": "exp"}

#: text longer than this (characters) wraps in a bounded column (``td.la-long``)
_LONG = 40


def frame_html(
    frame: pd.DataFrame,
    *,
    kinds: Mapping[str, Kind] | None = None,
    headers: Mapping[str, str] | None = None,
    max_rows: int | None = None,
    classes: str = "",
) -> str:
    """A DataFrame as an HTML table with the module's formatting policy.

    Parameters
    ----------
    frame
        The table; its index is not shown.
    kinds
        :func:`fmt` kinds by column (default: :func:`column_kind`).
    headers
        Header text by column (default: the column name; ``experiment`` is ``exp``).
    max_rows
        Rows shown; the others are counted below the table ("+N more rows").
    classes
        Extra CSS classes of the ``<table>``.
    """
    names = [str(c) for c in frame.columns]
    chosen = {
        n: (kinds or {}).get(n) or column_kind(n, frame[c])
        for n, c in zip(names, frame, strict=True)
    }
    numeric = {
        n
        for n, c in zip(names, frame, strict=True)
        if pd.api.types.is_numeric_dtype(frame[c].dtype)
        and not pd.api.types.is_bool_dtype(frame[c])
    }
    # a column name may wrap after its underscores (n_offline_<wbr>full): the header of a
    # narrow numeric column does not widen the table past 1,400 px
    named = {**_HEADERS, **(headers or {})}
    titles = {n: html.escape(named.get(n, n)).replace("_", "_<wbr>") for n in names}
    # long text (paths, file names, error messages) wraps inside a bounded column
    long = {
        n
        for n, c in zip(names, frame, strict=True)
        if n not in numeric and any(isinstance(v, str) and len(v) > _LONG for v in frame[c])
    }
    head = "".join(f"<th{' class=la-num' if n in numeric else ''}>{titles[n]}</th>" for n in names)
    shown = frame if max_rows is None else frame.head(max_rows)
    body = []
    for row in shown.itertuples(index=False, name=None):
        cells = "".join(
            f"<td{' class=la-num' if n in numeric else ' class=la-long' if n in long else ''}>"
            f"{_cell(v, chosen[n])}</td>"
            for n, v in zip(names, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    more = ""
    if max_rows is not None and len(frame) > max_rows:
        more = f'<p class="la-more">+{fmt(len(frame) - max_rows)} more rows</p>'
    cls = f"la-table {classes}".strip()
    return (
        f'<table class="{cls}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{more}"
    )


def details(title: str, body: str, *, open: bool = False) -> str:
    """A collapsible section (``<details>``); printed open (see :data:`STYLE`)."""
    flag = " open" if open else ""
    return (
        f'<details class="la-details"{flag}><summary>{html.escape(title)}</summary>'
        f'<div class="la-body">{body}</div></details>'
    )


#: the page's own style: no network, readable at 1,400 px, printable (details printed open)
STYLE = """<style>
.la-report{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
  color:#1b1b1b;max-width:1360px;margin:0 auto}
.la-report h1{font-size:1.45em;margin:.2em 0 .3em}
.la-report.la-report h1.la-title{margin:0 0 .3em}
.la-report.la-report .la-verdict.la-page{margin-top:0}
.la-report h2{font-size:1.15em;margin:1em 0 .4em}
.la-meta{color:#555;font-size:.9em;margin:0 0 .6em}
.la-verdict{font-size:1.2em;font-weight:600;padding:.55em .8em;border-radius:6px;margin:.4em 0 .8em}
.la-verdict.ok{background:#e6f4ea;border-left:8px solid #1e8e3e}
.la-verdict.warn{background:#fff4e5;border-left:8px solid #e37400}
.la-verdict.fail{background:#fce8e6;border-left:8px solid #c5221f}
.la-report table.la-table{border-collapse:collapse;margin:.3em 0 .8em;font-size:.92em;
  width:auto;table-layout:auto}
.la-report table.la-table th,.la-report table.la-table td{border:1px solid #d0d0d0;
  padding:3px 8px;text-align:left;vertical-align:top;max-width:none}
.la-report table.la-table th{background:#f1f3f4;font-weight:600}
.la-report table.la-table td.la-num,.la-report table.la-table th.la-num{text-align:right;
  font-variant-numeric:tabular-nums;white-space:nowrap}
.la-report table.la-table tbody tr:nth-child(even) td{background:#fafafa}
.la-report table.la-table td.la-long{min-width:12em;max-width:20em;overflow-wrap:anywhere;
  font-size:.92em}
.la-report table.la-flagged{width:100%}
.la-report table.la-flagged td:nth-child(5){min-width:220px;max-width:340px}
.la-report table.la-flagged td:last-child{font-family:ui-monospace,monospace;font-size:.82em;
  overflow-wrap:anywhere;max-width:520px}
.la-sev{font-weight:700;padding:0 .45em;border-radius:3px;color:#fff}
.la-sev.fail{background:#c5221f}.la-sev.warn{background:#e37400}
.la-na{color:#888}
.la-more{color:#555;font-size:.9em}
.la-details{margin:.5em 0;border:1px solid #d0d0d0;border-radius:6px;padding:.2em .7em}
.la-details>summary{cursor:pointer;font-weight:600;font-size:1.05em;padding:.25em 0}
.la-body{overflow-x:auto}
.la-body img{max-width:100%;height:auto}
.la-body pre{white-space:pre-wrap;font-size:.85em;
  font-family:ui-monospace,"DejaVu Sans Mono",monospace}
@media print{
  .la-report{max-width:none;font-size:11pt}
  .la-details{border:none;padding:0;break-inside:auto}
  .la-details>summary{list-style:none;font-size:1.1em}
  details.la-details::details-content{content-visibility:visible;display:block}
  details.la-details>.la-body{display:block}
  .la-body{overflow:visible}
  .la-table{font-size:8.5pt}
  .la-verdict{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  .la-sev{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  img{break-inside:avoid}
}
</style>"""


def _breakable(text: str) -> str:
    """Escaped text whose paths may wrap after each ``/`` (long paths fit a column)."""
    return html.escape(text).replace("/", "/<wbr>")


def _severity(value: str) -> str:
    level = "fail" if value == "fail" else "warn"
    return f'<span class="la-sev {level}">{level.upper()}</span>'


def _flagged_html(flagged: pd.DataFrame, *, max_rows: int) -> str:
    if len(flagged) == 0:
        return "<p>No run is flagged.</p>"
    rows = []
    for _, r in flagged.head(max_rows).iterrows():
        offline = _cell(r["offline"], "count")
        if r["offline_count"] and not is_missing(r["offline"]):
            offline += f' <span class="la-na">{html.escape(str(r["offline_count"]))}</span>'
        waived = ' <span class="la-na">(waived)</span>' if r["waived"] else ""
        cells = [
            _severity(str(r["severity"])) + waived,
            _cell(r["experiment"], "run"),
            _cell(r["run"], "run"),
            _cell(r["status"], "count"),
            _cell(r["why"], "count"),
            _cell(r["online"], "count"),
            offline,
            _cell(r["diff"], "signed"),
            _cell(r["lumi_affected_nb"], "lumi"),
            "<br>".join(_breakable(str(t)) for t in r["look_at"]) or DASH,
        ]
        num = {5, 6, 7, 8}
        rows.append(
            "<tr>"
            + "".join(
                f"<td{' class=la-num' if i in num else ''}>{c}</td>" for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    head = (
        "<tr><th>severity</th><th>exp</th><th>run</th><th>status</th><th>why</th>"
        "<th class=la-num>online</th><th class=la-num>offline</th>"
        "<th class=la-num>online &minus; offline</th><th class=la-num>lumi affected</th>"
        "<th>look at</th></tr>"
    )
    more = ""
    if len(flagged) > max_rows:
        more = f'<p class="la-more">+{fmt(len(flagged) - max_rows)} more flagged runs</p>'
    return (
        f'<table class="la-table la-flagged"><thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


def changes_html(changes: Any) -> str:
    """What changed since the previous audit (a :class:`lumiaudit.store.history.AuditDiff`)."""
    from lumiaudit.render.firstscreen import reason_words

    parts = []
    for title, name in (
        ("newly flagged", "newly_flagged"),
        ("resolved", "resolved"),
        ("changed", "changed"),
        ("new runs", "added"),
        ("runs gone", "removed"),
    ):
        frame = getattr(changes, name, None)
        if not isinstance(frame, pd.DataFrame) or len(frame) == 0:
            continue
        cols = [
            c
            for c in (
                "experiment",
                "run",
                "status_old",
                "status_new",
                "reasons_old",
                "reasons_new",
                "n_online_old",
                "n_online_new",
                "diff_old",
                "diff_new",
            )
            if c in frame.columns
        ]
        shown = frame[cols]
        for col in ("reasons_old", "reasons_new"):  # in words, as on the rest of the page
            if col in shown.columns:
                words = [None if is_missing(v) else reason_words(v) for v in shown[col]]
                shown = shown.assign(**{col: pd.array(words, dtype="string")})
        parts.append(f"<p><b>{html.escape(title)}</b> ({fmt(len(frame))})</p>")
        parts.append(frame_html(shown, max_rows=20))
    return "".join(parts) or "<p>Nothing changed.</p>"


def _title(summary: Mapping[str, Any]) -> str:
    label = summary.get("experiment_label") or ""
    run_range = summary.get("run_range")
    title = "lumiaudit: online vs offline event counts"
    if label:
        title += f", {label}"
    if run_range:
        title += f", runs {fmt(run_range[0], 'run')}-{fmt(run_range[-1], 'run')}"
    return title


def _inputs_line(summary: Mapping[str, Any]) -> str:
    from lumiaudit.render.firstscreen import input_paths

    parts = []
    for side in ("online", "offline"):
        paths = [str(path) for path in input_paths(summary, side)]
        if paths:
            parts.append(f"{side}: {', '.join(paths)}")
    return "; ".join(html.escape(p) for p in parts)


def _meta_line(summary: Mapping[str, Any]) -> str:
    follows = summary.get("follows")
    compared = {
        "full": "the error-free (m_errorFlag == 0) offline count",
        "entries": "tree entries",
    }
    bits = [
        f"audited {summary.get('created')}" if summary.get("created") else "",
        f"lumiaudit {summary.get('lumiaudit_version', __version__)}",
        f"the online count follows {compared.get(str(follows), str(follows))}" if follows else "",
    ]
    return "; ".join(html.escape(b) for b in bits if b)


def report_head(
    audit: Any, *, changes: Any = None, previous: str | None = None, max_rows: int = 50
) -> str:
    """The report's first screen: title, verdict, flagged runs, input problems, changes.

    Parameters
    ----------
    audit
        An :class:`~lumiaudit.pipeline.Audit`.
    changes
        What changed since the previous audit (:func:`lumiaudit.store.history.diff_audits`),
        or ``None`` (no previous audit, said so when ``previous`` names one that is damaged).
    previous
        The previous audit's name, shown with the changes.
    max_rows
        Flagged runs shown.
    """
    from lumiaudit.render.firstscreen import flagged_runs, input_problems, input_roots, verdict

    summary = audit.summary or {}
    tables = audit.tables() if hasattr(audit, "tables") else {"runs": audit.runs}
    said = verdict(summary, audit.runs, audit.funnel)
    parts = [
        STYLE,
        '<div class="la-report">',
        f'<h1 class="la-title">{html.escape(_title(summary))}</h1>',
        f'<p class="la-meta">{_meta_line(summary)}<br>{_inputs_line(summary)}</p>',
        f'<p class="la-verdict {said.level}">{html.escape(said.text)}</p>',
    ]
    flagged = flagged_runs(tables, summary)
    if len(flagged):
        parts.append(f"<h2>Runs that need a person ({fmt(len(flagged))})</h2>")
        parts.append(_flagged_html(flagged, max_rows=max_rows))
    problems = input_problems(getattr(audit, "problems", None), input_roots(summary))
    if len(problems):
        files = problems["file"].nunique()
        parts.append(
            f"<h2>Input problems ({fmt(len(problems))} in {fmt(files)} "
            f"file{'s' if files != 1 else ''}): values left empty, lines skipped</h2>"
        )
        parts.append(frame_html(problems, max_rows=20))
    if changes is not None:
        since = f" since {html.escape(previous)}" if previous else " since the previous audit"
        parts.append(f"<h2>What changed{since}</h2>")
        parts.append(changes_html(changes))
    elif previous:
        parts.append(f"<h2>What changed</h2><p>{html.escape(previous)}</p>")
    stats = summary.get("stats") or {}
    notes_of = [
        ("flag rule", stats.get("flag_rule")),
        ("luminosity", (stats.get("lumi") or {}).get("text")),
    ]
    notes_of += [("source", (v or {}).get("text")) for v in (stats.get("sources") or {}).values()]
    notes = [f"{name}: {html.escape(str(text))}" for name, text in notes_of if text]
    if notes:
        parts.append(f'<p class="la-meta">{"<br>".join(notes)}</p>')
    parts.append("</div>")
    return "\n".join(parts)


def page_head(said: Any, summary: Mapping[str, Any] | None = None) -> str:
    """The first line of a page opened from a ticket (one run, the file health): its verdict
    (:func:`lumiaudit.render.firstscreen.run_verdict`, ``files_verdict``), on the colour of
    its level as on the report's first screen, then the audit it comes from."""
    meta = _meta_line(summary or {})
    inputs = _inputs_line(summary or {})
    below = "<br>".join(b for b in (meta, inputs) if b)
    return "\n".join(
        [
            STYLE,
            '<div class="la-report">',
            f'<p class="la-verdict la-page {said.level}">{html.escape(said.text)}</p>',
            f'<p class="la-meta">{below}</p>' if below else "",
            "</div>",
        ]
    )


def _section(title: str, body: str, *, open: bool = False) -> str:
    return f'<div class="la-report">{details(title, body, open=open)}</div>'


def funnel_html(funnel: pd.DataFrame) -> str:
    """The funnel table: non-empty buckets, the empty ones named below."""
    if "events" not in funnel.columns:
        return ""
    events = pd.to_numeric(funnel["events"], errors="coerce")
    shown = funnel[(events != 0).fillna(True).astype(bool)].reset_index(drop=True)
    out = frame_html(shown)
    if "bucket" in funnel.columns and len(shown) < len(funnel):
        empty = funnel.loc[(events == 0).fillna(False).astype(bool), "bucket"]
        out += f'<p class="la-meta">no events: {html.escape(", ".join(map(str, empty)))}</p>'
    return out


def audit_html(audit: _AuditLike, *, max_rows: int = 50) -> str:
    """The rich HTML view of an audit (its ``_repr_html_`` in JupyterLab).

    The report's first screen (:func:`report_head`), then the funnel and the online source
    defects, collapsed.

    Parameters
    ----------
    audit
        An :class:`~lumiaudit.pipeline.Audit` (anything with ``summary``, ``runs``, ``funnel``).
    max_rows
        Flagged runs shown; the rest are counted as "+N more".

    Returns
    -------
    str
        An HTML fragment.
    """
    parts = [report_head(audit, max_rows=max_rows)]
    funnel = audit.funnel
    if isinstance(funnel, pd.DataFrame) and len(funnel):
        parts.append(_section("Accounting funnel", funnel_html(funnel)))
    defects = getattr(audit, "source_defects", None)
    if isinstance(defects, pd.DataFrame) and len(defects):
        cols = [c for c in ("run", "source", "value", "expected", "kind", "detail") if c in defects]
        parts.append(
            _section(
                f"Online source defects ({fmt(len(defects))})",
                frame_html(defects[cols], max_rows=max_rows),
            )
        )
    return "\n".join(parts)


def section(title: str, body: str, *, open: bool = False) -> str:
    """A collapsible section of the report page (what the notebooks display)."""
    return _section(title, body, open=open)


def text_html(text: str) -> str:
    """Preformatted, escaped text (``lumiaudit explain`` output)."""
    return f"<pre>{html.escape(text)}</pre>"


def tables_html(tables: Mapping[str, pd.DataFrame], *, max_rows: int = 200) -> str:
    """Several titled tables (empty ones said in one line)."""
    parts = []
    empty = []
    for title, frame in tables.items():
        if len(frame) == 0:
            empty.append(title)
            continue
        parts.append(f"<h2>{html.escape(title)} ({fmt(len(frame))})</h2>")
        parts.append(frame_html(frame, max_rows=max_rows))
    if empty:
        parts.append(f'<p class="la-meta">none: {html.escape(", ".join(empty))}</p>')
    return "".join(parts)
