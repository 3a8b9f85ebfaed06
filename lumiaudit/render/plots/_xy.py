"""The run plots' common body: values against run or time, the stored band, the value scales."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import Collection
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from lumiaudit.render.plots._artists import RunPlotArtists
from lumiaudit.render.plots._layout import (
    _annotate,
    _hide_ticks_in_strip,
    _point,
    _strip,
)
from lumiaudit.render.plots._style import (
    _FLAG_COLOR,
    _OK_COLOR,
    _STRIP_TOP,
    _col,
    _compact_count,
    _flags,
    _floats,
    _fractions,
    _new_axes,
    _status,
    label_axes,
)
from lumiaudit.schema import RunStatus

#: Half-width of the linear region of the value axes: 10 events for the difference, 0.1 % (the
#: relative floor of the flag rule) for the ratio. Beyond it the axes are logarithmic, so that
#: a 91-event loss stands clear of 0 beside a 56,790-event typo (issue 16).
DIFF_LINEAR = 10.0
RATIO_LINEAR = 1e-3


def _set_value_scale(ax: Axes, column: str) -> None:
    """Symmetric-log difference axis; ratio axis logarithmic in ``|ratio - 1|`` around 1."""
    if column == "diff":
        ax.set_yscale("symlog", linthresh=DIFF_LINEAR, linscale=0.6)
        ax.yaxis.set_major_formatter(FuncFormatter(_compact_count))
        ax.yaxis.set_minor_locator(NullLocator())
        return
    w = RATIO_LINEAR

    def forward(y: np.ndarray) -> np.ndarray:
        return np.asarray(np.arcsinh((np.asarray(y, dtype=float) - 1.0) / w))

    def inverse(t: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 + w * np.sinh(np.asarray(t, dtype=float)))

    ax.set_yscale("function", functions=(forward, inverse))
    ax.yaxis.set_minor_locator(NullLocator())


def _decade_ticks(values: np.ndarray, center: float, first: int) -> list[float]:
    """``center`` and ``center ± 10^k`` from ``10^first`` up to the decade of the data.

    No tick beyond the data's own decade: the head room above the points holds the legend and
    the labels, not values.
    """
    dev = values[np.isfinite(values)] - center
    ticks = {center}
    for sign in (1.0, -1.0):
        side = dev[dev * sign > 0] * sign
        if side.size == 0:
            continue
        top = math.ceil(math.log10(float(side.max())) - 1e-9)
        ticks |= {center + sign * 10.0**k for k in range(first, max(top, first) + 1)}
    if center == 1.0:
        ticks = {t for t in ticks if t >= 0.0} | ({0.0} if np.any(dev <= -0.5) else set())
    return sorted(ticks)


def _ratio_tick_text(value: float, _pos: object = None) -> str:
    return f"{value:.6g}"


def _draw_band(
    ax: Axes,
    runs: pd.DataFrame,
    x: np.ndarray,
    column: str,
) -> tuple[Line2D | None, Collection | None]:
    """Draw the stored per-run baseline and band (never recomputed, see ``schema.BAND_COLUMNS``)."""
    names = (
        ("diff_baseline", "diff_band_low", "diff_band_high")
        if column == "diff"
        else ("baseline", "band_low", "band_high")
    )
    if not all(n in runs.columns for n in names):
        return None, None
    base, low, high = (_floats(runs[n], runs.index) for n in names)
    keep = np.isfinite(x) & np.isfinite(base)
    if not keep.any():
        return None, None
    order = np.argsort(x[keep], kind="stable")
    xs, bs = x[keep][order], base[keep][order]
    lo, hi = low[keep][order], high[keep][order]
    (line,) = ax.plot(
        xs,
        bs,
        drawstyle="steps-mid",
        color="0.2",
        lw=1.0,
        ls="--",
        gid="baseline",
        label="baseline (per run)",
        zorder=1,
    )
    band = None
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        band = ax.fill_between(
            xs,
            np.where(ok, lo, np.nan),
            np.where(ok, hi, np.nan),
            step="mid",
            color=_OK_COLOR,
            alpha=0.15,
            lw=0,
            gid="band",
            label="band of the outlier test",
            zorder=0,
        )
    return line, band


def _xy_plot(
    runs: pd.DataFrame,
    x: np.ndarray,
    column: str,
    *,
    ax: Axes | None,
    meta: Mapping[str, Any] | None,
    max_labels: int,
    ylabel: str,
    xlabel: str,
    min_pad: float = 0.5,
) -> RunPlotArtists:
    ax = _new_axes(ax)
    y = _floats(_col(runs, column), runs.index)
    flagged = _flags(runs)
    status = _status(runs)
    audited = status != RunStatus.NOT_AUDITED.value
    good = np.isfinite(x) & np.isfinite(y) & audited
    _set_value_scale(ax, column)
    points = ax.scatter(
        x[good & ~flagged],
        y[good & ~flagged],
        s=16,
        color=_OK_COLOR,
        gid="runs_ok",
        label=f"runs ({int((good & ~flagged).sum())})",
        zorder=2,
    )
    flag_points = ax.scatter(
        x[good & flagged],
        y[good & flagged],
        s=34,
        color=_FLAG_COLOR,
        marker="D",
        gid="runs_flagged",
        label=f"flagged ({int(flagged.sum())})",
        zorder=3,
    )
    nominal_value = 0.0 if column == "diff" else 1.0
    nominal = ax.axhline(nominal_value, color="0.55", lw=0.8, gid="nominal", zorder=0.8)
    baseline, band = _draw_band(ax, runs, x, column)
    notes: list[Text] = []
    if baseline is None:
        notes.append(
            ax.text(
                0.99,
                0.86,
                "no stored band: runs table without the band columns",
                transform=ax.transAxes,
                ha="right",
                fontsize=7.5,
                color="0.3",
                gid="no_band",
            )
        )
    finite = y[good]
    if band is not None:
        names = (
            ("diff_band_low", "diff_band_high") if column == "diff" else ("band_low", "band_high")
        )
        edges = np.concatenate([_floats(runs[n], runs.index)[good] for n in names])
        finite = np.concatenate([finite, edges[np.isfinite(edges)]])
    finite = np.concatenate([finite, [nominal_value]])
    transform = ax.yaxis.get_transform()
    t = transform.transform(finite.reshape(-1, 1)).ravel()
    lo_t, hi_t = float(np.min(t)), float(np.max(t))
    span = hi_t - lo_t or 1.0
    # data between 20 % (above the missing strip) and 70 % (below legend and labels)
    lims = transform.inverted().transform(
        np.array([[lo_t - span * 0.20 / 0.50], [hi_t + span * 0.30 / 0.50]])
    )
    ax.set_ylim(float(lims[0, 0]), float(lims[1, 0]))
    shown = np.concatenate([y[good], [nominal_value]])
    if column == "diff":
        ax.yaxis.set_major_locator(FixedLocator(_decade_ticks(shown, 0.0, 1)))
    else:
        ax.yaxis.set_major_locator(FixedLocator(_decade_ticks(shown, 1.0, -2)))
        ax.yaxis.set_major_formatter(FuncFormatter(_ratio_tick_text))
    if np.any(np.isfinite(x)):
        xs = x[np.isfinite(x)]
        pad = max((xs.max() - xs.min()) * 0.03, min_pad)
        ax.set_xlim(xs.min() - pad, xs.max() + pad)
    to_label = [
        _point(ax, runs, int(i), float(x[i]), float(y[i])) for i in np.flatnonzero(good & flagged)
    ]
    data = _fractions(ax, x[good], y[good])
    strip_points, strip, strip_notes = _strip(ax, x, runs, flagged)
    to_label += strip_points
    notes += strip_notes
    avoid: list[tuple[float, float, float, float]] = []
    if strip:
        _hide_ticks_in_strip(ax)
        avoid.append((0.0, 0.0, 1.0, _STRIP_TOP))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    legend = ax.legend(loc="upper left", fontsize=8, ncols=3, frameon=False)
    label_axes(ax, meta, runs=runs)
    avoid.append(_legend_box(ax, legend))
    labels = _annotate(ax, to_label, max_labels=max_labels, avoid=avoid, data=data)
    return RunPlotArtists(
        ax, points, flag_points, baseline, band, nominal, strip, labels, legend, notes
    )


def _legend_box(ax: Axes, legend: Legend) -> tuple[float, float, float, float]:
    """The legend's box in axes fractions (labels keep out of it)."""
    # the legend's size is known before the figure is drawn (a renderer of the right dpi)
    box = legend.get_window_extent().transformed(ax.transAxes.inverted())
    return (float(box.x0), float(box.y0), float(box.x1), float(box.y1))


def _run_numbers(runs: pd.DataFrame) -> np.ndarray:
    return _floats(_col(runs, "run"), runs.index)
