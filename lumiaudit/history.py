"""Audit history: what changed between two audit directories.

:func:`read_audit_tables` reads an audit directory through ``lumiaudit.audit.Audit.load`` when
it is available and falls back to the CSV files (``runs.csv``, ``files.csv`` ...) otherwise, so
the ``explain``, ``runlist`` and ``diff`` commands work on any written audit.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit.errors import InputNotFoundError, OnlineFormatError

__all__ = ["AuditDiff", "diff_audits", "read_audit_tables"]

log = logging.getLogger(__name__)

_TABLES = (
    "runs",
    "files",
    "gaps",
    "online",
    "online_entries",
    "conflicts",
    "contributions",
    "funnel",
    "daq_files",
    "problems",
)

_INT = (
    "experiment",
    "run",
    "n_online",
    "n_offline",
    "n_offline_full",
    "diff",
    "n_files",
    "n_files_bad",
    "explained_events",
    "unexplained_diff",
    "hlt_unit",
    "file_index",
    "n_entries",
    "n_meta",
    "n_full",
    "size_bytes",
    "chosen_value",
)
_BOOL = ("flagged", "waived", "chosen", "outlier")


def _read_csv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    for col in df.columns:
        if col in _INT:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        elif col in _BOOL:
            df[col] = df[col].str.lower().map({"true": True, "false": False}).astype("boolean")
        elif df[col].notna().any():
            num = pd.to_numeric(df[col], errors="coerce")
            if num.notna().sum() == df[col].notna().sum() and col not in ("reasons", "path"):
                df[col] = num.astype("Float64")
            else:
                df[col] = df[col].astype("string")
        else:
            df[col] = df[col].astype("string")
    return df


def read_audit_tables(audit_dir: str | PathLike[str]) -> dict[str, pd.DataFrame]:
    """The tables of a written audit directory, by name (``runs``, ``files``, ``gaps`` ...).

    Raises
    ------
    InputNotFoundError
        The directory or its ``runs.csv`` does not exist.
    """
    d = Path(audit_dir)
    if not d.is_dir():
        raise InputNotFoundError("audit directory not found", path=d)
    if not (d / "runs.csv").is_file():
        raise InputNotFoundError(
            "not an audit directory (no runs.csv)",
            path=d,
            hint="lumiaudit audit --out DIR writes one",
        )
    try:
        from lumiaudit.audit import Audit  # type: ignore[attr-defined,unused-ignore]

        audit: Any = Audit.load(d)
        tables = {
            n: getattr(audit, n)
            for n in _TABLES
            if isinstance(getattr(audit, n, None), pd.DataFrame)
        }
        if "runs" in tables:
            return tables
    except (ImportError, AttributeError):
        log.debug("lumiaudit.audit.Audit.load not available; reading CSV files")
    except (OSError, ValueError) as exc:
        log.warning("Audit.load failed (%s); reading CSV files", exc)
    out: dict[str, pd.DataFrame] = {}
    for name in _TABLES:
        path = d / f"{name}.csv"
        if path.is_file():
            try:
                out[name] = _read_csv(path)
            except (ValueError, pd.errors.ParserError) as exc:
                raise OnlineFormatError(f"cannot read table: {exc}", path=path) from None
    return out


_CATEGORIES = ("newly_flagged", "resolved", "changed", "added", "removed")


@dataclass(frozen=True)
class AuditDiff:
    """Differences between two audits.

    Attributes
    ----------
    newly_flagged, resolved
        Runs flagged only in the new / only in the old audit.
    changed
        Runs whose online or offline counts, status or reasons changed.
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
    out_cols = [c for c in m.columns if c != "_merge"]
    return AuditDiff(
        newly_flagged=newly[out_cols].reset_index(drop=True),
        resolved=resolved[out_cols].reset_index(drop=True),
        changed=m[changed_mask][out_cols].reset_index(drop=True),
        added=m[m["_merge"] == "right_only"][out_cols].reset_index(drop=True),
        removed=m[m["_merge"] == "left_only"][out_cols].reset_index(drop=True),
    )
