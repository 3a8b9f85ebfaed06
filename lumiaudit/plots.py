"""Figures of an audit: runs table (and files / gaps / funnel tables) in, matplotlib Axes out.

Every function takes the tables of :mod:`lumiaudit.schema` and ``ax=None``; it draws on ``ax``
(or on a new figure) and returns the Axes. Nothing here saves or shows a figure: that is the job
of :func:`lumiaudit.figures.write_plots`, the notebooks and the CLI.

Conventions shared by all plots (see ``docs/plots.md``):

- Flagged runs are red and labelled ``run`` + reason codes; at most ``max_labels`` labels are
  drawn (largest ``|diff|`` first) and the rest are counted in a ``+N more flagged`` note.
- The baseline is the median of the compared runs (status ``OK``, ``DEFICIT`` or ``EXCESS``)
  and the robust band is ``median ± k · 1.4826 · MAD`` (``k=3`` by default), the same robust
  scale as the ``z_robust`` column.
- Missing values are never drawn as zero: runs without an online or an offline count sit on a
  grey strip at the bottom of the axes ("no online", "no offline", "not audited"), or are
  counted in a note when the plot has no place for them.
- The experiment label (mplhep, ``data=True``), run range, date and lumiaudit version are
  written above the axes by :func:`label_axes`.

Artists carry a ``gid`` so that tests and notebooks can find them: ``runs_ok``,
``runs_flagged``, ``no_online``, ``no_offline``, ``not_audited``, ``baseline``, ``band``,
``identity``, ``hist``, ``funnel``, and one ``PatchCollection`` per category in the drilldown.
"""

from __future__ import annotations

import datetime as _dt
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import mplhep
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    ScalarFormatter,
)
from matplotlib.transforms import blended_transform_factory

from lumiaudit._version import __version__
from lumiaudit.schema import FileStatus, RunStatus

__all__ = [
    "DRILLDOWN_CATEGORIES",
    "baseline_band",
    "compress_runs",
    "label_axes",
    "plot_diff_distribution",
    "plot_diff_vs_run",
    "plot_funnel",
    "plot_online_vs_offline",
    "plot_ratio_distribution",
    "plot_ratio_vs_run",
    "plot_ratio_vs_time",
    "plot_run_drilldown",
]

#: Statuses whose ratio and difference are meaningful (both counts present, run audited).
COMPARED = (RunStatus.OK.value, RunStatus.DEFICIT.value, RunStatus.EXCESS.value)

#: matplotlib.dates is untyped; keep mypy strict elsewhere.
_MDATES: Any = mdates

_OK_COLOR = "#3465a4"
_FLAG_COLOR = "#cc0000"
_MISSING_COLOR = "#75507b"
_GREY = "0.55"
_STRIP_TOP = 0.15  # fraction of the axes height reserved for the missing-value strip
_FIGSIZE = (8.0, 4.5)

#: Drilldown cell categories in drawing priority order (a cell shows the first that applies),
#: with their colour and hatch.
DRILLDOWN_CATEGORIES: dict[str, tuple[str, str]] = {
    "unreadable": ("#cc0000", ""),
    "missing": ("#ffffff", "///"),
    "duplicate": ("#75507b", ""),
    "metadata_mismatch": ("#f57900", ""),
    "empty": ("#edd400", ""),
    "ok": ("#73d216", ""),
}

_UNREADABLE = {
    FileStatus.NOT_ROOT.value,
    FileStatus.TRUNCATED.value,
    FileStatus.ZERO_BYTES.value,
    FileStatus.IO_ERROR.value,
    FileStatus.NO_TREE.value,
}


# --------------------------------------------------------------------------------------------
# helpers


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = _FIGSIZE) -> Axes:
    if ax is not None:
        return ax
    _, new = plt.subplots(figsize=figsize, layout="constrained")
    return new


def _floats(series: pd.Series | None, index: pd.Index) -> np.ndarray:
    if series is None:
        return np.full(len(index), np.nan)
    return (
        pd.to_numeric(series, errors="coerce")
        .astype("Float64")
        .to_numpy(dtype=float, na_value=np.nan)
    )


def _col(runs: pd.DataFrame, name: str) -> pd.Series | None:
    return runs[name] if name in runs.columns else None


def _flags(runs: pd.DataFrame) -> np.ndarray:
    if "flagged" not in runs.columns:
        return np.zeros(len(runs), dtype=bool)
    return runs["flagged"].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _status(runs: pd.DataFrame) -> np.ndarray:
    if "status" not in runs.columns:
        return np.full(len(runs), "", dtype=object)
    return runs["status"].astype("string").fillna("").to_numpy(dtype=object)


def _reason_text(reasons: object, *, keep: int = 2) -> str:
    if reasons is None or reasons is pd.NA or (isinstance(reasons, float) and np.isnan(reasons)):
        return ""
    codes = [c.strip() for c in str(reasons).split(";") if c.strip()]
    text = ", ".join(codes[:keep])
    if len(codes) > keep:
        text += f" +{len(codes) - keep}"
    return text


def _run_label(runs: pd.DataFrame, i: int) -> str:
    run = runs["run"].iloc[i]
    label = "?" if run is pd.NA else str(int(run))
    reasons = _reason_text(runs["reasons"].iloc[i]) if "reasons" in runs.columns else ""
    if not reasons and "status" in runs.columns and runs["status"].iloc[i] is not pd.NA:
        reasons = str(runs["status"].iloc[i]).lower()
    return f"{label}\n{reasons}" if reasons else label


def baseline_band(
    runs: pd.DataFrame, column: str = "ratio", *, k: float = 3.0
) -> tuple[float, float, float] | None:
    """Return the baseline and robust band of ``column`` over the compared runs.

    Parameters
    ----------
    runs
        Runs table (``status`` and ``column`` are used).
    column
        ``ratio`` or ``diff`` (any numeric column works).
    k
        Half-width of the band in robust standard deviations.

    Returns
    -------
    tuple of float or None
        ``(median, low, high)`` with ``low/high = median ∓ k · 1.4826 · MAD`` over the runs
        whose status is ``OK``, ``DEFICIT`` or ``EXCESS`` and whose value is finite; None if
        there is no such run.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"status": ["OK"] * 3, "ratio": [1.0, 1.0, 1.1]})
    >>> baseline_band(runs)
    (1.0, 1.0, 1.0)
    """
    if column not in runs.columns:
        return None
    values = _floats(runs[column], runs.index)
    keep = np.isfinite(values)
    if "status" in runs.columns:
        keep &= np.isin(_status(runs), COMPARED)
    values = values[keep]
    if values.size == 0:
        return None
    median = float(np.median(values))
    sigma = 1.4826 * float(np.median(np.abs(values - median)))
    return median, median - k * sigma, median + k * sigma


def _run_range_text(runs: pd.DataFrame | None) -> str:
    if runs is None or "run" not in runs.columns or runs["run"].isna().all():
        return ""
    exps: list[Any] = (
        list(runs["experiment"].dropna().unique()) if "experiment" in runs.columns else []
    )
    lo, hi = int(runs["run"].min()), int(runs["run"].max())
    exp = f"e{int(exps[0])} " if len(exps) == 1 else ""
    return f"{exp}runs {lo}–{hi}" if lo != hi else f"{exp}run {lo}"


def label_axes(
    ax: Axes, meta: Mapping[str, Any] | None = None, *, runs: pd.DataFrame | None = None
) -> Axes:
    """Write the experiment label, run range, date and lumiaudit version above ``ax``.

    Parameters
    ----------
    ax
        The Axes to label.
    meta
        Optional keys: ``experiment_label`` (default ``"Belle II"``), ``text`` (e.g.
        ``"Preliminary"``), ``run_range`` (a string, or ``[first, last]``), ``date`` (string or
        date; default today, UTC), ``version`` (default the installed lumiaudit version).
    runs
        Runs table used for the run range when ``meta`` has none.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    meta = dict(meta or {})
    run_range = meta.get("run_range")
    if isinstance(run_range, Sequence) and not isinstance(run_range, str) and len(run_range) == 2:
        run_range = f"runs {run_range[0]}–{run_range[1]}"
    if not run_range:
        run_range = _run_range_text(runs)
    date = meta.get("date") or _dt.datetime.now(_dt.UTC).date().isoformat()
    if isinstance(date, _dt.datetime | _dt.date):
        date = date.isoformat()[:10]
    version = meta.get("version") or meta.get("lumiaudit_version") or __version__
    right = " · ".join(str(p) for p in (run_range, date, f"lumiaudit {version}") if p)
    mplhep.label.exp_label(
        exp=str(meta.get("experiment_label") or "Belle II"),
        data=True,
        llabel=str(meta.get("text") or ""),
        rlabel=right,
        loc=0,
        fontsize=11,
        # lumiaudit's plots have no offset text on the value axis, and the adjustment would
        # draw the whole figure once more
        scilocator_adjust=False,
        ax=ax,
    )
    return ax


def _fractions(ax: Axes, x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
    """Data coordinates to axes fractions, for many points at once."""
    if x.size == 0:
        return []
    xy = (ax.transData + ax.transAxes.inverted()).transform(np.c_[x, y])
    return [(float(a), float(b)) for a, b in xy]


def _plain_ticks(axis: Any, *, counts: bool) -> None:
    """Tick labels without an offset or a x10^n text (it would collide with the label)."""
    if counts:
        axis.set_major_formatter(FuncFormatter(_compact_count))
    else:
        axis.set_major_formatter(ScalarFormatter(useOffset=False))


def _axes_fraction(ax: Axes, x: float, y: float) -> tuple[float, float]:
    fx, fy = (ax.transData + ax.transAxes.inverted()).transform((x, y))
    return float(fx), float(fy)


def _text_box(text: str, fontsize: float, size_pt: tuple[float, float]) -> tuple[float, float]:
    """Approximate (width, height) of a label in axes fractions."""
    lines = text.split("\n")
    width = max(len(line) for line in lines) * fontsize * 0.62 + 6
    height = len(lines) * fontsize * 1.2 + 4
    return width / size_pt[0], height / size_pt[1]


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return max(dx, 0.0) * max(dy, 0.0)


def _overlap_area(box: tuple[float, float, float, float], boxes: np.ndarray) -> float:
    """Summed overlap area of ``box`` with each row ``(x0, y0, x1, y1)`` of ``boxes``."""
    if boxes.size == 0:
        return 0.0
    dx = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    dy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    return float(np.sum(dx * dy))


def _crosses(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two leader lines (x0, y0, x1, y1) cross."""

    def orient(px: float, py: float, qx: float, qy: float, rx: float, ry: float) -> float:
        return (qx - px) * (ry - py) - (qy - py) * (rx - px)

    d1 = orient(b[0], b[1], b[2], b[3], a[0], a[1])
    d2 = orient(b[0], b[1], b[2], b[3], a[2], a[3])
    d3 = orient(a[0], a[1], a[2], a[3], b[0], b[1])
    d4 = orient(a[0], a[1], a[2], a[3], b[2], b[3])
    return d1 * d2 < 0 and d3 * d4 < 0


def _hits_box(
    seg: tuple[float, float, float, float], box: tuple[float, float, float, float]
) -> bool:
    """Whether a leader line passes through a label box."""
    x0, y0, x1, y1 = box
    if any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in ((seg[0], seg[1]), (seg[2], seg[3]))):
        return True
    edges = ((x0, y0, x1, y0), (x1, y0, x1, y1), (x1, y1, x0, y1), (x0, y1, x0, y0))
    return any(_crosses(seg, edge) for edge in edges)


def _annotate(
    ax: Axes,
    points: Sequence[tuple[float, float, str, float]],
    *,
    max_labels: int,
    fontsize: float = 8.5,
    top: float = 0.80,
    avoid: Sequence[tuple[float, float, float, float]] = (),
) -> list[Any]:
    """Label points given in axes fractions ``(fx, fy, text, priority)`` without pile-ups.

    The ``max_labels`` points with the highest priority are labelled. Each label is placed
    greedily (highest priority first) at the candidate offset above or below its point that
    keeps the box inside the axes (below ``top``, where the legend sits), overlaps no earlier
    label, point or box of ``avoid`` (axes fractions), crosses no earlier leader line or label
    and has the shortest leader line; labels are excluded from the layout engine. The
    remaining count goes into a ``+N more flagged`` note.
    """
    chosen = sorted(points, key=lambda p: -p[3])[: max(max_labels, 0)]
    fig = ax.get_figure(root=True)
    bbox = ax.get_position()
    inches = fig.get_size_inches() if fig is not None else np.array(_FIGSIZE)
    size_pt = (max(bbox.width * inches[0] * 72, 50.0), max(bbox.height * inches[1] * 72, 50.0))
    mark = (6 / size_pt[0], 6 / size_pt[1])
    obstacles = [(fx - mark[0], fy - mark[1], fx + mark[0], fy + mark[1]) for fx, fy, *_ in chosen]
    obstacles += [
        (b[0] - mark[0], b[1] - mark[1], b[2] + mark[0], b[3] + mark[1]) if b[0] == b[2] else b
        for b in avoid
    ]
    obstacle_array = np.asarray(obstacles, dtype=float).reshape(-1, 4)
    placed: list[tuple[float, float, float, float]] = []
    leaders: list[tuple[float, float, float, float]] = []
    artists: list[Any] = []
    steps = (0.07, 0.16, 0.25, 0.34, 0.43, 0.52)
    for fx, fy, text, _ in chosen:
        w, h = _text_box(text, fontsize, size_pt)
        best: tuple[float, float, float, float] | None = None
        best_cost = np.inf
        for step in steps:
            for sign in (1, -1) if fy < 0.5 else (-1, 1):
                for shift in (0.0, -0.6 * w, 0.6 * w, -1.1 * w, 1.1 * w):
                    cx = min(max(fx + shift, w / 2 + 0.005), 0.995 - w / 2)
                    y0 = fy + step if sign > 0 else fy - step - h
                    box = (cx - w / 2, y0, cx + w / 2, y0 + h)
                    # leaving the free area is worst, then overlaps (the smaller the better),
                    # then crossing leader lines
                    area = _overlap_area(box, obstacle_array) + sum(
                        _overlap(box, o) for o in placed
                    )
                    cost = (10.0 + 1000.0 * area) if area > 0 else 0.0
                    if box[1] < 0.0 or box[3] > top:
                        cost += 10_000.0
                    leader = (fx, fy, cx, (box[1] + box[3]) / 2)
                    cost += sum(_crosses(leader, other) for other in leaders)
                    cost += sum(_hits_box(leader, other) for other in placed)
                    # among equals, the shortest leader line
                    cost += 0.5 * float(np.hypot(leader[2] - fx, leader[3] - fy))
                    if cost < best_cost:
                        best, best_cost = box, cost
        assert best is not None
        placed.append(best)
        leaders.append((fx, fy, (best[0] + best[2]) / 2, (best[1] + best[3]) / 2))
        ann = ax.annotate(
            text,
            xy=(fx, fy),
            xycoords="axes fraction",
            xytext=((best[0] + best[2]) / 2, (best[1] + best[3]) / 2),
            textcoords="axes fraction",
            ha="center",
            va="center",
            fontsize=fontsize,
            color=_FLAG_COLOR,
            fontweight="bold",
            linespacing=1.0,
            arrowprops={
                "arrowstyle": "-",
                "color": _FLAG_COLOR,
                "lw": 0.7,
                "shrinkA": 0,
                "shrinkB": 4,
            },
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            annotation_clip=False,
            gid="flag_label",
        )
        ann.set_in_layout(False)
        artists.append(ann)
    hidden = len(points) - len(chosen)
    if hidden > 0:
        note = ax.text(
            0.99,
            0.97,
            f"+{hidden} more flagged",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=9,
            color=_FLAG_COLOR,
            gid="more_flagged",
        )
        artists.append(note)
    return artists


def _strip_background(ax: Axes, *, vertical: bool, size: float) -> None:
    xy, w, h = ((0.0, 0.0), size, 1.0) if vertical else ((0.0, 0.0), 1.0, size)
    ax.add_patch(
        Rectangle(
            xy,
            w,
            h,
            transform=ax.transAxes,
            facecolor="0.92",
            edgecolor="none",
            zorder=0.5,
            gid="missing_strip",
        )
    )


def _hide_ticks_in_strip(ax: Axes, *, axis: str = "y", size: float = _STRIP_TOP) -> None:
    """Drop the value ticks that fall on the missing-value strip (its position is no value)."""
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    if axis == "y":
        ticks = [t for t in ax.get_yticks() if _axes_fraction(ax, xlim[0], t)[1] > size]
        ax.set_yticks(ticks)
    else:
        ticks = [t for t in ax.get_xticks() if _axes_fraction(ax, t, ylim[0])[0] > size]
        ax.set_xticks(ticks)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)


def compress_runs(numbers: Sequence[int], *, max_chars: int = 60) -> str:
    """Write run numbers as ranges (``3001–3009, 3012, ...``), cut to ``max_chars``.

    Examples
    --------
    >>> compress_runs([3001, 3002, 3003, 3007, 3009, 3010])
    '3001–3003, 3007, 3009–3010'
    """
    values = sorted(set(numbers))
    ranges: list[str] = []
    start = prev = None
    for n in [*values, None]:
        if n is not None and prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            ranges.append(str(start) if start == prev else f"{start}–{prev}")
        start = prev = n
    text = ""
    for i, part in enumerate(ranges):
        candidate = part if not text else f"{text}, {part}"
        rest = len(ranges) - i - 1
        if len(candidate) > max_chars and text:
            return f"{text}, … (+{len(ranges) - i} ranges)"
        text = candidate
        del rest
    return text


def _strip(
    ax: Axes,
    x: np.ndarray,
    runs: pd.DataFrame,
    flagged: np.ndarray,
    *,
    max_individual: int = 3,
) -> list[tuple[float, float, str, float]]:
    """Draw runs without a comparable value on a grey strip; return their label points.

    When a strip row holds more than ``max_individual`` flagged runs, they are listed as run
    ranges on the row instead of being labelled one by one (so that the outliers among the
    compared runs keep their labels).
    """
    status = _status(runs)
    rows = [
        ("no_offline", status == RunStatus.MISSING_OFFLINE.value, "no offline", "v", 0.035),
        ("no_online", status == RunStatus.MISSING_ONLINE.value, "no online", "^", 0.075),
        ("not_audited", status == RunStatus.NOT_AUDITED.value, "not audited", "s", 0.115),
    ]
    if not any(np.any(sel & np.isfinite(x)) for _, sel, *_ in rows):
        return []
    _strip_background(ax, vertical=False, size=_STRIP_TOP)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    points: list[tuple[float, float, str, float]] = []
    for gid, rows_sel, text, marker, pos in rows:
        sel = rows_sel & np.isfinite(x)
        if not np.any(sel):
            continue
        colors = np.where(
            flagged[sel], _FLAG_COLOR, _GREY if gid == "not_audited" else _MISSING_COLOR
        )
        ax.scatter(
            x[sel],
            np.full(int(sel.sum()), pos),
            marker=marker,
            s=28,
            c=list(colors),
            transform=trans,
            gid=gid,
            zorder=3,
            label=f"{text} ({int(sel.sum())})",
            clip_on=False,
        )
        marked = np.flatnonzero(sel & flagged)
        row_text = text
        if len(marked) > max_individual:
            numbers = [int(runs["run"].iloc[int(j)]) for j in marked]
            row_text = f"{text} ({len(marked)} flagged): {compress_runs(numbers)}"
        else:
            for j in marked:
                fx, _ = _axes_fraction(ax, float(x[j]), 1.0)
                points.append((fx, pos, _run_label(runs, int(j)), _priority(runs, int(j))))
        ax.text(
            0.005,
            pos + 0.02,
            row_text,
            transform=ax.transAxes,
            fontsize=7.5,
            color=_FLAG_COLOR if len(marked) > max_individual else "0.3",
            ha="left",
            va="center",
            gid=f"{gid}_text",
            bbox={"boxstyle": "square,pad=0.05", "fc": "0.92", "ec": "none", "alpha": 0.8},
            zorder=4,
        )
    return points


def _priority(runs: pd.DataFrame, i: int) -> float:
    """Label priority: ``|diff|``, or the known count when one side is missing."""
    for name in ("diff", "n_online", "n_offline"):
        value = runs[name].iloc[i] if name in runs.columns else pd.NA
        if not pd.isna(value):
            return abs(float(value))
    return 0.0


def _xy_plot(
    runs: pd.DataFrame,
    x: np.ndarray,
    column: str,
    *,
    ax: Axes | None,
    meta: Mapping[str, Any] | None,
    max_labels: int,
    k: float,
    ylabel: str,
    xlabel: str,
    min_pad: float = 0.5,
) -> Axes:
    ax = _new_axes(ax)
    y = _floats(_col(runs, column), runs.index)
    flagged = _flags(runs)
    status = _status(runs)
    audited = status != RunStatus.NOT_AUDITED.value
    good = np.isfinite(x) & np.isfinite(y) & audited
    ax.scatter(
        x[good & ~flagged],
        y[good & ~flagged],
        s=16,
        color=_OK_COLOR,
        gid="runs_ok",
        label=f"runs ({int((good & ~flagged).sum())})",
        zorder=2,
    )
    ax.scatter(
        x[good & flagged],
        y[good & flagged],
        s=34,
        color=_FLAG_COLOR,
        marker="D",
        gid="runs_flagged",
        label=f"flagged ({int(flagged.sum())})",
        zorder=3,
    )
    band = baseline_band(runs, column, k=k)
    if band is not None:
        center, lo, hi = band
        ax.axhline(
            center,
            color="0.2",
            lw=1.0,
            ls="--",
            gid="baseline",
            label=f"baseline {center:.4g}",
            zorder=1,
        )
        if hi > lo:
            ax.axhspan(
                lo,
                hi,
                color=_OK_COLOR,
                alpha=0.12,
                lw=0,
                gid="band",
                label=f"±{k:g}σ robust band",
                zorder=0,
            )
    finite = y[good]
    if band is not None:
        finite = np.concatenate([finite, np.asarray(band[1:])])
    if finite.size:
        lo_y, hi_y = float(np.min(finite)), float(np.max(finite))
        span = hi_y - lo_y or max(abs(hi_y) * 1e-3, 1e-3)
        # data between 20 % (above the missing strip) and 70 % (below legend and labels)
        ax.set_ylim(lo_y - span * 0.20 / 0.50, hi_y + span * 0.30 / 0.50)
    if np.any(np.isfinite(x)):
        xs = x[np.isfinite(x)]
        pad = max((xs.max() - xs.min()) * 0.03, min_pad)
        ax.set_xlim(xs.min() - pad, xs.max() + pad)
    points = [
        (
            *_axes_fraction(ax, float(x[i]), float(y[i])),
            _run_label(runs, int(i)),
            _priority(runs, int(i)),
        )
        for i in np.flatnonzero(good & flagged)
    ]
    # every drawn point is an obstacle for the labels (a point is a zero-size box)
    avoid = [(fx, fy, fx, fy) for fx, fy in _fractions(ax, x[good], y[good])]
    points += _strip(ax, x, runs, flagged)
    if any(ax.findobj(match=lambda a: a.get_gid() == "missing_strip")):
        _hide_ticks_in_strip(ax)
        avoid.append((0.0, 0.0, 1.0, _STRIP_TOP))
    _annotate(ax, points, max_labels=max_labels, avoid=avoid)
    _plain_ticks(ax.yaxis, counts=column == "diff")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize=8, ncols=3, frameon=False)
    label_axes(ax, meta, runs=runs)
    return ax


def _run_numbers(runs: pd.DataFrame) -> np.ndarray:
    return _floats(_col(runs, "run"), runs.index)


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


# --------------------------------------------------------------------------------------------
# scatter, funnel, drilldown


def plot_online_vs_offline(
    runs: pd.DataFrame,
    *,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    max_labels: int = 8,
) -> Axes:
    """Scatter ``n_online`` against ``n_offline`` on log-log axes with the identity line.

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
    matplotlib.axes.Axes
    """
    ax = _new_axes(ax, (6.5, 5.5))
    on = _floats(_col(runs, "n_online"), runs.index)
    off = _floats(_col(runs, "n_offline"), runs.index)
    flagged = _flags(runs)
    audited = _status(runs) != RunStatus.NOT_AUDITED.value
    both = (on > 0) & (off > 0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    sel_ok = both & ~flagged & audited
    sel_flag = both & flagged & audited
    ax.scatter(
        off[sel_ok],
        on[sel_ok],
        s=16,
        color=_OK_COLOR,
        gid="runs_ok",
        label=f"runs ({int(sel_ok.sum())})",
        zorder=2,
    )
    ax.scatter(
        off[sel_flag],
        on[sel_flag],
        s=34,
        marker="D",
        color=_FLAG_COLOR,
        gid="runs_flagged",
        label=f"flagged ({int(flagged.sum())})",
        zorder=3,
    )
    if np.any(both & ~audited):
        ax.scatter(
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
    ax.plot(
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
        (
            *_axes_fraction(ax, float(off[i]), float(on[i])),
            _run_label(runs, int(i)),
            _priority(runs, int(i)),
        )
        for i in np.flatnonzero(sel_flag)
    ]
    avoid = [(fx, fy, fx, fy) for fx, fy in _fractions(ax, off[both], on[both])]
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
        ax.scatter(
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
            continue
        for j in marked:
            if vertical:
                points.append(
                    (
                        0.03,
                        _axes_fraction(ax, 1.0, float(on[j]))[1],
                        _run_label(runs, int(j)),
                        float(on[j]),
                    )
                )
            else:
                points.append(
                    (
                        _axes_fraction(ax, float(off[j]), 1.0)[0],
                        0.03,
                        _run_label(runs, int(j)),
                        float(off[j]),
                    )
                )
    _annotate(ax, points, max_labels=max_labels, avoid=avoid)
    neither = int((~(on > 0) & ~(off > 0) & audited).sum())
    if neither:
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
    for axis in (ax.xaxis, ax.yaxis):
        # 1-2-5 ticks with compact labels; minor ticks unlabelled (no pile-up on short ranges)
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(_compact_count))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("offline events (entries)")
    ax.set_ylabel("online events")
    ax.legend(loc="upper left", fontsize=8, frameon=False, bbox_to_anchor=(0.06, 1.0))
    label_axes(ax, meta, runs=runs)
    return ax


def _compact_count(value: float, _pos: object = None) -> str:
    """``500``, ``2k``, ``1.5M``: tick labels that stay short on log axes."""
    text = f"{value:g}"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            text = f"{value / scale:g}{suffix}"
            break
    return text.replace("-", "\N{MINUS SIGN}")


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


def _drill_category(status: str) -> str:
    if status in _UNREADABLE:
        return "unreadable"
    if status == FileStatus.DUPLICATE.value:
        return "duplicate"
    if status == FileStatus.METADATA_MISMATCH.value:
        return "metadata_mismatch"
    if status == FileStatus.EMPTY.value:
        return "empty"
    return "ok"


def plot_run_drilldown(
    files: pd.DataFrame,
    gaps: pd.DataFrame | None,
    run: int,
    *,
    experiment: int | None = None,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    annotate_entries: bool = True,
) -> Axes:
    """Draw one run's files as an HLT unit x file index grid.

    Each cell is one (HLT unit, file index) and shows the worst category of the files there,
    in the order of :data:`DRILLDOWN_CATEGORIES`: ``unreadable`` (not ROOT, truncated, zero
    bytes, I/O error, no tree), ``missing`` (an index gap from the gaps table, hatched),
    ``duplicate``, ``metadata_mismatch``, ``empty``, ``ok``. A missing HLT unit (gap without a
    file index) is a hatched row. Files without unit or index (grid or merged files) are
    counted in the axis label, with the number of files.

    Parameters
    ----------
    files
        Files table (``run``, ``experiment``, ``hlt_unit``, ``file_index``, ``status``,
        ``n_entries``).
    gaps
        Gaps table, or None.
    run
        The run to draw.
    experiment
        Restrict to this experiment (needed when run numbers repeat across experiments).
    ax, meta
        As in :func:`plot_diff_vs_run`.
    annotate_entries
        Write the entries of each file in its cell when the grid is small (<= 40 cells).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_axes(ax)

    def _select(frame: pd.DataFrame) -> pd.DataFrame:
        sel = frame["run"].astype("Int64") == run
        if experiment is not None and "experiment" in frame.columns:
            sel &= frame["experiment"].astype("Int64") == experiment
        return frame[sel.fillna(False).to_numpy(dtype=bool)]

    mine = _select(files) if len(files) else files
    gap_rows = _select(gaps) if gaps is not None and len(gaps) else None
    cells: dict[tuple[int, int], str] = {}
    entries: dict[tuple[int, int], int] = {}
    copies: dict[tuple[int, int], int] = {}
    statuses: dict[tuple[int, int], str] = {}
    order = list(DRILLDOWN_CATEGORIES)
    loose = 0

    def _put(key: tuple[int, int], cat: str) -> None:
        old = cells.get(key)
        if old is None or order.index(cat) < order.index(old):
            cells[key] = cat

    for row in mine.itertuples(index=False):
        unit, idx = getattr(row, "hlt_unit", pd.NA), getattr(row, "file_index", pd.NA)
        if pd.isna(unit) or pd.isna(idx):
            loose += 1
            continue
        key = (int(unit), int(idx))
        status_text = str(getattr(row, "status", "ok"))
        _put(key, _drill_category(status_text))
        if status_text in _UNREADABLE:
            statuses[key] = status_text.replace("_", " ")
        copies[key] = copies.get(key, 0) + 1
        n = getattr(row, "n_entries", pd.NA)
        if not pd.isna(n) and str(getattr(row, "status", "")) != FileStatus.DUPLICATE.value:
            entries[key] = int(n)
    missing_units: list[int] = []
    unknown_units = 0
    if gap_rows is not None:
        for row in gap_rows.itertuples(index=False):
            unit, idx = getattr(row, "hlt_unit", pd.NA), getattr(row, "file_index", pd.NA)
            if pd.isna(unit):
                unknown_units += 1
            elif pd.isna(idx):
                missing_units.append(int(unit))
            else:
                _put((int(unit), int(idx)), "missing")
    units = sorted({u for u, _ in cells} | set(missing_units))
    max_idx = max((i for _, i in cells), default=0)
    row_of = {u: r for r, u in enumerate(units)}
    for u in missing_units:
        for i in range(max_idx + 1):
            _put((u, i), "missing")
    counts = dict.fromkeys(order, 0)
    for cat, (color, hatch) in DRILLDOWN_CATEGORIES.items():
        keys = [key for key, c in cells.items() if c == cat]
        counts[cat] = len(keys)
        rects = [Rectangle((i - 0.45, row_of[u] - 0.45), 0.9, 0.9) for u, i in keys]
        coll = PatchCollection(
            rects, facecolor=color, edgecolor="0.25", hatch=hatch or None, linewidth=0.8, gid=cat
        )
        ax.add_collection(coll)
    small = len(cells) <= 40 and annotate_entries
    for key, cat in cells.items():
        u, i = key
        text = f"{entries[key]:,}" if small and key in entries else ""
        if small and cat == "unreadable" and key in statuses:
            text = statuses[key]
        if copies.get(key, 0) > 1:
            text = (text + "\n" if text else "") + f"×{copies[key]}"
        if text:
            ax.text(
                i,
                row_of[u],
                text,
                ha="center",
                va="center",
                fontsize=9,
                color="white" if cat in ("unreadable", "duplicate") else "black",
            )
    ax.set_xlim(-0.6, max_idx + 0.6)
    ax.set_ylim(-0.6, max(len(units), 1) - 0.4)
    ax.set_yticks(range(len(units)), [f"HLT{u}" for u in units])
    step = max(1, (max_idx + 1) // 20)
    ax.set_xticks(range(0, max_idx + 1, step))
    ax.invert_yaxis()
    handles = [
        Patch(
            facecolor=DRILLDOWN_CATEGORIES[c][0],
            edgecolor="0.25",
            hatch=DRILLDOWN_CATEGORIES[c][1] or None,
            label=f"{c.replace('_', ' ')} ({n})",
        )
        for c, n in counts.items()
        if n
    ]
    if handles:
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False
        )
    exp_text = f"e{experiment} " if experiment is not None else ""
    title = f"file index (fNNNNN)  ·  {len(mine)} files"
    notes = []
    if loose:
        notes.append(f"+{loose} file(s) without HLT unit/index")
    if unknown_units:
        notes.append(f"{unknown_units} missing HLT unit(s) of unknown number")
    if not cells:
        notes.append("no files with HLT unit/index")
    if notes:
        title += " (" + "; ".join(notes) + ")"
    ax.set_xlabel(title)
    run_meta = dict(meta or {})
    run_meta["run_range"] = f"{exp_text}run {run}"
    label_axes(ax, run_meta)
    return ax
