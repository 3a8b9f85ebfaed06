"""``--runs SPEC`` before files are opened: audit, count and the API (issue 15)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import lumiaudit
from lumiaudit.cli import cli
from lumiaudit.offline import count_events

MakeFile = Callable[..., Path]
LAYOUT = "e0012/4S/r{run:05d}/all/mdst/sub00/mdst.physics.0012.{run:05d}.HLT1.f00000.root"
GRID = "e0012/4S/r00000/all/mdst/sub00/mdst_000001_prod00012345_task10020000001.root"


@pytest.fixture
def production(b2_file: MakeFile, tmp_path: Path) -> Path:
    """Runs 101 and 103 readable, run 102 a broken file (opening it would show), and a grid
    file with 5 events of run 101 and 7 of run 102."""
    b2_file(LAYOUT.format(run=101), run=101, n_events=10)
    b2_file(LAYOUT.format(run=103), run=103, n_events=4)
    broken = tmp_path / LAYOUT.format(run=102)
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a ROOT file, and never opened with --runs 101")
    b2_file(GRID, run=np.array([101] * 5 + [102] * 7), n_events=12)
    return tmp_path / "e0012"


def test_selection_is_applied_before_files_are_opened(production: Path) -> None:
    result = count_events(production, runs="e12:101")
    assert result.stats["not_selected"] == 2  # the files of runs 102 and 103
    assert result.stats["read"] == 2  # run 101's file and the grid file (no run in its name)
    names = [Path(p).name for p in result.files["path"]]
    assert not any(".00102." in n or ".00103." in n for n in names)
    assert set(result.files["status"]) == {"ok"}  # the broken run-102 file was not opened
    by_run = dict(zip(result.runs["run"].astype(int), result.runs["n_offline"], strict=True))
    assert by_run == {101: 15}  # the grid file's run-102 events are dropped after counting
    assert set(result.contributions["run"].astype(int)) == {101}


def test_without_selection_everything_is_opened(production: Path) -> None:
    result = count_events(production)
    assert "not_selected" not in result.stats
    assert "not_root" in set(result.files["status"])
    assert set(result.runs["run"].astype(int)) == {101, 102, 103}


def test_count_cli_select_runs(production: Path, tmp_path: Path) -> None:
    runs_csv = tmp_path / "runs.csv"
    result = CliRunner().invoke(
        cli,
        ["count", str(production), "--select-runs", "^102", "--runs", str(runs_csv)],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(runs_csv.read_text(encoding="utf-8"))))
    assert sorted(int(r["run"]) for r in rows) == [101, 103]
    assert "; 1 file of unselected runs not opened" in result.stderr
    bad = CliRunner().invoke(cli, ["count", str(production), "--select-runs", "103-101"])
    assert bad.exit_code == 2
    assert "first run 103 is greater than last run 101" in bad.output


def test_audit_runs_spec(example: dict[str, Path], tmp_path: Path) -> None:
    result = lumiaudit.audit(
        online=example["elog"], offline=example["prod"], runs="101-110,^105,e12:120"
    )
    assert sorted(result.runs["run"].astype(int)) == [101, 102, 103, 104, 106, 107, 108, 109,
                                                       110, 120]  # fmt: skip
    assert result.summary["options"]["runs"] == "101-110,e12:120,^105"
    # the old pair still works and means the same as FIRST-LAST
    old = lumiaudit.audit(online=example["elog"], offline=example["prod"], run_range=(101, 103))
    new = lumiaudit.audit(online=example["elog"], offline=example["prod"], runs="101-103")
    assert old.runs["run"].tolist() == new.runs["run"].tolist() == [101, 102, 103]


def test_audit_cli_runs(example: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "a"
    args = ["audit", "--online", str(example["elog"]), "--offline", str(example["prod"])]
    result = CliRunner().invoke(
        cli, [*args, "--out", str(out), "--no-plots", "--no-progress", "--runs", "e12:104-106"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["totals"]["runs"] == 3
    assert summary["offline_stats"]["not_selected"] > 0
    bad = CliRunner().invoke(cli, [*args, "--out", str(out), "--runs", "1-2-3"])
    assert bad.exit_code == 2
    assert "'1-2-3' is not a run, a range or an experiment" in bad.output
    empty = CliRunner().invoke(
        cli, [*args, "--out", str(tmp_path / "e"), "--no-plots", "--no-progress", "--runs", "9"]
    )
    assert empty.exit_code == 0
    assert "no run matched the selection (--runs 9)" in empty.stderr


@pytest.mark.parametrize("notebook", ["audit_overview", "run_drilldown", "file_health"])
def test_notebooks_take_runs_and_mask_ls(notebook: str, tmp_path: Path) -> None:
    from lumiaudit.report import validate_parameters

    out = validate_parameters(
        notebook,
        {
            "online": [tmp_path],
            "offline": [tmp_path],
            "runs": "e12:101-124,^110",
            "mask_ls": "whole-runs",
        },
    )
    assert out["runs"] == "e12:101-124,^110"
    assert out["mask_ls"] == "whole-runs"


def test_report_refuses_a_bad_selection_before_the_kernel(
    example: dict[str, Path], tmp_path: Path
) -> None:
    args = ["report", "--online", str(example["elog"]), "--offline", str(example["prod"])]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "r"), "--runs", "5-1"])
    assert result.exit_code == 2
    assert "first run 5 is greater than last run 1" in result.output
    from lumiaudit.errors import ParameterError
    from lumiaudit.report import run_report

    with pytest.raises(ParameterError, match="item 1 'x' is not a run"):
        run_report(online=example["elog"], offline=example["prod"], out=tmp_path / "r", runs="x")
    assert not (tmp_path / "r").exists()
