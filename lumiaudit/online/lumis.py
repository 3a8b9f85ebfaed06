"""Online per-lumisection tables: one row per (run, LS) with its events (CMS).

Column names come from the profile's ``[lumis] online_column`` and the mapping's ``[table]``
``run`` / ``events``. :func:`read_online_split` separates such tables from the other online
inputs: a run's online count is the sum of its LS (:mod:`lumiaudit.lumis` compares the LS).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit import schema
from lumiaudit.errors import ConfigError, ParameterError

__all__ = ["read_online_lumis", "read_online_split"]

log = logging.getLogger(__name__)


def _n(value: Any) -> int:
    """An int from a key known to be present (pandas types it loosely)."""
    return int(value)


def _header(path: Path) -> list[str] | None:
    from lumiaudit.online.elog_export import sniff_delimiter
    from lumiaudit.online.values import norm_key

    try:
        with path.open("rb") as fh:
            first = fh.readline(65536).decode("utf-8", errors="replace")
    except OSError:
        return None
    return [norm_key(h.strip().strip('"')) for h in first.split(sniff_delimiter(first))]


def _column(header: Sequence[str], candidates: Iterable[str]) -> str | None:
    from lumiaudit.online.values import norm_key

    names = set(header)
    return next((norm_key(c) for c in candidates if norm_key(c) in names), None)


def read_online_lumis(path: str | os.PathLike[str], *, profile: Any, mapping: Any) -> pd.DataFrame:
    """Read an online per-lumisection table (CSV/TSV): one row per (run, LS).

    Returns
    -------
    DataFrame
        ``experiment`` (<NA> for a run-only key), ``run``, ``ls``, ``n_online``, ``source``,
        ``source_line``, ``problem``. A count that cannot be read is <NA> with its problem.

    Raises
    ------
    ConfigError
        No run, LS or events column, or the same (run, LS) twice (named with both lines).
    """
    from lumiaudit.online.entries import Problems
    from lumiaudit.online.table import read_rows
    from lumiaudit.online.values import parse_count, parse_run

    source = Path(path)
    fields = mapping.table
    text = source.read_text(encoding="utf-8", errors="replace")
    header = _header(source) or []
    cols = {
        "run": _column(header, fields.run),
        "ls": _column(header, profile.lumis.online_column),
        "events": _column(header, fields.events),
    }
    for what, col in cols.items():
        if col is None:
            msg = f"online per-lumisection table: no {what} column"
            raise ConfigError(
                msg,
                path=source,
                line=1,
                hint=f"columns: {', '.join(header)}",
            )
    problems = Problems()
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[int, int], int] = {}
    for line, attrs in read_rows(text, str(source), problems):
        run, why = parse_run(attrs.get(str(cols["run"])))
        ls, ls_why = parse_run(attrs.get(str(cols["ls"])))
        if run is None or ls is None:
            problems.add(str(source), line, f"run or LS unreadable ({why or ls_why}); row skipped")
            continue
        if (run, ls) in seen:
            msg = f"run {run} LS {ls} twice (first on line {seen[(run, ls)]})"
            raise ConfigError(
                msg,
                path=source,
                line=line,
                hint="one row per (run, ls)",
            )
        seen[(run, ls)] = line
        n, n_why = parse_count(attrs.get(str(cols["events"])))
        rows.append(
            {
                "run": run,
                "ls": ls,
                "n_online": n,
                "source": str(source),
                "source_line": str(line),
                "problem": None if n is not None else f"events {n_why}",
            }
        )
    for p in problems.rows:
        log.warning("%s:%s: %s", p["source"], p["line"], p["reason"])
    frame = pd.DataFrame(
        rows, columns=["run", "ls", "n_online", "source", "source_line", "problem"]
    )
    frame.insert(0, "experiment", pd.Series(pd.NA, index=frame.index, dtype="Int64"))
    return frame.astype(
        {
            "run": "Int64",
            "ls": "Int64",
            "n_online": "Int64",
            "source": "string",
            "source_line": "string",
            "problem": "string",
        }
    )


def _is_lumi_table(path: Path, profile: Any, mapping: Any) -> bool:
    if not path.is_file():
        return False
    header = _header(path)
    if not header:
        return False
    return (
        _column(header, profile.lumis.online_column) is not None
        and _column(header, mapping.table.run) is not None
    )


def _per_run(online_ls: pd.DataFrame) -> pd.DataFrame:
    """The ``ONLINE`` table from per-LS rows: a run's count is the sum of its LS (<NA> if any
    LS count is missing: the total is then unknown)."""
    rows = []
    for run, g in online_ls.groupby("run", sort=True):
        lines = g["source_line"].astype(str).tolist()
        total = None if g["n_online"].isna().any() else int(g["n_online"].sum())
        rows.append(
            {
                "experiment": pd.NA,
                "run": _n(run),
                "n_online": total,
                "source": str(g["source"].iloc[0]),
                "source_line": f"{lines[0]}-{lines[-1]}" if len(lines) > 1 else lines[0],
            }
        )
    return (
        schema.enforce(pd.DataFrame(rows), schema.ONLINE) if rows else schema.empty(schema.ONLINE)
    )


def read_online_split(
    paths: Sequence[str],
    *,
    profile: Any,
    format: str | None,
    mapping: Any,
    policy: str,
    strict: bool,
) -> tuple[Any, pd.DataFrame | None]:
    """Read the online inputs; per-LS tables by :func:`read_online_lumis`, others as usual.

    Returns
    -------
    (OnlineResult, DataFrame or None)
        The per-run online result (per-LS tables summed per run) and the per-LS rows (None
        when no input is a per-LS table).

    Raises
    ------
    ParameterError
        A run both in a per-LS table and in another online source (which count is right is
        not for lumiaudit to guess here).
    """
    from lumiaudit.online import OnlineResult, read_online

    maps = mapping if mapping is not None else profile.mapping()
    if not hasattr(maps, "table"):
        from lumiaudit.online.mapping import load_mapping

        maps = load_mapping(maps)
    for p in paths:
        if Path(p).is_dir():
            inside = [f for f in sorted(Path(p).rglob("*")) if _is_lumi_table(f, profile, maps)]
            if inside:  # read_online would take each LS row for an entry of its run
                msg = "a directory of online sources holds a per-lumisection table"
                raise ParameterError(
                    msg,
                    path=inside[0],
                    hint="give the per-lumisection table as its own --online file",
                )
    lumi_paths = [p for p in paths if _is_lumi_table(Path(p), profile, maps)]
    others = [p for p in paths if p not in lumi_paths]
    if not lumi_paths:
        return read_online(others, format=format, mapping=maps, policy=policy, strict=strict), None
    online_ls = pd.concat(
        [read_online_lumis(p, profile=profile, mapping=maps) for p in lumi_paths],
        ignore_index=True,
    )
    table = _per_run(online_ls)
    n_ls = online_ls.groupby("run")["ls"].count()
    # the columns and dtypes of every online_entries table (lumiaudit.schema), so a stored
    # audit gives them back as they were
    entries = schema.enforce(
        table.assign(
            entry_id=[f"{n_ls[r]} LS" for r in table["run"]],
            entry_type="lumisections",
            count_text=[f"sum of {n_ls[r]} LS" for r in table["run"]],
            chosen=True,
        ),
        schema.ONLINE_ENTRIES,
    )
    problems = [
        {"source": r.source, "line": r.source_line, "reason": f"LS {r.ls}: {r.problem}", "text": ""}
        for r in online_ls.itertuples()
        if isinstance(r.problem, str)
    ]
    prob = (
        schema.enforce(pd.DataFrame(problems), schema.PROBLEMS)
        if problems
        else schema.empty(schema.PROBLEMS)
    )
    result = OnlineResult(
        table=table,
        entries=entries,
        conflicts=schema.empty(schema.CONFLICTS),
        problems=prob,
        formats={str(p): "lumis" for p in lumi_paths},
    )
    if others:
        rest = read_online(others, format=format, mapping=maps, policy=policy, strict=strict)
        both = set(rest.table["run"].dropna().astype(int)) & set(table["run"].astype(int))
        if both:
            msg = (
                f"runs {sorted(both)[:5]} are in a per-lumisection table and in another "
                "online source"
            )
            raise ParameterError(
                msg,
                hint="give one online count per run",
            )
        result = OnlineResult(
            table=pd.concat([rest.table, table], ignore_index=True),
            entries=pd.concat([rest.entries, entries], ignore_index=True),
            conflicts=rest.conflicts,
            problems=pd.concat([rest.problems, prob], ignore_index=True),
            daq_files=rest.daq_files,
            formats={**rest.formats, **result.formats},
            snapshots=rest.snapshots,
        )
    return result, online_ls
