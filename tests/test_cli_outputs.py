"""CLI output files: ``-`` is stdout everywhere, foreign files are never replaced, usage errors
are one line, a closed pipe exits 141, and the summary lines say what was written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.cli import cli
from lumiaudit.store.outdir import write_marker

FOREIGN = "\\documentclass{article}\n% my thesis\n"


def _invoke(args: list[str], cwd: Path | None = None) -> Result:
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, args, catch_exceptions=True)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, args, catch_exceptions=True)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def audit(example: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("outputs") / "audit"
    result = _invoke(
        [
            "audit",
            "--online",
            str(example["elog"]),
            "--offline",
            str(example["prod"]),
            "--out",
            str(out),
            "--no-plots",
            "--no-progress",
        ]
    )
    assert result.exit_code == 0, result.output
    return out


def _file_commands(example: dict[str, Path], audit: Path) -> dict[str, list[str]]:
    """Commands whose last option takes the output file (appended by the tests)."""
    golden = audit / "good_runs.json"
    return {
        "online -o": ["online", str(example["elog"]), "-o"],
        "online --problems": ["online", str(example["elog"]), "--problems"],
        "count -o": ["count", str(example["prod"]), "--no-progress", "-o"],
        "count --runs": ["count", str(example["prod"]), "--no-progress", "--runs"],
        "runlist json": ["runlist", "--from", str(audit), "-o"],
        "runlist csv": ["runlist", "--from", str(audit), "--format", "csv", "-o"],
        "runlist golden": ["runlist", "--from", str(audit), "--format", "golden-json", "-o"],
        "runlist grl": ["runlist", "--from", str(audit), "--format", "grl-xml", "-o"],
        "runlist iov": ["runlist", "--from", str(audit), "--format", "iov", "-o"],
        "runlist convert": [
            "runlist",
            "convert",
            str(golden),
            "--format",
            "iov",
            "--experiment",
            "12",
            "-o",
        ],
        "ticket": ["ticket", "--audit", str(audit), "-o"],
    }


STDOUT_CASES = ["runlist json", "runlist golden", "runlist convert", "ticket", "count --runs"]


@pytest.mark.parametrize("case", STDOUT_CASES)
def test_dash_is_stdout(example: dict[str, Path], audit: Path, tmp_path: Path, case: str) -> None:
    """``-o -`` writes to stdout and never creates a file named ``-``."""
    args = _file_commands(example, audit)[case] + ["-"]
    result = _invoke(args, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "-").exists()
    assert result.stdout.strip(), "nothing on stdout"


@pytest.mark.parametrize(
    "case",
    [
        "online -o",
        "online --problems",
        "count -o",
        "count --runs",
        "runlist json",
        "runlist csv",
        "runlist golden",
        "runlist grl",
        "runlist iov",
        "runlist convert",
        "ticket",
    ],
)
def test_foreign_file_is_refused_own_output_replaced(
    example: dict[str, Path], audit: Path, tmp_path: Path, case: str
) -> None:
    args = _file_commands(example, audit)[case]
    thesis = tmp_path / "thesis.tex"
    thesis.write_text(FOREIGN, encoding="utf-8")
    result = _invoke([*args, str(thesis)])
    assert result.exit_code == 2, result.output
    assert "exists and is not a lumiaudit output (remove it or choose another" in result.output
    assert "Traceback" not in result.output
    assert thesis.read_text(encoding="utf-8") == FOREIGN

    own = tmp_path / "out.txt"
    own.write_text("", encoding="utf-8")  # an empty file may be replaced
    first = _invoke([*args, str(own)])
    assert first.exit_code == 0, first.output
    written = own.read_bytes()
    assert written
    again = _invoke([*args, str(own)])  # a rerun replaces its own earlier output
    assert again.exit_code == 0, again.output
    assert own.read_bytes() == written


def test_symlink_to_a_foreign_file_is_refused(example: dict[str, Path], tmp_path: Path) -> None:
    thesis = tmp_path / "thesis.tex"
    thesis.write_text(FOREIGN, encoding="utf-8")
    link = tmp_path / "online.csv"
    link.symlink_to(thesis)
    result = _invoke(["online", str(example["elog"]), "-o", str(link)])
    assert result.exit_code == 2, result.output
    assert thesis.read_text(encoding="utf-8") == FOREIGN


def test_other_kind_of_lumiaudit_output_is_refused(audit: Path, tmp_path: Path) -> None:
    """A JUnit file is lumiaudit's, but not a run list: ``runlist -o`` leaves it alone."""
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="lumiaudit" tests="0">\n',
        encoding="utf-8",
    )
    before = junit.read_bytes()
    result = _invoke(["runlist", "--from", str(audit), "-o", str(junit)])
    assert result.exit_code == 2, result.output
    assert junit.read_bytes() == before


def test_junit_replaces_only_junit(tmp_path: Path) -> None:
    thesis = tmp_path / "t.tex"
    thesis.write_text(FOREIGN, encoding="utf-8")
    refused = _invoke(["demo", "--out", str(tmp_path / "d"), "--junit", str(thesis)])
    assert refused.exit_code == 2, refused.output
    assert thesis.read_text(encoding="utf-8") == FOREIGN
    assert not (tmp_path / "d").exists(), "refused before anything was written"
    junit = tmp_path / "junit.xml"
    for _ in range(2):
        result = _invoke(["demo", "--out", str(tmp_path / "d"), "--junit", str(junit)])
        assert result.exit_code == 0, result.output
    assert '<testsuites name="lumiaudit"' in junit.read_text(encoding="utf-8")


def test_junit_dash_is_stdout(tmp_path: Path) -> None:
    result = _invoke(["demo", "--out", str(tmp_path / "d"), "--junit", "-"], cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "-").exists()
    assert '<testsuites name="lumiaudit"' in result.stdout


def test_junit_does_not_replace_another_lumiaudit_output(tmp_path: Path) -> None:
    """An online CSV is lumiaudit's, but not JUnit: --junit leaves it alone."""
    csv = tmp_path / "online.csv"
    csv.write_text(
        "experiment,run,run_type,n_online,lumi_nb,start_time,stop_time,source,source_line\n"
    )
    before = csv.read_bytes()
    result = _invoke(["demo", "--out", str(tmp_path / "d"), "--junit", str(csv)])
    assert result.exit_code == 2, result.output
    assert csv.read_bytes() == before


def test_devices_are_written_through(example: dict[str, Path]) -> None:
    result = _invoke(["online", str(example["elog"]), "-o", os.devnull])
    assert result.exit_code == 0, result.output
    assert Path(os.devnull).is_char_device()


def test_runlist_summary_gives_the_audits_counts(audit: Path) -> None:
    """The summary counts every category, whichever list is written, and names that list."""

    def summary(args: list[str]) -> str:
        result = _invoke(["runlist", "--from", str(audit), *args])
        assert result.exit_code == 0, result.output
        return next(x for x in result.stderr.splitlines() if x.startswith("runs:"))

    default = summary([])
    golden = summary(["--format", "golden-json"])
    counts = default.split(";")[0]
    assert counts == golden.split(";")[0]
    assert "ugly 0, bad 0" not in counts
    assert "wrote all" in default
    assert "wrote good (" in golden
    assert "golden-json) to stdout" in golden


USAGE_ERRORS = [
    (["count", "x", "--timeout", "0"], "Invalid value for '--timeout'", "lumiaudit count"),
    (
        ["count", "x", "--select-runs", "abc"],
        "Invalid value for '--select-runs'",
        "lumiaudit count",
    ),
    (["explain", "--audit", "a"], "Missing argument 'RUN'", "lumiaudit explain"),
    (["runlist", "and", "--nope"], "No such option", "lumiaudit runlist and"),
    (["nosuch"], "No such command", "lumiaudit"),
]


@pytest.mark.parametrize(("args", "message", "where"), USAGE_ERRORS)
def test_usage_errors_are_one_line(args: list[str], message: str, where: str) -> None:
    result = _invoke(args)
    assert result.exit_code == 2
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {message}"), lines[0]
    assert f"(see '{where}" in lines[0]


def test_out_pointing_at_a_file_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    result = _invoke(["demo", "--out", str(target)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"Error: Invalid value for '--out': Directory '{target}' is a file. "
        "(see 'lumiaudit demo --help')"
    ]


def test_help_is_unchanged() -> None:
    result = _invoke(["audit", "--help"])
    assert result.exit_code == 0
    first = result.output.splitlines()[0]
    assert first.startswith("Usage: "), first
    assert first.endswith(" audit [OPTIONS]"), first
    assert "Options:" in result.output
    assert "Error" not in result.output


def test_wrong_kind_of_output_directory_has_the_right_article(
    example: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "rep"
    out.mkdir()
    (out / "index.html").write_text("<html></html>", encoding="utf-8")
    write_marker(out, "report")
    online, offline = str(example["elog"]), str(example["prod"])
    result = _invoke(["audit", "--online", online, "--offline", offline, "--out", str(out)])
    assert result.exit_code == 2
    assert "a lumiaudit report output, not an audit output" in result.output


def _main(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    code = "import sys; from lumiaudit.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], check=False, timeout=300, **kwargs)


@pytest.mark.parametrize("streams", ["stdout", "both"])
def test_a_closed_pipe_is_not_a_finding(tmp_path: Path, streams: str) -> None:
    """``lumiaudit demo 2>&1 | head -0``: the reader is gone, exit 141 (SIGPIPE), not 1."""
    read, write = os.pipe()
    os.close(read)  # the reader went away before the first line
    try:
        proc = _main(
            ["demo", "--out", str(tmp_path / "d")],
            stdout=write,
            stderr=write if streams == "both" else subprocess.PIPE,
        )
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    if streams == "stdout":
        assert b"Traceback" not in proc.stderr
        assert b"Error" not in proc.stderr


@settings(max_examples=60, deadline=None)
@given(
    runs=st.dictionaries(
        st.integers(min_value=1, max_value=99999),
        st.one_of(
            st.none(),
            st.lists(
                st.tuples(st.integers(1, 500), st.integers(0, 50)).map(
                    lambda t: (t[0], t[0] + t[1])
                ),
                min_size=1,
                max_size=3,
            ),
        ),
        min_size=1,
        max_size=8,
    ),
    fmt=st.sampled_from(["golden-json", "grl-xml", "json"]),
)
def test_every_run_list_lumiaudit_writes_is_recognised(
    runs: dict[int, list[tuple[int, int]] | None], fmt: str
) -> None:
    """Whatever run list lumiaudit writes, a rerun may replace it; a plain file never."""
    from lumiaudit.runlist_io import format_runlist
    from lumiaudit.runsets import RunLumiSet
    from lumiaudit.store.recognise import recognise

    whole = RunLumiSet.from_runs((12, r) for r, ls in runs.items() if ls is None)
    parts = RunLumiSet.from_mapping({(12, r): ls for r, ls in runs.items() if ls is not None})
    text = format_runlist(whole | parts, fmt)
    assert recognise(text.encode(), "runlist"), text
    assert not recognise(text.encode(), "junit")
    assert not recognise(("% notes\n" + text).encode(), "runlist")
