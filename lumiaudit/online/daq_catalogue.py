"""DAQ file catalogue exports: one row per raw file, summed per run.

Columns (Belle II DAQ file table): ``name path host runtype expno runno fileno nevents
[nfullevents] size time_close [correct_close]``. This is the only per-file online count, so the
rows are also returned as they are (``daq_files``) to pin a deficit on single files later.
A run's sum is missing (``<NA>``, with a problem) when any of its files has no count: a partial
sum would be an invented number.
"""

from __future__ import annotations

import re
from typing import Any

from lumiaudit import schema
from lumiaudit.online.entries import Problems, RawEntry, _lookup, _reportable, interpret
from lumiaudit.online.mapping import Fields
from lumiaudit.online.table import read_rows
from lumiaudit.online.values import date_in_range, parse_count, parse_time

__all__ = ["DAQ_FILE_COLUMNS", "parse_daq"]

#: Columns of ``OnlineResult.daq_files`` (then ``run_type, time_close, correct_close``).
DAQ_FILE_COLUMNS = schema.DAQ_FILES.dtypes  # declared in lumiaudit.schema

_HLT = re.compile(r"HLT0*(\d+)", re.IGNORECASE)


def _bool(text: str | None) -> bool | None:
    if text is None:
        return None
    low = text.strip().lower()
    if low in ("t", "true", "1", "yes", "y"):
        return True
    if low in ("f", "false", "0", "no", "n"):
        return False
    return None


def _number(
    attrs: dict[str, str], name: str, source: str, line: int, problems: Problems
) -> int | None:
    """A whole-number column (``fileno``, ``size``): missing with a problem unless a count."""
    value, reason = parse_count(attrs.get(name))
    if _reportable(reason):
        problems.add(source, line, f"row {line}: {name} {reason}; left empty", attrs[name])
    return value


def parse_daq(
    text: str, source: str, fields: Fields, problems: Problems, *, seq: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read a DAQ catalogue export.

    Returns
    -------
    tuple
        ``(entries, files)``: one entry row per (experiment, run) with the summed counts
        (``source_line`` = the row lines, e.g. ``2-9``), and one row per file.
    """
    files: list[dict[str, Any]] = []
    for line, attrs in read_rows(text, source, problems):
        raw = RawEntry(source, str(line), str(line), str(line), attrs)
        entry = interpret(raw, fields, problems, kind="daq", seq=seq)
        if entry is None:
            continue
        name = attrs.get("name", "")
        host = attrs.get("host", "")
        unit = _HLT.search(host) or _HLT.search(name)
        fileno = _number(attrs, "fileno", source, line, problems)
        size = _number(attrs, "size", source, line, problems)
        correct = _bool(attrs.get("correct_close"))
        if correct is None and (attrs.get("correct_close") or "").strip():
            problems.add(
                source,
                line,
                f"row {line}: correct_close {attrs['correct_close']!r} is not a boolean "
                "(t/f, true/false, 1/0, yes/no); left empty",
                attrs["correct_close"],
            )
        close_text, _ = _lookup(attrs, fields.stop)
        # out of pandas' range: missing (interpret already reported the same stop time)
        close = parse_time(close_text, default_tz=fields.tz)
        files.append(
            {
                "name": name or None,
                "path": attrs.get("path") or None,
                "experiment": entry["experiment"],
                "run": entry["run"],
                "hlt_unit": int(unit.group(1)) if unit else None,
                "file_index": fileno,
                "n_online": entry["n_online"],
                "n_online_full": entry["n_online_full"],
                "size_bytes": size,
                "source": source,
                "source_line": str(line),
                "run_type": entry["run_type"],
                "time_close": close if date_in_range(close) else None,
                "correct_close": correct,
                "_problem": entry["problem"],
            }
        )
    runs: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for f in files:
        runs.setdefault((f["experiment"], f["run"]), []).append(f)
    entries: list[dict[str, Any]] = []
    for (experiment, run), rows in runs.items():
        counts = [r["n_online"] for r in rows]
        fulls = [r["n_online_full"] for r in rows]
        lines = [int(r["source_line"]) for r in rows]
        span = f"{min(lines)}-{max(lines)}" if len(lines) > 1 else str(lines[0])
        problem = None
        if any(c is None for c in counts):
            bad = sum(c is None for c in counts)
            problem = f"{bad} of {len(rows)} files have no nevents; run sum not formed"
        closes = [r["time_close"] for r in rows if r["time_close"] is not None]
        types = [r["run_type"] for r in rows if r["run_type"]]
        entries.append(
            {
                "experiment": experiment,
                "run": run,
                "run_type": types[0] if types else None,
                "n_online": None if problem else sum(counts),
                "n_online_full": None if any(f is None for f in fulls) else sum(fulls),
                "lumi_nb": None,
                "start_time": None,
                "stop_time": max(closes) if closes else None,
                "source": source,
                "source_line": span,
                "entry_id": span,
                "entry_date": max(closes) if closes else None,
                "entry_type": "DAQ files",
                "count_text": f"sum of {len(rows)} files",
                "problem": problem,
                "line": span,
                "seq": seq,
            }
        )
    for f in files:
        f.pop("_problem")
    return entries, files
