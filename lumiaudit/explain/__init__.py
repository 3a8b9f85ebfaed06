"""Cause attribution per run, the accounting funnel, and the evidence of one run in plain words.

For every run, the evidence (unreadable files, index gaps, missing HLT units, error-flagged
events, duplicates, elog entries and conflicts, path markers) is turned into *causes*, each
with the number of events it accounts for: exact when a count says so (the DAQ catalogue, the
entries minus the error-free events, a gap's ``est_events``), otherwise an estimate (the run's
median events per readable file) with a plausible range (0 to the largest readable file of
the production: raw files roll over at a fixed size). A run is *explained* when its difference
lies in the summed range of its causes, widened by the floors; else an off-by-one, an elog
typo pattern or another elog entry may explain it; what remains is ``unexplained``.
See docs/statistics.md for every code.
"""

from __future__ import annotations

from lumiaudit.explain._common import FUNNEL_BUCKETS, Cause, typo_pattern
from lumiaudit.explain.attribute import explain_runs
from lumiaudit.explain.funnel import funnel
from lumiaudit.explain.text import explain_run

__all__ = [
    "FUNNEL_BUCKETS",
    "Cause",
    "explain_run",
    "explain_runs",
    "funnel",
    "typo_pattern",
]
