"""The canonical tables exchanged between lumiaudit's stages.

Every stage takes and returns plain :class:`pandas.DataFrame` objects whose columns are
defined here, once. Counts use pandas' nullable ``Int64`` dtype so that a missing value stays
``<NA>`` (empty in CSV) and is never confused with 0.

The tables
----------
``online``
    One row per (experiment, run): what the DAQ / elog / run database says.
``files``
    One row per offline file reached by discovery, with its health status.
``contributions``
    One row per (file, run) pair: how many entries of a file belong to which run. Ordinary
    files contribute to exactly one run; grid files (``r00000``) and merged files may
    contribute to several.
``gaps``
    Missing file indices in a (run, HLT unit) sequence.
``runs``
    One row per (experiment, run) after the comparison, with statistics and reasons.
``conflicts``
    Several online entries disagreeing about one run.
``problems``
    Input problems (a bad elog line, an unreadable value) with their location.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

__all__ = [
    "BAND_COLUMNS",
    "CONFLICTS",
    "CONTRIBUTIONS",
    "FILES",
    "GAPS",
    "NON_PHYSICS_RUN_TYPES",
    "ONLINE",
    "PROBLEMS",
    "RUNS",
    "Column",
    "FileStatus",
    "Reason",
    "RunStatus",
    "Table",
    "empty",
    "enforce",
    "is_missing",
]


class FileStatus(StrEnum):
    """Health of one offline file, modelled on basf2's ``b2file-check``."""

    OK = "ok"
    EMPTY = "empty"  # valid file, 0 entries
    NOT_ROOT = "not_root"  # no ROOT magic: a text file, an HTML error page, ...
    TRUNCATED = "truncated"  # ROOT magic but the file ends before its records do
    ZERO_BYTES = "zero_bytes"
    IO_ERROR = "io_error"  # permission, network, timeout: the file may be fine
    NO_TREE = "no_tree"  # readable ROOT file without the event tree
    METADATA_MISMATCH = "metadata_mismatch"  # FileMetaData nEvents != tree entries
    DUPLICATE = "duplicate"  # same stem already counted at another path

    @property
    def readable(self) -> bool:
        """Whether the file's entries count towards the offline total."""
        return self in (FileStatus.OK, FileStatus.EMPTY, FileStatus.METADATA_MISMATCH)

    def __str__(self) -> str:
        return self.value


class RunStatus(StrEnum):
    """Outcome of the online/offline comparison for one run."""

    OK = "OK"
    DEFICIT = "DEFICIT"  # fewer events offline than online
    EXCESS = "EXCESS"  # more events offline than online
    MISSING_OFFLINE = "MISSING_OFFLINE"  # online count, no readable offline events
    MISSING_ONLINE = "MISSING_ONLINE"  # offline events, no usable online count
    NOT_AUDITED = "NOT_AUDITED"  # non-physics run type, excluded by configuration

    def __str__(self) -> str:
        return self.value


class Reason(StrEnum):
    """Machine-readable cause codes used in the ``reasons`` column (``;``-separated)."""

    UNREADABLE_FILE = "unreadable_file"
    FILE_INDEX_GAP = "file_index_gap"
    MISSING_HLT_UNIT = "missing_hlt_unit"
    DUPLICATE_FILE = "duplicate_file"
    ERROR_FLAG_EVENTS = "error_flag_events"
    METADATA_MISMATCH = "metadata_mismatch"
    OFF_BY_ONE = "off_by_one"
    ELOG_TYPO = "elog_typo"
    ELOG_CONFLICT = "elog_conflict"
    NON_PHYSICS = "non_physics"
    BAD_RUN_MARKER = "bad_run_marker"
    MULTI_RUN_FILE = "multi_run_file"
    NO_OFFLINE_FILES = "no_offline_files"
    NO_ONLINE_ENTRY = "no_online_entry"
    NO_ONLINE_COUNT = "no_online_count"
    ONLINE_COUNT_UNREADABLE = "online_count_unreadable"  # an entry's count could not be read
    ABORTED_RUN = "aborted_run"  # physics run, 0 events online and no offline file
    PROCESSING_LOSS = "processing_loss"  # offline files shorter than their raw (DAQ) files
    UNLISTED_FILE = "unlisted_file"  # an offline file the DAQ catalogue does not list
    DAQ_CATALOGUE_INCOMPLETE = "daq_catalogue_incomplete"  # the catalogue lost a file's row
    SOURCE_DISAGREEMENT = "source_disagreement"  # online sources disagree, no majority
    SEVERAL_PRODUCTIONS = "several_productions"  # the run exists in several productions
    OUTLIER = "outlier"
    UNEXPLAINED = "unexplained"
    MISSING_LUMISECTION = "missing_lumisection"  # per-LS audit (lumiaudit.lumis)
    SHORT_LUMISECTION = "short_lumisection"
    DUPLICATE_EVENTS = "duplicate_events"  # the same event number twice in one LS

    def __str__(self) -> str:
        return self.value


#: Run types that are not compared by default (the DAQ writes them, nobody processes them).
NON_PHYSICS_RUN_TYPES: tuple[str, ...] = ("cosmic", "debug", "null", "calibration", "beam")


@dataclass(frozen=True)
class Column:
    """One documented column of a canonical table."""

    name: str
    dtype: str
    doc: str


@dataclass(frozen=True)
class Table:
    """An ordered set of columns with a name."""

    name: str
    columns: tuple[Column, ...]
    doc: str = ""

    @property
    def names(self) -> list[str]:
        """Column names in canonical order."""
        return [c.name for c in self.columns]

    @property
    def dtypes(self) -> dict[str, str]:
        """Mapping of column name to pandas dtype string."""
        return {c.name: c.dtype for c in self.columns}


def _t(name: str, doc: str, cols: Sequence[tuple[str, str, str]]) -> Table:
    return Table(name, tuple(Column(*c) for c in cols), doc)


ONLINE = _t(
    "online",
    "One row per (experiment, run): the online event count and where it came from.",
    [
        ("experiment", "Int64", "Experiment number."),
        ("run", "Int64", "Run number."),
        ("run_type", "string", "physics / cosmic / debug / null / ... (lower case)."),
        ("n_online", "Int64", "Events the DAQ wrote according to the source; <NA> if not given."),
        ("lumi_nb", "Float64", "Integrated luminosity in nb^-1; <NA> if not given."),
        ("start_time", "datetime64[ns, UTC]", "Run start (UTC); NaT if unknown."),
        ("stop_time", "datetime64[ns, UTC]", "Run stop (UTC); NaT if unknown."),
        ("source", "string", "File (or URL) the chosen value was read from."),
        ("source_line", "string", "Line number, message id (`MID 34`) or record id in it."),
    ],
)

FILES = _t(
    "files",
    "One row per offline file reached by discovery.",
    [
        ("path", "string", "Path or URL of the file as counted (symlinks resolved)."),
        ("experiment", "Int64", "Experiment from the name/layout or FileMetaData."),
        ("run", "Int64", "Run from the name/layout; <NA> when the file spans several runs."),
        ("run_type", "string", "Run type from the name (physics, cosmic, ...)."),
        ("hlt_unit", "Int64", "HLT unit that wrote the raw file (HLT3 -> 3)."),
        ("file_index", "Int64", "Per-run, per-unit file index (f00010 -> 10)."),
        ("size_bytes", "Int64", "File size in bytes."),
        ("n_entries", "Int64", "Entries of the event tree; <NA> if unreadable."),
        ("n_meta", "Int64", "FileMetaData nEvents; <NA> if absent or unreadable."),
        ("n_full", "Int64", "Error-free events (FileMetaData nFullEvents or counted)."),
        ("status", "string", "FileStatus value."),
        ("error", "string", "Why the file is not ok (exception text); empty when ok."),
    ],
)

CONTRIBUTIONS = _t(
    "contributions",
    "Events each counted file gives to each run.",
    [
        ("path", "string", "File path (as in the files table)."),
        ("experiment", "Int64", "Experiment."),
        ("run", "Int64", "Run the events belong to."),
        ("n_entries", "Int64", "Entries of this file in this run."),
        ("n_full", "Int64", "Error-free entries of this file in this run; <NA> if unknown."),
    ],
)

GAPS = _t(
    "gaps",
    "Missing file indices per (experiment, run, HLT unit).",
    [
        ("experiment", "Int64", "Experiment."),
        ("run", "Int64", "Run."),
        ("hlt_unit", "Int64", "HLT unit (for missing_hlt_unit: the missing unit)."),
        ("file_index", "Int64", "The missing index; <NA> for a missing unit."),
        ("est_events", "Float64", "Estimated events the missing file held."),
        ("kind", "string", "file_index_gap or missing_hlt_unit."),
    ],
)

RUNS = _t(
    "runs",
    "One row per (experiment, run) after comparison.",
    [
        ("experiment", "Int64", "Experiment."),
        ("run", "Int64", "Run."),
        ("run_type", "string", "Run type (online source first, then file names)."),
        ("n_online", "Int64", "Online count; <NA> if there is none."),
        ("n_offline", "Int64", "Entries in readable, non-duplicate offline files; <NA> if none."),
        ("n_offline_full", "Int64", "Error-free events offline; <NA> if unknown."),
        ("diff", "Int64", "n_online - n_offline_def (the offline definition online follows)."),
        ("ratio", "Float64", "n_online / n_offline_def."),
        ("n_files", "Int64", "Files found for the run (duplicates included)."),
        ("n_files_bad", "Int64", "Files whose status is not readable."),
        ("status", "string", "RunStatus value."),
        ("flagged", "boolean", "True when the run needs a look (see reasons)."),
        ("reasons", "string", "`;`-separated Reason codes."),
    ],
)

CONFLICTS = _t(
    "conflicts",
    "Online entries that disagree about one run.",
    [
        ("experiment", "Int64", "Experiment."),
        ("run", "Int64", "Run."),
        ("values", "string", "All values seen, `;`-separated, in entry order."),
        ("sources", "string", "Where each value came from, `;`-separated."),
        ("chosen", "Int64", "The value kept."),
        ("policy", "string", "latest / first / max / error."),
    ],
)

PROBLEMS = _t(
    "problems",
    "Problems met while reading input.",
    [
        ("source", "string", "File or URL."),
        ("line", "string", "Line number or entry id."),
        ("reason", "string", "What is wrong and what was done about it."),
        ("text", "string", "The offending text (shortened)."),
    ],
)


#: Columns of the runs table holding the band the outlier test used, run by run (written by
#: :func:`lumiaudit.reconcile.stats.flag_outliers`, drawn by the plots; <NA> where the run was
#: not compared).
BAND_COLUMNS: dict[str, str] = {
    "baseline": "Baseline ratio of the run (local rolling median, or the global one).",
    "band_low": "Lower edge of the ratio band: inside it the run is no outlier.",
    "band_high": "Upper edge of the ratio band.",
    "diff_baseline": "The baseline as online - offline events: (baseline - 1) * n_offline_def.",
    "diff_band_low": "Lower edge of the band in events: (band_low - 1) * n_offline_def.",
    "diff_band_high": "Upper edge of the band in events: (band_high - 1) * n_offline_def.",
}


def is_missing(value: Any) -> bool:
    """A table cell that holds no value (``<NA>``, ``NaN``, ``NaT``, ``None``); scalars only.

    >>> is_missing(pd.NA), is_missing(float("nan")), is_missing(0)
    (True, True, False)
    """
    return bool(pd.isna(value))


def empty(table: Table) -> pd.DataFrame:
    """Return an empty DataFrame with the columns and dtypes of ``table``.

    Examples
    --------
    >>> from lumiaudit.schema import ONLINE, empty
    >>> list(empty(ONLINE).columns)[:3]
    ['experiment', 'run', 'run_type']
    """
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in table.columns})


def enforce(
    df: pd.DataFrame | Mapping[str, object], table: Table, *, extra: bool = True
) -> pd.DataFrame:
    """Return ``df`` with the canonical columns of ``table``, in order, with canonical dtypes.

    Missing columns are added filled with missing values (never zeros).

    Parameters
    ----------
    df
        The frame (or a dict of columns) to conform.
    table
        The schema.
    extra
        Keep columns that are not part of the schema, after the canonical ones.

    Raises
    ------
    ValueError
        If a column cannot be converted to its canonical dtype.
    """
    frame = df if isinstance(df, pd.DataFrame) else pd.DataFrame(dict(df))
    out = pd.DataFrame(index=frame.index)
    for col in table.columns:
        if col.name in frame.columns:
            series = frame[col.name]
        else:
            series = pd.Series(pd.NA, index=frame.index, dtype="object")
        dtype: Any = col.dtype
        try:
            if col.dtype.startswith("datetime64"):
                out[col.name] = pd.to_datetime(series, utc=True).astype(dtype)
            elif col.dtype == "string":
                out[col.name] = series.astype("string")
            else:
                out[col.name] = series.astype(dtype)
        except (TypeError, ValueError) as exc:
            msg = f"{table.name} table: column {col.name!r} cannot be read as {col.dtype}: {exc}"
            raise ValueError(msg) from exc
    if extra:
        for name in frame.columns:
            if name not in out.columns:
                out[name] = frame[name]
    return out.reset_index(drop=True)
