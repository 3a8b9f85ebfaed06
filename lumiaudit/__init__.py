"""lumiaudit: audit online against offline event counts per run.

Nothing heavy is imported here: ``import lumiaudit`` and ``lumiaudit --version`` stay fast.
The public functions are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from lumiaudit._version import __version__

#: public name -> module that defines it
_LAZY = {
    "Audit": "lumiaudit.pipeline",
    "audit": "lumiaudit.pipeline",
    "read_online": "lumiaudit.online",
    "count_events": "lumiaudit.offline",
    "compare": "lumiaudit.reconcile.compare",
    "flag_outliers": "lumiaudit.reconcile.stats",
    "explain_runs": "lumiaudit.reconcile",
    "run_report": "lumiaudit.report",
    "LumiauditError": "lumiaudit.errors",
    "Profile": "lumiaudit.profiles",
    "load_profile": "lumiaudit.profiles",
}

__all__ = [  # noqa: PLE0604 - names are strings, computed from _LAZY
    "__version__",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'lumiaudit' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
