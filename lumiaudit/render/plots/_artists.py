"""What each plot function returns: a NamedTuple of the artists it drew (as ``hist`` does).

A notebook can restyle one element (``art.band.set_alpha(0.3)``), a test can check what was
drawn (``art.labels[0].get_text()``) without searching the Axes by ``gid``. Elements a plot did
not draw (no flagged run, no stored band) are ``None`` or empty lists, never placeholders.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from matplotlib.axes import Axes
from matplotlib.collections import Collection, PatchCollection, PathCollection
from matplotlib.container import BarContainer
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

__all__ = [
    "DistributionArtists",
    "DrilldownArtists",
    "FileStatusArtists",
    "FunnelArtists",
    "Labels",
    "RunPlotArtists",
    "ScatterArtists",
]


class Labels(NamedTuple):
    """The run labels of a plot and their leader lines."""

    #: One text per labelled run (``run`` and its reasons), in priority order.
    texts: list[Text]
    #: Leader lines from a label to its point (a label next to its point has none).
    leaders: list[Any]
    #: The ``+N more flagged`` note, when some flagged runs are not labelled.
    more: Text | None


class RunPlotArtists(NamedTuple):
    """Artists of :func:`~lumiaudit.render.plots.plot_diff_vs_run` and its siblings."""

    ax: Axes
    #: Compared runs that are not flagged.
    points: PathCollection
    #: Flagged compared runs.
    flagged: PathCollection
    #: The stored per-run baseline (``baseline`` or ``diff_baseline``), None when not stored.
    baseline: Line2D | None
    #: The stored per-run band (``band_low/high`` or ``diff_band_low/high``), or None.
    band: Collection | None
    #: The nominal value (ratio 1, difference 0).
    nominal: Line2D
    #: Runs without a value, by strip row (``no_online``, ``no_offline``, ``not_audited``).
    strip: dict[str, PathCollection]
    labels: Labels
    legend: Legend | None
    #: Notes written on the plot (runs not shown, band not stored, ...).
    notes: list[Text]


class DistributionArtists(NamedTuple):
    """Artists of the ratio and difference histograms."""

    ax: Axes
    #: The histogram patches (one per filled bin run), from :meth:`Axes.hist`.
    hist: list[Patch]
    #: Bin edges used (in data units).
    edges: list[float]
    #: Bin contents.
    counts: list[float]
    #: Markers of the flagged runs above the histogram.
    flagged: PathCollection
    labels: Labels
    legend: Legend | None
    notes: list[Text]


class ScatterArtists(NamedTuple):
    """Artists of :func:`~lumiaudit.render.plots.plot_online_vs_offline`."""

    ax: Axes
    points: PathCollection
    flagged: PathCollection
    identity: Line2D
    #: Runs with one count only, on the strips (``no_online``, ``no_offline``, ``not_audited``).
    strip: dict[str, PathCollection]
    labels: Labels
    legend: Legend | None
    notes: list[Text]


class FunnelArtists(NamedTuple):
    """Artists of :func:`~lumiaudit.render.plots.plot_funnel`."""

    ax: Axes
    #: Bars of the audited runs' funnel: total, each non-empty bucket, matched.
    bars: BarContainer
    #: Bars shown apart: non-physics runs, offline events of runs without an online count.
    apart: BarContainer | None
    #: Row names, top to bottom (``audited online``, buckets, ``matched``, then the apart rows).
    rows: list[str]
    #: The value text beside each bar, in row order.
    values: list[Text]
    #: ``events`` or ``lumi`` (nb^-1).
    unit: str
    notes: list[Text]


class DrilldownArtists(NamedTuple):
    """Artists of :func:`~lumiaudit.render.plots.plot_run_drilldown`."""

    ax: Axes
    #: One collection of cells per category of :data:`DRILLDOWN_CATEGORIES`.
    cells: dict[str, PatchCollection]
    #: Texts written in the cells (entries, status, ``×2``).
    cell_texts: list[Text]
    #: The title: the run's counts, difference and reasons.
    title: Text
    legend: Legend | None


class FileStatusArtists(NamedTuple):
    """Artists of :func:`~lumiaudit.render.plots.plot_file_status`."""

    ax: Axes
    #: One bar per status (None when there is no file).
    bars: BarContainer | None
    #: The statuses, top to bottom.
    rows: list[str]
    #: The count written beside each bar, in row order.
    values: list[Text]
    notes: list[Text]
