"""Shared plumbing for the CLI commands: error mapping, logging, progress, output."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from lumiaudit.errors import LumiauditError

F = TypeVar("F", bound=Callable[..., Any])

#: Exit code for usage and input errors (click also uses 2 for usage errors).
EXIT_INPUT = 2


class InputError(click.ClickException):
    """A one-line error with exit code 2 and no traceback."""

    exit_code = EXIT_INPUT

    def format_message(self) -> str:
        return " ".join(str(self.message).split("\n"))


def handle_errors(func: F) -> F:
    """Turn library errors and OS errors into one-line messages with exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except LumiauditError as exc:
            raise InputError(str(exc)) from None
        except BrokenPipeError:
            raise  # a reader closed stdout/stderr: not bad input (see lumiaudit.cli.main)
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            msg = f"{where}{exc.strerror or exc}"
            raise InputError(msg) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def configure_logging(*, verbose: int = 0, quiet: bool = False) -> None:
    """Log to stderr; WARNING by default, INFO with -v, DEBUG with -vv."""
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig, with a formatter that strips controls
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_TerminalFormatter("lumiaudit: %(levelname)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
    logging.getLogger("lumiaudit").setLevel(level)


class _TerminalFormatter(logging.Formatter):
    """Log lines name files and quote input: no escape sequence of theirs reaches stderr."""

    def format(self, record: logging.LogRecord) -> str:
        return sanitize_terminal(super().format(record))


def progress_default() -> bool:
    """Progress bars are on by default when stderr is a terminal."""
    return sys.stderr.isatty()


progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr (default: when stderr is a terminal).",
)


# ECMA-48 escape sequences: CSI (ESC [ ... final), OSC / DCS / APC / PM / SOS strings (ended by
# BEL or ESC \\), and two-character escapes; then every other C0/C1 control but TAB and LF.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|[\x1b][\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\|$)"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[@-_ -/]?[0-~]?"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize_terminal(text: str) -> str:
    r"""``text`` without terminal control sequences (ANSI escapes, other C0/C1 controls).

    Elog text, file names and reasons are untrusted: an escape sequence in them could move
    the cursor, retitle the window or hide lines when printed. TAB and newline are kept.

    Examples
    --------
    >>> sanitize_terminal("run 105\x1b[2J\x1b]0;owned\x07 ok\r")
    'run 105 ok'
    """
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def is_quiet() -> bool:
    """``lumiaudit -q``: only errors on stderr, no summary, no paths."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().params.get("quiet"))


def echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` of untrusted text, control sequences removed.

    Messages on stderr (summaries, warnings) are what ``-q`` silences; errors are raised as
    :class:`InputError` and always shown.
    """
    if err and is_quiet():
        return
    click.echo(sanitize_terminal(text), err=err, nl=nl)


def echo_path(path: object) -> None:
    """A path the command wrote, on stdout (silenced by ``-q``: it names, it is not data)."""
    if not is_quiet():
        click.echo(str(path))


def is_stdout(output: str | os.PathLike[str] | None) -> bool:
    """Whether a file option means stdout: not given, or ``-`` (every ``-o``, ``--runs`` ...)."""
    return output is None or os.fspath(output) == "-"


def write_output(
    text: str, output: str | os.PathLike[str] | None, *, untrusted: bool = False
) -> None:
    """Write ``text`` to the file ``output`` (atomically) or to stdout (``None`` or ``-``).

    ``untrusted`` text (elog quotes in tickets) loses terminal control sequences on stdout.
    """
    if is_stdout(output):
        if untrusted:
            echo(text, nl=False)
        else:
            sys.stdout.write(text)
        return
    from lumiaudit.store.atomic import write_text

    assert output is not None
    write_text(output, text)


def check_output_files(
    outputs: Iterable[Path | None],
    *,
    inputs: Iterable[str],
    kind: str | None = None,
    what: str = "output file",
) -> None:
    """Refuse, before anything is read, output files that are, hold or lie inside an input,
    or that exist and are not lumiaudit outputs of ``kind``.

    Raises
    ------
    OutputRefusedError
        See :func:`lumiaudit.store.outdir.check_output_file`.
    """
    from lumiaudit.store.outdir import check_output_file

    sources = list(inputs)
    for output in outputs:
        if output is not None:
            check_output_file(output, inputs=sources, what=what, kind=kind)
