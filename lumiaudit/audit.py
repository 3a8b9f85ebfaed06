"""The :class:`Audit`: one object tying the stages together for the API, notebooks and CLI.

>>> import lumiaudit
>>> a = lumiaudit.audit(online="data/example/elog", offline="data/example/prod")  # doctest: +SKIP
>>> a.runs[a.runs.flagged]  # doctest: +SKIP
>>> print(a.explain(113))  # doctest: +SKIP
>>> a.write("reports/my-audit")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import operator
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lumiaudit import schema
from lumiaudit._version import __version__
from lumiaudit.errors import AuditDirError, InputNotFoundError, OutputError, ParameterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lumiaudit.stats import Thresholds

__all__ = ["TABLES", "Audit", "audit", "write_csv"]

log = logging.getLogger(__name__)

#: attribute name -> CSV file name in an audit directory
TABLES: dict[str, str] = {
    "online": "online.csv",
    "online_entries": "online_entries.csv",
    "conflicts": "conflicts.csv",
    "problems": "problems.csv",
    "daq_files": "daq_files.csv",
    "files": "files.csv",
    "contributions": "contributions.csv",
    "gaps": "gaps.csv",
    "runs": "runs.csv",
    "funnel": "funnel.csv",
}

#: canonical schema per table, used to restore dtypes when an audit directory is loaded
_SCHEMAS: dict[str, schema.Table] = {
    "online": schema.ONLINE,
    "online_entries": schema.ONLINE,
    "conflicts": schema.CONFLICTS,
    "problems": schema.PROBLEMS,
    "files": schema.FILES,
    "contributions": schema.CONTRIBUTIONS,
    "gaps": schema.GAPS,
    "runs": schema.RUNS,
}

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
        """The evidence for one run, in plain words (what ``lumiaudit explain`` prints)."""
        from lumiaudit.explain import explain_run

        return explain_run(self.tables(), run, experiment=experiment)

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
        from lumiaudit import plots

        func = getattr(plots, name)
        return func(self.runs, ax=ax, meta=self._meta(), **kwargs)

    def plot_diff_vs_run(self, ax: Axes | None = None, **kwargs: Any) -> Any:
        """Online - offline against run number (see :func:`lumiaudit.plots.plot_diff_vs_run`)."""
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
        from lumiaudit import plots

        return plots.plot_funnel(self.funnel, ax=ax, meta=self._meta(), **kwargs)

    def plot_run_drilldown(
        self, run: int, experiment: int | None = None, ax: Axes | None = None, **kwargs: Any
    ) -> Any:
        """HLT unit x file index grid of one run (ok / missing / unreadable / duplicate)."""
        from lumiaudit import plots

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
    ) -> Path:
        """Write the audit directory (CSV tables, summary, run lists, plots).

        Everything is written into a temporary directory beside ``out_dir`` and moved into
        place at the end, so an interrupted or failed write never leaves a half-written
        report behind (an existing report is replaced only when the new one is complete).

        Raises
        ------
        OutputError
            If the directory cannot be written (permissions, disk full).
        """
        out = Path(out_dir)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        except OSError as exc:
            raise OutputError(f"cannot create output directory: {exc.strerror}", path=out) from exc
        try:
            self._write_into(tmp, plots=plots, formats=formats)
            _replace_dir(tmp, out)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OutputError(
                f"cannot write the audit: {exc.strerror or exc}", path=exc.filename or out
            ) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if junit is not None:
            from lumiaudit.tickets import junit_xml

            atomic_write_text(Path(junit), junit_xml(self.runs))
        return out

    def _write_into(self, tmp: Path, *, plots: bool, formats: Sequence[str]) -> None:
        for name, filename in TABLES.items():
            write_csv(getattr(self, name), tmp / filename)
        (tmp / "summary.json").write_text(
            json.dumps(_jsonable(self.summary), indent=2, sort_keys=False) + "\n", encoding="utf-8"
        )
        from lumiaudit.runlists import write_runlists

        write_runlists(self.runs, tmp)
        if self.snapshots:
            from lumiaudit.online import write_snapshots

            write_snapshots(self.snapshots, tmp / "online_snapshots")
        if plots:
            from lumiaudit.figures import write_plots

            write_plots(
                runs=self.runs,
                files=self.files,
                gaps=self.gaps,
                funnel=self.funnel,
                out_dir=tmp / "plots",
                formats=tuple(formats),
                meta=self._meta(),
            )

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> Audit:
        """Read an audit directory written by :meth:`write` (or ``lumiaudit audit``).

        Raises
        ------
        InputNotFoundError
            If the directory or its ``runs.csv`` does not exist.
        AuditDirError
            If a table or ``summary.json`` is damaged (cut, garbled, not UTF-8); the message
            names the file and the cause.
        """
        root = Path(out_dir)
        if not (root / "runs.csv").is_file():
            raise InputNotFoundError(
                "not an audit directory (no runs.csv)",
                path=root,
                hint="run `lumiaudit audit --out DIR` first",
            )
        kw: dict[str, Any] = {}
        for name, filename in TABLES.items():
            path = root / filename
            table = _SCHEMAS.get(name)
            if path.is_file():
                kw[name] = _load_table(path, table)
            else:
                kw[name] = (
                    pd.DataFrame() if table is None else schema.enforce(pd.DataFrame(), table)
                )
        runs = kw["runs"]
        if "flagged" in runs.columns:
            try:
                runs["flagged"] = runs["flagged"].astype("boolean")
            except (TypeError, ValueError) as exc:
                raise _damaged(root / TABLES["runs"], f"column 'flagged': {exc}") from None
        summary_path = root / "summary.json"
        summary: Any = {}
        if summary_path.is_file():
            try:
                summary = json.loads(summary_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise _damaged(
                    summary_path, f"not valid JSON: {exc.msg}", line=exc.lineno
                ) from None
            except UnicodeDecodeError as exc:
                raise _damaged(summary_path, f"byte {exc.start} is not UTF-8") from None
            if not isinstance(summary, dict):
                raise _damaged(summary_path, "expected a JSON object")
        return cls(summary=summary, **kw)


def _damaged(path: Path, cause: str, *, line: int | None = None) -> AuditDirError:
    """The error for a damaged file of an audit directory."""
    return AuditDirError(
        f"damaged audit file: {cause}",
        path=path,
        line=line,
        hint="rerun `lumiaudit audit --out DIR` to rewrite it",
    )


def _load_table(path: Path, table: schema.Table | None) -> pd.DataFrame:
    """Read one CSV table of an audit directory; a damaged file is an :class:`AuditDirError`."""
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as exc:
        raise _damaged(path, f"byte {exc.start} is not UTF-8") from None
    except pd.errors.EmptyDataError:
        raise _damaged(path, "the file is empty (no header)") from None
    except pd.errors.ParserError as exc:
        raise _damaged(path, f"not valid CSV: {' '.join(str(exc).split())}") from None
    if table is None:
        return frame
    try:
        return schema.enforce(frame, table)
    except ValueError as exc:
        raise _damaged(path, str(exc)) from None


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV with missing values as empty cells (never 0)."""
    frame.to_csv(path, index=False, na_rep="", date_format="%Y-%m-%dT%H:%M:%SZ")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` safely (see :func:`lumiaudit._io.write_with`)."""
    from lumiaudit._io import write_text

    write_text(path, text)


def _replace_dir(new: Path, out: Path) -> None:
    if out.is_symlink() or out.is_file():
        raise OutputError("exists and is not a directory", path=out)
    new.chmod(0o755)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        new.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


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
        raise ParameterError(f"{what}: expected a path or a list of paths, got {value!r}") from exc
    if not paths:
        raise ParameterError(f"{what}: no input given")
    return paths


def _experiment_label(runs: pd.DataFrame) -> str:
    exps = sorted({int(e) for e in runs["experiment"].dropna()}) if len(runs) else []
    exp = ", ".join(f"e{e}" for e in exps)
    return f"Belle II {exp}".strip()


def _run_range(runs: pd.DataFrame) -> list[int] | None:
    r = runs["run"].dropna()
    return [int(r.min()), int(r.max())] if len(r) else None


def audit(
    online: Any,
    offline: Any,
    *,
    tree: str = "tree",
    mode: str = "auto",
    jobs: int = 1,
    scheduler: str | None = None,
    client: Any = None,
    cache: str | os.PathLike[str] | None = None,
    thresholds: Thresholds | None = None,
    non_physics: Sequence[str] = schema.NON_PHYSICS_RUN_TYPES,
    mask: str | os.PathLike[str] | pd.DataFrame | Iterable[Runs] | None = None,
    waivers: str | os.PathLike[str] | pd.DataFrame | None = None,
    policy: str = "latest",
    online_format: str | None = None,
    mapping: Any = None,
    strict: bool = False,
    include_skims: bool = False,
    experiment: int | None = None,
    run_range: tuple[int, int] | None = None,
    runs: Any = None,
    mask_ls: str = "refuse",
    timeout: float | None = None,
    retries: int = 3,
    progress: bool = False,
    experiment_label: str | None = None,
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
    tree, mode, jobs, scheduler, client, cache, include_skims, timeout, retries, progress
        Passed to :func:`lumiaudit.offline.count_events`.
    thresholds
        Statistical thresholds (:class:`lumiaudit.stats.Thresholds`).
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

    Returns
    -------
    Audit

    Raises
    ------
    ParameterError
        If ``run_range`` is not a pair of integers with ``first <= last``, ``runs`` is not a
        valid selection, or no input is given.
    ConfigError
        If the mask file cannot be read, or (``mask_ls="refuse"``) certifies only some
        lumisections of a run; raised before any file is counted.
    """
    from lumiaudit.masks import PARTIAL_LS
    from lumiaudit.offline import OfflineResult, count_events
    from lumiaudit.online import OnlineResult, read_online
    from lumiaudit.reconcile import reconcile
    from lumiaudit.runselect import RunSelection

    run_range = _check_run_range(run_range)
    selection = RunSelection.coerce(runs)
    if mask_ls not in PARTIAL_LS:
        raise ParameterError(f"mask_ls: {mask_ls!r} is not one of {', '.join(PARTIAL_LS)}")
    mask_label = (
        None if mask is None else (str(mask) if isinstance(mask, str | os.PathLike) else "given")
    )
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
        on = read_online(
            online_inputs, format=online_format, mapping=mapping, policy=policy, strict=strict
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
            runs=selection,
        )

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
        waivers=waivers,
        mask=mask,
    )
    runs = rec.runs
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
            "tree": tree,
            "mode": mode,
            "policy": policy,
            "non_physics": list(non_physics),
            "include_skims": include_skims,
            "experiment": experiment,
            "run_range": list(run_range) if run_range else None,
            "runs": None if selection is None else str(selection),
            "mask": mask_label,
            "mask_ls": mask_ls,
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
        "experiment_label": experiment_label or _experiment_label(runs),
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
        snapshots=on.snapshots,
    )


def _check_run_range(run_range: Any) -> tuple[int, int] | None:
    """Validate ``run_range``: None or a pair ``(first, last)`` of integers with first <= last."""
    if run_range is None:
        return None
    try:
        first, last = run_range
        pair = (operator.index(first), operator.index(last))
    except (TypeError, ValueError):
        raise ParameterError(
            f"run_range: expected a pair (first, last) of run numbers, got {run_range!r}"
        ) from None
    if pair[0] > pair[1]:
        raise ParameterError(
            f"run_range: first run {pair[0]} is greater than last run {pair[1]}",
            hint="give (first, last) with first <= last",
        )
    return pair


def _select(
    frame: pd.DataFrame, *, experiment: int | None, run_range: tuple[int, int] | None
) -> pd.DataFrame:
    if frame is None or len(frame) == 0:
        return frame
    keep = pd.Series(True, index=frame.index)
    if experiment is not None and "experiment" in frame.columns:
        keep &= (frame["experiment"] == experiment).fillna(True)
    if run_range is not None and "run" in frame.columns:
        lo, hi = run_range
        keep &= ((frame["run"] >= lo) & (frame["run"] <= hi)).fillna(True)
    return frame[keep].reset_index(drop=True)


class _CallableModule(types.ModuleType):
    """Let ``lumiaudit.audit(...)`` call :func:`audit` even after ``import lumiaudit.audit``.

    Importing the submodule binds the name ``audit`` on the package to this module, which would
    shadow the function of the same name; making the module callable keeps both spellings
    (``lumiaudit.audit(...)`` and ``lumiaudit.audit.Audit``) working in any import order.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Audit:
        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
