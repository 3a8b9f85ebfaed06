"""Issue 11 end to end: a count typed in no documented form never reaches the comparison.

Before the fix, run 101 of the bundled example typed as ``12k`` was read as 12 events, came out
``EXCESS`` (offline has 1267) without a problem row, and was classified good.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import lumiaudit
from lumiaudit.online import read_online
from lumiaudit.runlists import classify_runs

TYPED = ["12k", "2M events", "about 5 thousand", "l234", "99%", "#1234", "1234O"]


def _example_with_typed(example: dict[str, Path], tmp_path: Path, typed: str) -> Path:
    elog = tmp_path / "elog"
    shutil.copytree(example["elog"], elog)
    day = elog / "210301a.log"
    text = day.read_text(encoding="utf-8")
    assert text.count("Num events: 1267\n") == 1  # run 101 (see data/README.md)
    day.write_text(text.replace("Num events: 1267\n", f"Num events: {typed}\n"), encoding="utf-8")
    return elog


@pytest.mark.parametrize("typed", TYPED)
def test_typed_count_is_missing_with_a_located_problem(
    example: dict[str, Path], tmp_path: Path, typed: str
) -> None:
    elog = _example_with_typed(example, tmp_path, typed)
    res = read_online(elog)
    row = res.table[res.table["run"] == 101]
    assert len(row) == 1
    assert pd.isna(row["n_online"].item())
    lines = (elog / "210301a.log").read_text(encoding="utf-8").split("\n")
    mine = res.problems[res.problems["reason"].str.contains("run 101")]
    assert len(mine) == 1, res.problems
    prob = mine.iloc[0]
    assert Path(prob["source"]).name == "210301a.log"
    assert lines[int(prob["line"]) - 1] == f"Num events: {typed}"
    assert repr(typed) in prob["reason"]
    assert "MID 1" in prob["reason"]
    assert prob["text"] == typed


def test_audit_of_a_12k_run_gives_it_no_online_count(
    example: dict[str, Path], tmp_path: Path
) -> None:
    elog = _example_with_typed(example, tmp_path, "12k")
    a = lumiaudit.audit(online=elog, offline=example["prod"])
    run = a.run(101).iloc[0]
    assert pd.isna(run["n_online"])
    assert run["status"] == "MISSING_ONLINE"
    assert classify_runs(a.runs)[a.runs["run"] == 101].item() != "good"
    assert a.summary["totals"]["online_problems"] >= 1
    out = tmp_path / "audit"
    a.write(out)
    good = json.loads((out / "good_runs.json").read_text(encoding="utf-8"))
    assert 101 not in {r["run"] for r in good}
    assert 102 in {r["run"] for r in good}  # the list is not simply empty


# ------------------------------------------------------------------ the other numeric fields


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (6725, 6725),  # a JSON integer
        ("6725", 6725),  # a string: read like typed text
        ("6,725", 6725),
        (1.5, None),  # a JSON float is no exact count
        (6725.0, None),
        (1e20, None),
        (True, None),  # a boolean is no number
        (False, None),
        ("12k", None),
        (2**63, None),  # above int64: a problem, not an OverflowError
        ([6725], None),
    ],
)
def test_rundb_json_counts(tmp_path: Path, value: object, expected: int | None) -> None:
    page = tmp_path / "page.json"
    run = {"experiment": 12, "run": 7, "statistics": {"nevents": value, "nevents_full": value}}
    page.write_text(json.dumps({"results": [run], "next": None}), encoding="utf-8")
    res = read_online(page)
    got = res.table["n_online"].item()
    if expected is None:
        assert pd.isna(got)
        reasons = " | ".join(res.problems["reason"])
        assert "statistics.nevents " in reasons, reasons
        assert "statistics.nevents_full" in reasons, reasons
        assert set(res.problems["line"]) == {"record 1"}
    else:
        assert got == expected
        assert res.problems.empty


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("run", 7.0),
        ("run", True),
        ("run", "7k"),
        ("experiment", 12.5),
        ("experiment", False),
    ],
)
def test_rundb_json_run_and_experiment_numbers(tmp_path: Path, field: str, value: object) -> None:
    run: dict[str, object] = {"experiment": 12, "run": 7, "statistics": {"nevents": 5}}
    run[field] = value
    page = tmp_path / "page.json"
    page.write_text(json.dumps([run]), encoding="utf-8")
    res = read_online(page)
    if field == "run":
        assert res.table.empty
    else:
        assert pd.isna(res.table["experiment"].item())
    assert len(res.problems) == 1
    assert (
        repr(str(value).lower() if isinstance(value, bool) else str(value))
        in str(res.problems["reason"].item())
        or str(value).lower() in str(res.problems["text"].item()).lower()
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (19214.286, 19214.286),
        ("19214.286", 19214.286),
        ("19.214286 pb-1", 19214.286),
        (True, None),
        ("12k", None),
        ("about 5", None),
    ],
)
def test_rundb_json_lumi(tmp_path: Path, value: object, expected: float | None) -> None:
    page = tmp_path / "page.json"
    run = {"experiment": 12, "run": 7, "statistics": {"nevents": 5, "lumi_recorded": value}}
    page.write_text(json.dumps([run]), encoding="utf-8")
    res = read_online(page)
    got = res.table["lumi_nb"].item()
    if expected is None:
        assert pd.isna(got)
        assert "luminosity" in res.problems["reason"].item()
    else:
        assert got == pytest.approx(expected)
        assert res.problems.empty


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Integrated Luminosity : 29231.429", 29231.429),
        ("Integrated Luminosity : 29.231429 pb^-1", 29231.429),
        ("Integrated Luminosity : 12k", None),
        ("Integrated Luminosity : 12.5 (preliminary)", None),
        ("Integrated Luminosity : about 5 thousand", None),
    ],
)
def test_elog_body_lumi(tmp_path: Path, line: str, expected: float | None) -> None:
    # one entry in elogd's day-file layout (tests/data/elog/README.md): header lines end in LF,
    # text lines in CRLF, the last one in LF; written here so the test needs no fault helper
    path = tmp_path / "191105a.log"
    header = [
        "$@MID@$: 1",
        "Date: Tue, 05 Nov 2019 10:00:00 +0900",
        "Subject: physics run 10",
        "Type: Run summary",
        "Category: Physics",
        "Exp number: 12",
        "Run number: 10",
        "Num events: 1,234",
        "Encoding: plain",
        "=" * 40,
    ]
    path.write_bytes(("\n".join(header) + "\n" + f"{line}\n").encode())
    res = read_online(path)
    got = res.table["lumi_nb"].item()
    assert res.table["n_online"].item() == 1234
    if expected is None:
        assert pd.isna(got)
        assert "luminosity" in res.problems["reason"].item()
        assert line.split(": ", 1)[1] in res.problems["text"].item()
    else:
        assert got == pytest.approx(expected)
        assert res.problems.empty


def test_daq_catalogue_numbers(tmp_path: Path) -> None:
    path = tmp_path / "daq.csv"
    path.write_text(
        "name,host,runtype,expno,runno,fileno,nevents,nfullevents,size,correct_close\n"
        "physics.0012.00007.HLT1.f00000.sroot,hlt01,physics,12,7,0,100,100,2000,t\n"
        "physics.0012.00007.HLT1.f00001.sroot,hlt01,physics,12,7,1k,12k,100,2.5GB,maybe\n"
        "physics.0012.00008.HLT1.f00000.sroot,hlt01,physics,12,8,0,5,5O,10,f\n",
        encoding="utf-8",
    )
    res = read_online(path)
    runs = dict(zip(res.table["run"], res.table["n_online"], strict=True))
    assert runs[7] is pd.NA  # one file's nevents unreadable: no partial sum
    assert runs[8] == 5
    files = res.daq_files
    second = files.iloc[1]
    assert pd.isna(second["file_index"])
    assert pd.isna(second["size_bytes"])
    assert pd.isna(second["correct_close"])
    assert pd.isna(files.iloc[2]["n_online_full"])
    problems = res.problems
    by_line = problems.groupby("line")["reason"].apply(" | ".join).to_dict()
    assert "'12k'" in by_line["3"]
    assert "fileno" in by_line["3"]
    assert "size" in by_line["3"]
    assert "correct_close" in by_line["3"]
    assert "nfullevents" in by_line["4"]
