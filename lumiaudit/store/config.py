"""Reading small configuration files (run lists, waivers, nightly configuration)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from lumiaudit.errors import ConfigError, InputNotFoundError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_config_text", "read_waivers"]


def read_config_text(path: str | os.PathLike[str], *, what: str, hint: str) -> str:
    """Read a small UTF-8 configuration file (run list, waivers, nightly config).

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for messages (``"run list"``, ``"waivers file"``, ...).
    hint
        The formats expected, for messages (``"expected TOML or CSV"``).

    Raises
    ------
    InputNotFoundError
        If the file does not exist.
    ConfigError
        If it cannot be read or is not UTF-8 text (the message names the byte).
    """
    source = Path(path)
    if not source.is_file():
        msg = f"{what} not found"
        raise InputNotFoundError(msg, path=source)
    try:
        return source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"not a text {what} (byte {exc.start} is not UTF-8)"
        raise ConfigError(msg, path=source, hint=hint) from None
    except OSError as exc:
        msg = f"cannot read the {what}: {exc.strerror}"
        raise ConfigError(msg, path=source) from None


def read_waivers(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a waivers file (TOML or CSV, by extension; otherwise TOML is tried first).

    Parameters
    ----------
    path
        The file (format: :mod:`lumiaudit.waivers`).

    Returns
    -------
    DataFrame
        :data:`lumiaudit.waivers.WAIVER_COLUMNS` (``experiment`` <NA> = any, ``reason`` ``*`` =
        any, ``expiry`` a :class:`datetime.date` or None = never).

    Raises
    ------
    InputNotFoundError
        The file does not exist.
    ConfigError
        It cannot be read, or a record is invalid (the message names file and line or entry).
    """
    from lumiaudit.waivers import parse_waivers

    text = read_config_text(path, what="waivers file", hint="expected TOML or CSV")
    return parse_waivers(text, Path(path))
