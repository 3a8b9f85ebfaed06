"""``lumiaudit audit``: compare online and offline counts per run and write the audit directory."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lumiaudit.cli._common import (
    echo,
    echo_path,
    handle_errors,
    is_stdout,
    progress_default,
    progress_option,
    write_output,
)
from lumiaudit.numbers import fmt

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
    given = ("mask", "waivers", "lumi", "golden")
    inputs = [*online, *offline, *(str(options[k]) for k in given if options.get(k))]
    check_output(out, kind=kind, inputs=inputs, what="--out")
    if junit is not None:
        check_output_file(junit, inputs=inputs, what="--junit", kind="junit")
    junit_to_stdout = junit is not None and is_stdout(junit)  # --junit -: after the directory
    result = lumiaudit.audit(
        online=list(online),
        offline=list(offline),
        progress=progress_default() if progress is None else progress,
        **options,
    )
    result.write(
        out, plots=plots, formats=formats, junit=None if junit_to_stdout else junit, kind=kind
    )
    echo_summary(result, out)
    if junit_to_stdout:
        from lumiaudit.render.tickets import junit_xml

        write_output(junit_xml(result.runs), None)
    flagged = result.flagged
    if "waived" in flagged.columns:
        flagged = flagged[~flagged["waived"].fillna(False).astype(bool)]
    if fail_on_flagged and len(flagged):
        sys.exit(EXIT_FLAGGED)


def echo_summary(result: Any, out: Path) -> None:
    """Print paths on stdout and a readable summary on stderr."""
    t = result.summary.get("totals", {})
    echo_path(out)
    statuses = ", ".join(
        f"{k} {v}" for k, v in sorted(result.summary.get("status_counts", {}).items())
    )
    echo(
        f"lumiaudit: {fmt(t.get('runs'))} runs{f' ({statuses})' if statuses else ''}; "
        f"{fmt(t.get('runs_flagged'))} flagged; "
        f"{fmt(t.get('files'))} files, {fmt(t.get('files_bad'))} not readable"
        + (f", {fmt(t['files_duplicate'])} duplicate" if t.get("files_duplicate") else "")
        + "; the online count follows the "
        f"{_FOLLOWS.get(str(result.summary.get('follows')), 'offline')} count",
        err=True,
    )
    sources = result.summary.get("stats", {}).get("sources") or {}
    if len(sources) > 1:
        for info in sources.values():
            echo(f"lumiaudit: source: {info.get('text')}", err=True)
    lumi = result.summary.get("stats", {}).get("lumi") or {}
    if lumi.get("recorded_nb"):
        echo(f"lumiaudit: luminosity: {lumi.get('text')}", err=True)
    rule = result.summary.get("stats", {}).get("flag_rule")
    if rule:
        echo(f"lumiaudit: flag rule: {rule}", err=True)
    if not len(result.runs):
        echo(f"lumiaudit: warning: {_why_empty(result.summary)}", err=True)
    not_applied = (result.summary.get("mask") or {}).get("ls_not_applied") or []
    if not_applied:
        echo(
            f"lumiaudit: warning: mask LS ranges not applied, {len(not_applied)} run"
            f"{'s' * (len(not_applied) != 1)} audited whole: {', '.join(not_applied[:5])}"
            f"{f' and {len(not_applied) - 5} more' if len(not_applied) > 5 else ''} "
            "(summary.json: mask.ls_not_applied)",
            err=True,
        )
    left = (result.summary.get("offline_stats") or {}).get("unassigned") or []
    if left:  # entries of no run: never a silent gap (docs/profiles.md)
        echo(
            f"lumiaudit: warning: {fmt(sum(r['events'] for r in left))} offline events in "
            f"{len(left)} files not assigned to any run ({left[0]['path']}: {left[0]['reason']})",
            err=True,
        )
    for row in result.flagged.itertuples():
        online = fmt(row.n_online)
        compared = getattr(row, "n_offline_def", row.n_offline)
        offline = fmt(compared)
        echo(
            f"  flagged: {_run_key(row.experiment, row.run)} {row.status}: online {online}, "
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


def _run_key(experiment: Any, run: Any) -> str:
    """``e12 r105``, or ``r381150`` for a run-only key (CMS): never ``e?``."""
    from lumiaudit.numbers import fmt

    run_text = f"r{fmt(run, 'run')}"
    return run_text if _missing(experiment) else f"e{fmt(experiment, 'run')} {run_text}"


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


def audit_options_except(*exclude: str) -> Callable[[F], F]:
    """Options shared by ``audit`` and ``report``: one per :class:`AuditOptions` field but
    ``exclude`` (flags, defaults, help and validation from :mod:`lumiaudit.options`), and
    ``--progress``."""
    from lumiaudit.options import click_options

    def decorate(func: F) -> F:
        return click_options(exclude=exclude)(progress_option(func))

    return decorate


def audit_options(func: F) -> F:
    """Every :class:`AuditOptions` field as an option, and ``--progress``."""
    return audit_options_except()(func)


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
