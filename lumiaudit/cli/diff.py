"""``lumiaudit diff``: what changed between two audits."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lumiaudit.cli._common import echo, handle_errors


@click.command(name="diff")
@click.argument("old", type=click.Path(path_type=Path, file_okay=False))
@click.argument("new", type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@handle_errors
def command(old: Path, new: Path, as_json: bool) -> None:
    """Compare audit directories OLD and NEW: newly flagged, resolved and changed runs."""
    from lumiaudit.store.history import diff_audits

    diff = diff_audits(old, new)
    if as_json:
        click.echo(json.dumps(diff.to_dict(), indent=1))
        return
    counts = diff.counts()
    click.echo(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
    for name in ("newly_flagged", "resolved", "changed", "added", "removed"):
        frame = diff[name]
        if len(frame) == 0:
            continue
        click.echo(f"{name.replace('_', ' ')}:")
        for row in frame.to_dict("records"):
            old_s, new_s = row.get("status_old"), row.get("status_new")
            reasons = row.get("reasons_new") if name != "removed" else row.get("reasons_old")
            echo(
                f"  {row['experiment']}/{row['run']}: {_s(old_s)} -> {_s(new_s)}"
                f" (online {_s(row.get('n_online_old'))} -> {_s(row.get('n_online_new'))},"
                f" offline {_s(row.get('n_offline_old'))} -> {_s(row.get('n_offline_new'))})"
                f" {_s(reasons)}"
            )


def _s(value: object) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return "-"
    return str(value)
