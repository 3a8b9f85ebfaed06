"""Is an existing file a lumiaudit output? The rule for replacing single output files.

lumiaudit replaces only what it created. Output directories carry a ``.lumiaudit`` marker
(:mod:`lumiaudit.store.outdir`); a single output file (``-o``, ``--junit``, ``--runs`` ...)
has no room for one, so it is recognised by what lumiaudit writes into it:

* ``csv``: the header line is the header of one of lumiaudit's tables (the canonical columns
  of :mod:`lumiaudit.schema`, in order, possibly followed by more, or the run-list CSV);
* ``junit``: a ``<testsuites name="lumiaudit"`` root;
* ``runlist``: a GRL XML with lumiaudit's comment, a basf2 IoV file with lumiaudit's header
  comment, lumiaudit's run-list JSON records, or a golden JSON in exactly lumiaudit's layout
  (the format has no room for a signature; a CMS golden JSON in the same layout is
  indistinguishable and is replaced too);
* ``ticket``: a Markdown/Jira ticket heading with lumiaudit named in its context line.

Only the first :data:`HEAD_BYTES` bytes are read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

__all__ = ["FILE_KINDS", "HEAD_BYTES", "recognise"]

#: bytes of an existing file read to recognise it
HEAD_BYTES = 65536

#: runs of ``lumiaudit runlist --from AUDIT --format csv/json``
_RUNLIST_COLUMNS = ["experiment", "run", "category", "status", "reasons"]
#: the runs table of ``lumiaudit count --runs`` (lumiaudit.offline.runs.runs_table; flag
#: columns may follow)
_OFFLINE_RUNS = [
    "experiment",
    "run",
    "run_type",
    "n_offline",
    "n_offline_full",
    "n_files",
    "n_files_bad",
    "n_files_duplicate",
    "markers",
]
_RUNLIST_KEYS = (
    {"experiment", "run", "category", "status", "reasons"},
    {"experiment", "run"},
    {"experiment", "run", "ls"},
)
#: keys a record of :func:`lumiaudit.store.runlists.run_records` may carry besides the first set
_RECORD_EXTRA = {"n_online", "n_offline", "diff", "unexplained_diff", "severity"}


def _record_keys(keys: set[str]) -> bool:
    base = _RUNLIST_KEYS[0]
    return keys in _RUNLIST_KEYS or (base <= keys and keys - base <= _RECORD_EXTRA)


_GOLDEN_LINE = re.compile(r'^[{ ]"\d+": \[\[\d+, \d+\](?:, \[\d+, \d+\])*\][,}]$')


def _csv(head: str) -> bool:
    from lumiaudit import schema

    first = head.split("\n", 1)[0].rstrip("\r")
    columns = first.split(",")
    tables = [t.names for t in vars(schema).values() if isinstance(t, schema.Table)]
    tables.append(_OFFLINE_RUNS)
    # per-lumisection tables (count --lumis, an audit's lumis.csv)
    from lumiaudit.lumis import _COLUMNS as AUDIT_LUMIS
    from lumiaudit.offline.lumis import LUMI_COLUMNS

    tables += [list(LUMI_COLUMNS), list(AUDIT_LUMIS)]
    return columns == _RUNLIST_COLUMNS or any(columns[: len(t)] == t for t in tables if t)


def _junit(head: str) -> bool:
    return '<testsuites name="lumiaudit"' in head[:400]


def _runlist(head: str) -> bool:
    lines = head.split("\n")
    if lines[0].startswith("<?xml") and len(lines) > 1:
        return "written by lumiaudit" in lines[1]
    if lines[0].startswith("# basf2 intervals of validity: exp_low,run_low,exp_high,run_high"):
        return True
    complete = lines[:-1]  # the last line may be cut at HEAD_BYTES (or is empty)
    if head.startswith("{"):  # golden JSON: only lumiaudit's exact layout, one run a line
        return bool(complete) and all(_GOLDEN_LINE.match(line) for line in complete)
    if head.startswith("["):
        try:
            doc = json.loads(head)
        except ValueError:  # cut at HEAD_BYTES: lumiaudit's two layouts, by their start
            return head.startswith(('[\n {\n  "experiment": ', '[\n{"experiment": '))
        return isinstance(doc, list) and all(
            isinstance(r, dict) and _record_keys(set(r)) for r in doc
        )
    return _csv(head) and head.split("\n", 1)[0] == ",".join(_RUNLIST_COLUMNS)


def _ticket(head: str) -> bool:
    first = head.split("\n", 1)[0]
    return first.startswith(("### ", "h3. ")) and "lumiaudit " in head


#: kind of output file -> recogniser of its text
FILE_KINDS: dict[str, Callable[[str], bool]] = {
    "csv": _csv,
    "junit": _junit,
    "runlist": _runlist,
    "ticket": _ticket,
}


def recognise(head: bytes, kind: str | None = None) -> bool:
    """Whether ``head`` (the start of a file) is a lumiaudit output of ``kind`` (any if None).

    Examples
    --------
    >>> recognise(b'<?xml version="1.0"?>\\n<testsuites name="lumiaudit" tests="1">', "junit")
    True
    >>> recognise(b"\\\\documentclass{article}\\n")
    False
    """
    text = head.decode("utf-8", errors="replace")
    if kind is not None:
        return FILE_KINDS[kind](text)
    return any(check(text) for check in FILE_KINDS.values())
