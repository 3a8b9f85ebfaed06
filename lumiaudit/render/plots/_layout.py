"""Label placement and the missing-value strip shared by the run plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.transforms import blended_transform_factory

from lumiaudit.render.plots._style import (
    _FIGSIZE,
    _FLAG_COLOR,
    _GREY,
    _MISSING_COLOR,
    _OK_COLOR,
    _STRIP_TOP,
    _col,
    _flags,
    _floats,
    _fractions,
    _new_axes,
    _plain_ticks,
    _run_label,
    _status,
    baseline_band,
    label_axes,
)
from lumiaudit.schema import RunStatus


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
