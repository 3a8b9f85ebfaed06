"""What a profile changes in the per-file records: the meaning of "full", unassigned entries.

Pure functions over :class:`~lumiaudit.offline.count.FileRecord` lists, applied by
:func:`lumiaudit.offline.count_events` after counting (and after the cache, which keeps the
records as read).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from lumiaudit.offline.count import FileRecord

__all__ = ["apply_full", "unassigned"]

logger = logging.getLogger(__name__)


def apply_full(records: Sequence[FileRecord], full: str) -> list[FileRecord]:
    """Apply a profile's definition of full events to the records.

    ``error_flag`` keeps what was read (FileMetaData ``nFullEvents`` or counted
    ``m_errorFlag == 0``). ``entries`` declares that the format has no error flag and every
    stored event is a full one (NanoAOD), so ``n_full`` is the entries. ``none`` leaves
    ``n_full`` missing: nobody can say.

    Examples
    --------
    >>> rec = FileRecord(path="a.root", status="ok", n_entries=5,
    ...                  contributions=((None, 1, 5, None),))
    >>> apply_full([rec], "entries")[0].contributions
    ((None, 1, 5, 5),)
    """
    if full == "error_flag":
        return list(records)
    out = []
    for rec in records:
        entries = full == "entries"
        contributions = tuple((e, r, n, n if entries else None) for e, r, n, _ in rec.contributions)
        n_full = rec.n_entries if entries else None
        out.append(dataclasses.replace(rec, n_full=n_full, contributions=contributions))
    return out


def unassigned(
    records: Sequence[FileRecord], *, run_branch: str, tree: str
) -> list[dict[str, Any]]:
    """Readable files whose entries (some or all) belong to no run, with the reason.

    A file's entries are assigned to runs by its run branch (per event), its FileMetaData run
    range or its name; whatever is left is listed here, never dropped silently.

    Returns
    -------
    list of dict
        ``path``, ``events`` (entries not in any run) and ``reason``.
    """
    out: list[dict[str, Any]] = []
    for rec in records:
        if not rec.readable or not rec.n_entries:
            continue
        assigned = sum(n for _, _, n, _ in rec.contributions)
        left = rec.n_entries - assigned
        if left <= 0:
            continue
        if rec.mode == "fast":
            why = "no run in the file name (fast mode reads no run branch; use --mode auto or deep)"
        elif run_branch:
            why = f"no run in the file name and no branch {run_branch!r} read in tree {tree!r}"
        else:
            why = "no run in the file name and the profile names no run branch"
        out.append({"path": rec.path, "events": left, "reason": why})
    warn_unassigned(out)
    return out


def warn_unassigned(out: Sequence[dict[str, Any]]) -> None:
    """Log the warning about entries no run was assigned to (nothing when there are none)."""
    if out:
        logger.warning(
            "%d events in %d file%s not assigned to any run: %s",
            sum(r["events"] for r in out),
            len(out),
            "s" * (len(out) != 1),
            f"{out[0]['path']}: {out[0]['reason']}" + (" (and more)" if len(out) > 1 else ""),
        )
