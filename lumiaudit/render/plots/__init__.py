"""Figures of an audit: runs table (and files / gaps / funnel tables) in, artists out.

Every function takes the tables of :mod:`lumiaudit.schema` and ``ax=None``; it draws on ``ax``
(or on a new figure) and returns a NamedTuple of the artists it drew (``RunPlotArtists``,
``DistributionArtists``, ``ScatterArtists``, ``FunnelArtists``, ``DrilldownArtists``,
``FileStatusArtists``), as
``hist`` does; ``.ax`` is the Axes. Nothing here saves or shows a figure: that is the job of
:func:`lumiaudit.store.figures.write_plots`, the notebooks and the CLI.

Conventions shared by all plots (see ``docs/plots.md``):

- Flagged runs are red and labelled ``run`` + reason codes; at most ``max_labels`` labels are
  drawn, severity first, then events at stake; an unexplained run of severity fail is always
  labelled. Labels are kept apart by adjustText; the rest are counted in ``+N more flagged``.
- The baseline and band drawn are the stored per-run columns of the outlier test
  (``schema.BAND_COLUMNS``), never a median recomputed in the plot.
- Difference axes are symmetric-log, ratio axes logarithmic in ``|ratio - 1|``, histograms
  have a bin of exact agreement, the funnel is on a log axis: small losses stay visible.
- Missing values are never drawn as zero: runs without an online or an offline count sit on a
  grey strip at the bottom of the axes ("no online", "no offline", "not audited"), or are
  counted in a note when the plot has no place for them.
- The experiment label (mplhep, ``data=True``; the profile's label, else the data's
  experiments), run range, luminosity, date and lumiaudit version are written above the axes
  by :func:`label_axes`.

Artists also carry a ``gid`` (``runs_ok``, ``runs_flagged``, ``band``, ``flag_label``, ...).
"""

from __future__ import annotations

from lumiaudit.render.plots._artists import (
    DistributionArtists,
    DrilldownArtists,
    FileStatusArtists,
    FunnelArtists,
    Labels,
    RunPlotArtists,
    ScatterArtists,
)
from lumiaudit.render.plots._layout import compress_runs
from lumiaudit.render.plots._style import DRILLDOWN_CATEGORIES, label_axes
from lumiaudit.render.plots._xy import DIFF_LINEAR, RATIO_LINEAR
from lumiaudit.render.plots.drilldown import plot_run_drilldown, run_title
from lumiaudit.render.plots.files import plot_file_status
from lumiaudit.render.plots.funnel import plot_funnel
from lumiaudit.render.plots.runs import (
    plot_diff_distribution,
    plot_diff_vs_run,
    plot_ratio_distribution,
    plot_ratio_vs_run,
    plot_ratio_vs_time,
)
from lumiaudit.render.plots.scatter import plot_online_vs_offline

__all__ = [
    "DIFF_LINEAR",
    "DRILLDOWN_CATEGORIES",
    "RATIO_LINEAR",
    "DistributionArtists",
    "DrilldownArtists",
    "FileStatusArtists",
    "FunnelArtists",
    "Labels",
    "RunPlotArtists",
    "ScatterArtists",
    "compress_runs",
    "label_axes",
    "plot_diff_distribution",
    "plot_diff_vs_run",
    "plot_file_status",
    "plot_funnel",
    "plot_online_vs_offline",
    "plot_ratio_distribution",
    "plot_ratio_vs_run",
    "plot_ratio_vs_time",
    "plot_run_drilldown",
    "run_title",
]
