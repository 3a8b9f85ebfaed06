"""The nightly configuration file: ``[nightly]`` (inputs, reports, cache) and ``[audit]`` options.

:func:`read_config` checks everything it can before :func:`lumiaudit.nightly.run_nightly`
creates a reports directory, a lock or a kernel: unknown tables and keys, types, and every
``[audit]`` option by its one declaration (:class:`lumiaudit.options.AuditOptions`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lumiaudit.errors import ConfigError
from lumiaudit.store.config import read_config_text

__all__ = ["NightlyConfig", "read_config"]

_NIGHTLY_KEYS = frozenset(
    {"online", "offline", "reports", "cache", "waivers", "notebook", "kernel", "html"}
)


@dataclass(frozen=True)
class NightlyConfig:
    """A nightly configuration (``[nightly]`` and ``[audit]`` tables of a TOML file).

    Attributes
    ----------
    online, offline
        Audit inputs (relative paths are relative to the configuration file).
    reports
        Directory of the dated report directories and the ``latest`` link.
    cache
        SQLite count cache (default ``<reports>/counts.sqlite``).
    waivers
        Waivers file (TOML or CSV) or ``None``.
    notebook
        Report template (default ``audit_overview``).
    kernel
        Jupyter kernel name or ``None`` (the notebook's).
    html
        Write the HTML page.
    audit
        Further notebook parameters / audit options (``mode``, ``jobs``, ``thresholds``, ...).
    path
        The configuration file (``None`` when built in code).
    """

    online: list[str]
    offline: list[str]
    reports: Path
    cache: Path | None = None
    waivers: Path | None = None
    notebook: str = "audit_overview"
    kernel: str | None = None
    html: bool = True
    audit: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def _paths(value: Any, base: Path, key: str, source: Path) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        msg = f"[nightly] {key} must be a path or a list of paths"
        raise ConfigError(msg, path=source)
    return [v if "://" in v else os.path.normpath(base / Path(v).expanduser()) for v in items]


def read_config(path: str | os.PathLike[str]) -> NightlyConfig:
    """Read a nightly configuration file.

    Parameters
    ----------
    path
        A TOML file with a ``[nightly]`` table (``online``, ``offline``, ``reports``, optional
        ``cache``, ``waivers``, ``notebook``, ``kernel``, ``html``) and an optional
        ``[audit]`` table of notebook parameters (``mode``, ``jobs``, ``experiment``,
        ``run_range``, ``[audit.thresholds]``, ...). Relative paths are relative to the file.

    Returns
    -------
    NightlyConfig

    Raises
    ------
    ConfigError
        If the file is missing, not TOML (the message gives the line) or has unknown or
        badly typed keys.
    """
    source = Path(path)
    text = read_config_text(source, what="configuration", hint="expected TOML")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"not valid TOML: {exc}"
        raise ConfigError(msg, path=source) from exc
    unknown_tables = set(data) - {"nightly", "audit"}
    if unknown_tables:
        msg = f"unknown table [{sorted(unknown_tables)[0]}]"
        raise ConfigError(
            msg,
            path=source,
            hint="expected [nightly] and [audit]",
        )
    night = data.get("nightly")
    if not isinstance(night, dict):
        msg = "missing [nightly] table"
        raise ConfigError(msg, path=source)
    unknown = set(night) - _NIGHTLY_KEYS
    if unknown:
        msg = f"unknown key {sorted(unknown)[0]!r} in [nightly]"
        raise ConfigError(
            msg,
            path=source,
            hint=f"known: {', '.join(sorted(_NIGHTLY_KEYS))}",
        )
    for key in ("online", "offline", "reports"):
        if key not in night:
            msg = f"[nightly] needs {key!r}"
            raise ConfigError(msg, path=source)
    base = source.parent.absolute()
    reports_list = _paths(night["reports"], base, "reports", source)
    if len(reports_list) != 1:
        msg = "[nightly] reports must be one directory"
        raise ConfigError(msg, path=source)
    reports = Path(reports_list[0])
    cache = night.get("cache")
    waivers = night.get("waivers")
    audit = data.get("audit", {})
    if not isinstance(audit, dict):
        msg = "[audit] must be a table"
        raise ConfigError(msg, path=source)
    if not isinstance(night.get("html", True), bool):
        msg = "[nightly] html must be true or false"
        raise ConfigError(msg, path=source)
    for key in ("notebook", "kernel"):
        if key in night and not isinstance(night[key], str):
            msg = f"[nightly] {key} must be a string"
            raise ConfigError(msg, path=source)
    if "cache" in audit:
        if cache is not None:
            msg = "cache is given in both [nightly] and [audit]"
            raise ConfigError(msg, path=source)
        cache = audit.pop("cache")
    # the audit options are checked here, by their one declaration (lumiaudit.options), so
    # a bad value is refused before a reports directory, a lock or a kernel exists; names
    # that are only notebook parameters (run, ...) are checked by validate_parameters
    from lumiaudit.options import AuditOptions

    names = AuditOptions.names()
    AuditOptions.from_mapping(
        {k: v for k, v in audit.items() if k in names}, source=source, base=base
    )
    return NightlyConfig(
        online=_paths(night["online"], base, "online", source),
        offline=_paths(night["offline"], base, "offline", source),
        reports=reports,
        cache=None if cache is None else Path(_paths(cache, base, "cache", source)[0]),
        waivers=None if waivers is None else Path(_paths(waivers, base, "waivers", source)[0]),
        notebook=night.get("notebook", "audit_overview"),
        kernel=night.get("kernel"),
        html=night.get("html", True),
        audit=_absolute(dict(audit), base),
        path=source,
    )


def _absolute(audit: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative path options of ``[audit]`` made relative to the configuration file."""
    for key in ("mask", "waivers"):
        if isinstance(audit.get(key), str):
            audit[key] = str(base / Path(audit[key]).expanduser())
    return audit
