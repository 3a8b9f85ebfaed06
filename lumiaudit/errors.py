"""lumiaudit's exceptions and warnings.

Every error lumiaudit raises for bad input derives from :class:`LumiauditError` and from the
matching builtin, so ``except ValueError`` keeps working. Messages say what is wrong, where
(file and line, or file and cause) and what to do. Audit *findings* (a short run, a broken file)
are never exceptions: they are rows in the result tables.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lumiaudit.schema import FileStatus

__all__ = [
    "AuditDirError",
    "BadFile",
    "ClusterError",
    "ConfigError",
    "ElogParseError",
    "InputNotFoundError",
    "InputReadError",
    "LumiauditError",
    "LumiauditWarning",
    "NightlyLockedError",
    "OnlineFormatError",
    "OutputError",
    "OutputRefusedError",
    "ParameterError",
    "ReportError",
    "Unsure",
]


class LumiauditError(Exception):
    """Base class of lumiaudit's errors. ``str(err)`` is one line, fit for a terminal."""

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        line: int | str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split("\n"))


class InputNotFoundError(LumiauditError, FileNotFoundError):
    """An input path, glob or URL matched nothing."""


class InputReadError(LumiauditError, OSError):
    """An input exists but could not be read (permissions, I/O error, ...)."""


class ElogParseError(LumiauditError, ValueError):
    """A logbook or export could not be parsed (raised in strict mode or for fatal problems)."""


class OnlineFormatError(LumiauditError, ValueError):
    """No reader recognised an online source (the message lists the formats tried)."""


class ConfigError(LumiauditError, ValueError):
    """A mapping, nightly configuration or waivers file is invalid."""


class AuditDirError(LumiauditError, ValueError):
    """A written audit directory is damaged: a table or ``summary.json`` cannot be read."""


class ParameterError(LumiauditError, ValueError):
    """A parameter (CLI option, notebook parameter, API argument) has a bad value."""


class OutputError(LumiauditError, OSError):
    """An output could not be written (permissions, disk full, ...)."""


class OutputRefusedError(OutputError):
    """An output path that lumiaudit will not write: not its own, an input, or not a directory.

    Raised before anything is read or written (see :mod:`lumiaudit.store.outdir`).
    """


class ClusterError(LumiauditError, RuntimeError):
    """A Dask cluster (``--cluster``) could not be started: no submit command, no worker."""


class ReportError(LumiauditError, RuntimeError):
    """A report notebook failed; the partially executed notebook is kept."""


class NightlyLockedError(LumiauditError, RuntimeError):
    """Another nightly run holds the lock of the reports directory (:mod:`lumiaudit.nightly`)."""


class Unsure(Exception):
    """Internal to the lean ROOT reader (:mod:`lumiaudit.offline.rootio`): this cannot be read
    with certainty, read the file the full way (uproot). Never reaches a user."""


class BadFile(Exception):
    """Internal to the offline counting (:mod:`lumiaudit.offline.uproot_read`): the file is
    bad, with a status (what it holds: reading it again changes nothing). It becomes the file's
    row in the files table, never an error raised to a user."""

    def __init__(self, status: FileStatus, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class LumiauditWarning(UserWarning):
    """Something was skipped or assumed; the audit went on."""
