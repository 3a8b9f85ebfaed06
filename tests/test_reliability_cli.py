"""Reliability: every CLI command meets bad options and paths with exit 2 and one line.

Checked in-process with click's CliRunner and, for a few cases, through a real subprocess of
the console script (or ``python -c`` calling ``lumiaudit.cli.main`` when it is not installed).
Paths contain spaces and non-ASCII characters throughout.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lumiaudit.cli import COMMANDS, cli
from tests.support.faults import cli_argv

pytestmark = pytest.mark.reliability

REPO = Path(__file__).parent.parent
WEIRD = "Ünïcödé run dir"


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, catch_exceptions=True)


def _one_error_line(result: Result) -> str:
    """The single error line of a failed command (click usage errors add a usage header)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    text = result.output
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("Usage:"):
        lines = [line for line in lines if line.startswith("Error:")]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture(scope="module")
def weird(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example production and an audit of it, under a path with spaces and umlauts."""
    from lumiaudit.example import make_example

    base = tmp_path_factory.mktemp("cli") / WEIRD
    paths = make_example(base / "example data")
    out = base / "audit out"
    result = _invoke(
        [
            "audit",
            "--online",
            str(paths["elog"]),
            "--offline",
            str(paths["prod"]),
            "--out",
            str(out),
            "--no-plots",
            "--no-progress",
        ]
    )
    assert result.exit_code == 0, result.output
    return {**paths, "base": base, "audit": out}


def test_every_command_is_covered() -> None:
    assert set(COMMANDS) == set(MISSING) | {"demo"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unknown_option(command: str) -> None:
    result = _invoke([command, "--no-such-option"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "--no-such-option" in line


def _missing(tmp: Path) -> str:
    return str(tmp / WEIRD / "nowhere at all" / "missing ü.root")


#: command -> arguments naming a missing input (``{missing}``) and a writable output (``{out}``)
MISSING: dict[str, list[str]] = {
    "online": ["{missing}"],
    "count": ["{missing}"],
    "audit": ["--online", "{missing}", "--offline", "{missing}", "--out", "{out}", "--no-plots"],
    "explain": ["105", "--audit", "{missing}"],
    "runlist": ["--from", "{missing}"],
    "diff": ["{missing}", "{missing}"],
    "ticket": ["--audit", "{missing}"],
    "report": ["--online", "{missing}", "--offline", "{missing}", "--out", "{out}"],
    "nightly": ["--config", "{missing}"],
    "profile": ["show", "{missing}"],
}


@pytest.mark.parametrize("command", sorted(MISSING))
def test_missing_input_path(tmp_path: Path, command: str) -> None:
    missing = _missing(tmp_path)
    out = tmp_path / WEIRD / "out dir"
    args = [a.format(missing=missing, out=out) for a in MISSING[command]]
    result = _invoke([command, *args])
    assert result.exit_code == 2, result.output
    line = _one_error_line(result)
    assert "missing ü.root" in line or "nowhere at all" in line, line
    assert not out.exists()  # nothing half-written


BAD_VALUES: list[tuple[str, list[str]]] = [
    ("count", ["--mode", "sideways", "{dir}"]),
    ("count", ["--jobs", "-3", "{dir}"]),
    ("count", ["--timeout", "-1", "{dir}"]),
    ("count", ["--tree", "", "{dir}"]),
    ("online", ["--format", "pdf", "{elog}"]),
    ("online", ["--policy", "median", "{elog}"]),
    (
        "audit",
        [
            "--online",
            "{elog}",
            "--offline",
            "{dir}",
            "--out",
            "{out}",
            "--runs",
            "9-1",
            "--no-plots",
        ],
    ),
    ("audit", ["--online", "{elog}", "--offline", "{dir}", "--out", "{out}", "--jobs", "0"]),
    ("audit", ["--online", "{elog}", "--offline", "{dir}", "--out", "{out}", "--mask", "{elog}"]),
    ("explain", ["not-a-run", "--audit", "{audit}"]),
    ("explain", ["99999", "--audit", "{audit}"]),
    ("ticket", ["--audit", "{audit}", "--max-files", "-1"]),
    ("runlist", ["--from", "{audit}", "--category", "shiny"]),
    ("report", ["--online", "{elog}", "--offline", "{dir}", "--out", "{out}", "-p", "x"]),
]


@pytest.mark.parametrize(("command", "args"), BAD_VALUES, ids=lambda v: str(v)[:40])
def test_bad_option_values(
    weird: dict[str, Path], tmp_path: Path, command: str, args: list[str]
) -> None:
    out = tmp_path / "bad out"
    filled = [
        a.format(dir=weird["prod"], elog=weird["elog"], audit=weird["audit"], out=out) for a in args
    ]
    result = _invoke([command, *filled])
    assert result.exit_code == 2, result.output
    _one_error_line(result)


def test_not_an_audit_directory(weird: dict[str, Path]) -> None:
    """A directory that exists but holds no audit: a clear message, not a KeyError."""
    for args in (
        ["explain", "105", "--audit", str(weird["elog"])],
        ["runlist", "--from", str(weird["elog"])],
        ["ticket", "--audit", str(weird["elog"])],
        ["diff", str(weird["elog"]), str(weird["audit"])],
    ):
        result = _invoke(args)
        assert result.exit_code == 2, (args, result.output)
        _one_error_line(result)


def test_empty_audit_with_plots_is_clean(weird: dict[str, Path], tmp_path: Path) -> None:
    mask = tmp_path / "mask.json"
    mask.write_text("[99999]", encoding="utf-8")
    out = tmp_path / "empty audit"
    args = ["--online", str(weird["elog"]), "--offline", str(weird["prod"]), "--out", str(out)]
    result = _invoke(["audit", *args, "--mask", str(mask), "--no-progress"])
    assert result.exit_code == 0, repr(result.exception)
    assert (out / "runs.csv").is_file()


def test_weird_paths_work_end_to_end(weird: dict[str, Path], tmp_path: Path) -> None:
    audit = weird["audit"]
    summary = json.loads((audit / "summary.json").read_text(encoding="utf-8"))
    recorded = [i["path"] for i in summary["inputs"]["online"] + summary["inputs"]["offline"]]
    assert recorded
    assert all(WEIRD in p for p in recorded)  # input paths recorded as given, not mangled
    count = _invoke(["count", str(weird["prod"]), "--no-progress"])
    assert count.exit_code == 0, count.output
    rows = list(csv.DictReader(io.StringIO(count.stdout)))
    on_disk = {str(p) for p in weird["prod"].rglob("*.root")}
    assert {r["path"] for r in rows} == on_disk
    assert all(WEIRD in r["path"] for r in rows)
    for args in (
        ["online", str(weird["elog"])],
        ["explain", "105", "--audit", str(audit)],
        ["runlist", "--from", str(audit), "--symlink-view", str(tmp_path / "vïew dir")],
        ["ticket", "--audit", str(audit)],
        ["diff", str(audit), str(audit)],
    ):
        result = _invoke(args)
        assert result.exit_code == 0, (args, result.output)
        assert result.stdout.strip(), args


# ------------------------------------------------------------------ real subprocesses


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [*cli_argv(), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_console_script_errors(weird: dict[str, Path], tmp_path: Path) -> None:
    version = _run(["--version"], tmp_path)
    assert version.returncode == 0
    assert "lumiaudit" in version.stdout
    unknown = _run(["count", "--bogus"], tmp_path)
    assert unknown.returncode == 2
    assert "Traceback" not in unknown.stderr
    assert "--bogus" in unknown.stderr
    missing = _run(["count", _missing(tmp_path)], tmp_path)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
    assert len([x for x in missing.stderr.splitlines() if x.strip()]) == 1, missing.stderr
    assert "missing ü.root" in missing.stderr
    assert missing.stdout == ""


def test_console_script_counts_in_a_weird_directory(weird: dict[str, Path]) -> None:
    # relative paths from inside the weird directory, as a shifter would type them
    proc = _run(["count", "example data/prod", "--no-progress"], weird["base"])
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == len(list(weird["prod"].rglob("*.root")))
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------ half-written audit directories

CORRUPTIONS = ["summary_cut", "runs_garbage", "runs_cut", "runs_missing"]


def _corrupt(audit: Path, target: Path, how: str) -> Path:
    shutil.copytree(audit, target)
    if how == "summary_cut":
        data = (audit / "summary.json").read_bytes()
        (target / "summary.json").write_bytes(data[:100])
    elif how == "runs_garbage":
        (target / "runs.csv").write_bytes(bytes(range(256)) * 8)
    elif how == "runs_cut":
        data = (audit / "runs.csv").read_bytes()
        cut = data.index(b'"', data.index(b"\n")) + 1  # inside the first quoted field
        (target / "runs.csv").write_bytes(data[:cut])
    else:
        (target / "runs.csv").unlink()
    return target


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_ticket_on_a_corrupt_audit(weird: dict[str, Path], tmp_path: Path, how: str) -> None:
    bad = _corrupt(weird["audit"], tmp_path / "bad audit", how)
    result = _invoke(["ticket", "--audit", str(bad)])
    assert result.exit_code == 2, result.output
    errors = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("command", ["explain", "runlist", "diff"])
def test_reading_commands_on_a_corrupt_audit(
    weird: dict[str, Path], tmp_path: Path, command: str, how: str
) -> None:
    bad = str(_corrupt(weird["audit"], tmp_path / "bad audit", how))
    args = {
        "explain": ["explain", "105", "--audit", bad],
        "runlist": ["runlist", "--from", bad],
        "diff": ["diff", str(weird["audit"]), bad],
    }[command]
    result = _invoke(args)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if how == "summary_cut" and result.exit_code == 0:
        return  # these commands need only the tables
    assert result.exit_code == 2, result.output
    errors = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert "bad audit" in errors[0]


# ------------------------------------------------------------------ file names that break formats

ODD_NAMES = [
    'mdst.physics.0012.00101.HLT1.f00000, "quoted".root',
    "mdst.physics.0012.00101.HLT2.f00000\nnewline.root",
    "mdst.physics.0012.00101.HLT3.f00000;semi\ttab.root",
    "mdst.physics.0012.00101.HLT4.f00000 'ü' \\ back.root",
]


def test_odd_file_names_round_trip(tmp_path: Path) -> None:
    """Commas, quotes, newlines, tabs, backslashes in names: CSV and audit keep them exact."""
    from lumiaudit.example import write_basf2_file
    from lumiaudit.pipeline import Audit
    from tests.support.faults import run_entry, write_elog_day

    prod = tmp_path / "prod"
    for name in ODD_NAMES:
        write_basf2_file(prod / name, experiment=12, run=101, n_events=5)
    on_disk = {str(prod / n) for n in ODD_NAMES}
    count = _invoke(["count", str(prod), "--no-progress"])
    assert count.exit_code == 0, count.output
    rows = list(csv.DictReader(io.StringIO(count.stdout, newline="")))
    assert {r["path"] for r in rows} == on_disk
    assert {(r["status"], r["n_entries"]) for r in rows} == {("ok", "5")}
    elog = write_elog_day(tmp_path / "elog" / "210301a.log", [run_entry(1, 101, "20")])
    out = tmp_path / "audit"
    args = ["--online", str(elog), "--offline", str(prod), "--out", str(out), "--no-plots"]
    result = _invoke(["audit", *args, "--no-progress"])
    assert result.exit_code == 0, result.output
    audit = Audit.load(out)
    assert set(audit.files["path"]) == on_disk
    run = audit.runs.set_index("run").loc[101]
    assert (run["n_online"], run["n_offline"], run["status"]) == (20, 20, "OK")


# ------------------------------------------------------------------ malformed configuration files

BINARY = bytes(range(128, 256)) * 16
CONFIGS: dict[str, bytes] = {
    "mask-json": b"[1, 2,\n 3",
    "mask-csv": b"run,experiment\n5,x\n",
    "mask-binary": BINARY,
    "waivers-toml": b"[waiver]\nrun = \n",
    "waivers-binary": BINARY,
    "mapping-toml": b"[elog\n",
    "mapping-binary": BINARY,
    "nightly-keys": b"[nightly]\nonline = 5\n",
    "nightly-binary": BINARY,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from lumiaudit.example import write_basf2_file
    from tests.support.faults import run_entry, write_elog_day

    base = tmp_path_factory.mktemp("tiny")
    root = write_basf2_file(
        base / "prod" / "mdst.physics.0012.00101.HLT1.f00000.root",
        experiment=12,
        run=101,
        n_events=5,
    )
    elog = write_elog_day(base / "elog" / "210301a.log", [run_entry(1, 101, "5")])
    return {"root": root, "elog": elog, "base": base}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_malformed_configuration_files(tiny: dict[str, Path], tmp_path: Path, case: str) -> None:
    kind, _ = case.split("-", 1)
    suffix = {"mask-json": "json", "mask-csv": "csv"}.get(case, "toml")
    bad = tmp_path / f"bad config.{suffix}"
    bad.write_bytes(CONFIGS[case])
    inputs = ["--online", str(tiny["elog"]), "--offline", str(tiny["root"])]
    args = {
        "mask": [
            "audit",
            *inputs,
            "--out",
            str(tmp_path / "out"),
            "--no-plots",
            "--mask",
            str(bad),
        ],
        "waivers": [
            "audit",
            *inputs,
            "--out",
            str(tmp_path / "out"),
            "--no-plots",
            "--waivers",
            str(bad),
        ],
        "mapping": ["online", str(tiny["elog"]), "--mapping", str(bad)],
        "nightly": ["nightly", "--config", str(bad)],
    }[kind]
    result = _invoke(args)
    raised = result.exception
    assert result.exit_code == 2, f"{type(raised).__name__}: {str(raised)[:200]}"
    line = _one_error_line(result)
    assert "bad config" in line
    assert not (tmp_path / "out").exists()
