"""Cause attribution per run, the accounting funnel, and the evidence of one run in plain words.

For every run, the evidence (unreadable files, index gaps, missing HLT units, error-flagged
events, duplicates, elog entries and conflicts, path markers) is turned into *causes*, each
with the number of events it accounts for: exact when a count says so (the DAQ catalogue, the
entries minus the error-free events, a gap's ``est_events``), otherwise an estimate (the run's
median events per readable file) with a plausible range (0 to the largest readable file of
the production: raw files roll over at a fixed size). A run is *explained* when its difference
lies in the summed range of its causes, widened by the floors; else an off-by-one, an elog
typo pattern or another elog entry may explain it; what remains is ``unexplained``.
See docs/statistics.md for every code.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lumiaudit.schema import FileStatus, Reason, RunStatus
from lumiaudit.stats import Thresholds

__all__ = [
    "FUNNEL_BUCKETS",
    "Cause",
    "explain_run",
    "explain_runs",
    "funnel",
    "typo_pattern",
]

log = logging.getLogger(__name__)

#: Exclusive buckets of the accounting funnel, in display order (matched last).
FUNNEL_BUCKETS: tuple[str, ...] = (
    "non_physics",
    "missing_offline",
    "unreadable_file",
    "file_index_gap",
    "missing_hlt_unit",
    "processing_loss",
    "error_flag_events",
    "duplicate_file",
    "elog_typo",
    "elog_conflict",
    "metadata_mismatch",
    "off_by_one",
    "within_tolerance",
    "unexplained",
    "matched",
)

_UNREADABLE = {
    FileStatus.NOT_ROOT.value,
    FileStatus.TRUNCATED.value,
    FileStatus.ZERO_BYTES.value,
    FileStatus.IO_ERROR.value,
    FileStatus.NO_TREE.value,
}
_READABLE = {s.value for s in FileStatus if s.readable}


@dataclass
class Cause:
    """One cause of a run's difference and the events it accounts for.

    ``est`` is the point estimate, ``[lo, hi]`` the plausible range (equal for exact amounts),
    with the sign of the difference it explains (positive: a deficit offline).
    """

    code: str
    est: float
    lo: float
    hi: float
    detail: str = ""

    @property
    def exact(self) -> bool:
        """Whether the amount is known exactly (not estimated)."""
        return self.lo == self.hi


@dataclass
class _RunResult:
    reasons: list[str] = field(default_factory=list)
    amounts: dict[str, int] = field(default_factory=dict)
    alloc: dict[str, int] = field(default_factory=dict)
    explained: int | None = None
    unexplained: int | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, code: str, amount: float | None = None) -> None:
        if code not in self.reasons:
            self.reasons.append(code)
        if amount is not None and math.isfinite(amount):
            self.amounts[code] = self.amounts.get(code, 0) + round(amount)


# ---------------------------------------------------------------------------- typo patterns


def typo_pattern(typed: int, true: int) -> str | None:
    """Name the typing slip that turns ``true`` into ``typed``, or None.

    Patterns: a dropped digit, an extra digit, a factor 10/100/1000 either way, two digits
    swapped.

    Examples
    --------
    >>> typo_pattern(232, 2329)
    'dropped digit'
    >>> typo_pattern(2439, 2349)
    'swapped digits'
    >>> typo_pattern(1000, 1001) is None
    True
    """
    if typed < 0 or true < 0 or typed == true:
        return None
    a, b = str(typed), str(true)
    for k in (10, 100, 1000):
        if true > 0 and (typed == true * k or typed * k == true):
            return f"factor {k}"
    if len(a) == len(b) - 1 and any(b[:i] + b[i + 1 :] == a for i in range(len(b))):
        return "dropped digit"
    if len(a) == len(b) + 1 and any(a[:i] + a[i + 1 :] == b for i in range(len(a))):
        return "extra digit"
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 2 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
            return "swapped digits"
    return None


# ---------------------------------------------------------------------------- helpers


def _int(x: Any) -> int | None:
    """An int, or None for a missing value."""
    if x is None or x is pd.NA or x is pd.NaT:
        return None
    if isinstance(x, float | np.floating) and math.isnan(x):
        return None
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _i(x: Any) -> int:
    """An int from a value known to be present."""
    return int(x)


#: (experiment, run): the experiment is None when the source does not give it (an elog entry
#: without ``Exp number``, a production keyed by run alone): a key value, never an int(NA).
Key = tuple[int | None, int]


def _key(experiment: Any, run: Any) -> Key:
    """The (experiment, run) key of a row (experiment None when missing)."""
    return (_int(experiment), _i(run))


def _key_frame(
    df: pd.DataFrame | None, cols: tuple[str, ...] = ("experiment", "run")
) -> pd.DataFrame:
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=list(cols))
    out = df.copy()
    for c in cols:
        if c in out:
            out[c] = out[c].astype("Int64")
    return out


def _groups(df: pd.DataFrame) -> dict[Key, pd.DataFrame]:
    if len(df) == 0 or "run" not in df or "experiment" not in df:
        return {}
    ok = df[df["run"].notna()]
    return {
        _key(k[0], k[1]): g for k, g in ok.groupby(["experiment", "run"], sort=False, dropna=False)
    }


def _records(df: pd.DataFrame) -> dict[Key, list[dict[str, Any]]]:
    """Rows grouped by (experiment, run) as plain dicts (much faster than iterrows)."""
    out: dict[Key, list[dict[str, Any]]] = {}
    if len(df) == 0 or "run" not in df or "experiment" not in df:
        return out
    ok = df[df["run"].notna()]
    for rec in ok.to_dict("records"):
        row = {str(k): v for k, v in rec.items()}
        out.setdefault(_key(row["experiment"], row["run"]), []).append(row)
    return out


def _with_events(files: pd.DataFrame, follows: str) -> pd.DataFrame:
    """``files`` with ``_ev``: a file's events in the definition followed (NaN if unknown)."""
    out = files.copy()
    if len(out) == 0:
        out["_ev"] = pd.Series(dtype="float64")
        return out
    nan = pd.Series(np.nan, index=out.index)
    ent = pd.to_numeric(out.get("n_entries", nan), errors="coerce")
    full = pd.to_numeric(out.get("n_full", nan), errors="coerce")
    ent, full = ent.astype("float64"), full.astype("float64")
    out["_ev"] = full.fillna(ent) if follows == "full" else ent
    return out


def _events(row: Mapping[str, Any] | pd.Series, follows: str) -> float:
    """Events of one file in the definition followed (full events when known)."""
    full = row.get("n_full")
    ent = row.get("n_entries")
    val = full if follows == "full" and not pd.isna(full) else ent
    return math.nan if val is None or pd.isna(val) else float(val)


def _has_marker(markers: object, *names: str) -> bool:
    if not isinstance(markers, str):
        return False
    parts = {m.strip() for m in markers.split(";")}
    return any(n in parts for n in names)


# ---------------------------------------------------------------------------- attribution


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
    follows: str = "full",
    thresholds: Thresholds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attribute each run's difference to causes.

    Parameters
    ----------
    runs
        Runs table from :func:`lumiaudit.compare.compare` (with ``n_offline_def``,
        ``follows_run``, ``in_online``).
    files, contributions, gaps, daq_files, online_entries, conflicts, offline_runs
        The evidence tables of docs/ARCHITECTURE.md (any may be None or empty).
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
            multi=key in multi,
            follows=follows,
            th=th,
            cap=cap,
            global_median=global_median,
            expected_units=None if key[0] is None else expected.get(key[0]),
            online_of=online_of,
            offline_of=offline_of,
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
        row, files=files, gaps=gaps, daq=daq, follows=follows, cap=cap, global_median=global_median
    )

    if status == RunStatus.MISSING_ONLINE.value:
        in_online = bool(row.in_online) if not pd.isna(row.in_online) else False
        has_entry = entries is not None and len(entries) > 0
        res.add(
            Reason.NO_ONLINE_COUNT.value
            if (in_online or has_entry)
            else Reason.NO_ONLINE_ENTRY.value
        )
        _notes(res, notes, row, offline, conflicts, multi, entries)
        return res

    if status == RunStatus.MISSING_OFFLINE.value:
        unreadable = [c for c in causes if c.code == Reason.UNREADABLE_FILE.value]
        code = Reason.UNREADABLE_FILE.value if unreadable else Reason.NO_OFFLINE_FILES.value
        res.add(code, n_online)
        if n_online is not None:
            res.alloc["unreadable_file" if unreadable else "missing_offline"] = n_online
            res.explained, res.unexplained = n_online, 0
        _notes(res, notes, row, offline, conflicts, multi, entries)
        return res

    assert n_online is not None
    if n_online == 0 and not n_def:
        # a physics run aborted before writing anything: nothing to produce, nothing missing
        res.add(Reason.ABORTED_RUN.value)
        res.notes.append("aborted run: 0 events online" + ("" if n_def == 0 else ", no file"))
        res.explained, res.unexplained = 0, 0
        _notes(res, notes, row, offline, conflicts, multi, entries)
        return res
    assert n_def is not None
    diff = n_online - n_def
    tol = th.tolerance(n_online)
    # per-file DAQ evidence is a cause only in the direction it explains
    causes = [
        c
        for c in causes
        if not (c.code == Reason.PROCESSING_LOSS.value and diff <= tol)
        and not (c.code == Reason.UNLISTED_FILE.value and diff >= -tol)
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
        elif abs(diff) > tol and (
            pattern := _typo(n_online, (n_def, n_ent, n_full), key, th, online_of, offline_of)
        ):
            res.add(Reason.ELOG_TYPO.value, diff)
            res.notes.append(f"elog typo: {pattern}")
            if diff > 0:
                res.alloc["elog_typo"] = diff
            res.explained, res.unexplained = diff, 0
        elif (
            diff > tol
            and all(c.code != Reason.MISSING_HLT_UNIT.value for c in causes)
            and (inferred := _inferred_units(files, expected_units, follows, cap, global_median))
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
    _notes(res, notes, row, offline, conflicts, multi, entries)
    return res


def _credit(res: _RunResult, amount: int, causes: list[Cause]) -> None:
    """Give ``amount`` events of the difference to the causes (reasons, amounts, funnel)."""
    sign = 1 if amount >= 0 else -1
    flipped = [Cause(c.code, abs(c.est), abs(c.lo), abs(c.hi), c.detail) for c in causes]
    parts = _allocate(abs(amount), flipped)
    for c in causes:
        res.add(c.code)
        res.notes.append(
            f"{c.code}: {c.detail}, estimate {c.est:.0f} events (range {c.lo:.0f} to {c.hi:.0f})"
        )
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
    follows: str,
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


def _fnum(x: Any) -> float:
    """A float, NaN for a missing value."""
    if x is None or x is pd.NA:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


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


def _evidence(
    row: Any,
    *,
    files: list[dict[str, Any]] | None,
    gaps: list[dict[str, Any]] | None,
    daq: list[dict[str, Any]] | None,
    follows: str,
    cap: float,
    global_median: float,
) -> tuple[list[Cause], list[tuple[str, float]]]:
    """Causes that can explain a deficit, and informational notes (code, amount)."""
    causes: list[Cause] = []
    notes: list[tuple[str, float]] = []
    per_file: list[float] = []
    seen: set[tuple[int, int]] = set()
    if files is not None and len(files):
        for f in files:
            st = str(f.get("status"))
            unit, idx = _int(f.get("hlt_unit")), _int(f.get("file_index"))
            if unit is not None and idx is not None:
                seen.add((unit, idx))
            if st in _READABLE and st != FileStatus.EMPTY.value:
                v = _fnum(f.get("_ev"))
                if math.isfinite(v):
                    per_file.append(v)
    median = float(np.median(per_file)) if per_file else global_median
    hi_one = cap if math.isfinite(cap) else (2 * median if math.isfinite(median) else math.nan)
    if math.isfinite(median) and math.isfinite(hi_one):
        hi_one = max(hi_one, median)

    daq_map: dict[tuple[int, int], float] = {}
    if daq is not None and len(daq):
        for d in daq:
            unit, idx = _int(d.get("hlt_unit")), _int(d.get("file_index"))
            val = d.get("n_online_full") if follows == "full" else d.get("n_online")
            if pd.isna(val):
                val = d.get("n_online")
            if unit is not None and idx is not None and not pd.isna(val):
                daq_map[(unit, idx)] = float(val)

    def estimate(
        code: str, unit: int | None, idx: int | None, given: object = None, detail: str = ""
    ) -> Cause:
        if unit is not None and idx is not None and (unit, idx) in daq_map:
            v = daq_map[(unit, idx)]
            return Cause(code, v, v, v, detail + " (DAQ catalogue)")
        if given is not None and not pd.isna(given):  # type: ignore[call-overload]
            v = float(given)  # type: ignore[arg-type]
            return Cause(
                code,
                v,
                0.0,
                max(v, hi_one) if math.isfinite(hi_one) else v,
                detail + " (gap estimate)",
            )
        est = median if math.isfinite(median) else 0.0
        return Cause(
            code,
            est,
            0.0,
            hi_one if math.isfinite(hi_one) else est,
            detail + " (run median per file)",
        )

    if files is not None and len(files):
        for f in files:
            st = str(f.get("status"))
            if st in _UNREADABLE:
                causes.append(
                    estimate(
                        Reason.UNREADABLE_FILE.value,
                        _int(f.get("hlt_unit")),
                        _int(f.get("file_index")),
                        detail=str(f.get("path")),
                    )
                )
            elif st == FileStatus.DUPLICATE.value or (
                isinstance(f.get("duplicate_of"), str) and f.get("duplicate_of")
            ):
                notes.append((Reason.DUPLICATE_FILE.value, _fnum(f.get("_ev"))))
            elif st == FileStatus.METADATA_MISMATCH.value:
                meta, ent = _int(f.get("n_meta")), _int(f.get("n_entries"))
                notes.append(
                    (
                        Reason.METADATA_MISMATCH.value,
                        float(meta - ent) if meta is not None and ent is not None else math.nan,
                    )
                )
    units: dict[int, int] = {}
    for u, _i in seen:
        units[u] = units.get(u, 0) + 1
    per_unit = max(units.values(), default=1)
    if gaps is not None and len(gaps):
        for g in gaps:
            kind = (
                str(g.get("kind"))
                if isinstance(g.get("kind"), str)
                else Reason.FILE_INDEX_GAP.value
            )
            unit, idx = _int(g.get("hlt_unit")), _int(g.get("file_index"))
            if unit is not None and idx is not None:
                seen.add((unit, idx))
            if idx is None:
                # a whole unit: the DAQ files of that unit, else as many files as the others have
                known = {k: v for k, v in daq_map.items() if k[0] == unit}
                if known:
                    seen.update(known)
                    v = float(sum(known.values()))
                    causes.append(Cause(kind, v, v, v, f"HLT{unit} (DAQ catalogue)"))
                    continue
                given = g.get("est_events")
                one = median if math.isfinite(median) else 0.0
                est = float(given) if not pd.isna(given) else one * per_unit
                hi = max(est, (hi_one if math.isfinite(hi_one) else one) * per_unit)
                causes.append(Cause(kind, est, 0.0, hi, f"HLT{unit}: {per_unit} file(s) expected"))
                continue
            causes.append(
                estimate(
                    kind,
                    unit,
                    idx,
                    g.get("est_events"),
                    detail=f"HLT{unit} f{idx:05d}",
                )
            )
    causes += _per_file_daq(files, daq)
    # files the DAQ catalogue lists that the production does not have at all
    units_seen = {u for u, _ in seen}
    for (unit, idx), v in sorted(daq_map.items()):
        if (unit, idx) not in seen and files is not None and len(files):
            code = (
                Reason.FILE_INDEX_GAP.value if unit in units_seen else Reason.MISSING_HLT_UNIT.value
            )
            causes.append(Cause(code, v, v, v, f"HLT{unit} f{idx:05d} in the DAQ catalogue only"))
    return causes, notes


def _unreadable_counts(entries: pd.DataFrame | None) -> list[str]:
    """Entries of the run whose count was typed (or summed) but could not be read."""
    if entries is None or len(entries) == 0 or "problem" not in entries:
        return []
    out = []
    for e in entries.to_dict("records"):
        text, problem = e.get("count_text"), e.get("problem")
        if (
            pd.isna(e.get("n_online"))
            and isinstance(problem, str)
            and problem
            and isinstance(text, str)
            and text.strip()
        ):
            out.append(f"{e.get('source')}:{e.get('source_line')} typed {text!r} ({problem})")
    return out


def _per_file_daq(
    files: list[dict[str, Any]] | None, daq: list[dict[str, Any]] | None
) -> list[Cause]:
    """Each readable offline file against the raw file it came from (DAQ catalogue ``nevents``).

    A file shorter than its raw file lost events in processing (``processing_loss``, the exact
    shortfall); a file the catalogue does not list (a merge left behind, a resubmitted job with
    a new index) is ``unlisted_file`` with its entries (an excess). The raw file is matched by
    (HLT unit, file index) within the run; like is compared with like: error-free with
    ``nfullevents`` when both are known, else entries with ``nevents``.
    """
    if not files or not daq:
        return []
    raw: dict[tuple[int, int], tuple[int | None, int | None]] = {}
    for d in daq:
        unit, idx = _int(d.get("hlt_unit")), _int(d.get("file_index"))
        if unit is not None and idx is not None:
            raw[(unit, idx)] = (_int(d.get("n_online")), _int(d.get("n_online_full")))
    if not raw:
        return []
    short: list[tuple[str, int]] = []
    unlisted: list[tuple[str, int]] = []
    for f in files:
        st = str(f.get("status"))
        if st not in _READABLE or st == FileStatus.EMPTY.value:
            continue
        if isinstance(f.get("duplicate_of"), str) and f.get("duplicate_of"):
            continue
        unit, idx = _int(f.get("hlt_unit")), _int(f.get("file_index"))
        ent, full = _int(f.get("n_entries")), _int(f.get("n_full"))
        name = "HLT? f?????" if unit is None or idx is None else f"HLT{unit} f{idx:05d}"
        if unit is None or idx is None or (unit, idx) not in raw:
            n = full if full is not None else ent
            if n:
                unlisted.append((f"{name} ({f.get('path')})", n))
            continue
        d_ent, d_full = raw[(unit, idx)]
        if d_full is not None and full is not None:
            lost = d_full - full
        elif d_ent is not None and ent is not None:
            lost = d_ent - ent
        else:
            continue
        if lost > 0:
            short.append((name, lost))
    out: list[Cause] = []
    if short:
        total = float(sum(n for _, n in short))
        detail = ", ".join(f"{name} -{n:,}" for name, n in short[:8])
        if len(short) > 8:
            detail += f" (+{len(short) - 8} more files)"
        out.append(
            Cause(
                Reason.PROCESSING_LOSS.value,
                total,
                total,
                total,
                f"{len(short)} file(s) shorter than their raw file: {detail}",
            )
        )
    if unlisted:
        total = float(sum(n for _, n in unlisted))
        detail = ", ".join(f"{name} {n:,} entries" for name, n in unlisted[:8])
        out.append(
            Cause(
                Reason.UNLISTED_FILE.value,
                -total,
                -total,
                -total,
                f"{len(unlisted)} file(s) the DAQ catalogue does not list: {detail}",
            )
        )
    return out


def _notes(
    res: _RunResult,
    notes: list[tuple[str, float]],
    row: Any,
    offline: pd.DataFrame | None,
    conflicts: pd.DataFrame | None,
    multi: bool,
    entries: pd.DataFrame | None = None,
) -> None:
    for code, amount in notes:
        res.add(code, amount if math.isfinite(amount) else None)
    unreadable = _unreadable_counts(entries)
    if unreadable:
        # the count some source gave could not be read: the comparison rests on the other
        # entries only, so the run is never good on their word alone (issue 11)
        res.add(Reason.ONLINE_COUNT_UNREADABLE.value)
        res.notes += [f"online count unreadable: {u}" for u in unreadable]
    if conflicts is not None and len(conflicts):
        res.add(Reason.ELOG_CONFLICT.value)
    if _has_marker(row.markers, "bad_suffix", "badruns_dir"):
        res.add(Reason.BAD_RUN_MARKER.value)
    if multi:
        res.add(Reason.MULTI_RUN_FILE.value)


def _typo(
    n_online: int,
    candidates: tuple[int | None, ...],
    key: Key,
    th: Thresholds,
    online_of: dict[Key, int],
    offline_of: dict[Key, int],
) -> str | None:
    for true in candidates:
        if true is not None and (p := typo_pattern(n_online, true)):
            return f"{p}: typed {n_online}, offline {true}"
    exp, run = key
    if n_online in (run, exp):
        return f"the run number typed as the count ({n_online})"
    for other in sorted(
        (
            (e, r)
            for (e, r) in itertools.chain(online_of, offline_of)
            if e == exp and r != run and abs(r - run) <= th.typo_window
        ),
        key=lambda k: abs(k[1] - run),
    ):
        if online_of.get(other) == n_online:
            return f"the count of run {other[1]} (online {n_online})"
        if offline_of.get(other) == n_online:
            return f"the offline count of run {other[1]} ({n_online})"
    return None


def _meta_explains(notes: list[tuple[str, float]], diff: int, tol: float) -> float | None:
    """The FileMetaData-minus-entries amount when it accounts for ``diff`` (online = nEvents)."""
    amounts = [
        a for code, a in notes if code == Reason.METADATA_MISMATCH.value and math.isfinite(a)
    ]
    total = float(sum(amounts))
    return total if amounts and total != 0 and abs(diff - total) <= tol else None


def _conflict_explains(
    conflicts: pd.DataFrame | None,
    entries: pd.DataFrame | None,
    n_def: int,
    n_online: int,
    tol: float,
) -> bool:
    """Another elog value for the run agrees with offline (the policy picked the wrong one)."""
    values: list[int] = []
    if conflicts is not None and len(conflicts) and "values" in conflicts:
        for text in conflicts["values"].dropna():
            for raw in str(text).split(";"):
                part = raw.strip().replace(",", "")
                if part.lstrip("-").isdigit():
                    values.append(int(part))
    if entries is not None and len(entries) and "n_online" in entries:
        values += [int(v) for v in entries["n_online"].dropna()]
    return any(v != n_online and abs(v - n_def) <= tol for v in values)


# ---------------------------------------------------------------------------- funnel


def funnel(allocation: pd.DataFrame) -> pd.DataFrame:
    """Sum a per-run allocation into the exclusive funnel buckets.

    Parameters
    ----------
    allocation
        ``experiment, run, bucket, events`` from :func:`explain_runs`.

    Returns
    -------
    DataFrame
        ``bucket, events, runs`` in :data:`FUNNEL_BUCKETS` order (every bucket listed, 0 when
        empty); the events add up exactly to the online total of the runs with an online count.
        With a ``lumi_nb`` column in ``allocation`` also ``lumi_nb``: the recorded luminosity
        of those events (``events / n_online x lumi`` per run; runs without a known luminosity
        add nothing, so the column adds up to the luminosity of the runs that have one).
    """
    has_lumi = "lumi_nb" in allocation.columns
    if len(allocation):
        agg = allocation.groupby("bucket")["events"].agg(["sum", "count"])
        lumi = (
            allocation.groupby("bucket")["lumi_nb"].sum(min_count=1)
            if has_lumi
            else pd.Series(dtype="float64")
        )
    else:
        agg = pd.DataFrame({"sum": [], "count": []})
        lumi = pd.Series(dtype="float64")
    rows = []
    for bucket in FUNNEL_BUCKETS:
        lum = _fnum(lumi.get(bucket, 0.0)) if has_lumi else math.nan
        lum = 0.0 if has_lumi and not math.isfinite(lum) else lum
        if bucket in agg.index:
            rows.append((bucket, _i(agg.loc[bucket, "sum"]), _i(agg.loc[bucket, "count"]), lum))
        else:
            rows.append((bucket, 0, 0, lum))
    out = pd.DataFrame(rows, columns=["bucket", "events", "runs", "lumi_nb"]).astype(
        {"bucket": "string", "events": "Int64", "runs": "Int64", "lumi_nb": "Float64"}
    )
    return out if has_lumi else out.drop(columns=["lumi_nb"])


# ---------------------------------------------------------------------------- one run in words


def _table(tables: Any, name: str) -> pd.DataFrame:
    value = tables.get(name) if isinstance(tables, Mapping) else getattr(tables, name, None)
    return value if isinstance(value, pd.DataFrame) else pd.DataFrame()


def _select(df: pd.DataFrame, run: int, experiment: int | None) -> pd.DataFrame:
    if len(df) == 0 or "run" not in df:
        return df.iloc[0:0]
    mask = df["run"].astype("Int64") == run
    if experiment is not None and "experiment" in df:
        mask &= df["experiment"].astype("Int64") == experiment
    return df[mask.fillna(False)]


def _fmt(x: object) -> str:
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float | np.floating):
        return f"{x:.4g}"
    if isinstance(x, int | np.integer):
        return f"{int(x):,}"
    return str(x)


def explain_run(tables: Any, run: int, experiment: int | None = None) -> str:
    """The evidence for one run, in plain words.

    Parameters
    ----------
    tables
        An :class:`lumiaudit.audit.Audit` or a mapping of table name to DataFrame (``runs``,
        ``files``, ``gaps``, ``online_entries``, ``conflicts``, ``contributions``).
    run
        Run number.
    experiment
        Experiment number (needed only when several experiments have that run).

    Returns
    -------
    str
        A multi-line text: the verdict, the counts and their arithmetic, the files by HLT unit
        and index with their statuses, the gaps, error-flag counts, the elog entries (MIDs and
        typed text) and the conflicts.

    Raises
    ------
    ParameterError
        When the run is not in the runs table or is ambiguous.
    """
    from lumiaudit.errors import ParameterError

    runs = _select(_table(tables, "runs"), run, experiment)
    if len(runs) == 0:
        raise ParameterError(
            f"run {run} is not in this audit"
            + (f" (experiment {experiment})" if experiment else "")
        )
    exps = sorted({_i(e) for e in runs["experiment"].dropna()})
    if len(exps) > 1:
        raise ParameterError(f"run {run} exists in experiments {exps}", hint="pass --experiment")
    r = runs.iloc[0]
    g = r.get
    exp = _int(r["experiment"])
    follows = str(g("follows")) if isinstance(g("follows"), str) else "full"
    lines: list[str] = []
    where = "" if exp is None else f"experiment {exp}, "  # a run-only key has none
    head = f"Run {run} ({where}{_fmt(g('run_type'))}): {g('status')}"
    if _truthy(g("flagged")):
        head += ", FLAGGED"
    if _truthy(g("waived")):
        head += f", waived ({g('waiver')})" if isinstance(g("waiver"), str) else ", waived"
    if isinstance(g("severity"), str):
        head += f", severity {g('severity')}"
    lines.append(head)
    lines.append(f"  reasons: {g('reasons') if isinstance(g('reasons'), str) else 'none'}")
    if isinstance(g("reason_events"), str):
        lines.append(f"  events per reason: {g('reason_events')}")
    if isinstance(g("evidence"), str):
        lines += [f"  evidence: {note}" for note in str(g("evidence")).split(" | ")]
    n_def = g("n_offline_def")
    if n_def is None or pd.isna(n_def):
        n_def = g("n_offline_full") if follows == "full" else g("n_offline")
    lines += [
        "",
        "Counts",
        f"  online (elog/DAQ):           {_fmt(g('n_online'))}",
        f"  offline entries:             {_fmt(g('n_offline'))}",
        f"  offline error-free (full):   {_fmt(g('n_offline_full'))}",
        f"  the online number follows:   {follows} events",
        f"  diff = online - offline({follows}) = {_fmt(g('n_online'))} - {_fmt(n_def)}"
        f" = {_fmt(g('diff'))}  (ratio {_fmt(g('ratio'))})",
    ]
    expl, unexpl = _int(g("explained_events")), _int(g("unexplained_diff"))
    if expl is not None and unexpl is not None:
        lines.append(
            f"  explained {_fmt(expl)} + unexplained {_fmt(unexpl)} = {_fmt(expl + unexpl)}"
        )
    if not pd.isna(g("z_robust")):
        lines.append(
            f"  robust z {_fmt(g('z_robust'))}, p {_fmt(g('p_value'))}, "
            f"q {_fmt(g('q_value'))}, {_fmt(g('significance'))} sigma"
        )
    if not pd.isna(g("lumi_nb")):
        lines.append(
            f"  luminosity {_fmt(g('lumi_nb'))} nb^-1: yield online {_fmt(g('yield_online'))}, "
            f"offline {_fmt(g('yield_offline'))} events/nb^-1"
        )
        if not pd.isna(g("lumi_affected_nb")) and _fnum(g("lumi_affected_nb")) > 0:
            lines.append(
                f"  luminosity affected by losses {_fmt(g('lumi_affected_nb'))} nb^-1, "
                f"unexplained {_fmt(g('lumi_unexplained_nb'))} nb^-1"
            )
    if isinstance(g("sources"), str):
        lines.append(f"  online sources: {g('sources')} ({_fmt(g('source_verdict'))})")
    if isinstance(g("productions"), str):
        lines.append(f"  productions (never summed): {g('productions')}")
    lines += _file_lines(tables, run, exp, r)
    lines += _gap_lines(tables, run, exp)
    lines += _elog_lines(tables, run, exp)
    return "\n".join(lines) + "\n"


def _truthy(x: object) -> bool:
    return str(x) == "True"


def _file_lines(tables: Any, run: int, exp: int | None, r: pd.Series) -> list[str]:
    files = _select(_table(tables, "files"), run, exp)
    contrib = _select(_table(tables, "contributions"), run, exp)
    all_files = _table(tables, "files")
    if len(contrib) and "path" in contrib and len(all_files):
        extra = set(contrib["path"]) - set(files.get("path", []))
        if extra:
            files = pd.concat([files, all_files[all_files["path"].isin(extra)]])
    lines = ["", f"Files ({len(files)})"]
    if len(files) == 0:
        return [*lines, "  no offline file found for this run"]
    f = files.copy()
    f["_u"] = f["hlt_unit"].astype("Int64") if "hlt_unit" in f else pd.NA
    f["_i"] = f["file_index"].astype("Int64") if "file_index" in f else pd.NA
    for _, fr in f.sort_values(["_u", "_i"], na_position="last").iterrows():
        get = fr.get
        unit = "HLT?" if pd.isna(fr["_u"]) else f"HLT{_i(fr['_u'])}"
        idx = "f?????" if pd.isna(fr["_i"]) else f"f{_i(fr['_i']):05d}"
        text = (
            f"  {unit} {idx} {get('status')}: entries {_fmt(get('n_entries'))},"
            f" full {_fmt(get('n_full'))}"
        )
        if not pd.isna(get("n_meta")) and get("n_meta") != get("n_entries"):
            text += f", FileMetaData nEvents {_fmt(get('n_meta'))}"
        if isinstance(get("duplicate_of"), str) and get("duplicate_of"):
            text += f", duplicate of {get('duplicate_of')}"
        if isinstance(get("markers"), str) and get("markers"):
            text += f" [{get('markers')}]"
        if isinstance(get("error"), str) and get("error"):
            text += f" ({get('error')})"
        lines += [text, f"      {get('path')}"]
    flag_cols = [c for c in files.columns if str(c).startswith("n_flag_")]
    counts = {str(c)[len("n_flag_") :]: _i(files[c].fillna(0).sum()) for c in flag_cols}
    counts = {k: v for k, v in counts.items() if v}
    if counts:
        lines.append(
            "  error-flagged events by bit: " + ", ".join(f"{k}: {v:,}" for k, v in counts.items())
        )
    n_ent, n_full = _int(r.get("n_offline")), _int(r.get("n_offline_full"))
    if n_ent is not None and n_full is not None and n_ent != n_full:
        lines.append(f"  error-flagged events (entries - full): {n_ent - n_full:,}")
    return lines


def _gap_lines(tables: Any, run: int, exp: int | None) -> list[str]:
    gaps = _select(_table(tables, "gaps"), run, exp)
    lines = ["", f"Gaps ({len(gaps)})"]
    for _, gp in gaps.iterrows():
        unit = "HLT?" if pd.isna(gp.get("hlt_unit")) else f"HLT{_i(gp.get('hlt_unit'))}"
        idx = "whole unit" if pd.isna(gp.get("file_index")) else f"f{_i(gp.get('file_index')):05d}"
        lines.append(
            f"  {gp.get('kind')}: {unit} {idx} missing, about {_fmt(gp.get('est_events'))} events"
        )
    if len(gaps) == 0:
        lines.append("  none")
    return lines


def _elog_lines(tables: Any, run: int, exp: int | None) -> list[str]:
    entries = _select(_table(tables, "online_entries"), run, exp)
    lines = ["", f"Elog entries ({len(entries)})"]
    for _, e in entries.iterrows():
        chosen = " (chosen)" if _truthy(e.get("chosen")) else ""
        text = e.get("count_text")
        typed = f"typed {text!r}" if isinstance(text, str) else "no count typed"
        problem = e.get("problem")
        why = f"; {problem}" if isinstance(problem, str) and problem else ""
        lines.append(
            f"  {e.get('entry_id')} {_fmt(e.get('entry_date'))} {_fmt(e.get('entry_type'))}:"
            f" {typed} -> {_fmt(e.get('n_online'))}{chosen}{why} [{_fmt(e.get('source'))}]"
        )
    if len(entries) == 0:
        lines.append("  none")
    for _, c in _select(_table(tables, "conflicts"), run, exp).iterrows():
        lines.append(
            f"  conflict: values {c.get('values')} from {c.get('sources')};"
            f" kept {_fmt(c.get('chosen'))} (policy {c.get('policy')})"
        )
    return lines
