"""An audit as a small HTML page (the Audit object's repr in JupyterLab, the report view)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from lumiaudit._version import __version__
from lumiaudit.report._common import _AuditLike


def _cell(value: Any) -> str:
    if value is None:
        return '<span class="la-na">n/a</span>'
    try:
        import pandas as pd

        if pd.isna(value):
            return '<span class="la-na">n/a</span>'
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        return html.escape(f"{value:.4g}")
    if isinstance(value, int) and not isinstance(value, bool):
        return html.escape(f"{value:,}")
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="la-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def audit_html(audit: _AuditLike, *, max_rows: int = 50) -> str:
    """The rich HTML view of an audit: summary, funnel and flagged runs with reasons.

    Every value (elog text, run types, file names, reasons) is escaped with
    :func:`html.escape`: the page shows ``<script>`` as text and never runs it.

    Parameters
    ----------
    audit
        An :class:`~lumiaudit.pipeline.Audit` (anything with ``summary``, ``runs``, ``funnel``).
    max_rows
        Flagged runs shown; the rest are counted as "+N more".

    Returns
    -------
    str
        An HTML fragment (what JupyterLab shows for ``audit``).
    """
    import pandas as pd

    summary = audit.summary or {}
    totals = summary.get("totals", {}) or {}
    parts = ['<div class="lumiaudit-audit">']
    label = summary.get("experiment_label") or ""
    run_range = summary.get("run_range")
    title = "lumiaudit audit"
    if label:
        title += f" - {label}"
    if run_range:
        title += f", runs {run_range[0]}-{run_range[-1]}"
    parts.append(f"<h3>{html.escape(title)}</h3>")
    meta = [
        ("lumiaudit", summary.get("lumiaudit_version", __version__)),
        ("created", summary.get("created")),
        ("offline follows", summary.get("follows")),
    ]
    parts.append("<p>" + "; ".join(f"{html.escape(k)} {_cell(v)}" for k, v in meta if v) + "</p>")
    stats = summary.get("stats") or {}
    said = [
        ("flag rule", stats.get("flag_rule")),
        ("luminosity", (stats.get("lumi") or {}).get("text")),
    ]
    said += [("source", (v or {}).get("text")) for v in (stats.get("sources") or {}).values()]
    for name, text in said:
        if text:
            parts.append(f"<p>{html.escape(name)}: {html.escape(str(text))}</p>")
    if totals:  # one row each: the page stays short enough to see the plots below it
        parts.append("<h4>Summary</h4>")
        parts.append(_table(list(totals), [list(totals.values())]))
    status = summary.get("status_counts") or {}
    if status:
        parts.append(
            _table([str(k) for k in sorted(status)], [[status[k] for k in sorted(status)]])
        )
    funnel = audit.funnel
    if isinstance(funnel, pd.DataFrame) and len(funnel) and "events" in funnel.columns:
        parts.append("<h4>Accounting funnel</h4>")
        cols = [c for c in ("bucket", "events", "runs", "lumi_nb") if c in funnel.columns]
        events = pd.to_numeric(funnel["events"], errors="coerce")
        shown = funnel[(events != 0).fillna(True).astype(bool)]
        parts.append(_table(cols, shown[cols].astype(object).to_numpy().tolist()))
        if "bucket" in funnel.columns and len(shown) < len(funnel):
            empty = funnel.loc[(events == 0).fillna(False).astype(bool), "bucket"]
            parts.append(f"<p>no events: {html.escape(', '.join(map(str, empty)))}</p>")
    runs = audit.runs
    if isinstance(runs, pd.DataFrame) and "flagged" in runs.columns:
        from lumiaudit.schema import flagged as flagged_rows

        flagged = flagged_rows(runs)
        parts.append(f"<h4>Flagged runs ({len(flagged)} of {len(runs)})</h4>")
        if len(flagged):
            wanted = (
                "experiment",
                "run",
                "run_type",
                "status",
                "n_online",
                "n_offline",
                "diff",
                "ratio",
                "q_value",
                "reasons",
                "reason_events",
                "waived",
            )
            cols = [c for c in wanted if c in flagged.columns]
            shown = flagged[cols].head(max_rows).astype(object)
            parts.append(_table(cols, shown.to_numpy().tolist()))
            if len(flagged) > max_rows:
                parts.append(f"<p>+{len(flagged) - max_rows} more</p>")
        else:
            parts.append("<p>No run is flagged.</p>")
    defects = getattr(audit, "source_defects", None)
    if isinstance(defects, pd.DataFrame) and len(defects):
        parts.append(f"<h4>Online source defects ({len(defects)})</h4>")
        cols = [c for c in ("run", "source", "value", "expected", "kind", "detail") if c in defects]
        parts.append(_table(cols, defects[cols].head(max_rows).astype(object).to_numpy().tolist()))
    parts.append("</div>")
    return "\n".join(parts)
