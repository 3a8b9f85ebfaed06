"""The per-run reconciliation: compare, statistics, attribution, funnel, waivers in one call.

:func:`reconcile` is pure (DataFrames in, DataFrames out); the integrator (``lumiaudit.audit``)
calls it with the tables of the online and offline stages.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from os import PathLike
from typing import Any

import pandas as pd

from lumiaudit import schema
from lumiaudit.numbers import fmt
from lumiaudit.reconcile._common import LOST_BUCKETS, _fnum
from lumiaudit.reconcile.attribution import explain_runs
from lumiaudit.reconcile.compare import compare
from lumiaudit.reconcile.funnel import funnel
from lumiaudit.reconcile.productions import by_production, without_skims
from lumiaudit.reconcile.stats import Thresholds, flag_outliers, within_floors
from lumiaudit.reconcile.witnesses import vote_sources
from lumiaudit.schema import Reason, RunStatus, is_missing

__all__ = [
    "BENIGN_REASONS",
    "DOUBT_REASONS",
    "LOSS_REASONS",
    "RUNS_COLUMNS",
    "Reconciliation",
    "reconcile",
]

log = logging.getLogger(__name__)

#: Reasons that never make a run need a look on their own: they explain a difference without
#: anything lost or wrong in the data (a count definition, an off-by-one, a catalogue that lost
#: a row while the other witnesses agree), or they are informational.
BENIGN_REASONS = frozenset(
    {
        Reason.OFF_BY_ONE.value,
        Reason.ERROR_FLAG_EVENTS.value,
        Reason.DUPLICATE_FILE.value,
        Reason.METADATA_MISMATCH.value,
        Reason.MULTI_RUN_FILE.value,
        Reason.BAD_RUN_MARKER.value,
        Reason.ELOG_CONFLICT.value,  # only informational ones: one that explains has an amount
        Reason.DAQ_CATALOGUE_INCOMPLETE.value,
        Reason.ABORTED_RUN.value,
        Reason.SEVERAL_PRODUCTIONS.value,
    }
)

#: Reasons of a loss: events the production should have and has not (never a good run).
LOSS_REASONS = frozenset(
    {
        Reason.UNREADABLE_FILE.value,
        Reason.FILE_INDEX_GAP.value,
        Reason.MISSING_HLT_UNIT.value,
        Reason.PROCESSING_LOSS.value,
        Reason.NO_OFFLINE_FILES.value,
    }
)

#: Reasons that make even an ``OK`` run need a look: the online evidence is itself in doubt.
DOUBT_REASONS = frozenset({Reason.ONLINE_COUNT_UNREADABLE.value, Reason.SOURCE_DISAGREEMENT.value})

#: Column order of the runs table (schema.RUNS first, then the documented extras).
RUNS_COLUMNS: tuple[str, ...] = tuple(schema.RUNS_RECONCILED.names)  # declared in lumiaudit.schema


@dataclass(frozen=True)
class Reconciliation:
    """Result of :func:`reconcile`.

    Attributes
    ----------
    runs
        The runs table (:data:`RUNS_COLUMNS`, then ``n_flag_0x..`` columns when given).
    funnel
        ``bucket, events, runs``: exclusive buckets adding up to the online total.
    allocation
        ``experiment, run, bucket, events``: the funnel per run.
    source_defects
        One row per (run, online source) that is the odd one out among the witnesses
        (:data:`lumiaudit.reconcile.witnesses.SOURCE_DEFECT_COLUMNS`).
    stats
        For summary.json: ``follows``, ``votes``, baselines, ``thresholds``, ``online_total``.
    """

    runs: pd.DataFrame
    funnel: pd.DataFrame
    stats: dict[str, Any]
    allocation: pd.DataFrame = field(default_factory=pd.DataFrame)
    source_defects: pd.DataFrame = field(default_factory=pd.DataFrame)


def _not_a_path(value: Any, what: str, reader: str) -> None:
    """The reconciliation takes tables: a path is refused, naming the reader to use."""
    from lumiaudit.errors import ParameterError

    if isinstance(value, str | PathLike):
        msg = f"reconcile takes the {what} as a table, not a path ({value})"
        raise ParameterError(msg, hint=f"read the file with {reader} (lumiaudit.audit does)")


def _mask_frame(mask: Any) -> pd.DataFrame:
    """A mask given as a frame or an iterable of (experiment, run) pairs / runs."""
    from lumiaudit.errors import ParameterError

    _not_a_path(mask, "mask", "lumiaudit.runlists.read_mask")
    if isinstance(mask, pd.DataFrame):
        frame = mask
    else:
        rows: list[tuple[Any, Any]] = []
        for item in mask:
            if isinstance(item, tuple | list) and len(item) == 2:
                rows.append((item[0], item[1]))
            elif isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
                rows.append((None, int(item)))
            else:
                msg = f"mask entries must be (experiment, run) or run, not {item!r}"
                raise ParameterError(msg)
        frame = pd.DataFrame(rows, columns=["experiment", "run"])
    if "run" not in frame:
        msg = "a mask needs a 'run' column"
        raise ParameterError(msg)
    if "experiment" not in frame:
        frame = frame.assign(experiment=pd.array([pd.NA] * len(frame), dtype="Int64"))
    return frame.astype({"experiment": "Int64", "run": "Int64"})


def _restrict(df: pd.DataFrame | None, keys: pd.DataFrame) -> pd.DataFrame | None:
    if df is None or len(df) == 0 or "run" not in df:
        return df
    run = df["run"].astype("Int64")
    has_exp = "experiment" in keys and keys["experiment"].notna().any() and "experiment" in df
    if has_exp:
        pairs = set(
            zip(keys["experiment"].astype("Int64"), keys["run"].astype("Int64"), strict=True)
        )
        any_exp = set(keys.loc[keys["experiment"].isna(), "run"].astype(int))
        exp = df["experiment"].astype("Int64")
        keep = [
            not is_missing(r) and ((e, r) in pairs or int(r) in any_exp)
            for e, r in zip(exp, run, strict=True)
        ]
        return df[pd.Series(keep, index=df.index, dtype=bool)]
    wanted = set(keys["run"].astype(int))
    return df[run.isin(wanted).fillna(False)]


def reconcile(
    *,
    online: pd.DataFrame,
    online_entries: pd.DataFrame | None = None,
    conflicts: pd.DataFrame | None = None,
    daq_files: pd.DataFrame | None = None,
    files: pd.DataFrame | None = None,
    contributions: pd.DataFrame | None = None,
    offline_runs: pd.DataFrame,
    gaps: pd.DataFrame | None = None,
    thresholds: Thresholds | None = None,
    non_physics: Iterable[str] = schema.NON_PHYSICS_RUN_TYPES,
    waivers: pd.DataFrame | None = None,
    mask: pd.DataFrame | Iterable[Any] | None = None,
    today: date | None = None,
    follows: str = "auto",
    formats: Mapping[str, str] | None = None,
    production: str | None = None,
    duplicate_events: pd.DataFrame | None = None,
) -> Reconciliation:
    """Compare online and offline per run, test the differences and attribute them to causes.

    Parameters
    ----------
    online, online_entries, conflicts, daq_files, files, contributions, offline_runs, gaps
        The tables of docs/ARCHITECTURE.md (``online_entries``, ``conflicts``, ``daq_files``,
        ``files``, ``contributions`` and ``gaps`` may be None or empty).
    thresholds
        Floors and significance levels (:class:`lumiaudit.reconcile.stats.Thresholds`).
    non_physics
        Run types reported as ``NOT_AUDITED`` (reason ``non_physics``).
    waivers
        A waivers table (:func:`lumiaudit.store.config.read_waivers`). The reconciliation reads
        no file: a path is a ParameterError.
    mask
        A run list: a DataFrame (``experiment`` optional, ``run``; from
        :func:`lumiaudit.runlists.read_mask`) or an iterable of ``(experiment, run)`` pairs or
        run numbers: only these runs are reconciled. A path is a ParameterError.
    today
        Date the waiver expiries are compared with (default: today, UTC).
    follows
        ``auto`` (detect), ``full`` or ``entries``: the offline definition compared.
    formats
        Input path -> format of the online inputs (:attr:`lumiaudit.online.OnlineResult.formats`):
        which witness (elog, run database, DAQ catalogue) each entry is; guessed when None.
    production
        Where a run has files of several productions (``release/DB/proc`` paths), audit the one
        whose path contains this text; default: the newest (:mod:`lumiaudit.reconcile.productions`).
    duplicate_events
        Events counted twice, by event number
        (:func:`lumiaudit.offline.events.check_duplicate_events`): an exact explanation of
        an excess (``duplicate_events``, never good: the run needs a look).

    Returns
    -------
    Reconciliation
        ``runs``, ``funnel``, ``stats`` (and the per-run ``allocation``).

    Examples
    --------
    >>> import pandas as pd
    >>> key = {"experiment": [10], "run": [1]}
    >>> online = pd.DataFrame({**key, "run_type": ["physics"], "n_online": [100]})
    >>> offline = pd.DataFrame(
    ...     {**key, "n_offline": [100], "n_offline_full": [100], "n_files": [1], "n_files_bad": [0]}
    ... )
    >>> reconcile(online=online, offline_runs=offline).runs["status"].tolist()
    ['OK']
    """
    th = thresholds or Thresholds()
    if mask is not None:
        keys = _mask_frame(mask)
        online = _restrict(online, keys)  # type: ignore[assignment]
        offline_runs = _restrict(offline_runs, keys)  # type: ignore[assignment]
        log.info("mask keeps %d online and %d offline runs", len(online), len(offline_runs))

    files = without_skims(files, contributions)
    prods = by_production(files, contributions, offline_runs, production=production)
    offline_runs, files, contributions = prods.offline_runs, prods.files, prods.contributions
    vote = vote_sources(
        online,
        online_entries,
        offline_runs,
        daq_files=daq_files,
        files=files,
        formats=formats,
        thresholds=th,
    )
    online = vote.online
    runs, follows_used = compare(
        online,
        offline_runs,
        non_physics=non_physics,
        follows=follows,
        abs_floor=th.abs_floor,
        rel_floor=th.rel_floor,
    )
    votes = runs["follows_run"].value_counts().to_dict() if "follows_run" in runs else {}
    runs, base_stats = flag_outliers(runs, thresholds=th)
    runs, allocation = explain_runs(
        runs,
        files=files,
        contributions=contributions,
        gaps=gaps,
        daq_files=daq_files,
        online_entries=online_entries,
        conflicts=conflicts,
        offline_runs=offline_runs,
        duplicate_events=duplicate_events,
        corroborated=_corroborated(vote.verdicts),
        follows=follows_used,
        thresholds=th,
    )
    runs = _with_votes(runs, vote.verdicts, vote.defects)
    runs = _with_productions(runs, prods.notes)
    runs = _verdict(runs, th)
    runs["waived"] = pd.array([False] * len(runs), dtype="boolean")
    runs["waiver"] = pd.array([pd.NA] * len(runs), dtype="string")
    if waivers is not None:
        from lumiaudit.waivers import apply_waivers

        _not_a_path(waivers, "waivers", "lumiaudit.store.config.read_waivers")
        runs = apply_waivers(runs, waivers, today=today)

    flag_cols: list[str] = []
    if len(offline_runs):
        flag_cols = [c for c in offline_runs.columns if str(c).startswith("n_flag_")]
        if flag_cols:
            extra = offline_runs[["experiment", "run", *flag_cols]].copy()
            extra["experiment"] = extra["experiment"].astype("Int64")
            extra["run"] = extra["run"].astype("Int64")
            extra = extra.drop_duplicates(["experiment", "run"], keep="last")
            runs = runs.merge(extra, on=["experiment", "run"], how="left")
    allocation, lumi = _lumi(runs, allocation)
    runs = runs[[c for c in RUNS_COLUMNS if c in runs.columns] + flag_cols]
    runs = runs.sort_values(["experiment", "run"], kind="stable").reset_index(drop=True)

    fun = funnel(allocation)
    online_total = int(runs["n_online"].dropna().sum())
    if int(fun["events"].sum()) != online_total:  # pragma: no cover - guarded by tests
        log.error("funnel adds up to %d, online total %d", int(fun["events"].sum()), online_total)
    stats: dict[str, Any] = {
        "follows": follows_used,
        "votes": {str(k): int(v) for k, v in votes.items()},
        "thresholds": th.as_dict(),
        "flag_rule": th.flag_rule(),
        "online_total": online_total,
        "runs": len(runs),
        "runs_flagged": int(runs["flagged"].fillna(False).sum()),
        "runs_waived": int(runs["waived"].fillna(False).sum()),
        "status_counts": {str(k): int(v) for k, v in runs["status"].value_counts().items()},
        **base_stats,
        "sources": vote.summary,
        "lumi": lumi,
    }
    stats = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in stats.items()}
    return Reconciliation(
        runs=runs, funnel=fun, stats=stats, allocation=allocation, source_defects=vote.defects
    )


def _lumi(runs: pd.DataFrame, allocation: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every loss also in luminosity: ``lost events / online events x recorded lumi`` per run.

    Adds ``lumi_affected_nb`` / ``lumi_unexplained_nb`` to ``runs`` (in place) and ``lumi_nb``
    to the allocation; returns the totals for summary.json. A run without a known luminosity
    stays <NA> (never 0) and is counted in ``runs_without_lumi``.
    """
    lumi = pd.to_numeric(runs["lumi_nb"], errors="coerce").astype("float64")
    n_on = pd.to_numeric(runs["n_online"], errors="coerce").astype("float64")
    per_event = (lumi / n_on).where(n_on > 0)
    key = list(zip(runs["experiment"], runs["run"], strict=True))
    scale = dict(zip(key, per_event, strict=True))
    alloc = allocation.copy()
    alloc["lumi_nb"] = pd.array(
        [
            float(ev) * scale.get((e, r), math.nan)
            for e, r, ev in zip(alloc["experiment"], alloc["run"], alloc["events"], strict=True)
        ],
        dtype="Float64",
    )
    lost = alloc[alloc["bucket"].isin(LOST_BUCKETS)]
    unexpl = alloc[alloc["bucket"] == "unexplained"]

    def per_run(frame: pd.DataFrame) -> pd.Series:
        sums: dict[tuple[Any, Any], float] = {}
        for e, r, v in zip(frame["experiment"], frame["run"], frame["lumi_nb"], strict=True):
            sums[(e, r)] = sums.get((e, r), 0.0) + (0.0 if pd.isna(v) else float(v))
        known = [math.isfinite(scale.get(k, math.nan)) for k in key]
        values = [sums.get(k, 0.0) if ok else math.nan for k, ok in zip(key, known, strict=True)]
        out = pd.Series(values, index=runs.index, dtype="Float64")
        return out.mask(~pd.Series(known, index=runs.index))

    runs["lumi_affected_nb"] = per_run(lost)
    runs["lumi_unexplained_nb"] = per_run(unexpl)
    audited = runs["status"] != RunStatus.NOT_AUDITED.value
    recorded = float(lumi[audited & lumi.notna()].sum())
    affected = float(lost["lumi_nb"].sum(skipna=True))
    unexplained = float(unexpl["lumi_nb"].sum(skipna=True))
    without = int((audited & ~lumi.notna()).sum())
    text = (
        f"{fmt(affected, 'lumi')} of {fmt(recorded, 'lumi')} recorded is affected, "
        f"{fmt(unexplained, 'lumi')} of it unexplained"
        + (f" ({without} audited runs without a luminosity)" if without else "")
    )
    totals = {
        "recorded_nb": recorded,
        "affected_nb": affected,
        "unexplained_nb": unexplained,
        "runs_without_lumi": without,
        "text": text,
    }
    return alloc, totals


def _corroborated(verdicts: pd.DataFrame) -> set[tuple[int | None, int]]:
    """Runs whose online value two independent online sources agree on."""
    if len(verdicts) == 0 or "corroborated" not in verdicts:
        return set()
    sel = verdicts[verdicts["corroborated"].fillna(False).astype(bool)]
    return {
        (None if pd.isna(e) else int(e), int(r))
        for e, r in zip(sel["experiment"], sel["run"], strict=True)
    }


def _with_votes(runs: pd.DataFrame, verdicts: pd.DataFrame, defects: pd.DataFrame) -> pd.DataFrame:
    """The witnesses' verdict per run: columns, reasons and evidence.

    Two online sources agreeing with offline confirm the run: an unreadable count of a third is
    that source's defect, not the run's. Without a majority the run is ``source_disagreement``
    (flagged: one online witness is not two). A DAQ catalogue that lost a file's row is
    ``daq_catalogue_incomplete`` (benign).
    """
    out = runs.copy()
    out["sources"] = pd.array([pd.NA] * len(out), dtype="string")
    out["source_verdict"] = pd.array([pd.NA] * len(out), dtype="string")
    if len(verdicts) == 0:
        return out
    key = ["experiment", "run"]
    v = verdicts.drop_duplicates(key).set_index(key)
    kinds: dict[tuple[Any, Any], set[str]] = {}
    for d in defects.to_dict("records"):
        kinds.setdefault((d["experiment"], d["run"]), set()).add(str(d["kind"]))
    reasons = out["reasons"].astype("object").tolist()
    evidence = out["evidence"].astype("object").tolist()
    for i, (e, r) in enumerate(zip(out["experiment"], out["run"], strict=True)):
        k = (e, r)
        if k not in v.index:
            continue
        rec = v.loc[k]
        out.loc[out.index[i], "sources"] = rec["sources"]
        out.loc[out.index[i], "source_verdict"] = rec["source_verdict"]
        codes = [c for c in str(reasons[i]).split(";") if c] if isinstance(reasons[i], str) else []
        if bool(rec["confirmed"]):
            codes = [c for c in codes if c != Reason.ONLINE_COUNT_UNREADABLE.value]
        if bool(rec["disputed"]):
            codes.append(Reason.SOURCE_DISAGREEMENT.value)
        if Reason.DAQ_CATALOGUE_INCOMPLETE.value in kinds.get(k, set()):
            codes.append(Reason.DAQ_CATALOGUE_INCOMPLETE.value)
        reasons[i] = ";".join(dict.fromkeys(codes)) or pd.NA
        note = f"sources: {rec['sources']} ({rec['source_verdict']})"
        evidence[i] = note if not isinstance(evidence[i], str) else f"{evidence[i]} | {note}"
    out["reasons"] = pd.array(reasons, dtype="string")
    out["evidence"] = pd.array(evidence, dtype="string")
    return out


def _with_productions(runs: pd.DataFrame, notes: pd.DataFrame) -> pd.DataFrame:
    """``several_productions`` and the ``productions`` column for runs with several."""
    out = runs.copy()
    out["productions"] = pd.array([pd.NA] * len(out), dtype="string")
    if len(notes) == 0:
        return out
    by = {
        (e, r): t
        for e, r, t in zip(notes["experiment"], notes["run"], notes["productions"], strict=True)
    }
    reasons = out["reasons"].astype("object").tolist()
    evidence = out["evidence"].astype("object").tolist()
    for i, key in enumerate(zip(out["experiment"], out["run"], strict=True)):
        text = by.get(key)
        if text is None:
            continue
        out.loc[out.index[i], "productions"] = text
        codes = str(reasons[i]).split(";") if isinstance(reasons[i], str) else []
        reasons[i] = ";".join(dict.fromkeys([*codes, Reason.SEVERAL_PRODUCTIONS.value]))
        note = f"several productions, never summed: {text}"
        evidence[i] = note if not isinstance(evidence[i], str) else f"{evidence[i]} | {note}"
    out["reasons"] = pd.array(reasons, dtype="string")
    out["evidence"] = pd.array(evidence, dtype="string")
    return out


def _amounts(text: object) -> dict[str, int]:
    """``code=events;...`` of ``reason_events`` as a dict."""
    out: dict[str, int] = {}
    if isinstance(text, str):
        for part in text.split(";"):
            code, _, value = part.partition("=")
            if value.lstrip("-").isdigit():
                out[code] = int(value)
    return out


def _verdict(runs: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Final ``flagged`` and ``severity`` (docs/statistics.md section 5).

    Counts are exact, so the rule is on the attribution, not on the spread of the other runs:
    an unexplained difference beyond the floors is flagged (``fail`` when significant), an
    explained loss is flagged ``warn``, a difference explained by a non-loss is not flagged.
    The robust z and the q-value rank and grade; they never clear a real loss.
    """
    flagged: list[bool] = []
    severity: list[str] = []
    for row in runs.itertuples(index=False):
        status = str(row.status)
        reasons = set(str(row.reasons).split(";")) if isinstance(row.reasons, str) else set()
        amounts = _amounts(getattr(row, "reason_events", None))
        unexplained = _fnum(row.unexplained_diff)
        n_on = _fnum(row.n_online)
        open_diff = not math.isnan(unexplained) and not within_floors(unexplained, n_on, th)
        q = _fnum(getattr(row, "q_value", math.nan))
        z = abs(_fnum(row.z_robust))
        # an elog_conflict with an amount explains the difference: a wrong entry was chosen
        quiet = set(BENIGN_REASONS)
        if amounts.get(Reason.ELOG_CONFLICT.value):
            quiet.discard(Reason.ELOG_CONFLICT.value)
        if status == RunStatus.NOT_AUDITED.value:
            flag, sev = False, "ok"
        elif status == RunStatus.MISSING_OFFLINE.value:
            flag, sev = True, "fail"
        elif status == RunStatus.MISSING_ONLINE.value:
            flag, sev = True, "warn"
        elif open_diff or Reason.UNEXPLAINED.value in reasons:
            significant = (not math.isnan(q) and q <= th.q_fail) or z >= th.z_fail
            flag, sev = True, ("fail" if significant or math.isnan(z) else "warn")
        elif status in (RunStatus.DEFICIT.value, RunStatus.EXCESS.value):
            # explained: a loss or a wrong online number needs a look, a non-loss does not
            flag = bool(reasons - quiet)
            sev = "warn" if flag else "ok"
        else:
            # within the floors, but a loss is a loss: events of a lost or unreadable file are
            # never good, however few (issue 13)
            lost = any(amounts.get(c, 0) > 0 for c in LOSS_REASONS)
            flag = bool(reasons & DOUBT_REASONS) or lost
            sev = "warn" if flag else "ok"
        flagged.append(flag)
        severity.append(sev)
    out = runs.copy()
    out["flagged"] = pd.array(flagged, dtype="boolean")
    out["severity"] = pd.array(severity, dtype="string")
    return out
