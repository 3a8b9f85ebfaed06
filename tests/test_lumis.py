"""Per-lumisection audit (issue 15): a CMS NanoAOD-like production end to end, run-only key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import lumiaudit
from lumiaudit.cli import cli
from lumiaudit.errors import ConfigError
from lumiaudit.lumis import compare_lumis, not_finished_lumis, read_golden
from tests.support.nanoaod import ONLINE, NanoProduction, write_events_file, write_nano_production


@pytest.fixture(scope="module")
def nano(tmp_path_factory: pytest.TempPathFactory) -> NanoProduction:
    return write_nano_production(tmp_path_factory.mktemp("nano"))


@pytest.fixture(scope="module")
def audited(nano: NanoProduction) -> lumiaudit.Audit:
    return lumiaudit.audit(
        online=[nano.online_ls], offline=[nano.prod], profile="cms-nanoaod", golden=nano.golden
    )


def test_run_only_key_end_to_end(audited: lumiaudit.Audit, nano: NanoProduction) -> None:
    runs = audited.runs
    assert runs["experiment"].isna().all()
    assert runs["run"].tolist() == sorted(ONLINE)
    online = dict(zip(runs["run"], runs["n_online"], strict=True))
    assert online == {run: sum(per.values()) for run, per in ONLINE.items()}
    offline = dict(zip(runs["run"], runs["n_offline"], strict=True))
    assert offline == nano.offline_per_run
    assert audited.summary["experiment_label"] == "CMS"
    assert audited.summary["options"]["key"] == ["run"]


def test_lumisection_table(audited: lumiaudit.Audit) -> None:
    ls = audited.lumis.set_index(["run", "ls"])["status"].to_dict()
    assert {k for k, v in ls.items() if v == "MISSING_OFFLINE"} == {
        (381150, 4),
        (381150, 5),
        (381150, 6),
    }
    assert ls[(381151, 2)] == "SHORT"
    assert ls[(381151, 3)] == "EMPTY"  # processed, 0 events, online 0: not missing
    assert ls[(381152, 9)] == "NOT_CERTIFIED"
    assert sum(v == "OK" for v in ls.values()) == 9


def test_run_verdict_from_lumisections(audited: lumiaudit.Audit) -> None:
    runs = audited.runs.set_index("run")
    assert runs.loc[381150, "n_ls_missing"] == 3
    assert runs.loc[381150, "ls_missing_events"] == 12 + 11 + 9
    assert "missing_lumisection" in runs.loc[381150, "reasons"]
    assert runs.loc[381150, "severity"] == "fail"
    # 3 of 31 events: within the run-level floors, but an LS is short: flagged
    assert runs.loc[381151, "status"] == "OK"
    assert bool(runs.loc[381151, "flagged"])
    assert runs.loc[381151, "reasons"] == "short_lumisection"
    assert not bool(runs.loc[381148, "flagged"])
    assert not bool(runs.loc[381152, "flagged"])  # its uncertified LS 9 is not audited


def test_cli_audit_writes_not_finished_lumis(nano: NanoProduction, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    result = CliRunner().invoke(
        cli,
        [
            "audit",
            "--profile",
            "cms-nanoaod",
            "--online",
            str(nano.online_ls),
            "--offline",
            str(nano.prod),
            "--golden",
            str(nano.golden),
            "--out",
            str(out),
            "--no-plots",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "not_finished_lumis.json").read_text()) == {
        "381150": [[4, 6]],
        "381151": [[2, 2]],
    }
    lumis = pd.read_csv(out / "lumis.csv")
    assert len(lumis) == sum(len(v) for v in ONLINE.values())
    bad = json.loads((out / "bad_runs.json").read_text())
    assert [(r["experiment"], r["run"]) for r in bad] == [(None, 381150), (None, 381151)]
    loaded = lumiaudit.Audit.load(out)
    assert len(loaded.lumis) == len(lumis)
    explained = CliRunner().invoke(cli, ["explain", "--audit", str(out), "381150"])
    assert explained.exit_code == 0, explained.output
    assert "experiment None" not in explained.output
    assert "  MISSING_OFFLINE LS 4-6" in explained.output


def test_belle2_audit_has_no_lumis_files(example: dict[str, Path], tmp_path: Path) -> None:
    a = lumiaudit.audit(online=[example["elog"]], offline=[example["prod"]])
    out = a.write(tmp_path / "a", plots=False)
    assert not (out / "lumis.csv").exists()
    assert "profile" not in a.summary["options"]
    assert a.summary["experiment_label"].startswith("Belle II")


def test_file_not_countable_per_ls_is_not_checked(tmp_path: Path) -> None:
    events = {
        "run": np.array([5, 5, 5], dtype=np.uint32),
        "luminosityBlock": np.array([1, 1, 2], dtype=np.uint32),
        "event": np.arange(3, dtype=np.uint64),
    }
    write_events_file(tmp_path / "a.root", events)
    # run 5's second file has the run branch (counted per run) but no LS branch
    write_events_file(
        tmp_path / "b.root",
        {"run": np.array([5], dtype=np.uint32), "event": np.arange(1, dtype=np.uint64)},
    )
    write_events_file(
        tmp_path / "c.root",
        {
            "run": np.array([6], dtype=np.uint32),
            "luminosityBlock": np.array([1], dtype=np.uint32),
            "event": np.arange(1, dtype=np.uint64),
        },
    )
    (tmp_path / "on.csv").write_text(
        "run,ls,events\n5,1,2\n5,2,1\n5,3,1\n6,1,1\n6,2,4\n", encoding="utf-8"
    )
    a = lumiaudit.audit(online=[tmp_path / "on.csv"], offline=[tmp_path], profile="cms-nanoaod")
    status = a.lumis.set_index(["run", "ls"])["status"].to_dict()
    # run 5 has a file without LS: no per-LS verdict; run 6 is checked (LS 2 missing)
    assert status == {
        (5, 1): "NOT_CHECKED",
        (5, 2): "NOT_CHECKED",
        (5, 3): "NOT_CHECKED",
        (6, 1): "OK",
        (6, 2): "MISSING_OFFLINE",
    }
    assert a.runs["n_ls_not_checked"].tolist() == [3, 0]
    assert "missing_lumisection" not in str(a.runs["reasons"].iloc[0])
    assert "missing_lumisection" in str(a.runs["reasons"].iloc[1])


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("[1, 2]", "expected an object"),
        ('{"x": [[1, 2]]}', "run 'x'"),
        ('{"1": [[3, 2]]}', "is not a range"),
        ('{"1": [[1]]}', "is not a range"),
        ("{", "not valid JSON"),
    ],
)
def test_bad_golden_json(text: str, what: str, tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=what):
        read_golden(path)


def test_duplicate_online_ls_row_is_an_error(tmp_path: Path, nano: NanoProduction) -> None:
    on = tmp_path / "on.csv"
    on.write_text("run,ls,events\n1,1,5\n1,1,6\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"on\.csv:3: run 1 LS 1 twice \(first on line 2\)"):
        lumiaudit.audit(online=[on], offline=[nano.prod], profile="cms-nanoaod")


@pytest.mark.parametrize(
    ("online", "offline", "processed", "status"),
    [
        (10, 10, True, "OK"),
        (10, 0, None, "MISSING_OFFLINE"),
        (10, 7, True, "SHORT"),
        (10, 12, True, "EXCESS"),
        (0, 0, True, "EMPTY"),
        (10, 0, True, "SHORT"),  # processed but all events lost: short, not missing
        (None, 4, True, "MISSING_ONLINE"),
    ],
)
def test_ls_status_table(
    online: int | None, offline: int, processed: bool | None, status: str
) -> None:
    on = pd.DataFrame({"run": [1], "ls": [1], "n_online": pd.array([online], dtype="Int64")})
    off = pd.DataFrame(
        {"run": [1], "ls": [1], "n_offline": [offline], "n_files": [1], "processed": [processed]}
    )
    if offline == 0 and processed is None:
        off = off.iloc[0:0]
    assert compare_lumis(on, off)["status"].tolist() == [status]


def test_not_finished_ranges() -> None:
    t = pd.DataFrame(
        {
            "run": [9, 9, 9, 9, 8],
            "ls": [3, 1, 2, 7, 1],
            "status": ["SHORT", "MISSING_OFFLINE", "OK", "MISSING_OFFLINE", "NOT_CERTIFIED"],
        }
    )
    assert not_finished_lumis(t) == {"9": [[1, 1], [3, 3], [7, 7]]}


def test_online_table_without_experiment_does_not_crash(tmp_path: Path) -> None:
    # the issue: a production keyed by run alone crashed in explain (int() of <NA>)
    events = {"run": np.full(10, 101, dtype=np.uint32), "event": np.arange(10, dtype=np.uint64)}
    write_events_file(tmp_path / "a.root", events)
    table = tmp_path / "online.csv"
    table.write_text("run,n_online\n101,10\n102,5\n", encoding="utf-8")
    a = lumiaudit.audit(online=[table], offline=[tmp_path / "a.root"], profile="cms-nanoaod")
    assert a.runs["experiment"].isna().all()
    assert a.runs["status"].tolist() == ["OK", "MISSING_OFFLINE"]
    assert a.runs["n_offline"].tolist()[0] == 10
    assert pd.isna(a.runs["n_offline"].tolist()[1])  # missing stays missing
    assert len(a.problems) == 0  # no "experiment missing" per row for a run-only key
    assert len(a.lumis) == 0  # a per-run table: no per-LS comparison


@pytest.mark.slow
def test_report_and_nightly_with_the_cms_profile(nano: NanoProduction, tmp_path: Path) -> None:
    # a real kernel executes audit_overview with profile="cms-nanoaod"
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "--profile",
            "cms-nanoaod",
            "--online",
            str(nano.online_ls),
            "--offline",
            str(nano.prod),
            "--golden",
            str(nano.golden),
            "--out",
            str(out),
            "--no-html",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["options"]["profile"] == "cms-nanoaod"
    assert summary["experiment_label"] == "CMS"
    assert summary["lumis"]["status_counts"]["NOT_CERTIFIED"] == 1  # the golden JSON reached it
    assert json.loads((out / "not_finished_lumis.json").read_text()) == {
        "381150": [[4, 6]],
        "381151": [[2, 2]],
    }
    config = tmp_path / "nightly.toml"
    config.write_text(
        "[nightly]\n"
        f"online = [{json.dumps(str(nano.online_ls))}]\n"
        f"offline = [{json.dumps(str(nano.prod))}]\n"
        f"reports = {json.dumps(str(tmp_path / 'nightly'))}\n"
        "html = false\n"
        '[audit]\nprofile = "cms-nanoaod"\n',
        encoding="utf-8",
    )
    night = CliRunner().invoke(cli, ["nightly", "--config", str(config)])
    assert night.exit_code in (0, 1), night.output  # 1: newly flagged runs (the first night)
    latest = tmp_path / "nightly" / "latest"
    assert json.loads((latest / "summary.json").read_text())["options"]["profile"] == "cms-nanoaod"
    assert (latest / "lumis.csv").is_file()


def test_explain_lists_the_lumisections(audited: lumiaudit.Audit) -> None:
    text = audited.explain(381150)
    assert "Lumisections (7): MISSING_OFFLINE 3, OK 4" in text
    assert "  MISSING_OFFLINE LS 4-6" in text
    assert "SHORT LS 2: online 16, offline 13" in audited.explain(381151)


def test_cli_count_writes_lumis(nano: NanoProduction, tmp_path: Path) -> None:
    out = tmp_path / "lumis.csv"
    args = ["count", "--profile", "cms-nanoaod", str(nano.prod), "-o", "/dev/null"]
    result = CliRunner().invoke(cli, [*args, "--lumis", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert set(zip(table["run"], table["ls"], strict=True)) == {
        (run, ls)
        for run, per in ONLINE.items()
        for ls in per
        if not (run == 381150 and 4 <= ls <= 6)
    }
    got = table.set_index(["run", "ls"])["n_offline"]
    assert got[(381151, 2)] == 13
    assert got[(381151, 3)] == 0  # processed (LuminosityBlocks), no event
    bad = CliRunner().invoke(cli, ["count", str(nano.prod), "--lumis", str(out)])
    assert bad.exit_code == 2
    assert "--lumis needs a profile with lumisections; 'belle2' has none" in bad.output


def test_online_directory_with_a_per_ls_table_is_refused(
    nano: NanoProduction, tmp_path: Path
) -> None:
    folder = tmp_path / "online"
    folder.mkdir()
    (folder / "ls.csv").write_bytes(nano.online_ls.read_bytes())
    with pytest.raises(lumiaudit.LumiauditError, match="holds a per-lumisection table"):
        lumiaudit.audit(online=[folder], offline=[nano.prod], profile="cms-nanoaod")


def test_audit_warns_about_entries_of_no_run(nano: NanoProduction, tmp_path: Path) -> None:
    out = tmp_path / "a"
    result = CliRunner().invoke(
        cli,
        [
            *("audit", "--tree", "Events", "--online", str(nano.online_ls)),
            *("--offline", str(nano.prod), "--out", str(out), "--no-plots"),
        ],
    )
    assert result.exit_code == 0, result.output
    total = sum(nano.offline_per_run.values())
    assert f"warning: {total} offline events in 6 files not assigned to any run" in result.output


def test_belle2_raw_profile_compares_entries(example: dict[str, Path]) -> None:
    a = lumiaudit.audit(online=[example["elog"]], offline=[example["prod"]], profile="belle2-raw")
    assert a.summary["follows"] == "entries"
    assert set(a.runs["follows"].dropna()) <= {"entries", "full"}
    assert a.summary["options"]["profile"] == "belle2-raw"


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(
        st.integers(min_value=1, max_value=40),
        st.tuples(
            st.integers(min_value=0, max_value=50),
            st.one_of(st.none(), st.integers(min_value=0, max_value=60)),
        ),
        min_size=1,
    ),
    st.integers(min_value=0, max_value=3),
)
def test_ls_statuses_and_not_finished_agree(
    per_ls: dict[int, tuple[int, int | None]], tolerance: int
) -> None:
    # offline None: the LS is in no file at all (never processed)
    on = pd.DataFrame({"run": 1, "ls": list(per_ls), "n_online": [v[0] for v in per_ls.values()]})
    done = {ls: v[1] for ls, v in per_ls.items() if v[1] is not None}
    off = pd.DataFrame(
        {
            "run": 1,
            "ls": list(done),
            "n_offline": list(done.values()),
            "n_files": 1,
            "processed": True,
        }
    )
    table = compare_lumis(on, off, tolerance=tolerance).set_index("ls")
    for ls, (n_on, n_off) in per_ls.items():
        status = table.loc[ls, "status"]
        got = 0 if n_off is None else n_off
        assert table.loc[ls, "n_offline"] == got
        if n_on == 0 and got == 0:
            assert status == "EMPTY"
        elif n_off is None:
            assert status == "MISSING_OFFLINE"
        elif n_on - got > tolerance:
            assert status == "SHORT"
        elif got > n_on:
            assert status == "EXCESS"
        else:
            assert status == "OK"
    unfinished = not_finished_lumis(table.reset_index())
    listed = {ls for a, b in unfinished.get("1", []) for ls in range(a, b + 1)}
    assert listed == {
        ls for ls in per_ls if table.loc[ls, "status"] in ("MISSING_OFFLINE", "SHORT")
    }


def test_waivers_apply_after_the_lumisection_verdict(nano: NanoProduction, tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.toml"
    waivers.write_text(
        '[[waiver]]\nrun = 381151\nreason = "short_lumisection"\nnote = "known loss"\n'
        '[[waiver]]\nrun = 381150\nexperiment = 10\nreason = "*"\n',  # no experiment here
        encoding="utf-8",
    )
    a = lumiaudit.audit(
        online=[nano.online_ls], offline=[nano.prod], profile="cms-nanoaod", waivers=waivers
    )
    runs = a.runs.set_index("run")
    assert bool(runs.loc[381151, "waived"])
    assert not bool(runs.loc[381151, "flagged"])
    assert not bool(runs.loc[381150, "waived"])  # the waiver names an experiment
    assert bool(runs.loc[381150, "flagged"])
    assert a.summary["totals"]["runs_flagged"] == 1
    assert a.summary["stats"]["runs_waived"] == 1
    from lumiaudit.nightly import _key, _waived_runs

    out = a.write(tmp_path / "audit", plots=False)
    # the nightly's waiver lookup keys a run-only run by (None, run), not by a crash
    assert _waived_runs(lumiaudit.Audit.load(out).runs) == {(None, 381151)}
    assert _key({"experiment": float("nan"), "run": 381151}) == (None, 381151)


def test_runlist_symlink_view_of_a_run_only_audit(audited: lumiaudit.Audit, tmp_path: Path) -> None:
    out = audited.write(tmp_path / "audit", plots=False)
    views = tmp_path / "views"
    result = CliRunner().invoke(cli, ["runlist", "--from", str(out), "--symlink-view", str(views)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in views.iterdir())
    assert names == [".lumiaudit", "BadRuns", "GoodRuns", "UglyRuns"]


def _ls_file(path: Path, run: int, ls: list[int], events: list[int]) -> None:
    write_events_file(
        path,
        {
            "run": np.full(len(events), run, dtype=np.uint32),
            "luminosityBlock": np.array(ls, dtype=np.uint32),
            "event": np.array(events, dtype=np.uint64),
        },
        {
            "run": np.full(len(set(ls)), run, dtype=np.uint32),
            "luminosityBlock": np.array(sorted(set(ls)), dtype=np.uint32),
        },
    )


def test_duplicate_events_are_counted_once(tmp_path: Path) -> None:
    prod = tmp_path / "prod"
    prod.mkdir()
    _ls_file(prod / "A.root", 9, [1, 1, 1, 2, 2], [11, 12, 13, 21, 22])
    # a resubmitted job wrote LS 2 again under another name (same event numbers)
    _ls_file(prod / "B.root", 9, [2, 2], [21, 22])
    # a merge wrote event 31 of LS 3 twice in one file
    _ls_file(prod / "C.root", 9, [3, 3, 3], [31, 31, 32])
    on = tmp_path / "on.csv"
    on.write_text("run,ls,events\n9,1,3\n9,2,2\n9,3,2\n", encoding="utf-8")
    a = lumiaudit.audit(online=[on], offline=[prod], profile="cms-nanoaod")
    table = a.lumis.set_index("ls")
    assert table["status"].to_dict() == {1: "OK", 2: "DUPLICATE", 3: "DUPLICATE"}
    assert table["n_offline"].to_dict() == {1: 3, 2: 4, 3: 3}
    assert table["n_duplicate"].to_dict() == {1: 0, 2: 2, 3: 1}
    assert table["diff"].to_dict() == {1: 0, 2: 0, 3: 0}
    run = a.runs.iloc[0]
    # the file-level count sums the copies (10 of 7: within the run floors, 5 events)
    assert (run["n_offline"], run["status"]) == (10, "OK")
    assert "duplicate_events" in run["reasons"]
    assert run["ls_duplicate_events"] == 3
    assert bool(run["flagged"])
    assert not_finished_lumis(a.lumis) == {}  # nothing to recover, only to deduplicate


def test_a_per_run_table_with_a_lumi_column_is_not_a_per_ls_table(tmp_path: Path) -> None:
    events = {"run": np.full(4, 3, dtype=np.uint32), "event": np.arange(4, dtype=np.uint64)}
    write_events_file(tmp_path / "a.root", events)
    table = tmp_path / "runs.csv"
    table.write_text("run,events,lumi\n3,4,12.5\n", encoding="utf-8")  # lumi: luminosity
    a = lumiaudit.audit(online=[table], offline=[tmp_path / "a.root"], profile="cms-nanoaod")
    assert len(a.lumis) == 0
    assert a.runs["status"].tolist() == ["OK"]
    assert a.online["lumi_nb"].tolist() == [12.5]
