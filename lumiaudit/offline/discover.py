"""Find the offline files: paths, directories, globs, list files and URLs, each file once.

- A directory is walked recursively, following symlinked directories (a ``GoodRuns/`` view
  of links to run directories) but never entering the same real directory twice.
- Every local file is identified by its real path: a file reached through a link, or named
  twice, is kept once; the ways it was reached add markers (``symlink``, ``goodruns_dir``).
- Only ``*.root`` and ``*.sroot`` files are taken from directories (the shared corpus has
  ``GoodRuns/rNNNNN`` placeholder text files: they are not data). The suffix is matched
  without regard to case: a ``*.ROOT`` file is a ROOT file someone renamed (basf2 writes
  lower case), and leaving it out would be a silent deficit; it is counted, with a warning.
- A named file that is not ``*.root`` / ``*.sroot`` is a list of paths or URLs, one per line
  (``#`` comments; relative paths are relative to the list file).
- A directory that cannot be listed, or an entry that cannot be examined, is not skipped: it
  is a :class:`Found` with an ``error`` and becomes an ``io_error`` row of the files table
  (its run, from the layout, shows the files that may be missing there).
- The same file *name* at two real paths is a duplicate (see :func:`find_duplicates`).
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lumiaudit.errors import InputNotFoundError
from lumiaudit.offline.access import access, is_url
from lumiaudit.offline.grammar import parse_name
from lumiaudit.offline.names import FileName, join_markers

__all__ = ["ROOT_SUFFIXES", "Found", "discover", "find_duplicates"]

logger = logging.getLogger(__name__)

ROOT_SUFFIXES = (".root", ".sroot")
_GLOB_CHARS = set("*?[")
_UNLISTED = "cannot list directory"


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
    error
        Why the path could not be listed or examined (it is then not counted but reported
        as ``io_error``); empty for a file to count.
    """

    path: str
    name: FileName
    markers: str
    reached_as: tuple[str, ...] = ()
    error: str = ""


def is_root_name(name: str) -> bool:
    """Whether a file name has a ROOT suffix (``.root``, ``.sroot``, in any case).

    Examples
    --------
    >>> is_root_name("a.root"), is_root_name("a.ROOT"), is_root_name("a.txt")
    (True, True, False)
    """
    return name.lower().endswith(ROOT_SUFFIXES)


def _as_list(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


#: (path, real path, error): what discovery reached; ``error`` is empty for a file to count.
Reached = tuple[str, str, str]


def _walk(top: str) -> Iterable[Reached]:
    """(path, real path, error) of the files under ``top``, following directory links, each
    real directory once. Real paths are built from the directory's (one ``realpath`` per
    directory, not per file: at 100,000 files that is most of the discovery time).
    Directories that cannot be listed and entries that cannot be examined are yielded with
    the error."""
    seen: set[str] = set()
    # (directory, its real path if known): a subdirectory that is no link is its parent's
    # real path plus its name, so realpath (an lstat per component) runs only for links
    stack: list[tuple[str, str | None]] = [(top, None)]
    while stack:
        directory, known = stack.pop()
        real = os.path.realpath(directory) if known is None else known
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            # the files in there are unknown, not absent: a row, not just a log line
            logger.warning("cannot list %s: %s", directory, exc)
            yield directory, real, f"{_UNLISTED}: {_oserror(exc)}"
            continue
        subdirs: list[tuple[str, str | None]] = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=True):
                    link = entry.is_symlink()
                    subdirs.append((entry.path, None if link else os.path.join(real, entry.name)))  # noqa: PTH118
                elif is_root_name(entry.name):
                    if entry.is_symlink():
                        yield entry.path, os.path.realpath(entry.path), ""
                    else:
                        yield entry.path, os.path.join(real, entry.name), ""  # noqa: PTH118
            except OSError as exc:  # a link loop or an unreadable entry
                if is_root_name(entry.name):
                    # counted as what it is: an io_error with the reason
                    yield entry.path, os.path.realpath(entry.path), ""
                elif exc.errno == errno.ELOOP:  # a link loop is no directory: nothing hides there
                    logger.warning("cannot stat %s: %s", entry.path, exc)
                else:  # it may be a directory of files: they are unknown, not absent
                    logger.warning("cannot stat %s: %s", entry.path, exc)
                    yield entry.path, os.path.realpath(entry.path), f"cannot stat: {_oserror(exc)}"
        stack.extend(reversed(subdirs))


def _oserror(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def _read_list(path: str) -> list[tuple[str, int]]:
    base = Path(path).parent
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        msg = f"cannot read list file: {exc.strerror}"
        raise InputNotFoundError(msg, path=path) from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        if not is_url(item) and not Path(item).is_absolute():
            item = str(base / item)
        out.append((item, lineno))
    return out


def _unlistable_under(pattern: str) -> list[Reached]:
    """Directories a glob needed to list but could not, and entries it could not examine.

    ``glob`` skips them without a word, so the files in there would vanish. A directory
    must be listed where the next component of the pattern has wildcards (``*``, ``**``,
    ...); those levels are globbed and every directory found is tried once. A name seen
    there that cannot be examined (a directory without search permission) is reported too,
    unless it is a ROOT name (then it is a match, and :func:`count_file` reports it).
    """
    parts = Path(pattern).parts
    seen: set[str] = set()
    out: list[Reached] = []
    for depth in range(1, len(parts)):
        literal = not _GLOB_CHARS & set(parts[depth])
        prefix = str(Path(*parts[:depth]))
        for directory in glob.glob(prefix, recursive=True):  # noqa: PTH207
            if directory in seen:
                continue
            seen.add(directory)
            try:
                if not stat.S_ISDIR(Path(directory).stat().st_mode):
                    continue
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ELOOP) and not is_root_name(directory):
                    out.append(
                        (directory, os.path.realpath(directory), f"cannot stat: {_oserror(exc)}")
                    )
                continue
            try:
                if literal:  # glob looks the next name up: needs search permission only
                    Path(directory, parts[depth]).stat()
                else:
                    with os.scandir(directory):
                        pass
            except FileNotFoundError:
                continue  # the pattern's next name is not there: nothing hidden
            except OSError as exc:
                logger.warning("cannot list %s: %s", directory, exc)
                real = os.path.realpath(directory)
                out.append((directory, real, f"{_UNLISTED}: {_oserror(exc)}"))
    return out


def _expand_glob(pattern: str, out: list[Reached]) -> bool:
    """Add what ``pattern`` matches (and the directories it cannot see into); any found?"""
    matches = sorted(glob.glob(pattern, recursive=True))  # noqa: PTH207 (absolute patterns)
    hidden = _unlistable_under(pattern)
    out.extend(hidden)
    for match in matches:
        try:
            is_dir = stat.S_ISDIR(Path(match).stat().st_mode)
        except OSError:  # cannot be examined: a ROOT name is counted as what it is
            is_dir = False
        if is_dir:
            out.extend(_walk(match))
        elif is_root_name(match):
            out.append((match, os.path.realpath(match), ""))
    return bool(matches or hidden)


def _expand(item: str, *, source: str | None, line: int | None, out: list[Reached]) -> None:
    if is_url(item):
        out.append((item, item, ""))
        return
    local = access(item).path
    if Path(local).is_dir():
        out.extend(_walk(local))
    elif Path(local).exists():
        if is_root_name(local) or source is not None:
            out.append((local, os.path.realpath(local), ""))
        else:
            for entry, lineno in _read_list(local):
                _expand(entry, source=local, line=lineno, out=out)
    elif _GLOB_CHARS & set(local) and _expand_glob(local, out):
        pass
    elif Path(local).is_symlink():
        # a dangling link is a file that cannot be read: count it as such
        out.append((local, os.path.realpath(local), ""))
    else:
        what = "no file matches" if _GLOB_CHARS & set(local) else "no such file or directory"
        if source is not None:
            msg = f"{local}: {what}"
            raise InputNotFoundError(msg, path=source, line=line, hint="fix or remove the line")
        raise InputNotFoundError(what, path=local, hint="check the path")


def discover(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    allow_empty: bool = True,
    names: str = "belle2",
) -> list[Found]:
    """Expand inputs into the list of distinct files to count, sorted by path.

    Parameters
    ----------
    paths
        Files, directories (recursive), globs (``**`` allowed), list files and URLs.
    allow_empty
        With ``False``, an input that gives nothing at all (no ROOT file, no unreadable
        path: an empty directory, an unmounted area, the elog directory given by mistake)
        raises :class:`~lumiaudit.errors.InputNotFoundError` naming it.
    names
        File-name grammar (see :mod:`lumiaudit.offline.grammar`).

    Returns
    -------
    list of Found
        One entry per distinct real file (URLs as given), sorted by path.

    Raises
    ------
    InputNotFoundError
        If an input (or a line of a list file) names nothing, or there are no inputs, or
        (``allow_empty=False``) an input holds no ROOT file.
    """
    return found_from(reach(paths, allow_empty=allow_empty), names=names)


def reach(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, allow_empty: bool = True
) -> list[Reached]:
    """What discovery reaches, before any name is parsed: ``(path, real path, error)`` per
    file, in discovery order (see :func:`discover` for the arguments and errors).

    :func:`found_from` turns it into the :class:`Found` list; it depends on nothing else
    (and the file-name grammar), which is what lets an unchanged rerun be recognised from it
    (:mod:`lumiaudit.offline.result_cache`).
    """
    items = _as_list(paths)
    if not items:
        msg = "no input paths given"
        raise InputNotFoundError(msg, hint="name files or directories")
    reached: list[Reached] = []
    for item in items:
        before = len(reached)
        _expand(item, source=None, line=None, out=reached)
        if len(reached) == before and not allow_empty:
            msg = (
                "no ROOT files (*.root, *.sroot) in this offline source (an empty "
                "directory, an unmounted area, or not the offline production?)"
            )
            raise InputNotFoundError(
                msg,
                path=item,
                hint="--allow-empty / allow_empty=True if that is expected",
            )
    return reached


def found_from(reached: list[Reached], *, names: str = "belle2") -> list[Found]:
    """The distinct files of a :func:`reach` result, sorted by real path, names parsed."""
    by_real: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for path, real, error in reached:
        by_real.setdefault(real, []).append(path)
        if error:
            errors.setdefault(real, error)
    warn_odd_suffixes(by_real)
    found = []
    for real, ways in sorted(by_real.items()):
        # a directory that could not be listed: its layout says the experiment and run
        unlisted = errors.get(real, "").startswith(_UNLISTED)
        name = parse_name(f"{real}/" if unlisted else real, names)
        extra: set[str] = set()
        others: tuple[str, ...] = ()
        if ways != [real]:  # reached by another path (a link, a relative input) too
            others = tuple(
                sorted({w for w in ways if not is_url(w) and os.path.abspath(w) != real})  # noqa: PTH100
            )
        for way in others:
            extra.update(parse_name(way, names).markers)
            extra.add("symlink")
        # a marker only a link path carries (goodruns_dir) is a fact about the view, not data
        found.append(
            Found(real, name, join_markers(name.markers, extra), others, errors.get(real, ""))
        )
    return found


def warn_odd_suffixes(reals: Iterable[str]) -> None:
    """Log a warning for ROOT files whose suffix is not lower case (nothing when none)."""
    odd = sorted(r for r in reals if is_root_name(r) and not r.endswith(ROOT_SUFFIXES))
    if odd:
        logger.warning(
            "%d file%s with an upper-case ROOT suffix counted as ROOT files (basf2 writes "
            "lower case; rename them?): %s%s",
            len(odd),
            "s" * (len(odd) != 1),
            ", ".join(odd[:5]),
            f" and {len(odd) - 5} more" if len(odd) > 5 else "",
        )


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
        if item.error:  # a directory that could not be listed is no copy of anything
            continue
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
