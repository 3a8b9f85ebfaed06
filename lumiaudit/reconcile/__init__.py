"""The pure middle of an audit: DataFrames in, DataFrames out, no file I/O.

Stages, in the order :func:`reconcile` runs them (docs/ARCHITECTURE.md draws them):

- :mod:`~lumiaudit.reconcile.productions`: group offline files by production, never sum two;
- :mod:`~lumiaudit.reconcile.witnesses`: the online sources vote, the odd one is a source defect;
- :mod:`~lumiaudit.reconcile.compare`: one row per run with online, offline, diff and ratio;
- :mod:`~lumiaudit.reconcile.stats`: robust baseline, exact-count flag rule, p- and q-values;
- :mod:`~lumiaudit.reconcile.evidence` and :mod:`~lumiaudit.reconcile.attribution`: causes
  with their event amounts;
- :mod:`~lumiaudit.reconcile.funnel`: the accounting funnel;
- :mod:`~lumiaudit.reconcile.verdict`: severity, flags and the :class:`Reconciliation`.
"""

from __future__ import annotations

from lumiaudit.reconcile._common import FUNNEL_BUCKETS, Cause, typo_pattern
from lumiaudit.reconcile.attribution import explain_runs
from lumiaudit.reconcile.verdict import (
    BENIGN_REASONS,
    DOUBT_REASONS,
    LOSS_REASONS,
    RUNS_COLUMNS,
    Reconciliation,
    reconcile,
)

__all__ = [
    "BENIGN_REASONS",
    "DOUBT_REASONS",
    "FUNNEL_BUCKETS",
    "LOSS_REASONS",
    "RUNS_COLUMNS",
    "Cause",
    "Reconciliation",
    "explain_runs",
    "reconcile",
    "typo_pattern",
]
