"""The one CSV writer and the one CSV reader of lumiaudit's tables.

Writer (:func:`write_csv`, used by ``audit --out``, ``online -o``, ``count -o``, run lists):

* missing values are empty cells, never 0;
* timestamps are ISO 8601 in UTC with a ``Z`` (``2021-03-01T00:00:00Z``; fractional seconds,
  to the nanosecond, only when a value has them), whatever wrote the table;
* an empty text cell is an empty cell too: it reads back as missing (``<NA>``);
* text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
  ``@``, TAB or CR, OWASP "CSV injection") get a leading ``'``; so does text that already
  starts with ``'``, which makes the escape reversible. Numeric columns are never touched
  (``-5`` stays ``-5``).

Reader (:func:`read_csv_table`, used by ``Audit.load``, ``history``, ``ticket``, ``nightly``):
restores every column with its dtype from the ``tables.json`` manifest written beside the
tables (``Int64`` stays ``Int64``, times stay tz-aware, booleans stay boolean), undoes the
formula escape and checks the row count, so a table cut at a line boundary is found. A
directory written before the manifest existed is read with the canonical schemas
(:mod:`lumiaudit.schema`) and cautious inference for other columns.

Formats (``--table-format``, recorded in ``tables.json`` as ``table_format``): ``csv`` (the
default) or ``parquet`` (:mod:`lumiaudit.store.parquet`, the ``[parquet]`` extra);
:func:`write_table` and :func:`read_table` choose by format and file suffix.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TextIO

import pandas as pd

from lumiaudit.errors import AuditDirError, ParameterError
from lumiaudit.store.atomic import write_text, write_with

__all__ = [
    "MANIFEST",
    "TABLE_FORMATS",
    "damaged",
    "escape_text",
    "for_csv",
    "read_csv_table",
    "read_manifest",
    "table_file",
    "unescape_text",
    "write_csv",
    "write_manifest",
]

#: manifest of an audit directory's tables: file, rows and the dtype of every column
MANIFEST = "tables.json"
#: manifest format (bump when the CSV conventions change); 2: the tables may be Parquet
#: (``table_format``); a CSV audit still writes 1, so older lumiaudit versions read it
MANIFEST_FORMAT = 1
MANIFEST_FORMATS = (1, 2)

#: formats of the audit's tables (``--table-format``) and their file suffixes
TABLE_FORMATS: dict[str, str] = {"csv": ".csv", "parquet": ".parquet"}

# OWASP CSV injection: a cell starting with one of these is a formula in Excel/LibreOffice.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"


def escape_text(value: str) -> str:
    """Neutralise a text cell for spreadsheets (see the module docstring).

    Examples
    --------
    >>> escape_text("=HYPERLINK(1)"), escape_text("'quoted"), escape_text("ok")
    ("'=HYPERLINK(1)", "''quoted", 'ok')
    """
    return _ESCAPE + value if value.startswith((*_FORMULA, _ESCAPE)) else value


def unescape_text(value: str) -> str:
    """Undo :func:`escape_text`.

    Examples
    --------
    >>> unescape_text("'=HYPERLINK(1)"), unescape_text("''quoted"), unescape_text("'plain")
    ('=HYPERLINK(1)', "'quoted", "'plain")
    """
    if len(value) > 1 and value[0] == _ESCAPE and value[1] in (*_FORMULA, _ESCAPE):
        return value[1:]
    return value


def _is_text(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.StringDtype) or series.dtype == object


def _format_times(series: pd.Series) -> pd.Series:
    values = series.dt.tz_convert("UTC") if series.dt.tz is not None else series
    zone = "Z" if series.dt.tz is not None else ""
    micro = values.dt.microsecond.fillna(0).astype("int64")
    nano = values.dt.nanosecond.fillna(0).astype("int64")
    text = values.dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object)
    if (nano != 0).any():  # file mtimes have nanoseconds: keep them all
        digits = (micro * 1000 + nano).map(lambda n: f".{n:09d}")
        text = text + digits
    elif (micro != 0).any():
        text = text + micro.map(lambda n: f".{n:06d}")
    out: pd.Series = (text + zone).where(values.notna(), None)
    return out


def for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as it is written: times formatted, formula-like text escaped."""
    out = frame.copy()
    for name in out.columns:
        series = out[name]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            out[name] = _format_times(series)
        elif _is_text(series):
            out[name] = series.map(lambda v: escape_text(v) if isinstance(v, str) else v)
    return out


def _has_cr(frame: pd.DataFrame) -> bool:
    return any(
        _is_text(frame[name]) and any(isinstance(v, str) and "\r" in v for v in frame[name])
        for name in frame.columns
    )


def _to_csv(frame: pd.DataFrame, handle: TextIO) -> None:
    out = for_csv(frame)
    # Python's csv quotes a field for the characters of the line terminator only ("\n"): a
    # lone CR inside a text cell would end the row for every reader; quote all text then
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONNUMERIC if _has_cr(out) else csv.QUOTE_MINIMAL
    out.to_csv(handle, index=False, na_rep="", lineterminator="\n", quoting=quoting)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str] | None) -> Path | None:
    """Write a table as CSV to ``path`` (atomically) or to stdout (``None`` or ``-``).

    Parameters
    ----------
    frame
        The table.
    path
        Target file, or ``None`` / ``"-"`` for stdout.

    Returns
    -------
    pathlib.Path or None
        The file written (``None`` for stdout).

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    if path is None or str(path) == "-":
        _to_csv(frame, sys.stdout)
        return None
    return write_with(path, lambda handle: _to_csv(frame, handle))


# ------------------------------------------------------------------------------ manifest


def table_file(name: str, table_format: str) -> str:
    """The file name of table ``name`` in ``table_format``.

    Examples
    --------
    >>> table_file("runs", "csv"), table_file("runs", "parquet")
    ('runs.csv', 'runs.parquet')
    """
    try:
        return name + TABLE_FORMATS[table_format]
    except KeyError:
        msg = f"table format {table_format!r} is not one of {', '.join(TABLE_FORMATS)}"
        raise ParameterError(msg) from None


def write_manifest(
    directory: Path,
    tables: Mapping[str, tuple[str, pd.DataFrame]],
    *,
    table_format: str = "csv",
) -> Path:
    """Write ``tables.json``: the tables' format, and for each its file, rows and dtypes."""
    doc: dict[str, Any] = {
        "format": MANIFEST_FORMAT if table_format == "csv" else 2,
        "table_format": table_format,
    }
    if table_format == "csv":
        doc["csv"] = {"timestamps": "ISO 8601, UTC, Z", "text_escape": _ESCAPE}
    doc |= {
        "tables": {
            name: {
                "file": filename,
                "rows": len(frame),
                "columns": {str(c): str(t) for c, t in frame.dtypes.items()},
            }
            for name, (filename, frame) in tables.items()
        },
    }
    return write_text(directory / MANIFEST, json.dumps(doc, indent=1) + "\n")


def damaged(path: Path, cause: str, *, line: int | None = None) -> AuditDirError:
    """The error for a damaged file of an audit directory."""
    return AuditDirError(
        f"damaged audit file: {cause}",
        path=path,
        line=line,
        hint="rerun `lumiaudit audit --out DIR` to rewrite it",
    )


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The ``tables.json`` of ``directory``, or ``None`` if there is none (an older audit).

    Raises
    ------
    AuditDirError
        If it is there but damaged.
    """
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise damaged(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise damaged(path, f"byte {exc.start} is not UTF-8") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tables"), dict):
        raise damaged(path, "expected a JSON object with 'tables'")
    if doc.get("format") not in MANIFEST_FORMATS:
        raise damaged(path, f"unknown format {doc.get('format')!r} (expected 1 or 2)")
    if doc.setdefault("table_format", "csv") not in TABLE_FORMATS:
        raise damaged(path, f"unknown table_format {doc['table_format']!r} (csv or parquet)")
    return doc


# ------------------------------------------------------------------------------ reader


def _integral(value: Any) -> bool:
    try:
        return float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        return False


def _ints(series: pd.Series, path: Path, name: str, dtype: str) -> pd.Series:
    def one(value: Any) -> Any:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return pd.NA
        try:
            return int(value)
        except ValueError:
            # "100.0": an integer column written through float64 by other tools; exact only
            # below 2**53, and "1.5" stays an error
            number = float(value)
            if number.is_integer() and abs(number) < 2**53:
                return int(number)
            raise

    try:
        # int() on each cell: exact for any size, and "1.5" or "abc" is an error, not a guess
        values = pd.array([one(v) for v in series], dtype="Int64")
    except (TypeError, ValueError, OverflowError):
        bad = next((v for v in series.dropna() if not _integral(v)), "?")
        raise damaged(path, f"column {name!r}: {bad!r} is not an integer") from None
    out = pd.Series(values, index=series.index, name=series.name)
    target: Any = dtype
    if dtype != "Int64" and not out.isna().any():
        return out.astype(target)
    return out


def _floats(series: pd.Series, path: Path, name: str, dtype: str) -> pd.Series:
    try:
        # float() on each cell gives back exactly the value pandas wrote (repr round-trips)
        out = series.astype(object).where(series.notna(), None).astype("float64")
    except (TypeError, ValueError) as exc:
        raise damaged(path, f"column {name!r}: {exc}") from None
    target: Any = dtype
    result: pd.Series = out.astype(target)
    return result


_BOOLS = {"True": True, "False": False, "true": True, "false": False}


def _bools(series: pd.Series, path: Path, name: str, dtype: str) -> pd.Series:
    bad = series.dropna()[~series.dropna().isin(list(_BOOLS))]
    if len(bad):
        raise damaged(path, f"column {name!r}: {bad.iloc[0]!r} is not True or False")
    out = series.map(_BOOLS, na_action="ignore").astype("boolean")
    if dtype == "bool" and not out.isna().any():
        return out.astype(bool)
    return out


def _times(series: pd.Series, path: Path, name: str, dtype: str) -> pd.Series:
    target: Any = dtype
    try:
        aware = "UTC" in dtype or "," in dtype
        result: pd.Series = pd.to_datetime(series, utc=aware, format="ISO8601").astype(target)
    except (TypeError, ValueError) as exc:
        raise damaged(path, f"column {name!r}: not a timestamp: {exc}") from None
    return result


def _texts(series: pd.Series, dtype: str, *, escaped: bool) -> pd.Series:
    out = series.map(unescape_text, na_action="ignore") if escaped else series
    if dtype == "str":
        return out.astype("str")
    return out.astype("string") if dtype == "string" else out.astype(object)


def convert(series: pd.Series, dtype: str, *, path: Path, escaped: bool) -> pd.Series:
    """One column read as text, converted to ``dtype`` (an :class:`AuditDirError` if it can't)."""
    name = str(series.name)
    low = dtype.lower()
    if low.startswith(("int", "uint")):
        return _ints(series, path, name, dtype)
    if low.startswith("float"):
        return _floats(series, path, name, dtype)
    if low in ("boolean", "bool"):
        return _bools(series, path, name, dtype)
    if low.startswith("datetime64"):
        return _times(series, path, name, dtype)
    # pandas' "string" and "str" (pandas 3's default text dtype) come back as they were
    return _texts(series, dtype if dtype in ("string", "str") else "object", escaped=escaped)


def _infer(series: pd.Series, path: Path) -> pd.Series:
    """A column without a declared dtype (an older audit): the narrowest type all cells fit."""
    cells = series.dropna()
    if len(cells) and cells.isin(list(_BOOLS)).all():
        return _bools(series, path, str(series.name), "boolean")
    if len(cells) and cells.str.fullmatch(r"[+-]?\d+").all():
        return _ints(series, path, str(series.name), "Int64")
    if len(cells) and pd.to_numeric(cells, errors="coerce").notna().all():
        return _floats(series, path, str(series.name), "Float64")
    return series.astype("string")


def _raw(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as exc:
        raise damaged(path, f"byte {exc.start} is not UTF-8") from None
    except pd.errors.EmptyDataError:
        raise damaged(path, "the file is empty (no header)") from None
    except pd.errors.ParserError as exc:
        raise damaged(path, f"not valid CSV: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise damaged(path, f"cannot read: {exc.strerror or exc}") from None


def read_csv_table(
    path: str | os.PathLike[str],
    *,
    entry: Mapping[str, Any] | None = None,
    schema_dtypes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read one table written by :func:`write_csv` with its dtypes restored.

    Parameters
    ----------
    path
        The CSV file.
    entry
        Its entry of ``tables.json`` (``rows``, ``columns``): the dtypes to restore and the
        row count to check. ``None`` for a file without a manifest.
    schema_dtypes
        Canonical dtypes (:mod:`lumiaudit.schema`) used when there is no manifest.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    AuditDirError
        If the file is not valid CSV, not UTF-8, has fewer or more rows than the manifest
        says, lacks a declared column or holds a value its column's dtype cannot hold.
    """
    source = Path(path)
    frame = _raw(source)
    out = pd.DataFrame(index=frame.index)
    if entry is not None:
        columns: Mapping[str, str] = entry.get("columns", {})
        rows = entry.get("rows")
        if isinstance(rows, int) and rows != len(frame):
            raise damaged(source, f"{len(frame)} rows, {MANIFEST} says {rows} (cut or edited?)")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise damaged(source, f"column {missing[0]!r} is missing")
        for name in frame.columns:
            dtype = columns.get(name, "string")
            out[name] = convert(frame[name], dtype, path=source, escaped=True)
        return out
    known = dict(schema_dtypes or {})
    for name in frame.columns:
        if name in known:
            out[name] = convert(frame[name], known[name], path=source, escaped=False)
        else:
            out[name] = _infer(frame[name], source)
    return out
