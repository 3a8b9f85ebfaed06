"""Profiles (issue 15): the type, the built-ins, TOML round trips, errors, `lumiaudit profile`,
and counting a NanoAOD-like production with a run-only key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.cli import cli
from lumiaudit.errors import ConfigError, InputNotFoundError
from lumiaudit.offline import count_events
from lumiaudit.offline.count import DEFAULT_BRANCHES
from lumiaudit.profiles import (
    BUILTIN,
    Lumis,
    Profile,
    dump_profile,
    list_profiles,
    load_profile,
    profile_from_dict,
)
from tests.support.nanoaod import write_events_file, write_nano_production


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_round_trips_through_toml(name: str, tmp_path: Path) -> None:
    prof = load_profile(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(dump_profile(prof), encoding="utf-8")
    again = load_profile(path)
    assert again == prof
    assert again.source == str(path)


def test_belle2_is_the_default_and_todays_names() -> None:
    prof = load_profile(None)
    assert prof == load_profile("belle2")
    assert prof.tree == "tree"
    assert prof.key == ("experiment", "run")
    assert {k: v for k, v in prof.branch_names().items() if k in DEFAULT_BRANCHES} == dict(
        DEFAULT_BRANCHES
    )
    assert prof.mapping() == load_profile("belle2").mapping()
    from lumiaudit.online.mapping import BELLE2

    assert prof.mapping() == BELLE2


def test_cms_profile_names() -> None:
    prof = load_profile("cms-nanoaod")
    assert (prof.tree, prof.key, prof.names, prof.full) == ("Events", ("run",), "none", "entries")
    assert prof.lumis == Lumis(
        branch="luminosityBlock",
        tree="LuminosityBlocks",
        online_column=("ls", "lumisection", "luminosityblock", "lumi_section", "lumiblock"),
        tolerance=0,
    )
    assert prof.branch_names()["run"] == "run"
    assert prof.branch_names()["experiment"] == ""
    assert prof.mapping().table.experiment == ()


def test_list_profiles_in_order() -> None:
    assert [p.name for p in list_profiles()] == list(BUILTIN)


_name = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_branch = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_/ABCXYZ0123456789.", max_size=24)


@settings(max_examples=60, deadline=None)
@given(
    name=_name.filter(bool),
    label=_name,
    description=_name,
    tree=_branch.filter(bool),
    run=_branch,
    ls=_branch.filter(bool),
    non_physics=st.lists(st.text(alphabet="abcdefxyz", min_size=1, max_size=8), max_size=4),
    abs_floor=st.integers(min_value=0, max_value=10**6),
    rel_floor=st.floats(min_value=1e-9, max_value=1, allow_nan=False),
)
def test_any_profile_round_trips(
    name: str,
    label: str,
    description: str,
    tree: str,
    run: str,
    ls: str,
    non_physics: list[str],
    abs_floor: int,
    rel_floor: float,
) -> None:
    base = load_profile("generic")
    from lumiaudit.reconcile.stats import Thresholds

    prof = dataclasses.replace(
        base,
        name=name,
        label=label,
        description=description,
        tree=tree,
        branches=tuple(sorted({**dict(base.branches), "run": run}.items())),
        lumis=Lumis(branch=ls),
        non_physics=tuple(non_physics),
        thresholds=Thresholds(abs_floor=abs_floor, rel_floor=rel_floor),
    )
    assert profile_from_dict(tomllib.loads(dump_profile(prof))) == prof


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('name = "x"\ntre = "t"\n', "'tre'"),
        ('name = "x"\n[offline]\ntreee = "t"\n', "'offline.treee'"),
        ('name = "x"\n[offline.branches]\nrunn = "r"\n', "'offline.branches.runn'"),
        ('name = "x"\n[lumis]\nbranch = "ls"\ncolumn = "x"\n', "'lumis.column'"),
        ('name = "x"\n[audit]\nfollow = "full"\n', "'audit.follow'"),
        ('name = "x"\n[thresholds]\nabs = 3\n', "'thresholds.abs'"),
        ('name = "x"\n[online]\nlogbook = {}\n', "'online.logbook'"),
    ],
)
def test_unknown_key_is_a_one_line_error_naming_file_and_key(
    text: str, key: str, tmp_path: Path
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert key in message


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ('name = ""\n', "must not be empty"),
        ('name = "x"\nkey = ["experiment"]\n', "is not one of"),
        ('name = "x"\nkey = ["run"]\n', "run-only key needs"),  # belle2 names capture exp
        ('name = "x"\n[offline]\nfull = "maybe"\n', "'offline.full'"),
        ('name = "x"\n[offline]\nnames = "run(\\\\d+"\n', "not a valid regular"),
        ('name = "x"\n[offline]\nnames = "run(\\\\d+)"\n', "named groups"),
        ('name = "x"\n[offline]\ntree = 3\n', "must be a string"),
        ('name = "x"\n[thresholds]\nabs_floor = 1.5\n', "must be an integer"),
        ('name = "x"\n[thresholds]\nrel_floor = -1\n', "0 or more"),
        ('name = "x"\n[thresholds]\nrel_floor = 0\n', "must be more than 0"),
        ('name = "x"\n[lumis]\ntree = "L"\n', "'lumis.branch'"),
        ('name = "x"\n[online.table]\nevents = 3\n', "[online]"),
        ('name = "x"\n[audit]\nfollows = "half"\n', "'audit.follows'"),
        ("name = \n", "invalid TOML"),
    ],
)
def test_bad_values_are_config_errors(text: str, what: str, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"p\.toml") as err:
        load_profile(path)
    assert what in str(err.value)


def test_unknown_name_and_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"unknown profile .cms.*built in: belle2"):
        load_profile("cms")
    with pytest.raises(InputNotFoundError, match=r"nope\.toml"):
        load_profile("nope.toml")


def test_profile_instances_pass_through() -> None:
    prof = Profile(name="mine")
    assert load_profile(prof) is prof


# ------------------------------------------------------------------------------ CLI


def test_cli_profile_list_and_show() -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["profile", "list"])
    assert listed.exit_code == 0
    assert [line.split("\t")[0] for line in listed.output.splitlines()] == list(BUILTIN)
    shown = runner.invoke(cli, ["profile", "show", "cms-nanoaod"])
    assert shown.exit_code == 0, shown.output
    assert profile_from_dict(tomllib.loads(shown.output)) == load_profile("cms-nanoaod")
    bad = runner.invoke(cli, ["profile", "show", "nope"])
    assert bad.exit_code == 2
    assert "unknown profile 'nope'" in bad.output
    assert "Traceback" not in bad.output


def test_cli_profile_show_file_with_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[offline]\ntreename = "Events"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["profile", "show", str(path)])
    assert result.exit_code == 2
    assert f"{path}: unknown profile key 'offline.treename'" in result.output


# ------------------------------------------------------------------------------ counting


@pytest.fixture
def nano(tmp_path: Path) -> object:
    return write_nano_production(tmp_path)


@pytest.mark.parametrize("mode", ["auto", "deep"])
def test_count_nanoaod_run_only_key(nano: object, mode: str) -> None:
    result = count_events(nano.prod, profile="cms-nanoaod", mode=mode)  # type: ignore[attr-defined]
    runs = result.runs
    assert runs["experiment"].isna().all()
    got = dict(zip(runs["run"].astype(int), runs["n_offline"].astype(int), strict=True))
    assert got == nano.offline_per_run  # type: ignore[attr-defined]
    # NanoAOD: every stored event is a full one (the profile says so)
    assert (runs["n_offline_full"] == runs["n_offline"]).all()
    assert "unassigned" not in result.stats
    assert result.stats["profile"] == "cms-nanoaod"


def test_count_nanoaod_without_profile_warns_instead_of_silent_zero(
    nano: object, caplog: pytest.LogCaptureFixture
) -> None:
    # the issue: `count --tree Events --mode deep` printed "0 runs, 0 events" and nothing else
    result = CliRunner().invoke(
        cli,
        ["count", "--tree", "Events", "--mode", "deep", str(nano.prod), "-o", "/dev/null"],  # type: ignore[attr-defined]
    )
    assert result.exit_code == 0
    total = sum(nano.offline_per_run.values())  # type: ignore[attr-defined]
    assert f"WARNING: {total} events not assigned to any run" in result.output
    assert "no branch 'EventMetaData/m_run' read in tree 'Events'" in caplog.text


def test_cli_count_with_profile(nano: object, tmp_path: Path) -> None:
    runs_csv = tmp_path / "runs.csv"
    result = CliRunner().invoke(
        cli,
        [
            "count",
            "--profile",
            "cms-nanoaod",
            "--mode",
            "deep",
            str(nano.prod),
            "--runs",
            str(runs_csv),
            "-o",
            "/dev/null",
        ],  # type: ignore[attr-defined]
    )
    assert result.exit_code == 0, result.output
    assert "not assigned" not in result.output
    runs = pd.read_csv(runs_csv, keep_default_na=False, na_values=[""])
    assert runs["experiment"].isna().all()
    assert dict(zip(runs["run"], runs["n_offline"], strict=True)) == nano.offline_per_run  # type: ignore[attr-defined]


def test_entries_without_run_branch_are_reported(tmp_path: Path) -> None:
    good = {
        "run": np.array([7, 7], dtype=np.uint32),
        "luminosityBlock": np.array([1, 1], dtype=np.uint32),
        "event": np.array([1, 2], dtype=np.uint64),
    }
    write_events_file(tmp_path / "a.root", good)
    write_events_file(tmp_path / "b.root", {"event": np.arange(5, dtype=np.uint64)})
    result = count_events(tmp_path, profile="cms-nanoaod", mode="deep")
    assert result.runs["run"].tolist() == [7]
    assert result.stats["unassigned"] == [
        {
            "path": str(tmp_path / "b.root"),
            "events": 5,
            "reason": "no run in the file name and no branch 'run' read in tree 'Events'",
        }
    ]
    assert result.summary()["unassigned"] == 5


def test_regex_grammar_gives_the_run(tmp_path: Path) -> None:
    write_events_file(tmp_path / "run000042_f3.root", {"x": np.arange(4, dtype=np.int32)})
    prof = dataclasses.replace(
        load_profile("generic"), names=r"run(?P<run>\d+)_f(?P<file_index>\d+)\.root$"
    )
    result = count_events(tmp_path, profile=prof, tree="Events", mode="fast")
    assert result.runs[["run", "n_offline"]].astype(int).values.tolist() == [[42, 4]]
    assert result.files["file_index"].tolist() == [3]


def test_belle2_profile_counts_as_before(b2_sample: Path) -> None:
    plain = count_events(b2_sample, mode="deep")
    named = count_events(b2_sample, mode="deep", profile="belle2")
    for table in ("files", "runs", "contributions", "gaps"):
        a, b = getattr(plain, table), getattr(named, table)
        if "mtime" in a:
            a, b = a.drop(columns="mtime"), b.drop(columns="mtime")
        pd.testing.assert_frame_equal(a, b)
    assert "profile" not in named.stats
    assert "unassigned" not in named.stats


def test_cli_audit_belle2_profile_writes_the_same_audit(
    example: dict[str, Path], tmp_path: Path
) -> None:
    outs = []
    for extra in ([], ["--profile", "belle2"]):
        out = tmp_path / f"a{len(extra)}"
        result = CliRunner().invoke(
            cli,
            [
                "audit",
                "--online",
                str(example["elog"]),
                "--offline",
                str(example["prod"]),
                "--out",
                str(out),
                "--no-plots",
                *extra,
            ],
        )
        assert result.exit_code == 0, result.output
        outs.append(out)
    import json

    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(p.name for p in outs[1].iterdir())
    for name in names:
        if name in ("summary.json", ".lumiaudit"):
            continue  # creation times differ (summary compared below, the marker here)
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    markers = [json.loads((o / ".lumiaudit").read_text()) for o in outs]
    for m in markers:
        m.pop("created")
    assert markers[0] == markers[1]

    a, b = (json.loads((o / "summary.json").read_text()) for o in outs)
    for s in (a, b):
        s.pop("created")
        s.get("offline_stats", {}).pop("seconds", None)
        s.pop("inputs")
    assert a == b


@pytest.mark.parametrize("command", ["count", "audit"])
def test_bad_profile_option_exits_2(command: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\n[offline]\ntre = "x"\n', encoding="utf-8")
    args = {
        "count": [str(tmp_path)],
        "audit": [
            "--online",
            str(bad),
            "--offline",
            str(tmp_path / "p"),
            "--out",
            str(tmp_path / "o"),
        ],
    }[command]
    (tmp_path / "p").mkdir()  # --out must not lie inside an input
    result = CliRunner().invoke(cli, [command, "--profile", str(bad), *args])
    assert result.exit_code == 2, result.output
    assert (
        result.output.strip() == f"Error: {bad}: unknown profile key 'offline.tre' "
        "(known keys in [offline]: tree, names, full, branches)"
    )
    assert not (tmp_path / "o").exists()


def test_profile_thresholds_and_non_physics_reach_the_audit(tmp_path: Path) -> None:
    import lumiaudit

    for run, n in ((1, 100), (2, 50), (3, 10)):
        events = {"run": np.full(n, run, dtype=np.uint32), "event": np.arange(n, dtype=np.uint64)}
        write_events_file(tmp_path / f"f{run}.root", events)
    online = tmp_path / "online.csv"
    online.write_text("run,run_type,n_online\n1,physics,102\n2,special,50\n3,physics,10\n")
    text = dump_profile(load_profile("cms-nanoaod")).replace(
        'non_physics = ["cosmic", "cosmics", "commissioning", "calibration", "test"]',
        'non_physics = ["special"]',
    )
    loose = tmp_path / "loose.toml"
    loose.write_text(text, encoding="utf-8")
    strict = tmp_path / "strict.toml"
    strict.write_text(
        text + "\n[thresholds]\nabs_floor = 0\nrel_floor = 0.0001\n", encoding="utf-8"
    )
    files = sorted(tmp_path.glob("*.root"))
    a = lumiaudit.audit(online=[online], offline=files, profile=loose)
    b = lumiaudit.audit(online=[online], offline=files, profile=strict)
    assert a.runs["status"].tolist() == ["OK", "NOT_AUDITED", "OK"]  # 2 of 102: within 5
    assert b.runs["status"].tolist() == ["DEFICIT", "NOT_AUDITED", "OK"]
    assert b.summary["thresholds"]["abs_floor"] == 0
    # an explicit argument beats the profile
    c = lumiaudit.audit(online=[online], offline=files, profile=strict, non_physics=())
    assert c.runs["status"].tolist()[1] == "OK"


def test_cms_store_layout_gives_the_run_in_fast_mode(tmp_path: Path) -> None:
    # /store/data/<era>/<dataset>/NANOAOD/<version>/000/379/415/00000/<GUID>.root
    where = tmp_path / "store/data/Run2024C/Muon0/NANOAOD/PromptReco-v1/000/379/415/00000"
    where.mkdir(parents=True)
    events = {"run": np.full(6, 379415, dtype=np.uint32), "event": np.arange(6, dtype=np.uint64)}
    write_events_file(where / "0A1B2C3D-0000-4000-8000-000000000001.root", events)
    text = dump_profile(load_profile("cms-nanoaod")).replace(
        'names = "none"', r'names = "/(?P<run_1>\\d{3})/(?P<run_2>\\d{3})/\\d{5}/[^/]+\\.root$"'
    )
    path = tmp_path / "cms-store.toml"
    path.write_text(text, encoding="utf-8")
    result = count_events(tmp_path / "store", profile=path, mode="fast")
    assert result.runs[["run", "n_offline"]].astype(int).values.tolist() == [[379415, 6]]
    assert result.runs["experiment"].isna().all()
    assert "unassigned" not in result.stats
