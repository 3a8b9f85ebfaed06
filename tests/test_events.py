"""Events counted twice, by event number (issue 13): ``lumiaudit.offline.events``.

A resubmitted job wrote 300 events of another file again under a new file index: every file
is readable and has its own name, only the event numbers show it. The production is written by
uproot in tmp_path with basf2-like ``EventMetaData`` branches (lumiaudit.example's writer), the
event numbers of a run unique across its files as basf2's event builder gives them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.example import write_basf2_file, write_elog_dayfiles
from lumiaudit.offline.events import (
    DUPLICATE_EVENT_COLUMNS,
    EventNumbers,
    find_duplicate_events,
    read_event_numbers,
)

EXP = 14
LAYOUT = "release-08-00-00/DB00002000/proc15/e0014/4S/r{run:05d}/all/mdst/sub00"
NAME = "mdst.physics.0014.{run:05d}.HLT{u}.f{i:05d}.root"
T0 = datetime(2022, 7, 1, tzinfo=UTC)
RESUBMITTED = 403


def _path(prod: Path, run: int, u: int, i: int) -> Path:
    return prod / LAYOUT.format(run=run) / NAME.format(run=run, u=u, i=i)


def write_production(root: Path) -> dict[str, Path]:
    """Runs 401-406, four files each; run 403's HLT2 f00002 repeats 300 events of f00001."""
    prod = root / "prod"
    entries, records = [], []
    for k, run in enumerate(range(401, 407)):
        first, total = 1, 0
        for u, i, n in ((1, 0, 500), (2, 0, 450), (2, 1, 700), (3, 0, 520)):
            write_basf2_file(
                _path(prod, run, u, i), experiment=EXP, run=run, n_events=n, first_event=first
            )
            first += n
            total += n
        if run == RESUBMITTED:
            # the job of HLT2 f00001 was resubmitted and wrote its last 300 events again
            write_basf2_file(
                _path(prod, run, 2, 2),
                experiment=EXP,
                run=run,
                n_events=300,
                first_event=501 + 450 + 700 - 300,
            )
        start = T0 + timedelta(hours=2 * k)
        entries.append(
            {
                "Date": (start + timedelta(minutes=55)).isoformat(),
                "Type": "Run summary",
                "Category": "Physics",
                "Exp number": str(EXP),
                "Run number": str(run),
                "Num events": str(total),
                "text": "Run summary\nIntegrated Luminosity : 1500.000\n",
            }
        )
        records.append(
            {
                "experiment": EXP,
                "run": run,
                "run_type": "physics",
                "time_start": start.isoformat(),
                "time_stop": (start + timedelta(minutes=50)).isoformat(),
                "statistics": {"nevents": total, "lumi_recorded": 1500.0},
            }
        )
    write_elog_dayfiles(root / "elog", entries)
    rundb = root / "rundb.json"
    rundb.write_text(json.dumps({"count": len(records), "next": None, "results": records}))
    return {"prod": prod, "elog": root / "elog", "rundb": rundb}


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_production(tmp_path_factory.mktemp("events"))


@pytest.fixture(scope="module", params=["auto", "deep"])
def audited(production: dict[str, Path], request: pytest.FixtureRequest) -> Any:
    import lumiaudit

    return lumiaudit.audit(
        online=[production["elog"], production["rundb"]],
        offline=production["prod"],
        mode=request.param,
    )


def _row(runs: pd.DataFrame, run: int) -> pd.Series:
    sel = runs[runs["run"] == run]
    assert len(sel) == 1
    return sel.iloc[0]


# --- reading ----------------------------------------------------------------------------------


def test_read_event_numbers_of_an_uproot_file(tmp_path: Path) -> None:
    path = write_basf2_file(tmp_path / "a.root", experiment=3, run=7, n_events=5, first_event=11)
    num = read_event_numbers(str(path))
    assert num.error == ""
    assert num.event.tolist() == [11, 12, 13, 14, 15]
    assert num.run.tolist() == [7] * 5
    assert num.experiment is not None
    assert num.experiment.tolist() == [3] * 5


def test_read_event_numbers_of_a_root_written_file(b2_sample: Path) -> None:
    # ROOT 6.40, split Belle2::EventMetaData (the lean reader's leaf names)
    path = next(b2_sample.rglob("mdst.physics.0010.03000.HLT1.f00001.root"))
    num = read_event_numbers(str(path))
    assert num.error == ""
    assert (len(num.event), int(num.event.min()), int(num.event.max())) == (1070, 455, 1524)
    assert set(num.run.tolist()) == {3000}


@pytest.mark.parametrize("kind", ["not_root", "truncated", "missing", "no_branch"])
def test_an_unreadable_file_is_reported_never_guessed(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.root"
    if kind == "not_root":
        path.write_text("not a ROOT file\n")
    elif kind == "truncated":
        good = write_basf2_file(tmp_path / "g.root", experiment=3, run=7, n_events=2000)
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "no_branch":
        write_basf2_file(path, experiment=3, run=7, n_events=5)
    other = {"event": "EventMetaData/m_eventNumber"} if kind == "no_branch" else None
    num = read_event_numbers(str(path), branches=other)
    assert num.error, kind
    assert len(num.event) == 0
    table = find_duplicate_events([num], experiment=3, run=7)
    assert table["error"].notna().all()
    assert table["n_events"].isna().all()


# --- the pairs --------------------------------------------------------------------------------


def _numbers(path: str, events: list[int], run: int = 5) -> EventNumbers:
    ev = np.asarray(events, dtype=np.uint64)
    return EventNumbers(path, np.full(len(ev), EXP), np.full(len(ev), run), ev)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"a": range(10), "b": range(10, 20)}, [(None, None, 0)]),
        ({"a": range(10), "b": range(7, 20)}, [("a", "b", 3)]),
        ({"b": range(7, 20), "a": range(10)}, [("a", "b", 3)]),  # ordered by path
        ({"a": [1, 2, 2, 3]}, [("a", "a", 1)]),  # one event twice inside one file
        ({"a": range(5), "b": range(5), "c": range(3)}, [("a", "b", 5), ("b", "c", 3)]),
    ],
)
def test_pairs_and_exact_amounts(files: dict[str, Any], expected: list[Any]) -> None:
    table = find_duplicate_events(
        [_numbers(p, list(ev)) for p, ev in files.items()], experiment=EXP, run=5
    )
    got = [
        (None if pd.isna(r.path) else r.path, None if pd.isna(r.other) else r.other, r.n_events)
        for r in table.itertuples()
    ]
    assert got == expected
    assert dict(table.dtypes.astype(str)) == dict(DUPLICATE_EVENT_COLUMNS)


def test_events_of_other_runs_are_not_this_runs_duplicates() -> None:
    runs = np.array([5, 5, 5, 6, 6, 6])
    a = EventNumbers("a", np.full(6, EXP), runs, np.arange(6, dtype=np.uint64))
    b = EventNumbers("b", np.full(3, EXP), np.array([6, 6, 6]), np.arange(3, 6, dtype=np.uint64))
    assert find_duplicate_events([a, b], experiment=EXP, run=5)["n_events"].tolist() == [0]
    assert find_duplicate_events([a, b], experiment=EXP, run=6)["n_events"].tolist() == [3]
    # another experiment's run 6 is another run
    assert find_duplicate_events([a, b], experiment=EXP + 1, run=6)["n_events"].tolist() == [0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), max_size=30), min_size=1, max_size=5))
def test_pairs_add_up_to_entries_minus_distinct(files: list[list[int]]) -> None:
    nums = [_numbers(f"f{i}", ev) for i, ev in enumerate(files)]
    table = find_duplicate_events(nums, experiment=EXP, run=5)
    every = [e for ev in files for e in ev]
    assert int(table["n_events"].sum()) == len(every) - len(set(every))


def test_a_file_not_read_leaves_the_run_not_checked() -> None:
    bad = EventNumbers("b", None, np.zeros(0, np.int64), np.zeros(0, np.uint64), "OSError: gone")
    table = find_duplicate_events([_numbers("a", list(range(9))), bad], experiment=EXP, run=5)
    assert table["path"].tolist() == ["b"]  # no "0 duplicates" row: the check is incomplete
    assert table["error"].tolist() == ["OSError: gone"]


# --- the audit escalates ----------------------------------------------------------------------


def test_resubmitted_job_is_duplicate_events(audited: Any, production: dict[str, Path]) -> None:
    from lumiaudit.runlists import classify_runs

    row = _row(audited.runs, RESUBMITTED)
    assert row["status"] == "EXCESS"
    assert row["diff"] == -300
    assert "duplicate_events=-300" in str(row["reason_events"]), row["evidence"]
    assert "unexplained" not in str(row["reasons"])
    assert row["unexplained_diff"] == 0
    assert bool(row["flagged"])
    cat = classify_runs(audited.runs)[audited.runs["run"] == RESUBMITTED].tolist()
    assert cat == ["ugly"]  # never good
    text = audited.explain(RESUBMITTED)
    first = _path(production["prod"], RESUBMITTED, 2, 1)
    again = _path(production["prod"], RESUBMITTED, 2, 2)
    assert f"300 events of {first} again in {again}" in text
    # the other runs are untouched: nothing read, nothing said
    for run in (401, 402, 404, 405, 406):
        other = _row(audited.runs, run)
        assert other["status"] == "OK"
        assert "duplicate_events" not in str(other["evidence"])


def test_an_unreadable_duplicate_stays_unexplained(tmp_path: Path) -> None:
    import lumiaudit
    from lumiaudit.offline import count_events

    paths = write_production(tmp_path)
    counted = count_events([str(paths["prod"])])
    # the repeating file is lost after counting: its event numbers cannot be read
    _path(paths["prod"], RESUBMITTED, 2, 2).write_text("gone\n")
    result = lumiaudit.audit(online=[paths["elog"], paths["rundb"]], offline=counted)
    row = _row(result.runs, RESUBMITTED)
    assert row["status"] == "EXCESS"
    assert "unexplained" in str(row["reasons"])
    assert "duplicate_events" not in str(row["reason_events"])
    assert "could not be read" in str(row["evidence"])
    assert "not checked" in str(row["evidence"])
    assert bool(row["flagged"])


def test_the_ticket_names_the_pair(audited: Any) -> None:
    from lumiaudit.render.tickets import markdown_snippet

    snippet = markdown_snippet(
        audited.runs[audited.runs["run"] == RESUBMITTED], summary=audited.summary
    )
    assert "duplicate\\_events: 300 events of" in snippet or "duplicate_events: 300" in snippet
    assert "HLT2.f00002.root" in snippet


def test_duplicate_events_in_a_list_of_files(production: dict[str, Path], tmp_path: Path) -> None:
    from lumiaudit.offline.events import duplicate_events_in

    run_dir = production["prod"] / LAYOUT.format(run=RESUBMITTED)
    paths = sorted(str(p) for p in run_dir.glob("*.root"))
    broken = tmp_path / "broken.root"
    broken.write_bytes(b"root" + b"\0" * 60)
    table = duplicate_events_in([*paths, str(broken)], jobs=2)
    pairs = table[table["n_events"] > 0]
    assert pairs[["run", "n_events"]].values.tolist() == [[RESUBMITTED, 300]]
    assert pairs["other"].iloc[0].endswith("HLT2.f00002.root")
    failed = table[table["error"].notna()]
    assert failed["path"].tolist() == [str(broken)]
    assert failed["run"].isna().all()


def test_only_the_audited_production_is_read(tmp_path: Path) -> None:
    """An older production holds the same events: no duplicates of the audited one."""
    import lumiaudit

    old = "release-06-00-00/DB00001000/proc13/e0014/4S/r00410/all/mdst/sub00"
    new = "release-08-00-00/DB00002000/proc15/e0014/4S/r00410/all/mdst/sub00"
    for prod in (old, new):
        for u, first, n in ((1, 1, 500), (2, 501, 400)):
            path = tmp_path / "prod" / prod / f"mdst.physics.0014.00410.HLT{u}.f00000.root"
            write_basf2_file(path, experiment=EXP, run=410, n_events=n, first_event=first)
    # the old production had its own leftover (200 events of HLT1 f00000 again): not audited
    write_basf2_file(
        tmp_path / "prod" / old / "mdst.physics.0014.00410.HLT1.f00001.root",
        experiment=EXP,
        run=410,
        n_events=200,
        first_event=1,
    )
    # in the new production a resubmitted job repeats 100 events of HLT2 f00000
    write_basf2_file(
        tmp_path / "prod" / new / "mdst.physics.0014.00410.HLT2.f00001.root",
        experiment=EXP,
        run=410,
        n_events=100,
        first_event=801,
    )
    entry = {
        "Date": T0.isoformat(),
        "Type": "Run summary",
        "Category": "Physics",
        "Exp number": str(EXP),
        "Run number": "410",
        "Num events": "900",
        "text": "Run summary\n",
    }
    write_elog_dayfiles(tmp_path / "elog", [entry])
    result = lumiaudit.audit(online=tmp_path / "elog", offline=tmp_path / "prod")
    row = _row(result.runs, 410)
    assert row["n_offline"] == 1000
    assert "duplicate_events=-100" in str(row["reason_events"]), row["evidence"]
    assert row["unexplained_diff"] == 0
    assert "proc13" not in str(row["evidence"]).split("several productions")[0]


def test_a_url_is_read_and_a_stalled_server_is_bounded(tmp_path: Path) -> None:
    import socket

    from tests.support.http_servers import RangeHandler, base_url, serve

    write_basf2_file(tmp_path / "a.root", experiment=3, run=7, n_events=40, first_event=5)
    # a server that takes the connection and never answers
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(8)
    try:
        with serve(RangeHandler, tmp_path) as server:
            num = read_event_numbers(f"{base_url(server)}/a.root", timeout=10)
        assert num.error == ""
        assert num.event.tolist() == list(range(5, 45))
        hung = read_event_numbers(f"http://127.0.0.1:{stalled.getsockname()[1]}/a.root", timeout=1)
        assert "timed out" in hung.error.lower(), hung.error
        assert len(hung.event) == 0
    finally:
        stalled.close()


@pytest.mark.slow
@pytest.mark.xrootd
def test_event_numbers_over_xrootd() -> None:
    from tests.test_offline_xrootd import run_xrootd

    def write(data: Path) -> None:
        write_basf2_file(data / "a.root", experiment=3, run=7, n_events=30, first_event=100)

    with run_xrootd(write) as (server, _):
        # a fractional timeout: XRootD takes whole seconds (access.source_timeout)
        num = read_event_numbers(server.url(server.root / "a.root"), timeout=4.5)
        missing = read_event_numbers(server.url(server.root / "b.root"), timeout=4.5)
    assert num.error == ""
    assert num.event.tolist() == list(range(100, 130))
    assert missing.error
