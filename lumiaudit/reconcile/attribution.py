"""Cause attribution per run: ``explain_runs`` turns the evidence into causes with event amounts."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from lumiaudit.numbers import fmt
from lumiaudit.reconcile._common import (
    _READABLE,
    Cause,
    Key,
    _fnum,
    _groups,
    _i,
    _int,
    _key,
    _key_frame,
    _records,
    _RunResult,
    _with_events,
)
from lumiaudit.reconcile.evidence import (
    _conflict_explains,
    _duplicate_events,
    _evidence,
    _meta_explains,
    _notes,
    _typo,
)
from lumiaudit.reconcile.stats import Thresholds
from lumiaudit.schema import FileStatus, Reason, RunStatus


def explain_runs(
    runs: pd.DataFrame,
    *,
    files: pd.DataFrame | None = None,
    contributions: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
    daq_files: pd.DataFrame | None = None,
    online_entries: pd.DataFrame | None = None,
    conflicts: pd.DataFrame | None = None,
    offline_runs: pd.DataFrame | None = None,
    duplicate_events: pd.DataFrame | None = None,
    corroborated: Collection[Key] = (),
    follows: str = "full",
    thresholds: Thresholds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attribute each run's difference to causes.

    Parameters
    ----------
    runs
        Runs table from :func:`lumiaudit.reconcile.compare.compare` (with ``n_offline_def``,
        ``follows_run``, ``in_online``).
    files, contributions, gaps, daq_files, online_entries, conflicts, offline_runs
        The evidence tables of docs/ARCHITECTURE.md (any may be None or empty).
    duplicate_events
        Events counted twice, by event number, for the runs checked
        (:data:`lumiaudit.offline.events.DUPLICATE_EVENT_COLUMNS`): an exact excess.
    corroborated
        Runs whose online value two independent online sources agree on
        (:func:`lumiaudit.reconcile.witnesses.vote_sources`): never explained as a typo.
    follows
        The offline definition the online numbers follow globally (``full``/``entries``).
    thresholds
        Floors and the typo search window.

    Returns
    -------
    runs : DataFrame
        With ``reasons``, ``reason_events`` (``code=events;...``: the events of the difference
        each cause accounts for, or the informational amount of a noted cause),
        ``explained_events``, ``unexplained_diff`` and ``evidence`` (the estimates and typo
        patterns behind the attribution, in words).
    allocation : DataFrame
        ``experiment, run, bucket, events``: every online event of every run in exactly one
        funnel bucket (input of :func:`funnel`).
    """
    th = thresholds or Thresholds()
    files_k = _key_frame(files)
    if len(files_k) and "n_entries" in files_k:
        files_k = _with_events(files_k, follows)
    by_run_files = _records(files_k)
    gaps_by = _records(_key_frame(gaps))
    daq_by = _records(_key_frame(daq_files))
    conf_by = _groups(_key_frame(conflicts))
    entries_by = _groups(_key_frame(online_entries))
    offl_by = _groups(_key_frame(offline_runs))
    dup_by = _records(_key_frame(duplicate_events))
    multi = _multi_run(files_k, _key_frame(contributions))

    cap = global_median = math.nan
    if len(files_k) and "status" in files_k and "_ev" in files_k:
        ok = files_k["status"].isin(list(_READABLE)).fillna(False).to_numpy(dtype=bool)
        ev = files_k["_ev"].to_numpy(dtype="float64")
        good = ok & np.isfinite(ev) & (ev > 0)
        named = good & files_k["run"].notna().to_numpy(dtype=bool)
        # the largest readable file, plus 10 %: the lost file may have been the largest one
        cap = 1.1 * float(ev[named].max()) if named.any() else math.nan
        global_median = float(np.median(ev[good])) if good.any() else math.nan
    expected = _expected_units(files_k)

    online_of: dict[Key, int] = {}
    offline_of: dict[Key, int] = {}
    for row in runs.itertuples(index=False):
        key = _key(row.experiment, row.run)
        if _int(row.n_online) is not None:
            online_of[key] = _i(row.n_online)
        if _int(row.n_offline_def) is not None:
            offline_of[key] = _i(row.n_offline_def)

    results: list[_RunResult] = []
    for row in runs.itertuples(index=False):
        key = _key(row.experiment, row.run)
        res = _attribute(
            row,
            key,
            files=by_run_files.get(key),
            gaps=gaps_by.get(key),
            daq=daq_by.get(key),
            conflicts=conf_by.get(key),
            entries=entries_by.get(key),
            offline=offl_by.get(key),
            dups=dup_by.get(key),
            multi=key in multi,
            follows=follows,
            th=th,
            cap=cap,
            global_median=global_median,
            expected_units=None if key[0] is None else expected.get(key[0]),
            online_of=online_of,
            offline_of=offline_of,
            corroborated=key in corroborated,
        )
        results.append(res)

    out = runs.copy()
    out["reasons"] = pd.array([";".join(r.reasons) or pd.NA for r in results], dtype="string")
    out["reason_events"] = pd.array(
        [";".join(f"{k}={v}" for k, v in r.amounts.items()) or pd.NA for r in results],
        dtype="string",
    )
    out["evidence"] = pd.array([" | ".join(r.notes) or pd.NA for r in results], dtype="string")
    out["explained_events"] = pd.array([r.explained for r in results], dtype="Int64")
    out["unexplained_diff"] = pd.array([r.unexplained for r in results], dtype="Int64")
    alloc_rows = [
        (key_e, key_r, bucket, events)
        for (key_e, key_r), r in zip(
            (_key(e, r) for e, r in zip(runs["experiment"], runs["run"], strict=True)),
            results,
            strict=True,
        )
        for bucket, events in r.alloc.items()
        if events
    ]
    allocation = pd.DataFrame(alloc_rows, columns=["experiment", "run", "bucket", "events"])
    allocation = allocation.astype(
        {"experiment": "Int64", "run": "Int64", "bucket": "string", "events": "Int64"}
    )
    return out, allocation


def _multi_run(files: pd.DataFrame, contributions: pd.DataFrame) -> set[Key]:
    """Runs that receive events from a file spanning several runs (grid files, merges)."""
    out: set[Key] = set()
    if len(contributions) and "path" in contributions:
        c = contributions.dropna(subset=["run"])
        counts = c.groupby("path")["run"].nunique()
        multi_paths = set(counts[counts > 1].index)
        if len(files) and "markers" in files:
            grid = files[files["markers"].astype("string").str.contains("grid", na=False)]
            multi_paths |= set(grid["path"])
        for row in c[c["path"].isin(multi_paths)].itertuples(index=False):
            out.add(_key(row.experiment, row.run))
    return out


def _attribute(
    row: Any,
    key: Key,
    *,
    files: list[dict[str, Any]] | None,
    gaps: list[dict[str, Any]] | None,
    daq: list[dict[str, Any]] | None,
    conflicts: pd.DataFrame | None,
    entries: pd.DataFrame | None,
    offline: pd.DataFrame | None,
    multi: bool,
    follows: str,
    dups: list[dict[str, Any]] | None = None,
    corroborated: bool = False,
    th: Thresholds,
    cap: float,
    global_median: float,
    online_of: dict[Key, int],
    offline_of: dict[Key, int],
    expected_units: set[int] | None = None,
) -> _RunResult:
    res = _RunResult()
    status = str(row.status)
    n_online = _int(row.n_online)
    n_def = _int(row.n_offline_def)
    n_ent = _int(row.n_offline)
    n_full = _int(row.n_offline_full)

    if status == RunStatus.NOT_AUDITED.value:
        res.add(Reason.NON_PHYSICS.value, n_online)
        if n_online is not None:
            res.alloc["non_physics"] = n_online
        return res

    side = _yield_side(row, th)
    if side:
        res.notes.append(side)
    filled = getattr(row, "experiment_filled", None)
    if isinstance(filled, str):
        res.notes.append(
            f"experiment: not given by the {'online' if filled == 'offline' else 'offline'} "
            f"side; {key[0]} taken from the {filled} side, the only experiment with run {key[1]}"
        )
    causes, notes = _evidence(
        files=files, gaps=gaps, daq=daq, follows=follows, cap=cap, global_median=global_median
    )

    if status == RunStatus.MISSING_ONLINE.value:
        in_online = bool(row.in_online) if not pd.isna(row.in_online) else False
        has_entry = entries is not None and len(entries) > 0
        res.add(
            Reason.NO_ONLINE_COUNT.value
            if (in_online or has_entry)
            else Reason.NO_ONLINE_ENTRY.value
        )
        _notes(res, notes, row, conflicts, multi, entries)
        return res

    if status == RunStatus.MISSING_OFFLINE.value:
        unreadable = [c for c in causes if c.code == Reason.UNREADABLE_FILE.value]
        code = Reason.UNREADABLE_FILE.value if unreadable else Reason.NO_OFFLINE_FILES.value
        res.add(code, n_online)
        if n_online is not None:
            res.alloc["unreadable_file" if unreadable else "missing_offline"] = n_online
            res.explained, res.unexplained = n_online, 0
        _notes(res, notes, row, conflicts, multi, entries)
        return res

    assert n_online is not None
    if n_online == 0 and not n_def:
        # a physics run aborted before writing anything: nothing to produce, nothing missing
        res.add(Reason.ABORTED_RUN.value)
        res.notes.append("aborted run: 0 events online" + ("" if n_def == 0 else ", no file"))
        res.explained, res.unexplained = 0, 0
        _notes(res, notes, row, conflicts, multi, entries)
        return res
    assert n_def is not None
    diff = n_online - n_def
    tol = th.tolerance(n_online)
    dup_causes, dup_notes = _duplicate_events(dups)
    res.notes += dup_notes
    # per-file DAQ evidence and events counted twice are causes only in the direction they
    # explain
    causes = [
        c
        for c in causes + dup_causes
        if not (c.code == Reason.PROCESSING_LOSS.value and diff <= tol)
        and not (
            c.code in (Reason.UNLISTED_FILE.value, Reason.DUPLICATE_EVENTS.value) and diff >= -tol
        )
    ]

    # error-flagged events explain a difference when this run's online count follows the
    # other definition than the global one
    if n_ent is not None and n_full is not None and n_ent != n_full:
        flagged = n_ent - n_full
        run_follows = row.follows_run if isinstance(row.follows_run, str) else None
        if run_follows is not None and run_follows != follows:
            sign = 1 if follows == "full" else -1
            causes.append(
                Cause(
                    Reason.ERROR_FLAG_EVENTS.value, sign * flagged, sign * flagged, sign * flagged
                )
            )
        else:
            notes.append((Reason.ERROR_FLAG_EVENTS.value, float(flagged)))
        bits = _flag_bits(offline)
        res.notes.append(
            f"error_flag_events: entries {n_ent} - full {n_full} = {flagged}"
            + (f" (by bit: {bits})" if bits else "")
        )

    explained = False
    if causes:
        lo = sum(min(c.lo, c.hi) for c in causes)
        hi = sum(max(c.lo, c.hi) for c in causes)
        if lo - tol <= diff <= hi + tol and not (
            abs(diff) <= tol and all(c.exact for c in causes) and abs(lo) > tol
        ):
            explained = True
            _credit(res, diff, causes)
            res.explained, res.unexplained = diff, 0

    if not explained:
        residual = diff - round(sum(c.est for c in causes if c.exact))
        pattern = None
        n_readable = _readable_files(files)
        if (
            residual != 0
            and (abs(residual) == 1 or (n_readable > 1 and abs(residual) == n_readable))
            and all(c.exact for c in causes)
        ):
            _credit(res, diff - residual, causes)
            res.add(Reason.OFF_BY_ONE.value, residual)
            if residual > 0:
                res.alloc["off_by_one"] = residual
            res.explained, res.unexplained = diff, 0
        elif (
            abs(diff) > tol
            and not corroborated
            and (pattern := _typo(n_online, (n_def, n_ent, n_full), key, th, online_of, offline_of))
        ):
            res.add(Reason.ELOG_TYPO.value, diff)
            res.notes.append(f"elog typo: {pattern}")
            if diff > 0:
                res.alloc["elog_typo"] = diff
            res.explained, res.unexplained = diff, 0
        elif (
            diff > tol
            and all(c.code != Reason.MISSING_HLT_UNIT.value for c in causes)
            and (inferred := _inferred_units(files, expected_units, cap, global_median))
            and sum(c.lo for c in causes + inferred) - tol
            <= diff
            <= sum(c.hi for c in causes + inferred) + tol
        ):
            _credit(res, diff, causes + inferred)
            res.explained, res.unexplained = diff, 0
        elif abs(diff) > tol and (meta := _meta_explains(notes, diff, tol)) is not None:
            res.add(Reason.METADATA_MISMATCH.value)
            res.amounts[Reason.METADATA_MISMATCH.value] = diff
            res.notes.append(f"metadata_mismatch: FileMetaData nEvents differ by {meta:+.0f}")
            if diff > 0:
                res.alloc["metadata_mismatch"] = diff
            res.explained, res.unexplained = diff, 0
            notes = [n for n in notes if n[0] != Reason.METADATA_MISMATCH.value]
        elif abs(diff) > tol and _conflict_explains(conflicts, entries, n_def, n_online, tol):
            res.add(Reason.ELOG_CONFLICT.value, diff)
            if diff > 0:
                res.alloc["elog_conflict"] = diff
            res.explained, res.unexplained = diff, 0
        else:
            part = _partial(diff, causes)
            _credit(res, part, causes)
            rest = diff - part
            if abs(diff) > tol:
                res.add(Reason.UNEXPLAINED.value, rest)
                if rest > 0:
                    res.alloc["unexplained"] = rest
            elif rest > 0:
                res.alloc["within_tolerance"] = rest
            res.explained, res.unexplained = part, rest

    matched = min(n_online, n_def)
    if (
        follows == "entries"
        and n_full is not None
        and n_ent is not None
        and n_ent > n_full
        and matched > 0
    ):
        flagged_part = min(matched, n_ent - n_full)
        res.alloc["error_flag_events"] = res.alloc.get("error_flag_events", 0) + flagged_part
        matched -= flagged_part
    res.alloc["matched"] = max(matched, 0)
    # a negative allocation cannot happen for diff >= 0; for diff < 0 nothing but matched is online
    if diff < 0:
        res.alloc = {k: v for k, v in res.alloc.items() if k in ("matched", "error_flag_events")}
    _notes(res, notes, row, conflicts, multi, entries)
    return res


def _credit(res: _RunResult, amount: int, causes: list[Cause]) -> None:
    """Give ``amount`` events of the difference to the causes (reasons, amounts, funnel)."""
    sign = 1 if amount >= 0 else -1
    flipped = [Cause(c.code, abs(c.est), abs(c.lo), abs(c.hi), c.detail) for c in causes]
    parts = _allocate(abs(amount), flipped)
    for c in flipped:
        res.add(c.code)
        # one number per cause: the events credited (res.amounts, "events per reason"); a cause
        # known only within a range says the range it was checked against, never a second
        # point estimate beside the credited amount (issue 16)
        lo, hi = sorted((c.lo, c.hi))
        ranged = lo != hi and math.isfinite(lo) and math.isfinite(hi)
        expected = "" if not ranged else f"; expected {fmt(round(lo))} to {fmt(round(hi))} events"
        res.notes.append(f"{c.code}: {c.detail}{expected}")
    for code, events in parts.items():
        res.amounts[code] = res.amounts.get(code, 0) + sign * events
    if sign > 0:
        for code, events in parts.items():
            res.alloc[code] = res.alloc.get(code, 0) + events


def _expected_units(files: pd.DataFrame) -> dict[int, set[int]]:
    """Per experiment, the HLT units that wrote files in at least half of the runs."""
    out: dict[int, set[int]] = {}
    if len(files) == 0 or "hlt_unit" not in files:
        return out
    named = files.dropna(subset=["experiment", "run", "hlt_unit"])
    for exp, grp in named.groupby("experiment"):
        n_runs = grp["run"].nunique()
        per_unit = grp.groupby("hlt_unit")["run"].nunique()
        out[_i(exp)] = {_i(u) for u, n in per_unit.items() if n * 2 >= n_runs}
    return out


def _inferred_units(
    files: list[dict[str, Any]] | None,
    expected: set[int] | None,
    cap: float,
    global_median: float,
) -> list[Cause]:
    """Expected HLT units without any file in this run (used only to explain a deficit)."""
    if not files or not expected:
        return []
    units = [_int(f.get("hlt_unit")) for f in files]
    have = {u for u in units if u is not None}
    missing = sorted(expected - have)
    if not missing or not have:
        return []
    per_unit = max(units.count(u) for u in have)
    vals = [
        float(f["_ev"])
        for f in files
        if f.get("status") in _READABLE
        and f.get("status") != FileStatus.EMPTY.value
        and math.isfinite(_fnum(f.get("_ev")))
    ]
    median = float(np.median(vals)) if vals else global_median
    if not math.isfinite(median):
        return []
    one = cap if math.isfinite(cap) else 2 * median
    return [
        Cause(
            Reason.MISSING_HLT_UNIT.value,
            median * per_unit,
            0.25 * median,  # a unit that wrote nothing at all is not a few-event loss
            max(one, median) * per_unit,
            f"HLT{u}: no file of this unit, which most runs have ({per_unit} file(s) expected)",
        )
        for u in missing
    ]


def _yield_side(row: Any, th: Thresholds) -> str:
    """Which count looks wrong from the yields (events per nb^-1), when only one stands out."""
    z_on = getattr(row, "z_yield_online", None)
    z_off = getattr(row, "z_yield_offline", None)
    if z_on is None or z_off is None or pd.isna(z_on) or pd.isna(z_off):
        return ""
    on, off = abs(float(z_on)) >= th.z_warn, abs(float(z_off)) >= th.z_warn
    if on and not off:
        return f"yield: the online yield stands out (z {float(z_on):.1f}), the offline one does not"
    if off and not on:
        return (
            f"yield: the offline yield stands out (z {float(z_off):.1f}), the online one does not"
        )
    return ""


def _flag_bits(offline: pd.DataFrame | None) -> str:
    """``0x10=79, 0x1=2`` from the ``n_flag_0x..`` columns of the run's offline row."""
    if offline is None or len(offline) == 0:
        return ""
    parts = []
    for col in offline.columns:
        if str(col).startswith("n_flag_"):
            v = _int(offline[col].iloc[0])
            if v:
                parts.append(f"{str(col)[len('n_flag_') :]}={v}")
    return ", ".join(parts)


def _readable_files(files: list[dict[str, Any]] | None) -> int:
    return sum(1 for f in files or [] if f.get("status") in _READABLE)


def _partial(diff: int, causes: list[Cause]) -> int:
    """Events of ``diff`` the causes account for when they do not cover it all."""
    est = round(sum(c.est for c in causes))
    if diff >= 0:
        return max(0, min(diff, est))
    return min(0, max(diff, est))


def _allocate(amount: int, causes: list[Cause]) -> dict[str, int]:
    """Split ``amount`` (>= 0) over the causes: exact ones first, then by estimate."""
    out: dict[str, int] = {}
    if amount <= 0 or not causes:
        return out
    left = amount
    for c in (c for c in causes if c.exact and c.est > 0):
        take = min(left, round(c.est))
        out[c.code] = out.get(c.code, 0) + take
        left -= take
    estimated = [c for c in causes if not c.exact]
    if not estimated:
        # the floors widened the range: the remainder goes to the largest cause
        if left and out:
            big = max(out, key=lambda k: out[k])
            out[big] += left
        elif left:
            out[causes[0].code] = left
        return out
    total = sum(max(c.est, 0.0) for c in estimated) or float(len(estimated))
    given = 0
    for i, c in enumerate(estimated):
        share = left - given if i == len(estimated) - 1 else int(left * max(c.est, 0.0) / total)
        out[c.code] = out.get(c.code, 0) + share
        given += share
    return out
