"""``lumiaudit online``: CSV on stdout or -o, summary and problems on stderr, exit 2."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from lumiaudit.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["online", *args])
    return result.exit_code, result.stdout, result.stderr


def test_stdout_csv_and_summary(elog_dir: Path) -> None:
    code, out, err = run(str(elog_dir / "exports" / "export_XML.xml"))
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert len(table) == 53
    assert table.loc[table["run"] == 3030, "n_online"].item() == 10231
    # run 3048: an empty cell, never 0
    assert out.splitlines()[49].split(",")[3] == ""
    assert "53 runs, 55 entries, 1 conflict, 1 problem" in err
    assert "export_XML.xml:MID 52: exp 10 run 3048" in err
    assert "conflict: exp 10 run 3030: 7231;10231 -> 10231 (latest)" in err


def test_output_files(elog_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "online.csv"
    conflicts = tmp_path / "conflicts.csv"
    problems = tmp_path / "problems.csv"
    code, stdout, err = run(
        str(elog_dir / "ondisk"),
        "-o",
        str(out),
        "--conflicts",
        str(conflicts),
        "--problems",
        str(problems),
        "--policy",
        "first",
    )
    assert code == 0, err
    assert stdout == ""
    assert pd.read_csv(out).set_index("run").loc[3030, "n_online"] == 7231
    assert pd.read_csv(conflicts)["chosen"].tolist() == [7231]
    assert pd.read_csv(problems)["line"].astype(str).tolist() == ["93"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "conflicts.csv",
        "online.csv",
        "problems.csv",
    ]


def test_many_problems_are_capped(tmp_path: Path) -> None:
    table = tmp_path / "runs.csv"
    rows = "\n".join(f"10,{run},lots" for run in range(1, 31))
    table.write_text("exp,run,n_online\n" + rows + "\n", encoding="utf-8")
    code, _, err = run(str(table))
    assert code == 0
    lines = err.splitlines()
    assert sum(line.startswith(f"{table}:") for line in lines) == 20
    assert "... and 10 more problems" in err


def test_errors_exit_2_one_line(tmp_path: Path, elog_dir: Path, data_dir: Path) -> None:
    code, _, err = run(str(tmp_path / "missing.log"))
    assert code == 2
    assert "missing.log: no such file or directory" in err
    assert "Traceback" not in err
    code, _, err = run("--strict", str(elog_dir / "ondisk"))
    assert code == 2
    assert "191109a.log:93: exp 10 run 3048" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run("--policy", "error", str(elog_dir / "exports" / "export_CSV2.csv"))
    assert code == 2
    assert "conflicting counts 7231;10231" in err
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n", encoding="utf-8")
    code, _, err = run(str(notes))
    assert code == 2
    assert "formats tried" in err
    bad_toml = tmp_path / "m.toml"
    bad_toml.write_text("[nope]\n", encoding="utf-8")
    code, _, err = run("--mapping", str(bad_toml), str(elog_dir / "ondisk"))
    assert code == 2
    assert "unknown section [nope]" in err


def test_format_and_mapping_options(data_dir: Path) -> None:
    online = data_dir / "online"
    code, out, err = run(
        "--format",
        "table",
        "--mapping",
        str(online / "custom_mapping.toml"),
        str(online / "custom.tsv"),
    )
    assert code == 0, err
    assert pd.read_csv(io.StringIO(out))["n_online"].tolist() == [100, 200]
