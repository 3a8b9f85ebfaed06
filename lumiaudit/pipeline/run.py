"""The audit run: :func:`audit` reads the online sources, counts the offline files and reconciles.

The steps and their contracts are drawn in ``docs/ARCHITECTURE.md``; the helpers for inputs
(paths, digests, row selection) live in :mod:`lumiaudit.pipeline.inputs`, the result in
:mod:`lumiaudit.pipeline.result`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import typing
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from lumiaudit import schema
from lumiaudit._version import __version__
from lumiaudit.errors import ParameterError
from lumiaudit.options import AuditOptions
from lumiaudit.pipeline.inputs import (
    _as_paths,
    _digest,
    _http_options,
    _label,
    _online_digest,
    _select,
)
from lumiaudit.pipeline.result import Audit
from lumiaudit.store.audit_dir import jsonable as _jsonable

__all__ = ["audit"]


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
    # the waivers file too: read and checked before counting; the reconciliation takes the
    # table and reads no file (issue 12)
    waiver_table: pd.DataFrame | None = None
    if isinstance(waivers, pd.DataFrame):
        waiver_table = waivers
    elif waivers is not None:
        from lumiaudit.store.config import read_waivers

        waiver_table = read_waivers(waivers)

    lumi_read: Any = None
    if opts.lumi is not None:  # read before any file is counted: a bad file fails at once
        from lumiaudit.online.lumi import read_lumi

        lumi_read = read_lumi(opts.lumi)
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
        with contextlib.ExitStack() as stack:
            if opts.cluster is not None and client is None:
                # a cluster for this count only: closed (its batch jobs cancelled) after it
                from lumiaudit.offline.batch import open_cluster

                client = stack.enter_context(
                    open_cluster(opts.cluster, start_timeout=opts.cluster_timeout)
                )
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

    online_table, problems, lumi_info = on.table, on.problems, None
    if lumi_read is not None:
        from lumiaudit.online.lumi_apply import apply_lumi

        applied = apply_lumi(online_table, lumi_read, files=[str(opts.lumi)])
        online_table, lumi_info = applied.online, applied.info
        if len(applied.problems):
            problems = pd.concat([problems, applied.problems], ignore_index=True)
    tables = {
        "online": online_table,
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
    reconciled = functools.partial(
        reconcile,
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
        waivers=None if online_ls is not None else waiver_table,
        mask=mask,
        formats=getattr(on, "formats", None),
        production=production,
        follows=prof.follows,
    )
    rec = reconciled()
    # an excess nothing explains: the event numbers of the run's files tell events counted
    # twice (auto and deep mode alike; issue 13, docs/statistics.md section 14)
    from lumiaudit.offline.events import check_duplicate_events

    twice = check_duplicate_events(
        rec.runs,
        tables["contributions"],
        files=tables["files"],
        offline_runs=tables["offline_runs"],
        production=production,
        tree=tree,
        branches=prof.branch_names(),
        timeout=timeout,
        jobs=jobs,
        progress=progress,
    )
    if len(twice):
        rec = reconciled(duplicate_events=twice)
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
        runs = waive(runs, waiver_table, stats=rec.stats)
    files = tables["files"]
    # the one "unreadable" set: a duplicate is readable (counted once, at its other path)
    n_bad_files = int(files["status"].isin(schema.UNREADABLE_STATUSES).sum())
    duplicate = files["status"].astype("string").eq(schema.FileStatus.DUPLICATE.value).fillna(False)
    status_counts = {str(k): int(v) for k, v in runs["status"].value_counts().items()}
    flagged_runs = schema.flagged(runs)

    def total(col: str) -> int | None:
        s = runs[col].dropna() if col in runs.columns else pd.Series(dtype="Int64")
        return int(s.sum()) if len(s) else None

    summary: dict[str, Any] = {
        "lumiaudit_version": __version__,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "inputs": {
            "online": _online_digest(online_inputs, on),
            "offline": _digest(offline_inputs),
            # the luminosity file only where given: other audits' summaries stay the same
            **({} if opts.lumi is None else {"lumi": _digest([opts.lumi])}),
        },
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
            "runs_flagged": len(flagged_runs),
            "n_online": total("n_online"),
            "n_offline": total("n_offline"),
            "n_offline_full": total("n_offline_full"),
            "files": len(files),
            "files_bad": n_bad_files,
            "files_duplicate": int(duplicate.sum()),
            "online_entries": len(on.entries),
            "online_conflicts": len(on.conflicts),
            "online_problems": len(problems),
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
            for r in flagged_runs.itertuples()
        ],
    }
    if lumi_info is not None:
        summary["lumi_file"] = lumi_info
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
        problems=problems,
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


# inspect.signature(audit) and help(audit) show every option, from the one declaration
audit.__signature__ = _signature()  # type: ignore[attr-defined]
