"""The experiment label and the right-hand header never overlap (issue 16), measured on drawn
figures at the sizes the report and the standalone pictures use."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from lumiaudit.notebooks import plotted_grid
from lumiaudit.render import plots
from lumiaudit.render.plots import _style
from lumiaudit.schema import FILES, RUNS, enforce

#: the bundled example's label and header: the longest the report shows
META = {
    "experiment_label": "Belle II e12",
    "run_range": [101, 124],
    "lumi_nb": 160_000.0,
    "date": "2026-12-02",
    "version": "0.1.0",
}
GRID = ["diff_vs_run", "ratio_vs_run", "diff_distribution", "ratio_distribution"]


def _runs() -> pd.DataFrame:
    on = [10_000, 10_000, 10_252, 9_400, 12_000, 10_000]
    off = [10_000, 10_000, 10_000, 10_000, 10_000, 10_000]
    n = len(on)
    return enforce(
        {
            "experiment": [12] * n,
            "run": list(range(101, 101 + n)),
            "run_type": ["physics"] * n,
            "n_online": on,
            "n_offline": off,
            "n_offline_def": off,
            "diff": [a - b for a, b in zip(on, off, strict=True)],
            "ratio": [a / b for a, b in zip(on, off, strict=True)],
            "status": ["OK" if a == b else "DEFICIT" for a, b in zip(on, off, strict=True)],
            "flagged": [a != b for a, b in zip(on, off, strict=True)],
            "reasons": [pd.NA if a == b else "unexplained" for a, b in zip(on, off, strict=True)],
            "severity": [pd.NA if a == b else "fail" for a, b in zip(on, off, strict=True)],
        },
        RUNS,
    )


def _files() -> pd.DataFrame:
    return enforce(
        {
            "path": ["a.root", "b.root"],
            "experiment": [12, 12],
            "run": [103, 103],
            "hlt_unit": [1, 2],
            "file_index": [0, 0],
            "n_entries": [10_000, pd.NA],
            "status": ["ok", "truncated"],
        },
        FILES,
    )


def _audit(meta: dict[str, Any]) -> SimpleNamespace:
    """What plotted_grid needs of an Audit: its plot_* methods."""
    runs = _runs()
    return SimpleNamespace(
        **{
            f"plot_{name}": functools.partial(getattr(plots, f"plot_{name}"), runs, meta=meta)
            for name in GRID
        }
    )


def _label_and_header(ax: Axes) -> tuple[Text, Text]:
    header = next(t for t in ax.texts if "lumiaudit 0.1.0" in t.get_text())
    exp = next(
        t for t in ax.texts if t is not header and t.get_text().startswith(("Belle II", "e12"))
    )
    return exp, header


def _clashes(fig: Figure) -> list[str]:
    """Axes whose experiment label and header intersect, after a full draw."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        exp, header = _label_and_header(ax)
        a, b = exp.get_window_extent(renderer), header.get_window_extent(renderer)
        assert a.width > 0
        assert b.width > 0
        if a.overlaps(b):
            out.append(f"{exp.get_text()!r} {a.bounds} and {header.get_text()!r} {b.bounds}")
    return out


def _grid(meta: dict[str, Any] = META) -> Figure:
    fig: Figure = plotted_grid(_audit(meta), GRID, figsize=(14, 10))
    return fig


def _single(draw: Callable[[Axes], object], size: tuple[float, float]) -> Figure:
    """The standalone pictures (store.figures) and the notebooks' single plots."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig.add_subplot())
    return fig


SINGLES = {
    "diff_vs_run standalone": (
        lambda ax: plots.plot_diff_vs_run(_runs(), ax=ax, meta=META),
        (8.0, 4.5),
    ),
    "ratio_vs_run notebook": (
        lambda ax: plots.plot_ratio_vs_run(_runs(), ax=ax, meta=META),
        (10.0, 5.0),
    ),
    "online_vs_offline notebook": (
        lambda ax: plots.plot_online_vs_offline(_runs(), ax=ax, meta=META),
        (7.0, 6.0),
    ),
    "drilldown standalone": (
        lambda ax: plots.plot_run_drilldown(
            _files(), None, 103, runs=_runs(), experiment=12, ax=ax, meta=META
        ),
        (8.0, 4.5),
    ),
    "drilldown notebook": (
        lambda ax: plots.plot_run_drilldown(
            _files(), None, 103, runs=_runs(), experiment=12, ax=ax, meta=META
        ),
        (10.0, 4.0),
    ),
}


def test_the_report_grid_overlapped_without_the_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    # the measurement below can fail: without the fit the grid's labels collide (issue 16)
    monkeypatch.setattr(_style._HeaderFit, "fit", lambda self, renderer: None)
    fig = _grid()
    try:
        assert len(_clashes(fig)) == len(GRID)
    finally:
        plt.close(fig)


def test_label_and_header_clear_in_the_report_grid() -> None:
    fig = _grid()
    try:
        assert _clashes(fig) == []
        for ax in fig.axes:
            # nothing is dropped from the header, and it stays inside the figure
            _, header = _label_and_header(ax)
            assert header.get_text().replace("\n", " · ") == (
                "runs 101–124 · 160 pb⁻¹ recorded · 2026-12-02 · lumiaudit 0.1.0"
            )
            box = header.get_window_extent(fig.canvas.get_renderer())
            assert box.x1 <= fig.bbox.x1
            assert box.y1 <= fig.bbox.y1
    finally:
        plt.close(fig)


@pytest.mark.parametrize("name", list(SINGLES))
def test_label_and_header_clear_at_the_single_sizes(name: str) -> None:
    draw, size = SINGLES[name]
    fig = _single(draw, size)
    try:
        assert _clashes(fig) == []
    finally:
        plt.close(fig)


def test_a_long_label_in_a_narrow_axes_gets_a_two_line_header() -> None:
    meta = {**META, "experiment_label": "Belle II e12, e14, e16"}
    fig = _single(lambda ax: plots.plot_diff_vs_run(_runs(), ax=ax, meta=meta), (6.0, 4.0))
    try:
        assert _clashes(fig) == []
        _, header = _label_and_header(fig.axes[0])
        assert "\n" in header.get_text()
    finally:
        plt.close(fig)
