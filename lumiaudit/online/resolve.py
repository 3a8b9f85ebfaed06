"""Several entries for one (experiment, run): pick one by policy, keep every conflict.

Policies: ``latest`` (default; by entry date, then message id, then reading order: a reply or a
later correction wins; an entry without a usable date, e.g. one whose date was out of range and
left empty, counts as older than every dated entry), ``first``, ``max``, ``error`` (any
disagreement is fatal). Only entries that carry a count compete; an entry with an empty count (a
Problem report) never blanks or overrides a count. Counts are never summed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lumiaudit.errors import ElogParseError, ParameterError
from lumiaudit.online.entries import Problems

__all__ = ["POLICIES", "resolve"]

POLICIES = ("latest", "first", "max", "error")
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_FILLED = ("run_type", "lumi_nb", "start_time", "stop_time", "experiment")


def _order(entry: dict[str, Any]) -> tuple[datetime, int, int]:
    eid = str(entry["entry_id"])
    return (entry["entry_date"] or _EPOCH, int(eid) if eid.isdigit() else -1, entry["seq"])


def _where(entry: dict[str, Any]) -> str:
    return f"{entry['source']}:{entry['source_line']}"


def _copies(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """One item per distinct entry with its number of further copies.

    The same logbook entry read from several files (day files and exports) has the same id,
    date and count: it is one value of a conflict, not several.
    """
    seen: dict[tuple[Any, ...], list[Any]] = {}
    for e in entries:
        key = (e["entry_id"], e["entry_date"], e["n_online"])
        if key in seen:
            seen[key][1] += 1
        else:
            seen[key] = [e, 0]
    return [(e, n) for e, n in seen.values()]


def resolve(
    entries: list[dict[str, Any]], *, policy: str, problems: Problems
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Choose one entry per (experiment, run) and list the conflicts.

    Sets ``entry["chosen"]`` on every entry.

    Parameters
    ----------
    entries
        Interpreted entry rows (see :func:`~lumiaudit.online.entries.interpret`).
    policy
        One of :data:`POLICIES`.
    problems
        Collector: a run whose entries carry no count gets a problem row saying why.

    Returns
    -------
    tuple
        ``(rows, conflicts)``: one online-table row per run (in run order) and the
        ``schema.CONFLICTS`` rows.

    Raises
    ------
    ParameterError
        Unknown policy.
    ElogParseError
        ``policy="error"`` and some run has disagreeing counts.
    """
    if policy not in POLICIES:
        msg = f"unknown policy {policy!r}"
        raise ParameterError(msg, hint=f"use one of {', '.join(POLICIES)}")
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for entry in entries:
        entry["chosen"] = False
        groups.setdefault((entry["experiment"], entry["run"]), []).append(entry)
    rows: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    for key in sorted(groups, key=lambda k: (k[0] is None, k[0] or 0, k[1])):
        group = sorted(groups[key], key=_order)
        counted = [e for e in group if e["n_online"] is not None]
        if not counted:
            chosen = group[-1]
        if not counted and not all(e.get("reported") for e in group):
            reasons = "; ".join(
                dict.fromkeys(f"{e['source_line']}: {e['problem'] or 'no count'}" for e in group)
            )
            problems.add(
                chosen["source"],
                chosen["line"],
                f"exp {key[0]} run {key[1]}: no event count in any entry ({reasons}); "
                "n_online left empty",
                chosen["count_text"] or "",
            )
        if counted:
            if policy == "first":
                chosen = counted[0]
            elif policy == "max":
                chosen = max(reversed(counted), key=lambda e: e["n_online"])
            else:
                chosen = counted[-1]
            if len({e["n_online"] for e in counted}) > 1:
                distinct = _copies(counted)
                conflicts.append(
                    {
                        "experiment": key[0],
                        "run": key[1],
                        "values": ";".join(str(e["n_online"]) for e, _ in distinct),
                        "sources": ";".join(
                            _where(e) + (f" (+{n} copies)" if n else "") for e, n in distinct
                        ),
                        "chosen": chosen["n_online"],
                        "policy": policy,
                    }
                )
        chosen["chosen"] = True
        row = {
            k: chosen[k]
            for k in (
                "experiment",
                "run",
                "run_type",
                "n_online",
                "lumi_nb",
                "start_time",
                "stop_time",
                "source",
                "source_line",
            )
        }
        for name in _FILLED:
            if row[name] is None:
                for other in reversed(group):
                    if other[name] is not None:
                        row[name] = other[name]
                        break
        rows.append(row)
    if policy == "error" and conflicts:
        first = conflicts[0]
        more = f" (and {len(conflicts) - 1} more runs)" if len(conflicts) > 1 else ""
        msg = (
            f"exp {first['experiment']} run {first['run']}: conflicting counts "
            f"{first['values']} at {first['sources']}{more}"
        )
        raise ElogParseError(
            msg,
            hint="policy 'error'; use --policy latest/first/max to pick one",
        )
    return rows, conflicts
