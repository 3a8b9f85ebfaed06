"""The :class:`Audit`: one object tying the stages together for the API, notebooks and CLI.

Example (not a doctest: it counts the bundled example and writes a directory)::

    import lumiaudit
    a = lumiaudit.audit(online="data/example/elog", offline="data/example/prod")
    a.runs[a.runs.flagged]
    print(a.explain(113))
    a.write("reports/my-audit")
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lumiaudit import schema
from lumiaudit._version import __version__
from lumiaudit.errors import ParameterError
from lumiaudit.options import AuditOptions
from lumiaudit.store import audit_dir as _audit_dir
from lumiaudit.store.audit_dir import jsonable as _jsonable
from lumiaudit.store.tables import write_csv

if TYPE_CHECKING:
    from matplotlib.axes import Axes


__all__ = ["TABLES", "Audit", "audit", "write_csv"]

log = logging.getLogger(__name__)

#: attribute name -> CSV file name in an audit directory (defined in lumiaudit.store)
TABLES = _audit_dir.TABLES

Runs = tuple[int, int]  # (experiment, run)


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
        return self.runs[self.runs["flagged"].fillna(False).astype(bool)]

    def run(self, run: int, experiment: int | None = None) -> pd.DataFrame:
        """The runs-table row(s) of one run."""
        sel = self.runs["run"] == run
        if experiment is not None:
            sel &= self.runs["experiment"] == experiment
        return self.runs[sel.fillna(False)]

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
            "experiment_label": self.summary.get("experiment_label", "Belle II"),
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
        """The accounting funnel as a waterfall."""
        from lumiaudit.render import plots

        return plots.plot_funnel(self.funnel, ax=ax, meta=self._meta(), **kwargs)

    def plot_run_drilldown(
        self, run: int, experiment: int | None = None, ax: Axes | None = None, **kwargs: Any
    ) -> Any:
        """HLT unit x file index grid of one run (ok / missing / unreadable / duplicate)."""
        from lumiaudit.render import plots

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
        from lumiaudit.report import audit_html

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
                self, out_dir, kind=kind, plots=plots, formats=formats, inputs=inputs
            )
            return Path(out_dir)
        from lumiaudit.render.tickets import junit_xml
        from lumiaudit.store.atomic import atomic_path, write_text, writes_through

        check_output_file(junit, inputs=inputs, what="--junit")
        if writes_through(Path(junit)):  # /dev/stdout and the like: written, never replaced
            _audit_dir.write_audit(
                self, out_dir, kind=kind, plots=plots, formats=formats, inputs=inputs
            )
            write_text(junit, junit_xml(self.runs))
            return Path(out_dir)
        # the JUnit file is renamed into place only once the directory is: a failed write
        # leaves both the previous directory and the previous JUnit file as they were
        with atomic_path(junit) as tmp:
            tmp.write_text(junit_xml(self.runs), encoding="utf-8")
            _audit_dir.write_audit(
                self, out_dir, kind=kind, plots=plots, formats=formats, inputs=inputs
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


def _digest(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """sha256 of each input file (directories: of the sorted list of file names and sizes)."""
    out: list[dict[str, Any]] = []
    for p in paths:
        text = str(p)
        path = Path(text)
        h = hashlib.sha256()
        if "://" in text or not path.exists():
            out.append({"path": text, "sha256": None})
            continue
        if path.is_dir():
            for sub in sorted(path.rglob("*")):
                if sub.is_file():
                    h.update(f"{sub.relative_to(path)}\0{sub.stat().st_size}\n".encode())
            out.append({"path": text, "sha256": h.hexdigest(), "kind": "directory listing"})
        else:
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            out.append({"path": text, "sha256": h.hexdigest()})
    return out


def _online_digest(inputs: list[str], on: Any) -> list[dict[str, Any]]:
    """:func:`_digest` of the online inputs, URLs without credentials, plus each snapshot."""
    from lumiaudit.online.live import redact_url

    out = _digest([redact_url(p) if "://" in p else p for p in inputs])
    out += [
        {"path": s.url, "sha256": s.sha256, "fetched_at": s.fetched_at, "kind": "snapshot"}
        for s in on.snapshots
    ]
    return out


def _as_paths(value: Any, what: str) -> list[str]:
    if isinstance(value, str | os.PathLike):
        return [os.fspath(value)]
    try:
        paths = [os.fspath(v) for v in value]
    except TypeError as exc:
        msg = f"{what}: expected a path or a list of paths, got {value!r}"
        raise ParameterError(msg) from exc
    if not paths:
        msg = f"{what}: no input given"
        raise ParameterError(msg)
    return paths


def _experiment_label(runs: pd.DataFrame, label: str = "Belle II") -> str:
    exps = sorted({int(e) for e in runs["experiment"].dropna()}) if len(runs) else []
    exp = ", ".join(f"e{e}" for e in exps)
    return f"{label} {exp}".strip()


def _run_range(runs: pd.DataFrame) -> list[int] | None:
    r = runs["run"].dropna()
    return [int(r.min()), int(r.max())] if len(r) else None


def audit(
    online: Any,
    offline: Any,
    *,
    options: AuditOptions | None = None,
    client: Any = None,
    progress: bool = False,
    mapping: Any = None,
    **kwargs: Any,
) -> Audit:
    """Run a whole audit: read online sources, count offline files, reconcile per run.

    Parameters
    ----------
    online
        Paths of online sources (ELOG logbook directories/files/exports, run-database JSON, DAQ
        catalogue CSV, tables), or an :class:`~lumiaudit.online.OnlineResult`.
    offline
        Files, directories, globs, list files or URLs of offline ROOT files, or an
        :class:`~lumiaudit.offline.OfflineResult`.
    options
        The audit's options (:class:`lumiaudit.options.AuditOptions`, where every option below
        is declared once with its default, help text and validation).
    **kwargs
        Any :class:`~lumiaudit.options.AuditOptions` field, overriding ``options`` (or
        building them). ``mask`` may also be a run-list object and ``waivers`` a table (they
        are passed through, not declared).
    tree, mode, jobs, scheduler, client, cache, include_skims, timeout, retries, progress
    allow_empty
        Passed to :func:`lumiaudit.offline.count_events`. ``mode="fast"`` is refused (it
        cannot measure the error-free counts and the run split the comparison needs).
    thresholds
        Statistical thresholds (:class:`lumiaudit.reconcile.stats.Thresholds`).
    non_physics
        Run types that are reported as ``NOT_AUDITED``.
    mask
        A run list (a file in any format of :func:`lumiaudit.runlist_io.read_runlist`: golden
        JSON, GRL XML, basf2 IoVs, JSON, CSV, text; a
        :class:`~lumiaudit.runsets.RunLumiSet`; or ``(experiment, run)`` pairs): audit only
        these runs.
    mask_ls
        A mask run with only some lumisections: ``refuse`` (default: a ConfigError naming the
        runs) or ``whole-runs`` (audited whole; listed in ``summary["mask"]["ls_not_applied"]``
        and logged as a warning). See :mod:`lumiaudit.masks`.
    waivers
        Waivers file (TOML/CSV) or table: waived runs stop failing until the waiver expires.
    policy, online_format, mapping, strict
        Passed to :func:`lumiaudit.online.read_online`.
    experiment, run_range
        Keep only this experiment / runs in ``[first, last]`` (``first <= last``).
    runs
        A :class:`~lumiaudit.runselect.RunSelection` or its text (``"101-124,130,^127"``,
        ``"e12:101-124"``): files whose name gives a run outside it are not opened, and every
        table is restricted to it after counting (grid files by their EventMetaData run).
    experiment_label
        Text for plot labels (default ``Belle II e<N>``).
    production
        Where a run has several productions side by side, audit the one whose path contains
        this (default: the newest); see :func:`lumiaudit.reconcile.reconcile`.
    profile
        A :class:`~lumiaudit.profiles.Profile`, built-in name or TOML path (default
        ``belle2``, today's behaviour): tree and branch names, file-name grammar, run key,
        online mapping, non-physics run types, thresholds, label, lumisections. ``tree``,
        ``mapping``, ``non_physics``, ``thresholds`` and ``experiment_label`` given here
        override it. With a lumisection branch in the profile, online per-lumisection tables
        among ``online`` are compared per (run, LS) (:mod:`lumiaudit.lumis`).
    golden
        A golden JSON (``{"run": [[first_ls, last_ls], ...]}``): lumisections outside it are
        not certified and not audited (profiles with lumisections only).

    Returns
    -------
    Audit

    Raises
    ------
    ParameterError
        If an option is unknown or has a bad value (the message names it), ``run_range`` is not
        a pair of integers with ``first <= last``, ``runs`` is not a valid selection, no input
        is given, or ``mode="fast"``.
    ConfigError
        If the mask file cannot be read, or (``mask_ls="refuse"``) certifies only some
        lumisections of a run; raised before any file is counted.
    """
    from lumiaudit.masks import PARTIAL_LS
    from lumiaudit.offline import OfflineResult, count_events
    from lumiaudit.online import OnlineResult, read_online
    from lumiaudit.profiles import load_profile
    from lumiaudit.reconcile import reconcile
    from lumiaudit.runselect import RunSelection

    # objects that are not declarable options pass by as they are (a run-list object, a
    # waivers table, a Profile or a path); the keyword wins over ``options``
    given: dict[str, Any] = {
        name: kwargs.pop(name) if name in kwargs else getattr(options, name, None)
        for name in ("mask", "waivers", "profile")
    }
    mask, waivers, profile_obj = given["mask"], given["waivers"], given["profile"]
    declared = {
        "profile": profile_obj if isinstance(profile_obj, str) else None,
        "mask": mask if isinstance(mask, str | os.PathLike) else None,
        "waivers": waivers if isinstance(waivers, str | os.PathLike) else None,
    }
    unknown = sorted(set(kwargs) - AuditOptions.names())
    if unknown:
        msg = f"unknown option {unknown[0]!r}"
        raise ParameterError(
            msg,
            hint=f"known: {', '.join(sorted(AuditOptions.names()))}",
        )
    try:
        opts = (options or AuditOptions()).replace(**kwargs, **declared)
    except TypeError as exc:  # pragma: no cover - names are checked above
        raise ParameterError(str(exc)) from None
    tree, mode, jobs, scheduler = opts.tree, opts.mode, opts.jobs, opts.scheduler
    cache, policy, online_format, strict = opts.cache, opts.policy, opts.online_format, opts.strict
    include_skims, experiment, run_range = opts.include_skims, opts.experiment, opts.run_range
    mask_ls, timeout, retries = opts.mask_ls, opts.timeout, opts.retries
    experiment_label, allow_empty, production = (
        opts.experiment_label,
        opts.allow_empty,
        opts.production,
    )
    profile, golden = (profile_obj if profile_obj is not None else opts.profile), opts.golden
    selection = RunSelection.coerce(opts.runs)
    if not isinstance(offline, OfflineResult):
        opts.check_auditable()  # before reading: fast counts cannot be compared (issue 11)
    prof = load_profile(profile)
    if mapping is None and prof.online:
        mapping = prof.mapping()
    non_physics = prof.non_physics if opts.non_physics is None else opts.non_physics
    thresholds = prof.thresholds if opts.thresholds is None else opts.thresholds
    online_ls = None
    if mask_ls not in PARTIAL_LS:
        msg = f"mask_ls: {mask_ls!r} is not one of {', '.join(PARTIAL_LS)}"
        raise ParameterError(msg)
    mask_label = None if mask is None else _label(mask)
    # a mask file is read (and its LS ranges judged) before any file is counted: a bad mask
    # fails in a second, not after an hour of counting
    mask_set: Any = None
    ls_not_applied: list[str] = []
    if mask is not None and not isinstance(mask, pd.DataFrame):
        from lumiaudit.masks import check_lumis
        from lumiaudit.runlist_io import read_runlist
        from lumiaudit.runsets import RunLumiSet

        mask_set = read_runlist(mask) if isinstance(mask, str | os.PathLike) else mask
        if isinstance(mask_set, RunLumiSet):
            src = mask if isinstance(mask, str | os.PathLike) else None
            ls_not_applied = check_lumis(mask_set, partial_ls=mask_ls, source=src)
        else:
            mask_set = None

    if isinstance(online, OnlineResult):
        on = online
        online_inputs: list[str] = []
    else:
        online_inputs = _as_paths(online, "online")
        if prof.lumis is not None:
            from lumiaudit.online.lumis import read_online_split

            on, online_ls = read_online_split(
                online_inputs,
                profile=prof,
                format=online_format,
                mapping=mapping,
                policy=policy,
                strict=strict,
            )
        else:
            on = read_online(
                online_inputs,
                format=online_format,
                mapping=mapping,
                policy=policy,
                strict=strict,
                http=_http_options(timeout, retries),
            )
    if isinstance(offline, OfflineResult):
        off = offline
        offline_inputs: list[str] = []
    else:
        offline_inputs = _as_paths(offline, "offline")
        off = count_events(
            offline_inputs,
            tree=tree,
            mode=mode,
            jobs=jobs,
            scheduler=scheduler,
            client=client,
            cache=cache,
            include_skims=include_skims,
            progress=progress,
            timeout=timeout,
            retries=retries,
            allow_empty=allow_empty,
            runs=selection,
            profile=prof,
        )
    tree = str(off.stats.get("tree", prof.tree if tree is None else tree))

    tables = {
        "online": on.table,
        "online_entries": on.entries,
        "conflicts": on.conflicts,
        "daq_files": on.daq_files,
        "files": off.files,
        "contributions": off.contributions,
        "offline_runs": off.runs,
        "gaps": off.gaps,
    }
    tables = {k: _select(v, experiment=experiment, run_range=run_range) for k, v in tables.items()}
    if selection is not None:
        tables = {k: selection.filter(v) for k, v in tables.items()}
    if mask_set is not None:
        from lumiaudit.masks import mask_keys

        mask = mask_keys(mask_set, [tables["online"], tables["offline_runs"]])
    rec = reconcile(
        online=tables["online"],
        online_entries=tables["online_entries"],
        conflicts=tables["conflicts"],
        daq_files=tables["daq_files"],
        files=tables["files"],
        contributions=tables["contributions"],
        offline_runs=tables["offline_runs"],
        gaps=tables["gaps"],
        thresholds=thresholds,
        non_physics=tuple(non_physics),
        # with lumisections the waivers come after the LS verdict (a waiver may name its reason)
        waivers=None if online_ls is not None else waivers,
        mask=mask,
        formats=getattr(on, "formats", None),
        production=production,
        follows=prof.follows,
    )
    runs = rec.runs
    lumis = None
    if prof.lumis is not None and online_ls is not None:
        from lumiaudit.lumis import audit_lumis, waive

        runs, lumis = audit_lumis(
            runs,
            online_ls=_select(online_ls, experiment=experiment, run_range=run_range),
            files=tables["files"],
            contributions=tables["contributions"],
            profile=prof,
            golden=golden,
            jobs=jobs,
            timeout=timeout,
        )
        runs = waive(runs, waivers, stats=rec.stats)
    files = tables["files"]
    n_bad_files = int(
        (~files["status"].isin([s.value for s in schema.FileStatus if s.readable])).sum()
    )
    status_counts = {str(k): int(v) for k, v in runs["status"].value_counts().items()}
    flagged = runs["flagged"].fillna(False).astype(bool)

    def total(col: str) -> int | None:
        s = runs[col].dropna() if col in runs.columns else pd.Series(dtype="Int64")
        return int(s.sum()) if len(s) else None

    summary: dict[str, Any] = {
        "lumiaudit_version": __version__,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "inputs": {"online": _online_digest(online_inputs, on), "offline": _digest(offline_inputs)},
        "options": {
            # profile and golden only where given: a Belle II audit's summary stays the same
            **{
                k: v
                for k, v in opts.as_dict().items()
                if k not in ("profile", "golden") or (v is not None and prof.name != "belle2")
            },
            # the values in effect where the option's None means "the default"
            "tree": tree,
            "non_physics": list(non_physics),
            "include_skims": include_skims,
            "production": production,
            "experiment": experiment,
            "run_range": list(run_range) if run_range else None,
            "runs": None if selection is None else str(selection),
            "mask": mask_label,
            "mask_ls": mask_ls,
            "waivers": None if waivers is None else _label(waivers),
            # a Belle II audit's summary stays as it was without a profile
            **({} if prof.name == "belle2" else {"profile": prof.name, "key": list(prof.key)}),
        },
        "thresholds": rec.stats.get("thresholds", {}),
        "stats": {k: v for k, v in rec.stats.items() if k != "thresholds"},
        "follows": rec.stats.get("follows"),
        "totals": {
            "runs": len(runs),
            "runs_flagged": int(flagged.sum()),
            "n_online": total("n_online"),
            "n_offline": total("n_offline"),
            "n_offline_full": total("n_offline_full"),
            "files": len(files),
            "files_bad": n_bad_files,
            "online_entries": len(on.entries),
            "online_conflicts": len(on.conflicts),
            "online_problems": len(on.problems),
            "gaps": len(tables["gaps"]),
        },
        "status_counts": status_counts,
        "mask": {"source": mask_label, "ls_not_applied": ls_not_applied},
        "funnel": {
            str(b): _jsonable(e)
            for b, e in zip(rec.funnel["bucket"], rec.funnel["events"], strict=True)
        },
        "experiment_label": experiment_label or _experiment_label(runs, prof.label),
        "run_range": _run_range(runs),
        "flagged_runs": [
            {
                "experiment": _jsonable(r.experiment),
                "run": _jsonable(r.run),
                "status": str(r.status),
                "reasons": str(r.reasons),
            }
            for r in runs[flagged].itertuples()
        ],
    }
    if lumis is not None:
        from lumiaudit.lumis import lumis_summary

        summary["lumis"] = lumis_summary(lumis)
    cache_stats = getattr(off, "stats", None)
    if isinstance(cache_stats, dict):
        summary["offline_stats"] = _jsonable(cache_stats)
    return Audit(
        online=tables["online"],
        online_entries=tables["online_entries"],
        conflicts=tables["conflicts"],
        problems=on.problems,
        daq_files=tables["daq_files"],
        files=files,
        contributions=tables["contributions"],
        gaps=tables["gaps"],
        runs=runs,
        funnel=rec.funnel,
        summary=summary,
        source_defects=rec.source_defects,
        lumis=pd.DataFrame() if lumis is None else lumis,
        snapshots=on.snapshots,
    )


def _http_options(timeout: float | None, retries: int) -> Any:
    """Time bounds of live online reads from the audit's ``timeout``/``retries`` (the same
    knobs bound remote ROOT reads, so one ``--timeout`` bounds every protocol)."""
    if timeout is None:
        return None
    from lumiaudit.online import HttpOptions

    return HttpOptions(
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        retries=retries,
        deadline=max(60.0, timeout * (retries + 1) * 4),
    )


def _signature() -> inspect.Signature:
    """``audit``'s signature with every AuditOptions field as a keyword (help(), IDEs)."""
    import dataclasses

    base = inspect.signature(audit)
    params = [p for p in base.parameters.values() if p.kind is not p.VAR_KEYWORD]
    hints = typing.get_type_hints(AuditOptions)
    for f in dataclasses.fields(AuditOptions):
        params.append(
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name]
            )
        )
    return base.replace(parameters=params)


def _label(value: Any) -> str:
    """A path as text, ``given`` for an object (a table, a run list built in Python)."""
    return str(value) if isinstance(value, str | os.PathLike) else "given"


def _select(
    frame: pd.DataFrame, *, experiment: int | None, run_range: tuple[int, int] | None
) -> pd.DataFrame:
    if len(frame) == 0:
        return frame
    keep = pd.Series(True, index=frame.index)
    if experiment is not None and "experiment" in frame.columns:
        keep &= (frame["experiment"] == experiment).fillna(True)
    if run_range is not None and "run" in frame.columns:
        lo, hi = run_range
        keep &= ((frame["run"] >= lo) & (frame["run"] <= hi)).fillna(True)
    return frame[keep].reset_index(drop=True)


# inspect.signature(audit) and help(audit) show every option, from the one declaration
audit.__signature__ = _signature()  # type: ignore[attr-defined]
