"""Integrated luminosity per run: CMS ``brilcalc`` CSV and the Belle II luminosity SQLite files.

Two sources, one table (:data:`LUMI_COLUMNS`), always in nb^-1 with the unit of the input said:

- ``brilcalc lumi [--byls] --output-style csv`` (CMS BRIL Work Suite): a ``#Data tag : v1 ,
  Norm tag: None`` line, a ``#run:fill,...`` header whose luminosity columns carry the unit
  (``delivered(/ub)``, ``recorded(/fb)``, set by ``-u``), one row per run or, with ``--byls``,
  per lumisection (``ls`` = ``ls:cmsls``), then ``#Summary:``, a ``#nfill,nrun,...,
  totdelivered(/ub),totrecorded(/ub)`` header and one ``#`` totals line. The rows are summed per
  run and the sum is checked against the summary (a file cut before it says so).
- The SQLite databases read by basf2's ``b2info-luminosity``: the offline one
  (``OffLineLuminosity.db``, table ``RunLumi(exp, run, lee, start_time)``) and the online ECL one
  (``ecl_lom.db``, table ``prev_bhacnt_det_run(exp, run, lum_det_shift, start_time,
  end_time)``); luminosities in nb^-1 (``b2info-luminosity`` multiplies by 1e-6 for fb^-1),
  ``start_time`` in seconds since the epoch. The file is opened read-only.

A value that is not a number (a typed ``12k``, a boolean, an instantaneous ``hz/ub`` column) is
missing with a located problem; a run whose rows cannot all be read has no sum.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api.types import pandas_dtype

from lumiaudit.errors import InputNotFoundError, InputReadError, OnlineFormatError
from lumiaudit.online.entries import Problems
from lumiaudit.online.values import (
    DATE_MAX,
    DATE_MIN,
    LUMI_TO_NB,
    parse_count,
    parse_float,
    parse_run,
)

__all__ = ["LUMI_COLUMNS", "LumiResult", "read_brilcalc", "read_lumi", "read_lumi_db"]

#: Columns of :attr:`LumiResult.table` (luminosities in nb^-1).
LUMI_COLUMNS = {
    "experiment": "Int64",
    "run": "Int64",
    "lumi_recorded_nb": "Float64",
    "lumi_delivered_nb": "Float64",
    "n_ls": "Int64",
    "start_time": "datetime64[ns, UTC]",
    "source": "string",
    "source_line": "string",
}

_SQLITE_MAGIC = b"SQLite format 3\x00"
_UNIT_COLUMN = re.compile(r"^(tot)?(delivered|recorded)\((hz)?/([nfpuµμ])b\)$", re.IGNORECASE)
_TAGS = re.compile(r"^#\s*Data tag\s*:\s*(?P<data>[^,]*?)\s*,\s*Norm tag\s*:\s*(?P<norm>.*?)\s*$")
#: SQLite layouts: table -> (luminosity column, end-time column or None).
DB_TABLES = {"RunLumi": ("lee", None), "prev_bhacnt_det_run": ("lum_det_shift", "end_time")}


@dataclass(frozen=True)
class LumiResult:
    """What :func:`read_lumi` found.

    Attributes
    ----------
    table
        :data:`LUMI_COLUMNS`, one row per (experiment, run).
    problems
        ``schema.PROBLEMS`` rows (``source, line, reason, text``).
    unit
        The unit of the input (``/ub``, ``/fb`` ... for brilcalc; ``/nb`` for the SQLite files);
        the table is always in nb^-1.
    tags
        brilcalc's ``Data tag`` and ``Norm tag`` (empty for SQLite), the provenance of the
        numbers.
    """

    table: pd.DataFrame
    problems: pd.DataFrame
    unit: str
    tags: dict[str, str] = field(default_factory=dict)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    data: dict[str, pd.Series] = {}
    for name, dtype in LUMI_COLUMNS.items():
        values = pd.Series([r.get(name) for r in rows], dtype="object")
        if dtype.startswith("datetime64"):
            values = pd.to_datetime(values, utc=True)
        data[name] = values.astype(pandas_dtype(dtype))
    return pd.DataFrame(data)


def _problems(problems: Problems) -> pd.DataFrame:
    cols = ["source", "line", "reason", "text"]
    return pd.DataFrame(problems.rows, columns=cols).astype("string")


def _epoch(value: float, source: str, line: str, problems: Problems) -> datetime | None:
    try:
        when = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        when = None
    if when is None or not DATE_MIN <= when <= DATE_MAX:
        problems.add(source, line, f"start time {value!r} (seconds since 1970) out of range")
        return None
    return when


# ------------------------------------------------------------------ brilcalc CSV


def _brilcalc_time(text: str) -> datetime | None:
    text = text.strip()
    if re.fullmatch(r"[0-9]+", text):  # --tssec
        return datetime.fromtimestamp(int(text), tz=UTC)
    try:  # brilcalc's default: mm/dd/yy HH:MM:SS, UTC
        return datetime.strptime(text, "%m/%d/%y %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def read_brilcalc(
    text: str, source: str, *, experiment: int | None = None, problems: Problems | None = None
) -> LumiResult:
    """Read ``brilcalc lumi [--byls] --output-style csv`` output.

    Parameters
    ----------
    text
        The decoded file.
    source
        Its path, for provenance.
    experiment
        The experiment to put in the table (brilcalc has none; ``None`` leaves it empty).
    problems
        Collector (a new one by default).

    Raises
    ------
    OnlineFormatError
        No ``#run:fill`` header, no ``delivered``/``recorded`` column with a unit, or an
        instantaneous (``hz/ub``) luminosity.
    """
    problems = problems if problems is not None else Problems()
    lines = text.splitlines()
    tags: dict[str, str] = {}
    header: list[str] | None = None
    start = 0
    for k, line in enumerate(lines):
        m = _TAGS.match(line)
        if m:
            tags = {"data_tag": m.group("data"), "norm_tag": m.group("norm")}
        if line.lstrip("#").strip().lower().startswith("run:fill"):
            header = [c.strip().lower() for c in line.lstrip("#").split(",")]
            start = k + 1
            break
    if header is None:
        msg = "no '#run:fill,...' header line: not brilcalc CSV output"
        raise OnlineFormatError(
            msg,
            path=source,
            hint="brilcalc lumi --output-style csv",
        )
    units = {}
    for name in header:
        m = _UNIT_COLUMN.match(name)
        if m and m.group(3):
            msg = f"column {name!r} is an instantaneous luminosity, not an integrated one"
            raise OnlineFormatError(
                msg,
                path=source,
                line=start,
            )
        if m:
            units[m.group(2).lower()] = m.group(4)
    if set(units) != {"delivered", "recorded"} or len(set(units.values())) != 1:
        msg = f"no delivered(/unit) and recorded(/unit) columns in {','.join(header)}"
        raise OnlineFormatError(
            msg,
            path=source,
            line=start,
        )
    prefix = units["recorded"]
    factor = LUMI_TO_NB[prefix]
    col = {name.split("(")[0]: k for k, name in enumerate(header)}
    runs: dict[int, dict[str, Any]] = {}
    summary: tuple[int, list[str]] | None = None
    for k in range(start, len(lines)):
        line, where = lines[k].strip(), str(k + 1)
        if not line:
            continue
        if line.lower().startswith("#summary"):
            nxt = [(j + 1, lines[j]) for j in range(k + 1, min(k + 3, len(lines)))]
            if len(nxt) == 2 and nxt[1][1].startswith("#"):
                names = [c.strip().lower() for c in nxt[0][1].lstrip("#").split(",")]
                summary = (
                    nxt[1][0],
                    [f"{n}={v}" for n, v in zip(names, nxt[1][1][1:].split(","), strict=False)],
                )
            break
        if line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(header):
            problems.add(
                source, where, f"row has {len(cells)} fields, the header {len(header)}", line
            )
            continue
        run, why = parse_run(cells[col["run:fill"]].split(":")[0])
        if run is None:
            problems.add(source, where, f"run {why}; row skipped", line)
            continue
        acc = runs.setdefault(
            run,
            {"recorded": 0.0, "delivered": 0.0, "n": 0, "bad": 0, "lines": [], "time": None},
        )
        acc.setdefault("nls", 0)
        acc["n"] += 1
        acc["lines"].append(k + 1)
        for what in ("recorded", "delivered"):
            value, why = parse_float(cells[col[what]])
            if value is None:
                acc["bad"] += 1
                problems.add(source, where, f"run {run}: {what} {why}; run sum not formed", line)
            else:
                acc[what] += value
        if "nls" in col and acc["nls"] is not None:
            # per-run output: the lumisections are counted by brilcalc
            nls, why = parse_count(cells[col["nls"]])
            if nls is None:
                problems.add(source, where, f"run {run}: nls {why}", line)
            acc["nls"] = None if nls is None else acc["nls"] + nls
        if "time" in col:
            when = _brilcalc_time(cells[col["time"]])
            if when is not None and (acc["time"] is None or when < acc["time"]):
                acc["time"] = when
    rows = []
    for run, acc in sorted(runs.items()):
        span = f"{min(acc['lines'])}-{max(acc['lines'])}" if acc["n"] > 1 else str(acc["lines"][0])
        ok = acc["bad"] == 0
        rows.append(
            {
                "experiment": experiment,
                "run": run,
                "lumi_recorded_nb": acc["recorded"] * factor if ok else None,
                "lumi_delivered_nb": acc["delivered"] * factor if ok else None,
                "n_ls": acc["n"] if "ls" in col else acc["nls"],
                "start_time": acc["time"],
                "source": source,
                "source_line": span,
            }
        )
    _check_summary(summary, runs, source, len(lines), problems)
    return LumiResult(_frame(rows), _problems(problems), unit=f"/{prefix}b", tags=tags)


def _check_summary(
    summary: tuple[int, list[str]] | None,
    runs: dict[int, dict[str, Any]],
    source: str,
    n_lines: int,
    problems: Problems,
) -> None:
    """Compare brilcalc's ``#Summary`` totals with the rows read."""
    if summary is None:
        problems.add(
            source,
            n_lines,
            "no '#Summary:' totals at the end (file cut?); the rows could not be checked",
        )
        return
    line, cells = summary
    totals = dict(c.split("=", 1) for c in cells)
    for what in ("recorded", "delivered"):
        key = next((k for k in totals if k.startswith(f"tot{what}(")), None)
        if key is None:
            continue
        total, _ = parse_float(totals[key])
        got = sum(a[what] for a in runs.values() if a["bad"] == 0)
        if total is None or any(a["bad"] for a in runs.values()):
            continue
        # brilcalc prints rounded numbers: allow the rounding of each row and of the total
        tolerance = 1e-6 * max(abs(total), 1.0) + 1e-3 * (1 + sum(a["n"] for a in runs.values()))
        if not math.isclose(got, total, abs_tol=tolerance):
            problems.add(
                source,
                line,
                f"the rows' {what} luminosity adds to {got:.6g}, the #Summary says "
                f"{total:.6g}: rows missing or changed",
            )
    nrun, _ = parse_float(totals.get("nrun", ""))
    if nrun is not None and int(nrun) != len(runs):
        problems.add(source, line, f"#Summary lists {int(nrun)} runs, the rows {len(runs)}")


# ------------------------------------------------------------------ b2info-luminosity SQLite


def _as_number(value: Any, what: str, where: tuple[str, str], problems: Problems) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(float(value)):
            return float(value)
    elif isinstance(value, str):
        number, _ = parse_float(value)
        if number is not None:
            return number
    problems.add(where[0], where[1], f"{what} {value!r} is not a number; left empty", str(value))
    return None


def _as_int(value: Any, what: str, where: tuple[str, str], problems: Problems) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        number, _ = parse_run(value)
        if number is not None:
            return number
    problems.add(where[0], where[1], f"{what} {value!r} is not a whole number; row skipped")
    return None


def read_lumi_db(path: str | PathLike[str], *, table: str | None = None) -> LumiResult:
    """Read a Belle II luminosity SQLite file (``RunLumi`` or ``prev_bhacnt_det_run``).

    Raises
    ------
    InputReadError
        Not an SQLite file, or it cannot be opened.
    OnlineFormatError
        None of the known tables (the message lists the tables that are there), or a known
        table without its columns.
    """
    source = str(path)
    problems = Problems()
    try:
        con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        msg = f"cannot open SQLite database: {exc}"
        raise InputReadError(msg, path=source) from None
    try:
        try:
            tables = [
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
        except sqlite3.DatabaseError as exc:
            msg = f"not a readable SQLite database: {exc}"
            raise InputReadError(msg, path=source) from None
        names = [table] if table else [t for t in DB_TABLES if t in tables]
        if not names or names[0] not in tables or names[0] not in DB_TABLES:
            msg = (
                f"no luminosity table ({', '.join(DB_TABLES)}); "
                f"tables: {', '.join(tables) or 'none'}"
            )
            raise OnlineFormatError(
                msg,
                path=source,
            )
        name = names[0]
        lumi_col, _ = DB_TABLES[name]
        columns = [r[1] for r in con.execute(f"PRAGMA table_info({name})")]
        missing = [c for c in ("exp", "run", lumi_col, "start_time") if c not in columns]
        if missing:
            msg = f"table {name} lacks {', '.join(missing)}; columns: {', '.join(columns)}"
            raise OnlineFormatError(
                msg,
                path=source,
            )
        cursor = con.execute(
            f"SELECT rowid, exp, run, {lumi_col}, start_time FROM {name} ORDER BY exp, run, rowid"
        )
        records = cursor.fetchall()
    except sqlite3.Error as exc:
        msg = f"cannot read SQLite database: {exc}"
        raise InputReadError(msg, path=source) from None
    finally:
        con.close()
    seen: dict[tuple[int, int], dict[str, Any]] = {}
    for rowid, exp, run, lumi, start in records:
        where = (source, f"{name} rowid {rowid}")
        e = _as_int(exp, "exp", where, problems)
        r = _as_int(run, "run", where, problems)
        if e is None or r is None:
            continue
        value = _as_number(lumi, lumi_col, where, problems)
        when = _as_number(start, "start_time", where, problems)
        row = {
            "experiment": e,
            "run": r,
            "lumi_recorded_nb": value,
            "lumi_delivered_nb": None,
            "n_ls": None,
            "start_time": None if when is None else _epoch(when, *where, problems),
            "source": source,
            "source_line": where[1],
        }
        old = seen.get((e, r))
        if old is not None and old["lumi_recorded_nb"] != value:
            problems.add(
                source,
                where[1],
                f"exp {e} run {r}: second row with {lumi_col} {value!r} (first: "
                f"{old['lumi_recorded_nb']!r} at {old['source_line']}); luminosity left empty",
            )
            old["lumi_recorded_nb"] = None
            continue
        seen.setdefault((e, r), row)
    return LumiResult(_frame(list(seen.values())), _problems(problems), unit="/nb")


def read_lumi(
    paths: str | PathLike[str] | Iterable[str | PathLike[str]], *, experiment: int | None = None
) -> LumiResult:
    """Read luminosity files (brilcalc CSV or Belle II SQLite, detected by content).

    Several files are concatenated; their units must agree (the table is in nb^-1 anyway, but a
    mix usually means two different queries).

    Raises
    ------
    InputNotFoundError
        A path does not exist.
    InputReadError, OnlineFormatError
        See :func:`read_brilcalc` and :func:`read_lumi_db`.
    """
    items = [paths] if isinstance(paths, str | PathLike) else list(paths)
    results = []
    for item in items:
        path = Path(item)
        if not path.is_file():
            msg = "no such luminosity file"
            raise InputNotFoundError(msg, path=path)
        try:
            with path.open("rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            msg = f"cannot read: {exc.strerror}"
            raise InputReadError(msg, path=path) from None
        if head == _SQLITE_MAGIC:
            results.append(read_lumi_db(path))
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
            results.append(read_brilcalc(text, str(path), experiment=experiment))
    table = pd.concat([r.table for r in results], ignore_index=True)
    problems = pd.concat([r.problems for r in results], ignore_index=True)
    units = sorted({r.unit for r in results})
    tags = {k: v for r in results for k, v in r.tags.items()}
    return LumiResult(table, problems, unit=",".join(units), tags=tags)
