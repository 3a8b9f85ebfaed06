"""Luminosity readers: brilcalc CSV and the Belle II luminosity SQLite layouts.

The brilcalc text follows ``brilcalc lumi --byls --output-style csv`` as shown in the CMS open
data guide (``#Data tag : v1 , Norm tag: None``, ``#run:fill,ls,time,beamstatus,E(GeV),
delivered(/ub),recorded(/ub),avgpu,source``, rows, ``#Summary:`` and its two ``#`` lines); the
SQLite files follow the tables basf2's ``b2info-luminosity`` queries (``RunLumi(exp, run, lee,
start_time)`` offline, ``prev_bhacnt_det_run(exp, run, lum_det_shift, start_time, end_time)``
online), written here with :mod:`sqlite3`.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.errors import OnlineFormatError
from lumiaudit.online.lumi import read_brilcalc, read_lumi, read_lumi_db

BYLS = """#Data tag : v1 , Norm tag: None
#run:fill,ls,time,beamstatus,E(GeV),delivered(/ub),recorded(/ub),avgpu,source
160431:1615,19:19,03/14/11 03:14:43,STABLE BEAMS,3500,39.312,39.312,3.4,hfoc
160431:1615,20:20,03/14/11 03:15:07,STABLE BEAMS,3500,39.368,39.368,3.4,hfoc
160431:1615,21:0,03/14/11 03:15:30,STABLE BEAMS,3500,39.305,0.000,3.4,hfoc
160432:1615,1:1,03/14/11 04:00:00,STABLE BEAMS,3500,10.000,9.500,3.4,hfoc
#Summary:
#nfill,nrun,nls,ncms,totdelivered(/ub),totrecorded(/ub)
#1,2,4,3,127.985,88.180
"""

BYRUN_FB = """#Data tag : 24v1 , Norm tag: onlineresult
#run:fill,time,nls,ncms,delivered(/fb),recorded(/fb)
381147:9666,05/24/24 11:08:23,231,223,0.091256126,0.077027108
381148:9666,05/24/24 12:38:03,292,283,0.144805629,0.127957936
#Summary:
#nfill,nrun,nls,ncms,totdelivered(/fb),totrecorded(/fb)
#1,2,523,506,0.236061755,0.204985044
"""


def test_brilcalc_byls_summed_per_run_in_inverse_nb() -> None:
    res = read_brilcalc(BYLS, "byls.csv")
    assert res.problems.empty, res.problems
    assert res.unit == "/ub"
    assert res.tags == {"data_tag": "v1", "norm_tag": "None"}
    rows = res.table.set_index("run")
    assert rows.loc[160431, "lumi_recorded_nb"] == pytest.approx((39.312 + 39.368) * 1e-3)
    assert rows.loc[160431, "lumi_delivered_nb"] == pytest.approx(117.985e-3)
    assert rows.loc[160431, "n_ls"] == 3
    assert rows.loc[160431, "source_line"] == "3-5"
    assert rows.loc[160431, "start_time"] == pd.Timestamp("2011-03-14 03:14:43", tz="UTC")
    assert rows.loc[160432, "lumi_recorded_nb"] == pytest.approx(9.5e-3)
    assert pd.isna(rows.loc[160432, "experiment"])


def test_brilcalc_by_run_in_inverse_fb() -> None:
    res = read_brilcalc(BYRUN_FB, "run.csv", experiment=7)
    assert res.problems.empty, res.problems
    assert res.unit == "/fb"
    rows = res.table.set_index("run")
    assert rows.loc[381148, "lumi_recorded_nb"] == pytest.approx(127957.936)
    assert rows.loc[381147, "n_ls"] == 231
    assert (res.table["experiment"] == 7).all()


@pytest.mark.parametrize(
    ("edit", "words", "run_empty"),
    [
        (("0.000,3.4", "12k,3.4"), "run 160431: recorded", True),
        (("9.500", "true"), "run 160432: recorded", False),
        (("39.368,39.368", "39.368,49.368"), "adds to", False),  # summary disagrees
        (
            (
                "#Summary:\n#nfill,nrun,nls,ncms,totdelivered(/ub),totrecorded(/ub)\n#1,2,4,3,127.985,88.180\n",
                "",
            ),
            "no '#Summary:'",
            False,
        ),
        (("160432:1615,1:1", "l60432:1615,1:1"), "row skipped", False),
    ],
    ids=["12k", "boolean", "summary-mismatch", "cut-before-summary", "bad-run"],
)
def test_brilcalc_bad_values_are_located_problems(
    edit: tuple[str, str], words: str, run_empty: bool
) -> None:
    text = BYLS.replace(*edit)
    assert text != BYLS
    res = read_brilcalc(text, "byls.csv")
    reasons = " | ".join(res.problems["reason"])
    assert words in reasons, reasons
    assert (res.problems["source"] == "byls.csv").all()
    assert res.problems["line"].str.len().gt(0).all()
    rows = res.table.set_index("run")
    if run_empty:
        assert pd.isna(rows.loc[160431, "lumi_recorded_nb"])  # no partial sum


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("run,lumi\n1,2\n", "#run:fill"),
        ("#run:fill,ls,time,delivered(hz/ub),recorded(hz/ub)\n1:1,1:1,x,1,1\n", "instantaneous"),
        ("#run:fill,ls,time,delivered,recorded\n1:1,1:1,x,1,1\n", "delivered(/unit)"),
    ],
)
def test_brilcalc_format_errors(text: str, words: str) -> None:
    with pytest.raises(OnlineFormatError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_brilcalc(text, "x.csv")


@given(
    runs=st.dictionaries(
        st.integers(min_value=1, max_value=999999),
        st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=6),
        min_size=1,
        max_size=5,
    )
)
@settings(max_examples=60, deadline=None)
def test_brilcalc_roundtrip(runs: dict[int, list[int]]) -> None:
    """Rows written with 3 decimals (milli-units) read back to the exact per-run sums."""
    lines = ["#Data tag : v1 , Norm tag: None"]
    lines.append("#run:fill,ls,time,beamstatus,E(GeV),delivered(/pb),recorded(/pb),avgpu,source")
    for run, values in runs.items():
        for ls, v in enumerate(values, start=1):
            lumi = f"{v / 1000:.3f}"
            lines.append(f"{run}:1,{ls}:{ls},03/14/11 03:14:43,STABLE BEAMS,3500,{lumi},{lumi},1,x")
    total = sum(sum(v) for v in runs.values()) / 1000
    lines += ["#Summary:", "#nfill,nrun,nls,ncms,totdelivered(/pb),totrecorded(/pb)"]
    lines.append(f"#1,{len(runs)},0,0,{total:.3f},{total:.3f}")
    res = read_brilcalc("\n".join(lines) + "\n", "rt.csv")
    assert res.problems.empty, res.problems
    got = dict(zip(res.table["run"], res.table["lumi_recorded_nb"], strict=True))
    for run, values in runs.items():
        assert got[run] == pytest.approx(sum(values), rel=1e-12, abs=1e-6)  # /pb * 1000 = nb


# ------------------------------------------------------------------ SQLite


def _db(path: Path, table: str, rows: list[tuple[object, ...]]) -> Path:
    con = sqlite3.connect(path)
    if table == "RunLumi":
        con.execute("CREATE TABLE RunLumi (exp INTEGER, run INTEGER, lee REAL, start_time INTEGER)")
        con.executemany("INSERT INTO RunLumi VALUES (?, ?, ?, ?)", rows)
    else:
        con.execute(
            "CREATE TABLE prev_bhacnt_det_run (exp INTEGER, run INTEGER, lum_det_shift REAL, "
            "start_time INTEGER, end_time INTEGER)"
        )
        con.executemany("INSERT INTO prev_bhacnt_det_run VALUES (?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


def test_offline_runlumi_db(tmp_path: Path) -> None:
    t0 = int(datetime(2019, 11, 5, tzinfo=UTC).timestamp())
    db = _db(
        tmp_path / "OffLineLuminosity.db",
        "RunLumi",
        [
            (10, 3000, 19214.286, t0),
            (10, 3001, None, t0 + 3600),  # NULL: missing, not 0
            (10, 3002, "12k", t0),  # typed text in a REAL column
            (10, 3003.5, 5.0, t0),  # a REAL run number (3003.0 would be stored as INTEGER)
            (10, 3004, 1.0, t0),
            (10, 3004, 2.0, t0),  # the same run twice, disagreeing
            (10, 3005, 7.5, t0),
            (10, 3005, 7.5, t0),  # the same run twice, agreeing
        ],
    )
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    res = read_lumi(db)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # opened read-only
    assert not (tmp_path / "OffLineLuminosity.db-journal").exists()
    assert res.unit == "/nb"
    rows = res.table.set_index("run")
    assert rows.loc[3000, "lumi_recorded_nb"] == pytest.approx(19214.286)
    assert rows.loc[3000, "start_time"] == pd.Timestamp("2019-11-05", tz="UTC")
    assert pd.isna(rows.loc[3001, "lumi_recorded_nb"])
    assert pd.isna(rows.loc[3002, "lumi_recorded_nb"])
    assert 3003 not in rows.index
    assert 3004 in rows.index
    assert pd.isna(rows.loc[3004, "lumi_recorded_nb"])
    assert rows.loc[3005, "lumi_recorded_nb"] == 7.5
    reasons = " | ".join(res.problems["reason"])
    assert "lee '12k' is not a number" in reasons
    assert "run 3003.5 is not a whole number" in reasons
    assert "exp 10 run 3004: second row" in reasons
    assert len(res.problems) == 3
    assert res.problems["line"].str.startswith("RunLumi rowid ").all()


def test_online_ecl_db(tmp_path: Path) -> None:
    db = _db(tmp_path / "ecl_lom.db", "prev", [(26, 1, 123.5, 1700000000, 1700003600)])
    res = read_lumi_db(db)
    assert res.table["lumi_recorded_nb"].tolist() == [123.5]
    assert res.table["source_line"].tolist() == ["prev_bhacnt_det_run rowid 1"]


def test_db_without_a_known_table_lists_the_tables(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "other.db")
    con.execute("CREATE TABLE runs (x INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(OnlineFormatError, match="tables: runs"):
        read_lumi(tmp_path / "other.db")
