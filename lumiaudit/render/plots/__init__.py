"""Figures of an audit: runs table (and files / gaps / funnel tables) in, matplotlib Axes out.

Every function takes the tables of :mod:`lumiaudit.schema` and ``ax=None``; it draws on ``ax``
(or on a new figure) and returns the Axes. Nothing here saves or shows a figure: that is the job
of :func:`lumiaudit.store.figures.write_plots`, the notebooks and the CLI.

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

from lumiaudit.render.plots._layout import compress_runs
from lumiaudit.render.plots._style import DRILLDOWN_CATEGORIES, baseline_band, label_axes
from lumiaudit.render.plots.drilldown import plot_run_drilldown
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
