"""The accounting funnel as a waterfall."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import (
    FuncFormatter,
    MaxNLocator,
)

from lumiaudit.render.plots._style import _FLAG_COLOR, _col, _floats, _new_axes, label_axes

_GOOD_BUCKETS = ("ok", "matched", "counted", "offline", "good", "explained_ok")


def plot_funnel(
    funnel: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Axes:
    """Draw the accounting funnel as a horizontal waterfall.

    Every online event lands in exactly one bucket (DC3-style loss funnel). The top bar is the
    total (the bucket named ``online``/``total`` if present, else the sum of the buckets); each
    loss bucket then steps down from the running level, and buckets whose name says the events
    were found offline (``ok``, ``matched``, ``counted``, ...) are drawn from zero in green.
    Buckets with a missing event count are listed as ``n/a`` and not drawn; buckets with no
    events and no runs are named in a ``no events:`` note instead of taking a row.

    Parameters
    ----------
    funnel
        Columns ``bucket``, ``events`` and (optional) ``runs``, in display order.
    ax, meta
        As in :func:`plot_diff_vs_run`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_axes(ax)
    names = funnel["bucket"].astype("string").fillna("?").tolist() if len(funnel) else []
    events = _floats(_col(funnel, "events"), funnel.index)
    nruns = _floats(_col(funnel, "runs"), funnel.index)
    total_idx = next((i for i, n in enumerate(names) if n.lower() in ("online", "total")), None)
    total = float(events[total_idx]) if total_idx is not None else float(np.nansum(events))
    labels = ["online total" if total_idx is None else names[total_idx]]
    lefts, widths, colors = [0.0], [total], ["0.45"]
    texts = [f"{total:,.0f}"]
    level = total
    empty: list[str] = []
    for i, name in enumerate(names):
        if i == total_idx:
            continue
        value = events[i]
        if value == 0 and (np.isnan(nruns[i]) or nruns[i] == 0):
            empty.append(name)
            continue
        runs_note = (
            "" if np.isnan(nruns[i]) else f"  ({nruns[i]:.0f} run{'' if nruns[i] == 1 else 's'})"
        )
        labels.append(name)
        if np.isnan(value):
            lefts.append(0.0)
            widths.append(0.0)
            colors.append("none")
            texts.append("n/a")
            continue
        if name.lower() in _GOOD_BUCKETS:
            lefts.append(0.0)
            widths.append(value)
            colors.append("#73d216")
        else:
            lefts.append(level - value)
            widths.append(value)
            colors.append(_FLAG_COLOR if value > 0 else "#f57900")
            level -= value
        texts.append(f"{value:,.0f}{runs_note}")
    y = np.arange(len(labels))
    bars = ax.barh(y, widths, left=lefts, color=colors, height=0.6, gid="funnel")
    for bar, text in zip(bars, texts, strict=True):
        ax.annotate(
            text,
            xy=(bar.get_x() + max(bar.get_width(), 0), bar.get_y() + 0.3),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    ax.set_yticks(y, labels, fontsize=9)
    ax.invert_yaxis()
    span = max(total, float(np.nansum(np.abs(events))) if events.size else 0.0)
    # an empty audit has no events at all: keep a unit axis (identical limits would warn)
    ax.set_xlim(0, span * 1.3 if span > 0 else 1.0)
    ax.set_xlabel("events")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # event counts: no "0 0 1 1" ticks
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if empty:
        ax.text(
            1.0,
            -0.13,
            # wrapped: one line naming every bucket of an empty audit is wider than the figure
            # and makes constrained layout give up (with a warning)
            textwrap.fill("no events: " + ", ".join(empty), width=90),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="0.3",
            gid="empty_buckets",
        )
    label_axes(ax, meta)
    return ax
