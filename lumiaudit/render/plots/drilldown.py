"""The HLT unit x file index grid of one run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.patches import Patch, Rectangle

from lumiaudit.numbers import fmt
from lumiaudit.render.plots._artists import DrilldownArtists
from lumiaudit.render.plots._style import _UNREADABLE, DRILLDOWN_CATEGORIES, _new_axes, label_axes
from lumiaudit.schema import FileStatus, is_missing


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


def _reasons_text(row: pd.Series | None) -> str:
    """``unreadable_file (252 events), error_flag_events (79 events)``, or the status."""
    if row is None:
        return ""
    amounts = row.get("reason_events")
    if isinstance(amounts, str) and amounts:
        parts = []
        for part in amounts.split(";"):
            code, _, value = part.partition("=")
            parts.append(f"{code} ({fmt(value, 'count')} events)" if value else code)
        return ", ".join(parts)
    reasons = row.get("reasons")
    if isinstance(reasons, str) and reasons:
        return ", ".join(reasons.split(";"))
    status = row.get("status")
    return "" if is_missing(status) else str(status).lower()


def run_title(runs: pd.DataFrame | None, run: int, experiment: int | None = None) -> str:
    """One line about a run: its counts, difference and reasons (the drilldown's title).

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"experiment": [12], "run": [105], "n_online": [1601],
    ...     "n_offline_def": [1349], "diff": [252], "reasons": ["unreadable_file"],
    ...     "reason_events": ["unreadable_file=252"]})
    >>> run_title(runs, 105, 12)
    'e12 r105: online 1,601 − offline 1,349 = +252 · unreadable_file (252 events)'
    """
    head = f"e{experiment} r{run}" if experiment is not None else f"run {run}"
    row = None
    if runs is not None and len(runs) and "run" in runs.columns:
        sel = runs["run"].astype("Int64") == run
        if experiment is not None and "experiment" in runs.columns:
            sel &= runs["experiment"].astype("Int64") == experiment
        mine = runs[sel.fillna(False).to_numpy(dtype=bool)]
        row = mine.iloc[0] if len(mine) else None
    if row is None:
        return head
    offline = row.get("n_offline_def", row.get("n_offline"))
    counts = (
        f"online {fmt(row.get('n_online'), 'count')} − offline {fmt(offline, 'count')}"
        f" = {fmt(row.get('diff'), 'signed')}"
    )
    reasons = _reasons_text(row)
    return f"{head}: {counts}" + (f" · {reasons}" if reasons else "")


def plot_run_drilldown(
    files: pd.DataFrame,
    gaps: pd.DataFrame | None,
    run: int,
    *,
    runs: pd.DataFrame | None = None,
    experiment: int | None = None,
    ax: Axes | None = None,
    meta: Mapping[str, Any] | None = None,
    annotate_entries: bool = True,
) -> DrilldownArtists:
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
    runs
        Runs table: the title gives the run's counts, difference and reasons from it
        (:func:`run_title`).
    experiment
        Restrict to this experiment (needed when run numbers repeat across experiments).
    ax, meta
        As in :func:`plot_diff_vs_run`.
    annotate_entries
        Write the entries of each file in its cell when the grid is small (<= 40 cells).

    Returns
    -------
    DrilldownArtists
        The cell collections by category, the cell texts, the title and the legend.
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
    collections: dict[str, PatchCollection] = {}
    cell_texts = []
    for cat, (color, hatch) in DRILLDOWN_CATEGORIES.items():
        keys = [key for key, c in cells.items() if c == cat]
        counts[cat] = len(keys)
        rects = [Rectangle((i - 0.45, row_of[u] - 0.45), 0.9, 0.9) for u, i in keys]
        coll = PatchCollection(
            rects, facecolor=color, edgecolor="0.25", hatch=hatch or None, linewidth=0.8, gid=cat
        )
        ax.add_collection(coll)
        collections[cat] = coll
    small = len(cells) <= 40 and annotate_entries
    for key, cat in cells.items():
        u, i = key
        text = fmt(entries[key]) if small and key in entries else ""
        if small and cat == "unreadable" and key in statuses:
            text = statuses[key]
        if copies.get(key, 0) > 1:
            text = (text + "\n" if text else "") + f"×{copies[key]}"
        if text:
            cell_texts.append(
                ax.text(
                    i,
                    row_of[u],
                    text,
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if cat in ("unreadable", "duplicate") else "black",
                )
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
    legend = None
    if handles:
        legend = ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False
        )
    exp_text = f"e{experiment} " if experiment is not None else ""
    xlabel = f"file index (fNNNNN)  ·  {len(mine)} files"
    notes = []
    if loose:
        notes.append(f"+{loose} file(s) without HLT unit/index")
    if unknown_units:
        notes.append(f"{unknown_units} missing HLT unit(s) of unknown number")
    if not cells:
        notes.append("no files with HLT unit/index")
    if notes:
        xlabel += " (" + "; ".join(notes) + ")"
    ax.set_xlabel(xlabel)
    run_meta = dict(meta or {})
    run_meta["run_range"] = f"{exp_text}run {run}"
    label_axes(ax, run_meta)
    title = ax.set_title(
        run_title(runs, run, experiment), loc="left", fontsize=9, pad=22, color="0.1"
    )
    return DrilldownArtists(ax, collections, cell_texts, title, legend)
