"""The CMS NanoAOD-like test production: now :mod:`lumiaudit.example_cms` (it also makes the
bundled ``data/example-cms``); re-exported here for the tests."""

from __future__ import annotations

from lumiaudit.example_cms import (
    FILES,
    GOLDEN,
    ONLINE,
    SHORT,
    NanoProduction,
    write_events_file,
    write_nano_production,
)

__all__ = [
    "FILES",
    "GOLDEN",
    "ONLINE",
    "SHORT",
    "NanoProduction",
    "write_events_file",
    "write_nano_production",
]
