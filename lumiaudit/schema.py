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
    "AUDIT_TABLES",
    "BAND_COLUMNS",
    "COLUMN_PATTERNS",
    "CONFLICTS",
    "CONTRIBUTIONS",
    "DAQ_FILES",
    "FILES",
    "FILES_AUDITED",
    "FUNNEL",
    "GAPS",
    "LUMIS",
    "NON_PHYSICS_RUN_TYPES",
    "ONLINE",
    "ONLINE_ENTRIES",
    "PROBLEMS",
    "READABLE_STATUSES",
    "RUNS",
    "RUNS_AUDITED",
    "RUNS_RECONCILED",
    "SOURCE_DEFECTS",
    "UNREADABLE_STATUSES",
    "Column",
    "FileStatus",
    "Reason",
    "RunStatus",
    "Table",
    "empty",
    "enforce",
    "flagged",
    "is_missing",
    "select_run",
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


#: Files whose entries count towards the offline total (:attr:`FileStatus.readable`).
READABLE_STATUSES: frozenset[str] = frozenset(s.value for s in FileStatus if s.readable)
#: THE "unreadable" set, used everywhere: files whose events cannot be counted (not ROOT,
#: truncated, 0 bytes, I/O error, no event tree). A duplicate is in neither set: it is readable,
#: and its events are counted once, at the other path.
UNREADABLE_STATUSES: frozenset[str] = frozenset(
    s.value for s in FileStatus if not s.readable and s is not FileStatus.DUPLICATE
)


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


# ------------------------------------------------------------------------------ audit tables
# The tables of an audit (lumiaudit.pipeline.Audit, written by lumiaudit.store) with every
# column a stage adds after the minimal tables above: what a stored audit may hold, and the
# dtype each column has in memory and after Audit.load.

ONLINE_ENTRIES = _t(
    "online_entries",
    "Every online entry read (chosen or not): the ONLINE columns, then where it came from.",
    [
        *((c.name, c.dtype, c.doc) for c in ONLINE.columns),
        ("entry_id", "string", "Entry id in its source (ELOG message id, row)."),
        ("entry_date", "datetime64[ns, UTC]", "When the entry was written (UTC)."),
        ("entry_type", "string", "Entry type (ELOG `Type`), as written."),
        ("count_text", "string", "The event count as written, before typing."),
        ("chosen", "boolean", "This entry gave the run's online value."),
        ("problem", "string", "Why the count could not be read; empty when it could."),
        ("quality", "string", "Run quality as the source gives it."),
    ],
)

DAQ_FILES = _t(
    "daq_files",
    "The DAQ catalogue: one row per raw file the DAQ closed.",
    [
        ("name", "string", "File name as catalogued."),
        ("path", "string", "Path as catalogued."),
        ("experiment", "Int64", "Experiment."),
        ("run", "Int64", "Run."),
        ("hlt_unit", "Int64", "HLT unit from the name (HLT3 -> 3)."),
        ("file_index", "Int64", "File index from the name (f00010 -> 10)."),
        ("n_online", "Int64", "Events the DAQ wrote into the file."),
        ("n_online_full", "Int64", "Error-free events of them; <NA> if not given."),
        ("size_bytes", "Int64", "Size in bytes."),
        ("source", "string", "Catalogue file."),
        ("source_line", "string", "Line in it."),
        ("run_type", "string", "Run type."),
        ("time_close", "datetime64[ns, UTC]", "When the DAQ closed the file (UTC)."),
        ("correct_close", "boolean", "The DAQ closed it cleanly."),
    ],
)

FILES_AUDITED = _t(
    "files",
    "The files table of an audit: FILES, then the discovery and reading facts.",
    [
        *((c.name, c.dtype, c.doc) for c in FILES.columns),
        ("markers", "string", "`;`-separated path facts (bad_suffix, badruns_dir, skim:<name>)."),
        ("data_level", "string", "raw / mdst / udst / ... from the name."),
        ("mtime", "datetime64[ns, UTC]", "Modification time (UTC)."),
        ("duplicate_of", "string", "The path counted instead (status duplicate)."),
        ("run_low", "Int64", "FileMetaData m_runLow."),
        ("run_high", "Int64", "FileMetaData m_runHigh."),
        ("release", "string", "FileMetaData m_release (software release); <NA> if absent."),
    ],
)

RUNS_RECONCILED = _t(
    "runs",
    "The runs table of lumiaudit.reconcile.reconcile: RUNS, then what the statistics, "
    "attribution and verdict add, in this order.",
    [
        *((c.name, c.dtype, c.doc) for c in RUNS.columns),
        ("diff_full", "Int64", "n_online - n_offline_full."),
        ("ratio_full", "Float64", "n_online / n_offline_full."),
        ("follows", "string", "Offline definition compared: entries or full (global)."),
        ("z_robust", "Float64", "Robust z of the ratio against the baseline (median/MAD)."),
        ("p_value", "Float64", "One-sided counting p-value of the loss."),
        ("q_value", "Float64", "Benjamini-Hochberg q-value over the compared runs."),
        ("significance", "Float64", "Gaussian equivalent of p_value (sigma)."),
        ("explained_events", "Int64", "Events of diff attributed to a cause."),
        ("unexplained_diff", "Int64", "diff - explained_events."),
        ("lumi_nb", "Float64", "Integrated luminosity (nb^-1) from the online source."),
        ("yield_online", "Float64", "n_online / lumi_nb."),
        ("yield_offline", "Float64", "n_offline_def / lumi_nb."),
        ("start_time", "datetime64[ns, UTC]", "Run start (UTC)."),
        ("markers", "string", "Path facts of the run's files (bad_suffix, badruns_dir, ...)."),
        ("waived", "boolean", "A waiver applies (the run is then not flagged)."),
        ("reason_events", "string", "`code=events;...`: events per attributed cause."),
        ("severity", "string", "ok / warn / fail."),
        ("diff_entries", "Int64", "n_online - n_offline (entries)."),
        ("ratio_entries", "Float64", "n_online / n_offline (entries)."),
        ("follows_run", "string", "This run's own vote: entries or full."),
        ("n_offline_def", "Int64", "The offline count compared (by follows)."),
        ("baseline", "Float64", "The ratio baseline used for this run (global or local)."),
        ("band_low", "Float64", "Lower edge of the ratio band the outlier test used."),
        ("band_high", "Float64", "Upper edge of the ratio band the outlier test used."),
        ("diff_baseline", "Float64", "The baseline in events: (baseline - 1) * n_offline_def."),
        ("diff_band_low", "Float64", "Lower edge of the band in events."),
        ("diff_band_high", "Float64", "Upper edge of the band in events."),
        ("outlier", "boolean", "Robust z beyond z_warn."),
        ("z_yield_online", "Float64", "Robust z of yield_online."),
        ("z_yield_offline", "Float64", "Robust z of yield_offline."),
        ("waiver", "string", "The waiver's note, owner and expiry."),
        ("evidence", "string", "The evidence in words."),
        ("experiment_filled", "string", "Where a missing experiment was taken from."),
        ("sources", "string", "What each online source says (`elog=10092;rundb=10092`)."),
        ("source_verdict", "string", "The sources' vote in words."),
        ("lumi_affected_nb", "Float64", "Luminosity of the events in a loss bucket (nb^-1)."),
        ("lumi_unexplained_nb", "Float64", "Luminosity of the unexplained events (nb^-1)."),
        ("productions", "string", "Every production of the run; the audited one first."),
    ],
)

RUNS_AUDITED = _t(
    "runs",
    "The runs table of an audit: RUNS_RECONCILED, then the per-lumisection verdict.",
    [
        *((c.name, c.dtype, c.doc) for c in RUNS_RECONCILED.columns),
        # lumiaudit.lumis.audit_lumis (profiles with lumisections)
        ("n_ls", "Int64", "Lumisections of the run online."),
        ("n_ls_missing", "Int64", "Lumisections with no offline event."),
        ("n_ls_short", "Int64", "Lumisections with fewer events offline than online."),
        ("n_ls_not_checked", "Int64", "Lumisections not certified (outside the golden JSON)."),
        ("n_ls_duplicate", "Int64", "Lumisections with events seen twice."),
        ("ls_missing_events", "Int64", "Online events of the missing lumisections."),
        ("ls_short_events", "Int64", "Events missing from the short lumisections."),
        ("ls_duplicate_events", "Int64", "Events seen more than once."),
    ],
)

FUNNEL = _t(
    "funnel",
    "The accounting funnel: the buckets add up to the online total.",
    [
        ("bucket", "string", "Bucket name (lumiaudit.reconcile.FUNNEL_BUCKETS)."),
        ("events", "Int64", "Events in the bucket."),
        ("runs", "Int64", "Runs with events in it."),
        ("lumi_nb", "Float64", "Luminosity of those events (nb^-1)."),
    ],
)

SOURCE_DEFECTS = _t(
    "source_defects",
    "One row per (run, online source) that is the odd one out.",
    [
        ("experiment", "Int64", "Experiment."),
        ("run", "Int64", "Run."),
        ("source", "string", "elog / rundb / daq / table."),
        ("value", "Int64", "What the source says (<NA>: empty or unreadable)."),
        ("expected", "Int64", "What the other witnesses agree on."),
        ("kind", "string", "typo / daq_catalogue_incomplete / empty_count / ..."),
        ("detail", "string", "Where (file:line) and the evidence in words."),
    ],
)

LUMIS = _t(
    "lumis",
    "Per (run, lumisection) comparison (profiles with lumisections).",
    [
        ("run", "Int64", "Run."),
        ("ls", "Int64", "Lumisection."),
        ("n_online", "Int64", "Online events of the lumisection."),
        ("n_offline", "Int64", "Offline events of it."),
        ("n_duplicate", "Int64", "Events seen more than once."),
        ("diff", "Int64", "n_online - n_offline."),
        ("n_files", "Int64", "Files holding it."),
        ("processed", "boolean", "The lumisection was reached by processing."),
        ("certified", "boolean", "In the golden JSON."),
        ("status", "string", "OK / SHORT / MISSING_OFFLINE / ..."),
        ("source", "string", "Online source."),
        ("source_line", "string", "Line in it."),
    ],
)

#: Audit attribute -> the declaration of every column that table may hold. Columns named
#: by a pattern (:data:`COLUMN_PATTERNS`) come on top.
AUDIT_TABLES: dict[str, Table] = {
    "online": ONLINE,
    "online_entries": ONLINE_ENTRIES,
    "conflicts": CONFLICTS,
    "problems": PROBLEMS,
    "daq_files": DAQ_FILES,
    "files": FILES_AUDITED,
    "contributions": CONTRIBUTIONS,
    "gaps": GAPS,
    "runs": RUNS_AUDITED,
    "funnel": FUNNEL,
    "source_defects": SOURCE_DEFECTS,
    "lumis": LUMIS,
}

#: Columns of a family, by name pattern: error-flag-bit counts in deep mode (``n_flag_0x10``).
COLUMN_PATTERNS: dict[str, tuple[str, str]] = {
    "files": (r"n_flag_0x[0-9a-f]+", "Int64"),
    "runs": (r"n_flag_0x[0-9a-f]+", "Int64"),
}

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


def flagged(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``runs`` whose ``flagged`` is True (<NA> is not; no column: no row).

    The index is kept.

    >>> runs = pd.DataFrame({"run": [1, 2, 3], "flagged": pd.array([True, None, False])})
    >>> flagged(runs)["run"].tolist()
    [1]
    """
    if "flagged" not in runs.columns:
        return runs.iloc[0:0]
    return runs[runs["flagged"].astype("boolean").fillna(False).to_numpy(dtype=bool)]


def select_run(frame: pd.DataFrame, run: int, experiment: int | None = None) -> pd.DataFrame:
    """The rows of one run in any table with a ``run`` column (and of one experiment if given).

    A row whose run (or, with ``experiment``, experiment) is missing is not selected; a table
    without an ``experiment`` column is selected by run alone, one without a ``run`` column
    gives no row. The index is kept.

    >>> t = pd.DataFrame({"experiment": pd.array([12, 12, None], dtype="Int64"),
    ...                   "run": pd.array([5, 6, 5], dtype="Int64")})
    >>> select_run(t, 5).index.tolist(), select_run(t, 5, experiment=12).index.tolist()
    ([0, 2], [0])
    """
    if "run" not in frame.columns:
        return frame.iloc[0:0]
    keep = frame["run"] == run
    if experiment is not None and "experiment" in frame.columns:
        keep &= frame["experiment"] == experiment
    return frame[keep.astype("boolean").fillna(False).to_numpy(dtype=bool)]


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
    # columns are collected first and the frame built once: inserting them one by one into a
    # frame costs a block rebuild each (a third of a cached rerun at 800 files)
    out: dict[str, pd.Series] = {}
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
            if name not in out:
                out[name] = frame[name]
    result = pd.DataFrame(out, index=frame.index) if out else pd.DataFrame(index=frame.index)
    return result.reset_index(drop=True)
