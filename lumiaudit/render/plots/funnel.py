"""The accounting funnel of the audited runs: where every online event went."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from lumiaudit.errors import ParameterError
from lumiaudit.numbers import fmt
from lumiaudit.reconcile._common import LOST_BUCKETS
from lumiaudit.render.plots._artists import FunnelArtists
from lumiaudit.render.plots._style import (
    _FLAG_COLOR,
    _GREY,
    _MISSING_COLOR,
    _col,
    _compact_count,
    _floats,
    _new_axes,
    _status,
    label_axes,
)
from lumiaudit.schema import RunStatus

#: Buckets of events that were found offline.
_GOOD_BUCKETS = ("ok", "matched", "counted", "offline", "good", "explained_ok")
#: Buckets of events that are lost offline (red); the others are explained differences that
#: lose nothing (a wrong elog number, events with the error flag, ...: orange): the buckets
#: whose luminosity the reconciliation counts as affected.
_LOSS_BUCKETS = frozenset(LOST_BUCKETS)
_NON_PHYSICS = "non_physics"
_TOTAL_NAMES = ("online", "total")


def _unit_text(value: float, unit: str) -> str:
    if unit == "lumi":
        return fmt(value, "lumi").replace("^-1", "\N{SUPERSCRIPT MINUS}\N{SUPERSCRIPT ONE}")
    return fmt(value, "count")


def _runs_text(n: float) -> str:
    if np.isnan(n):
        return ""
    return f"{fmt(n, 'count')} run{'' if n == 1 else 's'}"


def plot_funnel(
    funnel: pd.DataFrame,
    *,
    runs: pd.DataFrame | None = None,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    unit: Literal["events", "lumi"] = "events",
) -> FunnelArtists:
    """Draw the accounting funnel of the audited runs, on a log axis.

    Every online event lands in exactly one bucket (DC3-style loss funnel). The top bar is the
    online total of the **audited** runs; below it one bar per non-empty bucket (red: events
    lost offline; orange: a difference explained without a loss), then the green ``matched``
    bar (found offline). The axis is logarithmic, so a 0.1 % loss is a bar of a decade (about
    a seventh of the width) instead of a 1-pixel sliver, and every bar says its share of the
    audited total.
    Shown apart, below a rule, are what the audit did not compare: the events of non-physics
    runs (cosmics, ...) and, with ``runs``, the offline events of runs without an online count
    (``MISSING_ONLINE``), which no online total contains. Buckets with no events are named in
    a ``no events:`` note; a bucket with a missing count is shown as ``n/a``, never as 0.

    Parameters
    ----------
    funnel
        Columns ``bucket``, ``events``, optional ``runs`` and ``lumi_nb``, in display order.
    runs
        Runs table, for the offline events of ``MISSING_ONLINE`` runs (optional).
    ax, meta
        As in :func:`plot_diff_vs_run`.
    unit
        ``events``, or ``lumi`` for the funnel in recorded luminosity (the ``lumi_nb``
        column: lost events / online events x the run's luminosity, issue 13).

    Returns
    -------
    FunnelArtists
        The bars, the bars shown apart, row names, value texts, unit and notes.

    Raises
    ------
    ParameterError
        For another ``unit``, or ``unit="lumi"`` without a ``lumi_nb`` column.
    """
    if unit not in ("events", "lumi"):
        msg = f"plot_funnel: unit must be 'events' or 'lumi', not {unit!r}"
        raise ParameterError(msg)
    column = "events" if unit == "events" else "lumi_nb"
    if column not in funnel.columns:
        msg = "plot_funnel: unit='lumi' needs the funnel's lumi_nb column (no luminosity known)"
        raise ParameterError(msg)
    ax = _new_axes(ax)
    names = funnel["bucket"].astype("string").fillna("?").tolist() if len(funnel) else []
    values = _floats(_col(funnel, column), funnel.index)
    nruns = _floats(_col(funnel, "runs"), funnel.index)
    total_idx = next((i for i, n in enumerate(names) if n.lower() in _TOTAL_NAMES), None)
    grand = float(values[total_idx]) if total_idx is not None else float(np.nansum(values))
    np_idx = next((i for i, n in enumerate(names) if n == _NON_PHYSICS), None)
    non_physics = float(values[np_idx]) if np_idx is not None else 0.0
    audited = grand - (0.0 if np.isnan(non_physics) else non_physics)

    rows = ["audited online"]
    widths = [audited]
    colors = [_GREY]
    texts = [f"{_unit_text(audited, unit)}"]
    empty: list[str] = [] if np_idx is None or non_physics != 0 else [_NON_PHYSICS]
    for i, name in enumerate(names):
        if i in (total_idx, np_idx):
            continue
        value = values[i]
        if value == 0 and (np.isnan(nruns[i]) or nruns[i] == 0):
            empty.append(name)
            continue
        rows.append(name)
        if np.isnan(value):
            widths.append(np.nan)
            colors.append("none")
            texts.append("n/a")
            continue
        share = fmt(value / audited, "percent") if audited > 0 else ""
        widths.append(value)
        if name.lower() in _GOOD_BUCKETS:
            colors.append("#73d216")
        else:
            colors.append(_FLAG_COLOR if name in _LOSS_BUCKETS else "#f57900")
        texts.append(
            " · ".join(p for p in (_unit_text(value, unit), share, _runs_text(nruns[i])) if p)
        )
    apart_rows: list[tuple[str, float, str, str]] = []
    if np_idx is not None and (non_physics > 0 or np.isnan(non_physics)):
        apart_rows.append(
            (
                "non-physics (not audited)",
                non_physics,
                "0.75",
                " · ".join(
                    p for p in (_unit_text(non_physics, unit), _runs_text(nruns[np_idx])) if p
                ),
            )
        )
    if runs is not None and "status" in runs.columns and unit == "events":
        sel = _status(runs) == RunStatus.MISSING_ONLINE.value
        if sel.any():
            off = _floats(_col(runs, "n_offline"), runs.index)[sel]
            known = off[np.isfinite(off)]
            value = float(known.sum()) if known.size else np.nan
            apart_rows.append(
                (
                    "no online count (offline)",
                    value,
                    _MISSING_COLOR,
                    " · ".join(
                        p
                        for p in (
                            _unit_text(value, unit) + " offline",
                            _runs_text(float(sel.sum())),
                        )
                        if p
                    ),
                )
            )
    drawn = np.array([w for w in widths if np.isfinite(w) and w > 0], dtype=float)
    drawn_apart = np.array([r[1] for r in apart_rows if np.isfinite(r[1]) and r[1] > 0])
    every = np.concatenate([drawn, drawn_apart])
    low = 10 ** np.floor(np.log10(every.min())) / 2 if every.size else 0.5
    # room for the value texts right of the longest bar (about two decades)
    high = float(every.max()) * 300 if every.size else 10.0
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    y = np.arange(len(rows), dtype=float)
    bar_widths = [w - low if np.isfinite(w) and w > low else 0.0 for w in widths]
    bars = ax.barh(y, bar_widths, left=low, color=colors, height=0.62, gid="funnel")
    value_texts: list[Text] = []
    for yy, w, text in zip(y, widths, texts, strict=True):
        value_texts.append(
            ax.annotate(
                text,
                xy=(w if np.isfinite(w) and w > low else low, yy),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8.5,
                gid="funnel_value",
            )
        )
    apart = None
    notes: list[Text] = []
    labels = list(rows)
    if apart_rows:
        ya = np.arange(len(rows) + 0.6, len(rows) + 0.6 + len(apart_rows), dtype=float)
        widths_a = [r[1] - low if np.isfinite(r[1]) and r[1] > low else 0.0 for r in apart_rows]
        apart = ax.barh(
            ya,
            widths_a,
            left=low,
            color=[r[2] for r in apart_rows],
            height=0.62,
            hatch="//",
            edgecolor="white",
            gid="funnel_apart",
        )
        ax.axhline(len(rows) - 0.2, color="0.3", lw=0.8, ls=":", gid="funnel_rule")
        for yy, (_, value, _, text) in zip(ya, apart_rows, strict=True):
            value_texts.append(
                ax.annotate(
                    text,
                    xy=(value if np.isfinite(value) and value > low else low, yy),
                    xytext=(4, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=8.5,
                    gid="funnel_value",
                )
            )
        labels += [r[0] for r in apart_rows]
        ax.set_yticks([*y, *ya], labels, fontsize=9)
    else:
        ax.set_yticks(y, labels, fontsize=9)
    ax.invert_yaxis()
    top = 10 ** np.ceil(np.log10(every.max())) if every.size else 10.0
    ax.xaxis.set_major_locator(FixedLocator([10.0**k for k in range(0, 20) if 10.0**k <= top]))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if unit == "lumi":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _unit_text(v, "lumi")))
        ax.set_xlabel("recorded luminosity (log scale)")
    else:
        ax.xaxis.set_major_formatter(FuncFormatter(_compact_count))
        ax.set_xlabel("events (log scale)")
    if empty:
        notes.append(
            ax.text(
                1.0,
                -0.16,
                # wrapped: one line naming every bucket of an empty audit is wider than the
                # figure and makes constrained layout give up (with a warning)
                textwrap.fill(
                    ("no events: " if unit == "events" else "no recorded luminosity: ")
                    + ", ".join(empty),
                    width=90,
                ),
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
                color="0.3",
                gid="empty_buckets",
            )
        )
    label_axes(ax, meta, runs=runs)
    return FunnelArtists(ax, bars, apart, labels, value_texts, unit, notes)
