"""Files of a production by health status (the file-health page's plot)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from lumiaudit.numbers import fmt
from lumiaudit.render.plots._artists import FileStatusArtists
from lumiaudit.render.plots._style import (
    _UNREADABLE,
    DRILLDOWN_CATEGORIES,
    _new_axes,
    _plain_ticks,
    label_axes,
)
from lumiaudit.schema import FileStatus

#: Bar colour per status: the drilldown's categories, so a file has one colour everywhere.
_COLORS: dict[str, str] = {
    FileStatus.OK.value: DRILLDOWN_CATEGORIES["ok"][0],
    FileStatus.EMPTY.value: DRILLDOWN_CATEGORIES["empty"][0],
    FileStatus.METADATA_MISMATCH.value: DRILLDOWN_CATEGORIES["metadata_mismatch"][0],
    FileStatus.DUPLICATE.value: DRILLDOWN_CATEGORIES["duplicate"][0],
}
_NO_STATUS = "no status"


def _color(status: str) -> str:
    if status in _COLORS:
        return _COLORS[status]
    return DRILLDOWN_CATEGORIES["unreadable"][0] if status in _UNREADABLE else "0.55"


def plot_file_status(
    files: pd.DataFrame,
    ax: Axes | None = None,
    *,
    meta: Mapping[str, Any] | None = None,
    runs: pd.DataFrame | None = None,
) -> FileStatusArtists:
    """Number of files per health status, on a log axis so that one bad file among thousands
    stays visible; each bar is labelled with its count.

    Parameters
    ----------
    files
        The files table (:data:`lumiaudit.schema.FILES`); its ``status`` column is counted.
        A file without a status is counted as ``no status``, never dropped.
    ax
        Axes to draw on (a new figure when None).
    meta, runs
        Figure label (:func:`label_axes`): the experiment, run range, luminosity, date.

    Returns
    -------
    FileStatusArtists
        ``bars`` (None without files), ``rows`` (statuses top to bottom, most files first,
        ``ok`` on top), ``values`` (the count texts), ``notes``.
    """
    ax = _new_axes(ax)
    status = (
        files["status"].astype("string").fillna(_NO_STATUS)
        if "status" in files.columns
        else pd.Series([], dtype="string")
    )
    counts = status.value_counts()
    order = sorted(counts.index, key=lambda s: (s != FileStatus.OK.value, -counts[s], s))
    notes = []
    bars = None
    values = []
    if not order:
        notes.append(
            ax.text(0.5, 0.5, "no offline file", transform=ax.transAxes, ha="center", gid="note")
        )
        ax.set_yticks([])
    else:
        n = np.array([int(counts[s]) for s in order], dtype=float)
        y = np.arange(len(order))[::-1]
        bars = ax.barh(
            y, n, color=[_color(s) for s in order], height=0.62, gid="file_status", left=0.5
        )
        # the bars start at 0.5, so a single file is a visible bar on the log axis
        ax.set_xscale("log")
        ax.set_xlim(0.5, max(float(n.max()) * 3.0, 10.0))  # room for the count texts
        _plain_ticks(ax.xaxis, counts=True)
        ax.set_yticks(y, order)
        for yi, ni in zip(y, n, strict=True):
            values.append(
                ax.text(
                    ni + 0.5,
                    yi,
                    f" {fmt(int(ni))}",
                    va="center",
                    ha="left",
                    fontsize=9,
                    gid="file_count",
                )
            )
    ax.set_xlabel("files")
    label_axes(ax, meta, runs=runs)
    return FileStatusArtists(ax=ax, bars=bars, rows=list(order), values=values, notes=notes)
