"""Audit history: what changed between two audit directories.

:func:`read_audit_tables` reads an audit directory through the one reader of
:mod:`lumiaudit.store.audit_dir` (the same as ``Audit.load``), for the ``explain``, ``runlist``
and ``diff`` commands.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from os import PathLike
from typing import Any

import pandas as pd

__all__ = ["AuditDiff", "diff_audits", "read_audit_tables"]

log = logging.getLogger(__name__)


def read_audit_tables(audit_dir: str | PathLike[str]) -> dict[str, pd.DataFrame]:
    """The tables of a written audit directory, by name (``runs``, ``files``, ``gaps`` ...).

    The one reader of :mod:`lumiaudit.store.audit_dir` (also behind ``Audit.load``): dtypes
    are restored, a damaged table is an error, never read leniently.

    Raises
    ------
    InputNotFoundError
        The directory or its ``runs.csv`` does not exist.
    AuditDirError
        A table is damaged (the message names the file and the cause).
    """
    from lumiaudit.store.audit_dir import read_tables

    return read_tables(audit_dir)


_CATEGORIES = ("newly_flagged", "resolved", "changed", "added", "removed")


@dataclass(frozen=True)
class AuditDiff:
    """Differences between two audits.

    Attributes
    ----------
    newly_flagged, resolved
        Runs flagged only in the new / only in the old audit.
    changed
        Runs whose online or offline counts, status or reasons changed, and that are neither
        newly flagged nor resolved (each run is in one category).
    added, removed
        Runs only in the new / only in the old audit.
    """

    newly_flagged: pd.DataFrame
    resolved: pd.DataFrame
    changed: pd.DataFrame
    added: pd.DataFrame
    removed: pd.DataFrame

    def get(self, name: str, default: Any = None) -> Any:
        """The table of one category by name (``diff.get("newly_flagged")``)."""
        return getattr(self, name, default) if name in _CATEGORIES else default

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in _CATEGORIES:
            raise KeyError(name)
        frame: pd.DataFrame = getattr(self, name)
        return frame

    def counts(self) -> dict[str, int]:
        """Number of runs in each category."""
        return {
            "newly_flagged": len(self.newly_flagged),
            "resolved": len(self.resolved),
            "changed": len(self.changed),
            "added": len(self.added),
            "removed": len(self.removed),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the counts and the runs of each category."""

        def recs(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{str(k): _jsonable(v) for k, v in r.items()} for r in df.to_dict("records")]

        return {
            "counts": self.counts(),
            **{
                name: recs(getattr(self, name))
                for name in ("newly_flagged", "resolved", "changed", "added", "removed")
            },
        }


def _jsonable(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        v = v.item()
    return v if isinstance(v, bool | int | float | str) else str(v)


_COMPARED = ("n_online", "n_offline", "n_offline_full", "status", "reasons")


def diff_audits(
    old_dir: str | PathLike[str] | pd.DataFrame, new_dir: str | PathLike[str] | pd.DataFrame
) -> AuditDiff:
    """Compare two audits run by run.

    Parameters
    ----------
    old_dir, new_dir
        Audit directories (or their runs tables).

    Returns
    -------
    AuditDiff
    """
    old = old_dir if isinstance(old_dir, pd.DataFrame) else read_audit_tables(old_dir)["runs"]
    new = new_dir if isinstance(new_dir, pd.DataFrame) else read_audit_tables(new_dir)["runs"]
    keys = ["experiment", "run"]
    cols = [c for c in (*_COMPARED, "flagged", "diff") if c in old.columns or c in new.columns]
    o = old.reindex(columns=keys + cols).copy()
    n = new.reindex(columns=keys + cols).copy()
    for df in (o, n):
        df["experiment"] = df["experiment"].astype("Int64")
        df["run"] = df["run"].astype("Int64")
    m = o.merge(n, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True)

    def flag(s: pd.Series) -> pd.Series:
        return s.astype(str).str.lower().eq("true")

    both = m["_merge"] == "both"
    f_old, f_new = flag(m["flagged_old"]), flag(m["flagged_new"])
    newly = m[(f_new & ~f_old & (both | (m["_merge"] == "right_only")))]
    resolved = m[both & f_old & ~f_new]
    changed_mask = pd.Series(False, index=m.index)
    for c in _COMPARED:
        a, b = m.get(f"{c}_old"), m.get(f"{c}_new")
        if a is None or b is None:
            continue
        sa, sb = a.astype("string").fillna(""), b.astype("string").fillna("")
        changed_mask |= both & (sa != sb)
    # each run in one category: a run newly flagged or resolved is not listed again as changed
    changed_mask &= ~(m.index.isin(newly.index) | m.index.isin(resolved.index))
    out_cols = [c for c in m.columns if c != "_merge"]
    return AuditDiff(
        newly_flagged=newly[out_cols].reset_index(drop=True),
        resolved=resolved[out_cols].reset_index(drop=True),
        changed=m[changed_mask][out_cols].reset_index(drop=True),
        added=m[m["_merge"] == "right_only"][out_cols].reset_index(drop=True),
        removed=m[m["_merge"] == "left_only"][out_cols].reset_index(drop=True),
    )
