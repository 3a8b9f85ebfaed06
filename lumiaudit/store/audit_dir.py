"""The audit directory: the only code that writes or reads one.

Layout (see docs/report.md)::

    .lumiaudit            marker: kind audit (or demo), lumiaudit version, created
    tables.json           manifest: table format, file, rows and column dtypes of every table
    online.csv ... funnel.csv   (online.parquet ... with --table-format parquet)
    summary.json          totals, thresholds, versions, input digests
    good_runs.json, bad_runs.json, good_runs.csv, bad_runs.csv
    plots/                PNG / SVG / PDF figures

:func:`write_audit` builds it beside the target and swaps it in complete
(:func:`lumiaudit.store.outdir.build_dir`); :func:`read_tables` and :func:`read_summary` are
the one reader used by ``Audit.load``, ``history``, ``ticket``, ``runlist`` and ``nightly``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from lumiaudit import schema
from lumiaudit.errors import InputNotFoundError, OutputError, OutputRefusedError
from lumiaudit.store.atomic import write_text
from lumiaudit.store.formats import read_table, write_table
from lumiaudit.store.outdir import build_dir
from lumiaudit.store.tables import (
    MANIFEST,
    TABLE_FORMATS,
    damaged,
    read_manifest,
    table_file,
    write_manifest,
)

__all__ = [
    "SCHEMAS",
    "SUMMARY",
    "TABLES",
    "audit_inputs",
    "is_audit_dir",
    "jsonable",
    "read_optional_table",
    "read_summary",
    "read_tables",
    "require_audit_dir",
    "table_format_of",
    "write_audit",
    "write_audit_into",
]

#: attribute name -> CSV file name in an audit directory
TABLES: dict[str, str] = {
    "online": "online.csv",
    "online_entries": "online_entries.csv",
    "conflicts": "conflicts.csv",
    "problems": "problems.csv",
    "daq_files": "daq_files.csv",
    "files": "files.csv",
    "contributions": "contributions.csv",
    "gaps": "gaps.csv",
    "runs": "runs.csv",
    "funnel": "funnel.csv",
    "source_defects": "source_defects.csv",
}

#: canonical schema per table (columns added when absent; dtypes of directories without
#: a manifest)
SCHEMAS: dict[str, schema.Table] = {
    "online": schema.ONLINE,
    "online_entries": schema.ONLINE,
    "conflicts": schema.CONFLICTS,
    "problems": schema.PROBLEMS,
    "files": schema.FILES,
    "contributions": schema.CONTRIBUTIONS,
    "gaps": schema.GAPS,
    "runs": schema.RUNS,
}

SUMMARY = "summary.json"


class _AuditLike(Protocol):
    summary: dict[str, Any]
    runs: pd.DataFrame
    files: pd.DataFrame
    gaps: pd.DataFrame
    funnel: pd.DataFrame

    def _meta(self) -> dict[str, Any]: ...


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (NaN/NA -> None, numpy scalars -> Python, times -> ISO)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def audit_inputs(summary: dict[str, Any]) -> list[str]:
    """The input paths recorded in an audit's summary (what its output must stay clear of)."""
    inputs = summary.get("inputs") or {}
    out: list[str] = []
    for side in ("online", "offline", "lumi"):
        for item in inputs.get(side) or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                out.append(item["path"])
    return out


def table_format_of(audit: _AuditLike, table_format: str | None = None) -> str:
    """The format of ``audit``'s tables: ``table_format``, else its options' (``csv``).

    Raises
    ------
    ParameterError
        An unknown format, or ``parquet`` without pyarrow (before anything is written).
    """
    options = audit.summary.get("options")
    chosen = table_format or (options or {}).get("table_format") or "csv"
    table_file("", chosen)  # an unknown format is an error
    if chosen == "parquet":
        from lumiaudit.store.parquet import require_pyarrow

        require_pyarrow()
    return str(chosen)


def _provenance(audit: _AuditLike, name: str) -> dict[str, Any]:
    """What a Parquet table says about itself: its name, lumiaudit's version, the inputs."""
    from lumiaudit._version import __version__

    summary = audit.summary
    meta: dict[str, Any] = jsonable(
        {
            "table": name,
            "lumiaudit_version": __version__,
            "provenance": {"created": summary.get("created"), "inputs": summary.get("inputs")},
        }
    )
    return meta


def write_audit_into(
    audit: _AuditLike,
    directory: Path,
    *,
    plots: bool = True,
    formats: Sequence[str] = (),
    table_format: str | None = None,
) -> None:
    """Write the tables, manifest, summary, run lists and plots of ``audit`` into ``directory``.

    ``table_format`` (``csv`` or ``parquet``; default: the audit's ``table_format`` option)
    is the format of the tables (run lists stay JSON and CSV: other tools read those).
    """
    fmt = table_format_of(audit, table_format)
    written: dict[str, tuple[str, pd.DataFrame]] = {}
    for name in TABLES:
        frame: pd.DataFrame = getattr(audit, name)
        filename = table_file(name, fmt)
        write_table(
            frame, directory / filename, table_format=fmt, metadata=_provenance(audit, name)
        )
        written[name] = (filename, frame)
    lumis = getattr(audit, "lumis", None)
    if lumis is not None and len(lumis):  # audits with lumisections only
        from lumiaudit.lumis import write_lumis

        filename = write_lumis(
            lumis, directory, table_format=fmt, metadata=_provenance(audit, "lumis")
        )
        written["lumis"] = (filename, lumis)
    write_manifest(directory, written, table_format=fmt)
    write_text(directory / SUMMARY, json.dumps(jsonable(audit.summary), indent=2) + "\n")
    from lumiaudit.store.runlists import write_runlists

    write_runlists(audit.runs, directory)
    snapshots = getattr(audit, "snapshots", ())
    if snapshots:  # live online responses: the audit can be rerun offline (--online DIR)
        from lumiaudit.online import write_snapshots

        write_snapshots(snapshots, directory / "online_snapshots")
    if plots:
        from lumiaudit.store.figures import write_plots

        write_plots(
            runs=audit.runs,
            files=audit.files,
            gaps=audit.gaps,
            funnel=audit.funnel,
            out_dir=directory / "plots",
            formats=tuple(formats),
            meta=audit._meta(),
        )


def write_audit(
    audit: _AuditLike,
    out: str | os.PathLike[str],
    *,
    kind: str = "audit",
    plots: bool = True,
    formats: Sequence[str] = ("png", "svg", "pdf"),
    inputs: Iterable[str | os.PathLike[str]] | None = None,
    table_format: str | None = None,
) -> Path:
    """Write an audit directory atomically; see the module docstring.

    Parameters
    ----------
    audit
        The :class:`~lumiaudit.pipeline.Audit`.
    out
        The directory: absent, empty, or a previous lumiaudit audit (``.lumiaudit`` marker).
    kind
        ``audit`` or ``demo`` (written into the marker).
    plots, formats
        Write ``plots/`` in these formats.
    inputs
        Input paths ``out`` must stay clear of (default: those in ``audit.summary``).
    table_format
        ``csv`` or ``parquet`` (default: the audit's ``table_format`` option, else ``csv``).

    Returns
    -------
    pathlib.Path
        The directory written (absolute).

    Raises
    ------
    OutputRefusedError
        ``out`` is not lumiaudit's to replace (nothing is written).
    OutputError
        It cannot be written; a previous audit there is left as it was.
    ParameterError
        ``table_format`` is unknown, or ``parquet`` without pyarrow (nothing is written).
    """
    sources = audit_inputs(audit.summary) if inputs is None else list(inputs)
    fmt = table_format_of(audit, table_format)  # before the directory is touched
    try:
        with build_dir(out, kind=kind, inputs=sources) as tmp:
            write_audit_into(audit, tmp, plots=plots, formats=formats, table_format=fmt)
    except OutputRefusedError:
        raise
    except OutputError as exc:  # name the audit directory, not the temporary one beside it
        cause = exc.message.removeprefix("cannot write: ")
        where = Path(exc.path).name if exc.path else None
        raise OutputError(
            f"cannot write the audit: {cause}" + (f" (writing {where})" if where else ""),
            path=out,
        ) from None
    return Path(out)


def is_audit_dir(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds an audit's runs table (``runs.csv`` or ``runs.parquet``)."""
    root = Path(directory)
    return any((root / table_file("runs", fmt)).is_file() for fmt in TABLE_FORMATS)


def require_audit_dir(directory: str | os.PathLike[str]) -> Path:
    """``directory`` if it holds an audit (``runs.csv``), else :class:`InputNotFoundError`."""
    root = Path(directory)
    if not is_audit_dir(root):
        if not root.exists():
            msg = "no such directory"
        elif not root.is_dir():
            msg = "not a directory (an audit is a directory: lumiaudit audit --out DIR)"
        else:
            msg = "not an audit directory (no runs.csv or runs.parquet)"
        raise InputNotFoundError(
            msg,
            path=root,
            hint="run `lumiaudit audit --out DIR` first",
        )
    return root


def read_tables(
    directory: str | os.PathLike[str], names: Iterable[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Read the tables of an audit directory with their dtypes restored.

    Parameters
    ----------
    directory
        The audit directory.
    names
        Tables to read (default: all of :data:`TABLES`).

    Returns
    -------
    dict
        Name -> DataFrame; a table whose file is absent (and not in the manifest) is empty
        with its canonical columns.

    Raises
    ------
    InputNotFoundError
        If the directory or its ``runs.csv`` does not exist.
    AuditDirError
        If a table or the manifest is damaged (the message names the file and the cause).
    """
    root = require_audit_dir(directory)
    manifest = read_manifest(root)
    entries: dict[str, Any] = manifest["tables"] if manifest is not None else {}
    out: dict[str, pd.DataFrame] = {}
    for name in TABLES if names is None else names:
        table = SCHEMAS.get(name)
        entry = entries.get(name)
        filename = TABLES[name]
        if entry is not None and isinstance(entry.get("file"), str):
            filename = _listed_file(root, entry["file"])
        path = root / filename
        if not path.is_file():
            if entry is not None:
                raise damaged(path, f"the file is missing ({MANIFEST} lists it)")
            out[name] = pd.DataFrame() if table is None else schema.empty(table)
            continue
        if entry is not None and not entry.get("columns") and _empty_csv(path):
            out[name] = pd.DataFrame()
            continue
        frame = read_table(path, entry=entry, schema_dtypes=None if table is None else table.dtypes)
        if table is not None:
            try:
                frame = schema.enforce(frame, table)
            except ValueError as exc:
                raise damaged(path, str(exc)) from None
        out[name] = frame
    return out


def _listed_file(root: Path, name: str) -> str:
    """A file name from ``tables.json``: a plain name inside the directory, never a path."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise damaged(root / MANIFEST, f"table file {name!r} is not a file name")
    return name


def _empty_csv(path: Path) -> bool:
    return path.suffix == TABLE_FORMATS["csv"] and path.read_text().strip() == ""


def read_optional_table(directory: str | os.PathLike[str], filename: str) -> pd.DataFrame | None:
    """A table an audit directory holds only sometimes (``lumis.csv``), or None when absent.

    ``filename`` names the CSV; where ``tables.json`` lists the table (by the file's stem,
    ``lumis``) its file and dtypes are used, so a Parquet audit's ``lumis.parquet`` is found.
    """
    root = Path(directory)
    manifest = read_manifest(root)
    entry = (manifest or {}).get("tables", {}).get(Path(filename).stem)
    if entry is not None and isinstance(entry.get("file"), str):
        path = root / _listed_file(root, entry["file"])
        if not path.is_file():
            raise damaged(path, f"the file is missing ({MANIFEST} lists it)")
        return read_table(path, entry=entry)
    path = root / filename
    if not path.is_file():
        return None
    return read_table(path)


def read_summary(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``summary.json`` of an audit directory (``{}`` when there is none).

    Raises
    ------
    AuditDirError
        If it is not valid UTF-8 JSON holding an object.
    """
    path = Path(directory) / SUMMARY
    if not path.is_file():
        return {}
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise damaged(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise damaged(path, f"byte {exc.start} is not UTF-8") from None
    if not isinstance(summary, dict):
        raise damaged(path, "expected a JSON object")
    return summary
