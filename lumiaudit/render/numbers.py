"""The one number formatter, re-exported where it lived first: :mod:`lumiaudit.numbers`.

The policy lives in :mod:`lumiaudit.numbers` (no dependency, importable from every layer,
``reconcile/`` included); this name stays so that code and notebooks importing
``lumiaudit.render.numbers`` keep working.
"""

from __future__ import annotations

from lumiaudit.numbers import KINDS, MISSING, Kind, fmt, is_missing

__all__ = ["KINDS", "MISSING", "Kind", "fmt", "is_missing"]
