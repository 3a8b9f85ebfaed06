"""``lumiaudit report``: execute a notebook template into an executed notebook and HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lumiaudit.cli._common import echo, echo_path, handle_errors, progress_default
from lumiaudit.cli.audit import audit_options_except, source_options


def _parse_value(text: str) -> Any:
    """A parameter value: JSON if it parses (3041, 1.5, true, [1, 2], {"z_fail": 6}), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@click.command(name="report")
@source_options(required=False)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Report directory (required): absent, empty or an earlier lumiaudit report "
    "(.lumiaudit marker); built beside it and swapped in when complete.",
)
@click.option(
    "--audit",
    "audit_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Render this stored audit directory (lumiaudit audit --out DIR) without recounting "
    "(the notebook's audit_dir parameter).",
)
@click.option(
    "--notebook",
    default="audit_overview",
    show_default=True,
    help="Template (audit_overview, run_drilldown, file_health) or path of a notebook.",
)
@click.option(
    "-p",
    "--parameter",
    "parameters",
    type=(str, str),
    multiple=True,
    metavar="NAME VALUE",
    help="Notebook parameter (VALUE read as JSON if it parses, else as text), e.g. "
    "-p run 3041 or -p audit_dir reports/audit. Repeatable.",
)
@click.option(
    "--kernel", "kernel_name", default=None, help="Jupyter kernel (default: the notebook's)."
)
@click.option("--no-html", is_flag=True, help="Do not write the HTML page.")
@click.option(
    "--cell-timeout",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds one notebook cell may run (default: no limit).",
)
@click.option(
    "--list-parameters",
    is_flag=True,
    help="Print the notebook's parameters (name, type, default, help) and exit.",
)
# the AuditOptions fields that are not notebook parameters
@audit_options_except("allow_empty", "production", "experiment_label")
@handle_errors
def command(
    online: tuple[str, ...],
    offline: tuple[str, ...],
    out: Path | None,
    audit_dir: Path | None,
    notebook: str,
    parameters: tuple[tuple[str, str], ...],
    kernel_name: str | None,
    no_html: bool,
    cell_timeout: float | None,
    list_parameters: bool,
    progress: bool | None,
    **options: Any,
) -> None:
    """Execute a notebook template with papermill and write an HTML report.

    OUT receives the audit directory (CSV tables, plots/, summary.json), the executed
    notebook (summary.json also in its metadata) and NOTEBOOK.html: no code cells, images
    embedded, opens offline. Parameters are checked before the kernel starts. Exit 0 when
    the report was written, 2 on a bad parameter, a missing input or a failing cell (the
    partially executed notebook is kept in OUT with the error visible).

    Example: lumiaudit report --online data/example/elog --offline data/example/prod
    --out reports/example/

    Or, from an audit written before: lumiaudit report --audit audit/ --out reports/audit/
    """
    from lumiaudit.report import notebook_parameters, run_report

    if list_parameters:
        for param in notebook_parameters(notebook).values():
            click.echo(f"{param.name}: {param.annotation} = {param.default!r}  # {param.help}")
        return
    if out is None:
        msg = "Missing option '--out'."
        raise click.UsageError(msg)
    # only options given on the command line: the notebook's defaults stay in charge otherwise
    ctx = click.get_current_context()
    given = {
        name: value
        for name, value in options.items()
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    }
    if given.get("runs") is not None:
        given["runs"] = str(given["runs"])  # a notebook parameter is plain text
    extra = {name: _parse_value(value) for name, value in parameters}
    stored = None
    if audit_dir is not None:
        from lumiaudit.store.audit_dir import require_audit_dir

        stored = require_audit_dir(audit_dir)
    result = run_report(
        online=list(online) or None,
        offline=list(offline) or None,
        out=out,
        audit_dir=stored,
        notebook=notebook,
        parameters=extra,
        kernel_name=kernel_name,
        html=not no_html,
        progress=progress_default() if progress is None else progress,
        cell_timeout=cell_timeout,
        **given,
    )
    echo_path(result.out_dir)
    if result.html is not None:
        echo_path(result.html)
    echo_path(result.notebook)
    if result.summary:
        from lumiaudit.pipeline import Audit

        audit = Audit.load(result.out_dir if audit_dir is None else audit_dir)
        from lumiaudit.render.firstscreen import verdict

        echo(f"lumiaudit report: {verdict(audit.summary, audit.runs, audit.funnel).text}", err=True)
