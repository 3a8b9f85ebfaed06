"""lumiaudit's storage layer: the only code that writes or reads an output directory.

* :mod:`~lumiaudit.store.atomic`: the one atomic file writer (text, bytes, file names);
* :mod:`~lumiaudit.store.outdir`: the ``.lumiaudit`` marker, :func:`check_output` and the
  transactional directory replace (an output is swapped in complete or not at all);
* :mod:`~lumiaudit.store.tables`: the one CSV writer and reader (one timestamp format,
  formula-safe text, dtypes restored from ``tables.json``);
* :mod:`~lumiaudit.store.audit_dir`: the audit directory (tables, summary, run lists, plots);
* :mod:`~lumiaudit.store.runlists`: run lists and ``GoodRuns/BadRuns/UglyRuns`` views;
* :mod:`~lumiaudit.store.config`: reading small configuration files.

Names are loaded on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "atomic_path": "lumiaudit.store.atomic",
    "write_bytes": "lumiaudit.store.atomic",
    "write_text": "lumiaudit.store.atomic",
    "write_with": "lumiaudit.store.atomic",
    "MARKER": "lumiaudit.store.outdir",
    "build_dir": "lumiaudit.store.outdir",
    "check_output": "lumiaudit.store.outdir",
    "check_output_file": "lumiaudit.store.outdir",
    "read_marker": "lumiaudit.store.outdir",
    "write_marker": "lumiaudit.store.outdir",
    "read_csv_table": "lumiaudit.store.tables",
    "write_csv": "lumiaudit.store.tables",
    "read_summary": "lumiaudit.store.audit_dir",
    "read_tables": "lumiaudit.store.audit_dir",
    "write_audit": "lumiaudit.store.audit_dir",
    "symlink_view": "lumiaudit.store.runlists",
    "write_runlists": "lumiaudit.store.runlists",
    "read_config_text": "lumiaudit.store.config",
}

__all__ = sorted(_LAZY)  # noqa: PLE0605 - names are strings, computed from _LAZY


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'lumiaudit.store' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
