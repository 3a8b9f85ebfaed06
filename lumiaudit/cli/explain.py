"""``lumiaudit explain``: print the evidence for one run of a written audit."""

from __future__ import annotations

from pathlib import Path

import click

from lumiaudit.cli._common import echo, handle_errors


@click.command(name="explain")
@click.option(
    "--audit",
    "audit_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Audit directory written by `lumiaudit audit --out DIR`.",
)
@click.argument("run", type=int)
@click.option(
    "--experiment", type=int, default=None, help="Experiment (when several have this run)."
)
@handle_errors
def command(audit_dir: Path, run: int, experiment: int | None) -> None:
    """Print the evidence for RUN: counts and their arithmetic, files by HLT unit and index
    with statuses, gaps, error-flag counts, elog entries (MIDs, typed text) and conflicts."""
    from lumiaudit.render.text import explain_run
    from lumiaudit.store.history import read_audit_tables

    tables = read_audit_tables(audit_dir)
    text = explain_run(tables, run, experiment=experiment)
    from lumiaudit.store.audit_dir import read_optional_table

    lumis = read_optional_table(audit_dir, "lumis.csv")
    if lumis is not None:  # audits with lumisections (docs/profiles.md)
        from lumiaudit.lumis import explain_lumis

        text += explain_lumis(lumis, run)
    echo(text, nl=False)
