"""The evidence of one run turned into causes: files, gaps, units, flags, DAQ files, elog typos."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd

from lumiaudit.numbers import fmt
from lumiaudit.reconcile._common import (
    _READABLE,
    _UNREADABLE,
    Cause,
    Key,
    _fnum,
    _has_marker,
    _int,
    _RunResult,
    typo_pattern,
)
from lumiaudit.reconcile.stats import Thresholds
from lumiaudit.schema import FileStatus, Reason


def _evidence(
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
                detail,  # the range it is checked against is in the note (attribution._credit)
            )
        est = median if math.isfinite(median) else 0.0
        return Cause(
            code,
            est,
            0.0,
            hi_one if math.isfinite(hi_one) else est,
            detail,
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
        detail = ", ".join(f"{name} {fmt(-n, 'signed')}" for name, n in short[:8])
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
        detail = ", ".join(f"{name} {fmt(n)} entries" for name, n in unlisted[:8])
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
            return f"{p}: typed {fmt(n_online)}, offline {fmt(true)}"
    exp, run = key
    if n_online in (run, exp):
        return f"the run number typed as the count ({fmt(n_online, 'run')})"
    for other in sorted(
        (
            (e, r)
            for (e, r) in itertools.chain(online_of, offline_of)
            if e == exp and r != run and abs(r - run) <= th.typo_window
        ),
        key=lambda k: abs(k[1] - run),
    ):
        if online_of.get(other) == n_online:
            return f"the count of run {other[1]} (online {fmt(n_online)})"
        if offline_of.get(other) == n_online:
            return f"the offline count of run {other[1]} ({fmt(n_online)})"
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


def _duplicate_events(rows: list[dict[str, Any]] | None) -> tuple[list[Cause], list[str]]:
    """Events counted twice, from the event numbers of the run's files (an exact excess).

    ``rows`` are the run's rows of the ``duplicate_events`` table
    (:data:`lumiaudit.offline.events.DUPLICATE_EVENT_COLUMNS`). A file whose event numbers
    could not be read leaves the check incomplete: it is said, and what was found stays a
    lower bound (the rest of the excess stays unexplained, never guessed).
    """
    if not rows:
        return [], []
    notes: list[str] = []
    pairs: list[tuple[str, str, int]] = []
    for r in rows:
        error = r.get("error")
        if isinstance(error, str) and error:
            notes.append(
                f"duplicate_events: event numbers of {r.get('path')} could not be read "
                f"({error}): not checked"
            )
            continue
        n = _int(r.get("n_events"))
        if n and isinstance(r.get("path"), str):
            pairs.append((str(r["path"]), str(r.get("other")), n))
    if not pairs:
        if not notes:
            notes.append("duplicate_events: event numbers read, no event in two files")
        return [], notes
    total = float(sum(n for _, _, n in pairs))
    detail = ", ".join(
        f"{fmt(n)} events of {a} again in {b}" if a != b else f"{fmt(n)} events twice in {a}"
        for a, b, n in pairs[:8]
    )
    if len(pairs) > 8:
        detail += f" (+{len(pairs) - 8} more pairs)"
    cause = Cause(Reason.DUPLICATE_EVENTS.value, -total, -total, -total, detail)
    return [cause], notes
