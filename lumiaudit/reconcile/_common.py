"""Shared pieces of the attribution: causes, run keys, table grouping and small converters."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lumiaudit.schema import READABLE_STATUSES, UNREADABLE_STATUSES

log = logging.getLogger(__name__)


#: Exclusive buckets of the accounting funnel, in display order (matched last).
FUNNEL_BUCKETS: tuple[str, ...] = (
    "non_physics",
    "missing_offline",
    "unreadable_file",
    "file_index_gap",
    "missing_hlt_unit",
    "processing_loss",
    "error_flag_events",
    "duplicate_file",
    "elog_typo",
    "elog_conflict",
    "metadata_mismatch",
    "off_by_one",
    "within_tolerance",
    "unexplained",
    "matched",
)

#: Funnel buckets of events the production should have and has not (luminosity "affected";
#: drawn red in the funnel plot).
LOST_BUCKETS: tuple[str, ...] = (
    "missing_offline",
    "unreadable_file",
    "file_index_gap",
    "missing_hlt_unit",
    "processing_loss",
    "unexplained",
)


#: the status sets of lumiaudit.schema, under the names used here
_UNREADABLE = UNREADABLE_STATUSES
_READABLE = READABLE_STATUSES


@dataclass
class Cause:
    """One cause of a run's difference and the events it accounts for.

    ``est`` is the point estimate, ``[lo, hi]`` the plausible range (equal for exact amounts),
    with the sign of the difference it explains (positive: a deficit offline).
    """

    code: str
    est: float
    lo: float
    hi: float
    detail: str = ""

    @property
    def exact(self) -> bool:
        """Whether the amount is known exactly (not estimated)."""
        return self.lo == self.hi


@dataclass
class _RunResult:
    reasons: list[str] = field(default_factory=list)
    amounts: dict[str, int] = field(default_factory=dict)
    alloc: dict[str, int] = field(default_factory=dict)
    explained: int | None = None
    unexplained: int | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, code: str, amount: float | None = None) -> None:
        if code not in self.reasons:
            self.reasons.append(code)
        if amount is not None and math.isfinite(amount):
            self.amounts[code] = self.amounts.get(code, 0) + round(amount)


def typo_pattern(typed: int, true: int) -> str | None:
    """Name the typing slip that turns ``true`` into ``typed``, or None.

    Patterns: a dropped digit, an extra digit, a factor 10/100/1000 either way, two digits
    swapped.

    Examples
    --------
    >>> typo_pattern(232, 2329)
    'dropped digit'
    >>> typo_pattern(2439, 2349)
    'swapped digits'
    >>> typo_pattern(1000, 1001) is None
    True
    """
    if typed < 0 or true < 0 or typed == true:
        return None
    a, b = str(typed), str(true)
    for k in (10, 100, 1000):
        if true > 0 and (typed == true * k or typed * k == true):
            return f"factor {k}"
    if len(a) == len(b) - 1 and any(b[:i] + b[i + 1 :] == a for i in range(len(b))):
        return "dropped digit"
    if len(a) == len(b) + 1 and any(a[:i] + a[i + 1 :] == b for i in range(len(a))):
        return "extra digit"
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 2 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
            return "swapped digits"
    return None


def _int(x: Any) -> int | None:
    """An int, or None for a missing value."""
    if x is None or x is pd.NA or x is pd.NaT:
        return None
    if isinstance(x, float | np.floating) and math.isnan(x):
        return None
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _i(x: Any) -> int:
    """An int from a value known to be present."""
    return int(x)


#: (experiment, run): the experiment is None when the source does not give it (an elog entry
#: without ``Exp number``, a production keyed by run alone): a key value, never an int(NA).
Key = tuple[int | None, int]


def _key(experiment: Any, run: Any) -> Key:
    """The (experiment, run) key of a row (experiment None when missing)."""
    return (_int(experiment), _i(run))


def _key_frame(
    df: pd.DataFrame | None, cols: tuple[str, ...] = ("experiment", "run")
) -> pd.DataFrame:
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=list(cols))
    out = df.copy()
    for c in cols:
        if c in out:
            out[c] = out[c].astype("Int64")
    return out


def _groups(df: pd.DataFrame) -> dict[Key, pd.DataFrame]:
    if len(df) == 0 or "run" not in df or "experiment" not in df:
        return {}
    ok = df[df["run"].notna()]
    return {
        _key(k[0], k[1]): g for k, g in ok.groupby(["experiment", "run"], sort=False, dropna=False)
    }


def _records(df: pd.DataFrame) -> dict[Key, list[dict[str, Any]]]:
    """Rows grouped by (experiment, run) as plain dicts (much faster than iterrows)."""
    out: dict[Key, list[dict[str, Any]]] = {}
    if len(df) == 0 or "run" not in df or "experiment" not in df:
        return out
    ok = df[df["run"].notna()]
    for rec in ok.to_dict("records"):
        row = {str(k): v for k, v in rec.items()}
        out.setdefault(_key(row["experiment"], row["run"]), []).append(row)
    return out


def _with_events(files: pd.DataFrame, follows: str) -> pd.DataFrame:
    """``files`` with ``_ev``: a file's events in the definition followed (NaN if unknown)."""
    out = files.copy()
    if len(out) == 0:
        out["_ev"] = pd.Series(dtype="float64")
        return out
    nan = pd.Series(np.nan, index=out.index)
    ent = pd.to_numeric(out.get("n_entries", nan), errors="coerce")
    full = pd.to_numeric(out.get("n_full", nan), errors="coerce")
    ent, full = ent.astype("float64"), full.astype("float64")
    out["_ev"] = full.fillna(ent) if follows == "full" else ent
    return out


def _events(row: Mapping[str, Any] | pd.Series, follows: str) -> float:
    """Events of one file in the definition followed (full events when known)."""
    full = row.get("n_full")
    ent = row.get("n_entries")
    val = full if follows == "full" and not pd.isna(full) else ent
    return math.nan if val is None or pd.isna(val) else float(val)


def _has_marker(markers: object, *names: str) -> bool:
    if not isinstance(markers, str):
        return False
    parts = {m.strip() for m in markers.split(";")}
    return any(n in parts for n in names)


def _fnum(x: Any) -> float:
    """A float, NaN for a missing value."""
    if x is None or x is pd.NA:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan
