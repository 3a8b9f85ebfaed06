"""``lumiaudit online``: read online sources into the canonical online table (CSV)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from lumiaudit.cli._common import check_output_files, echo, handle_errors

if TYPE_CHECKING:
    import pandas as pd

#: Problems listed on stderr before the rest is only counted.
MAX_LISTED = 20


def _write_csv(frame: pd.DataFrame, path: Path | None) -> None:
    """Write ``frame`` as CSV to ``path`` or stdout; see :mod:`lumiaudit.store.tables`."""
    from lumiaudit.store.tables import write_csv

    write_csv(frame, path)


@click.command(name="online")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the online table here (default: CSV on stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "elog", "elog-csv", "elog-xml", "rundb", "daq", "table"]),
    default="auto",
    show_default=True,
    help="Input format; auto detects each file by its content.",
)
@click.option(
    "--mapping",
    type=click.Path(exists=False, dir_okay=False, path_type=Path),
    default=None,
    help="TOML file naming attributes/columns per source (default: Belle II names).",
)
@click.option(
    "--policy",
    type=click.Choice(["latest", "first", "max", "error"]),
    default="latest",
    show_default=True,
    help="Which count wins when several entries name one run (error: disagreement is fatal).",
)
@click.option("--strict", is_flag=True, help="Any input problem is fatal (exit 2).")
@click.option(
    "--conflicts",
    "conflicts_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the conflicts table (CSV) here.",
)
@click.option(
    "--problems",
    "problems_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the problems table (CSV) here.",
)
@click.option(
    "--snapshots",
    "snapshots_path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write every response of a live source (rundb+https://, elog+https://) into this "
    "directory, with its URL and sha256; give the directory as PATH to rerun offline.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds to wait for a live server to connect or send the next bytes.",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds for reading all live sources (every page, retry and backoff).",
)
@handle_errors
def command(
    paths: tuple[str, ...],
    output: Path | None,
    fmt: str,
    mapping: Path | None,
    policy: str,
    strict: bool,
    conflicts_path: Path | None,
    problems_path: Path | None,
    snapshots_path: Path | None,
    timeout: float,
    deadline: float,
) -> None:
    """Read elog day files or exports, run-DB JSON, DAQ catalogues or CSV tables (PATH...).

    PATH may also be a live system, rundb+https://host/rest/v1/runs/?min_experiment=10 or
    elog+https://host/Logbook/ (credentials from LUMIAUDIT_HTTP_TOKEN,
    LUMIAUDIT_HTTP_USER/LUMIAUDIT_HTTP_PASSWORD or ~/.netrc), or a --snapshots directory.

    Writes one row per (experiment, run) with its online count and provenance. A summary line
    and every problem (file:line: reason, the first 20) go to stderr.
    """
    from lumiaudit.online import HttpOptions, read_online

    check_output_files([output, conflicts_path, problems_path], inputs=paths, kind="csv")
    http = HttpOptions(connect_timeout=min(timeout, 30.0), read_timeout=timeout, deadline=deadline)
    result = read_online(
        list(paths),
        format=fmt,
        mapping=mapping,
        policy=policy,
        strict=strict,
        http=http,
        warn=False,  # every problem is listed below, by file and line
    )
    if snapshots_path is not None:
        written = result.write_snapshots(snapshots_path)
        if written is None:
            echo("lumiaudit online: no live source read, no snapshot written", err=True)
    if conflicts_path is not None:
        _write_csv(result.conflicts, conflicts_path)
    if problems_path is not None:
        _write_csv(result.problems, problems_path)
    _write_csv(result.table, output)
    problems = result.problems
    for row in problems.head(MAX_LISTED).itertuples(index=False):
        echo(f"{row.source}:{row.line}: {row.reason}", err=True)
    if len(problems) > MAX_LISTED:
        echo(f"... and {len(problems) - MAX_LISTED} more problems", err=True)
    for rec in result.conflicts.to_dict("records"):
        echo(
            f"conflict: exp {rec['experiment']} run {rec['run']}: {rec['values']} -> "
            f"{rec['chosen']} ({rec['policy']})",
            err=True,
        )
    echo(f"lumiaudit online: {result.summary()}", err=True)
