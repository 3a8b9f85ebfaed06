"""Run plots: online - offline and online / offline against run and time, and distributions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

from lumiaudit.render.plots._layout import (
    _annotate,
    _axes_fraction,
    _priority,
    _run_numbers,
    _xy_plot,
)
from lumiaudit.render.plots._style import (
    _FLAG_COLOR,
    _MDATES,
    _MISSING_COLOR,
    _OK_COLOR,
    _col,
    _flags,
    _floats,
    _new_axes,
    _plain_ticks,
    _run_label,
    _status,
    baseline_band,
    label_axes,
)
from lumiaudit.schema import RunStatus

# --------------------------------------------------------------------------------------------
# the seed's four


def plot_diff_vs_run(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
    k: float = 3.0,
) -> Axes:
    """Plot ``diff = n_online - n_offline`` against the run number.

    Parameters
    ----------
    runs
        Runs table (``run``, ``diff``, ``status``, ``flagged``, ``reasons``).
    ax
        Axes to draw on; a new figure if None.
    meta
        Figure label (see :func:`label_axes`).
    max_labels
        At most this many flagged runs are labelled (largest ``|diff|`` first).
    k
        Half-width of the robust band (see :func:`baseline_band`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _xy_plot(
        runs,
        _run_numbers(runs),
        "diff",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        k=k,
        ylabel="online − offline [events]",
        xlabel="run",
    )


def plot_ratio_vs_run(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
    k: float = 3.0,
) -> Axes:
    """Plot ``ratio = n_online / n_offline`` against the run number.

    Parameters are those of :func:`plot_diff_vs_run`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _xy_plot(
        runs,
        _run_numbers(runs),
        "ratio",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        k=k,
        ylabel="online / offline",
        xlabel="run",
    )


def plot_ratio_vs_time(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
    k: float = 3.0,
) -> Axes:
    """Plot the ratio against the run start time (``start_time``, UTC).

    Runs without a start time are not drawn; their number is written on the plot.
    Other parameters are those of :func:`plot_diff_vs_run`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    times = (
        pd.to_datetime(runs["start_time"], utc=True)
        if "start_time" in runs.columns
        else pd.Series(pd.NaT, index=runs.index, dtype="datetime64[ns, UTC]")
    )
    x = np.full(len(runs), np.nan)
    known = times.notna().to_numpy()
    if known.any():
        x[known] = _MDATES.date2num(times[known].dt.tz_convert(None).to_numpy())
    ax = _xy_plot(
        runs,
        x,
        "ratio",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        k=k,
        ylabel="online / offline",
        xlabel="run start (UTC)",
        min_pad=1 / 24,
    )
    locator = _MDATES.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_MDATES.ConciseDateFormatter(locator))
    unknown = int((~known).sum())
    if unknown:
        ax.text(
            0.99,
            0.91,
            f"{unknown} run(s) without start time not shown",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="0.3",
            gid="no_time",
        )
    return ax


def _distribution(
    runs: pd.DataFrame,
    column: str,
    *,
    ax: Axes | None,
    meta: Mapping[str, Any] | None,
    max_labels: int,
    k: float,
    bins: int | str,
    xlabel: str,
) -> Axes:
    ax = _new_axes(ax)
    values = _floats(_col(runs, column), runs.index)
    status = _status(runs)
    flagged = _flags(runs)
    keep = np.isfinite(values) & (status != RunStatus.NOT_AUDITED.value)
    shown = values[keep]
    if shown.size:
        edges = np.histogram_bin_edges(shown, bins=bins)
        if isinstance(bins, str) and edges.size > 61:
            edges = np.histogram_bin_edges(shown, bins=60)
        elif isinstance(bins, str) and edges.size < 21:
            edges = np.histogram_bin_edges(shown, bins=20)
        if edges[0] == edges[-1]:
            edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
        counts, edges, _ = ax.hist(
            shown,
            bins=edges.tolist(),
            histtype="stepfilled",
            color=_OK_COLOR,
            alpha=0.7,
            gid="hist",
            label=f"runs ({shown.size})",
        )
        ax.set_yscale("log")
        ax.set_ylim(0.5, max(float(np.max(counts)), 1.0) * 30)
    else:
        ax.set_yscale("log")
        ax.set_ylim(0.5, 10)
    band = baseline_band(runs, column, k=k)
    if band is not None:
        center, lo, hi = band
        ax.axvline(
            center, color="0.2", lw=1.0, ls="--", gid="baseline", label=f"baseline {center:.4g}"
        )
        if hi > lo:
            ax.axvspan(
                lo, hi, color=_OK_COLOR, alpha=0.12, lw=0, gid="band", label=f"±{k:g}σ robust band"
            )
    sel = keep & flagged
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    ax.scatter(
        values[sel],
        np.full(int(sel.sum()), 0.62),
        marker="v",
        s=34,
        color=_FLAG_COLOR,
        transform=trans,
        gid="runs_flagged",
        label=f"flagged ({int(flagged.sum())})",
        zorder=3,
    )
    points = [
        (
            _axes_fraction(ax, float(values[i]), 1.0)[0],
            0.62,
            _run_label(runs, int(i)),
            _priority(runs, int(i)),
        )
        for i in np.flatnonzero(sel)
    ]
    # the histogram bars are obstacles for the labels
    avoid = []
    if shown.size:
        for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
            if count > 0:
                x0, y1 = _axes_fraction(ax, float(left), float(count))
                x1, _ = _axes_fraction(ax, float(right), float(count))
                avoid.append((x0, 0.0, x1, y1))
    _annotate(ax, points, max_labels=max_labels, avoid=avoid)
    missing = {
        "no online": int((status == RunStatus.MISSING_ONLINE.value).sum()),
        "no offline": int((status == RunStatus.MISSING_OFFLINE.value).sum()),
        "not audited": int((status == RunStatus.NOT_AUDITED.value).sum()),
    }
    note = ", ".join(f"{n} {what}" for what, n in missing.items() if n)
    if note:
        ax.text(
            0.99,
            0.91,
            f"not shown: {note}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color=_MISSING_COLOR,
            gid="not_shown",
        )
    _plain_ticks(ax.xaxis, counts=column == "diff")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("runs")
    ax.legend(loc="upper left", fontsize=8, ncols=2, frameon=False)
    label_axes(ax, meta, runs=runs)
    return ax


def plot_diff_distribution(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
    k: float = 3.0,
    bins: int | str = "auto",
) -> Axes:
    """Histogram of ``diff`` over the audited runs, log-scale counts.

    Flagged runs are marked above the histogram with their run number and reasons; runs with
    no value are counted in a ``not shown`` note, never binned at zero.

    Parameters
    ----------
    runs
        Runs table.
    ax, meta, max_labels, k
        As in :func:`plot_diff_vs_run`.
    bins
        Passed to :func:`numpy.histogram_bin_edges` (``"auto"`` is kept between 20 and 60
        bins).

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _distribution(
        runs,
        "diff",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        k=k,
        bins=bins,
        xlabel="online − offline [events]",
    )


def plot_ratio_distribution(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
    k: float = 3.0,
    bins: int | str = "auto",
) -> Axes:
    """Histogram of ``ratio`` over the audited runs, log-scale counts.

    Parameters are those of :func:`plot_diff_distribution`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _distribution(
        runs,
        "ratio",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        k=k,
        bins=bins,
        xlabel="online / offline",
    )
