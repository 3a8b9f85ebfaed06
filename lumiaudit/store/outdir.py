"""Output directories: the ``.lumiaudit`` marker, the safety checks and the transactional replace.

lumiaudit replaces only what it created. Every output directory it writes (an audit, a demo,
a report, a nightly reports directory, a symlink view) carries a small JSON marker
``.lumiaudit``::

    {"kind": "audit", "lumiaudit_version": "0.1.0", "created": "2026-12-01T20:00:00Z"}

:func:`check_output` decides, before anything is read or counted, whether a path may be used:

* absent (its parent is created), an empty directory, or a directory with a marker of the
  same family of kinds (``audit``/``demo``; ``report``; ``nightly``; ``views``): accepted;
* anything else is refused with :class:`~lumiaudit.errors.OutputRefusedError`: a non-empty
  directory without the marker ("not a lumiaudit output"), a file, a symlink (never
  followed: replacing it would replace the link), ``/``, a path below a file, the working
  directory or one of its parents, and an output that is, contains or lies inside an input
  (both sides resolved, symlinks followed).

:func:`build_dir` builds the new directory under a temporary name beside the target and swaps
it in only when it is complete; the previous directory is renamed aside, the new one renamed
into place and only then the old one removed. On any failure the previous output is left
byte-identical and the temporary directory removed. Directories get ``0777 & ~umask``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lumiaudit._version import __version__
from lumiaudit.errors import OutputError, OutputRefusedError
from lumiaudit.store.atomic import current_umask, write_text

__all__ = [
    "KINDS",
    "MARKER",
    "build_dir",
    "check_output",
    "check_output_file",
    "commit_dir",
    "discard_dir",
    "new_build_dir",
    "read_marker",
    "write_marker",
]

log = logging.getLogger(__name__)

#: file name of the marker in every output directory lumiaudit writes
MARKER = ".lumiaudit"
#: kinds of output directory
KINDS = ("audit", "demo", "report", "nightly", "views")
#: kinds that may replace each other (a demo is an audit directory of the bundled example)
_FAMILY = {
    "audit": "audit",
    "demo": "audit",
    "report": "report",
    "nightly": "nightly",
    "views": "views",
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_marker(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of ``directory``, or ``None`` if it has none (or an unreadable one)."""
    path = Path(directory) / MARKER
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
        return None
    return doc


def write_marker(
    directory: str | os.PathLike[str], kind: str, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write the marker naming ``kind`` (and ``extra`` fields) into ``directory``."""
    if kind not in KINDS:
        msg = f"unknown output kind {kind!r}"
        raise ValueError(msg)
    doc = {"kind": kind, "lumiaudit_version": __version__, "created": _now(), **(extra or {})}
    return write_text(Path(directory) / MARKER, json.dumps(doc, indent=1) + "\n")


def _article(word: object) -> str:
    """``a`` or ``an`` before ``word`` (audit, report, nightly, views, demo)."""
    return "an" if str(word)[:1] in "aeiou" else "a"


def _refuse(path: Path, message: str, hint: str | None = None) -> OutputRefusedError:
    return OutputRefusedError(message, path=path, hint=hint)


def _absolute(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` made absolute with its parent resolved (the last component is not followed)."""
    text = os.fspath(path)
    if not text.strip():
        msg = f"{what}: empty path"
        raise OutputRefusedError(msg, hint="give a directory name")
    # lexical first: "." and ".." must name a directory before its parent is resolved
    lexical = Path(os.path.abspath(Path(text).expanduser()))  # noqa: PTH100
    if lexical == Path(lexical.anchor):
        raise _refuse(lexical, f"{what} is the root directory", hint="give a directory below it")
    return lexical.parent.resolve() / lexical.name


def _input_paths(inputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Local inputs, resolved and as written (a symlink given as an input is an input too: it
    must not be removed with a directory holding it); a glob stands for the directory before
    its first wildcard."""
    out: list[Path] = []
    for item in inputs:
        text = os.fspath(item)
        if "://" in text or not text.strip():
            continue
        for i, ch in enumerate(text):
            if ch in "*?[":
                text = str(Path(text[:i] + "x").parent)
                break
        given = Path(os.path.abspath(Path(text).expanduser()))  # noqa: PTH100 - lexical
        lexical = given.parent.resolve() / given.name if given.name else given
        out += dict.fromkeys([given.resolve(), lexical])
    return out


def _check_inputs(out: Path, inputs: Iterable[str | os.PathLike[str]], what: str) -> None:
    target = out.resolve()
    for source in _input_paths(inputs):
        hint = f"choose another {what}"
        if target == source:
            raise _refuse(out, f"{what} is an input of this command", hint=hint)
        if target in source.parents:
            raise _refuse(out, f"{what} contains the input {source}", hint=hint)
        if source in target.parents:
            raise _refuse(out, f"{what} lies inside the input {source}", hint=hint)


def _check_parent(out: Path, what: str) -> None:
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise _refuse(out, f"{what}: {parent} is not a directory", hint=None)
            return


def check_output(
    out: str | os.PathLike[str],
    *,
    kind: str,
    inputs: Iterable[str | os.PathLike[str]] = (),
    what: str = "output directory",
    adopt_if: str | None = None,
) -> Path:
    """Check that ``out`` may be written as an output directory of ``kind``.

    Parameters
    ----------
    out
        The output directory (need not exist).
    kind
        One of :data:`KINDS`.
    inputs
        Input paths of the command (files, directories, globs; URLs are ignored).
    what
        How messages name ``out`` (``"--out"``, ``"reports directory"`` ...).
    adopt_if
        A file name whose presence in an unmarked directory proves lumiaudit made it before
        the marker existed (the nightly lock file); such a directory is accepted.

    Returns
    -------
    pathlib.Path
        ``out`` as an absolute path (its parent resolved).

    Raises
    ------
    OutputRefusedError
        See the module docstring; nothing has been read or written.
    """
    if kind not in KINDS:
        msg = f"unknown output kind {kind!r}"
        raise ValueError(msg)
    path = _absolute(out, what)
    if path.is_symlink():
        raise _refuse(
            path, f"{what} is a symlink (never followed)", hint="give the directory it points to"
        )
    if path.exists() and not path.is_dir():
        raise _refuse(path, f"{what} exists and is not a directory", hint=None)
    _check_parent(path, what)
    _check_inputs(path, inputs, what)
    cwd = Path.cwd().resolve()
    if path == cwd or path in cwd.parents:
        raise _refuse(path, f"{what} is the working directory or contains it", hint=None)
    if path.is_dir():
        try:
            empty = next(path.iterdir(), None) is None
        except OSError as exc:
            msg = f"cannot read {what}: {exc.strerror or exc}"
            raise OutputError(msg, path=path) from None
        if not empty:
            marker = read_marker(path)
            if marker is None and adopt_if is not None and (path / adopt_if).is_file():
                return path
            if marker is None:
                raise _refuse(
                    path,
                    "not a lumiaudit output (no .lumiaudit marker)",
                    hint=f"choose another {what} or remove it",
                )
            if _FAMILY[str(marker["kind"])] != _FAMILY[kind]:
                raise _refuse(
                    path,
                    f"{_article(marker['kind'])} lumiaudit {marker['kind']} output, "
                    f"not {_article(kind)} {kind} output",
                    hint=f"choose another {what}",
                )
    return path


def check_output_file(
    out: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    what: str = "output file",
    kind: str | None = None,
) -> Path:
    """Check a single output file (``--junit``, ``-o``) before anything is read or counted.

    ``-`` is stdout. Anything that is not a regular file (a device such as ``/dev/null``, a
    FIFO, ``/dev/stdout``) is written through as it is. An existing regular file (also at the
    end of a symlink) is replaced only if it is empty or recognisably a lumiaudit output of
    ``kind`` (:mod:`lumiaudit.store.recognise`; ``None``: of any kind): lumiaudit replaces
    only what it created.

    Parameters
    ----------
    out
        The output file (need not exist), or ``-``.
    inputs
        Input paths of the command.
    what
        How messages name ``out`` (``"--junit"``, ``"--output"`` ...).
    kind
        ``csv``, ``junit``, ``runlist`` or ``ticket`` (see :data:`FILE_KINDS`).

    Returns
    -------
    pathlib.Path
        ``out`` as an absolute path (``Path("-")`` for stdout).

    Raises
    ------
    OutputRefusedError
        If ``out`` is a directory, lies below a file, is, contains or lies inside an input,
        or is an existing file that lumiaudit did not write.
    """
    text = os.fspath(out)
    if text == "-":
        return Path(text)
    path = _absolute(out, what)
    if path.is_dir():
        raise _refuse(path, f"{what} is a directory", hint="give a file name")
    _check_parent(path, what)
    _check_inputs(path, inputs, what)
    _check_replaceable(path, what, kind)
    return path


def _check_replaceable(path: Path, what: str, kind: str | None) -> None:
    """Refuse an existing non-empty regular file that is not a lumiaudit output of ``kind``."""
    from lumiaudit.store.recognise import HEAD_BYTES, recognise

    # /dev/stdout, /dev/fd/N, /proc/self/fd/N name whatever the shell gave: written through
    if path.parts[1:2] in (("dev",), ("proc",)):
        return
    try:
        info = path.stat()  # a symlink is followed: its target is what would be written
    except FileNotFoundError:
        return  # absent, or a dangling symlink (the writer reports it)
    except OSError as exc:
        msg = f"cannot read {what}: {exc.strerror or exc}"
        raise OutputError(msg, path=path) from None
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as exc:
        msg = f"cannot read {what}: {exc.strerror or exc}"
        raise OutputError(msg, path=path) from None
    if not recognise(head, kind):
        raise _refuse(
            path,
            f"{what} exists and is not a lumiaudit output",
            hint=f"remove it or choose another {what}",
        )


def new_build_dir(out: Path) -> Path:
    """A new temporary directory beside ``out`` (its parent is created if needed).

    Raises
    ------
    OutputError
        If it cannot be created.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        msg = f"cannot create output directory: {exc.strerror}"
        raise OutputError(msg, path=out) from None


def discard_dir(tmp: Path) -> None:
    """Remove a temporary build directory (errors are logged, not raised)."""
    shutil.rmtree(tmp, ignore_errors=True)


def commit_dir(tmp: Path, out: Path, *, kind: str, marker: Mapping[str, Any] | None = None) -> Path:
    """Mark the complete directory ``tmp`` and swap it in at ``out`` (see the module docs).

    Raises
    ------
    OutputRefusedError
        If ``out`` changed meanwhile into something that may not be replaced.
    OutputError
        If the swap fails; the previous ``out`` is then back in place, untouched.
    """
    write_marker(tmp, kind, marker)
    check_output(out, kind=kind)  # again: it may have changed while we were building
    try:
        tmp.chmod(0o777 & ~current_umask())
        if not out.exists():
            tmp.rename(out)
            return out
        if next(out.iterdir(), None) is None:
            out.rmdir()
            tmp.rename(out)
            return out
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        old.rmdir()
        out.rename(old)
    except OSError as exc:
        msg = f"cannot replace the output: {exc.strerror or exc}"
        raise OutputError(msg, path=out) from None
    try:
        tmp.rename(out)
    except OSError as exc:
        old.rename(out)
        msg = f"cannot replace the output: {exc.strerror or exc}"
        raise OutputError(msg, path=out) from None
    shutil.rmtree(old, ignore_errors=True)
    if old.exists():
        log.warning("%s: the previous output could not be removed completely", old)
    return out


@contextlib.contextmanager
def build_dir(
    out: str | os.PathLike[str],
    *,
    kind: str,
    inputs: Iterable[str | os.PathLike[str]] = (),
    marker: Mapping[str, Any] | None = None,
) -> Iterator[Path]:
    """Check ``out``, yield a temporary directory to fill, then swap it in at ``out``.

    Examples
    --------
    Not a doctest (it writes a directory)::

        with build_dir("reports/x", kind="audit") as tmp:
            (tmp / "runs.csv").write_text("...")
    """
    target = check_output(out, kind=kind, inputs=inputs)
    tmp = new_build_dir(target)
    try:
        yield tmp
        commit_dir(tmp, target, kind=kind, marker=marker)
    except BaseException:
        discard_dir(tmp)
        raise
