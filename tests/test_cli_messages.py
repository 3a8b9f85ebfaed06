"""What the CLI says (issue 16): -q says nothing, stderr of a report is lumiaudit's own summary,
messages name files, runs and options, never Python attributes; files_bad counts unreadable
files only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lumiaudit.cli import cli

REPO = Path(__file__).resolve().parents[1]


def _lumiaudit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI as cron runs it: a real process, its own stdout and stderr."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", "from lumiaudit.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        check=False,
    )


def test_quiet_audit_prints_nothing(example: dict[str, Path], tmp_path: Path) -> None:
    """`lumiaudit -q audit` printed 11 lines (paths, summary, flagged runs)."""
    args = ["--online", str(example["elog"]), "--offline", str(example["prod"])]
    result = CliRunner().invoke(cli, ["-q", "audit", *args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == ""
    assert (tmp_path / "a" / "runs.csv").is_file()  # it did its work
    loud = CliRunner().invoke(cli, ["audit", *args, "--out", str(tmp_path / "b")])
    assert "flagged: e12 r119" in loud.stderr  # the same audit without -q does speak


def test_quiet_still_reports_an_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    args = ["--online", str(tmp_path / "nope"), "--offline", str(tmp_path / "in")]
    result = CliRunner().invoke(cli, ["-q", "audit", *args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert str(tmp_path / "nope") in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_input_problems_name_file_line_and_run(example: dict[str, Path], tmp_path: Path) -> None:
    """Was: "1 input problems in 1 files (...; see OnlineResult.problems)"."""
    elog = tmp_path / "elog"
    shutil.copytree(example["elog"], elog)
    log = sorted(elog.glob("*.log"))[0]
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if line.startswith("Num events:"))
    lines[number] = "Num events: 2k41\n"
    log.write_text("".join(lines), encoding="utf-8")
    args = ["--online", str(elog), "--offline", str(example["prod"])]
    result = _lumiaudit("audit", *args, "--out", str(tmp_path / "a"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if "2k41" in line)
    assert f"{log}:{number + 1}: " in warning  # the file and the line
    assert ": run 1" in warning  # the run the entry is about
    assert "problems.csv" in warning
    assert "OnlineResult" not in result.stderr
    assert ".problems" not in result.stderr


ATTRIBUTE_WORDS = ("OnlineResult", "OfflineResult", ".problems", "Audit.", "summary[", "self.")


@pytest.mark.parametrize(
    "source",
    sorted(str(p.relative_to(REPO)) for p in (REPO / "lumiaudit" / "cli").glob("*.py")),
)
def test_cli_messages_do_not_point_at_python_attributes(source: str) -> None:
    """Every message of the CLI speaks of files, runs and options (strings, not docstrings)."""
    import ast

    tree = ast.parse((REPO / source).read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            for word in ATTRIBUTE_WORDS:
                assert word not in node.value, (source, node.lineno, node.value)


def test_files_bad_does_not_count_a_duplicate(example: dict[str, Path], tmp_path: Path) -> None:
    """`files_bad 4` was shown for 3 unreadable files and one duplicate; the example has one
    truncated file and one duplicate, and said "2 not readable"."""
    import lumiaudit

    result = lumiaudit.audit([example["elog"]], [example["prod"]])
    status = result.files["status"].astype(str)
    duplicates = int((status == "duplicate").sum())
    unreadable = int((~status.isin(["ok", "empty", "metadata_mismatch", "duplicate"])).sum())
    assert duplicates >= 1
    assert unreadable >= 1
    totals = result.summary["totals"]
    assert totals["files_duplicate"] == duplicates
    assert totals["files_bad"] == unreadable
    args = ["--online", str(example["elog"]), "--offline", str(example["prod"])]
    cli_result = CliRunner().invoke(cli, ["audit", *args, "--out", str(tmp_path / "a")])
    assert f"{unreadable} not readable, {duplicates} duplicate" in cli_result.stderr


@pytest.mark.slow
def test_report_stderr_is_only_lumiaudits_summary(example: dict[str, Path], tmp_path: Path) -> None:
    """Every report and nightly printed `[IPKernelApp] WARNING | Kernel is running over TCP
    without encryption` and `KeyboardInterrupt caught in kernel` into cron mail."""
    result = _lumiaudit(
        "report",
        "--online",
        str(example["elog"]),
        "--offline",
        str(example["prod"]),
        "--out",
        str(tmp_path / "report"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "the report says what it found"
    assert all(line.startswith("lumiaudit") for line in lines), result.stderr
    assert "IPKernelApp" not in result.stderr
    assert "KeyboardInterrupt" not in result.stderr
    assert "need a person" in lines[-1]
    assert result.stdout.strip().splitlines()[0] == str(tmp_path / "report")
    quiet = _lumiaudit(
        "-q",
        "report",
        "--audit",
        str(tmp_path / "report"),
        "--out",
        str(tmp_path / "again"),
        cwd=tmp_path,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == ""
    assert quiet.stderr == ""


def test_strict_stops_with_one_line_and_online_lists_each_problem_once(
    example: dict[str, Path], tmp_path: Path
) -> None:
    """`audit --strict` printed the warning "count left empty (...)" and then the error; the
    run had stopped, nothing was left empty. `lumiaudit online` printed the problem twice."""
    table = tmp_path / "online.csv"
    table.write_text("experiment,run,n_events\n12,101,1267\n12,102,12k\n", encoding="utf-8")
    args = ["--online", str(table), "--offline", str(example["prod"])]
    strict = _lumiaudit("audit", "--strict", *args, "--out", str(tmp_path / "a"), cwd=tmp_path)
    assert strict.returncode == 2
    lines = strict.stderr.strip().splitlines()
    assert len(lines) == 1, strict.stderr
    assert lines[0].startswith(f"Error: {table}:3: ")
    assert "12k" in lines[0]
    assert "left empty" not in lines[0]
    assert not (tmp_path / "a").exists()
    online = _lumiaudit("online", str(table), "-o", str(tmp_path / "o.csv"), cwd=tmp_path)
    assert online.returncode == 0, online.stderr
    assert online.stderr.count("12k") == 1, online.stderr
    assert "1 problem\n" in online.stderr  # not "1 problems"


def test_explain_of_a_missing_audit_directory_says_it_does_not_exist(tmp_path: Path) -> None:
    gone = CliRunner().invoke(cli, ["explain", "--audit", str(tmp_path / "nodir"), "105"])
    assert gone.exit_code == 2
    assert f"{tmp_path / 'nodir'}: no such directory" in gone.stderr
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(cli, ["explain", "--audit", str(tmp_path / "empty"), "105"])
    assert empty.exit_code == 2
    assert "not an audit directory (no runs.csv or runs.parquet)" in empty.stderr


def test_the_first_screen_names_a_problem_file_from_its_input_on(
    example: dict[str, Path], tmp_path: Path
) -> None:
    """The input problems showed the machine's absolute path while "look at" said
    ``elog/210301a.log``: one way of naming a file on the page."""
    import lumiaudit
    from lumiaudit.render.html import report_head

    elog = tmp_path / "elog"
    shutil.copytree(example["elog"], elog)
    log = sorted(elog.glob("*.log"))[0]
    text = log.read_text(encoding="utf-8").replace("Num events:", "Num events: 12k #", 1)
    log.write_text(text, encoding="utf-8")
    audit = lumiaudit.audit(online=[elog.resolve()], offline=[example["prod"].resolve()])
    assert len(audit.problems)
    page = report_head(audit)
    problems = page[page.index("Input problems") :]
    assert f"<td>elog/{log.name}</td>" in problems
    assert str(log.resolve()) not in problems
