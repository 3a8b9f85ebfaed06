"""Online against offline, log-log, with the identity line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    NullFormatter,
)
from matplotlib.transforms import blended_transform_factory

from lumiaudit.render.plots._artists import ScatterArtists
from lumiaudit.render.plots._layout import (
    _annotate,
    _axes_fraction,
    _must_label,
    _Point,
    _point,
    _priority,
    _strip_background,
    compress_runs,
)
from lumiaudit.render.plots._style import (
    _FLAG_COLOR,
    _GREY,
    _MISSING_COLOR,
    _OK_COLOR,
    _col,
    _compact_count,
    _flags,
    _floats,
    _fractions,
    _new_axes,
    _run_label,
    _status,
    label_axes,
)
from lumiaudit.render.plots._xy import _legend_box
from lumiaudit.schema import RunStatus

# --------------------------------------------------------------------------------------------
# scatter, funnel, drilldown


def _offline_count(runs: pd.DataFrame) -> tuple[str, str]:
    """The column of the offline count the online one follows, and its name in words:
    ``n_offline_def`` (error-free events or tree entries, per run's ``follows``) when the runs
    table has it, else the tree entries ``n_offline``."""
    if "n_offline_def" not in runs.columns or runs["n_offline_def"].isna().all():
        return "n_offline", "entries"
    follows = set(runs["follows"].dropna().astype(str)) if "follows" in runs.columns else set()
    words = {"full": "error-free", "entries": "entries"}
    if len(follows) == 1 and next(iter(follows)) in words:
        return "n_offline_def", words[next(iter(follows))]
    return "n_offline_def", "the count the online one follows"


def plot_online_vs_offline(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
) -> ScatterArtists:
    """Scatter ``n_online`` against the offline count it follows (``n_offline_def``, else
    ``n_offline``) on log-log axes with the identity line.

    Runs without an offline count (or with 0) sit on the grey strip at the left edge at their
    online count; runs without an online count on the strip at the bottom.

    Parameters
    ----------
    runs
        Runs table (``n_online``, ``n_offline``, ``status``, ``flagged``, ``reasons``).
    ax, meta, max_labels
        As in :func:`plot_diff_vs_run`.

    Returns
    -------
    ScatterArtists
        The points, flagged points, identity line, strip markers, labels, legend and notes.
    """
    ax = _new_axes(ax, (6.5, 5.5))
    on = _floats(_col(runs, "n_online"), runs.index)
    # the offline count the online one follows (what diff and ratio compare), named on the axis
    offline_name, offline_words = _offline_count(runs)
    off = _floats(_col(runs, offline_name), runs.index)
    # a run without the followed count (no online number to follow) keeps its tree entries
    off = np.where(np.isnan(off), _floats(_col(runs, "n_offline"), runs.index), off)
    flagged = _flags(runs)
    audited = _status(runs) != RunStatus.NOT_AUDITED.value
    both = (on > 0) & (off > 0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    sel_ok = both & ~flagged & audited
    sel_flag = both & flagged & audited
    points_ok = ax.scatter(
        off[sel_ok],
        on[sel_ok],
        s=16,
        color=_OK_COLOR,
        gid="runs_ok",
        label=f"runs ({int(sel_ok.sum())})",
        zorder=2,
    )
    points_flag = ax.scatter(
        off[sel_flag],
        on[sel_flag],
        s=34,
        marker="D",
        color=_FLAG_COLOR,
        gid="runs_flagged",
        label=f"flagged ({int(flagged.sum())})",
        zorder=3,
    )
    strip_markers: dict[str, Any] = {}
    notes: list[Any] = []
    if np.any(both & ~audited):
        strip_markers["not_audited"] = ax.scatter(
            off[both & ~audited],
            on[both & ~audited],
            s=16,
            marker="s",
            color=_GREY,
            gid="not_audited",
            label=f"not audited ({int((both & ~audited).sum())})",
            zorder=2,
        )
    known = np.concatenate([on[(on > 0) & audited], off[(off > 0) & audited]])
    lo, hi = (float(known.min()), float(known.max())) if known.size else (1.0, 10.0)
    lo_lim, hi_lim = lo / 10**0.45, hi * 10**0.3
    (identity,) = ax.plot(
        [lo_lim, hi_lim],
        [lo_lim, hi_lim],
        color="0.2",
        ls="--",
        lw=1.0,
        gid="identity",
        label="online = offline",
    )
    ax.set_xlim(lo_lim, hi_lim)
    ax.set_ylim(lo_lim, hi_lim)
    points = [
        _point(ax, runs, int(i), float(off[i]), float(on[i])) for i in np.flatnonzero(sel_flag)
    ]
    data = _fractions(ax, off[both], on[both])
    avoid: list[tuple[float, float, float, float]] = []
    no_off = (on > 0) & ~(off > 0) & audited
    no_on = (off > 0) & ~(on > 0) & audited
    strips = [
        ("no_offline", no_off, on, True, "no offline"),
        ("no_online", no_on, off, False, "no online"),
    ]
    for gid, sel, pos, vertical, text in strips:
        if not np.any(sel):
            continue
        _strip_background(ax, vertical=vertical, size=0.06)
        avoid.append((0.0, 0.0, 0.06, 1.0) if vertical else (0.0, 0.0, 1.0, 0.06))
        if vertical:
            trans = blended_transform_factory(ax.transAxes, ax.transData)
            xy = (np.full(int(sel.sum()), 0.042), pos[sel])
        else:
            trans = blended_transform_factory(ax.transData, ax.transAxes)
            xy = (pos[sel], np.full(int(sel.sum()), 0.042))
        colors = np.where(flagged[sel], _FLAG_COLOR, _MISSING_COLOR)
        strip_markers[gid] = ax.scatter(
            xy[0],
            xy[1],
            marker="<" if vertical else "v",
            s=28,
            c=list(colors),
            transform=trans,
            gid=gid,
            zorder=3,
            label=f"{text} ({int(sel.sum())})",
        )
        marked = np.flatnonzero(sel & flagged)
        if len(marked) > 3:
            numbers = [int(runs["run"].iloc[int(j)]) for j in marked]
            notes.append(
                ax.text(
                    0.016 if vertical else 0.99,
                    0.5 if vertical else 0.016,
                    f"{text}: {len(marked)} flagged runs ({compress_runs(numbers, max_chars=40)})",
                    transform=ax.transAxes,
                    rotation=90 if vertical else 0,
                    fontsize=7.5,
                    color=_FLAG_COLOR,
                    ha="center" if vertical else "right",
                    va="center",
                    gid=f"{gid}_text",
                    zorder=4,
                    bbox={"boxstyle": "square,pad=0.1", "fc": "0.92", "ec": "none", "alpha": 0.8},
                )
            )
            continue
        for j in marked:
            if vertical:
                points.append(
                    _Point(
                        0.03,
                        _axes_fraction(ax, 1.0, float(on[j]))[1],
                        _run_label(runs, int(j)),
                        _priority(runs, int(j)),
                        _must_label(runs, int(j)),
                    )
                )
            else:
                points.append(
                    _Point(
                        _axes_fraction(ax, float(off[j]), 1.0)[0],
                        0.03,
                        _run_label(runs, int(j)),
                        _priority(runs, int(j)),
                        _must_label(runs, int(j)),
                    )
                )
    neither = int((~(on > 0) & ~(off > 0) & audited).sum())
    if neither:
        notes.append(
            ax.text(
                0.99,
                0.91,
                f"{neither} run(s) with neither count not shown",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
                color=_MISSING_COLOR,
                gid="not_shown",
            )
        )
    for axis in (ax.xaxis, ax.yaxis):
        # 1-2-5 ticks with compact labels; minor ticks unlabelled (no pile-up on short ranges)
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(_compact_count))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"offline events ({offline_words})")
    ax.set_ylabel("online events")
    legend = ax.legend(loc="upper left", fontsize=8, frameon=False, bbox_to_anchor=(0.06, 1.0))
    label_axes(ax, meta, runs=runs)
    avoid.append(_legend_box(ax, legend))
    labels = _annotate(ax, points, max_labels=max_labels, avoid=avoid, data=data)
    return ScatterArtists(
        ax, points_ok, points_flag, identity, strip_markers, labels, legend, notes
    )
