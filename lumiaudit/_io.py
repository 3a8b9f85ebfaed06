"""Writing outputs safely: never half-written, never replacing what is not a regular file.

A new or regular file is written to a temporary name in the same directory and renamed into
place, so an interrupted write (kill, disk full) never leaves a truncated CSV behind. Anything
else at the target (a symlink such as ``/dev/stderr``, a device such as ``/dev/null``, a FIFO)
is written through in place and never replaced: renaming over ``/dev/null`` as root would
replace the device with a regular file.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from lumiaudit.errors import OutputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["write_csv", "write_text", "write_with"]


def write_with(path: str | os.PathLike[str], writer: Callable[[TextIO], None]) -> Path:
    """Call ``writer`` with a text handle on ``path``; see the module docstring.

    Raises
    ------
    OutputError
        If the file cannot be written (permissions, missing directory, disk full).
    """
    target = Path(path)
    try:
        if target.is_symlink() or (target.exists() and not stat.S_ISREG(target.lstat().st_mode)):
            with target.open("w", encoding="utf-8", newline="") as handle:
                writer(handle)
            return target
        directory = target.parent if str(target.parent) else Path()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                writer(handle)
            Path(tmp).chmod(0o644)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", path=target) from None
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` safely (see :func:`write_with`)."""

    def writer(handle: TextIO) -> None:
        handle.write(text)

    return write_with(path, writer)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str] | None) -> Path | None:
    """Write a table as CSV, missing values as empty cells, to ``path`` or stdout (None, ``-``)."""
    if path is None or str(path) == "-":
        frame.to_csv(sys.stdout, index=False, na_rep="", lineterminator="\n")
        return None
    return write_with(
        path, lambda handle: frame.to_csv(handle, index=False, na_rep="", lineterminator="\n")
    )


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
    from lumiaudit.errors import ConfigError, InputNotFoundError

    source = Path(path)
    if not source.is_file():
        raise InputNotFoundError(f"{what} not found", path=source)
    try:
        return source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not a text {what} (byte {exc.start} is not UTF-8)", path=source, hint=hint
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", path=source) from None
