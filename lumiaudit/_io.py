"""Compatibility names for :mod:`lumiaudit.store` (the one writer and reader of outputs).

Older imports (``from lumiaudit._io import write_csv``) keep working; new code imports from
:mod:`lumiaudit.store`.
"""

from __future__ import annotations

from lumiaudit.store.atomic import write_text, write_with
from lumiaudit.store.config import read_config_text
from lumiaudit.store.tables import write_csv

__all__ = ["read_config_text", "write_csv", "write_text", "write_with"]
