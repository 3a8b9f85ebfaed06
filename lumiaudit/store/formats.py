"""The format of an audit's tables: CSV (:mod:`lumiaudit.store.tables`) or Parquet
(:mod:`lumiaudit.store.parquet`), chosen by ``--table-format`` when writing and by the file's
suffix when reading. Both formats restore the same dtypes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit.store.tables import TABLE_FORMATS, read_csv_table, table_file, write_csv

__all__ = ["read_table", "write_table"]


def write_table(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    table_format: str = "csv",
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write one table of an audit directory in ``table_format`` (atomically).

    Parameters
    ----------
    frame
        The table.
    path
        The file (its suffix should be the format's, see :func:`table_file`).
    table_format
        ``csv`` (:func:`write_csv`) or ``parquet`` (:func:`lumiaudit.store.parquet.write_parquet`,
        with ``metadata`` in the file's key-value metadata).
    metadata
        Table name, version, provenance: stored in Parquet files only (a CSV has no place for
        it; ``tables.json`` and ``summary.json`` hold it beside).

    Raises
    ------
    ParameterError
        An unknown format, or ``parquet`` without pyarrow.
    OutputError
        The file cannot be written.
    """
    if table_format == "parquet":
        from lumiaudit.store.parquet import write_parquet

        meta = dict(metadata or {})
        meta.setdefault("schema", {str(c): str(t) for c, t in frame.dtypes.items()})
        return write_parquet(frame, path, metadata=meta)
    table_file("", table_format)  # the error for an unknown format
    write_csv(frame, path)
    return Path(path)


def read_table(
    path: str | os.PathLike[str],
    *,
    entry: Mapping[str, Any] | None = None,
    schema_dtypes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read one table of an audit directory, CSV or Parquet by its suffix, dtypes restored.

    See :func:`read_csv_table` and :func:`lumiaudit.store.parquet.read_parquet_table`.
    """
    if Path(path).suffix == TABLE_FORMATS["parquet"]:
        from lumiaudit.store.parquet import read_parquet_table

        return read_parquet_table(path, entry=entry)
    return read_csv_table(path, entry=entry, schema_dtypes=schema_dtypes)
