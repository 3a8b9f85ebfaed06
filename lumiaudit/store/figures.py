"""Save every figure of an audit (PNG, SVG, PDF) drawn by :mod:`lumiaudit.render.plots`.

:func:`write_plots` is called by ``Audit.write`` (into ``DIR/plots``) and by the notebooks. File
names are stable so that tickets can refer to them (see :func:`plot_names`):

``diff_vs_run``, ``ratio_vs_run``, ``diff_distribution``, ``ratio_distribution``,
``online_vs_offline``, ``funnel`` (when a funnel table is given), ``funnel_lumi`` (when it has
a known luminosity), ``ratio_vs_time`` (when some run has a start time) and
``drilldown_eEEEE_rRRRRR`` for each flagged run with files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lumiaudit.errors import OutputError, ParameterError
from lumiaudit.render import plots
from lumiaudit.schema import is_missing
from lumiaudit.store.atomic import atomic_path

__all__ = ["FORMATS", "drilldown_name", "plot_names", "write_plots"]

logger = logging.getLogger(__name__)

#: Formats :func:`write_plots` can write.
FORMATS = ("png", "svg", "pdf")

_WIDE = (8.0, 4.5)
_SQUARE = (6.5, 5.5)


def drilldown_name(experiment: object, run: object) -> str:
    """File stem of the drilldown figure of one run, e.g. ``drilldown_e0010_r03020``.

    Examples
    --------
    >>> drilldown_name(10, 3020)
    'drilldown_e0010_r03020'
    """
    exp = "xxxx" if experiment is None or experiment is pd.NA else f"{int(str(experiment)):04d}"
    return f"drilldown_e{exp}_r{int(str(run)):05d}"


def _flagged_runs(runs: pd.DataFrame) -> pd.DataFrame:
    if "flagged" not in runs.columns or runs.empty:
        return runs.iloc[0:0]
    mask = runs["flagged"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return runs[mask]


def plot_names(
    runs: pd.DataFrame,
    *,
    files: pd.DataFrame | None = None,
    funnel: pd.DataFrame | None = None,
    max_drilldowns: int = 20,
) -> list[str]:
    """Return the figure stems :func:`write_plots` makes for these tables, in order.

    Parameters
    ----------
    runs
        Runs table.
    files
        Files table (drilldowns are made for flagged runs that have files).
    funnel
        Funnel table (the ``funnel`` figure is made when it is given and not empty).
    max_drilldowns
        At most this many drilldown figures (flagged runs in table order).

    Returns
    -------
    list of str
    """
    names = [
        "diff_vs_run",
        "ratio_vs_run",
        "diff_distribution",
        "ratio_distribution",
        "online_vs_offline",
    ]
    if funnel is not None and not funnel.empty:
        names.append("funnel")
        if _has_lumi(funnel):
            names.append("funnel_lumi")
    if "start_time" in runs.columns and pd.to_datetime(runs["start_time"], utc=True).notna().any():
        names.append("ratio_vs_time")
    if files is not None and not files.empty and "run" in files.columns:
        have = set(
            zip(
                files.get("experiment", pd.Series(pd.NA, index=files.index)).astype("Int64"),
                files["run"].astype("Int64"),
                strict=True,
            )
        )
        count = 0
        for exp, run in zip(
            _flagged_runs(runs)["experiment"].astype("Int64"),
            _flagged_runs(runs)["run"].astype("Int64"),
            strict=True,
        ):
            if count >= max_drilldowns:
                break
            if (exp, run) in have:
                names.append(drilldown_name(exp, run))
                count += 1
    return names


def _has_lumi(funnel: pd.DataFrame) -> bool:
    """Whether the funnel knows some recorded luminosity (then it is drawn in nb^-1 too)."""
    if "lumi_nb" not in funnel.columns:
        return False
    lumi = pd.to_numeric(funnel["lumi_nb"], errors="coerce")
    return bool((lumi.fillna(0) > 0).any())


def _save(fig: Figure, out_dir: Path, stem: str, formats: Sequence[str], dpi: int) -> list[Path]:
    written = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
        # the layout is solved once; the other formats reuse it (same look, less time)
        fig.set_layout_engine("none")
        written.append(path)
    return written


def write_plots(
    *,
    runs: pd.DataFrame,
    files: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
    funnel: pd.DataFrame | None = None,
    out_dir: str | os.PathLike[str],
    formats: Iterable[str] = FORMATS,
    dpi: int = 150,
    meta: Mapping[str, Any] | None = None,
    max_drilldowns: int = 20,
) -> list[Path]:
    """Draw every figure of an audit and save it in each format; return the paths written.

    Parameters
    ----------
    runs
        Runs table (``schema.RUNS`` plus extras).
    files, gaps, funnel
        Files, gaps and funnel (``bucket, events, runs``) tables; figures that need a missing
        table are skipped.
    out_dir
        Directory to write into (created if needed).
    formats
        Any of ``png``, ``svg``, ``pdf``.
    dpi
        Resolution of raster output (PNG); at least 150 is recommended for tickets.
    meta
        Figure label: ``experiment_label``, ``run_range``, ``date``, ``version`` (see
        :func:`lumiaudit.render.plots.label_axes`).
    max_drilldowns
        At most this many per-run drilldown figures.

    Returns
    -------
    list of pathlib.Path
        Files written, figure by figure, formats in the order given.

    Raises
    ------
    ParameterError
        For an unknown format.
    OutputError
        When the directory or a file cannot be written.
    """
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        msg = f"unknown plot format(s) {unknown}; choose from {list(FORMATS)}"
        raise ParameterError(msg)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create plot directory: {exc.strerror or exc}"
        raise OutputError(msg, path=out) from exc

    draw: dict[str, tuple[tuple[float, float], Callable[[Axes], object]]] = {
        "diff_vs_run": (_WIDE, lambda ax: plots.plot_diff_vs_run(runs, ax=ax, meta=meta)),
        "ratio_vs_run": (_WIDE, lambda ax: plots.plot_ratio_vs_run(runs, ax=ax, meta=meta)),
        "diff_distribution": (
            _WIDE,
            lambda ax: plots.plot_diff_distribution(runs, ax=ax, meta=meta),
        ),
        "ratio_distribution": (
            _WIDE,
            lambda ax: plots.plot_ratio_distribution(runs, ax=ax, meta=meta),
        ),
        "online_vs_offline": (
            _SQUARE,
            lambda ax: plots.plot_online_vs_offline(runs, ax=ax, meta=meta),
        ),
        "ratio_vs_time": (_WIDE, lambda ax: plots.plot_ratio_vs_time(runs, ax=ax, meta=meta)),
    }
    if funnel is not None:
        draw["funnel"] = (
            _WIDE,
            lambda ax: plots.plot_funnel(funnel, runs=runs, ax=ax, meta=meta),
        )
        draw["funnel_lumi"] = (
            _WIDE,
            lambda ax: plots.plot_funnel(funnel, runs=runs, ax=ax, meta=meta, unit="lumi"),
        )
    drill: dict[str, tuple[int | None, int]] = {}
    for exp, run in zip(
        runs["experiment"].astype("Int64"), runs["run"].astype("Int64"), strict=True
    ):
        if not pd.isna(run):
            drill.setdefault(
                drilldown_name(exp, run), (None if is_missing(exp) else int(exp), int(run))
            )

    written: list[Path] = []
    for stem in plot_names(runs, files=files, funnel=funnel, max_drilldowns=max_drilldowns):
        fig: Figure
        if stem in drill:
            drill_exp, drill_run = drill[stem]
            fig = Figure(figsize=_WIDE, layout="constrained")
            plots.plot_run_drilldown(
                files if files is not None else pd.DataFrame(),
                gaps,
                drill_run,
                runs=runs,
                experiment=drill_exp,
                ax=fig.add_subplot(),
                meta=meta,
            )
        else:
            size, func = draw[stem]
            fig = Figure(figsize=size, layout="constrained")
            func(fig.add_subplot())
        written += _save(fig, out, stem, formats, dpi)
        fig.clear()
        logger.debug("wrote %s in %s", stem, formats)
    return written
