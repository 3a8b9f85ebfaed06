"""A run list used as a mask: which runs an audit keeps, and what to do with lumisection ranges.

lumiaudit counts events per run, not per lumisection. A mask whose runs have only some of
their lumisections (a CMS golden JSON certifying LS 1-3 and 7-9 of a run) cannot be applied
as it says. Never silently wrong: by default such a mask is refused with a one-line error
naming the runs (``partial_ls="refuse"``); with ``partial_ls="whole-runs"`` it is applied at
run level, and the runs whose LS ranges were not applied are logged as a warning and recorded
in the audit's ``summary.json`` (``mask.ls_not_applied``) and on stderr by the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from os import PathLike
from typing import Final

import pandas as pd

from lumiaudit.errors import ConfigError, ParameterError
from lumiaudit.runsets import RunLumiSet

__all__ = ["PARTIAL_LS", "check_lumis", "mask_keys"]

log = logging.getLogger(__name__)

#: What to do with a mask whose runs have lumisection ranges.
PARTIAL_LS: Final = ("refuse", "whole-runs")

#: Runs named in messages (all of them are in summary.json).
SHOWN: Final = 5


def check_lumis(
    runs: RunLumiSet, *, partial_ls: str = "refuse", source: str | PathLike[str] | None = None
) -> list[str]:
    """Apply the lumisection policy to a mask.

    Parameters
    ----------
    runs
        The mask.
    partial_ls
        ``refuse`` (default): a run with only some lumisections is an error; ``whole-runs``:
        such runs are kept whole and returned (and logged as a warning).
    source
        The mask's file, for messages.

    Returns
    -------
    list of str
        The runs whose LS ranges are not applied (``e12 r101 [LS 1-3,7-9]``), empty when every
        run of the mask is whole.

    Raises
    ------
    ConfigError
        With ``refuse``, when a run has lumisection ranges.
    ParameterError
        For an unknown ``partial_ls``.
    """
    from lumiaudit.runlist_io import iter_partial

    if partial_ls not in PARTIAL_LS:
        msg = f"partial_ls: {partial_ls!r} is not one of {', '.join(PARTIAL_LS)}"
        raise ParameterError(msg)
    partial = list(iter_partial(runs))
    if not partial:
        return []
    shown = ", ".join(partial[:SHOWN]) + (
        f" and {len(partial) - SHOWN} more" if partial[SHOWN:] else ""
    )
    if partial_ls == "refuse":
        msg = (
            f"the mask certifies only some lumisections of {len(partial)} run"
            f"{'s' * (len(partial) != 1)} ({shown}); lumiaudit counts whole runs"
        )
        raise ConfigError(
            msg,
            path=source,
            hint="pass --mask-ls whole-runs (mask_ls='whole-runs') to audit them whole; "
            "it is recorded in summary.json",
        )
    log.warning(
        "mask%s: LS ranges not applied, %d run%s audited whole: %s",
        f" {source}" if source is not None else "",
        len(partial),
        "s" * (len(partial) != 1),
        shown,
    )
    return partial


def mask_keys(runs: RunLumiSet, frames: Iterable[pd.DataFrame | None]) -> pd.DataFrame:
    """The ``(experiment, run)`` keys of ``frames`` that the mask selects, as a mask frame.

    The mask is tested against the runs that are there, so an open-ended basf2 IoV
    (``12,100,12,-1``) works without listing its runs. A mask without experiment numbers
    (golden JSON, GRL) matches a run of any experiment; a row whose experiment is unknown
    matches a run of any experiment in the mask.
    """
    has_none = runs.kinds()[0]
    listed = [f for f in frames if f is not None and len(f) and "run" in f.columns]
    pairs: list[tuple[int | None, int]] = []
    for frame in listed:
        exps = frame["experiment"] if "experiment" in frame.columns else [pd.NA] * len(frame)
        pairs.extend(
            (None if pd.isna(e) else int(e), int(r))
            for e, r in zip(exps, frame["run"], strict=True)
            if not pd.isna(r)
        )
    known = sorted({e for e, _ in pairs if e is not None})
    keys: set[tuple[int | None, int]] = set()
    for exp, run in pairs:
        if exp is not None:
            if runs.contains(exp, run) or (has_none and runs.contains(None, run)):
                keys.add((exp, run))
        elif (has_none and runs.contains(None, run)) or any(runs.contains(e, run) for e in known):
            keys.add((exp, run))
    rows = sorted(keys, key=lambda k: (-1 if k[0] is None else k[0], k[1]))
    frame = pd.DataFrame(rows, columns=["experiment", "run"])
    return frame.astype({"experiment": "Int64", "run": "Int64"})
