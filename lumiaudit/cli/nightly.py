"""``lumiaudit nightly``: dated, locked, incremental audit with a diff against last night."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from lumiaudit.cli._common import echo, echo_path, handle_errors, progress_default, progress_option


def _run(row: dict[str, Any]) -> str:
    experiment = row.get("experiment")
    run = row.get("run")
    what = ""
    for key in ("reasons_new", "reasons", "reasons_old", "status_new", "status"):
        if row.get(key):
            what = str(row[key])
            break
    return f"e{experiment} r{run} {what}".rstrip()


@click.command(name="nightly")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Nightly configuration (TOML: [nightly] online, offline, reports, ...; [audit]).",
)
@click.option(
    "--wait",
    is_flag=True,
    help="If another nightly run holds the lock, wait for it (default: exit 2 at once).",
)
@progress_option
@handle_errors
def command(config: Path, wait: bool, progress: bool | None) -> None:
    """Run tonight's audit into REPORTS/<date>/, point REPORTS/latest at it, diff last night.

    Counting goes through the count cache (only new or changed files are read); a lock
    keeps two runs from overlapping; waived runs do not alert. Prints the report directory
    on stdout and what changed on stderr. Exit 0 nothing new, 1 newly flagged runs (not
    waived), 2 failure (bad configuration, lock held, failing notebook).

    Cron: 30 2 * * * cd /srv/lumiaudit && lumiaudit nightly --config nightly.toml
    """
    from lumiaudit.nightly import run_nightly

    result = run_nightly(
        config, wait=wait, progress=progress_default() if progress is None else progress
    )
    echo_path(result.report_dir)
    cache = result.cache
    echo(
        (
            f"lumiaudit nightly: no diff tonight (previous report damaged): "
            f"{len(result.newly_flagged)} flagged"
            if result.diff_skipped is not None
            else f"lumiaudit nightly: {len(result.newly_flagged)} newly flagged, "
            f"{len(result.resolved)} resolved, {len(result.changed)} changed"
            + ("" if result.previous is None else f" since {result.previous.name}")
        )
        + f"; files {cache.get('files')}, from cache {cache.get('hits')}, "
        f"read {cache.get('counted')}",
        err=True,
    )
    for title, rows in (
        ("newly flagged", result.newly_flagged),
        ("waived", result.waived),
        ("resolved", result.resolved),
        ("changed", result.changed),
    ):
        for row in rows:
            echo(f"  {title}: {_run(row)}", err=True)
    if result.diff_skipped is not None:
        echo(f"lumiaudit nightly: warning: no diff: {result.diff_skipped}", err=True)
    sys.exit(result.exit_code)
