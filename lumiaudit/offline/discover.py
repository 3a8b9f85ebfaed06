"""Find the offline files: paths, directories, globs, list files and URLs, each file once.

- A directory is walked recursively, following symlinked directories (a ``GoodRuns/`` view
  of links to run directories) but never entering the same real directory twice.
- Every local file is identified by its real path: a file reached through a link, or named
  twice, is kept once; the ways it was reached add markers (``symlink``, ``goodruns_dir``).
- Only ``*.root`` and ``*.sroot`` files are taken from directories (the shared corpus has
  ``GoodRuns/rNNNNN`` placeholder text files: they are not data).
- A named file that is not ``*.root`` / ``*.sroot`` is a list of paths or URLs, one per line
  (``#`` comments; relative paths are relative to the list file).
- The same file *name* at two real paths is a duplicate (see :func:`find_duplicates`).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lumiaudit.errors import InputNotFoundError
from lumiaudit.offline.grammar import parse_name
from lumiaudit.offline.names import FileName, join_markers

__all__ = ["ROOT_SUFFIXES", "Found", "discover", "find_duplicates"]

logger = logging.getLogger(__name__)

ROOT_SUFFIXES = (".root", ".sroot")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True, slots=True)
class Found:
    """One file to count.

    Attributes
    ----------
    path
        Real path (symlinks resolved) or URL: the identity of the file.
    name
        What the real path's name and layout say.
    markers
        ``;``-separated markers of the real path and of every path the file was reached by.
    reached_as
        The paths it was reached by, when different from ``path`` (links, views).
    """

    path: str
    name: FileName
    markers: str
    reached_as: tuple[str, ...] = ()


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def _as_list(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def _walk(top: str) -> Iterable[tuple[str, str]]:
    """(path, real path) of the files under ``top``, following directory links, each real
    directory once. Real paths are built from the directory's (one ``realpath`` per
    directory, not per file: at 100,000 files that is most of the discovery time)."""
    seen: set[str] = set()
    stack = [top]
    while stack:
        directory = stack.pop()
        real = os.path.realpath(directory)
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            logger.warning("cannot list %s: %s", directory, exc)
            continue
        subdirs = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=True):
                    subdirs.append(entry.path)
                elif entry.name.endswith(ROOT_SUFFIXES):
                    if entry.is_symlink():
                        yield entry.path, os.path.realpath(entry.path)
                    else:
                        yield entry.path, os.path.join(real, entry.name)  # noqa: PTH118
            except OSError as exc:  # a link loop or an unreadable entry
                if entry.name.endswith(ROOT_SUFFIXES):
                    # counted as what it is: an io_error with the reason
                    yield entry.path, os.path.realpath(entry.path)
                else:
                    logger.warning("cannot stat %s: %s", entry.path, exc)
        stack.extend(reversed(subdirs))


def _read_list(path: str) -> list[tuple[str, int]]:
    base = Path(path).parent
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputNotFoundError(f"cannot read list file: {exc.strerror}", path=path) from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        if not _is_url(item) and not Path(item).is_absolute():
            item = str(base / item)
        out.append((item, lineno))
    return out


def _expand(item: str, *, source: str | None, line: int | None, out: list[tuple[str, str]]) -> None:
    if _is_url(item):
        out.append((item, item))
        return
    local = item.removeprefix("file://")
    if Path(local).is_dir():
        out.extend(_walk(local))
    elif Path(local).exists():
        if local.endswith(ROOT_SUFFIXES) or source is not None:
            out.append((local, os.path.realpath(local)))
        else:
            for entry, lineno in _read_list(local):
                _expand(entry, source=local, line=lineno, out=out)
    elif _GLOB_CHARS & set(local) and (
        matches := sorted(glob.glob(local, recursive=True))  # noqa: PTH207 (absolute patterns)
    ):
        for match in matches:
            if Path(match).is_dir():
                out.extend(_walk(match))
            elif match.endswith(ROOT_SUFFIXES):
                out.append((match, os.path.realpath(match)))
    elif Path(local).is_symlink():
        # a dangling link is a file that cannot be read: count it as such
        out.append((local, os.path.realpath(local)))
    else:
        what = "no file matches" if _GLOB_CHARS & set(local) else "no such file or directory"
        if source is not None:
            raise InputNotFoundError(
                f"{local}: {what}", path=source, line=line, hint="fix or remove the line"
            )
        raise InputNotFoundError(what, path=local, hint="check the path")


def discover(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, names: str = "belle2"
) -> list[Found]:
    """Expand inputs into the list of distinct files to count, sorted by path.

    Parameters
    ----------
    paths
        Files, directories (recursive), globs (``**`` allowed), list files and URLs.
    names
        File-name grammar (see :mod:`lumiaudit.offline.grammar`).

    Returns
    -------
    list of Found
        One entry per distinct real file (URLs as given), sorted by path.

    Raises
    ------
    InputNotFoundError
        If an input (or a line of a list file) names nothing, or there are no inputs.
    """
    items = _as_list(paths)
    if not items:
        raise InputNotFoundError("no input paths given", hint="name files or directories")
    reached: list[tuple[str, str]] = []
    for item in items:
        _expand(item, source=None, line=None, out=reached)
    by_real: dict[str, list[str]] = {}
    for path, real in reached:
        by_real.setdefault(real, []).append(path)
    found = []
    for real, ways in sorted(by_real.items()):
        name = parse_name(real, names)
        extra: set[str] = set()
        others = tuple(
            sorted({w for w in ways if not _is_url(w) and os.path.abspath(w) != real})  # noqa: PTH100
        )
        for way in others:
            extra.update(parse_name(way, names).markers)
            extra.add("symlink")
        # a marker only a link path carries (goodruns_dir) is a fact about the view, not data
        found.append(Found(real, name, join_markers(name.markers, extra), others))
    return found


def find_duplicates(
    found: Sequence[Found], *, readable: Sequence[bool] | None = None
) -> dict[str, str]:
    """Map each duplicate file to the copy that is counted.

    Two real files with the same name (and the same skim, if any) are copies. The copy whose
    path sorts first is kept; if ``readable`` is given, the first *readable* copy is kept.

    Parameters
    ----------
    found
        Output of :func:`discover`.
    readable
        Per entry of ``found``, whether the file could be read.

    Returns
    -------
    dict
        ``{duplicate path: kept path}``.
    """
    groups: dict[tuple[str | None, str], list[int]] = {}
    for i, item in enumerate(found):
        groups.setdefault((item.name.skim, item.name.stem), []).append(i)
    out: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        ordered = sorted(members, key=lambda i: found[i].path)
        kept = ordered[0]
        if readable is not None:
            kept = next((i for i in ordered if readable[i]), kept)
        for i in ordered:
            if i != kept:
                out[found[i].path] = found[kept].path
    return out
