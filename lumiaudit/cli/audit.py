"""``lumiaudit audit``: compare online and offline counts per run and write the audit directory."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lumiaudit.cli._common import echo, handle_errors, progress_default, progress_option
from lumiaudit.cli.profile import profile_option

F = TypeVar("F", bound=Callable[..., Any])

#: exit code when --fail-on-flagged and a run is flagged
EXIT_FLAGGED = 1

_FOLLOWS = {"full": "error-free (m_errorFlag == 0)", "entries": "tree-entries"}


def run_audit_command(
    *,
    online: tuple[str, ...],
    offline: tuple[str, ...],
    out: Path,
    fail_on_flagged: bool,
    junit: Path | None = None,
    plots: bool = True,
    formats: tuple[str, ...] = ("png", "svg", "pdf"),
    progress: bool | None = None,
    kind: str = "audit",
    **options: Any,
) -> None:
    """Shared body of ``audit`` and ``demo``: audit, write, print the summary, exit."""
    import lumiaudit
    from lumiaudit.store.outdir import check_output, check_output_file

    # before anything is read or counted: an output that is not ours, or an input, is refused
    inputs = [*online, *offline, *(str(options[k]) for k in ("mask", "waivers") if options.get(k))]
    check_output(out, kind=kind, inputs=inputs, what="--out")
    if junit is not None:
        check_output_file(junit, inputs=inputs, what="--junit")
    result = lumiaudit.audit(
        online=list(online),
        offline=list(offline),
        progress=progress_default() if progress is None else progress,
        **options,
    )
    result.write(out, plots=plots, formats=formats, junit=junit, kind=kind)
    echo_summary(result, out)
    flagged = result.flagged
    if "waived" in flagged.columns:
        flagged = flagged[~flagged["waived"].fillna(False).astype(bool)]
    if fail_on_flagged and len(flagged):
        sys.exit(EXIT_FLAGGED)


def echo_summary(result: Any, out: Path) -> None:
    """Print paths on stdout and a readable summary on stderr."""
    t = result.summary.get("totals", {})
    click.echo(str(out))
    statuses = ", ".join(
        f"{k} {v}" for k, v in sorted(result.summary.get("status_counts", {}).items())
    )
    click.echo(
        f"lumiaudit: {t.get('runs')} runs{f' ({statuses})' if statuses else ''}; "
        f"{t.get('runs_flagged')} flagged; "
        f"{t.get('files')} files, {t.get('files_bad')} not readable; online follows the "
        f"{_FOLLOWS.get(str(result.summary.get('follows')), 'offline')} count",
        err=True,
    )
    sources = result.summary.get("stats", {}).get("sources") or {}
    if len(sources) > 1:
        for info in sources.values():
            click.echo(f"lumiaudit: source: {info.get('text')}", err=True)
    lumi = result.summary.get("stats", {}).get("lumi") or {}
    if lumi.get("recorded_nb"):
        click.echo(f"lumiaudit: luminosity: {lumi.get('text')}", err=True)
    rule = result.summary.get("stats", {}).get("flag_rule")
    if rule:
        click.echo(f"lumiaudit: flag rule: {rule}", err=True)
    if not len(result.runs):
        click.echo(f"lumiaudit: warning: {_why_empty(result.summary)}", err=True)
    not_applied = (result.summary.get("mask") or {}).get("ls_not_applied") or []
    if not_applied:
        click.echo(
            f"lumiaudit: warning: mask LS ranges not applied, {len(not_applied)} run"
            f"{'s' * (len(not_applied) != 1)} audited whole: {', '.join(not_applied[:5])}"
            f"{f' and {len(not_applied) - 5} more' if len(not_applied) > 5 else ''} "
            "(summary.json: mask.ls_not_applied)",
            err=True,
        )
    left = (result.summary.get("offline_stats") or {}).get("unassigned") or []
    if left:  # entries of no run: never a silent gap (docs/profiles.md)
        click.echo(
            f"lumiaudit: warning: {sum(r['events'] for r in left)} offline events in "
            f"{len(left)} files not assigned to any run ({left[0]['path']}: {left[0]['reason']})",
            err=True,
        )
    for row in result.flagged.itertuples():
        online = "n/a" if _missing(row.n_online) else f"{int(row.n_online):,}"
        compared = getattr(row, "n_offline_def", row.n_offline)
        offline = "n/a" if _missing(compared) else f"{int(compared):,}"
        echo(
            f"  flagged: e{_int(row.experiment)} r{_int(row.run)} {row.status}: online {online}, "
            f"offline {offline}; {row.reasons}",
            err=True,
        )


def _why_empty(summary: Any) -> str:
    """One line for an audit that matched no run: which selection may have removed them all."""
    options = summary.get("options", {}) if isinstance(summary, dict) else {}
    filters = []
    if options.get("mask"):
        filters.append(f"--mask {options['mask']}")
    if options.get("experiment") is not None:
        filters.append(f"--experiment {options['experiment']}")
    if options.get("runs"):
        filters.append(f"--runs {options['runs']}")
    elif options.get("run_range"):
        first, last = options["run_range"]
        filters.append(f"--runs {first}-{last}")
    if filters:
        return f"no run matched the selection ({', '.join(filters)}); the audit is empty"
    return "no run found in the online or offline inputs; the audit is empty"


def _missing(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def _int(value: Any) -> str:
    return "?" if _missing(value) else str(int(value))


def _parse_runs(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``--runs SPEC``: a bad selection is a usage error (exit 2), not an empty audit."""
    if value is None:
        return None
    from lumiaudit.errors import ParameterError
    from lumiaudit.runselect import RunSelection

    try:
        return RunSelection.parse(value)
    except ParameterError as exc:
        raise click.BadParameter(exc.message.removeprefix("runs: "), ctx=ctx, param=param) from None


def runs_option(*names: str, help: str) -> Callable[[F], F]:
    """A run-selection option (``audit --runs``, ``count --select-runs``)."""
    return click.option(
        *names, "runs", default=None, metavar="SPEC", callback=_parse_runs, help=help
    )


def source_options(*, required: bool) -> Callable[[F], F]:
    """``--online`` and ``--offline`` (repeatable), shared by ``audit`` and ``report``."""

    def decorate(func: F) -> F:
        func = click.option(
            "--offline",
            "offline",
            multiple=True,
            required=required,
            help="Offline ROOT files, directories, globs, list files or URLs. Repeatable.",
        )(func)
        decorated: F = click.option(
            "--online",
            "online",
            multiple=True,
            required=required,
            help="Online source (ELOG logbook dir/file/export, run DB JSON, DAQ catalogue, "
            "CSV, a live rundb+https:// or elog+https:// URL, or an online_snapshots/ dir). "
            "Repeatable.",
        )(func)
        return decorated

    return decorate


def audit_options(func: Any) -> Any:
    """Options shared by ``audit``, ``demo`` and ``report``."""
    opts = [
        click.option(
            "--tree", default=None, help="Name of the event tree (default: the profile's, tree)."
        ),
        click.option(
            "--mode",
            type=click.Choice(["auto", "fast", "deep"]),
            default="auto",
            show_default=True,
            help="auto: FileMetaData and error-free counts, events read where a file spans "
            "runs; deep: events of every file; fast (entries only) is refused by audit/report: "
            "it cannot measure what the comparison needs.",
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Local worker processes (never more than the local files or usable CPUs).",
        ),
        click.option(
            "--scheduler", default=None, help="Dask scheduler address (count on a cluster)."
        ),
        click.option(
            "--cache",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="SQLite count cache: reruns read only new or changed files.",
        ),
        click.option(
            "--policy",
            type=click.Choice(["latest", "first", "max", "error"]),
            default="latest",
            show_default=True,
            help="Which online entry wins when several name the same run.",
        ),
        click.option(
            "--mask",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Run list (golden JSON, GRL XML, basf2 IoVs, JSON, CSV, text): audit only "
            "these runs.",
        ),
        click.option(
            "--waivers",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Waivers file (TOML or CSV): waived runs do not fail --fail-on-flagged.",
        ),
        click.option("--experiment", type=int, default=None, help="Audit only this experiment."),
        runs_option(
            "--runs",
            help="Audit only these runs: ranges, lists, exclusions, experiments, e.g. "
            "'101-124,130,^127' or 'e12:101-124' (docs/runlists.md). Files whose name gives "
            "another run are not opened.",
        ),
        click.option(
            "--mask-ls",
            type=click.Choice(["refuse", "whole-runs"]),
            default="refuse",
            show_default=True,
            help="A --mask run certified for only some lumisections: refuse (error), or audit "
            "it whole (whole-runs; the runs are listed in summary.json and on stderr).",
        ),
        click.option(
            "--include-skims", is_flag=True, help="Count skim files too (they are subsets)."
        ),
        click.option(
            "--strict", is_flag=True, help="Any problem in the online input is fatal (exit 2)."
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=None,
            help="Seconds one attempt at one remote file may take (then abandoned; io_error "
            "once the retries are spent), and the read timeout of live online sources "
            "(rundb+https://, elog+https://). [default: 30 for files, 60 for online]",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            default=3,
            show_default=True,
            help="Retries of a remote read that failed for a network/server reason "
            "(backoff 0.5 s, doubled each time); local files are read once.",
        ),
        progress_option,
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


@click.command(name="audit")
@source_options(required=True)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output directory: absent, empty or an earlier lumiaudit audit (.lumiaudit marker); "
    "swapped in when complete, never an input.",
)
@click.option(
    "--fail-on-flagged", is_flag=True, help="Exit 1 when a run is flagged (and not waived)."
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write JUnit XML: one testcase per run, failures for flagged runs.",
)
@click.option("--no-plots", is_flag=True, help="Skip the plots (faster).")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Accept an offline source without any ROOT file (default: exit 2 naming it).",
)
@click.option(
    "--production",
    default=None,
    metavar="TEXT",
    help="Where a run has several productions (release/DB/proc paths), audit the one whose "
    "path contains TEXT (default: the newest); the others are reported, never summed.",
)
@profile_option
@click.option(
    "--golden",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='Golden JSON {"run": [[first_ls, last_ls], ...]}: lumisections outside are not '
    "audited (profiles with lumisections, e.g. cms-nanoaod).",
)
@audit_options
@handle_errors
def command(
    online: tuple[str, ...],
    offline: tuple[str, ...],
    out: Path,
    fail_on_flagged: bool,
    junit: Path | None,
    no_plots: bool,
    **options: Any,
) -> None:
    """Compare online and offline event counts per run.

    Writes OUT/online.csv, files.csv, runs.csv, summary.json, good_runs.json, bad_runs.json,
    plots/ and more (see the README). Exit 0 when the audit ran, 1 with --fail-on-flagged when
    a run is flagged, 2 on usage or input errors.

    Flag rule: an unexplained difference of more than 5 events and more than 0.1 % of the online
    count is flagged (counts are exact; see docs/statistics.md); explained losses are flagged
    too, differences explained by a non-loss (error-flag definition, off-by-one) are not.

    Example: lumiaudit audit --online elog/ --offline /group/belle2/.../e0010 --out audit/

    CMS NanoAOD: lumiaudit audit --profile cms-nanoaod --online lumis.csv --offline store/
    --golden golden.json --out audit/ (adds lumis.csv and not_finished_lumis.json).
    """
    run_audit_command(
        online=online,
        offline=offline,
        out=out,
        fail_on_flagged=fail_on_flagged,
        junit=junit,
        plots=not no_plots,
        **options,
    )
