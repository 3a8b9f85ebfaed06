"""Several online sources as witnesses (issue 13): a production with an ELOG logbook, run-database
JSON and a DAQ catalogue export that disagree in known ways, each run with its expected verdict.

The production is written by uproot (lumiaudit.example's writer) in tmp_path; the logbook in PSI
ELOG's day-file layout, the run database as a RunDB page, the DAQ catalogue as its CSV export.
The whole audit runs through ``lumiaudit.audit`` (online readers, counting, reconcile).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lumiaudit import schema
from lumiaudit.example import write_basf2_file, write_elog_dayfiles
from lumiaudit.reconcile.stats import Thresholds
from lumiaudit.reconcile.witnesses import source_kinds, vote_sources

EXP = 14
LAYOUT = "release-08-00-00/DB00002000/proc15/e{exp:04d}/4S/r{run:05d}/all/mdst/sub00"
NAME = "mdst.physics.{exp:04d}.{run:05d}.HLT{u}.f{i:05d}.root"
T0 = datetime(2022, 5, 1, tzinfo=UTC)


@dataclass
class Run:
    """One run: raw files (unit, index) -> events written; what reached offline; the sources."""

    run: int
    raw: dict[tuple[int, int], int]
    offline: dict[tuple[int, int], int] = field(default_factory=dict)  # default: = raw
    extra: dict[tuple[int, int], int] = field(default_factory=dict)  # offline files not raw
    elog: str | None = "auto"  # text typed; "auto" = the raw total
    rundb: int | str | None = "auto"  # "auto" = raw total, None = no record
    daq_drop: tuple[tuple[int, int], ...] = ()  # catalogue rows lost
    daq: bool = True
    lumi: float = 2000.0
    # (status, reason that must be there, flagged, category)
    expect: tuple[str, str | None, bool, str] = ("OK", None, False, "good")


def _runs() -> list[Run]:
    def raw(seed: int, n_files: int = 4) -> dict[tuple[int, int], int]:
        rng = np.random.default_rng(seed)
        return {(1 + k % 4, k // 4): int(rng.integers(300, 500)) for k in range(n_files)}

    runs = [Run(r, raw(r)) for r in range(201, 207)]
    r207 = Run(207, raw(207))
    r207.elog = str(sum(r207.raw.values()))[:-1]  # dropped digit; rundb and DAQ are right
    r207.expect = ("OK", None, False, "good")
    r208 = Run(208, raw(208, 6), daq_drop=((2, 1),))  # the newest source lost a file's row
    r208.expect = ("OK", "daq_catalogue_incomplete", False, "good")
    r209 = Run(209, raw(209), elog="")  # empty count in the elog
    r210 = Run(210, raw(210, 8))  # every file lost ~1 % in processing
    r210.offline = {k: v - max(1, v // 100) for k, v in r210.raw.items()}
    r210.expect = ("DEFICIT", "processing_loss", True, "ugly")
    r211 = Run(211, raw(211))  # one file lost many events
    r211.offline = {**r211.raw, (3, 0): r211.raw[(3, 0)] - 150}
    r211.expect = ("DEFICIT", "processing_loss", True, "ugly")
    r212 = Run(212, raw(212))  # a resubmitted job left its events in a new index
    r212.extra = {(1, 1): r212.raw[(1, 0)]}
    r212.expect = ("EXCESS", "unlisted_file", True, "ugly")
    r213 = Run(213, {}, elog="0", rundb=0, daq=False, lumi=0.0)  # aborted: 0 events, no file
    r213.expect = ("OK", "aborted_run", False, "good")
    r214 = Run(214, raw(214), rundb=None)  # elog against DAQ, no run-database record
    r214.elog = str(sum(r214.raw.values()) + 240)
    r214.expect = ("OK", "source_disagreement", True, "ugly")
    r215 = Run(215, raw(215), daq=False)  # a loss elog and run database agree on, no cause
    r215.elog = str(sum(r215.raw.values()) + 60)
    r215.rundb = sum(r215.raw.values()) + 60
    r215.expect = ("DEFICIT", "unexplained", True, "bad")
    return [*runs, r207, r208, r209, r210, r211, r212, r213, r214, r215]


def write_production(root: Path, runs: list[Run], *, with_daq: bool = True) -> dict[str, Path]:
    """Write prod/, elog/, rundb.json and daq.csv for ``runs``; return their paths."""
    prod = root / "prod"
    entries: list[dict[str, str]] = []
    records: list[dict[str, Any]] = []
    daq_rows: list[dict[str, Any]] = []
    for k, r in enumerate(runs):
        start = T0 + timedelta(hours=2 * k)
        stop = start + timedelta(minutes=50)
        files = dict(r.offline or r.raw)
        files.update(r.extra)
        # event numbers as basf2's event builder gives them: unique in the run, each raw file a
        # range of its own; an extra file (a resubmitted job) repeats its unit's first file
        first: dict[tuple[int, int], int] = {}
        next_event = 1
        for key in sorted(r.raw):
            first[key] = next_event
            next_event += r.raw[key]
        for (u, i), n in sorted(files.items()):
            path = (
                prod / LAYOUT.format(exp=EXP, run=r.run) / NAME.format(exp=EXP, run=r.run, u=u, i=i)
            )
            start_event = first.get((u, i), first.get((u, 0), 1))
            write_basf2_file(path, experiment=EXP, run=r.run, n_events=n, first_event=start_event)
        total = sum(r.raw.values())
        typed = str(total) if r.elog == "auto" else (r.elog or "")
        entries.append(
            {
                "Date": (stop + timedelta(minutes=5)).isoformat(),
                "Author": "shifter",
                "Subject": f"physics run {r.run}",
                "Type": "Run summary",
                "Category": "Physics",
                "Exp number": str(EXP),
                "Run number": str(r.run),
                "Num events": typed,
                "Run time": "00:50:00",
                "Solenoid": "ON",
                "text": f"Run summary\nIntegrated Luminosity : {r.lumi:.3f}\n",
            }
        )
        if r.rundb is not None:
            records.append(
                {
                    "experiment": EXP,
                    "run": r.run,
                    "run_type": "physics",
                    "time_start": start.isoformat(),
                    "time_stop": (stop + timedelta(minutes=1)).isoformat(),
                    "statistics": {
                        "nevents": total if r.rundb == "auto" else r.rundb,
                        "lumi_recorded": r.lumi,
                    },
                }
            )
        if r.daq and with_daq:
            for (u, i), n in sorted(r.raw.items()):
                if (u, i) in r.daq_drop:
                    continue
                daq_rows.append(
                    {
                        "name": f"physics.{EXP:04d}.{r.run:05d}.HLT{u}.f{i:05d}.root",
                        "path": f"/rawdata/disk0{u}/e{EXP:04d}/r{r.run:05d}",
                        "host": f"hltsv0{u}",
                        "runtype": "physics",
                        "expno": EXP,
                        "runno": r.run,
                        "fileno": i,
                        "nevents": n,
                        "nfullevents": n,
                        "size": 2_000_000_000,
                        # the catalogue is the newest witness: the latest entry would win
                        "time_close": (stop + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S"),
                        "correct_close": "t",
                    }
                )
    elog = root / "elog"
    write_elog_dayfiles(elog, entries)
    rundb = root / "rundb.json"
    rundb.write_text(json.dumps({"count": len(records), "next": None, "results": records}))
    out = {"prod": prod, "elog": elog, "rundb": rundb}
    if with_daq:
        daq = root / "daq.csv"
        with daq.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(daq_rows[0]))
            writer.writeheader()
            writer.writerows(daq_rows)
        out["daq"] = daq
    return out


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Run], dict[str, Path]]:
    runs = _runs()
    return runs, write_production(tmp_path_factory.mktemp("witnesses"), runs)


@pytest.fixture(scope="module")
def audited(production: tuple[list[Run], dict[str, Path]]) -> Any:
    import lumiaudit

    _, paths = production
    return lumiaudit.audit(
        online=[paths["elog"], paths["rundb"], paths["daq"]], offline=[paths["prod"]]
    )


def _row(runs: pd.DataFrame, run: int) -> pd.Series:
    sel = runs[runs["run"] == run]
    assert len(sel) == 1, run
    return sel.iloc[0]


def _reasons(row: pd.Series) -> set[str]:
    return set(str(row["reasons"]).split(";")) if isinstance(row["reasons"], str) else set()


@pytest.mark.parametrize("run", [r.run for r in _runs()])
def test_expected_verdict(audited: Any, run: int) -> None:
    from lumiaudit.runlists import classify_runs

    spec = next(r for r in _runs() if r.run == run)
    status, reason, flagged, category = spec.expect
    row = _row(audited.runs, run)
    assert row["status"] == status, (run, row["reasons"], row["evidence"])
    if reason is not None:
        assert reason in _reasons(row), (run, row["reasons"], row["evidence"])
    assert bool(row["flagged"]) is flagged, (run, row["reasons"])
    cats = classify_runs(audited.runs)
    assert cats[audited.runs["run"] == run].tolist() == [category], (run, row["reasons"])


def test_source_defects_name_the_odd_source(audited: Any) -> None:
    d = audited.source_defects
    by = {(int(r.run), str(r.source)): r for r in d.itertuples(index=False)}
    assert by[(207, "elog")].kind == "typo"
    assert "dropped digit" in by[(207, "elog")].detail
    assert by[(208, "daq")].kind == "daq_catalogue_incomplete"
    assert "HLT2 f00001" in by[(208, "daq")].detail
    assert by[(209, "elog")].kind == "empty_count"
    assert (214, "elog") in by or (214, "daq") in by
    # the clean runs have no defect
    assert not {r for r, _ in by} & set(range(201, 207))
    # the voted value is the one compared
    raw208 = next(r for r in _runs() if r.run == 208).raw
    assert _row(audited.runs, 208)["n_online"] == sum(raw208.values())


def test_processing_loss_has_per_file_amounts(audited: Any) -> None:
    spec = next(r for r in _runs() if r.run == 211)
    row = _row(audited.runs, 211)
    assert row["unexplained_diff"] == 0
    assert "processing_loss=150" in str(row["reason_events"])
    assert "HLT3 f00000 -150" in str(row["evidence"])
    assert spec.raw[(3, 0)] - spec.offline[(3, 0)] == 150
    r210 = _row(audited.runs, 210)
    lost = sum(
        v - w for v, w in zip(_spec(210).raw.values(), _spec(210).offline.values(), strict=True)
    )
    assert f"processing_loss={lost}" in str(r210["reason_events"])
    text = audited.explain(211)
    assert "processing_loss" in text


def _spec(run: int) -> Run:
    return next(r for r in _runs() if r.run == run)


def test_unlisted_file_accounts_for_the_excess(audited: Any) -> None:
    row = _row(audited.runs, 212)
    extra = _spec(212).extra[(1, 1)]
    assert row["diff"] == -extra
    assert f"unlisted_file={-extra}" in str(row["reason_events"])
    assert row["unexplained_diff"] == 0


def test_per_source_summary(audited: Any) -> None:
    sources = audited.summary["stats"]["sources"]
    assert set(sources) == {"elog", "rundb", "daq"}
    elog = sources["elog"]
    assert elog["defects"].get("typo") == 1
    assert elog["defects"].get("empty_count") == 1
    assert elog["text"].startswith("elog agreed with offline in ")
    assert "1 typo" in elog["text"]
    assert "1 empty_count" in elog["text"]
    assert sources["daq"]["defects"].get("daq_catalogue_incomplete") == 1


def test_luminosity_of_the_losses(audited: Any) -> None:
    lumi = audited.summary["stats"]["lumi"]
    row = _row(audited.runs, 215)
    expected = 60 / row["n_online"] * 2000.0
    assert row["lumi_unexplained_nb"] == pytest.approx(expected)
    assert lumi["unexplained_nb"] == pytest.approx(expected)
    assert lumi["affected_nb"] >= lumi["unexplained_nb"] > 0
    assert "recorded is affected" in lumi["text"]
    fun = audited.funnel.set_index("bucket")
    assert fun.loc["unexplained", "lumi_nb"] == pytest.approx(expected)
    assert float(fun["lumi_nb"].sum()) == pytest.approx(lumi["recorded_nb"], rel=1e-9)


def test_without_the_catalogue_a_resubmitted_job_is_duplicate_events(tmp_path: Path) -> None:
    import lumiaudit

    runs = [r for r in _runs() if r.run in (201, 202, 203, 204, 205, 206, 212)]
    paths = write_production(tmp_path, runs, with_daq=False)
    result = lumiaudit.audit(online=[paths["elog"], paths["rundb"]], offline=[paths["prod"]])
    row = _row(result.runs, 212)
    repeated = _spec(212).raw[(1, 0)]
    assert row["status"] == "EXCESS"
    assert f"duplicate_events=-{repeated}" in str(row["reason_events"]), row["evidence"]
    assert row["unexplained_diff"] == 0
    assert bool(row["flagged"])
    assert "HLT1.f00000.root again in" in str(row["evidence"])


def test_without_the_catalogue_a_processing_loss_is_unexplained(tmp_path: Path) -> None:
    import lumiaudit

    runs = [r for r in _runs() if r.run in (201, 202, 203, 204, 205, 206, 210)]
    paths = write_production(tmp_path, runs, with_daq=False)
    result = lumiaudit.audit(online=[paths["elog"], paths["rundb"]], offline=[paths["prod"]])
    row = _row(result.runs, 210)
    assert row["status"] == "DEFICIT"
    assert "unexplained" in _reasons(row)
    assert bool(row["flagged"])


# ---------------------------------------------------------------- vote_sources, table-driven


def _entries(rows: list[tuple[str, int | None, str | None]], run: int = 5) -> pd.DataFrame:
    out = []
    for k, (kind, value, text) in enumerate(rows):
        out.append(
            {
                "experiment": 10,
                "run": run,
                "n_online": value,
                "source": f"/in/{kind}.src",
                "source_line": str(k + 1),
                "entry_id": str(k + 1),
                "entry_date": T0 + timedelta(minutes=k),
                "count_text": text if text is not None else (None if value is None else str(value)),
                "kind": kind,
                "chosen": k == len(rows) - 1,
            }
        )
    frame = pd.DataFrame(out)
    frame["n_online"] = frame["n_online"].astype("Int64")
    return frame


@pytest.mark.parametrize(
    ("rows", "offline", "chosen", "odd", "kind"),
    [
        # the latest (DAQ) is wrong, two agree: the majority wins
        (
            [("elog", 1000, None), ("rundb", 1000, None), ("daq", 940, None)],
            1000,
            1000,
            "daq",
            "disagrees",
        ),
        # the majority wins even against offline (a real loss)
        ([("elog", 1000, None), ("rundb", 1000, None), ("daq", 1000, None)], 900, 1000, None, None),
        # a typo is named
        (
            [("elog", 100, None), ("rundb", 1000, None), ("daq", 1000, None)],
            1000,
            1000,
            "elog",
            "typo",
        ),
        # an empty / unreadable count is the odd one out when two others agree
        (
            [("elog", None, ""), ("rundb", 1000, None), ("daq", 1000, None)],
            1000,
            1000,
            "elog",
            "empty_count",
        ),
        (
            [("elog", None, "12k"), ("rundb", 1000, None), ("daq", 1000, None)],
            1000,
            1000,
            "elog",
            "unreadable_count",
        ),
        # one against one: offline breaks the tie
        ([("elog", 1240, None), ("daq", 1000, None)], 1000, 1000, "elog", "disagrees"),
        # one against one and offline agrees with neither: nothing decided
        ([("elog", 1240, None), ("daq", 1100, None)], 1000, 1100, None, None),
    ],
)
def test_vote_table(
    rows: list[tuple[str, int | None, str | None]],
    offline: int,
    chosen: int,
    odd: str | None,
    kind: str | None,
) -> None:
    entries = _entries(rows)
    last = entries[entries["n_online"].notna()].iloc[-1]
    online = schema.enforce(
        pd.DataFrame(
            {
                "experiment": [10],
                "run": [5],
                "run_type": ["physics"],
                "n_online": [last["n_online"]],
                "source": [last["source"]],
                "source_line": [last["source_line"]],
            }
        ),
        schema.ONLINE,
    )
    offline_runs = pd.DataFrame(
        {"experiment": [10], "run": [5], "n_offline": [offline], "n_offline_full": [offline]}
    )
    vote = vote_sources(online, entries, offline_runs, thresholds=Thresholds())
    assert int(vote.online["n_online"].iloc[0]) == chosen
    if odd is None:
        assert len(vote.defects) == 0
    else:
        assert vote.defects["source"].tolist() == [odd]
        assert vote.defects["kind"].tolist() == [kind]
        assert int(vote.defects["expected"].iloc[0]) == chosen


def test_source_kinds_from_formats_and_entries() -> None:
    entries = pd.DataFrame(
        {
            "source": ["a.log", "b.json", "c.csv", "d.csv"],
            "entry_type": [None, None, "DAQ files", None],
            "quality": [None, None, None, None],
        }
    )
    kinds = source_kinds(entries, {"d.csv": "table"})
    assert kinds.tolist() == ["elog", "rundb", "daq", "table"]


def test_explain_and_ticket_list_the_per_file_loss(audited: Any) -> None:
    from lumiaudit.render.tickets import markdown_snippet

    text = audited.explain(211)
    assert "HLT3 f00000 -150" in text
    assert "online sources: " in text
    snippet = markdown_snippet(
        audited.runs[audited.runs["run"].isin([208, 211])], summary=audited.summary
    )
    assert "HLT3 f00000 -150" in snippet
    assert "daq\\_catalogue\\_incomplete" in snippet or "daq_catalogue_incomplete" in snippet


def test_report_view_shows_sources_rule_and_luminosity(audited: Any) -> None:
    from lumiaudit.report import audit_html

    page = audited._repr_html_()
    assert page == audit_html(audited)
    assert "Online source defects" in page
    assert "daq_catalogue_incomplete" in page
    assert "flag rule: an unexplained difference of more than 5 events" in page
    assert "recorded is affected" in page
    assert "elog agreed with offline in " in page


def test_audit_directory_has_source_defects(audited: Any, tmp_path: Path) -> None:
    from lumiaudit.pipeline import Audit

    out = audited.write(tmp_path / "a", plots=False)
    table = pd.read_csv(out / "source_defects.csv")
    assert set(table.columns) >= {"run", "source", "value", "expected", "kind", "detail"}
    assert len(table) == len(audited.source_defects)
    again = Audit.load(out)
    assert len(again.source_defects) == len(table)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stats"]["sources"]["elog"]["defects"]["typo"] == 1


def test_a_source_counting_the_other_definition_is_not_odd() -> None:
    # the DAQ sum counts tree entries (no nfullevents), elog and run database the error-free
    # events: all three agree with offline, each by its definition; nothing is replaced
    entries = _entries([("elog", 980, None), ("rundb", 980, None), ("daq", 1000, None)])
    online = schema.enforce(
        pd.DataFrame({"experiment": [10], "run": [5], "run_type": ["physics"], "n_online": [980]}),
        schema.ONLINE,
    )
    offline_runs = pd.DataFrame(
        {"experiment": [10], "run": [5], "n_offline": [1000], "n_offline_full": [980]}
    )
    vote = vote_sources(online, entries, offline_runs)
    assert len(vote.defects) == 0
    assert int(vote.online["n_online"].iloc[0]) == 980
    assert bool(vote.verdicts["confirmed"].iloc[0])


@settings(max_examples=60, deadline=None)
@given(
    true=st.integers(min_value=100, max_value=10**7),
    wrong=st.integers(min_value=0, max_value=10**7),
    odd=st.sampled_from(["elog", "rundb", "daq"]),
    newest_odd=st.booleans(),
)
def test_two_agreeing_witnesses_outvote_one(
    true: int, wrong: int, odd: str, newest_odd: bool
) -> None:
    # whatever the odd source says and whenever it said it, two sources agreeing with offline
    # decide the value, and the odd one is the only defect
    assume(abs(wrong - true) > Thresholds().abs_floor)
    kinds = [k for k in ("elog", "rundb", "daq") if k != odd]
    order = [*kinds, odd] if newest_odd else [odd, *kinds]
    rows = [(k, wrong if k == odd else true, None) for k in order]
    entries = _entries(rows)
    latest = int(entries["n_online"].iloc[-1])
    online = schema.enforce(
        pd.DataFrame(
            {"experiment": [10], "run": [5], "run_type": ["physics"], "n_online": [latest]}
        ),
        schema.ONLINE,
    )
    offline_runs = pd.DataFrame(
        {"experiment": [10], "run": [5], "n_offline": [true], "n_offline_full": [true]}
    )
    vote = vote_sources(online, entries, offline_runs)
    assert int(vote.online["n_online"].iloc[0]) == true
    assert vote.defects["source"].tolist() == [odd]
    assert bool(vote.verdicts["confirmed"].iloc[0])


def test_a_value_two_sources_agree_on_is_never_a_typo(tmp_path: Path) -> None:
    """Neighbouring runs with the same count: a 20-event loss is not "the count of run 221"."""
    import lumiaudit

    same = {(1, 0): 400, (2, 0): 400}
    runs = [Run(r, dict(same), daq=False) for r in (221, 222, 223)]
    runs[1].offline = {(1, 0): 400, (2, 0): 380}
    paths = write_production(tmp_path, runs, with_daq=False)
    both = lumiaudit.audit(online=[paths["elog"], paths["rundb"]], offline=[paths["prod"]])
    row = _row(both.runs, 222)
    assert row["status"] == "DEFICIT"
    assert _reasons(row) == {"unexplained"}, row["evidence"]
    assert bool(row["flagged"])
    # with the elog alone the copied count of a neighbour stays a possible typo
    alone = lumiaudit.audit(online=[paths["elog"]], offline=[paths["prod"]])
    assert "elog_typo" in _reasons(_row(alone.runs, 222))
