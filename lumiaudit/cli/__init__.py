"""The ``lumiaudit`` command line: a thin click group over the library.

Subcommands live one per module in this package and are imported only when invoked, so
``lumiaudit --version`` and ``lumiaudit --help`` never import pandas, uproot or matplotlib.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any, NoReturn

import click

from lumiaudit._version import __version__

#: command name -> (module, one-line help shown by ``lumiaudit --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "online": ("lumiaudit.cli.online", "Parse online sources (elog, run DB, DAQ catalogue, CSV)."),
    "count": ("lumiaudit.cli.count", "Discover and count offline ROOT files."),
    "audit": ("lumiaudit.cli.audit", "Compare online and offline counts per run."),
    "demo": ("lumiaudit.cli.demo", "Run the audit on the bundled example in data/."),
    "explain": ("lumiaudit.cli.explain", "Print the evidence for one run of an audit."),
    "runlist": (
        "lumiaudit.cli.runlist_ops",
        "Good/bad run lists (golden JSON, GRL XML, IoVs), run-list algebra, symlink views.",
    ),
    "diff": ("lumiaudit.cli.diff", "What changed between two audits."),
    "ticket": ("lumiaudit.cli.ticket", "Markdown / Jira snippets for flagged runs."),
    "report": ("lumiaudit.cli.report", "Execute the overview notebook into an HTML report."),
    "nightly": ("lumiaudit.cli.nightly", "Dated, incremental, locked nightly audit."),
    "profile": ("lumiaudit.cli.profile", "List the experiment profiles or print one as TOML."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 (click's signature)
        return sorted(COMMANDS)

    def get_command(
        self,
        ctx: click.Context,  # noqa: ARG002 (click's signature)
        cmd_name: str,
    ) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = module.command
        return command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except BrokenPipeError:
            _broken_pipe()

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


#: exit status of a process killed by SIGPIPE, as a shell reports it (128 + 13)
EXIT_BROKEN_PIPE = 141


def _one_line(exc: click.UsageError) -> click.ClickException:
    """A usage error as one line with exit 2, naming the command's help instead of the usage."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # ``lumiaudit runlist``: help, as click does
        return exc
    from lumiaudit.cli._common import InputError

    # the root is "lumiaudit" however it was started (python -c, CliRunner's "cli")
    path = exc.ctx.command_path.split(" ")[1:] if exc.ctx is not None else []
    where = " ".join(["lumiaudit", *path])
    return InputError(f"{exc.format_message()} (see '{where} --help')")


def _broken_pipe() -> NoReturn:
    """A reader closed stdout or stderr (``lumiaudit ... | head``): leave quietly with 141.

    Not exit 1 (click's choice), which reads as "flagged runs". SIGPIPE is not restored to its
    default instead: it would also kill lumiaudit on a closed network socket (HTTP, XRootD).
    """
    # Python flushes stdout/stderr once more at exit: point them at /dev/null first
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        # not a real file (CliRunner): nothing is flushed to it
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
    raise SystemExit(EXIT_BROKEN_PIPE)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lumiaudit")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
def cli(verbose: int, quiet: bool) -> None:
    """Audit online (elog, run database, DAQ) against offline (ROOT) event counts per run.

    Data and paths go to stdout, progress and logs to stderr. Exit codes: 0 the command ran,
    1 flagged runs with --fail-on-flagged (or new flags in nightly), 2 usage or input error,
    141 stdout or stderr closed by its reader (| head).
    """
    from lumiaudit.cli._common import configure_logging

    configure_logging(verbose=verbose, quiet=quiet)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    try:
        return cli.main(args=argv, prog_name="lumiaudit")
    except SystemExit:
        try:  # output still buffered when the reader went away surfaces only here
            sys.stdout.flush()
        except BrokenPipeError:
            _broken_pipe()
        raise
    except BrokenPipeError:
        _broken_pipe()
