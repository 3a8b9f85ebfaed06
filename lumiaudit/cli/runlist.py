"""``lumiaudit runlist``: good/bad/ugly run lists and GoodRuns/BadRuns/UglyRuns symlink views."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from lumiaudit.cli._common import handle_errors


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
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="Output format of the run list.",
)
@click.option(
    "--category",
    type=click.Choice(["all", "good", "bad", "ugly"]),
    default="all",
    show_default=True,
    help="Which runs to list (ugly = flagged but explained).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the list to FILE instead of stdout.",
)
@click.option(
    "--symlink-view",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also create DIR/GoodRuns, DIR/BadRuns, DIR/UglyRuns symlinks to the run directories "
    "(idempotent; the data is never touched).",
)
@handle_errors
def command(
    audit_dir: Path, fmt: str, category: str, output: Path | None, symlink_view: Path | None
) -> None:
    """List the audited runs by category (good, bad, ugly) from an audit directory."""
    import pandas as pd

    from lumiaudit.history import read_audit_tables
    from lumiaudit.runlists import classify_runs
    from lumiaudit.runlists import symlink_view as make_view

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
    if category != "all":
        table = table[table["category"] == category]
    if fmt == "csv":
        text = table.to_csv(index=False, na_rep="", lineterminator="\n")
    else:
        recs = [_record(r) for r in table.to_dict("records")]
        text = json.dumps(recs, indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        from lumiaudit._io import write_text

        write_text(output, text)
    counts = table["category"].value_counts().to_dict()
    click.echo(
        "runs: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("good", "ugly", "bad")), err=True
    )
    if symlink_view is not None:
        files = tables.get("files", pd.DataFrame())
        made = make_view(runs, files, symlink_view)
        click.echo(
            f"symlink view {symlink_view}: " + ", ".join(f"{k} {v}" for k, v in made.items()),
            err=True,
        )


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _record(r: dict[Any, Any]) -> dict[str, Any]:
    reasons = r.get("reasons")
    return {
        # a run-only key (profile): the experiment stays null
        "experiment": None if _missing(r["experiment"]) else int(r["experiment"]),
        "run": int(r["run"]),
        "category": str(r["category"]),
        "status": str(r["status"]),
        "reasons": str(reasons).split(";") if isinstance(reasons, str) else [],
    }
