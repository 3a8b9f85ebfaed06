"""Shared constants and helpers of the plots: colours, the missing-value conventions, labels."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import mplhep
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.text import Text
from matplotlib.ticker import (
    FuncFormatter,
    ScalarFormatter,
)

from lumiaudit._version import __version__
from lumiaudit.numbers import fmt
from lumiaudit.schema import UNREADABLE_STATUSES, RunStatus, is_missing

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

#: the one "unreadable" set (lumiaudit.schema)
_UNREADABLE = UNREADABLE_STATUSES


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


def _run_range_text(runs: pd.DataFrame | None) -> str:
    if runs is None or "run" not in runs.columns or runs["run"].isna().all():
        return ""
    exps: list[Any] = (
        list(runs["experiment"].dropna().unique()) if "experiment" in runs.columns else []
    )
    lo, hi = int(runs["run"].min()), int(runs["run"].max())
    exp = f"e{int(exps[0])} " if len(exps) == 1 else ""
    return f"{exp}runs {lo}–{hi}" if lo != hi else f"{exp}run {lo}"


def _experiments_text(runs: pd.DataFrame | None) -> str:
    """``e12`` or ``e10, e12`` from the runs table: the data names the experiment."""
    if runs is None or "experiment" not in runs.columns:
        return ""
    exps = sorted({int(e) for e in runs["experiment"].dropna()})
    return ", ".join(f"e{e}" for e in exps)


def _lumi_text(meta: Mapping[str, Any], runs: pd.DataFrame | None) -> str:
    """The recorded luminosity of the audited runs (``160 pb⁻¹``), or "" when unknown."""
    value = meta.get("lumi_nb")
    if value is None and runs is not None and "lumi_nb" in runs.columns:
        lumi = _floats(runs["lumi_nb"], runs.index)
        audited = _status(runs) != RunStatus.NOT_AUDITED.value
        known = np.isfinite(lumi) & audited
        value = float(np.sum(lumi[known])) if known.any() else None
    if value is None or is_missing(value) or float(value) <= 0:
        return ""
    return fmt(float(value), "lumi").replace("^-1", "\N{SUPERSCRIPT MINUS}\N{SUPERSCRIPT ONE}")


def label_axes(
    ax: Axes, meta: Mapping[str, Any] | None = None, *, runs: pd.DataFrame | None = None
) -> tuple[Text, ...]:
    """Write the experiment label, run range, luminosity, date and version above ``ax``.

    Parameters
    ----------
    ax
        The Axes to label.
    meta
        Optional keys: ``experiment_label`` (the profile's label and the experiments, e.g.
        ``"Belle II e12"``; without it the experiments of ``runs``, e.g. ``"e12"``: the label
        never claims an experiment the data does not name), ``text`` (e.g. ``"Preliminary"``),
        ``run_range`` (a string, or ``[first, last]``), ``lumi_nb`` (recorded luminosity; by
        default the sum of ``runs.lumi_nb`` over the audited runs, left out when unknown),
        ``date`` (string or date; default today, UTC), ``version`` (default the installed
        lumiaudit version).
    runs
        Runs table used for the run range, experiments and luminosity when ``meta`` has none.

    Returns
    -------
    tuple of matplotlib.text.Text
        The texts mplhep drew (experiment label first, the right-hand label among them).
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
    lumi = _lumi_text(meta, runs)
    recorded = f"{lumi} recorded" if lumi else ""
    parts = [str(p) for p in (run_range, recorded, date, f"lumiaudit {version}") if p]
    right = " · ".join(parts)
    exp = str(meta.get("experiment_label") or _experiments_text(runs) or "lumiaudit")
    drawn = mplhep.label.exp_label(
        exp=exp,
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
    texts = tuple(t for t in drawn if t is not None)
    header = drawn[2]
    if header is not None:
        left = [t for t in texts if t is not header]
        fit = _HeaderFit(left, header, parts)
        ax.add_artist(fit)
    return texts


#: header variants tried in order until one clears the experiment label: one line at these
#: fractions of mplhep's font size, then two lines at the others
_HEADER_ONE_LINE = (1.0, 0.9, 0.8)
_HEADER_TWO_LINES = (0.9, 0.8, 0.7)


class _HeaderFit(Artist):
    """Keeps the right-hand header (run range, luminosity, date, version) clear of the
    experiment label on its left (issue 16: in the report's two-column grid they overlapped).

    It is drawn before every other artist of the Axes, when the figure's layout is final, and
    measures both texts with the renderer: the header keeps its size when it fits, else it
    takes the first smaller font size, then two lines, that leave a gap of half an em (the
    last variant when none does). Nothing is dropped from the header.
    """

    def __init__(self, left: Sequence[Text], header: Text, parts: Sequence[str]) -> None:
        super().__init__()
        self._left = list(left)
        self._header = header
        half = (len(parts) + 1) // 2
        one = " · ".join(parts)
        two = " · ".join(parts[:half]) + "\n" + " · ".join(parts[half:])
        size = float(header.get_fontsize())
        self._variants = [(one, size * f) for f in _HEADER_ONE_LINE]
        if len(parts) > 1:
            self._variants += [(two, size * f) for f in _HEADER_TWO_LINES]
        self.set_zorder(-1e9)  # before the texts it adjusts
        self.set_in_layout(False)

    def fit(self, renderer: RendererBase) -> None:
        """Choose the header's text and size for the current layout."""
        shown = [t for t in self._left if t.get_visible() and t.get_text()]
        if not shown:
            return
        right_edge = max(t.get_window_extent(renderer).x1 for t in shown)
        for text, size in self._variants:
            self._header.set_text(text)
            self._header.set_fontsize(size)
            box = self._header.get_window_extent(renderer)
            gap = 0.5 * size * float(renderer.points_to_pixels(1.0))  # type: ignore[arg-type]
            if box.x0 >= right_edge + gap:
                return

    def draw(self, renderer: RendererBase) -> None:
        if self.get_visible():
            self.fit(renderer)


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


def _compact_count(value: float, _pos: object = None) -> str:
    """``500``, ``2k``, ``1.5M``: tick labels that stay short on log axes."""
    text = f"{value:g}"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            text = f"{value / scale:g}{suffix}"
            break
    return text.replace("-", "\N{MINUS SIGN}")
