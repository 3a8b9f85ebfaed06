"""``lumiaudit count``: discover and count offline ROOT files (files / runs / gaps CSV)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lumiaudit.cli._common import (
    check_output_files,
    echo,
    handle_errors,
    progress_default,
    progress_option,
)
from lumiaudit.cli.audit import runs_option
from lumiaudit.cli.profile import profile_option
from lumiaudit.numbers import fmt

if TYPE_CHECKING:
    import pandas as pd


def _write_csv(frame: pd.DataFrame, path: Path | None) -> None:
    """Write ``frame`` as CSV to ``path`` or stdout (``-``); see :mod:`lumiaudit.store.tables`."""
    from lumiaudit.store.tables import write_csv

    write_csv(frame, path)


def summary_line(summary: dict[str, Any]) -> str:
    """``86 files: 80 ok, 1 empty, ...; bad: 1 not_root, ...; 15 runs, 62,808 events, 1 gap``.

    With a count cache, what was read and what came from it follows (``; 3 files read, 83
    from the cache``, or that every file was unchanged and the stored tables were reused).
    """
    from lumiaudit.offline.runs import BAD_STATUSES

    statuses: dict[str, int] = summary["statuses"]
    good = [f"{fmt(n)} {s}" for s, n in statuses.items() if s not in BAD_STATUSES]
    bad = [f"{fmt(n)} {s}" for s, n in statuses.items() if s in BAD_STATUSES]
    gaps = summary["gaps"]
    left = summary.get("unassigned") or 0
    cached = summary.get("cached") or 0
    if summary.get("unchanged"):
        cache = "; every file unchanged since the last count of these inputs: tables reused"
    elif cached:
        read = summary.get("read") or 0
        cache = f"; {fmt(read)} file{'s' * (read != 1)} read, {fmt(cached)} from the cache"
    else:
        cache = ""
    return (
        f"{fmt(summary['files'])} files: {', '.join(good) or 'none readable'}; "
        f"bad: {', '.join(bad) or 'none'}; "
        f"{fmt(summary['runs'])} runs, {fmt(summary['events'])} events, "
        f"{fmt(gaps)} gap{'s' * (gaps != 1)}"
        + (f"; WARNING: {fmt(left)} events not assigned to any run" if left else "")
        + cache
    )


_out = click.Path(dir_okay=False, path_type=Path)


@click.command(name="count")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output", type=_out, default=None, help="Files table CSV (default: stdout).")
@click.option("--runs", "runs_path", type=_out, default=None, help="Also write the runs table.")
@click.option("--gaps", "gaps_path", type=_out, default=None, help="Also write the gaps table.")
@click.option(
    "--contributions",
    "contributions_path",
    type=_out,
    default=None,
    help="Also write the per-(file, run) contributions table.",
)
@click.option(
    "--lumis",
    "lumis_path",
    type=_out,
    default=None,
    help="Also write events per (run, lumisection) of the counted files (profiles with "
    "lumisections, e.g. cms-nanoaod).",
)
@profile_option
@click.option("--tree", default=None, help="Name of the event tree (default: the profile's).")
@click.option(
    "--mode",
    type=click.Choice(["auto", "fast", "deep"]),
    default="auto",
    show_default=True,
    help="fast: entries only; deep: + FileMetaData, run split, error flags of every event; "
    "auto: FileMetaData, and EventMetaData only where the run is ambiguous.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Local worker processes (0: one per CPU); never more than the local files or the "
    "usable CPUs (logged when bounded).",
)
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786).")
@click.option(
    "--cluster",
    default=None,
    metavar="KIND:N",
    help="Count on a Dask cluster started for this run: condor:N or slurm:N (N batch jobs; "
    "the [batch] extra) or local:N (N local worker processes); "
    "docs/batch.md.",
)
@click.option(
    "--cluster-timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the first worker of --cluster; then an error, not a hang.",
)
@click.option(
    "--cache",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite count cache: unchanged files are not read again.",
)
@click.option("--include-skims", is_flag=True, help="Count skim files in the per-run totals.")
@runs_option(
    "--select-runs",
    help="Count only these runs, e.g. '101-124,130,^127' or 'e12:101-124' (docs/runlists.md): "
    "files whose name gives another run are not opened; grid files are, and their other "
    "runs are dropped from the runs table. (--runs names the runs-table output here.)",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Accept a source without any ROOT file (default: exit 2 naming it).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds one attempt at one remote (root://, http(s)://) file may take, each request "
    "included; then it is abandoned (io_error 'timed out after N s' once the retries are "
    "spent). A file costs at most (retries + 1) x timeout plus the backoff. [default: 30]",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Retries of a remote read that failed for a network/server reason (backoff 0.5 s, "
    "doubled each time); local files are read once.",
)
@progress_option
@handle_errors
def command(
    paths: tuple[str, ...],
    output: Path | None,
    runs_path: Path | None,
    gaps_path: Path | None,
    contributions_path: Path | None,
    lumis_path: Path | None,
    profile: str | None,
    tree: str | None,
    mode: str,
    jobs: int,
    scheduler: str | None,
    cluster: str | None,
    cluster_timeout: float,
    cache: Path | None,
    include_skims: bool,
    allow_empty: bool,
    runs: Any,
    timeout: float | None,
    retries: int,
    progress: bool | None,
) -> None:
    """Count the events of offline ROOT files (PATH: files, directories, globs, list files, URLs).

    Writes one row per file (status, entries, FileMetaData counts, markers) as CSV; the runs
    and gaps tables on request. A one-line summary goes to stderr; entries that cannot be
    assigned to any run are a warning there.
    """
    from lumiaudit.offline import count_events
    from lumiaudit.profiles import load_profile

    check_output_files(
        [output, runs_path, gaps_path, contributions_path, lumis_path], inputs=paths, kind="csv"
    )
    prof = load_profile(profile)
    if lumis_path is not None and prof.lumis is None:
        msg = (
            f"--lumis needs a profile with lumisections; {prof.name!r} has none "
            "(e.g. --profile cms-nanoaod)"
        )
        raise click.UsageError(msg)
    spec = None
    if cluster is not None:
        from lumiaudit.offline.batch import ClusterSpec

        if scheduler is not None:
            msg = "give either --cluster or --scheduler, not both"
            raise click.UsageError(msg)
        spec = ClusterSpec.parse(cluster)
    with contextlib.ExitStack() as stack:
        client = None
        if spec is not None:
            from lumiaudit.offline.batch import open_cluster

            client = stack.enter_context(open_cluster(spec, start_timeout=cluster_timeout))
        result = count_events(
            list(paths),
            tree=tree,
            mode=mode,
            jobs=jobs,
            scheduler=scheduler,
            client=client,
            cache=cache,
            include_skims=include_skims,
            allow_empty=allow_empty,
            progress=progress_default() if progress is None else progress,
            timeout=timeout,
            retries=retries,
            runs=runs,
            profile=prof,
        )
    if lumis_path is not None:
        from lumiaudit.offline.lumis import count_lumis
        from lumiaudit.schema import READABLE_STATUSES

        counted = result.files[result.files["status"].isin(READABLE_STATUSES)]["path"].astype(str)
        lumis, failed = count_lumis(
            counted.tolist(), profile=prof, jobs=jobs, timeout=timeout, progress=bool(progress)
        )
        _write_csv(lumis, lumis_path)
        if failed:
            echo(
                f"lumiaudit count: WARNING: {len(failed)} files not counted per lumisection "
                f"(first: {failed[0]['path']}: {failed[0]['error']})",
                err=True,
            )
    if runs_path is not None:
        _write_csv(result.runs, runs_path)
    if gaps_path is not None:
        _write_csv(result.gaps, gaps_path)
    if contributions_path is not None:
        _write_csv(result.contributions, contributions_path)
    _write_csv(result.files, output)
    line = summary_line(result.summary())
    skipped = result.stats.get("not_selected")
    if skipped:
        line += f"; {skipped} file{'s' * (skipped != 1)} of unselected runs not opened"
    echo(f"lumiaudit count: {line}", err=True)
