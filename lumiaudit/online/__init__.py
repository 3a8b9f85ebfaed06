"""Online event counts per run from logbooks, run databases, DAQ catalogues and tables.

:func:`read_online` reads any mix of sources (detected by content), interprets every entry
through a :class:`~lumiaudit.online.mapping.Mapping`, resolves duplicates by policy and returns
an :class:`OnlineResult` in which every value keeps its provenance (``source``,
``source_line``). Bad lines and unreadable values are collected, never fatal (unless
``strict``), and a missing value stays missing.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api.types import pandas_dtype

from lumiaudit import schema
from lumiaudit.errors import (
    ElogParseError,
    InputNotFoundError,
    InputReadError,
    OnlineFormatError,
    ParameterError,
)
from lumiaudit.numbers import fmt as format_number
from lumiaudit.online.daq_catalogue import DAQ_FILE_COLUMNS, parse_daq
from lumiaudit.online.detect import FORMATS, detect_format
from lumiaudit.online.elog_export import parse_csv_export, parse_xml_export
from lumiaudit.online.elog_logfile import parse_logfile
from lumiaudit.online.entries import Problems, RawEntry, interpret
from lumiaudit.online.live import (
    HttpOptions,
    Snapshot,
    is_snapshot_dir,
    read_snapshots,
    redact_url,
    write_snapshots,
)
from lumiaudit.online.lumi import LumiResult, read_lumi
from lumiaudit.online.mapping import BELLE2, Fields, Mapping, load_mapping
from lumiaudit.online.resolve import POLICIES, resolve
from lumiaudit.online.rundb import parse_rundb
from lumiaudit.online.table import parse_table
from lumiaudit.online.values import decode_bytes

__all__ = [
    "BELLE2",
    "ENTRY_COLUMNS",
    "FORMATS",
    "POLICIES",
    "HttpOptions",
    "LumiResult",
    "Mapping",
    "OnlineResult",
    "Snapshot",
    "load_mapping",
    "read_lumi",
    "read_online",
    "read_snapshots",
    "write_snapshots",
]

log = logging.getLogger(__name__)


def _counted(n: int, one: str, many: str | None = None) -> str:
    """``1 problem``, ``2 problems``, ``3 entries`` (``many`` when the plural is not ``one``+s)."""
    return f"{format_number(n)} {one if n == 1 else (many or one + 's')}"


#: the "; count left empty" ending of a problem's reason: untrue once strict mode stops the run
_LEFT_EMPTY = re.compile(r"; (?:[\w ]+ )?left empty$")


def __dir__() -> list[str]:
    return list(__all__)


#: Columns of ``OnlineResult.entries`` after the ``ONLINE`` ones.
ENTRY_COLUMNS = {
    c.name: c.dtype for c in schema.ONLINE_ENTRIES.columns if c.name not in schema.ONLINE.names
}  # declared in lumiaudit.schema

_KIND = {
    "elog": "elog",
    "elog-csv": "elog",
    "elog-xml": "elog",
    "rundb": "rundb",
    "daq": "daq",
    "table": "table",
}


def _empty_frame(dtypes: AbcMapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in dtypes.items()})


@dataclass(frozen=True)
class OnlineResult:
    """What :func:`read_online` found.

    Attributes
    ----------
    table
        ``schema.ONLINE`` columns, one row per (experiment, run) after duplicate resolution.
    entries
        Every entry/row that names a run: ``ONLINE`` columns plus ``entry_id``, ``entry_date``
        (UTC), ``entry_type``, ``count_text`` (as typed), ``chosen``, ``problem``, ``quality``
        (run-DB ``quality_*`` flags as ``svd=good;cdc=bad``).
    conflicts
        ``schema.CONFLICTS``: runs whose entries disagree, with every value and its source.
    problems
        ``schema.PROBLEMS``: bad lines and unreadable values, each with its location.
    daq_files
        Per-file counts from DAQ catalogues (empty when none was read).
    formats
        The format read, per input file or URL.
    snapshots
        Every response body of a live source (``rundb+https://``, ``elog+https://``) or of a
        snapshot directory read, with its URL (credentials removed), time and sha256; write
        them with :meth:`write_snapshots` to rerun the read offline.
    """

    table: pd.DataFrame
    entries: pd.DataFrame
    conflicts: pd.DataFrame
    problems: pd.DataFrame
    daq_files: pd.DataFrame = field(default_factory=lambda: _empty_frame(DAQ_FILE_COLUMNS))
    formats: dict[str, str] = field(default_factory=dict)
    snapshots: tuple[Snapshot, ...] = ()

    def write_snapshots(self, directory: str | PathLike[str]) -> Path | None:
        """Write :attr:`snapshots` into ``directory`` (see :func:`write_snapshots`).

        Returns the directory, or ``None`` (nothing written) when no live source was read.
        """
        if not self.snapshots:
            return None
        return write_snapshots(self.snapshots, directory)

    def summary(self) -> str:
        """One line: runs, entries, conflicts, problems (``1 problem``, ``2 problems``)."""
        return ", ".join(
            (
                _counted(len(self.table), "run"),
                _counted(len(self.entries), "entry", "entries"),
                _counted(len(self.conflicts), "conflict"),
                _counted(len(self.problems), "problem"),
            )
        )


def _read_error(path: str | PathLike[str], exc: OSError) -> InputReadError:
    cause = exc.strerror or type(exc).__name__
    return InputReadError(f"cannot read: {cause}", path=exc.filename or path)


def _walk(root: Path) -> list[Path]:
    """Files under ``root`` (hidden ones and symlinked directories skipped), sorted.

    An unreadable subdirectory is an error, not a silent gap in the logbook.
    """

    def fail(exc: OSError) -> None:
        raise _read_error(root, exc)

    found: list[Path] = []
    for top, dirs, names in os.walk(root, onerror=fail):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(top, name)
            if not name.startswith(".") and path.is_file():
                found.append(path)
    return sorted(found)


def _expand(paths: str | PathLike[str] | Iterable[str | PathLike[str]]) -> list[tuple[Path, bool]]:
    """Return ``(file, explicit)`` pairs; directories are walked (hidden files skipped)."""
    items = [paths] if isinstance(paths, str | PathLike) else list(paths)
    if not items:
        msg = "no input paths given"
        raise InputNotFoundError(msg)
    out: list[tuple[Path, bool]] = []
    for item in items:
        path = Path(item)
        try:
            is_file, is_dir, exists = path.is_file(), path.is_dir(), path.exists()
        except OSError as exc:  # e.g. a parent directory without search permission
            raise _read_error(path, exc) from exc
        if is_file:
            out.append((path, True))
        elif is_dir:
            out.extend((p, False) for p in _walk(path))
        elif exists:  # reading a FIFO could block forever; a device is no logbook
            msg = "not a regular file or directory (FIFO, socket or device)"
            raise InputReadError(msg, path=path)
        elif any(c in str(item) for c in "*?["):
            anchor = Path(path.anchor) if path.is_absolute() else Path()
            matches = sorted(anchor.glob(str(path.relative_to(anchor))))
            files = [m for m in matches if m.is_file()]
            if not files:
                msg = "glob matched no file"
                raise InputNotFoundError(msg, path=str(item))
            out.extend((m, True) for m in files)
        else:
            msg = "no such file or directory"
            raise InputNotFoundError(msg, path=path)
    return out


#: URL prefixes of live sources.
LIVE_SCHEMES = ("rundb+http://", "rundb+https://", "elog+http://", "elog+https://")


def _is_url(item: str) -> bool:
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", item) is not None


def _fetch(url: str, maps: Mapping, http: HttpOptions | None, problems: Problems) -> list[Snapshot]:
    """Fetch a live source named by its URL prefix."""
    if url.startswith(("rundb+http://", "rundb+https://")):
        from lumiaudit.online.rundb_http import fetch_rundb

        return fetch_rundb(url, problems=problems, options=http)
    if url.startswith(("elog+http://", "elog+https://")):
        from lumiaudit.online.elog_http import fetch_elog

        return fetch_elog(url, mapping=maps, options=http)
    msg = f"cannot read the URL {redact_url(url)!r} as an online source"
    raise ParameterError(
        msg,
        hint="name the system: rundb+https://host/path/?query or elog+https://host/Logbook/",
    )


def _read_one(
    source: str, fmt: str, text: str, data: bytes, problems: Problems
) -> Iterator[RawEntry]:
    if fmt == "elog":
        yield from parse_logfile(text, source, problems)
    elif fmt == "elog-csv":
        yield from parse_csv_export(text, source, problems)
    elif fmt == "elog-xml":
        yield from parse_xml_export(data, source, problems)
    elif fmt == "rundb":
        yield from parse_rundb(text, source, problems)
    else:
        yield from parse_table(text, source, problems)


def _frame(rows: list[dict[str, Any]], columns: AbcMapping[str, str]) -> pd.DataFrame:
    if not rows:
        return _empty_frame(columns)
    data: dict[str, pd.Series] = {}
    for name, dtype in columns.items():
        values = pd.Series([r.get(name) for r in rows], dtype="object")
        if dtype.startswith("datetime64"):
            data[name] = pd.to_datetime(values, utc=True).astype(pandas_dtype(dtype))
        else:
            data[name] = values.astype(pandas_dtype(dtype))
    return pd.DataFrame(data)


def read_online(
    paths: str | PathLike[str] | Iterable[str | PathLike[str]],
    *,
    format: str | None = None,
    mapping: Mapping | AbcMapping[str, Any] | str | PathLike[str] | None = None,
    policy: str = "latest",
    strict: bool = False,
    http: HttpOptions | None = None,
    warn: bool = True,
) -> OnlineResult:
    """Read online event counts per run from any mix of sources.

    Parameters
    ----------
    paths
        Files, directories (walked; unrecognised files in them are skipped), globs, snapshot
        directories (:func:`write_snapshots`), or URLs of live systems:
        ``rundb+https://host/path/?query`` (:mod:`lumiaudit.online.rundb_http`) and
        ``elog+https://host/Logbook/`` (:mod:`lumiaudit.online.elog_http`).
    format
        Force a format (``elog``, ``elog-csv``, ``elog-xml``, ``rundb``, ``daq``, ``table``);
        ``None`` or ``"auto"`` detects each file by content.
    mapping
        Field names per source: a :class:`~lumiaudit.online.mapping.Mapping`, a dict, a TOML
        path, or ``None`` for the Belle II default.
    policy
        How one count is chosen among several entries of a run: ``latest`` (by entry date, then
        message id), ``first``, ``max``, or ``error``.
    strict
        Raise on the first problem instead of collecting.
    http
        Timeouts, retries and deadline of live reads (:class:`HttpOptions`).
    warn
        Log one warning naming the first problem by file and line (``lumiaudit online``,
        which lists every problem itself, turns it off).

    Returns
    -------
    OnlineResult

    Raises
    ------
    InputNotFoundError
        A path does not exist or a glob matches nothing.
    InputReadError
        A file or directory (given, or met in a walk) cannot be read (permissions, I/O error):
        a logbook with an unread day file would silently lack its runs.
    OnlineFormatError
        A file given explicitly (or every file of a directory) is of no known format.
    ElogParseError
        ``strict`` and a problem was found (names the first and counts the others), or
        ``policy="error"`` and counts disagree.
    ParameterError
        Unknown ``format`` or ``policy``.

    Examples
    --------
    Run from a clone of the repository (the vendored real elogd day files):

    >>> res = read_online("tests/data/elog/ondisk")
    >>> int(res.table.loc[res.table.run == 3030, "n_online"].item())
    10231
    """
    if format == "auto":
        format = None
    if format is not None and format not in FORMATS:
        msg = f"unknown format {format!r}"
        raise ParameterError(msg, hint=f"use one of {', '.join(FORMATS)}")
    if policy not in POLICIES:
        msg = f"unknown policy {policy!r}"
        raise ParameterError(msg, hint=f"use one of {', '.join(POLICIES)}")
    if not isinstance(paths, str | PathLike):
        paths = list(paths)  # a generator is read twice (files, then names in messages)
    maps = load_mapping(mapping)
    items = [paths] if isinstance(paths, str | PathLike) else list(paths)
    problems = Problems()
    snapshots: list[Snapshot] = []
    local: list[str | PathLike[str]] = []
    for item in items:
        if isinstance(item, str) and _is_url(item):
            snapshots.extend(_fetch(item, maps, http, problems))
        elif is_snapshot_dir(Path(item)):
            snapshots.extend(read_snapshots(item))
        else:
            local.append(item)
    files = _expand(local) if local or not snapshots else []
    sources: list[tuple[str, bytes | None, bool, str | None]] = [
        (str(path), None, explicit, None) for path, explicit in files
    ]
    sources += [(snap.url, snap.body, True, snap.format) for snap in snapshots]
    entries: list[dict[str, Any]] = []
    daq_files: list[dict[str, Any]] = []
    formats: dict[str, str] = {}
    seq = 0
    for source, body, explicit, recorded in sources:
        if body is None:
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise _read_error(source, exc) from exc
        else:
            data = body
        text, encoding = decode_bytes(data)
        detected = recorded or detect_format(text[:8192], maps)
        fmt = recorded or format
        if fmt is None or (fmt == "elog" and detected in ("elog-csv", "elog-xml")):
            fmt = detected
        if fmt is None:
            if explicit:
                msg = "not a recognised online source"
                raise OnlineFormatError(
                    msg,
                    path=source,
                    hint=f"formats tried: {', '.join(FORMATS)}; use --format to force one",
                )
            log.debug("%s: not an online source, skipped", source)
            continue
        formats[source] = fmt
        log.debug("%s: %s (%s)", source, fmt, encoding)
        fields: Fields = maps.for_source(_KIND[fmt])
        seq += 1
        if fmt == "daq":
            run_entries, file_rows = parse_daq(text, source, fields, problems, seq=seq)
            entries.extend(run_entries)
            daq_files.extend(file_rows)
            continue
        for raw in _read_one(source, fmt, text, data, problems):
            seq += 1
            entry = interpret(raw, fields, problems, kind=_KIND[fmt], seq=seq)
            if entry is not None:
                entries.append(entry)
    if not formats:
        raise OnlineFormatError(
            "no online source found in " + ", ".join(str(p) for p in _input_names(paths)),
            hint=f"formats tried: {', '.join(FORMATS)}",
        )
    rows, conflicts = resolve(entries, policy=policy, problems=problems)
    if strict and problems.rows:
        # the run stops here: nothing is "left empty", and no warning comes before the error
        first = problems.rows[0]
        n_others = len(problems.rows) - 1
        others = f" (and {_counted(n_others, 'more problem')})"
        raise ElogParseError(
            _LEFT_EMPTY.sub("", first["reason"]) + (others if n_others else ""),
            path=first["source"],
            line=first["line"],
            hint="strict mode",
        )
    if problems.rows and warn:
        # the first problem named by file and line (its message names the entry and run);
        # the others are in the problems table (issue 16: never a Python attribute)
        first = problems.rows[0]
        n_more = len(problems.rows) - 1
        n_files = len({row["source"] for row in problems.rows})
        line = str(first.get("line") or "")
        others = (
            f"{_counted(n_more, 'more problem')} in {_counted(n_files, 'file')}; " if n_more else ""
        )
        more = f" ({others}all input problems are listed in the audit's problems.csv)"
        log.warning(
            "%s: %s%s",
            f"{first['source']}:{line}" if line else first["source"],
            first["reason"],
            more,
        )
    online_cols = schema.ONLINE.dtypes
    table = _frame(rows, online_cols)
    entry_frame = _frame(entries, {**online_cols, **ENTRY_COLUMNS})
    return OnlineResult(
        table=schema.enforce(table, schema.ONLINE),
        entries=entry_frame,
        conflicts=schema.enforce(_frame(conflicts, schema.CONFLICTS.dtypes), schema.CONFLICTS),
        problems=schema.enforce(_frame(problems.rows, schema.PROBLEMS.dtypes), schema.PROBLEMS),
        daq_files=_frame(daq_files, DAQ_FILE_COLUMNS),
        formats=formats,
        snapshots=tuple(snapshots),
    )


def _input_names(paths: str | PathLike[str] | Iterable[str | PathLike[str]]) -> list[str]:
    items = [paths] if isinstance(paths, str | PathLike) else list(paths)
    return [redact_url(str(p)) if _is_url(str(p)) else str(p) for p in items]
