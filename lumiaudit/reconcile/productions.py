"""Several productions of one run side by side: never summed, the chosen one audited.

An older release and a reprocessing of the same run live under different
``release-XX-YY-ZZ/DBnnnnnnnn/<procNN|bucketN>/`` paths (the KEKCC layout of DOMAIN.md). Their
files have the same raw stems, so the counting stage keeps the first copy of each stem and
calls the other one a duplicate: the run's sum then mixes the productions. :func:`by_production`
groups each run's files by production (the path components and, where the files table has it,
the ``release`` basf2 wrote into FileMetaData, ``m_release``), audits the chosen one (the newest
release, then DB, then processing number, by default; ``production=`` to choose) and reports all
of them. Two releases under one path are two productions (a reprocessing written over the old
directory tree), never summed; a file whose release is missing is grouped by its path alone.

Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lumiaudit.numbers import fmt
from lumiaudit.schema import READABLE_STATUSES, FileStatus

__all__ = ["Productions", "by_production", "production_of", "without_skims"]

log = logging.getLogger(__name__)

_PART = re.compile(r"^(release-\d+(?:-\d+)*|DB\d+|proc\d+\w*|bucket\d+\w*|prompt\w*)$", re.I)
_READABLE = READABLE_STATUSES


def production_of(path: object, release: object = None) -> str | None:
    """The production of a file: ``release-08-00-00/DB00002000/proc15`` from its path, and
    ``@release`` when FileMetaData names a release the path does not.

    Parameters
    ----------
    path
        The file's path or URL.
    release
        FileMetaData ``m_release`` (basf2's release or light-release name); missing or empty:
        the path alone decides.

    Examples
    --------
    >>> production_of("/p/release-08-00-00/DB00002000/proc15/e0014/4S/r00201/all/mdst/x.root")
    'release-08-00-00/DB00002000/proc15'
    >>> production_of("/data/r00201/x.root") is None
    True
    >>> production_of("/p/release-08-00-00/DB00002000/proc15/x.root", "release-08-00-00")
    'release-08-00-00/DB00002000/proc15'
    >>> production_of("/p/release-08-00-00/DB00002000/proc15/x.root", "release-08-01-02")
    'release-08-00-00/DB00002000/proc15@release-08-01-02'
    >>> production_of("/grid/mdst_000123_prod00012345_task10020000123.root", "light-2203-zeus")
    '@light-2203-zeus'
    """
    if not isinstance(path, str):
        return None
    parts = [p for p in re.split(r"[/\\]", path) if _PART.match(p)]
    where = "/".join(parts)
    rel = release.strip() if isinstance(release, str) else ""
    if rel and rel not in parts:
        return f"{where}@{rel}"
    return where or None


def without_skims(files: pd.DataFrame | None, contributions: pd.DataFrame | None) -> Any:
    """``files`` without the skim files whose events do not count.

    Skims (``skim/NAME/``, a ``skim:NAME`` marker) are subsets of ``all/`` with the same
    stems (DOMAIN.md): only ``all`` is comparable with the DAQ counts. A skim file is no
    evidence of its run (no raw file it is short of, no file median, no production of its
    own, no copy of the ``all/`` file) unless the count includes skims
    (``include_skims``: then it is among the ``contributions``).

    Examples
    --------
    >>> f = pd.DataFrame({"path": ["a/all/x.root", "a/skim/hadron/x.root"],
    ...                   "markers": ["", "skim:hadron"]})
    >>> without_skims(f, pd.DataFrame({"path": ["a/all/x.root"]}))["path"].tolist()
    ['a/all/x.root']
    """
    if files is None or len(files) == 0 or "markers" not in files:
        return files
    skim = files["markers"].astype("string").str.contains(r"(?:^|;)skim:", na=False)
    if not skim.any():
        return files
    counted: set[str] = set()
    if contributions is not None and len(contributions) and "path" in contributions:
        counted = set(contributions["path"].astype(str))
    keep = ~skim | files["path"].astype(str).isin(counted)
    log.debug("%d skim file(s) are no evidence (not counted)", int((~keep).sum()))
    return files[keep.to_numpy(dtype=bool)]


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)) or (0,)


def _order(prod: str) -> tuple[tuple[int, ...], ...]:
    """Sort key: release version (FileMetaData's, else the path's), DB number, processing
    number (larger = newer)."""
    where, _, release = prod.partition("@")
    parts = [p for p in where.split("/") if p]
    path_release = next((p for p in parts if p.lower().startswith("release-")), "")
    rest = [_numbers(p) for p in parts if p != path_release]
    return (_numbers(release or path_release), *rest)


@dataclass(frozen=True)
class Productions:
    """Result of :func:`by_production`.

    Attributes
    ----------
    offline_runs
        Per-run counts of the chosen production where a run has several (else unchanged).
    files, contributions
        The evidence of the chosen production only (for the attribution): the other
        productions' files are left out, and a file called a duplicate only because the other
        production has the same stem counts again.
    notes
        ``experiment, run, productions, chosen``: runs with several productions, each listed
        with its events (``release-08/DB2/proc15: 2,416 (chosen)``).
    """

    offline_runs: pd.DataFrame
    files: pd.DataFrame | None
    contributions: pd.DataFrame | None
    notes: pd.DataFrame


def by_production(
    files: pd.DataFrame | None,
    contributions: pd.DataFrame | None,
    offline_runs: pd.DataFrame,
    *,
    production: str | None = None,
) -> Productions:
    """Audit one production per run; report the others.

    Parameters
    ----------
    files, contributions, offline_runs
        The counting stage's tables (``files`` needs ``path``, ``run``, ``status``, and
        ``duplicate_of`` to recount cross-production duplicates; ``release``, FileMetaData's
        ``m_release``, where known).
    production
        A production to audit where a run has it (a path fragment such as ``proc15`` or
        ``release-08-00-00``); default: the newest of each run.

    Returns
    -------
    Productions
    """
    none = Productions(offline_runs, files, contributions, pd.DataFrame(columns=_NOTE_COLS))
    if files is None or len(files) == 0 or "path" not in files:
        return none
    f = files.copy()
    releases = f["release"] if "release" in f else pd.Series(pd.NA, index=f.index)
    f["_prod"] = [production_of(p, r) for p, r in zip(f["path"], releases, strict=True)]
    if f["_prod"].dropna().nunique() < 2:
        return none
    c = contributions.copy() if contributions is not None else pd.DataFrame()
    prod_of = dict(zip(f["path"], f["_prod"], strict=True))
    if len(c):
        c["_prod"] = [prod_of.get(p) for p in c["path"]]
    keyed = f[f["run"].notna()]
    multi: dict[tuple[Any, Any], list[str]] = {}
    for (exp, run), g in keyed.groupby(["experiment", "run"], dropna=False):
        prods = sorted({p for p in g["_prod"] if isinstance(p, str)}, key=_order)
        if len(prods) > 1:
            multi[(exp, run)] = prods
    if not multi:
        return none

    off = offline_runs.copy()
    drop_files: set[str] = set()
    revive: dict[str, tuple[Any, Any, Any, Any]] = {}
    notes = []
    for (exp, run), prods in multi.items():
        chosen = _choose(prods, production)
        in_run = keyed[(keyed["run"] == run) & _same(keyed["experiment"], exp)]
        events = {}
        for p in prods:
            sub = in_run[in_run["_prod"] == p]
            n = pd.to_numeric(sub["n_entries"], errors="coerce")
            dup_of = sub["duplicate_of"] if "duplicate_of" in sub else pd.Series(pd.NA, sub.index)
            # a duplicate only because the other production has the stem is this one's event
            cross = (sub["status"] == FileStatus.DUPLICATE.value) & pd.Series(
                [prod_of.get(d) != p for d in dup_of], index=sub.index, dtype=bool
            )
            events[p] = int(n[sub["status"].isin(list(_READABLE)) | cross].sum())
        drop_files |= set(in_run.loc[in_run["_prod"] != chosen, "path"])
        mine = in_run[in_run["_prod"] == chosen]
        for r in mine.to_dict("records"):
            dup = r.get("duplicate_of")
            if r.get("status") == FileStatus.DUPLICATE.value and prod_of.get(dup) != chosen:
                revive[str(r["path"])] = (exp, run, r.get("n_entries"), r.get("n_full"))
        text = "; ".join(
            f"{p}: {fmt(events[p])}{' (chosen)' if p == chosen else ''}" for p in reversed(prods)
        )
        notes.append({"experiment": exp, "run": run, "productions": text, "chosen": chosen})
        log.info("run %s: %d productions, auditing %s", run, len(prods), chosen)

    files_out = f[~f["path"].isin(drop_files)].copy()
    back = files_out["path"].isin(set(revive))
    files_out.loc[back, "status"] = FileStatus.OK.value
    files_out.loc[back, "duplicate_of"] = pd.NA
    files_out.loc[back, "error"] = pd.NA
    contrib_out = c[~c["path"].isin(drop_files)] if len(c) else c
    extra = pd.DataFrame(
        [
            {"path": p, "experiment": e, "run": r, "n_entries": n, "n_full": nf}
            for p, (e, r, n, nf) in revive.items()
        ]
    )
    if len(extra):
        contrib_out = pd.concat([contrib_out, extra], ignore_index=True)
    for (exp, run), _ in multi.items():
        sel = (off["run"] == run) & _same(off["experiment"], exp)
        fr = files_out[(files_out["run"] == run) & _same(files_out["experiment"], exp)]
        cr = contrib_out[(contrib_out["run"] == run) & _same(contrib_out["experiment"], exp)]
        ent = pd.to_numeric(cr["n_entries"], errors="coerce")
        full = pd.to_numeric(cr["n_full"], errors="coerce")
        off.loc[sel, "n_offline"] = int(ent.sum()) if len(cr) else pd.NA
        off.loc[sel, "n_offline_full"] = (
            int(full.sum()) if len(cr) and full.notna().all() else pd.NA
        )
        off.loc[sel, "n_files"] = len(fr)
        off.loc[sel, "n_files_bad"] = int((~fr["status"].isin(list(_READABLE))).sum())
    for col in ("n_offline", "n_offline_full", "n_files", "n_files_bad"):
        if col in off:
            off[col] = off[col].astype("Int64")
    note_frame = pd.DataFrame(notes, columns=_NOTE_COLS).astype(
        {"experiment": "Int64", "run": "Int64", "productions": "string", "chosen": "string"}
    )
    return Productions(
        off,
        files_out.drop(columns=["_prod"]),
        contrib_out.drop(columns=["_prod"], errors="ignore"),
        note_frame,
    )


_NOTE_COLS = ["experiment", "run", "productions", "chosen"]


def _same(series: pd.Series, value: Any) -> pd.Series:
    """``series == value`` where a missing experiment equals a missing experiment."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        missing: pd.Series = series.isna()
        return missing
    equal: pd.Series = (series == value).fillna(False)
    return equal


def _effective(prod: str) -> str:
    """The production as its files say: FileMetaData's release in place of the path's."""
    where, _, release = prod.partition("@")
    if not release:
        return where
    parts = [p for p in where.split("/") if p and not p.lower().startswith("release-")]
    return "/".join([release, *parts])


def _choose(prods: list[str], wanted: str | None) -> str:
    if wanted:
        hits = [p for p in prods if wanted in _effective(p)]
        if hits:
            return max(hits, key=_order)
    return max(prods, key=_order)
