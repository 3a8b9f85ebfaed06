"""Run lists in the peers' formats (golden JSON, GRL XML, IoVs) for ``runlist`` and its
subcommands: one module both import, so that ``cli.runlist`` and ``cli.runlist_ops`` do not
import each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lumiaudit.cli._common import echo

if TYPE_CHECKING:
    import pandas as pd

    from lumiaudit.runsets import RunLumiSet


def _note(text: str) -> None:
    echo(f"lumiaudit runlist: {text}", err=True)


def _render(runs: RunLumiSet, fmt: str, *, name: str) -> str:
    from lumiaudit.runlist_io import format_runlist

    if fmt in ("golden-json", "grl-xml"):
        exps = sorted(e for e in runs.experiments() if e is not None)
        if fmt == "golden-json" and exps:
            # a golden JSON has no place for it: say so rather than drop it unseen
            _note(
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
    return _render(runs, fmt, name=name)
