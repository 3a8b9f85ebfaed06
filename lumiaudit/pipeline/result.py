"""The :class:`Audit`: one object tying the stages together for the API, notebooks and CLI.

Example (not a doctest: it counts the bundled example and writes a directory)::

    import lumiaudit
    a = lumiaudit.audit(online="data/example/elog", offline="data/example/prod")
    a.runs[a.runs.flagged]
    print(a.explain(113))
    a.write("reports/my-audit")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lumiaudit import schema
from lumiaudit._version import __version__
from lumiaudit.store import audit_dir as _audit_dir

if TYPE_CHECKING:
    from matplotlib.axes import Axes


__all__ = ["TABLES", "Audit"]

#: attribute name -> CSV file name in an audit directory (defined in lumiaudit.store)
TABLES = _audit_dir.TABLES


@dataclass
class Audit:
    """The result of one audit: every table, the summary, and views on them.

    Attributes
    ----------
    online, online_entries, conflicts, problems, daq_files
        Online side (see :func:`lumiaudit.online.read_online`).
    files, contributions, gaps
        Offline side (see :func:`lumiaudit.offline.count_events`).
    runs
        One row per (experiment, run): counts, difference, ratio, statistics, status, reasons.
    funnel
        Accounting funnel (``bucket, events, runs``); the buckets add up to the online total.
    summary
        Totals, thresholds, versions and input digests (written as ``summary.json``).
    source_defects
        Online sources that are the odd one out of a run (``lumiaudit.reconcile.witnesses``).
    """

    online: pd.DataFrame
    online_entries: pd.DataFrame
    conflicts: pd.DataFrame
    problems: pd.DataFrame
    daq_files: pd.DataFrame
    files: pd.DataFrame
    contributions: pd.DataFrame
    gaps: pd.DataFrame
    runs: pd.DataFrame
    funnel: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    source_defects: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Per (run, lumisection) comparison (:mod:`lumiaudit.lumis`); empty without lumisections.
    lumis: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Response bodies of live online sources (:class:`lumiaudit.online.Snapshot`), written to
    #: ``online_snapshots/`` so the audit can be rerun offline (``--online DIR``).
    snapshots: tuple[Any, ...] = ()

    # ------------------------------------------------------------------ views
    @property
    def flagged(self) -> pd.DataFrame:
        """Runs that need a look (``flagged`` is True)."""
        return schema.flagged(self.runs)

    def run(self, run: int, experiment: int | None = None) -> pd.DataFrame:
        """The runs-table row(s) of one run."""
        return schema.select_run(self.runs, run, experiment)

    def explain(self, run: int, experiment: int | None = None) -> str:
        """The evidence for one run, in plain words (what ``lumiaudit explain`` prints).

        ``experiment`` may be <NA> (a run-only key's runs table row): it is then not used.
        """
        from lumiaudit.render.text import explain_run

        exp = None if experiment is None or pd.isna(experiment) else int(experiment)
        text = explain_run(self.tables(), run, experiment=exp)
        if len(self.lumis):
            from lumiaudit.lumis import explain_lumis

            text += explain_lumis(self.lumis, run)
        return text

    def tables(self) -> dict[str, pd.DataFrame]:
        """All tables by name."""
        return {name: getattr(self, name) for name in TABLES}

    # ------------------------------------------------------------------ plots
    def _meta(self) -> dict[str, Any]:
        return {
            # an audit stored without a label: the plots name the data's experiments, never
            # a guessed "Belle II"
            "experiment_label": self.summary.get("experiment_label"),
            "run_range": self.summary.get("run_range"),
            "date": self.summary.get("created", "")[:10],
            "version": __version__,
        }

    def _plot(self, name: str, ax: Axes | None, **kwargs: Any) -> Any:
        from lumiaudit.render import plots

        func = getattr(plots, name)
        return func(self.runs, ax=ax, meta=self._meta(), **kwargs)

    def plot_diff_vs_run(self, ax: Axes | None = None, **kwargs: Any) -> Any:
        """Online - offline against run number: :func:`lumiaudit.render.plots.plot_diff_vs_run`."""
        return self._plot("plot_diff_vs_run", ax, **kwargs)

    def plot_ratio_vs_run(self, ax: Axes | None = None, **kwargs: Any) -> Any:
        """Online / offline against run number."""
        return self._plot("plot_ratio_vs_run", ax, **kwargs)

    def plot_diff_distribution(self, ax: Axes | None = None, **kwargs: Any) -> Any:
        """Distribution of the difference (log scale)."""
        return self._plot("plot_diff_distribution", ax, **kwargs)

    def plot_ratio_distribution(self, ax: Axes | None = None, **kwargs: Any) -> Any:
        """Distribution of the ratio (log scale)."""
        return self._plot("plot_ratio_distribution", ax, **kwargs)

    def plot_online_vs_offline(self, ax: Axes | None = None, **kwargs: Any) -> Any:
        """Online against offline, log-log, with the identity line."""
        return self._plot("plot_online_vs_offline", ax, **kwargs)

    def plot_ratio_vs_time(self, ax: Axes | None = None, **kwargs: Any) -> Any:
        """Ratio against run start time."""
        return self._plot("plot_ratio_vs_time", ax, **kwargs)

    def plot_funnel(self, ax: Axes | None = None, **kwargs: Any) -> Any:
        """The funnel of the audited runs: :func:`lumiaudit.render.plots.plot_funnel`.

        The runs table is passed, so that the offline events of runs without an online count
        are shown apart; ``unit="lumi"`` draws it in recorded luminosity.
        """
        from lumiaudit.render import plots

        kwargs.setdefault("runs", self.runs)
        return plots.plot_funnel(self.funnel, ax=ax, meta=self._meta(), **kwargs)

    def plot_file_status(self, ax: Axes | None = None, **kwargs: Any) -> Any:
        """Files per health status (log axis): :func:`lumiaudit.render.plots.plot_file_status`."""
        from lumiaudit.render import plots

        kwargs.setdefault("runs", self.runs)
        return plots.plot_file_status(self.files, ax=ax, meta=self._meta(), **kwargs)

    def plot_run_drilldown(
        self, run: int, experiment: int | None = None, ax: Axes | None = None, **kwargs: Any
    ) -> Any:
        """HLT unit x file index grid of one run, titled with its counts (``DrilldownArtists``)."""
        from lumiaudit.render import plots

        kwargs.setdefault("runs", self.runs)
        return plots.plot_run_drilldown(
            self.files,
            self.gaps,
            run=run,
            experiment=experiment,
            ax=ax,
            meta=self._meta(),
            **kwargs,
        )

    def _repr_html_(self) -> str:
        from lumiaudit.render.html import audit_html

        return audit_html(self)

    def __repr__(self) -> str:
        t = self.summary.get("totals", {})
        return (
            f"<Audit {t.get('runs', len(self.runs))} runs, "
            f"{t.get('runs_flagged', len(self.flagged))} flagged, "
            f"{t.get('files', len(self.files))} files>"
        )

    # ------------------------------------------------------------------ I/O
    def write(
        self,
        out_dir: str | os.PathLike[str],
        *,
        plots: bool = True,
        formats: Sequence[str] = ("png", "svg", "pdf"),
        junit: str | os.PathLike[str] | None = None,
        kind: str = "audit",
        table_format: str | None = None,
    ) -> Path:
        """Write the audit directory (CSV tables, summary, run lists, plots).

        Everything is written into a temporary directory beside ``out_dir`` and swapped in
        when complete (:mod:`lumiaudit.store.outdir`): an existing ``out_dir`` is replaced
        only if it is empty or a lumiaudit audit (``.lumiaudit`` marker), never if it is, holds
        or lies inside an input, and a failed write leaves it as it was.

        Parameters
        ----------
        out_dir
            The audit directory.
        plots, formats
            Write ``plots/`` in these formats.
        junit
            Also write JUnit XML (one testcase per run) to this file.
        kind
            Marker kind: ``audit`` or ``demo``.
        table_format
            ``csv`` or ``parquet`` (default: the audit's ``table_format`` option, else ``csv``).

        Raises
        ------
        OutputRefusedError
            ``out_dir`` (or ``junit``) may not be written; nothing is written.
        OutputError
            If the directory cannot be written (permissions, disk full).
        """
        from lumiaudit.store.outdir import check_output_file

        inputs = _audit_dir.audit_inputs(self.summary)
        if junit is None:
            _audit_dir.write_audit(
                self,
                out_dir,
                kind=kind,
                plots=plots,
                formats=formats,
                inputs=inputs,
                table_format=table_format,
            )
            return Path(out_dir)
        from lumiaudit.render.tickets import junit_xml
        from lumiaudit.store.atomic import atomic_path, write_text, writes_through

        check_output_file(junit, inputs=inputs, what="--junit")
        if writes_through(Path(junit)):  # /dev/stdout and the like: written, never replaced
            _audit_dir.write_audit(
                self,
                out_dir,
                kind=kind,
                plots=plots,
                formats=formats,
                inputs=inputs,
                table_format=table_format,
            )
            write_text(junit, junit_xml(self.runs))
            return Path(out_dir)
        # the JUnit file is renamed into place only once the directory is: a failed write
        # leaves both the previous directory and the previous JUnit file as they were
        with atomic_path(junit) as tmp:
            tmp.write_text(junit_xml(self.runs), encoding="utf-8")
            _audit_dir.write_audit(
                self,
                out_dir,
                kind=kind,
                plots=plots,
                formats=formats,
                inputs=inputs,
                table_format=table_format,
            )
        return Path(out_dir)

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> Audit:
        """Read an audit directory written by :meth:`write` (or ``lumiaudit audit``).

        Every column comes back with the dtype it was written with (``tables.json``).

        Raises
        ------
        InputNotFoundError
            If the directory or its ``runs.csv`` does not exist.
        AuditDirError
            If a table or ``summary.json`` is damaged (cut, garbled, not UTF-8); the message
            names the file and the cause.
        """
        tables: dict[str, Any] = dict(_audit_dir.read_tables(out_dir))
        lumis = _audit_dir.read_optional_table(out_dir, "lumis.csv")
        if lumis is not None:
            tables["lumis"] = lumis
        return cls(summary=_audit_dir.read_summary(out_dir), **tables)
