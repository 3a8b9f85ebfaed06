"""Per-lumisection audit: online per-LS counts against offline per-LS counts, the run verdict.

An online per-lumisection table (``run, ls, events``; read by :mod:`lumiaudit.online.lumis`)
gives, per run, the
sum of its LS as the online count, and per LS the events to find offline. The per-LS table
(``lumis.csv`` of an audit) says which LS are ``OK``, ``MISSING_OFFLINE`` (online events, none
offline, not processed), ``SHORT`` (fewer offline than online beyond ``[lumis] tolerance``),
``EXCESS``, ``DUPLICATE`` (as ``OK`` once each event number counts once), ``MISSING_ONLINE``,
``EMPTY`` (0 online and 0 offline), ``NOT_CERTIFIED`` (outside
the golden JSON: not audited) or ``NOT_CHECKED`` (a file of the run could not be counted per
LS: no verdict rather than a guess). Missing and short LS per run are written as
``not_finished_lumis.json`` in the compact-range format of CRAB's ``notFinishedLumis`` and of
CMS golden JSON files: ``{"381150": [[4, 6]]}``, ready for a recovery task.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit import schema
from lumiaudit.errors import ConfigError
from lumiaudit.numbers import fmt

__all__ = [
    "LS_STATUSES",
    "audit_lumis",
    "compare_lumis",
    "explain_lumis",
    "lumis_summary",
    "not_finished_lumis",
    "read_golden",
    "waive",
    "write_lumis",
]

log = logging.getLogger(__name__)

LS_STATUSES = (
    "OK",
    "DUPLICATE",
    "EMPTY",
    "MISSING_OFFLINE",
    "SHORT",
    "EXCESS",
    "MISSING_ONLINE",
    "NOT_CERTIFIED",
    "NOT_CHECKED",
)
#: statuses that a recovery task must redo
_NOT_FINISHED = ("MISSING_OFFLINE", "SHORT")

_COLUMNS = schema.LUMIS.dtypes  # declared in lumiaudit.schema


def _n(value: Any) -> int:
    """An int from a key known to be present (pandas types it loosely)."""
    return int(value)


# ------------------------------------------------------------------------------ golden JSON


def read_golden(path: str | os.PathLike[str]) -> dict[int, list[tuple[int, int]]]:
    """Read a CMS golden JSON ``{"381148": [[1, 120], [125, 283]]}``: certified LS ranges.

    Raises
    ------
    ConfigError
        Not JSON, not an object of runs, or a range that is not ``[first, last]`` with
        ``first <= last`` (the run is named).
    """
    from lumiaudit.store.config import read_config_text

    source = Path(path)
    text = read_config_text(source, what="golden JSON", hint='expected {"run": [[first, last]]}')
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"not valid JSON: {exc.msg}"
        raise ConfigError(msg, path=source, line=exc.lineno) from None
    if not isinstance(doc, dict):
        msg = 'expected an object {"run": [[first, last], ...]}'
        raise ConfigError(msg, path=source)
    out: dict[int, list[tuple[int, int]]] = {}
    for key, ranges in doc.items():
        if not str(key).isdigit() or not isinstance(ranges, list):
            msg = f"run {key!r}: expected a run number and a list of ranges"
            raise ConfigError(msg, path=source)
        pairs = []
        for item in ranges:
            ok = (
                isinstance(item, list)
                and len(item) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
                and item[0] <= item[1]
            )
            if not ok:
                msg = f"run {key}: {item!r} is not a range [first, last]"
                raise ConfigError(msg, path=source)
            pairs.append((item[0], item[1]))
        out[int(key)] = pairs
    return out


def _certified(
    runs: pd.Series, lss: pd.Series, golden: Mapping[int, list[tuple[int, int]]]
) -> list[bool]:
    return [
        any(a <= int(ls) <= b for a, b in golden.get(int(run), ()))
        for run, ls in zip(runs, lss, strict=True)
    ]


# ------------------------------------------------------------------------------ compare


def compare_lumis(
    online_ls: pd.DataFrame,
    offline_ls: pd.DataFrame,
    *,
    golden: Mapping[int, list[tuple[int, int]]] | None = None,
    tolerance: int = 0,
    unchecked_runs: Iterable[int] = (),
) -> pd.DataFrame:
    """Join online and offline per-LS counts; one status per (run, LS) (pure).

    Parameters
    ----------
    online_ls
        ``run, ls, n_online`` (+ ``source``, ``source_line``).
    offline_ls
        ``run, ls, n_offline, n_files, processed`` (:func:`lumiaudit.offline.lumis.count_lumis`).
    golden
        Certified LS ranges per run; LS outside are ``NOT_CERTIFIED``. None: all certified.
    tolerance
        Events an LS may lack offline and still be ``OK``.
    unchecked_runs
        Runs with a file that could not be counted per LS: their LS are ``NOT_CHECKED``.

    Examples
    --------
    >>> on = pd.DataFrame({"run": [1, 1], "ls": [1, 2], "n_online": [5, 6]})
    >>> off = pd.DataFrame({"run": [1], "ls": [1], "n_offline": [5], "n_files": [1],
    ...                     "processed": [True]})
    >>> compare_lumis(on, off)["status"].tolist()
    ['OK', 'MISSING_OFFLINE']
    """
    on = online_ls[
        [c for c in ("run", "ls", "n_online", "source", "source_line") if c in online_ls]
    ]
    off = offline_ls[["run", "ls", "n_offline", "n_files", "processed"]].copy()
    off["n_duplicate"] = (
        offline_ls["n_duplicate"].astype("Int64")
        if "n_duplicate" in offline_ls
        else pd.Series(pd.NA, index=off.index, dtype="Int64")
    )
    df = on.astype({"run": "Int64", "ls": "Int64"}).merge(
        off.astype({"run": "Int64", "ls": "Int64"}), on=["run", "ls"], how="outer", sort=True
    )
    df["n_files"] = df["n_files"].astype("Int64").fillna(0)
    unchecked = {int(r) for r in unchecked_runs}
    n_on, n_off = df["n_online"].astype("Int64"), df["n_offline"].astype("Int64")
    # an LS nobody processed has 0 events offline (the file that would hold them is absent);
    # an event held twice counts once (DOMAIN.md causes 3 and 10)
    n_off_filled = n_off.fillna(0)
    dup = df["n_duplicate"].astype("Int64")
    unique = n_off_filled - dup.fillna(0)
    df["diff"] = n_on - unique
    df["certified"] = pd.array(
        [True] * len(df) if golden is None else _certified(df["run"], df["ls"], golden),
        dtype="boolean",
    )
    status = []
    row: Any
    for row in df.itertuples(index=False):
        if not row.certified:
            status.append("NOT_CERTIFIED")
        elif int(row.run) in unchecked:
            status.append("NOT_CHECKED")
        elif pd.isna(row.n_online):
            # not in the online table with nothing offline: an empty LS; else nothing to check
            listed = isinstance(getattr(row, "source", None), str)
            nothing = pd.isna(row.n_offline) or int(row.n_offline) == 0
            status.append("EMPTY" if nothing and not listed else "MISSING_ONLINE")
        else:
            n_dup = 0 if pd.isna(row.n_duplicate) else int(row.n_duplicate)
            off_n = (0 if pd.isna(row.n_offline) else int(row.n_offline)) - n_dup
            d = int(row.n_online) - off_n
            if int(row.n_online) == 0 and off_n == 0:
                status.append("EMPTY")
            elif off_n == 0 and row.processed is not True:
                status.append("MISSING_OFFLINE")
            elif d > tolerance:
                status.append("SHORT")
            elif d < 0:
                status.append("EXCESS")
            else:
                status.append("DUPLICATE" if n_dup else "OK")
    df["n_offline"] = n_off_filled
    df["status"] = pd.array(status, dtype="string")
    for col, dtype in _COLUMNS.items():
        if col not in df:
            df[col] = pd.Series(pd.NA, index=df.index, dtype=dtype)
    return df[list(_COLUMNS)].astype(_COLUMNS).reset_index(drop=True)


def _ranges(values: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for v in sorted(set(values)):
        if out and v == out[-1][1] + 1:
            out[-1][1] = v
        else:
            out.append([v, v])
    return out


def not_finished_lumis(lumis: pd.DataFrame) -> dict[str, list[list[int]]]:
    """Missing and short LS per run as compact ranges (CRAB ``notFinishedLumis`` format).

    Examples
    --------
    >>> t = pd.DataFrame({"run": [7, 7, 7, 7], "ls": [1, 2, 3, 5],
    ...                   "status": ["MISSING_OFFLINE", "SHORT", "OK", "MISSING_OFFLINE"]})
    >>> not_finished_lumis(t)
    {'7': [[1, 2], [5, 5]]}
    """
    bad = lumis[lumis["status"].isin(_NOT_FINISHED).fillna(False)]
    return {
        str(_n(run)): _ranges(int(v) for v in g["ls"]) for run, g in bad.groupby("run", sort=True)
    }


def _verdict(runs: pd.DataFrame, lumis: pd.DataFrame) -> pd.DataFrame:
    """Per-run LS columns and reasons: a run with missing or short LS needs a look."""
    out = runs.copy()
    stats: dict[int, dict[str, int]] = {}
    for run, g in lumis.groupby("run", sort=False):
        st = g["status"].value_counts().to_dict()
        missing = g[g["status"] == "MISSING_OFFLINE"]
        short = g[g["status"] == "SHORT"]
        stats[_n(run)] = {
            "n_ls": len(g),
            "n_ls_missing": int(st.get("MISSING_OFFLINE", 0)),
            "n_ls_short": int(st.get("SHORT", 0)),
            "n_ls_not_checked": int(st.get("NOT_CHECKED", 0)),
            "n_ls_duplicate": int((g["n_duplicate"].fillna(0) > 0).sum())
            if "n_duplicate" in g
            else 0,
            "duplicate_events": int(g["n_duplicate"].fillna(0).sum()) if "n_duplicate" in g else 0,
            "missing_events": int(missing["n_online"].fillna(0).sum()),
            "short_events": int(short["diff"].fillna(0).sum()),
        }
    cols = (
        "n_ls",
        "n_ls_missing",
        "n_ls_short",
        "n_ls_not_checked",
        "n_ls_duplicate",
        "missing_events",
        "short_events",
        "duplicate_events",
    )
    for col in cols:
        out[col if col.startswith("n_ls") else f"ls_{col}"] = pd.array(
            [stats.get(int(r), {}).get(col) if not pd.isna(r) else None for r in out["run"]],
            dtype="Int64",
        )
    reasons: list[str | None] = []
    flagged: list[bool] = []
    severity: list[str] = []
    row: Any
    for row in out.itertuples(index=False):
        s = stats.get(int(row.run)) if not pd.isna(row.run) else None
        codes = (
            [c for c in str(row.reasons).split(";") if c] if isinstance(row.reasons, str) else []
        )
        flag = bool(row.flagged) if not pd.isna(row.flagged) else False
        sev = str(row.severity) if isinstance(getattr(row, "severity", None), str) else "ok"
        if s and str(row.status) != "NOT_AUDITED":
            # the LS events stay in ls_missing_events / ls_short_events: explained_events,
            # reason_events and the funnel remain the file-level attribution
            for code, n in (
                (schema.Reason.MISSING_LUMISECTION.value, s["n_ls_missing"]),
                (schema.Reason.SHORT_LUMISECTION.value, s["n_ls_short"]),
                (schema.Reason.DUPLICATE_EVENTS.value, s["n_ls_duplicate"]),
            ):
                if n:
                    codes.append(code)
                    flag = True
                    sev = "fail" if sev == "fail" or code.startswith("missing") else "warn"
        reasons.append(";".join(codes) or None)
        flagged.append(flag)
        severity.append(sev)
    out["reasons"] = pd.array(reasons, dtype="string")
    out["flagged"] = pd.array(flagged, dtype="boolean")
    if "severity" in out:
        out["severity"] = pd.array(severity, dtype="string")
    return out


def audit_lumis(
    runs: pd.DataFrame,
    *,
    online_ls: pd.DataFrame,
    files: pd.DataFrame,
    profile: Any,
    contributions: pd.DataFrame | None = None,
    golden: str | os.PathLike[str] | Mapping[int, list[tuple[int, int]]] | None = None,
    jobs: int = 1,
    timeout: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count the counted files per LS, compare with the online LS, update the runs table.

    Returns
    -------
    (DataFrame, DataFrame)
        The runs table with ``n_ls``, ``n_ls_missing``, ``n_ls_short``, ``n_ls_not_checked``
        and the reasons ``missing_lumisection`` / ``short_lumisection`` (a run with either is
        flagged), and the per-LS table (see the module docstring).
    """
    from lumiaudit.offline.lumis import count_lumis

    counted = files[files["status"].isin(schema.READABLE_STATUSES)]["path"].astype(str).tolist()
    offline_ls, failed = count_lumis(counted, profile=profile, jobs=jobs, timeout=timeout)
    failed_paths = {f["path"] for f in failed}
    # the runs of a file that could not be counted per LS: from its per-run contributions
    source = files if contributions is None else contributions
    of_failed = source[source["path"].isin(failed_paths)]
    unchecked = set(of_failed["run"].dropna().astype(int))
    if failed_paths - set(of_failed.dropna(subset=["run"])["path"]):
        # a failed file whose runs are unknown could hold any run's LS: check none
        unchecked = set(online_ls["run"].dropna().astype(int))
    gold = read_golden(golden) if isinstance(golden, str | os.PathLike) else golden
    lumis = compare_lumis(
        online_ls,
        offline_ls,
        golden=gold,
        tolerance=profile.lumis.tolerance,
        unchecked_runs=unchecked,
    )
    return _verdict(runs, lumis), lumis


def lumis_summary(lumis: pd.DataFrame) -> dict[str, Any]:
    """Counts per LS status and the not-finished LS (for ``summary.json``)."""
    return {
        "lumisections": len(lumis),
        "status_counts": {str(k): int(v) for k, v in lumis["status"].value_counts().items()},
        "not_finished": not_finished_lumis(lumis),
    }


def write_lumis(
    lumis: pd.DataFrame,
    out_dir: Path,
    *,
    table_format: str = "csv",
    metadata: dict[str, Any] | None = None,
) -> str:
    """Write ``lumis.csv`` (or ``lumis.parquet``) and ``not_finished_lumis.json`` into an audit
    directory being built; return the table's file name (for ``tables.json``)."""
    from lumiaudit.store.atomic import write_text
    from lumiaudit.store.formats import write_table
    from lumiaudit.store.tables import table_file

    filename = table_file("lumis", table_format)
    write_table(lumis, out_dir / filename, table_format=table_format, metadata=metadata)
    write_text(out_dir / "not_finished_lumis.json", json.dumps(not_finished_lumis(lumis)) + "\n")
    return filename


def explain_lumis(lumis: pd.DataFrame, run: int) -> str:
    """The lumisection lines of one run for ``lumiaudit explain`` (empty without LS).

    Examples
    --------
    >>> t = pd.DataFrame({"run": [7, 7, 7], "ls": [1, 2, 3], "status": ["OK", "SHORT", "OK"],
    ...                   "n_online": [5, 6, 5], "n_offline": [5, 4, 5]})
    >>> print(explain_lumis(t, 7), end="")
    <BLANKLINE>
    Lumisections (3): OK 2, SHORT 1
      SHORT LS 2: online 6, offline 4
    """
    if len(lumis) == 0 or "run" not in lumis:
        return ""
    g = lumis[lumis["run"] == run]
    if len(g) == 0:
        return ""
    counts = g["status"].value_counts()
    head = ", ".join(f"{k} {int(v)}" for k, v in sorted(counts.items()))
    lines = ["", f"Lumisections ({len(g)}): {head}"]
    bad = g[~g["status"].isin(["OK", "EMPTY"])]
    status: Any
    r: Any
    for status, sub in bad.groupby("status", sort=True):
        if status in ("SHORT", "EXCESS", "MISSING_ONLINE"):
            for r in sub.itertuples(index=False):
                on, off = fmt(r.n_online), fmt(r.n_offline)
                lines.append(f"  {status} LS {int(r.ls)}: online {on}, offline {off}")
        else:
            ranges = ", ".join(
                f"{a}-{b}" if a != b else str(a) for a, b in _ranges(int(v) for v in sub["ls"])
            )
            lines.append(f"  {status} LS {ranges}")
    return "\n".join(lines) + "\n"


def waive(runs: pd.DataFrame, waivers: Any, *, stats: dict[str, Any]) -> pd.DataFrame:
    """Apply waivers after the LS verdict (as :func:`lumiaudit.reconcile.reconcile` does after
    its own), and update ``stats`` (``runs_flagged``, ``runs_waived``)."""
    if waivers is not None:
        from lumiaudit.store.config import read_waivers
        from lumiaudit.waivers import apply_waivers

        table = waivers if isinstance(waivers, pd.DataFrame) else read_waivers(waivers)
        runs = apply_waivers(runs, table)
    stats["runs_flagged"] = int(runs["flagged"].fillna(False).sum())
    stats["runs_waived"] = int(runs["waived"].fillna(False).sum()) if "waived" in runs else 0
    return runs
