"""The explain, runlist and diff commands on audit directories written from reconcile()."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from lumiaudit import schema
from lumiaudit.cli import cli
from lumiaudit.reconcile import reconcile

P = "{root}/e0010/4S/r{run:05d}/all/mdst/sub00/mdst.physics.0010.{run:05d}.HLT{u}.f00000.root"


def _write_audit(out: Path, prod: Path, *, lost: int) -> Path:
    """An audit directory of 10 runs; run 5 lost ``lost`` events without a cause."""
    files, online = [], {}
    for run in range(1, 11):
        for u in (1, 2):
            path = Path(P.format(root=prod, run=run, u=u))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            files.append(
                {
                    "path": str(path),
                    "experiment": 10,
                    "run": run,
                    "hlt_unit": u,
                    "file_index": 0,
                    "n_entries": 500,
                    "n_full": 500,
                    "status": "ok",
                }
            )
        online[run] = 1000 + (lost if run == 5 else 0)
    f = schema.enforce(pd.DataFrame(files), schema.FILES)
    offline_runs = (
        f.groupby(["experiment", "run"])
        .agg(
            n_offline=("n_entries", "sum"),
            n_offline_full=("n_full", "sum"),
            n_files=("path", "size"),
        )
        .reset_index()
        .assign(n_files_bad=0)
    )
    on = schema.enforce(
        pd.DataFrame(
            {
                "experiment": 10,
                "run": list(online),
                "run_type": "physics",
                "n_online": list(online.values()),
            }
        ),
        schema.ONLINE,
    )
    entries = on.assign(
        entry_id=[f"MID {r}" for r in online],
        count_text=[str(v) for v in online.values()],
        chosen=True,
    )
    rec = reconcile(
        online=on,
        online_entries=entries,
        files=f,
        offline_runs=offline_runs,
        contributions=f[["path", "experiment", "run", "n_entries", "n_full"]],
    )
    out.mkdir(parents=True)
    for name, frame in (
        ("runs", rec.runs),
        ("files", f),
        ("online_entries", entries),
        ("online", on),
        ("funnel", rec.funnel),
    ):
        frame.to_csv(out / f"{name}.csv", index=False, na_rep="")
    return out


@pytest.fixture
def audits(tmp_path: Path) -> tuple[Path, Path]:
    prod = tmp_path / "prod"
    return _write_audit(tmp_path / "old", prod, lost=0), _write_audit(
        tmp_path / "new", prod, lost=200
    )


def test_explain(audits: tuple[Path, Path]) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["explain", "--audit", str(audits[1]), "5"])
    assert res.exit_code == 0, res.output
    assert "Run 5 (experiment 10, physics): DEFICIT, FLAGGED" in res.output
    assert "unexplained" in res.output
    assert "MID 5" in res.output
    res = runner.invoke(cli, ["explain", "--audit", str(audits[1]), "77"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == ["Error: run 77 is not in this audit"]
    res = runner.invoke(cli, ["explain", "--audit", str(audits[1].parent / "nope"), "5"])
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_runlist(audits: tuple[Path, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["runlist", "--from", str(audits[1]), "--category", "bad"])
    assert res.exit_code == 0, res.output
    recs = json.loads(res.stdout)
    assert [(r["run"], r["category"]) for r in recs] == [(5, "bad")]
    out = tmp_path / "list.csv"
    view = tmp_path / "view"
    args = [
        "runlist",
        "--from",
        str(audits[1]),
        "--format",
        "csv",
        "-o",
        str(out),
        "--symlink-view",
        str(view),
    ]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert len(table) == 10
    assert set(table["category"]) == {"good", "bad"}
    assert sorted(p.name for p in (view / "BadRuns").iterdir()) == ["r00005"]
    assert len(list((view / "GoodRuns").iterdir())) == 9
    res = runner.invoke(cli, args)
    assert "created 0, removed 0" in res.stderr


def test_diff(audits: tuple[Path, Path]) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["diff", str(audits[0]), str(audits[1])])
    assert res.exit_code == 0, res.output
    assert (
        # each run in one category: the newly flagged run is not listed again as changed
        res.stdout.splitlines()[0] == "newly flagged 1, resolved 0, changed 0, added 0, removed 0"
    )
    res = runner.invoke(cli, ["diff", str(audits[1]), str(audits[0]), "--json"])
    doc = json.loads(res.stdout)
    assert doc["counts"]["resolved"] == 1
    assert doc["resolved"][0]["run"] == 5
    res = runner.invoke(cli, ["diff", str(audits[0]), str(audits[0].parent / "missing")])
    assert res.exit_code == 2


# ---------------------------------------------------------------- issue 11, end to end


def test_audit_refuses_fast_mode(example: dict[str, Path], tmp_path: Path) -> None:
    # fast mode cannot measure the error-free counts nor split multi-run files: the audit
    # flagged error-flag runs as EXCESS while saying "online follows the error-free count"
    out = tmp_path / "audit"
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
            "--mode",
            "fast",
            "--no-plots",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "--mode auto" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


_ENTRY = """$@MID@$: {mid}
Date: Wed, 03 Mar 2021 23:5{mid}:00 +0900
Author: test
Subject: physics run {run}
Type: Run summary
Category: Physics
Exp number: {exp}
Run number: {run}
Num events: {count}
Run time: 00:51:00
Solenoid: ON
Attachment:{space}
Encoding: plain
========================================
Run summary
"""


def test_audit_with_an_entry_without_experiment(example: dict[str, Path], tmp_path: Path) -> None:
    # issue 11/15: one elog entry without `Exp number` crashed audit (int(NA) in explain.py)
    elog = tmp_path / "elog"
    shutil.copytree(example["elog"], elog)
    with (elog / "210310a.log").open("w", encoding="utf-8") as fh:
        fh.write(_ENTRY.format(mid=7, exp="", run=130, count="1267", space=" "))
    out = tmp_path / "audit"
    args = ["audit", "--online", str(elog), "--offline", str(example["prod"]), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--no-plots"])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    row = runs[runs["run"] == 130].iloc[0]
    assert pd.isna(row["experiment"])  # missing stays missing
    assert row["status"] == "MISSING_OFFLINE"
    bad = json.loads((out / "bad_runs.json").read_text())
    assert {"experiment": None, "run": 130} in [
        {"experiment": r["experiment"], "run": r["run"]} for r in bad
    ]
    shown = CliRunner().invoke(cli, ["explain", "130", "--audit", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "experiment n/a" in shown.output


def test_an_unreadable_count_keeps_the_run_out_of_the_good_list(
    example: dict[str, Path], tmp_path: Path
) -> None:
    # issue 11: a later entry typed `12k` (the online side leaves it missing with a problem);
    # the earlier entry's count matches offline, yet the run is not certain: never good
    elog = tmp_path / "elog"
    shutil.copytree(example["elog"], elog)
    with (elog / "210310a.log").open("w", encoding="utf-8") as fh:
        fh.write(_ENTRY.format(mid=8, exp="12", run=102, count="12k", space=" "))
    out = tmp_path / "audit"
    args = ["audit", "--online", str(elog), "--offline", str(example["prod"]), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--no-plots"])
    assert result.exit_code == 0, result.output
    good = {r["run"] for r in json.loads((out / "good_runs.json").read_text())}
    assert 102 not in good
    assert 101 in good
    runs = pd.read_csv(out / "runs.csv")
    row = runs[runs["run"] == 102].iloc[0]
    assert "online_count_unreadable" in row["reasons"]
    assert "12k" in row["evidence"]
