"""``lumiaudit demo``: the audit of the bundled example production and logbook."""

from __future__ import annotations

from pathlib import Path

import click

from lumiaudit.cli._common import handle_errors
from lumiaudit.errors import InputNotFoundError


def example_dir() -> Path:
    """The bundled example: ``data/example`` of the source tree.

    Raises
    ------
    InputNotFoundError
        If lumiaudit is not run from a source checkout (the example is not in the wheel).
    """
    candidates = [
        Path(__file__).resolve().parents[2] / "data" / "example",
        Path.cwd() / "data" / "example",
    ]
    for path in candidates:
        if (path / "elog").is_dir() and (path / "prod").is_dir():
            return path
    msg = "bundled example not found"
    raise InputNotFoundError(
        msg,
        path=candidates[0],
        hint="run from a clone of the repository, or regenerate it with "
        "`python -m lumiaudit.example data/example`",
    )


@click.command(name="demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports/demo"),
    show_default=True,
    help="Output directory: absent, empty or an earlier lumiaudit demo or audit.",
)
@click.option("--fail-on-flagged", is_flag=True, help="Exit 1 when a run is flagged.")
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write JUnit XML.",
)
@handle_errors
def command(out: Path, fail_on_flagged: bool, junit: Path | None) -> None:
    """Run the audit on the bundled example (data/example): a small Belle II-like production
    with injected faults and its PSI ELOG logbook."""
    from lumiaudit.cli.audit import run_audit_command

    base = example_dir()
    run_audit_command(
        online=(str(base / "elog"),),
        offline=(str(base / "prod"),),
        out=out,
        fail_on_flagged=fail_on_flagged,
        junit=junit,
        kind="demo",
    )
