"""What the 3 a.m. reader needs first: is tonight fine, which runs need a person, why, how much.

Pure: DataFrames and the summary in, plain data out (:mod:`lumiaudit.render.html` turns it into
HTML). Issue 16: the verdict line (of the audit, and of the pages opened from a ticket: one run,
:func:`run_verdict`, and the production's files, :func:`files_verdict`), the flagged runs once
(severity first, the reason in words, the amounts, the file or source to look at), the input
problems named by file, line and run, and what changed since last night.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import pandas as pd

from lumiaudit.numbers import fmt, is_missing

__all__ = [
    "REASON_WORDS",
    "Verdict",
    "files_verdict",
    "flagged_runs",
    "input_problems",
    "reason_words",
    "run_verdict",
    "verdict",
]

#: reason code -> what it means, in words (codes: :class:`lumiaudit.schema.Reason`)
REASON_WORDS: dict[str, str] = {
    "unreadable_file": "a file cannot be read",
    "file_index_gap": "a file is missing from an HLT unit's sequence",
    "missing_hlt_unit": "an HLT unit has no file offline",
    "duplicate_file": "a file is there twice",
    "error_flag_events": "error-flagged events",
    "metadata_mismatch": "FileMetaData disagrees with the tree",
    "off_by_one": "off by one event",
    "elog_typo": "a typo in the elog count",
    "elog_conflict": "elog entries disagree",
    "non_physics": "not a physics run",
    "bad_run_marker": "marked bad by production",
    "multi_run_file": "a file holds several runs",
    "no_offline_files": "no offline file",
    "no_online_entry": "no online entry",
    "no_online_count": "no online count",
    "online_count_unreadable": "the online count cannot be read",
    "aborted_run": "aborted run (0 events)",
    "processing_loss": "events lost in processing (files shorter than their raw files)",
    "unlisted_file": "a file the DAQ catalogue does not list",
    "daq_catalogue_incomplete": "the DAQ catalogue lost a file's row",
    "source_disagreement": "online sources disagree",
    "several_productions": "several productions of the run",
    "outlier": "a statistical outlier",
    "unexplained": "unexplained difference",
    "missing_lumisection": "lumisections missing offline",
    "short_lumisection": "lumisections short offline",
    "duplicate_events": "the same event twice",
}

#: funnel buckets that are not losses: the events that are there, and runs not compared
_NOT_LOST = frozenset({"matched", "non_physics"})

#: what each reason points at: the run's bad files, its gaps, its online entry
_FILE_REASONS = frozenset(
    {"unreadable_file", "duplicate_file", "metadata_mismatch", "multi_run_file", "unlisted_file"}
)
_GAP_REASONS = frozenset({"file_index_gap", "missing_hlt_unit"})
_ONLINE_REASONS = frozenset(
    {
        "elog_typo",
        "elog_conflict",
        "online_count_unreadable",
        "no_online_count",
        "no_online_entry",
        "source_disagreement",
        "daq_catalogue_incomplete",
    }
)

_DEFINITION = {"full": "error-free", "entries": "entries"}
#: the offline count a run's online count follows, in words
_COUNT_WORDS = {"full": "error-free events", "entries": "tree entries"}


def reason_words(reasons: object, reason_events: object = None) -> str:
    """The reasons of a run in words, each with its events (``a file cannot be read: 252``).

    >>> reason_words("unreadable_file;outlier", "unreadable_file=252")
    'a file cannot be read (252 events); a statistical outlier'
    """
    from lumiaudit.render.tickets import reason_amounts

    parts = []
    for code, amount in reason_amounts(reasons, reason_events):
        text = REASON_WORDS.get(code, code.replace("_", " "))
        if amount:
            text += f" ({_events(abs(_float(amount)))})" if _float(amount) else ""
        parts.append(text)
    return "; ".join(parts) if parts else "no reason recorded"


def _events(n: float) -> str:
    """``1 event``, ``252 events``."""
    return f"{fmt(n)} event{'' if n == 1 else 's'}"


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Verdict:
    """The one line that answers "is tonight fine?".

    Attributes
    ----------
    level
        ``ok`` (nothing flagged), ``warn`` (flagged runs, none failing) or ``fail``.
    text
        The sentence.
    numbers
        The headline numbers it is made of (also glued as scrapbook scraps).
    """

    level: str
    text: str
    numbers: dict[str, Any]


def _int(value: Any) -> int | None:
    if is_missing(value):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def headline_numbers(
    summary: Mapping[str, Any], runs: pd.DataFrame, funnel: pd.DataFrame
) -> dict[str, Any]:
    """Runs audited and flagged, events online/offline/lost, luminosity affected.

    ``events_offline`` is the offline count the online one follows (error-free events or tree
    entries, ``summary["follows"]``); ``events_lost`` the online events of audited runs that
    are not matched offline (every funnel bucket but ``matched`` and ``non_physics``);
    ``lumi_affected_nb`` is missing (``None``) when no luminosity is known.
    ``events_online_audited`` counts the audited runs only (what the losses are a share of);
    ``events_online`` every run's, non-physics ones included.
    """
    totals = summary.get("totals") or {}
    status = runs["status"].astype("string") if "status" in runs.columns else pd.Series([])
    audited = int((status != "NOT_AUDITED").fillna(True).sum()) if len(runs) else 0
    flagged = runs["flagged"].fillna(False).astype(bool) if "flagged" in runs.columns else None
    severity = (
        runs["severity"].astype("string")
        if "severity" in runs.columns
        else pd.Series(pd.NA, index=runs.index, dtype="string")
    )
    n_flagged = int(flagged.sum()) if flagged is not None else _int(totals.get("runs_flagged"))
    fails = int(((severity == "fail") & flagged).fillna(False).sum()) if flagged is not None else 0
    follows = summary.get("follows") or "full"
    offline_key = "n_offline_full" if follows == "full" else "n_offline"
    lost = None
    if {"bucket", "events"} <= set(funnel.columns):
        losses = funnel[~funnel["bucket"].astype("string").isin(_NOT_LOST).fillna(False)]
        lost = _int(pd.to_numeric(losses["events"], errors="coerce").sum())
    # the audited runs' online events (the funnel's top bar): non-physics runs are not audited
    # and their events are not what the losses are a share of
    online_audited = _int(totals.get("n_online"))
    if len(runs) and {"n_online", "status"} <= set(runs.columns):
        mask = (status != "NOT_AUDITED").fillna(True).astype(bool)
        n_on = pd.to_numeric(runs["n_online"], errors="coerce")[mask]
        online_audited = _int(n_on.sum()) if n_on.notna().any() else None
    lumi = (summary.get("stats") or {}).get("lumi") or {}
    affected = lumi.get("affected_nb")
    waived = int(runs["waived"].fillna(False).astype(bool).sum()) if "waived" in runs else 0
    return {
        "runs": _int(totals.get("runs")) if totals.get("runs") is not None else len(runs),
        "runs_audited": audited,
        "runs_flagged": n_flagged,
        "runs_failing": fails,
        "runs_waived": waived,
        "events_online": _int(totals.get("n_online")),
        "events_online_audited": online_audited,
        "events_offline": _int(totals.get(offline_key)),
        "offline_count": _DEFINITION.get(str(follows), str(follows)),
        "events_lost": lost,
        "lumi_recorded_nb": None if is_missing(lumi.get("recorded_nb")) else lumi["recorded_nb"],
        "lumi_affected_nb": None if affected is None or is_missing(affected) else float(affected),
    }


def verdict(summary: Mapping[str, Any], runs: pd.DataFrame, funnel: pd.DataFrame) -> Verdict:
    """The verdict line of an audit.

    >>> import pandas as pd
    >>> runs = pd.DataFrame({"status": ["OK", "OK"], "flagged": [False, False]})
    >>> verdict({"totals": {"runs": 2, "n_online": 10231}}, runs, pd.DataFrame()).text
    'Fine: 2 runs audited, none flagged; 10,231 events online.'
    """
    n = headline_numbers(summary, runs, funnel)
    audited = n["runs_audited"]
    online = fmt(n["events_online_audited"])
    if not n["runs_flagged"]:
        waived = f" ({n['runs_waived']} waived)" if n["runs_waived"] else ""
        text = f"Fine: {audited} runs audited, none flagged{waived}; {online} events online."
        return Verdict("ok", text, n)
    warn = n["runs_flagged"] - n["runs_failing"]
    split = [
        f"{n['runs_failing']} fail" if n["runs_failing"] else "",
        f"{warn} warn" if warn else "",
    ]
    text = (
        f"{n['runs_flagged']} of {audited} audited runs need a person "
        f"({', '.join(s for s in split if s)})"
    )
    if n["events_lost"] is not None:
        text += f": {fmt(n['events_lost'])} of {online} audited online events not matched offline"
    if n["lumi_affected_nb"] is not None:
        text += f", {fmt(n['lumi_affected_nb'], 'lumi')}"
        if n["lumi_recorded_nb"] is not None:
            text += f" of {fmt(n['lumi_recorded_nb'], 'lumi')}"
        text += " affected"
    return Verdict("fail" if n["runs_failing"] else "warn", text + ".", n)


def _run_name(experiment: Any, run: Any) -> str:
    """``run 105 (e12)``, or ``run 381150`` for a run-only key."""
    name = f"run {fmt(run, 'run')}"
    return name if is_missing(experiment) else f"{name} (e{fmt(experiment, 'run')})"


def run_verdict(runs: pd.DataFrame, run: int, experiment: int | None = None) -> Verdict:
    """The first line of one run's page: which run, whether it is fine, how many events, why.

    The level is the run's own (``severity`` of a flagged run, ``ok`` otherwise, a waived run
    says so); the amounts are the run's difference against the offline count the online one
    follows, named; the reasons are in words with their events (:func:`reason_words`).

    >>> import pandas as pd
    >>> runs = pd.DataFrame({"experiment": [12], "run": [105], "status": ["DEFICIT"],
    ...     "flagged": [True], "severity": ["warn"], "n_online": [1601], "n_offline_def": [1349],
    ...     "diff": [252], "follows": ["full"], "reasons": ["unreadable_file"],
    ...     "reason_events": ["unreadable_file=252"]})
    >>> run_verdict(runs, 105).text
    'run 105 (e12): WARN - 252 events missing offline: a file cannot be read (252 events)'
    >>> run_verdict(runs, 7).text
    'run 7: not in this audit (1 run: 105)'
    """
    rows = _rows(runs, experiment, run)
    if len(rows) == 0:
        given = pd.to_numeric(runs["run"], errors="coerce") if "run" in runs else pd.Series([])
        known = sorted({int(r) for r in given.dropna()})
        span = (
            f"{fmt(known[0], 'run')}-{fmt(known[-1], 'run')}"
            if len(known) > 1
            else ", ".join(fmt(r, "run") for r in known)
        )
        many = f"{fmt(len(known))} run{'s' if len(known) != 1 else ''}"
        return Verdict(
            "fail", f"{_run_name(experiment, run)}: not in this audit ({many}: {span})", {}
        )
    row: dict[str, Any] = {str(k): v for k, v in rows.iloc[0].items()}
    name = _run_name(row.get("experiment"), row.get("run"))
    status = "" if is_missing(row.get("status")) else str(row.get("status"))
    flagged = not is_missing(row.get("flagged")) and bool(row.get("flagged"))
    waived = not is_missing(row.get("waived")) and bool(row.get("waived"))
    severity = "" if is_missing(row.get("severity")) else str(row.get("severity"))
    level = (severity if severity in {"fail", "warn"} else "warn") if flagged else "ok"
    word = level.upper() if flagged else "fine"
    if waived:
        level, word = "ok", "waived"
    if status == "NOT_AUDITED":
        word = "not audited"
    online: Any = row.get("n_online")
    offline: Any = row.get("n_offline_def")
    diff: Any = row.get("diff")
    definition = row.get("follows") if isinstance(row.get("follows"), str) else "full"
    if is_missing(offline):
        offline = row.get("n_offline_full" if definition == "full" else "n_offline")
    count = _COUNT_WORDS.get(str(definition), str(definition))
    if status == "NOT_AUDITED":
        amount = ""
    elif is_missing(online) and is_missing(offline):
        amount = "no online and no offline count"
    elif is_missing(offline):
        amount = f"{fmt(online)} events online, no offline count"
    elif is_missing(online):
        amount = f"{fmt(offline)} events offline ({count}), no online count"
    elif is_missing(diff) or float(diff) == 0:
        amount = f"online {fmt(online)} = offline {fmt(offline)} ({count})"
    elif float(diff) > 0:
        amount = f"{_events(float(diff))} missing offline"
    else:
        amount = f"{_events(-float(diff))} more offline than online"
    why = ""
    if not is_missing(row.get("reasons")) and str(row.get("reasons")).strip():
        why = reason_words(row.get("reasons"), row.get("reason_events"))
    text = f"{name}: {word} - " + ": ".join(p for p in (amount, why) if p)
    numbers = {"online": online, "offline": offline, "offline_count": count, "diff": diff}
    return Verdict(level, text, numbers)


def files_verdict(files: pd.DataFrame, gaps: pd.DataFrame | None = None) -> Verdict:
    """The first line of the file-health page: how many files, and what is wrong with them.

    ``warn`` when files cannot be read or are missing from their sequence (events lost),
    ``ok`` otherwise (duplicates are counted once, mismatches by their tree entries, and are
    named), ``fail`` when there is no offline file at all.

    >>> import pandas as pd
    >>> files = pd.DataFrame({"status": ["ok"] * 408 + ["truncated", "not_root", "zero_bytes",
    ...                                                 "duplicate"]})
    >>> files_verdict(files).text
    'file health: 3 of 412 files unreadable, 1 duplicate'
    >>> files_verdict(files.head(3)).text
    'file health: all 3 files readable, no duplicate, no gap in the file sequences'
    """
    from lumiaudit.schema import UNREADABLE_STATUSES, FileStatus

    n = len(files)
    if n == 0 or "status" not in files.columns:
        return Verdict("fail", "file health: no offline file in this audit", {"files": 0})
    status = files["status"].astype("string")
    unreadable = int(status.isin(UNREADABLE_STATUSES).fillna(False).sum())
    duplicate = int((status == FileStatus.DUPLICATE.value).fillna(False).sum())
    mismatch = int((status == FileStatus.METADATA_MISMATCH.value).fillna(False).sum())
    empty = int((status == FileStatus.EMPTY.value).fillna(False).sum())
    n_gaps = 0 if gaps is None else len(gaps)

    def some(k: int, one: str, many: str) -> str:
        return f"{fmt(k)} {one if k == 1 else many}"

    parts = []
    if unreadable:
        parts.append(f"{fmt(unreadable)} of {fmt(n)} files unreadable")
    if n_gaps:
        parts.append(some(n_gaps, "missing from its sequence", "missing from their sequences"))
    if duplicate:
        parts.append(some(duplicate, "duplicate", "duplicates"))
    if mismatch:
        parts.append(some(mismatch, "FileMetaData mismatch", "FileMetaData mismatches"))
    if empty:
        parts.append(some(empty, "empty file", "empty files"))
    if not unreadable:
        parts.insert(0, f"all {fmt(n)} files readable")
        if not duplicate and not n_gaps:
            parts.append("no duplicate, no gap in the file sequences")
    level = "warn" if unreadable or n_gaps else "ok"
    numbers = {"files": n, "unreadable": unreadable, "duplicate": duplicate, "gaps": n_gaps}
    return Verdict(level, "file health: " + ", ".join(parts), numbers)


def _rows(frame: pd.DataFrame | None, experiment: Any, run: Any) -> pd.DataFrame:
    if frame is None or len(frame) == 0 or "run" not in frame.columns:
        return pd.DataFrame()
    keep = pd.to_numeric(frame["run"], errors="coerce") == run
    if "experiment" in frame.columns and not is_missing(experiment):
        keep &= pd.to_numeric(frame["experiment"], errors="coerce") == experiment
    out: pd.DataFrame = frame[keep.fillna(False).astype(bool)]
    return out


def input_paths(summary: Mapping[str, Any], side: str) -> list[Any]:
    """The paths of one side's inputs (``online`` or ``offline``) as ``summary["inputs"]``
    records them: a record's ``path``, or the item itself."""
    items = (summary.get("inputs") or {}).get(side) or []
    return [item.get("path") if isinstance(item, Mapping) else item for item in items]


def input_roots(summary: Mapping[str, Any]) -> list[PurePath]:
    """The audit's input directories and files (``summary["inputs"]``), longest first."""
    roots = [
        PurePath(path)
        for side in ("online", "offline")
        for path in input_paths(summary, side)
        if isinstance(path, str) and "://" not in path
    ]
    return sorted(roots, key=lambda r: len(r.parts), reverse=True)


def short_path(path: object, roots: list[PurePath]) -> str:
    """``path`` relative to the input it lies in, that input's name first (``prod/r00105/...``).

    >>> short_path("/data/prod/r00105/f.root", [PurePath("/data/prod")])
    'prod/r00105/f.root'
    """
    text = str(path)
    pure = PurePath(text)
    for root in roots:
        if pure != root and pure.is_relative_to(root):
            return str(PurePath(root.name) / pure.relative_to(root))
    return text


def _offline_inputs(summary: Mapping[str, Any]) -> list[str]:
    """The offline inputs by name (``prod``), URLs as given: where a missing run was looked for."""
    return [
        path if "://" in path else PurePath(path).name or path
        for path in input_paths(summary, "offline")
        if isinstance(path, str) and path
    ]


def _where(
    tables: Mapping[str, pd.DataFrame],
    row: Mapping[str, Any],
    roots: list[PurePath],
    searched: Sequence[str] = (),
) -> list[str]:
    """The files or online sources to look at for one flagged run."""
    out = []
    for found in _where_paths(tables, row, searched):
        text = found
        for root in roots:  # paths inside an input: from the input's name on
            text = text.replace(f"{root}/", f"{root.name}/")
        out.append(text)
    return out


def _where_paths(
    tables: Mapping[str, pd.DataFrame], row: Mapping[str, Any], searched: Sequence[str] = ()
) -> list[str]:
    exp, run = row.get("experiment"), row.get("run")
    codes = set(str(row.get("reasons") or "").split(";")) - {""}
    out: list[str] = []
    files = _rows(tables.get("files"), exp, run)
    if codes & _FILE_REASONS and len(files) and "status" in files.columns:
        bad = files[~files["status"].astype("string").isin(["ok"]).fillna(False)]
        for _, f in bad.head(3).iterrows():
            out.append(f"{f.get('path')} ({f.get('status')})")
    gaps = _rows(tables.get("gaps"), exp, run)
    if codes & _GAP_REASONS and len(gaps):
        for _, g in gaps.head(3).iterrows():
            unit = "HLT?" if is_missing(g.get("hlt_unit")) else f"HLT{fmt(g.get('hlt_unit'), 'id')}"
            index = g.get("file_index")
            what = "whole unit" if index is None or is_missing(index) else f"f{int(index):05d}"
            out.append(f"missing {unit} {what}")
        if len(files) and "path" in files.columns:
            out.append(f"in {PurePath(str(files['path'].iloc[0])).parent}")
    entries = _rows(tables.get("online_entries"), exp, run)
    if (codes & _ONLINE_REASONS or codes <= {"unexplained", "outlier"}) and len(entries):
        chosen = entries
        if "chosen" in entries.columns:
            picked = entries[
                entries["chosen"].astype("string").str.lower().eq("true").fillna(False)
            ]
            chosen = picked if len(picked) else entries
        for _, e in chosen.head(2).iterrows():
            line = e.get("source_line")
            out.append(f"{e.get('source')}" + ("" if is_missing(line) else f", {line}"))
    if "no_offline_files" in codes:
        under = f" under {', '.join(searched)}" if searched else ""
        out.append(f"offline: no file of this run{under}")
    if codes <= {"unexplained", "outlier"} and len(files) and "path" in files.columns:
        out.append(f"{PurePath(str(files['path'].iloc[0])).parent} ({len(files)} files)")
    return out or ["the run's evidence: lumiaudit explain"]


def flagged_runs(tables: Mapping[str, pd.DataFrame], summary: Mapping[str, Any]) -> pd.DataFrame:
    """The flagged runs, once: severity first, the reason in words, the amounts, where to look.

    Returns
    -------
    DataFrame
        ``severity, experiment, run, status, why, online, offline, diff, lumi_affected_nb,
        look_at`` (``offline`` is the count the online one follows, named by
        ``offline_count``), failing runs first, then by events at stake. Numbers keep their
        types: the HTML formats them with :func:`lumiaudit.numbers.fmt`.
    """
    runs = tables.get("runs")
    columns = [
        "severity",
        "experiment",
        "run",
        "status",
        "why",
        "online",
        "offline",
        "offline_count",
        "diff",
        "lumi_affected_nb",
        "waived",
        "look_at",
    ]
    if runs is None or "flagged" not in runs.columns:
        return pd.DataFrame(columns=columns)
    flagged = runs[runs["flagged"].fillna(False).astype(bool)]
    follows = str(summary.get("follows") or "full")
    roots = input_roots(summary)
    searched = _offline_inputs(summary)
    rows = []
    for _, r in flagged.iterrows():
        row: dict[str, Any] = {str(k): v for k, v in r.items()}
        row_follows = row.get("follows") if isinstance(row.get("follows"), str) else follows
        offline = row.get("n_offline_def")
        if is_missing(offline):
            offline = row.get("n_offline_full" if row_follows == "full" else "n_offline")
        rows.append(
            {
                "severity": row.get("severity") if isinstance(row.get("severity"), str) else "warn",
                "experiment": row.get("experiment"),
                "run": row.get("run"),
                "status": row.get("status"),
                "why": reason_words(row.get("reasons"), row.get("reason_events")),
                "online": row.get("n_online"),
                "offline": offline,
                "offline_count": _DEFINITION.get(str(row_follows), str(row_follows)),
                "diff": row.get("diff"),
                "lumi_affected_nb": row.get("lumi_affected_nb"),
                "waived": bool(row.get("waived")) if not is_missing(row.get("waived")) else False,
                "look_at": _where(tables, row, roots, searched),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    if len(out):
        stake = pd.to_numeric(out["diff"], errors="coerce").abs()
        online = pd.to_numeric(out["online"], errors="coerce")
        out = (
            out.assign(_s=(out["severity"] != "fail").astype(int), _e=stake.fillna(online))
            .sort_values(["_s", "_e"], ascending=[True, False], na_position="last")
            .drop(columns=["_s", "_e"])
            .reset_index(drop=True)
        )
    return out


_RUN_IN_TEXT = re.compile(r"\brun (\d+)\b")


def input_problems(problems: pd.DataFrame | None, roots: Sequence[PurePath] = ()) -> pd.DataFrame:
    """The input problems as ``file, line, run, problem`` (run read from the message).

    A problem is a value that could not be read (left empty) or a line that was skipped; the
    reader's message names the entry and usually the run (``MID 2: run 102: ...``). A file
    inside one of the audit's inputs (``roots``, :func:`input_roots`) is named from that
    input on (``elog/210301a.log``), as in the flagged runs' "look at".
    """
    columns = ["file", "line", "run", "problem"]
    if problems is None or len(problems) == 0:
        return pd.DataFrame(columns=columns)
    rows = []
    for _, p in problems.iterrows():
        reason = "" if is_missing(p.get("reason")) else str(p.get("reason"))
        match = _RUN_IN_TEXT.search(reason)
        rows.append(
            {
                "file": p.get("source")
                if is_missing(p.get("source"))
                else short_path(p.get("source"), list(roots)),
                "line": p.get("line"),
                "run": int(match.group(1)) if match else None,
                "problem": reason,
            }
        )
    return pd.DataFrame(rows, columns=columns)
