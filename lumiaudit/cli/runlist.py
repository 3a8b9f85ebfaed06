"""``lumiaudit runlist``: good/bad/ugly run lists and GoodRuns/BadRuns/UglyRuns symlink views."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lumiaudit.cli._common import handle_errors, is_stdout, write_output

if TYPE_CHECKING:
    import pandas as pd

    from lumiaudit.runsets import RunLumiSet


@click.command(name="runlist")
@click.option(
    "--from",
    "audit_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Audit directory written by `lumiaudit audit --out DIR`.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "golden-json", "grl-xml", "iov"]),
    default="json",
    show_default=True,
    help="Output format: lumiaudit json/csv (with category, status, reasons), CMS golden-json, "
    "ATLAS grl-xml or basf2 iov (docs/runlists.md).",
)
@click.option(
    "--list",
    "--category",
    "category",
    type=click.Choice(["all", "good", "bad", "ugly"]),
    default=None,
    help="Which runs to list (ugly = flagged but explained). Default: all for json/csv, good "
    "for golden-json/grl-xml/iov.",
)
@click.option(
    "--experiment",
    type=int,
    default=None,
    help="Only this experiment (golden JSON and GRL XML hold one experiment).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the list to FILE instead of stdout (`-`: stdout).",
)
@click.option(
    "--symlink-view",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also create DIR/GoodRuns, DIR/BadRuns, DIR/UglyRuns symlinks to the run directories "
    "(idempotent; only links recorded in DIR/.lumiaudit are ever removed; a symlinked view "
    "directory is never followed; the data is never touched).",
)
@handle_errors
def command(
    audit_dir: Path,
    fmt: str,
    category: str | None,
    experiment: int | None,
    output: Path | None,
    symlink_view: Path | None,
) -> None:
    """List the audited runs by category (good, bad, ugly) from an audit directory.

    Also `lumiaudit runlist and|or|sub|diff A B` and `lumiaudit runlist convert A` on run
    lists in any format (see `lumiaudit runlist and --help`).
    """
    import pandas as pd

    from lumiaudit.runlists import classify_runs
    from lumiaudit.store.history import read_audit_tables
    from lumiaudit.store.outdir import check_output, check_output_file
    from lumiaudit.store.runlists import run_records
    from lumiaudit.store.runlists import symlink_view as make_view

    if output is not None:
        check_output_file(output, inputs=[audit_dir], what="--output", kind="runlist")
    if symlink_view is not None:
        check_output(
            symlink_view, kind="views", inputs=[audit_dir], what="--symlink-view directory"
        )
    tables = read_audit_tables(audit_dir)
    runs = tables["runs"]
    cats = classify_runs(runs)
    table = pd.DataFrame(
        {
            "experiment": runs["experiment"].astype("Int64"),
            "run": runs["run"].astype("Int64"),
            "category": cats,
            "status": runs["status"].astype("string"),
            "reasons": runs["reasons"].astype("string") if "reasons" in runs else pd.NA,
        }
    )
    table = table[table["category"].notna()]
    if category is None:
        category = "all" if fmt in ("json", "csv") else "good"
    if experiment is not None:
        table = table[table["experiment"] == experiment]
    # the summary counts every category of the audit, whichever list is written
    counts = table["category"].value_counts().to_dict()
    if category != "all":
        table = table[table["category"] == category]
    if fmt == "csv":
        from lumiaudit.store.tables import write_csv

        write_csv(table, output)
    else:
        if fmt == "json":
            # the records of the audit's good_runs.json / bad_runs.json (lumiaudit.store)
            recs = run_records(runs.loc[table.index], table["category"])
            text = json.dumps(recs, indent=1) + "\n"
        else:
            text = peer_text(table, fmt, name=f"{audit_dir.name} {category} runs")
        write_output(text, output)
    where = "stdout" if is_stdout(output) else str(output)
    scope = "" if experiment is None else f" of experiment {experiment}"
    click.echo(
        f"runs{scope}: "
        + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("good", "ugly", "bad"))
        + f"; wrote {category} ({len(table)} runs, {fmt}) to {where}",
        err=True,
    )
    if symlink_view is not None:
        files = tables.get("files", pd.DataFrame())
        made = make_view(runs, files, symlink_view, inputs=[audit_dir])
        click.echo(
            f"symlink view {symlink_view}: " + ", ".join(f"{k} {v}" for k, v in made.items()),
            err=True,
        )


def note(text: str) -> None:
    """A ``lumiaudit runlist:`` remark on stderr."""
    click.echo(f"lumiaudit runlist: {text}", err=True)


def render_runlist(runs: RunLumiSet, fmt: str, *, name: str) -> str:
    """``runs`` in a peer format, saying what the format cannot hold (golden JSON: experiment)."""
    from lumiaudit.runlist_io import format_runlist

    if fmt in ("golden-json", "grl-xml"):
        exps = sorted(e for e in runs.experiments() if e is not None)
        if fmt == "golden-json" and exps:
            # a golden JSON has no place for it: say so rather than drop it unseen
            note(
                f"golden JSON has no experiment field: experiment {exps[0]} is not written "
                "(read it back with --experiment)"
            )
    return format_runlist(runs, fmt, name=name)


def peer_text(table: pd.DataFrame, fmt: str, *, name: str) -> str:
    """An audit's run table (``experiment``, ``run``) as a golden JSON, GRL or IoV text."""
    from lumiaudit.runsets import RunLumiSet

    runs = RunLumiSet.from_runs(
        (int(e), int(r)) for e, r in zip(table["experiment"], table["run"], strict=True)
    )
    return render_runlist(runs, fmt, name=name)
