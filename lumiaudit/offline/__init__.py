"""Offline counting: discover ROOT files, count and check each, aggregate per run."""

from __future__ import annotations

from lumiaudit.offline.count import FileRecord, count_file

__all__ = ["FileRecord", "count_file"]


def __dir__() -> list[str]:
    return __all__
