"""Join online and offline counts per (experiment, run): statuses, differences, definitions.

The online number may count HLT-discarded events (tree *entries*) or not (*full*, error-free
events, ``FileMetaData.m_nFullEvents``); online systems differ. :func:`detect_follows` votes
over the runs where the two offline definitions differ, and the comparison (``diff``,
``ratio``, status, statistics) uses the definition the online number follows, while
``diff_entries``/``ratio_entries`` and ``diff_full``/``ratio_full`` report both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from lumiaudit import schema
from lumiaudit.schema import RunStatus

__all__ = ["compare", "detect_follows"]

log = logging.getLogger(__name__)

FOLLOWS = ("full", "entries")


def _vote(
    n_online: pd.Series,
    entries: pd.Series,
    full: pd.Series,
    *,
    abs_floor: int = 5,
    rel_floor: float = 0.001,
) -> pd.Series:
    """Per run: ``full``/``entries`` when the online count agrees (within the floors) with
    exactly one of them, else NA (a run with a loss or with no error-flagged events does not
    vote)."""
    on = n_online.astype("Float64")
    tol = np.maximum(float(abs_floor), rel_floor * on.abs().fillna(0).to_numpy(dtype="float64"))
    d_full = (on - full.astype("Float64")).abs()
    d_ent = (on - entries.astype("Float64")).abs()
    near_full = (d_full <= tol).fillna(False) & (d_full < d_ent).fillna(False)
    near_ent = (d_ent <= tol).fillna(False) & (d_ent < d_full).fillna(False)
    vote = pd.Series(pd.NA, index=n_online.index, dtype="string")
    vote = vote.mask(near_full, "full")
    vote = vote.mask(near_ent, "entries")
    return vote


def detect_follows(
    n_online: pd.Series,
    n_offline: pd.Series,
    n_offline_full: pd.Series,
    *,
    default: str = "full",
    abs_floor: int = 5,
    rel_floor: float = 0.001,
) -> tuple[str, pd.Series]:
    """Which offline definition the online numbers follow, globally and per run.

    Parameters
    ----------
    n_online, n_offline, n_offline_full
        Aligned per-run counts (online, offline entries, offline error-free events).
    default
        Answer when no run tells the definitions apart (no error-flagged events anywhere).
    abs_floor, rel_floor
        How close (events, fraction) the online count must be to a definition to vote for it.

    Returns
    -------
    (str, Series)
        The global answer (majority of the runs that vote; ties and no votes give ``default``)
        and the per-run vote (``<NA>`` where entries and full events agree or a count is missing).

    Examples
    --------
    >>> on = pd.Series([100, 50], dtype="Int64")
    >>> detect_follows(on, pd.Series([110, 50]), pd.Series([100, 50]))[0]
    'full'
    """
    vote = _vote(n_online, n_offline, n_offline_full, abs_floor=abs_floor, rel_floor=rel_floor)
    n_full = int((vote == "full").sum())
    n_ent = int((vote == "entries").sum())
    follows = default if n_full == n_ent else ("full" if n_full > n_ent else "entries")
    log.info("online follows %s (votes: full %d, entries %d)", follows, n_full, n_ent)
    return follows, vote


def compare(
    online: pd.DataFrame,
    offline_runs: pd.DataFrame,
    *,
    non_physics: Iterable[str] = schema.NON_PHYSICS_RUN_TYPES,
    follows: str = "auto",
    abs_floor: int = 5,
    rel_floor: float = 0.001,
) -> tuple[pd.DataFrame, str]:
    """Join the online table and the per-run offline counts into a runs table.

    Parameters
    ----------
    online
        ``schema.ONLINE`` table (one row per run).
    offline_runs
        Per (experiment, run): ``n_offline, n_offline_full, n_files, n_files_bad, run_type,
        markers``.
    non_physics
        Run types reported as ``NOT_AUDITED``.
    follows
        ``"auto"`` (detect), ``"full"`` or ``"entries"``: the offline definition compared.
    abs_floor, rel_floor
        A difference within either floor is ``OK`` (never ``DEFICIT``/``EXCESS``).

    Returns
    -------
    (DataFrame, str)
        The runs table (``schema.RUNS`` columns, then ``n_offline_def``, ``diff_entries``,
        ``ratio_entries``, ``diff_full``, ``ratio_full``, ``follows``, ``follows_run``,
        ``lumi_nb``, ``start_time``, ``markers``, ``in_online``, ``in_offline``,
        ``experiment_filled``: ``offline``/``online`` when a row without experiment got the
        only experiment the other side has for that run) and the global definition followed.
    """
    if follows not in ("auto", *FOLLOWS):
        from lumiaudit.errors import ParameterError

        msg = f"follows must be auto, full or entries, not {follows!r}"
        raise ParameterError(msg)
    on = schema.enforce(online, schema.ONLINE)
    on = on.drop_duplicates(["experiment", "run"], keep="last")
    off = offline_runs.copy()
    for col in ("n_offline", "n_offline_full", "n_files", "n_files_bad"):
        off[col] = (
            off[col].astype("Int64")
            if col in off
            else pd.Series(pd.NA, index=off.index, dtype="Int64")
        )
    for col in ("run_type", "markers"):
        off[col] = (
            off[col].astype("string")
            if col in off
            else pd.Series(pd.NA, index=off.index, dtype="string")
        )
    off["experiment"] = off["experiment"].astype("Int64")
    off["run"] = off["run"].astype("Int64")
    off = off.drop_duplicates(["experiment", "run"], keep="last")

    left = on[["experiment", "run", "run_type", "n_online", "lumi_nb", "start_time"]].copy()
    left["in_online"] = True
    left, off = _fill_experiment(left, off)
    right = off[
        [
            "experiment",
            "run",
            "run_type",
            "n_offline",
            "n_offline_full",
            "n_files",
            "n_files_bad",
            "markers",
            "experiment_filled",
        ]
    ].rename(columns={"run_type": "run_type_off", "experiment_filled": "experiment_filled_off"})
    right["in_offline"] = True
    df = left.merge(right, on=["experiment", "run"], how="outer", sort=True)
    df["experiment_filled"] = (
        df["experiment_filled"].astype("string").fillna(df["experiment_filled_off"])
    )
    df = df.drop(columns=["experiment_filled_off"])
    df["in_online"] = df["in_online"].astype("boolean").fillna(False)
    df["in_offline"] = df["in_offline"].astype("boolean").fillna(False)
    df["run_type"] = (
        df["run_type"]
        .astype("string")
        .str.lower()
        .fillna(df["run_type_off"].astype("string").str.lower())
    )
    df = df.drop(columns=["run_type_off"])

    if follows == "auto":
        follows, vote = detect_follows(
            df["n_online"],
            df["n_offline"],
            df["n_offline_full"],
            abs_floor=abs_floor,
            rel_floor=rel_floor,
        )
    else:
        vote = _vote(
            df["n_online"],
            df["n_offline"],
            df["n_offline_full"],
            abs_floor=abs_floor,
            rel_floor=rel_floor,
        )
    df["follows_run"] = vote
    df["follows"] = vote.fillna(follows)

    full = df["n_offline_full"].astype("Int64")
    entries = df["n_offline"].astype("Int64")
    df["n_offline_def"] = full.fillna(entries) if follows == "full" else entries
    n_on = df["n_online"].astype("Int64")
    df["diff"] = n_on - df["n_offline_def"]
    df["ratio"] = _ratio(n_on, df["n_offline_def"])
    df["diff_entries"] = n_on - entries
    df["ratio_entries"] = _ratio(n_on, entries)
    df["diff_full"] = n_on - full
    df["ratio_full"] = _ratio(n_on, full)

    nonphys = {t.lower() for t in non_physics}
    status: list[str] = []
    for row in df.itertuples(index=False):
        status.append(_status(row, nonphys, abs_floor, rel_floor))
    df["status"] = pd.array(status, dtype="string")
    df["flagged"] = pd.array([pd.NA] * len(df), dtype="boolean")
    df["reasons"] = pd.array([pd.NA] * len(df), dtype="string")
    df["markers"] = df["markers"].astype("string")
    runs = schema.enforce(df, schema.RUNS)
    return runs, follows


def _fill_experiment(left: pd.DataFrame, right: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give a row without experiment (an elog entry without ``Exp number``, a production keyed
    by run alone) the experiment of the other side when exactly one experiment has that run
    there and this side has no row of that (experiment, run); else it stays missing (its own
    key). ``experiment_filled`` names the side the experiment was taken from."""
    left = left.copy()
    right = right.copy()
    left["experiment_filled"] = pd.array([pd.NA] * len(left), dtype="string")
    right["experiment_filled"] = pd.array([pd.NA] * len(right), dtype="string")
    for this, other, where in ((left, right, "offline"), (right, left, "online")):
        missing = this["experiment"].isna() & this["run"].notna()
        if not missing.any():
            continue
        known = other.dropna(subset=["experiment", "run"])
        exps = known.groupby("run")["experiment"].unique()
        taken = set(
            zip(
                this["experiment"].dropna().astype(int),
                this.loc[this["experiment"].notna(), "run"].astype(int),
                strict=True,
            )
        )
        for idx in this.index[missing]:
            run = int(this.loc[idx, "run"])
            cands = list(exps.get(run, []))
            if len(cands) == 1 and (int(cands[0]), run) not in taken:
                this.loc[idx, "experiment"] = int(cands[0])
                this.loc[idx, "experiment_filled"] = where
                taken.add((int(cands[0]), run))
    return left, right


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    a = num.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    b = den.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)
    s = pd.Series(r, dtype="Float64", index=num.index)
    return s.mask(~np.isfinite(r))


def _status(row: Any, nonphys: set[str], abs_floor: int, rel_floor: float) -> str:
    run_type = row.run_type
    if isinstance(run_type, str) and run_type in nonphys:
        return RunStatus.NOT_AUDITED.value
    n_online = row.n_online
    n_def = row.n_offline_def
    n_files = row.n_files
    n_bad = row.n_files_bad
    if pd.isna(n_online):
        return RunStatus.MISSING_ONLINE.value
    if int(n_online) == 0 and (pd.isna(n_def) or int(n_def) == 0):
        # an aborted run: nothing was written, nothing is missing (reason aborted_run)
        return RunStatus.OK.value
    if pd.isna(n_def):
        return RunStatus.MISSING_OFFLINE.value
    all_bad = pd.isna(n_files) or int(n_files) == 0 or (not pd.isna(n_bad) and n_bad >= n_files)
    if int(n_def) == 0 and int(n_online) > 0 and all_bad:
        return RunStatus.MISSING_OFFLINE.value
    diff = int(n_online) - int(n_def)
    if abs(diff) <= abs_floor or (int(n_online) > 0 and abs(diff) / int(n_online) <= rel_floor):
        return RunStatus.OK.value
    return RunStatus.DEFICIT.value if diff > 0 else RunStatus.EXCESS.value
