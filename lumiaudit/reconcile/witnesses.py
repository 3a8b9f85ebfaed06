"""Several online sources as independent witnesses: which agree, which is the odd one out.

The elog (typed by shifters), the run database and the DAQ file catalogue (summed per run) are
independent records of one number. Choosing the latest entry lets one bad witness decide (a DAQ
catalogue that lost a file's row made a clean run an ``EXCESS``). :func:`vote_sources` compares,
per run, the value of each source with the others and with offline (a witness too), and:

* picks the value a majority of the online sources share (two against one), else the value of
  the only source offline agrees with (``source_disagreement``: one online witness is not two),
  else leaves the policy's choice;
* names the odd source and why (``typo``: a typing slip of :func:`lumiaudit.reconcile.typo_pattern`,
  ``daq_catalogue_incomplete``: the catalogue lacks files the production has, ``empty_count``,
  ``unreadable_count``, ``disagrees``) in :data:`SOURCE_DEFECTS` rows, for the people who keep
  the logbook or the catalogue;
* summarises per source how often it agreed with offline and with the others.

Pure: DataFrames in, DataFrames out. See docs/statistics.md section 10.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import pandas as pd

from lumiaudit import schema
from lumiaudit.numbers import fmt
from lumiaudit.reconcile._common import typo_pattern
from lumiaudit.reconcile.stats import Thresholds

__all__ = ["SOURCE_DEFECT_COLUMNS", "Vote", "source_kinds", "vote_sources"]

log = logging.getLogger(__name__)

#: Columns of ``source_defects.csv``: one row per (run, source) that disagrees with the others.
SOURCE_DEFECT_COLUMNS: dict[str, str] = schema.SOURCE_DEFECTS.dtypes  # declared in lumiaudit.schema

#: Format names of :func:`lumiaudit.online.read_online` -> witness.
_FORMAT_KIND = {
    "elog": "elog",
    "elog-csv": "elog",
    "elog-xml": "elog",
    "rundb": "rundb",
    "daq": "daq",
    "table": "table",
}


@dataclass(frozen=True)
class Vote:
    """Result of :func:`vote_sources`.

    Attributes
    ----------
    online
        The online table with ``n_online`` (and ``source``, ``source_line``) of the value the
        witnesses agree on where the vote decides.
    verdicts
        Per (experiment, run) with entries of at least two sources: ``sources``
        (``elog=10092;daq=9500``), ``source_verdict`` (in words), ``confirmed`` (two online
        sources and offline agree), ``disputed`` (no majority; offline broke the tie or nobody
        agrees).
    defects
        :data:`SOURCE_DEFECT_COLUMNS` rows.
    summary
        Per source: ``runs``, ``counts``, ``agree_offline``, ``agree_others``, ``compared``,
        ``defects`` (kind -> runs) and ``text``.
    """

    online: pd.DataFrame
    verdicts: pd.DataFrame
    defects: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def source_kinds(entries: pd.DataFrame, formats: Mapping[str, str] | None = None) -> pd.Series:
    """The witness of each entry: ``elog``, ``rundb``, ``daq`` or ``table``.

    From ``formats`` (input path -> format, as :attr:`lumiaudit.online.OnlineResult.formats`)
    when it names the entry's source, else from the entry itself (a ``kind`` column; DAQ run
    sums have ``entry_type`` "DAQ files"; run-database records carry ``quality`` or come from
    ``.json``); everything else is the elog.
    """
    out: list[str] = []
    fmts = {str(k): v for k, v in (formats or {}).items()}
    for e in entries.to_dict("records"):
        kind = e.get("kind")
        src = str(e.get("source"))
        if isinstance(kind, str) and kind:
            out.append(_FORMAT_KIND.get(kind, kind))
        elif src in fmts:
            out.append(_FORMAT_KIND.get(fmts[src], fmts[src]))
        elif e.get("entry_type") == "DAQ files":
            out.append("daq")
        elif isinstance(e.get("quality"), str) or PurePath(src).suffix.lower() == ".json":
            out.append("rundb")
        else:
            out.append("elog")
    return pd.Series(out, index=entries.index, dtype="string")


def _int(x: Any) -> int | None:
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return None
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _key(e: Any, r: Any) -> tuple[int | None, int]:
    return (_int(e), int(r))


@dataclass
class _Witness:
    kind: str
    value: int | None
    where: str
    text: str | None
    entry_id: str | None
    alt: int | None = None  # the DAQ error-free sum, when it has one


def _latest(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def order(e: dict[str, Any]) -> tuple[Any, ...]:
        d = e.get("entry_date")
        return (pd.Timestamp(d).value if d is not None and not pd.isna(d) else -(2**62),)

    return sorted(group, key=order)


def _witnesses(
    group: list[dict[str, Any]], daq_full: Mapping[tuple[int | None, int], int]
) -> list[_Witness]:
    """One witness per source kind: its latest entry with a count, else its latest entry."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for e in group:
        by_kind.setdefault(str(e["_kind"]), []).append(e)
    out = []
    for kind, unordered in sorted(by_kind.items()):
        rows = _latest(unordered)
        counted = [e for e in rows if _int(e.get("n_online")) is not None]
        chosen = [e for e in counted if str(e.get("chosen")) == "True"]
        e = chosen[-1] if chosen else (counted[-1] if counted else rows[-1])
        text = e.get("count_text")
        key = _key(e.get("experiment"), e.get("run"))
        out.append(
            _Witness(
                kind,
                _int(e.get("n_online")),
                f"{e.get('source')}:{e.get('source_line')}",
                text if isinstance(text, str) and text.strip() else None,
                None if pd.isna(e.get("entry_id")) else str(e.get("entry_id")),
                daq_full.get(key) if kind == "daq" else None,
            )
        )
    return out


def _near(a: int | None, b: int | None, th: Thresholds) -> bool:
    return a is not None and b is not None and abs(a - b) <= th.abs_floor


def _agrees(w: _Witness, values: tuple[int | None, ...], th: Thresholds) -> bool:
    return any(_near(v, x, th) for v in (w.value, w.alt) for x in values)


def vote_sources(
    online: pd.DataFrame,
    entries: pd.DataFrame | None,
    offline_runs: pd.DataFrame | None,
    *,
    daq_files: pd.DataFrame | None = None,
    files: pd.DataFrame | None = None,
    formats: Mapping[str, str] | None = None,
    thresholds: Thresholds | None = None,
) -> Vote:
    """Let the online sources vote per run, with offline as a further witness.

    Parameters
    ----------
    online
        ``schema.ONLINE`` table (the policy's choice per run).
    entries
        Every online entry (:attr:`lumiaudit.online.OnlineResult.entries`).
    offline_runs
        Per (experiment, run) ``n_offline``, ``n_offline_full``.
    daq_files, files
        DAQ catalogue rows and offline files: to tell a catalogue that lost a file's row.
    formats
        Input path -> format (:attr:`lumiaudit.online.OnlineResult.formats`).
    thresholds
        Two values agree when they differ by at most ``abs_floor`` events.

    Returns
    -------
    Vote
    """
    th = thresholds or Thresholds()
    defects_cols = list(SOURCE_DEFECT_COLUMNS)
    empty = Vote(
        online=online,
        verdicts=pd.DataFrame(columns=["experiment", "run", "sources", "source_verdict"]),
        defects=pd.DataFrame(columns=defects_cols).astype(SOURCE_DEFECT_COLUMNS),
    )
    if entries is None or len(entries) == 0 or "n_online" not in entries:
        return empty
    ent = entries.copy()
    ent["_kind"] = source_kinds(ent, formats)
    offline: dict[tuple[int | None, int], tuple[int | None, int | None]] = {}
    if offline_runs is not None and len(offline_runs):
        for r in offline_runs.to_dict("records"):
            if _int(r.get("run")) is not None:
                offline[_key(r.get("experiment"), r["run"])] = (
                    _int(r.get("n_offline_full")),
                    _int(r.get("n_offline")),
                )
    daq_full, daq_units = _daq_maps(daq_files)
    prod_units = _file_units(files)

    groups: dict[tuple[int | None, int], list[dict[str, Any]]] = {}
    for rec in ent.to_dict("records"):
        e = {str(k): v for k, v in rec.items()}
        if _int(e.get("run")) is not None:
            groups.setdefault(_key(e.get("experiment"), e["run"]), []).append(e)

    verdicts: list[dict[str, Any]] = []
    defects: list[dict[str, Any]] = []
    chosen_of: dict[tuple[int | None, int], list[_Witness]] = {}
    stats: dict[str, dict[str, Any]] = {}
    for key, group in groups.items():
        ws = _witnesses(group, daq_full)
        off = offline.get(key, (None, None))
        for w in ws:
            s = stats.setdefault(
                w.kind,
                {
                    "runs": 0,
                    "counts": 0,
                    "agree_offline": 0,
                    "with_offline": 0,
                    "compared": 0,
                    "defects": {},
                },
            )
            s["compared"] += len(ws) > 1
            s["runs"] += 1
            s["counts"] += w.value is not None
            if w.value is not None and any(v is not None for v in off):
                s["with_offline"] += 1
                s["agree_offline"] += _agrees(w, off, th)
        if len(ws) < 2:
            continue
        counted = [w for w in ws if w.value is not None]
        clusters: list[list[_Witness]] = []
        for w in counted:
            for c in clusters:
                if _agrees(w, (c[0].value, c[0].alt), th) or (
                    # one counts tree entries, the other error-free events: both are offline's
                    _agrees(w, off, th) and _agrees(c[0], off, th)
                ):
                    c.append(w)
                    break
            else:
                clusters.append([w])
        clusters.sort(key=len, reverse=True)
        majority = (
            clusters[0]
            if clusters and len(clusters[0]) >= 2 and (len(clusters) == 1 or len(clusters[1]) < 2)
            else None
        )
        off_side = [c for c in clusters if any(_agrees(w, off, th) for w in c)]
        verdict = ""
        winner: list[_Witness] | None = None
        confirmed = disputed = False
        if majority is not None:
            winner = majority
            confirmed = any(_agrees(w, off, th) for w in majority)
            verdict = f"{' and '.join(w.kind for w in majority)} agree" + (
                " with offline" if confirmed else " (offline differs)"
            )
        elif len(off_side) == 1 and len(clusters) > 1:
            winner, disputed = off_side[0], True
            verdict = f"no majority; offline agrees with {off_side[0][0].kind} only"
        elif len(clusters) > 1:
            disputed = True
            verdict = "no two sources agree"
        elif clusters:
            winner = clusters[0]
            verdict = f"{clusters[0][0].kind} is the only count"
        odd = [w for w in ws if w not in winner] if winner else []
        expected = winner[-1].value if winner else None
        for w in odd:
            kind, detail = _defect(w, expected, key, daq_units, prod_units)
            defects.append(
                {
                    "experiment": key[0],
                    "run": key[1],
                    "source": w.kind,
                    "value": w.value,
                    "expected": expected,
                    "kind": kind,
                    "detail": f"{w.where}: {detail}",
                }
            )
            d = stats[w.kind]["defects"]
            d[kind] = d.get(kind, 0) + 1
        if odd:
            verdict += "; odd: " + ", ".join(
                f"{w.kind} ({defects[-len(odd) + i]['kind']})" for i, w in enumerate(odd)
            )
        if winner is not None:
            chosen_of[key] = winner
        verdicts.append(
            {
                "experiment": key[0],
                "run": key[1],
                "sources": ";".join(f"{w.kind}={'' if w.value is None else w.value}" for w in ws),
                "source_verdict": verdict,
                "confirmed": confirmed and len(majority or []) >= 2,
                # two independent online witnesses give this value: it is no typo of one
                "corroborated": majority is not None,
                "disputed": disputed,
                "n_sources": len(ws),
            }
        )
    for w_kind, s in stats.items():
        s["agree_others"] = s["compared"] - sum(s["defects"].values())
        s["text"] = _sentence(w_kind, s)
    new_online = _apply(online, chosen_of)
    vt = pd.DataFrame(verdicts)
    if len(vt):
        vt = vt.astype(
            {
                "experiment": "Int64",
                "run": "Int64",
                "sources": "string",
                "source_verdict": "string",
                "confirmed": "boolean",
                "corroborated": "boolean",
                "disputed": "boolean",
                "n_sources": "Int64",
            }
        )
    dt = pd.DataFrame(defects, columns=defects_cols).astype(SOURCE_DEFECT_COLUMNS)
    if len(dt):
        log.info("%d source defects in %d runs", len(dt), dt["run"].nunique())
    return Vote(online=new_online, verdicts=vt, defects=dt, summary=stats)


def _sentence(kind: str, s: Mapping[str, Any]) -> str:
    """ "elog agreed with offline in 51 of 54 runs; 2 typo, 1 empty_count"."""
    parts = [f"{kind} agreed with offline in {s['agree_offline']} of {s['with_offline']} runs"]
    if s["defects"]:
        parts.append(", ".join(f"{n} {k}" for k, n in sorted(s["defects"].items())))
    else:
        parts.append("never the odd one out")
    return "; ".join(parts)


def _daq_maps(
    daq_files: pd.DataFrame | None,
) -> tuple[dict[tuple[int | None, int], int], dict[tuple[int | None, int], set[tuple[int, int]]]]:
    full: dict[tuple[int | None, int], int] = {}
    units: dict[tuple[int | None, int], set[tuple[int, int]]] = {}
    if daq_files is None or len(daq_files) == 0:
        return full, units
    for d in daq_files.to_dict("records"):
        if _int(d.get("run")) is None:
            continue
        key = _key(d.get("experiment"), d["run"])
        u, i = _int(d.get("hlt_unit")), _int(d.get("file_index"))
        if u is not None and i is not None:
            units.setdefault(key, set()).add((u, i))
        nf = _int(d.get("n_online_full"))
        if nf is None:
            full[key] = -(10**18)  # a missing per-file value: no error-free sum at all
        elif full.get(key, 0) >= 0:
            full[key] = full.get(key, 0) + nf
    return {k: v for k, v in full.items() if v >= 0}, units


def _file_units(files: pd.DataFrame | None) -> dict[tuple[int | None, int], set[tuple[int, int]]]:
    out: dict[tuple[int | None, int], set[tuple[int, int]]] = {}
    if files is None or len(files) == 0 or "hlt_unit" not in files:
        return out
    for f in files.to_dict("records"):
        if _int(f.get("run")) is None or f.get("status") == "duplicate":
            continue
        u, i = _int(f.get("hlt_unit")), _int(f.get("file_index"))
        if u is not None and i is not None:
            out.setdefault(_key(f.get("experiment"), f["run"]), set()).add((u, i))
    return out


def _defect(
    w: _Witness,
    expected: int | None,
    key: tuple[int | None, int],
    daq_units: Mapping[tuple[int | None, int], set[tuple[int, int]]],
    prod_units: Mapping[tuple[int | None, int], set[tuple[int, int]]],
) -> tuple[str, str]:
    """Why this source is the odd one out."""
    if w.value is None:
        if w.text:
            return "unreadable_count", f"typed {w.text!r}, not a count"
        return "empty_count", "no count given"
    if expected is None:
        return "disagrees", f"says {fmt(w.value)}"
    if w.kind == "daq" and w.value < expected:
        lacking = sorted(prod_units.get(key, set()) - daq_units.get(key, set()))
        if lacking:
            names = ", ".join(f"HLT{u} f{i:05d}" for u, i in lacking[:5])
            return (
                "daq_catalogue_incomplete",
                f"the catalogue lacks {len(lacking)} file(s) the production has ({names}); "
                f"sum {fmt(w.value)}, the others {fmt(expected)}",
            )
    pattern = typo_pattern(w.value, expected)
    if pattern:
        return "typo", f"{pattern}: typed {fmt(w.value)}, the others {fmt(expected)}"
    return "disagrees", f"says {fmt(w.value)}, the others {fmt(expected)}"


def _apply(
    online: pd.DataFrame,
    chosen_of: Mapping[tuple[int | None, int], list[_Witness]],
) -> pd.DataFrame:
    """The online table with the voted value where it differs from the policy's choice."""
    out = online.copy()
    if not chosen_of or len(out) == 0:
        return out
    for idx, row in zip(out.index, out.to_dict("records"), strict=True):
        if _int(row.get("run")) is None:
            continue
        winner = chosen_of.get(_key(row.get("experiment"), row["run"]))
        if not winner or _int(row.get("n_online")) in {v.value for v in winner}:
            continue  # the policy's choice is one of the agreeing witnesses: keep it
        w = winner[-1]
        if w.value is None:
            continue
        log.info("run %s: the witnesses agree on %d, not %s", row["run"], w.value, row["n_online"])
        out.loc[idx, "n_online"] = w.value
        src, _, line = w.where.rpartition(":")
        out.loc[idx, "source"] = src
        out.loc[idx, "source_line"] = line
    return out
