"""``--lumi FILE``: the luminosity file's recorded luminosity becomes each run's ``lumi_nb``.

Table-driven over the cases of :mod:`lumiaudit.online.lumi_apply`: a brilcalc file (no
experiment) against a run-only and a Belle II online table, a b2info-luminosity SQLite file
(``RunLumi``) matched by (experiment, run), runs missing on either side, disagreements, and
unreadable values. The files are real brilcalc text and SQLite databases written here.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from lumiaudit.online.lumi import read_brilcalc, read_lumi
from lumiaudit.online.lumi_apply import apply_lumi

BYRUN_PB = """#Data tag : 24v1 , Norm tag: onlineresult
#run:fill,time,nls,ncms,delivered(/pb),recorded(/pb)
381150:9666,05/24/24 11:08:23,9,9,2.5,2.0
381151:9666,05/24/24 12:38:03,4,4,1.25,1.0
#Summary:
#nfill,nrun,nls,ncms,totdelivered(/pb),totrecorded(/pb)
#1,2,13,13,3.75,3.0
"""


def _online(rows: list[tuple[int | None, int, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment": pd.array([r[0] for r in rows], dtype="Int64"),
            "run": pd.array([r[1] for r in rows], dtype="Int64"),
            "n_online": pd.array([100] * len(rows), dtype="Int64"),
            "lumi_nb": pd.array([r[2] for r in rows], dtype="Float64"),
        }
    )


def _lumis(frame: pd.DataFrame) -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in frame["lumi_nb"]]


@pytest.mark.parametrize(
    ("online", "lumis", "without", "problem"),
    [
        # run-only key (CMS): matched by run, /pb -> nb^-1; a run the file lacks stays missing
        ([(None, 381150, None), (None, 381151, None), (None, 381152, 5.0)],
         [2000.0, 1000.0, None], ["381152"], None),
        # the online source typed a value within 1 %: the file's value, no problem
        ([(None, 381150, 2010.0)], [2000.0], [], None),
        # ... and one that is 10 % off: the file's value, and a problem naming both
        ([(None, 381150, 2200.0)], [2000.0], [],
         "run 381150: the online source says 2.2 pb^-1, the luminosity file 2 pb^-1"),
        # brilcalc has no experiment: a run number in two experiments online is ambiguous
        ([(12, 381150, None), (13, 381150, None), (12, 381151, None)],
         [None, None, 1000.0], [], "run 381150 is in more than one experiment online"),
    ],
)  # fmt: skip
def test_brilcalc_cases(
    online: list[tuple[int | None, int, float | None]],
    lumis: list[float | None],
    without: list[str],
    problem: str | None,
) -> None:
    done = apply_lumi(_online(online), read_brilcalc(BYRUN_PB, "lumi.csv"), files=["lumi.csv"])
    assert _lumis(done.online) == pytest.approx(lumis)
    assert done.info["runs_without_lumi"] == without
    assert done.info["unit"] == "/pb"
    assert done.info["tags"] == {"data_tag": "24v1", "norm_tag": "onlineresult"}
    reasons = " | ".join(done.problems["reason"])
    if problem is None:
        assert done.problems.empty, reasons
    else:
        assert problem in reasons
    assert str(done.online["lumi_nb"].dtype) == "Float64"
    assert done.online["n_online"].tolist() == [100] * len(online)  # nothing else changes


def _runlumi(path: Path, rows: list[tuple[object, ...]]) -> Path:
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE RunLumi (exp INTEGER, run INTEGER, lee REAL, start_time INTEGER)")
        con.executemany("INSERT INTO RunLumi VALUES (?, ?, ?, ?)", rows)
    con.close()
    return path


def test_belle2_sqlite_matched_by_experiment_and_run(tmp_path: Path) -> None:
    db = _runlumi(
        tmp_path / "OffLineLuminosity.db",
        [(12, 101, 350.5, 1614556800), (13, 101, 99.0, 1617235200), (12, 102, "12k", 1614560000)],
    )
    online = _online([(12, 101, None), (13, 101, None), (12, 102, 80.0), (12, 103, 7.0)])
    done = apply_lumi(online, read_lumi(db), files=[str(db)])
    assert _lumis(done.online) == [350.5, 99.0, None, None]
    assert done.info["matched_by"] == "experiment, run"
    assert done.info["runs_without_lumi"] == ["e12 r103"]
    assert done.info["runs_with_lumi"] == 2
    assert done.info["unit"] == "/nb"
    # the unreadable lee is the reader's located problem; the run has no luminosity, not 80
    assert done.problems["reason"].str.contains("lee").any()


def test_a_run_in_two_files_gets_none(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text(BYRUN_PB)
    b.write_text(BYRUN_PB.replace("381151:9666", "381153:9666"))
    done = apply_lumi(_online([(None, 381150, None), (None, 381151, None)]), read_lumi([a, b]))
    assert _lumis(done.online) == [None, 1000.0]
    assert "run 381150 appears more than once" in " ".join(done.problems["reason"])
    assert done.info["file_runs_not_online"] == 1  # 381153


# ------------------------------------------------------------------ wired into the audit


def test_audit_with_a_runlumi_file(example: dict[str, Path], tmp_path: Path) -> None:
    import lumiaudit

    # the example's runs 101-124 of experiment 12, 100 nb^-1 each but run 124 absent
    db = _runlumi(tmp_path / "lumi.db", [(12, r, 100.0, 1614556800 + r) for r in range(101, 124)])
    a = lumiaudit.audit(online=example["elog"], offline=example["prod"], lumi=db)
    runs = a.runs.set_index("run")
    assert runs.loc[101, "lumi_nb"] == 100.0
    assert pd.isna(runs.loc[124, "lumi_nb"])  # missing stays missing, not the elog's value
    # run 123 was never processed: its whole luminosity is affected
    assert runs.loc[123, "lumi_affected_nb"] == pytest.approx(100.0)
    assert a.funnel["lumi_nb"].sum() == pytest.approx(100.0 * 23)
    info = a.summary["lumi_file"]
    assert info["runs_without_lumi"] == ["e12 r124"]
    assert info["matched_by"] == "experiment, run"
    assert a.summary["inputs"]["lumi"][0]["sha256"]
    # the elog's typed luminosity differs from 100 nb^-1: each run is a located problem
    assert a.problems["reason"].str.contains("the luminosity file 100 nb\\^-1").any()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "File '{}' does not exist"),
        ("run,lumi\n1,2\n", "no '#run:fill,...' header line"),
    ],
)
def test_cli_bad_lumi_file_exit_2(
    example: dict[str, Path], tmp_path: Path, content: str | None, message: str
) -> None:
    from click.testing import CliRunner

    from lumiaudit.cli import cli

    lumi = tmp_path / "lumi.csv"
    if content is not None:
        lumi.write_text(content)
    out = tmp_path / "audit"
    result = CliRunner().invoke(
        cli,
        ["audit", "--online", str(example["elog"]), "--offline", str(example["prod"]),
         "--lumi", str(lumi), "--out", str(out), "--no-plots", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message.format(lumi) in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_runs_without_luminosity_are_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    online = _online([(12, 101, 5.0), (12, 102, 6.0)])  # a Belle II table, a CMS file
    with caplog.at_level("WARNING", logger="lumiaudit.online.lumi_apply"):
        done = apply_lumi(online, read_brilcalc(BYRUN_PB, "lumi.csv"), files=["lumi.csv"])
    assert _lumis(done.online) == [None, None]
    assert "2 of 2 runs have no luminosity in lumi.csv (first: 101)" in caplog.text
