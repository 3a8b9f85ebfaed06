"""From per-file records to the offline tables: files, contributions, runs and gaps (pure).

Nothing here reads a file: the inputs are :func:`~lumiaudit.offline.discover.discover`'s
:class:`~lumiaudit.offline.discover.Found` entries, their
:class:`~lumiaudit.offline.count.FileRecord` and the duplicates map.

Rules
-----
- Only readable (``ok``, ``empty``, ``metadata_mismatch``), non-duplicate files contribute
  events; skims (subsets of ``all``) contribute only with ``include_skims=True``.
- A run's ``n_offline`` is <NA> when no file contributes; ``n_offline_full`` is <NA> when any
  contribution's error-free count is unknown.
- Gaps: per (experiment, run, HLT unit) every index below the highest one seen that has no
  file at all (an unreadable file is not a gap: it is reported by its status). Runs use a
  varying number of HLT units, so the files alone cannot tell a missing unit: given the
  expected units (e.g. from the DAQ file catalogue), an absent one is a ``missing_hlt_unit``.
  The event estimate is the median entries of the run's readable files (per file for an
  index gap, per unit for a missing unit).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from statistics import median
from typing import Any

import pandas as pd

from lumiaudit.offline.count import FileRecord
from lumiaudit.offline.discover import Found
from lumiaudit.offline.names import join_markers
from lumiaudit.schema import (
    CONTRIBUTIONS,
    FILES,
    GAPS,
    UNREADABLE_STATUSES,
    FileStatus,
    Reason,
    empty,
    enforce,
)

__all__ = [
    "BAD_STATUSES",
    "contributions_frame",
    "files_frame",
    "find_gaps",
    "flag_column",
    "runs_frame",
]

logger = logging.getLogger(__name__)

#: Statuses of files whose events cannot be counted (duplicates are counted elsewhere).
BAD_STATUSES = UNREADABLE_STATUSES  # the one set, lumiaudit.schema

RunKey = tuple[int | None, int]


def flag_column(bit: int) -> str:
    """Name of the column counting events with error-flag ``bit`` set (``n_flag_0x10``)."""
    return f"n_flag_{bit:#x}"


def _is_skim(found: Found) -> bool:
    return found.name.skim is not None


def files_frame(
    found: Sequence[Found], records: Sequence[FileRecord], duplicates: Mapping[str, str]
) -> pd.DataFrame:
    """The ``files`` table: ``FILES`` columns plus markers, data_level, mtime, ... flags.

    Parameters
    ----------
    found, records
        Discovered files and their counts, in the same order.
    duplicates
        ``{duplicate path: kept path}`` (see :func:`~lumiaudit.offline.discover.find_duplicates`).

    Returns
    -------
    pandas.DataFrame
        One row per file, sorted by path. Duplicates have status ``duplicate``; the error text
        names the counted copy (and the copy's own problem, if it has one).
    """
    if not found:
        frame = empty(FILES)
        for name, dtype in _FILE_EXTRA.items():
            frame[name] = pd.Series(dtype=dtype)
        return frame
    # one tuple per row, transposed into columns at the end (a dict per row, or an append
    # per cell, costs more than the rest at 100,000 files)
    rows: list[tuple[Any, ...]] = []
    deep = any(r.flag_counts for r in records)
    bits = _bits(records) if deep else []
    flag_columns: dict[int, list[Any]] = {bit: [] for bit in bits}
    for item, rec in zip(found, records, strict=True):
        status, error = rec.status, rec.error
        kept = duplicates.get(item.path)
        if kept is not None:
            own = "" if rec.readable else f"; this copy is {rec.status}: {rec.error}"
            status, error = str(FileStatus.DUPLICATE), f"same file name as {kept}{own}"
        multi = len(rec.contributions) > 1 and len({c[1] for c in rec.contributions}) > 1
        parsed = item.name
        rows.append(
            (
                item.path,
                parsed.experiment if rec.experiment is None else rec.experiment,
                None if multi else parsed.run,
                parsed.run_type,
                parsed.hlt_unit,
                parsed.file_index,
                rec.size_bytes,
                rec.n_entries,
                rec.n_meta,
                rec.n_full,
                status,
                error,
                item.markers,
                rec.data_level or parsed.data_level,
                rec.release,
                rec.mtime,
                kept,
                rec.run_low,
                rec.run_high,
            )
        )
        if deep:
            counts = dict(rec.flag_counts)
            for bit in bits:
                flag_columns[bit].append(counts.get(bit) if rec.flag_counts else None)
    columns: dict[str, Any] = dict(zip(_FILE_COLUMNS, zip(*rows, strict=True), strict=True))
    for bit in bits:
        columns[flag_column(bit)] = flag_columns[bit]
    frame = enforce(pd.DataFrame(columns), FILES)
    # seconds since the epoch (None for URLs) -> UTC timestamps, NaT when unknown
    seconds = pd.to_numeric(frame["mtime"].astype("Float64"), errors="coerce")
    frame["mtime"] = pd.to_datetime(seconds.astype("float64"), unit="s", utc=True)
    frame = frame.astype(_FILE_EXTRA)
    for name in frame.columns:
        if name.startswith("n_flag_"):
            frame[name] = frame[name].astype("Int64")
    return frame.sort_values("path", ignore_index=True)


#: The files table's columns in the order :func:`files_frame` fills them.
_FILE_COLUMNS = (
    "path",
    "experiment",
    "run",
    "run_type",
    "hlt_unit",
    "file_index",
    "size_bytes",
    "n_entries",
    "n_meta",
    "n_full",
    "status",
    "error",
    "markers",
    "data_level",
    "release",
    "mtime",
    "duplicate_of",
    "run_low",
    "run_high",
)

_FILE_EXTRA = {
    "markers": "string",
    "data_level": "string",
    "release": "string",
    "mtime": "datetime64[ns, UTC]",
    "duplicate_of": "string",
    "run_low": "Int64",
    "run_high": "Int64",
}


def _bits(records: Sequence[FileRecord]) -> list[int]:
    return sorted({b for r in records for b, _ in r.flag_counts})


def _counted(found: Found, rec: FileRecord, duplicates: Mapping[str, str], skims: bool) -> bool:
    return rec.readable and found.path not in duplicates and (skims or not _is_skim(found))


def contributions_frame(
    found: Sequence[Found],
    records: Sequence[FileRecord],
    duplicates: Mapping[str, str],
    *,
    include_skims: bool = False,
) -> pd.DataFrame:
    """The ``contributions`` table: events of each counted file per (experiment, run).

    Duplicates, unreadable files and (unless ``include_skims``) skims contribute nothing.
    """
    rows = [
        {
            "path": item.path,
            "experiment": item.name.experiment if exp is None else exp,
            "run": run,
            "n_entries": n,
            "n_full": n_full,
        }
        for item, rec in zip(found, records, strict=True)
        if _counted(item, rec, duplicates, include_skims)
        for exp, run, n, n_full in rec.contributions
    ]
    if not rows:
        return empty(CONTRIBUTIONS)
    return enforce(pd.DataFrame(rows), CONTRIBUTIONS)


def _file_runs(item: Found, rec: FileRecord) -> set[RunKey]:
    if rec.contributions:
        return {
            (item.name.experiment if exp is None else exp, run)
            for exp, run, _, _ in rec.contributions
        }
    if item.name.run is not None:
        return {(item.name.experiment if rec.experiment is None else rec.experiment, item.name.run)}
    return set()


def runs_frame(
    found: Sequence[Found],
    records: Sequence[FileRecord],
    duplicates: Mapping[str, str],
    *,
    include_skims: bool = False,
) -> pd.DataFrame:
    """The offline ``runs`` table: one row per (experiment, run) that any file names.

    Columns: ``experiment, run, run_type, n_offline, n_offline_full, n_files, n_files_bad,
    n_files_duplicate, markers`` and, in deep mode, ``n_flag_0x..`` per error-flag bit.
    ``n_files`` counts every file of the run (bad ones and duplicates included);
    ``n_files_bad`` those that could not be read.
    """
    files: dict[RunKey, list[str]] = defaultdict(list)
    types: dict[RunKey, Counter[str]] = defaultdict(Counter)
    markers: dict[RunKey, set[str]] = defaultdict(set)
    entries: dict[RunKey, int] = {}
    full: dict[RunKey, int | None] = {}
    flags: dict[RunKey, Counter[int]] = defaultdict(Counter)
    bits = _bits(records)
    for item, rec in zip(found, records, strict=True):
        if _is_skim(item) and not include_skims:
            continue
        status = str(FileStatus.DUPLICATE) if item.path in duplicates else rec.status
        for key in _file_runs(item, rec):
            files[key].append(status)
            if item.name.run_type:
                types[key][item.name.run_type] += 1
            markers[key].update(m for m in item.markers.split(";") if m)
        if not _counted(item, rec, duplicates, include_skims):
            continue
        for exp, run, n, n_full in rec.contributions:
            key = (item.name.experiment if exp is None else exp, run)
            entries[key] = entries.get(key, 0) + n
            before = full.get(key, 0)
            full[key] = None if before is None or n_full is None else before + n_full
        for exp, run, bit, count in rec.run_flag_counts:
            flags[(item.name.experiment if exp is None else exp, run)][bit] += count
    rows = []
    for key in sorted(files, key=lambda k: (-1 if k[0] is None else k[0], k[1])):
        statuses = files[key]
        row: dict[str, Any] = {
            "experiment": key[0],
            "run": key[1],
            "run_type": types[key].most_common(1)[0][0] if types[key] else None,
            "n_offline": entries.get(key),
            "n_offline_full": full.get(key) if key in entries else None,
            "n_files": len(statuses),
            "n_files_bad": sum(s in BAD_STATUSES for s in statuses),
            "n_files_duplicate": statuses.count(str(FileStatus.DUPLICATE)),
            "markers": join_markers(markers[key]),
        }
        for bit in bits:
            row[flag_column(bit)] = flags[key].get(bit, 0) if key in entries else None
        rows.append(row)
    dtypes = {
        "experiment": "Int64",
        "run": "Int64",
        "run_type": "string",
        "n_offline": "Int64",
        "n_offline_full": "Int64",
        "n_files": "Int64",
        "n_files_bad": "Int64",
        "n_files_duplicate": "Int64",
        "markers": "string",
    }
    dtypes.update({flag_column(b): "Int64" for b in bits})
    if not rows:
        return pd.DataFrame({k: pd.Series(dtype=v) for k, v in dtypes.items()})
    frame = pd.DataFrame(rows)
    return frame.astype(dtypes)


def find_gaps(
    found: Sequence[Found],
    records: Sequence[FileRecord],
    duplicates: Mapping[str, str],
    *,
    include_skims: bool = False,
    expected_units: Mapping[RunKey, Iterable[int]] | None = None,
) -> pd.DataFrame:
    """The ``gaps`` table: missing file indices per (run, HLT unit) and missing HLT units.

    Parameters
    ----------
    found, records, duplicates
        As for :func:`files_frame`.
    include_skims
        Look for gaps in skim sequences too.
    expected_units
        ``{(experiment, run): HLT units that wrote files}`` (from an online source). Without
        it no ``missing_hlt_unit`` is reported: runs legitimately use 3 or 4 units.

    Returns
    -------
    pandas.DataFrame
        ``GAPS`` columns; ``kind`` is ``file_index_gap`` or ``missing_hlt_unit`` (then
        ``file_index`` is <NA> and ``hlt_unit`` names the missing unit).
    """
    indices: dict[RunKey, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    sizes: dict[RunKey, list[int]] = defaultdict(list)
    unit_sums: dict[RunKey, Counter[int]] = defaultdict(Counter)
    for item, rec in zip(found, records, strict=True):
        name = item.name
        if item.path in duplicates or (name.skim is not None and not include_skims):
            continue
        if name.run is None or name.hlt_unit is None or name.file_index is None:
            continue
        exp = name.experiment if rec.experiment is None else rec.experiment
        key = (exp, name.run)
        indices[key][name.hlt_unit].add(name.file_index)
        if rec.readable and rec.n_entries is not None:
            sizes[key].append(rec.n_entries)
            unit_sums[key][name.hlt_unit] += rec.n_entries
    rows: list[tuple[Any, ...]] = []
    for key in sorted(indices, key=lambda k: (-1 if k[0] is None else k[0], k[1])):
        per_file = float(median(sizes[key])) if sizes[key] else None
        for unit, present in sorted(indices[key].items()):
            for index in sorted(set(range(max(present) + 1)) - present):
                rows.append((*key, unit, index, per_file, str(Reason.FILE_INDEX_GAP)))
        sums = list(unit_sums[key].values())
        per_unit = float(median(sums)) if sums else None
        wanted = set((expected_units or {}).get(key, ()))
        for unit in sorted(wanted - set(indices[key])):
            rows.append((*key, unit, None, per_unit, str(Reason.MISSING_HLT_UNIT)))
    if rows:
        logger.info("%d gaps in file sequences", len(rows))
    if not rows:
        return empty(GAPS)
    return enforce(pd.DataFrame(rows, columns=GAPS.names), GAPS)
