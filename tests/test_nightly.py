"""Nightly: configuration, lock, dated reports, incremental counting, diff, waivers, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from lumiaudit.cli import cli
from lumiaudit.errors import ConfigError, NightlyLockedError
from lumiaudit.nightly import (
    LATEST,
    RESULT_NAME,
    NightlyResult,
    read_config,
    run_nightly,
)

REPO = Path(__file__).resolve().parents[1]
#: run directories held back on the first night and delivered before the second
LATE_RUNS = ("r00105", "r00110")
WAIVED_RUN = 119


def _write_config(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


# ------------------------------------------------------------------ configuration


def test_example_config_reads_and_points_at_the_bundled_example() -> None:
    cfg = read_config(REPO / "examples" / "nightly.toml")
    assert cfg.online == [str(REPO / "data" / "example" / "elog")]
    assert cfg.offline == [str(REPO / "data" / "example" / "prod")]
    assert cfg.reports == REPO / "reports" / "nightly"
    assert cfg.audit["jobs"] >= 1
    assert cfg.notebook == "audit_overview"


def test_relative_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    cfg = read_config(
        _write_config(
            tmp_path / "n.toml",
            '[nightly]\nonline = "elog"\noffline = ["a", "root://h//b"]\nreports = "r"\n'
            'cache = "/var/c.sqlite"\n[audit]\njobs = 3\n[audit.thresholds]\nz_fail = 6.0\n',
        )
    )
    assert cfg.online == [str(tmp_path / "elog")]
    assert cfg.offline == [str(tmp_path / "a"), "root://h//b"]
    assert cfg.reports == tmp_path / "r"
    assert cfg.cache == Path("/var/c.sqlite")
    assert cfg.audit == {"jobs": 3, "thresholds": {"z_fail": 6.0}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[nightly]\nonline = [\n", "not valid TOML"),
        ('[nightly]\nonline = "a"\noffline = "b"\nreport = "r"\n', "unknown key 'report'"),
        ('[nightly]\nonline = "a"\noffline = "b"\n', "needs 'reports'"),
        ("[audit]\njobs = 1\n", "missing [nightly] table"),
        ('[nightly]\nonline = 3\noffline = "b"\nreports = "r"\n', "online must be a path"),
        ('[nightly]\nonline = "a"\noffline = "b"\nreports = "r"\n[other]\n', "unknown table"),
    ],
)
def test_bad_configs_name_file_and_cause(tmp_path: Path, body: str, message: str) -> None:
    path = _write_config(tmp_path / "bad.toml", body)
    with pytest.raises(ConfigError) as err:
        read_config(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    path = _write_config(tmp_path / "bad.toml", '[nightly]\nonline = "a"\noffline = b\n')
    with pytest.raises(ConfigError, match="line 3"):
        read_config(path)


def test_bad_audit_parameter_is_a_config_error_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "elog").mkdir()
    path = _write_config(
        tmp_path / "n.toml",
        '[nightly]\nonline = "elog"\noffline = "elog"\nreports = "r"\n[audit]\njobz = 2\n',
    )
    with pytest.raises(ConfigError, match="unknown parameter 'jobz'"):
        run_nightly(path)
    assert not list((tmp_path / "r").glob("20*"))  # no dated report for a refused run
    result = CliRunner().invoke(cli, ["nightly", "--config", str(path)])
    assert result.exit_code == 2
    assert "jobz" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ two nights


@dataclass
class Nights:
    config: Path
    reports: Path
    prod: Path
    refused: NightlyLockedError
    refused_cli: Result
    first: NightlyResult
    second_cli: Result
    late_files: int


def _hold_lock(reports: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the nightly lock for ``seconds``."""
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom lumiaudit.nightly import _locked\n"
        "with _locked(Path(sys.argv[1]), wait=False):\n"
        "    print('locked', flush=True)\n    time.sleep(float(sys.argv[2]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(reports), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture(scope="module")
def nights(example: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Nights:
    root = tmp_path_factory.mktemp("nightly")
    prod = root / "prod"
    shutil.copytree(example["prod"], prod, symlinks=True)
    held_back = root / "held-back"
    late_dirs = [d for d in prod.rglob("r0*") if d.is_dir() and d.name in LATE_RUNS]
    assert len(late_dirs) == len(LATE_RUNS)
    late_files = sum(1 for d in late_dirs for _ in d.rglob("*.root"))
    for d in late_dirs:
        target = held_back / d.relative_to(prod)
        target.parent.mkdir(parents=True, exist_ok=True)
        d.rename(target)
    waivers = root / "waivers.csv"
    waivers.write_text(
        f"experiment,run,reason,note,owner,expiry\n12,{WAIVED_RUN},*,known DAQ loss,shifter,\n",
        encoding="utf-8",
    )
    config = _write_config(
        root / "nightly.toml",
        f'[nightly]\nonline = ["{example["elog"]}"]\noffline = ["prod"]\nreports = "reports"\n'
        'waivers = "waivers.csv"\n',
    )
    reports = root / "reports"
    reports.mkdir()
    holder = _hold_lock(reports, 3.0)
    try:
        with pytest.raises(NightlyLockedError) as refused:
            run_nightly(config)
        refused_cli = CliRunner().invoke(cli, ["nightly", "--config", str(config)])
        # the first night waits for the other run to finish
        first = run_nightly(config, wait=True, now=datetime(2026, 11, 28, 2, 30, tzinfo=UTC))
    finally:
        holder.wait(timeout=30)
        assert holder.stdout is not None
        holder.stdout.close()
    for d in held_back.rglob("r0*"):
        if d.is_dir() and d.name in LATE_RUNS:
            target = prod / d.relative_to(held_back)
            d.rename(target)
    second_cli = CliRunner().invoke(cli, ["nightly", "--config", str(config)])
    return Nights(config, reports, prod, refused.value, refused_cli, first, second_cli, late_files)


def _runs(report: Path) -> pd.DataFrame:
    return pd.read_csv(report / "runs.csv", keep_default_na=False, na_values=[""])


def _flagged(report: Path) -> set[tuple[int, int]]:
    runs = _runs(report)
    flagged = runs["flagged"].astype(str).str.lower() == "true"
    return {(int(e), int(r)) for e, r in runs.loc[flagged, ["experiment", "run"]].to_numpy()}


def _keys(rows: list[dict[str, Any]]) -> set[tuple[int, int]]:
    return {(int(r["experiment"]), int(r["run"])) for r in rows}


def _second(n: Nights) -> tuple[Path, dict[str, Any]]:
    assert n.second_cli.exit_code in (0, 1), n.second_cli.output
    latest = (n.reports / LATEST).resolve()
    return latest, json.loads((latest / RESULT_NAME).read_text(encoding="utf-8"))


@pytest.mark.slow
def test_a_concurrent_run_is_refused_by_the_lock(nights: Nights) -> None:
    message = str(nights.refused)
    assert "another nightly run holds the lock (pid " in message
    assert "--wait" in message
    assert nights.refused_cli.exit_code == 2
    assert "holds the lock" in nights.refused_cli.output
    assert "Traceback" not in nights.refused_cli.output


@pytest.mark.slow
def test_two_nights_make_two_dated_reports_and_move_latest(nights: Nights) -> None:
    dated = sorted(p for p in nights.reports.iterdir() if p.name.startswith("20"))
    assert len(dated) == 2
    assert dated[0].name == "2026-11-28T023000Z"
    assert nights.first.report_dir == dated[0]
    latest, record = _second(nights)
    assert latest == dated[1]
    assert (nights.reports / LATEST).is_symlink()
    assert not (nights.reports / LATEST).readlink().is_absolute()
    assert record["previous"] == dated[0].name
    for report in dated:
        assert (report / "audit_overview.html").is_file()
        assert (report / "summary.json").is_file()
    assert nights.second_cli.output.splitlines()[0] == str(latest)


@pytest.mark.slow
def test_second_night_counts_only_the_new_files(nights: Nights) -> None:
    first_files = len(pd.read_csv(nights.first.report_dir / "files.csv"))
    assert nights.first.cache["hits"] == 0
    assert nights.first.cache["counted"] == first_files
    latest, record = _second(nights)
    second_files = len(pd.read_csv(latest / "files.csv"))
    assert second_files == first_files + nights.late_files
    assert record["cache"]["files"] == second_files
    assert record["cache"]["hits"] == first_files
    assert record["cache"]["counted"] == nights.late_files


@pytest.mark.slow
def test_first_night_alerts_on_every_flag_except_the_waived_run(nights: Nights) -> None:
    first = nights.first
    flagged = _flagged(first.report_dir)
    assert first.exit_code == 1
    assert _keys(first.newly_flagged) == flagged
    runs = _runs(first.report_dir)
    waived = runs[runs["run"] == WAIVED_RUN]
    assert str(waived["waived"].iloc[0]).lower() == "true"
    assert (12, WAIVED_RUN) not in _keys(first.newly_flagged)
    # the held-back runs have an online count and no files: flagged on the first night
    for name in LATE_RUNS:
        assert (12, int(name[1:])) in flagged


@pytest.mark.slow
def test_second_night_lists_what_changed(nights: Nights) -> None:
    latest, record = _second(nights)
    before, after = _flagged(nights.first.report_dir), _flagged(latest)
    assert _keys(record["resolved"]) == before - after
    assert _keys(record["newly_flagged"]) == after - before
    assert nights.second_cli.exit_code == (1 if after - before else 0)
    assert record["exit_code"] == nights.second_cli.exit_code
    # a run delivered late and fine is resolved; one delivered with a broken file changed
    assert _keys(record["resolved"])
    changed = _keys(record["changed"])
    assert changed
    for experiment, run in _keys(record["resolved"]):
        assert f"resolved: e{experiment} r{run}" in nights.second_cli.output
    for experiment, run in changed:
        assert f"changed: e{experiment} r{run}" in nights.second_cli.output


def test_binary_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nightly.toml"
    path.write_bytes(b"[nightly]\n" + bytes(range(128, 256)))
    with pytest.raises(ConfigError, match=r"nightly\.toml: not a text configuration \(byte 10 "):
        read_config(path)
    result = CliRunner().invoke(cli, ["nightly", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {path}: not a text configuration (byte 10 is not UTF-8) (expected TOML)"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["cut", "garbled"])
def test_a_damaged_previous_night_skips_the_diff_and_tonight_lands(
    example: dict[str, Path], tmp_path: Path, damage: str
) -> None:
    """Last night's runs.csv cut or garbled: a warning naming it, tonight's report, latest moved."""
    from lumiaudit.store.outdir import write_marker

    reports = tmp_path / "reports"
    previous = reports / "2026-11-27T023000Z"
    previous.mkdir(parents=True)
    write_marker(reports, "nightly")
    write_marker(previous, "report")
    if damage == "cut":
        (previous / "runs.csv").write_text('experiment,run,status\n12,"105', encoding="utf-8")
    else:
        (previous / "runs.csv").write_bytes(bytes(range(256)) * 4)
    (reports / LATEST).symlink_to(previous.name)
    config = _write_config(
        tmp_path / "nightly.toml",
        f'[nightly]\nonline = ["{example["elog"]}"]\noffline = ["{example["prod"]}"]\n'
        'reports = "reports"\nhtml = false\n',
    )
    result = CliRunner().invoke(cli, ["nightly", "--config", str(config)])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert f"no diff: {previous / 'runs.csv'}" in result.output
    # no "N newly flagged ... since <date>": there was no diff to count them against
    assert f"since {previous.name}" not in result.output
    tonight = (reports / LATEST).resolve()
    assert tonight != previous.resolve()
    record = json.loads((tonight / RESULT_NAME).read_text(encoding="utf-8"))
    assert record["status"] == "ok"
    assert str(previous / "runs.csv") in record["diff_skipped"]
    assert record["newly_flagged"], "without a diff every flagged run alerts"
    assert (
        f"no diff tonight (previous report damaged): {len(record['newly_flagged'])} flagged"
        in result.output
    )
    assert (tonight / ".lumiaudit").is_file()


# (the [audit] line, what the one-line error names): each refused before anything is created
REFUSED_AUDIT = [
    ('mode = "sideways"', "mode: 'sideways' is not one of auto, fast, deep"),
    ('mode = "fast"', "mode 'fast' counts tree entries only"),
    ("jobs = -3", "jobs: -3 is below the minimum 1"),
    ('jobs = "2"', "jobs: expected an integer"),
    ('cache = "thesis.tex"', "not a lumiaudit count cache"),
    ('policy = "newest"', "policy: 'newest' is not one of"),
    ("run_range = [9, 3]", "run_range: first run 9 is greater than last run 3"),
    ('runs = "10-x"', "runs:"),
    ("thresholds = { z_fial = 6 }", "unknown threshold 'z_fial'"),
    ('mask = "no-such.json"', "no-such.json"),
]


@pytest.mark.parametrize(("line", "message"), REFUSED_AUDIT)
def test_refused_audit_table_creates_nothing(tmp_path: Path, line: str, message: str) -> None:
    """A bad [audit] value is refused (exit 2, one line naming the file) before the reports
    directory, its marker, its lock or any kernel exists; inputs are left as they were."""
    (tmp_path / "elog").mkdir()
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("\\documentclass{book}\n", encoding="utf-8")
    path = _write_config(
        tmp_path / "n.toml",
        f'[nightly]\nonline = "elog"\noffline = "elog"\nreports = "reps3"\n[audit]\n{line}\n',
    )
    result = CliRunner().invoke(cli, ["nightly", "--config", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "n.toml" in lines[0]
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "reps3").exists()
    assert thesis.read_text(encoding="utf-8") == "\\documentclass{book}\n"


def test_audit_keys_of_the_config_are_the_audit_options(tmp_path: Path) -> None:
    """Every TOML-able AuditOptions field that is a notebook parameter is accepted in [audit]."""
    from lumiaudit.options import AuditOptions
    from lumiaudit.report import notebook_parameters

    # the report audits in the calling process (issue 12): the audit options are the report's,
    # none is a notebook parameter any more
    spec = notebook_parameters("audit_overview")
    assert not AuditOptions.names(toml=True) & set(spec)
    (tmp_path / "elog").mkdir()
    body = '[nightly]\nonline = "elog"\noffline = "elog"\nreports = "r"\n[audit]\n'
    body += 'mode = "deep"\njobs = 2\nretries = 0\ntimeout = 5.0\nmask_ls = "whole-runs"\n'
    cfg = read_config(_write_config(tmp_path / "n.toml", body))
    assert cfg.audit == {
        "mode": "deep",
        "jobs": 2,
        "retries": 0,
        "timeout": 5.0,
        "mask_ls": "whole-runs",
    }
