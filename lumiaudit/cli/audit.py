"""``lumiaudit audit``: compare online and offline counts per run and write the audit directory."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lumiaudit.cli._common import handle_errors, progress_default, progress_option
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
    **options: Any,
) -> None:
    """Shared body of ``audit`` and ``demo``: audit, write, print the summary, exit."""
    import lumiaudit

    result = lumiaudit.audit(
        online=list(online),
        offline=list(offline),
        progress=progress_default() if progress is None else progress,
        **options,
    )
    result.write(out, plots=plots, formats=formats, junit=junit)
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
    if not len(result.runs):
        click.echo(f"lumiaudit: warning: {_why_empty(result.summary)}", err=True)
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
        click.echo(
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
    if options.get("run_range"):
        first, last = options["run_range"]
        filters.append(f"--runs {first} {last}")
    if filters:
        return f"no run matched the selection ({', '.join(filters)}); the audit is empty"
    return "no run found in the online or offline inputs; the audit is empty"


def _missing(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def _int(value: Any) -> str:
    return "?" if _missing(value) else str(int(value))


def _check_run_range(
    ctx: click.Context, param: click.Parameter, value: tuple[int, int] | None
) -> tuple[int, int] | None:
    """``--runs FIRST LAST``: FIRST > LAST is a usage error, not an empty audit."""
    if value is not None and value[0] > value[1]:
        raise click.BadParameter(
            f"FIRST ({value[0]}) is greater than LAST ({value[1]}); give FIRST <= LAST",
            ctx=ctx,
            param=param,
        )
    return value


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
            help="fast: entries only; deep: also FileMetaData, run split and error flags; "
            "auto: deep where it is needed.",
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Local workers.",
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
            help="Run list (JSON or CSV): audit only these runs.",
        ),
        click.option(
            "--waivers",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Waivers file (TOML or CSV): waived runs do not fail --fail-on-flagged.",
        ),
        click.option("--experiment", type=int, default=None, help="Audit only this experiment."),
        click.option(
            "--runs",
            "run_range",
            type=(int, int),
            default=None,
            metavar="FIRST LAST",
            callback=_check_run_range,
            help="Audit only runs FIRST..LAST (inclusive, FIRST <= LAST).",
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
            help="Seconds before one file is given up as io_error.",
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
    help="Output directory (replaced atomically when complete).",
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
