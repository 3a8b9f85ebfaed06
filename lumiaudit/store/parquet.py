"""The audit's tables as Parquet (``--table-format parquet``, the ``[parquet]`` extra).

Writer (:func:`write_parquet`): one file per table, written atomically through pyarrow. The
file's key-value metadata carries, besides pandas' own ``pandas`` key (which pyarrow uses to
give back ``Int64``, ``boolean``, ``string`` and tz-aware times), one ``lumiaudit`` key holding
JSON::

    {"table": "runs", "lumiaudit_version": "...", "schema": {"run": "Int64", ...},
     "provenance": {"inputs": {"online": [{"path": ..., "sha256": ...}], "offline": [...]}}}

so a file copied out of its audit directory still says what it is, which lumiaudit wrote it and
from which inputs (the digests of ``summary.json``). Unlike CSV nothing is escaped: Parquet is
not opened by spreadsheets as text, and every value keeps its type.

Reader (:func:`read_parquet_table`): the same checks as the CSV reader (row count and columns
against ``tables.json``, every dtype restored to the declared one); a file that is not Parquet,
or cut, is a located :class:`~lumiaudit.errors.AuditDirError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit.errors import ParameterError

__all__ = [
    "METADATA_KEY",
    "read_parquet_meta",
    "read_parquet_table",
    "require_pyarrow",
    "write_parquet",
]

#: key of lumiaudit's JSON in a Parquet file's key-value metadata
METADATA_KEY = b"lumiaudit"


def require_pyarrow() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or a :class:`ParameterError` naming the extra to install.

    Raises
    ------
    ParameterError
        pyarrow is not installed (the CLI exits 2 with the message).
    """
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        msg = (
            "table format 'parquet' needs pyarrow, which is not installed: "
            "pip install 'lumiaudit[parquet]'"
        )
        raise ParameterError(msg, hint="or use --table-format csv") from None
    return pyarrow, pyarrow.parquet


def _for_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with object columns as text: Arrow wants one type per column, and an object
    column of this project holds text (the CSV writer writes it as text too)."""
    out = frame
    for name in frame.columns:
        series = frame[name]
        if series.dtype == object and not all(isinstance(v, str) for v in series.dropna()):
            if out is frame:
                out = frame.copy()
            out[name] = series.map(str, na_action="ignore").astype("string")
    return out


def write_parquet(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, metadata: Mapping[str, Any]
) -> Path:
    """Write ``frame`` as a Parquet file, atomically, with ``metadata`` under ``lumiaudit``.

    Parameters
    ----------
    frame
        The table (its index is not written).
    path
        The target file.
    metadata
        JSON-able mapping stored in the file's key-value metadata (see the module docstring).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ParameterError
        pyarrow is not installed.
    OutputError
        The file cannot be written, or a column cannot be stored (the message names it).
    """
    from lumiaudit.errors import OutputError
    from lumiaudit.store.atomic import atomic_path

    pa, pq = require_pyarrow()
    target = Path(path)
    try:
        table = pa.Table.from_pandas(_for_parquet(frame), preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        msg = f"cannot store the table as Parquet: {' '.join(str(exc).split())}"
        raise OutputError(msg, path=target) from None
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(metadata, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)
    return target


def _open(path: Path) -> Any:
    from lumiaudit.store.tables import damaged

    pa, pq = require_pyarrow()
    try:
        return pq.read_table(path)
    except pa.ArrowException as exc:
        raise damaged(path, f"not a readable Parquet file: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise damaged(path, f"cannot read: {exc.strerror or exc}") from None


def read_parquet_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``lumiaudit`` metadata of a Parquet file written by :func:`write_parquet`.

    Returns ``{}`` for a Parquet file without it (not written by lumiaudit).

    Raises
    ------
    AuditDirError
        The file is not Parquet, or its ``lumiaudit`` metadata is not a JSON object.
    """
    from lumiaudit.store.tables import damaged

    source = Path(path)
    pa, pq = require_pyarrow()
    try:
        schema = pq.read_schema(source)
    except (pa.ArrowException, OSError) as exc:
        cause = " ".join(str(exc).split())
        raise damaged(source, f"not a readable Parquet file: {cause}") from None
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return {}
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise damaged(source, "its lumiaudit metadata is not JSON") from None
    if not isinstance(doc, dict):
        raise damaged(source, "its lumiaudit metadata is not a JSON object")
    return doc


def _restore(series: pd.Series, dtype: str, path: Path) -> pd.Series:
    from lumiaudit.store.tables import convert, damaged

    if str(series.dtype) == dtype:
        return series
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        # a text column declared otherwise: the CSV reader's conversions and their errors
        return convert(series.astype(object), dtype, path=path, escaped=False)
    target: Any = "object" if dtype == "object" else dtype
    try:
        out: pd.Series = series.astype(target)
    except (TypeError, ValueError) as exc:
        raise damaged(path, f"column {series.name!r}: not {dtype}: {exc}") from None
    return out


def read_parquet_table(
    path: str | os.PathLike[str], *, entry: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Read one table written by :func:`write_parquet` with its dtypes restored.

    Parameters
    ----------
    path
        The Parquet file.
    entry
        Its entry of ``tables.json`` (``rows``, ``columns``); without one, the dtypes are those
        of the file's ``lumiaudit`` metadata, else those pyarrow gives.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    AuditDirError
        The file is not Parquet or is cut, has another row count than the manifest says,
        lacks a declared column or holds a value its declared dtype cannot hold.
    ParameterError
        pyarrow is not installed.
    """
    from lumiaudit.store.tables import MANIFEST, damaged

    source = Path(path)
    table = _open(source)
    try:
        frame: pd.DataFrame = table.to_pandas()
    except (ValueError, TypeError, KeyError) as exc:  # pandas metadata not fitting the columns
        raise damaged(source, f"cannot convert to a table: {' '.join(str(exc).split())}") from None
    frame = frame.reset_index(drop=True)
    columns: Mapping[str, str]
    if entry is not None:
        rows = entry.get("rows")
        if isinstance(rows, int) and rows != len(frame):
            raise damaged(source, f"{len(frame)} rows, {MANIFEST} says {rows} (cut or edited?)")
        columns = entry.get("columns", {})
    else:
        raw = (table.schema.metadata or {}).get(METADATA_KEY)
        try:
            columns = json.loads(raw).get("schema", {}) if raw else {}
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            raise damaged(source, "its lumiaudit metadata is not a JSON object") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise damaged(source, f"column {missing[0]!r} is missing")
    for name, dtype in columns.items():
        frame[name] = _restore(frame[name], str(dtype), source)
    return frame
