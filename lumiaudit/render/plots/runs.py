"""Run plots: online - offline and online / offline against run and time, and distributions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import blended_transform_factory

from lumiaudit.render.plots._artists import DistributionArtists, RunPlotArtists
from lumiaudit.render.plots._layout import _annotate, _axes_fraction, _point
from lumiaudit.render.plots._style import (
    _FLAG_COLOR,
    _MDATES,
    _MISSING_COLOR,
    _OK_COLOR,
    _col,
    _compact_count,
    _flags,
    _floats,
    _new_axes,
    _status,
    label_axes,
)
from lumiaudit.render.plots._xy import _legend_box, _ratio_tick_text, _run_numbers, _xy_plot
from lumiaudit.schema import RunStatus

# --------------------------------------------------------------------------------------------
# the seed's four


def plot_diff_vs_run(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
) -> RunPlotArtists:
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
        At most this many flagged runs are labelled: severity first (fail, warn), then the
        events at stake; an unexplained run of severity fail is labelled whatever this says.

    Returns
    -------
    RunPlotArtists
        The points, flagged points, stored baseline and band (None when the runs table has no
        band columns), nominal line, strip markers, labels, legend and notes.

    Notes
    -----
    The value axis is symmetric-log (linear within ±10 events, :data:`DIFF_LINEAR`): a
    91-event loss stands clear of 0 beside a 56,790-event typo. The band is the one the
    outlier test used run by run (``diff_band_low``, ``diff_band_high``), never recomputed.
    """
    return _xy_plot(
        runs,
        _run_numbers(runs),
        "diff",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        ylabel="online − offline [events]",
        xlabel="run",
    )


def plot_ratio_vs_run(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
) -> RunPlotArtists:
    """Plot ``ratio = n_online / n_offline`` against the run number.

    Parameters are those of :func:`plot_diff_vs_run`. The value axis is logarithmic in
    ``|ratio - 1|`` beyond 0.1 % (the relative floor), linear within; the band drawn is the
    stored ``band_low``/``band_high`` of each run.

    Returns
    -------
    RunPlotArtists
    """
    return _xy_plot(
        runs,
        _run_numbers(runs),
        "ratio",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        ylabel="online / offline",
        xlabel="run",
    )


def plot_ratio_vs_time(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
) -> RunPlotArtists:
    """Plot the ratio against the run start time (``start_time``, UTC).

    Runs without a start time are not drawn; their number is written on the plot.
    Other parameters are those of :func:`plot_diff_vs_run`.

    Returns
    -------
    RunPlotArtists
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
    art = _xy_plot(
        runs,
        x,
        "ratio",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        ylabel="online / offline",
        xlabel="run start (UTC)",
        min_pad=1 / 24,
    )
    ax = art.ax
    locator = _MDATES.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_MDATES.ConciseDateFormatter(locator))
    unknown = int((~known).sum())
    if unknown:
        art.notes.append(
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
        )
    return art


def _zero_bin_edges(deviation: np.ndarray, half: float, per_decade: int) -> np.ndarray:
    """Edges around 0: a zero bin ``[-half, half]``, then ``per_decade`` log bins a decade.

    Only exact agreement falls in the zero bin (``half`` is below the smallest non-zero
    deviation), so a 91-event loss never shares a bin with the runs that agree (issue 16).
    """
    top = float(np.max(np.abs(deviation))) if deviation.size else 0.0
    n = max(math.ceil(per_decade * math.log10(top / half)) if top > half else 0, 1)
    outer = half * 10.0 ** (np.arange(1, n + 1) / per_decade)
    neg = outer[::-1] * -1 if np.any(deviation < -half) else np.array([])
    pos = outer if np.any(deviation > half) else np.array([])
    return np.concatenate([neg, [-half, half], pos])


def _distribution(
    runs: pd.DataFrame,
    column: str,
    *,
    ax: Axes | None,
    meta: Mapping[str, Any] | None,
    max_labels: int,
    per_decade: int,
    xlabel: str,
) -> DistributionArtists:
    ax = _new_axes(ax)
    values = _floats(_col(runs, column), runs.index)
    status = _status(runs)
    flagged = _flags(runs)
    keep = np.isfinite(values) & (status != RunStatus.NOT_AUDITED.value)
    shown = values[keep]
    center = 0.0 if column == "diff" else 1.0
    deviation = shown - center
    nonzero = np.abs(deviation[deviation != 0])
    if column == "diff":
        # integers: the zero bin is [-0.5, 0.5], in the linear part of the axis
        half = 0.5
        ax.set_xscale("symlog", linthresh=1.0, linscale=1.0)
    else:
        # the zero bin must stay below the smallest non-zero |ratio - 1| (1e-7 for one event
        # in ten million): it is sized from the data, and the axis is linear within it
        half = min(float(nonzero.min()) / 2, 5e-4) if nonzero.size else 5e-4
        w = 2 * half

        def forward(r: np.ndarray) -> np.ndarray:
            return np.asarray(np.arcsinh((np.asarray(r, dtype=float) - 1.0) / w))

        def inverse(t: np.ndarray) -> np.ndarray:
            return np.asarray(1.0 + w * np.sinh(np.asarray(t, dtype=float)))

        ax.set_xscale("function", functions=(forward, inverse))
    edges = center + _zero_bin_edges(deviation, half, per_decade)
    # limits first: an empty histogram on a log axis would warn while autoscaling
    ax.set_yscale("log")
    ax.set_ylim(0.5, 10)
    counts_arr, _, patches = ax.hist(
        shown,
        bins=edges.tolist(),
        histtype="bar",
        rwidth=1.0,
        color=_OK_COLOR,
        alpha=0.75,
        edgecolor="white",
        linewidth=0.4,
        label=f"runs ({shown.size})",
    )
    hist = list(patches)  # type: ignore[arg-type]
    for patch in hist:
        patch.set_gid("hist")
    counts = [float(c) for c in np.asarray(counts_arr).ravel()]
    ax.set_yscale("log")
    ax.set_ylim(0.5, max(max(counts, default=1.0), 1.0) * 30)
    # half a bin of room at both ends (in the axis' own, logarithmic, space)
    tr = ax.xaxis.get_transform()
    t0, t1 = tr.transform(np.array([[edges[0]], [edges[-1]]])).ravel()
    room = (t1 - t0) * 0.04
    lims = tr.inverted().transform(np.array([[t0 - room], [t1 + room]])).ravel()
    ax.set_xlim(float(lims[0]), float(lims[1]))
    ax.yaxis.set_major_formatter(FuncFormatter(_compact_count))
    ax.xaxis.set_minor_locator(NullLocator())
    if column == "diff":
        ax.xaxis.set_major_formatter(FuncFormatter(_compact_count))
    else:
        ax.xaxis.set_major_locator(
            FixedLocator(_decade_ticks(float(edges[0]), float(edges[-1]), half))
        )
        ax.xaxis.set_major_formatter(FuncFormatter(_ratio_tick_text))
        ax.tick_params(axis="x", labelrotation=30)
    sel = keep & flagged
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    flag_marks = ax.scatter(
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
        _point(ax, runs, int(i), float(values[i]), 1.0)._replace(fy=0.62)
        for i in np.flatnonzero(sel)
    ]
    # the histogram bars are obstacles for the labels
    avoid = []
    for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        if count > 0:
            x0, y1 = _axes_fraction(ax, float(left), float(count))
            x1, _ = _axes_fraction(ax, float(right), float(count))
            avoid.append((x0, 0.0, x1, y1))
    missing = {
        "no online": int((status == RunStatus.MISSING_ONLINE.value).sum()),
        "no offline": int((status == RunStatus.MISSING_OFFLINE.value).sum()),
        "not audited": int((status == RunStatus.NOT_AUDITED.value).sum()),
    }
    note = ", ".join(f"{n} {what}" for what, n in missing.items() if n)
    notes: list[Text] = []
    if note:
        notes.append(
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
        )
    ax.set_xlabel(
        xlabel + ("  (middle bar: exactly 0)" if column == "diff" else "  (middle bar: exactly 1)")
    )
    ax.set_ylabel("runs")
    legend = ax.legend(loc="upper left", fontsize=8, ncols=2, frameon=False)
    label_axes(ax, meta, runs=runs)
    avoid.append(_legend_box(ax, legend))
    labels = _annotate(ax, points, max_labels=max_labels, avoid=avoid)
    return DistributionArtists(
        ax, hist, [float(e) for e in edges], counts, flag_marks, labels, legend, notes
    )


def _decade_ticks(lo: float, hi: float, half: float) -> list[float]:
    """1 and 1 ± 10^k within ``[lo, hi]``, at most five a side (every other decade if needed)."""
    k_lo = math.floor(math.log10(half)) + 1  # the zero bin itself needs no decade tick
    ks = list(range(k_lo, 4))
    side = [k for k in ks if 1 + 10.0**k <= hi or 1 - 10.0**k >= lo]
    step = max(1, math.ceil(len(side) / 5))
    ticks = {1.0}
    for k in side[::-1][::step]:
        for t in (1 + 10.0**k, 1 - 10.0**k):
            if lo <= t <= hi and t >= 0:
                ticks.add(t)
    return sorted(ticks)


def plot_diff_distribution(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
    bins_per_decade: int = 3,
) -> DistributionArtists:
    """Histogram of ``diff`` over the audited runs: a zero bin, then logarithmic bins.

    The middle bin holds exactly the runs that agree (``diff == 0``); every other bin is a
    third of a decade of ``|diff|`` on a symmetric-log axis, so a 91-event deficit never
    shares a bin with the perfect runs. Counts are on a log scale. Flagged runs are marked
    above the histogram with their run number and reasons; runs with no value are counted in
    a ``not shown`` note, never binned at zero.

    Parameters
    ----------
    runs
        Runs table.
    ax, meta, max_labels
        As in :func:`plot_diff_vs_run`.
    bins_per_decade
        Logarithmic bins per decade of ``|diff|``.

    Returns
    -------
    DistributionArtists
        The bars, bin edges and contents, flagged markers, labels, legend and notes.
    """
    return _distribution(
        runs,
        "diff",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        per_decade=bins_per_decade,
        xlabel="online − offline [events]",
    )


def plot_ratio_distribution(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
    bins_per_decade: int = 3,
) -> DistributionArtists:
    """Histogram of ``ratio``: a bin of exactly 1, then logarithmic bins of ``|ratio - 1|``.

    The middle bin is narrower than the smallest non-zero ``|ratio - 1|`` of the data, so it
    holds only the runs that agree to the event. Other parameters are those of
    :func:`plot_diff_distribution`.

    Returns
    -------
    DistributionArtists
    """
    return _distribution(
        runs,
        "ratio",
        ax=ax,
        meta=meta,
        max_labels=max_labels,
        per_decade=bins_per_decade,
        xlabel="online / offline",
    )
