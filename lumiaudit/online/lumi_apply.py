"""``--lumi FILE``: each run's recorded luminosity from a luminosity file, into the online table.

The reconciliation weighs runs by the online table's ``lumi_nb`` column (nb^-1): the summary's
luminosity sentence, ``lumi_affected_nb`` / ``lumi_unexplained_nb`` per run and the funnel's
``lumi_nb`` column (:func:`lumiaudit.reconcile.verdict`). Without ``--lumi`` that column is what
the online source typed (an elog's ``Luminosity`` attribute, the run database's field). With
``--lumi`` it is the luminosity file's *recorded* luminosity (brilcalc's ``recorded``,
b2info-luminosity's ``lee`` / ``lum_det_shift``; :func:`lumiaudit.online.lumi.read_lumi`), for
every run, so one source decides the whole column:

- a run the file has: its recorded luminosity (missing where the file's rows could not all be
  read; the reader's problem names the line);
- a run the file lacks: missing (never 0, never the elog's value), listed in the summary;
- where the online source also gave a value and it differs from the file's by more than
  :data:`TOLERANCE` (relative), a problem names both values (the file's is used).

Runs are matched by (experiment, run); a file without experiments (brilcalc) or an audit with a
run-only key (``cms-nanoaod``) matches by run, and a run number found in two experiments of the
other side is a problem, not a guess.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lumiaudit.numbers import fmt
from lumiaudit.online.entries import Problems
from lumiaudit.online.lumi import LumiResult

__all__ = ["TOLERANCE", "LumiApplied", "apply_lumi"]

log = logging.getLogger(__name__)

#: Relative difference between the online source's and the file's luminosity reported as a
#: problem (rounding of a typed value stays below it).
TOLERANCE = 0.01


@dataclass(frozen=True)
class LumiApplied:
    """What :func:`apply_lumi` did.

    Attributes
    ----------
    online
        The online table with ``lumi_nb`` from the file.
    problems
        ``schema.PROBLEMS`` rows: the reader's and the disagreements found here.
    info
        For ``summary.json``: files, unit, tags, runs with and without luminosity.
    """

    online: pd.DataFrame
    problems: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


def _key(experiment: Any, run: Any, *, by_run: bool) -> tuple[int | None, int]:
    return (None if by_run or pd.isna(experiment) else int(experiment), int(run))


def _index(
    lumi: pd.DataFrame, *, by_run: bool, problems: Problems
) -> dict[tuple[int | None, int], float | None]:
    out: dict[tuple[int | None, int], float | None] = {}
    twice: set[tuple[int | None, int]] = set()
    row: Any
    for row in lumi.itertuples(index=False):
        if pd.isna(row.run):
            continue
        key = _key(row.experiment, row.run, by_run=by_run)
        value = None if pd.isna(row.lumi_recorded_nb) else float(row.lumi_recorded_nb)
        if key in out:
            twice.add(key)
            problems.add(
                str(row.source),
                str(row.source_line),
                f"run {key[1]} appears more than once in the luminosity files"
                + (" (matched by run alone)" if by_run else "")
                + "; it gets no luminosity",
            )
        out[key] = value
    for key in twice:
        out[key] = None
    return out


def apply_lumi(
    online: pd.DataFrame, lumi: LumiResult, *, files: list[str] | None = None
) -> LumiApplied:
    """Give each run of ``online`` the recorded luminosity of ``lumi``; see the module docstring.

    Parameters
    ----------
    online
        The online table (``experiment``, ``run``, ``lumi_nb``).
    lumi
        :func:`lumiaudit.online.lumi.read_lumi`'s result.
    files
        The luminosity files (for the summary).

    Returns
    -------
    LumiApplied

    Examples
    --------
    >>> from lumiaudit.online.lumi import read_brilcalc
    >>> text = ("#run:fill,time,nls,ncms,delivered(/pb),recorded(/pb)\\n"
    ...         "101:1,01/01/22 00:00:00,3,3,2.0,1.5\\n")
    >>> online = pd.DataFrame({"experiment": pd.array([None, None], dtype="Int64"),
    ...                        "run": pd.array([101, 102], dtype="Int64"),
    ...                        "lumi_nb": pd.array([None, 7.0], dtype="Float64")})
    >>> done = apply_lumi(online, read_brilcalc(text, "lumi.csv"))
    >>> done.online["lumi_nb"].tolist(), done.info["runs_without_lumi"]
    ([1500.0, <NA>], ['102'])
    """
    problems = Problems()
    table = lumi.table
    by_run = bool(table["experiment"].isna().all()) or bool(online["experiment"].isna().all())
    index = _index(table, by_run=by_run, problems=problems)
    keys = [
        None if pd.isna(r) else _key(e, r, by_run=by_run)
        for e, r in zip(online["experiment"], online["run"], strict=True)
    ]
    seen: dict[tuple[int | None, int], int] = {}
    for key in keys:
        if key is not None:
            seen[key] = seen.get(key, 0) + 1
    values: list[float | None] = []
    without: list[str] = []
    disagree = 0
    source = ",".join(files or sorted(set(table["source"].dropna().astype(str))))
    for key, before in zip(
        keys, online["lumi_nb"] if "lumi_nb" in online else [None] * len(keys), strict=True
    ):
        if key is None:  # no run: nothing to match
            values.append(None)
            continue
        label = str(key[1]) if key[0] is None else f"e{key[0]} r{key[1]}"
        if seen[key] > 1:  # a run-only match of a run that the online side has twice
            problems.add(
                source,
                "-",
                f"run {key[1]} is in more than one experiment online; "
                "matched by run alone it gets no luminosity",
            )
            values.append(None)
            continue
        if key not in index:
            without.append(label)
            values.append(None)
            continue
        value = index[key]
        values.append(value)
        if value is not None and before is not None and not pd.isna(before):
            old = float(before)
            if not math.isclose(old, value, rel_tol=TOLERANCE, abs_tol=0.0):
                disagree += 1
                problems.add(
                    source,
                    "-",
                    f"run {label}: the online source says {fmt(old, 'lumi')}, the luminosity "
                    f"file {fmt(value, 'lumi')}; the file's value is used",
                )
    out = online.copy()
    out["lumi_nb"] = pd.array(values, dtype="Float64")
    online_keys = {k for k in keys if k is not None}
    info = {
        "files": files or [],
        "unit": lumi.unit,
        "tags": dict(lumi.tags),
        "matched_by": "run" if by_run else "experiment, run",
        "runs_with_lumi": int(out["lumi_nb"].notna().sum()),
        "runs_without_lumi": without,
        "file_runs_not_online": sum(1 for k in index if k not in online_keys),
        "disagreements": disagree,
    }
    if without:  # said, not skipped: these runs weigh nothing in the luminosity figures
        log.warning(
            "%d of %d runs have no luminosity in %s (first: %s); their lumi_nb is missing",
            len(without),
            len(keys),
            source or "the luminosity file",
            without[0],
        )
    frame = pd.DataFrame(problems.rows, columns=["source", "line", "reason", "text"])
    both = pd.concat([lumi.problems, frame.astype("string")], ignore_index=True)
    return LumiApplied(out, both, info)
