"""``lumiaudit ticket``: Markdown / Jira snippets about flagged runs of a written audit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lumiaudit.cli._common import handle_errors, write_output

if TYPE_CHECKING:
    import pandas as pd


def _load(audit_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read runs, files, gaps and summary of an audit directory (through ``Audit.load``)."""
    from lumiaudit.pipeline import Audit

    result = Audit.load(audit_dir)
    return result.runs, result.files, result.gaps, dict(result.summary)


def _plot_names(audit_dir: Path) -> list[str]:
    plots = audit_dir / "plots"
    if not plots.is_dir():
        return []
    return sorted(p.name for p in plots.iterdir() if p.suffix == ".png")


@click.command(name="ticket")
@click.option(
    "--audit",
    "audit_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Audit directory written by `lumiaudit audit --out DIR`.",
)
@click.option(
    "--run",
    "run_numbers",
    multiple=True,
    type=int,
    help="Run to include (repeatable; default: all flagged runs).",
)
@click.option(
    "--experiment", type=int, default=None, help="Only runs of this experiment (default: all)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "jira", "both"]),
    default="both",
    show_default=True,
    help="Markup to write: Markdown (GitHub/GitLab), Jira wiki markup, or both.",
)
@click.option(
    "--per-run/--summary",
    "per_run",
    default=False,
    help="One snippet per run, or one summary snippet for all selected runs (default).",
)
@click.option(
    "--max-files",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="At most this many rows in the affected-files and gaps tables.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE instead of stdout (`-`: stdout).",
)
@handle_errors
def command(
    audit_dir: Path,
    run_numbers: tuple[int, ...],
    experiment: int | None,
    fmt: str,
    per_run: bool,
    max_files: int,
    output: Path | None,
) -> None:
    """Write ticket-ready snippets (run table, reasons with event amounts, affected files,
    plots to attach) for the flagged runs of an audit, or for the runs given with --run."""
    from lumiaudit.render.tickets import jira_snippet, markdown_snippet, select_runs

    if output is not None:
        from lumiaudit.store.outdir import check_output_file

        check_output_file(output, inputs=[audit_dir], what="--output", kind="ticket")
    runs, files, gaps, summary = _load(audit_dir)
    selected = select_runs(runs, run_numbers or None, experiment=experiment)
    plots = _plot_names(audit_dir)
    groups = [selected.iloc[[i]] for i in range(len(selected))] if per_run else [selected]
    if per_run and not groups:
        groups = [selected]
    makers = {"markdown": [markdown_snippet], "jira": [jira_snippet]}.get(
        fmt, [markdown_snippet, jira_snippet]
    )
    parts = []
    for make in makers:
        for group in groups:
            parts.append(
                make(
                    group, files=files, gaps=gaps, plots=plots, summary=summary, max_files=max_files
                )
            )
    separator = "\n" + "-" * 72 + "\n\n" if fmt == "both" or per_run else ""
    text = separator.join(parts)
    write_output(text, output, untrusted=True)
