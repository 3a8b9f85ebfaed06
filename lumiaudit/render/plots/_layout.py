"""Label placement and the missing-value strip shared by the run plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox, blended_transform_factory

from lumiaudit.render.plots._artists import Labels
from lumiaudit.render.plots._style import (
    _FIGSIZE,
    _FLAG_COLOR,
    _GREY,
    _MISSING_COLOR,
    _STRIP_TOP,
    _run_label,
    _status,
)
from lumiaudit.schema import Reason, RunStatus


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


class _Point(NamedTuple):
    """A run to label: its position in axes fractions, its text and its priority."""

    fx: float
    fy: float
    text: str
    priority: tuple[int, float]
    #: Labelled whatever ``max_labels`` says (an unexplained run of severity fail).
    must: bool = False


def _choose(points: Sequence[_Point], max_labels: int) -> list[_Point]:
    """The points to label: every ``must`` point, then by severity, then by events at stake."""
    ranked = sorted(points, key=lambda p: (not p.must, -p.priority[0], -p.priority[1]))
    musts = [p for p in ranked if p.must]
    return musts + [p for p in ranked if not p.must][: max(max_labels - len(musts), 0)]


def _points_near(
    seg: tuple[float, float, float, float], points: np.ndarray, *, within: float = 0.015
) -> int:
    """Points (axes fractions) closer than ``within`` to a leader line, its own end excepted."""
    if points.size == 0:
        return 0
    a = np.array(seg[:2])
    d = np.array(seg[2:]) - a
    length2 = float(d @ d)
    if length2 == 0:
        return 0
    t = np.clip(((points - a) @ d) / length2, 0.0, 1.0)
    dist = np.hypot(*(points - (a + t[:, None] * d)).T)
    # the labelled point itself sits at t = 0
    return int(np.sum((dist < within) & (t > 0.05)))


def _box_distance(box: tuple[float, float, float, float], points: np.ndarray) -> np.ndarray:
    """Distance of each point (axes fractions) to the nearest edge of ``box`` (0 inside)."""
    dx = np.maximum.reduce([box[0] - points[:, 0], np.zeros(len(points)), points[:, 0] - box[2]])
    dy = np.maximum.reduce([box[1] - points[:, 1], np.zeros(len(points)), points[:, 1] - box[3]])
    return np.asarray(np.hypot(dx, dy))


def _nearer_other(
    box: tuple[float, float, float, float], own: tuple[float, float], others: np.ndarray
) -> int:
    """1 when another labelled point is nearer to the label box than the label's own point."""
    if others.size == 0:
        return 0
    mine = float(_box_distance(box, np.array([own], dtype=float))[0])
    return int(bool(np.any(_box_distance(box, others) < mine)))


_STEPS = (0.07, 0.16, 0.25, 0.34, 0.43, 0.52)


def _candidates(p: _Point, w: float, h: float) -> list[tuple[float, float, float, float]]:
    """Boxes a label may take: above or below its point (shifted sideways), or beside it."""
    boxes = []
    for step in _STEPS:
        for sign in (1, -1) if p.fy < 0.5 else (-1, 1):
            for shift in (0.0, -0.6 * w, 0.6 * w, -1.1 * w, 1.1 * w):
                cx = min(max(p.fx + shift, w / 2 + 0.005), 0.995 - w / 2)
                y0 = p.fy + step if sign > 0 else p.fy - step - h
                boxes.append((cx - w / 2, y0, cx + w / 2, y0 + h))
        for side in (1, -1):
            # beside the point, at its height or a little off it
            for lift in (0.0, 0.6 * h, -0.6 * h):
                x0 = p.fx + 0.5 * step if side > 0 else p.fx - 0.5 * step - w
                y0 = p.fy - h / 2 + lift
                boxes.append((x0, y0, x0 + w, y0 + h))
    return boxes


def _greedy(
    chosen: Sequence[_Point],
    *,
    size_pt: tuple[float, float],
    fontsize: float,
    top: float,
    obstacles: np.ndarray,
    data: np.ndarray,
) -> list[tuple[float, float, float, float]]:
    """First placement: a box per label, above or below its point, overlapping nothing."""
    placed: list[tuple[float, float, float, float]] = []
    leaders: list[tuple[float, float, float, float]] = []
    marks = np.array([(q.fx, q.fy) for q in chosen], dtype=float).reshape(-1, 2)
    for i, p in enumerate(chosen):
        w, h = _text_box(p.text, fontsize, size_pt)
        others = np.delete(marks, i, axis=0)
        best = (p.fx - w / 2, p.fy, p.fx + w / 2, p.fy + h)
        best_cost = np.inf
        for box in _candidates(p, w, h):
            if box[0] < 0.0 or box[2] > 1.0:
                continue
            # leaving the free area is worst, then overlaps (the smaller the better), then
            # crossing leader lines
            area = _overlap_area(box, obstacles) + sum(_overlap(box, o) for o in placed)
            cost = (10.0 + 1000.0 * area) if area > 0 else 0.0
            if box[1] < 0.0 or box[3] > top:
                cost += 10_000.0
            leader = (p.fx, p.fy, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            cost += sum(_crosses(leader, other) for other in leaders)
            cost += sum(_hits_box(leader, other) for other in placed)
            # a leader line drawn through the data hides points (issue 16)
            cost += 2.0 * _points_near(leader, data)
            # a label must point at its own run: a leader through another labelled run's
            # marker, or a label nearer another labelled run than its own, reads as that
            # run's reason
            cost += 5.0 * _points_near(leader, others, within=0.025)
            cost += 5.0 * _nearer_other(box, (p.fx, p.fy), others)
            # among equals, the shortest leader line
            cost += 0.5 * float(np.hypot(leader[2] - p.fx, leader[3] - p.fy))
            if cost < best_cost:
                best, best_cost = box, cost
        placed.append(best)
        leaders.append((p.fx, p.fy, (best[0] + best[2]) / 2, (best[1] + best[3]) / 2))
    return placed


def _annotate(
    ax: Axes,
    points: Sequence[_Point],
    *,
    max_labels: int,
    fontsize: float = 8.5,
    top: float = 0.80,
    avoid: Sequence[tuple[float, float, float, float]] = (),
    data: Sequence[tuple[float, float]] = (),
) -> Labels:
    """Label points given in axes fractions without overlaps; return the labels.

    The points to label are chosen by :func:`_choose` (severity, then events at stake; an
    unexplained severity-fail run always). Each label is first placed greedily where its
    estimated box overlaps no other label, point or ``avoid`` box (axes fractions) and its
    leader line crosses no other; then adjustText (Flyamer's ``adjust_text``, the library
    issue 16 names) moves the labels by their real, rendered extents until none overlaps
    another, a data point (``data``, axes fractions) or an ``avoid`` box, and draws the leader
    lines. It runs a fixed number of iterations (no time limit), so a figure is the same on a
    loaded machine. The unlabelled flagged runs are counted in a ``+N more flagged`` note.
    """
    from adjustText import adjust_text

    chosen = _choose(points, max_labels)
    fig = ax.get_figure(root=True)
    bbox = ax.get_position()
    inches = fig.get_size_inches() if fig is not None else np.array(_FIGSIZE)
    size_pt = (max(bbox.width * inches[0] * 72, 50.0), max(bbox.height * inches[1] * 72, 50.0))
    mark = (6 / size_pt[0], 6 / size_pt[1])
    obstacles = [(p.fx - mark[0], p.fy - mark[1], p.fx + mark[0], p.fy + mark[1]) for p in chosen]
    obstacles += [
        (b[0] - mark[0], b[1] - mark[1], b[2] + mark[0], b[3] + mark[1]) if b[0] == b[2] else b
        for b in avoid
    ]
    obstacles += [(x - mark[0], y - mark[1], x + mark[0], y + mark[1]) for x, y in data]
    boxes = _greedy(
        chosen,
        size_pt=size_pt,
        fontsize=fontsize,
        top=top,
        obstacles=np.asarray(obstacles, dtype=float).reshape(-1, 4),
        data=np.asarray(list(data), dtype=float).reshape(-1, 2),
    )
    texts: list[Text] = []
    for p, box in zip(chosen, boxes, strict=True):
        text = ax.text(
            (box[0] + box[2]) / 2,
            (box[1] + box[3]) / 2,
            p.text,
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=fontsize,
            color=_FLAG_COLOR,
            fontweight="bold",
            linespacing=1.0,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            gid="flag_label",
            zorder=5,
            clip_on=False,
        )
        text.set_in_layout(False)
        texts.append(text)
    leaders: list[Any] = []
    if texts:
        xs = [x for x, _ in data] + [p.fx for p in points]
        ys = [y for _, y in data] + [p.fy for p in points]
        objects = [
            Bbox.from_extents(*b)
            for b in avoid
            if b[0] != b[2]  # a zero-size box is a point, given in x/y
        ]
        adjusted = adjust_text(
            texts,
            x=np.asarray(xs),
            y=np.asarray(ys),
            objects=objects or None,
            target_x=[p.fx for p in chosen],
            target_y=[p.fy for p in chosen],
            ax=ax,
            # the greedy boxes are already a good start: no explosion, and no push away from
            # the start itself (it is a label position, not a data point)
            avoid_self=False,
            force_explode=0.0,
            iter_lim=_ADJUST_ITERATIONS,
            expand=(1.1, 1.3),
            min_arrow_len=8,
            arrowprops={"arrowstyle": "-", "color": _FLAG_COLOR, "lw": 0.7, "shrinkB": 3},
        )
        if adjusted is not None:
            leaders = list(adjusted[1])
            for line in leaders:
                line.set_gid("flag_leader")
                line.set_in_layout(False)
    hidden = len(points) - len(chosen)
    more = None
    if hidden > 0:
        more = ax.text(
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
    return Labels(texts, leaders, more)


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
) -> tuple[list[_Point], dict[str, PathCollection], list[Text]]:
    """Draw runs without a comparable value on a grey strip; return labels, markers, row texts.

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
    points: list[_Point] = []
    markers: dict[str, PathCollection] = {}
    texts: list[Text] = []
    if not any(np.any(sel & np.isfinite(x)) for _, sel, *_ in rows):
        return points, markers, texts
    _strip_background(ax, vertical=False, size=_STRIP_TOP)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for gid, rows_sel, text, marker, pos in rows:
        sel = rows_sel & np.isfinite(x)
        if not np.any(sel):
            continue
        colors = np.where(
            flagged[sel], _FLAG_COLOR, _GREY if gid == "not_audited" else _MISSING_COLOR
        )
        markers[gid] = ax.scatter(
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
                points.append(
                    _Point(
                        fx,
                        pos,
                        _run_label(runs, int(j)),
                        _priority(runs, int(j)),
                        _must_label(runs, int(j)),
                    )
                )
        texts.append(
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
        )
    return points, markers, texts


_SEVERITY_RANK = {"fail": 2, "warn": 1}


def _priority(runs: pd.DataFrame, i: int) -> tuple[int, float]:
    """Label priority: severity (fail, warn, ok), then the events at stake.

    The events are ``|diff|``, or the known count when one side is missing.
    """
    sev = runs["severity"].iloc[i] if "severity" in runs.columns else pd.NA
    rank = _SEVERITY_RANK.get(str(sev), 0) if not pd.isna(sev) else 0
    for name in ("diff", "n_online", "n_offline"):
        value = runs[name].iloc[i] if name in runs.columns else pd.NA
        if not pd.isna(value):
            return rank, abs(float(value))
    return rank, 0.0


def _must_label(runs: pd.DataFrame, i: int) -> bool:
    """An unexplained run of severity fail is always labelled (issue 16)."""
    if "severity" not in runs.columns or "reasons" not in runs.columns:
        return False
    sev, reasons = runs["severity"].iloc[i], runs["reasons"].iloc[i]
    return (
        not pd.isna(sev)
        and str(sev) == "fail"
        and not pd.isna(reasons)
        and Reason.UNEXPLAINED.value in str(reasons).split(";")
    )


def _point(ax: Axes, runs: pd.DataFrame, i: int, x: float, y: float) -> _Point:
    fx, fy = _axes_fraction(ax, x, y)
    return _Point(fx, fy, _run_label(runs, i), _priority(runs, i), _must_label(runs, i))


#: Iterations of adjustText (a count, not a time: the same figure on any machine).
_ADJUST_ITERATIONS = 150
