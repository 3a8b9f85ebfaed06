"""The audit directory: the only code that writes or reads one.

Layout (see docs/report.md)::

    .lumiaudit            marker: kind audit (or demo), lumiaudit version, created
    tables.json           manifest: file, rows and column dtypes of every table
    online.csv ... funnel.csv
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
from lumiaudit.store.outdir import build_dir
from lumiaudit.store.tables import damaged, read_csv_table, read_manifest, write_csv, write_manifest

__all__ = [
    "SCHEMAS",
    "SUMMARY",
    "TABLES",
    "audit_inputs",
    "jsonable",
    "read_optional_table",
    "read_summary",
    "read_tables",
    "require_audit_dir",
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
    for side in ("online", "offline"):
        for item in inputs.get(side) or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                out.append(item["path"])
    return out


def write_audit_into(
    audit: _AuditLike, directory: Path, *, plots: bool = True, formats: Sequence[str] = ()
) -> None:
    """Write the tables, manifest, summary, run lists and plots of ``audit`` into ``directory``."""
    written: dict[str, tuple[str, pd.DataFrame]] = {}
    for name, filename in TABLES.items():
        frame: pd.DataFrame = getattr(audit, name)
        write_csv(frame, directory / filename)
        written[name] = (filename, frame)
    lumis = getattr(audit, "lumis", None)
    if lumis is not None and len(lumis):
        # in the manifest too, so Audit.load restores its dtypes (written by write_lumis below)
        written["lumis"] = ("lumis.csv", lumis)
    write_manifest(directory, written)
    write_text(directory / SUMMARY, json.dumps(jsonable(audit.summary), indent=2) + "\n")
    from lumiaudit.store.runlists import write_runlists

    write_runlists(audit.runs, directory)
    lumis = getattr(audit, "lumis", None)
    if lumis is not None and len(lumis):  # audits with lumisections only
        from lumiaudit.lumis import write_lumis

        write_lumis(lumis, directory)
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
    """
    sources = audit_inputs(audit.summary) if inputs is None else list(inputs)
    try:
        with build_dir(out, kind=kind, inputs=sources) as tmp:
            write_audit_into(audit, tmp, plots=plots, formats=formats)
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


def require_audit_dir(directory: str | os.PathLike[str]) -> Path:
    """``directory`` if it holds an audit (``runs.csv``), else :class:`InputNotFoundError`."""
    root = Path(directory)
    if not (root / TABLES["runs"]).is_file():
        msg = "not an audit directory (no runs.csv)"
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
        filename = TABLES[name]
        path = root / filename
        table = SCHEMAS.get(name)
        entry = entries.get(name)
        if not path.is_file():
            if entry is not None:
                raise damaged(path, "the file is missing (tables.json lists it)")
            out[name] = pd.DataFrame() if table is None else schema.empty(table)
            continue
        if entry is not None and not entry.get("columns") and path.read_text().strip() == "":
            out[name] = pd.DataFrame()
            continue
        frame = read_csv_table(
            path, entry=entry, schema_dtypes=None if table is None else table.dtypes
        )
        if table is not None:
            try:
                frame = schema.enforce(frame, table)
            except ValueError as exc:
                raise damaged(path, str(exc)) from None
        out[name] = frame
    return out


def read_optional_table(directory: str | os.PathLike[str], filename: str) -> pd.DataFrame | None:
    """A table an audit directory holds only sometimes (``lumis.csv``), or None when absent."""
    path = Path(directory) / filename
    if not path.is_file():
        return None
    manifest = read_manifest(Path(directory))
    entries = manifest["tables"].values() if manifest is not None else ()
    entry = next((e for e in entries if isinstance(e, dict) and e.get("file") == filename), None)
    return read_csv_table(path, entry=entry)


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
