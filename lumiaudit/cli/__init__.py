"""The ``lumiaudit`` command line: a thin click group over the library.

Subcommands live one per module in this package and are imported only when invoked, so
``lumiaudit --version`` and ``lumiaudit --help`` never import pandas, uproot or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

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

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lumiaudit")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
def cli(verbose: int, quiet: bool) -> None:
    """Audit online (elog, run database, DAQ) against offline (ROOT) event counts per run.

    Data and paths go to stdout, progress and logs to stderr. Exit codes: 0 the command ran,
    1 flagged runs with --fail-on-flagged (or new flags in nightly), 2 usage or input error.
    """
    from lumiaudit.cli._common import configure_logging

    configure_logging(verbose=verbose, quiet=quiet)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="lumiaudit")
