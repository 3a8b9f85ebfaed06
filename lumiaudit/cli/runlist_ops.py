"""``lumiaudit runlist and|or|sub|diff A B`` and ``runlist convert A``: run-list algebra at
lumisection granularity on any format (golden JSON, GRL XML, basf2 IoVs, JSON, CSV, text).

``lumiaudit runlist --from AUDIT ...`` (lumiaudit.cli.runlist) stays the command when the first
argument is not one of these subcommands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lumiaudit.cli import runlist as _base
from lumiaudit.cli._common import handle_errors
from lumiaudit.cli.runlist import note as _note
from lumiaudit.cli.runlist import render_runlist as _render

if TYPE_CHECKING:
    from lumiaudit.runsets import RunLumiSet

_FORMATS = ["golden-json", "grl-xml", "iov", "json", "csv"]

#: operation -> (RunLumiSet operator, help)
_OPS = {
    "and": ("__and__", "Runs (lumisections) in both A and B."),
    "or": ("__or__", "Runs (lumisections) in A or B or both."),
    "sub": ("__sub__", "Runs (lumisections) in A and not in B."),
    "diff": ("__xor__", "Runs (lumisections) in exactly one of A and B (symmetric difference)."),
}


class RunlistCommand(click.Group):
    """``runlist``: the audit-directory command, plus the algebra subcommands."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if args and args[0] in self.commands:
            return super().make_context(info_name, args, parent=parent, **extra)
        # the parent group invokes ``sub_ctx.command``: the audit-directory command
        return _base.command.make_context(info_name, args, parent=parent, **extra)


def _emit(text: str, output: Path | None, *, inputs: list[Path]) -> None:
    from lumiaudit.cli._common import check_output_files, write_output

    check_output_files([output], inputs=[str(p) for p in inputs], kind="runlist", what="--output")
    write_output(text, output)


def _summary(runs: RunLumiSet) -> str:
    try:
        listed = list(runs.runs())
    except Exception:  # an open run range: described, not counted
        return runs.describe()
    partial = sum(1 for *_, lumis in listed if lumis != "all")
    return f"{len(listed)} runs" + (f" ({partial} with lumisection ranges)" if partial else "")


def _load(path: Path, experiment: int | None) -> RunLumiSet:
    from lumiaudit.runlist_io import read_runlist

    runs = read_runlist(path)
    return runs if experiment is None else runs.with_experiment(experiment)


def _out_format(fmt: str | None, path: Path) -> str:
    if fmt is not None:
        return fmt
    from lumiaudit.runlist_io import detect_format

    detected = detect_format(path.read_text(encoding="utf-8", errors="replace"))
    return "json" if detected == "text" else detected


_common = [
    click.option(
        "--format",
        "fmt",
        type=click.Choice(_FORMATS),
        default=None,
        help="Output format (default: the format of A; plain text becomes json).",
    ),
    click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Write the run list to FILE instead of stdout (`-`: stdout).",
    ),
    click.option(
        "--experiment",
        type=int,
        default=None,
        help="Experiment of the runs of lists that name none (golden JSON, GRL, text).",
    ),
    click.option(
        "--name", default="lumiaudit", show_default=True, help="<Name> of a GRL XML output."
    ),
]


def _with_common(func: Any) -> Any:
    for opt in reversed(_common):
        func = opt(func)
    return func


@click.group(name="runlist", cls=RunlistCommand)
def command() -> None:
    """Run lists: from an audit directory (--from AUDIT) or run-list algebra."""


def _make_op(op: str, method: str, help_text: str) -> None:
    @command.command(name=op, help=f"{help_text} A and B are run lists in any format.")
    @click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.argument("b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @_with_common
    @handle_errors
    def run(
        a: Path, b: Path, fmt: str | None, output: Path | None, experiment: int | None, name: str
    ) -> None:
        left, right = _load(a, experiment), _load(b, experiment)
        result = getattr(left, method)(right)
        _emit(_render(result, _out_format(fmt, a), name=name), output, inputs=[a, b])
        _note(f"{op}: A {_summary(left)}, B {_summary(right)} -> {_summary(result)}")


for _op, (_method, _help) in _OPS.items():
    _make_op(_op, _method, _help)


@command.command(name="convert")
@click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_with_common
@handle_errors
def convert(
    a: Path, fmt: str | None, output: Path | None, experiment: int | None, name: str
) -> None:
    """Write run list A in another format (e.g. a golden JSON as basf2 IoVs)."""
    runs = _load(a, experiment)
    _emit(_render(runs, _out_format(fmt, a), name=name), output, inputs=[a])
    _note(f"convert: {_summary(runs)}")
