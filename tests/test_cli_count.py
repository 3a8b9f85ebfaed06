"""``lumiaudit count``: CSV on stdout or files, summary on stderr, exit 2 on bad input."""

from __future__ import annotations

import csv
import io
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from lumiaudit.cli import cli

MakeFile = Callable[..., Path]


@pytest.fixture(scope="module")
def prod(b2_sample: Path) -> Path:
    return b2_sample / "prod"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_files_csv_on_stdout_and_summary_on_stderr(prod: Path, b2_sample: Path) -> None:
    result = CliRunner().invoke(cli, ["count", str(prod), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    with (b2_sample / "truth_files.csv").open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    assert len(rows) == len(truth)
    statuses = [r["status"] for r in rows]
    assert statuses.count("duplicate") == 1
    zero = next(r for r in rows if r["status"] == "zero_bytes")
    assert zero["n_entries"] == ""  # missing stays empty, never 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    summary = lines[0]
    assert summary.startswith("lumiaudit count: ")
    assert f"{len(rows)} files" in summary
    assert f"{statuses.count('ok')} ok" in summary
    assert "1 not_root" in summary
    assert "15 runs" in summary
    assert "1 gap" in summary


def test_output_files_runs_and_gaps(prod: Path, tmp_path: Path) -> None:
    out, runs, gaps = tmp_path / "files.csv", tmp_path / "runs.csv", tmp_path / "gaps.csv"
    contrib = tmp_path / "contrib.csv"
    result = CliRunner().invoke(
        cli,
        [
            "count",
            str(prod),
            "-o",
            str(out),
            "--runs",
            str(runs),
            "--gaps",
            str(gaps),
            "--contributions",
            str(contrib),
            "--mode",
            "deep",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    run_rows = {int(r["run"]): r for r in _rows(runs.read_text())}
    assert run_rows[3035]["n_offline"] == "3651"
    assert run_rows[3052]["n_offline"] == "400"
    assert "n_flag_0x10" in run_rows[3000]
    gap_rows = _rows(gaps.read_text())
    assert [(g["run"], g["hlt_unit"], g["file_index"]) for g in gap_rows] == [("3035", "2", "0")]
    assert len(_rows(out.read_text())) == 86
    total = sum(int(r["n_entries"]) for r in _rows(contrib.read_text()))
    assert total == sum(int(r["n_offline"]) for r in run_rows.values() if r["n_offline"])


def test_tree_option_for_other_files(data_dir: Path) -> None:
    path = data_dir / "root-compat/uproot-foriter.root"
    result = CliRunner().invoke(cli, ["count", str(path), "--tree", "foriter"])
    assert result.exit_code == 0, result.output
    assert _rows(result.stdout)[0]["n_entries"] == "46"
    result = CliRunner().invoke(cli, ["count", str(path)])
    assert _rows(result.stdout)[0]["status"] == "no_tree"


def test_missing_input_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["count", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert "absent" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_options_exit_2(b2_file: MakeFile) -> None:
    path = str(b2_file())
    assert CliRunner().invoke(cli, ["count", path, "--mode", "turbo"]).exit_code == 2
    assert CliRunner().invoke(cli, ["count", path, "--timeout", "0"]).exit_code == 2
    assert CliRunner().invoke(cli, ["count"]).exit_code == 2
    assert CliRunner().invoke(cli, ["count", path, "--jobs", "-3"]).exit_code == 2
    empty_tree = CliRunner().invoke(cli, ["count", path, "--tree", ""])
    assert empty_tree.exit_code == 2
    assert "tree name is empty" in empty_tree.stderr


def test_cache_rerun_gives_the_same_csv(b2_file: MakeFile, tmp_path: Path) -> None:
    for unit in (1, 2, 3):
        b2_file(f"p/mdst.physics.0012.00101.HLT{unit}.f00000.root", n_events=10 * unit)
    args = ["count", str(tmp_path / "p"), "--cache", str(tmp_path / "c.sqlite")]
    first = CliRunner().invoke(cli, args)
    second = CliRunner().invoke(cli, args)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout
    assert "3 files: 3 ok" in second.stderr
    assert "60 events" in second.stderr
    assert "from the cache" not in first.stderr
    assert "tables reused" not in first.stderr
    assert "every file unchanged since the last count of these inputs: tables reused" in (
        second.stderr
    )
    b2_file("p/mdst.physics.0012.00101.HLT4.f00000.root", n_events=1234)
    third = CliRunner().invoke(cli, args)
    assert third.exit_code == 0
    assert "1 file read, 3 from the cache" in third.stderr
    assert "1,294 events" in third.stderr  # counts with separators (render.numbers.fmt)


def test_outputs_through_links_and_fifos_are_never_replaced(
    b2_file: MakeFile, tmp_path: Path
) -> None:
    path = str(b2_file(n_events=4))
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    # a link is judged by its target: "old" is not lumiaudit's, so it is refused and kept
    refused = CliRunner().invoke(cli, ["count", path, "-o", str(link)])
    assert refused.exit_code == 2, refused.output
    assert target.read_text() == "old\n"
    target.write_text("")  # an empty file may be replaced
    fifo = tmp_path / "runs.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = CliRunner().invoke(cli, ["count", path, "-o", str(link), "--runs", str(fifo)])
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert _rows(target.read_text())[0]["n_entries"] == "4"
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert _rows(received[0])[0]["n_offline"] == "4"
    dash = CliRunner().invoke(cli, ["count", path, "-o", "-"])
    assert _rows(dash.stdout)[0]["n_entries"] == "4"


def _empty_sources(tmp_path: Path, elog_dir: Path) -> dict[str, list[str]]:
    (tmp_path / "empty").mkdir()
    (tmp_path / "mount" / "e0010" / "4S").mkdir(parents=True)  # an unmounted area: dirs only
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "README.txt").write_text("not data\n")
    return {
        "empty_dir": [str(tmp_path / "empty")],
        "unmounted": [str(tmp_path / "mount")],
        "elog_dir": [str(elog_dir)],
        "text_only": [str(tmp_path / "texts")],
    }


@pytest.mark.parametrize("kind", ["empty_dir", "unmounted", "elog_dir", "text_only"])
def test_a_source_without_root_files_is_exit_2_unless_allowed(
    tmp_path: Path, elog_dir: Path, b2_file: MakeFile, kind: str
) -> None:
    sources = _empty_sources(tmp_path, elog_dir)[kind]
    result = CliRunner().invoke(cli, ["count", *sources, "--no-progress"])
    assert result.exit_code == 2, result.output
    assert sources[0] in result.stderr
    assert "no ROOT files" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # together with a real file the empty source is still named
    mixed = CliRunner().invoke(cli, ["count", str(b2_file()), *sources, "--no-progress"])
    assert mixed.exit_code == 2
    assert sources[0] in mixed.stderr
    allowed = CliRunner().invoke(cli, ["count", *sources, "--allow-empty", "--no-progress"])
    assert allowed.exit_code == 0, allowed.output
    assert _rows(allowed.stdout) == []


def test_audit_with_an_empty_offline_source_is_exit_2_unless_allowed(
    tmp_path: Path, elog_dir: Path, b2_sample: Path
) -> None:
    import lumiaudit
    from lumiaudit.errors import InputNotFoundError

    (tmp_path / "empty").mkdir()
    online = str(b2_sample / "online_truth.csv")
    args = ["audit", "--online", online, "--offline", str(tmp_path / "empty"), "--no-plots"]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 2, result.output
    assert str(tmp_path / "empty") in result.stderr
    assert not (tmp_path / "a").exists()
    allowed = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b"), "--allow-empty"])
    assert allowed.exit_code == 0, allowed.output
    with pytest.raises(InputNotFoundError, match="no ROOT files"):
        lumiaudit.audit(online, str(tmp_path / "empty"))


def test_cache_pointed_at_an_input_is_refused_and_the_input_kept(b2_file: MakeFile) -> None:
    path = b2_file()
    content = path.read_bytes()
    result = CliRunner().invoke(cli, ["count", str(path), "--cache", str(path)])
    assert result.exit_code == 2, result.output
    assert "count cache" in result.stderr
    assert path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
