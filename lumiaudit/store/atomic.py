"""The one atomic file writer: never half-written, never replacing what is not a regular file.

A new or regular file is written to a temporary name in the same directory and renamed into
place, so an interrupted write (kill, disk full) never leaves a truncated file behind. Anything
else at the target (a symlink such as ``/dev/stderr``, a device such as ``/dev/null``, a FIFO)
is written through in place and never replaced: renaming over ``/dev/null`` as root would
replace the device with a regular file.

Every file lumiaudit writes goes through :func:`write_with` (text), :func:`write_bytes` or
:func:`atomic_path` (for writers that want a file name, such as matplotlib's ``savefig``).
New files get the permissions ``0666 & ~umask``, like ``open()`` would give them.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from lumiaudit.errors import OutputError

__all__ = [
    "atomic_path",
    "current_umask",
    "write_bytes",
    "write_text",
    "write_with",
    "writes_through",
]


def current_umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def writes_through(target: Path) -> bool:
    """A symlink, device or FIFO at ``target`` is written in place, never replaced."""
    return target.is_symlink() or (target.exists() and not stat.S_ISREG(target.lstat().st_mode))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    For writers that take a file name (``Figure.savefig``). On an exception the temporary
    file is removed and ``path`` is left as it was.

    Raises
    ------
    OutputError
        If the directory cannot be written.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path()
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=target.suffix, dir=directory
        )
    except OSError as exc:
        msg = f"cannot write: {exc.strerror or exc}"
        raise OutputError(msg, path=target) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~current_umask())
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        msg = f"cannot write: {exc.strerror or exc}"
        raise OutputError(msg, path=target) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_with(path: str | os.PathLike[str], writer: Callable[[TextIO], None]) -> Path:
    """Call ``writer`` with a UTF-8 text handle on ``path``; see the module docstring.

    Raises
    ------
    OutputError
        If the file cannot be written (permissions, missing directory, disk full).
    """
    target = Path(path)
    try:
        if writes_through(target):
            with target.open("w", encoding="utf-8", newline="") as handle:
                writer(handle)
            return target
    except OSError as exc:
        msg = f"cannot write: {exc.strerror or exc}"
        raise OutputError(msg, path=target) from None
    with atomic_path(target) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        writer(handle)
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`write_with`)."""

    def writer(handle: TextIO) -> None:
        handle.write(text)

    return write_with(path, writer)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write_with`)."""
    target = Path(path)

    def put(handle: BinaryIO) -> None:
        handle.write(data)

    try:
        if writes_through(target):
            with target.open("wb") as handle:
                put(handle)
            return target
    except OSError as exc:
        msg = f"cannot write: {exc.strerror or exc}"
        raise OutputError(msg, path=target) from None
    with atomic_path(target) as tmp, tmp.open("wb") as handle:
        put(handle)
    return target
