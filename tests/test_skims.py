"""Skim directories are subsets, never duplicates (issue 13).

A skim file under ``rRRRRR/skim/NAME/`` keeps the stem of its ``all/`` file (DOMAIN.md). It must
never be a ``duplicate_file``, never add to the run's offline count, never be compared with the
raw file of the DAQ catalogue (``processing_loss``) and never be a production of its own, also
when the skims were made with a newer release than the mdst. Files written by uproot in
tmp_path (lumiaudit.example's basf2-like writer).
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lumiaudit.example import write_basf2_file, write_elog_dayfiles

EXP = 14
PROD = "release-08-00-00/DB00002000/proc15"
SKIM_PROD = "release-08-01-00/DB00002000/proc15"  # skims made later, with a newer release
RUN_DIR = "{prod}/e0014/4S/r{run:05d}"
STEM = "mdst.physics.0014.{run:05d}.HLT{u}.f00000.root"
T0 = datetime(2022, 8, 1, tzinfo=UTC)
#: run -> (where its skim files are, events lost in processing by HLT2's file)
RUNS: dict[int, tuple[str | None, int]] = {
    601: (None, 0),
    602: (PROD, 0),  # skim/hadron/ next to all/, same production path
    603: (SKIM_PROD, 0),  # skim/hadron/ under a newer release's path
    604: (PROD, 20),  # a real loss in all/, skims beside it
}


def _raw(run: int, u: int) -> int:
    return 400 + 7 * (run - 600) + 3 * u  # every run and file its own count


def write_production(root: Path) -> dict[str, Path]:
    prod = root / "prod"
    entries, daq = [], []
    for k, (run, (skim_prod, lost)) in enumerate(RUNS.items()):
        first = 1
        for u in (1, 2):
            n = _raw(run, u)
            kept = n - (lost if u == 2 else 0)
            base = RUN_DIR.format(prod=PROD, run=run)
            write_basf2_file(
                prod / base / "all/mdst/sub00" / STEM.format(run=run, u=u),
                experiment=EXP,
                run=run,
                n_events=kept,
                first_event=first,
            )
            if skim_prod is not None:
                write_basf2_file(
                    prod
                    / RUN_DIR.format(prod=skim_prod, run=run)
                    / "skim/hadron/mdst/sub00"
                    / STEM.format(run=run, u=u),
                    experiment=EXP,
                    run=run,
                    n_events=n // 3,
                    first_event=first,
                )
            daq.append(
                {
                    "name": f"physics.0014.{run:05d}.HLT{u}.f00000.root",
                    "path": f"/rawdata/disk0{u}/e0014/r{run:05d}",
                    "host": f"hltsv0{u}",
                    "runtype": "physics",
                    "expno": EXP,
                    "runno": run,
                    "fileno": 0,
                    "nevents": n,
                    "nfullevents": n,
                    "size": 2_000_000_000,
                    "time_close": (T0 + timedelta(hours=k, minutes=50)).strftime(
                        "%Y-%m-%d %H:%M:%S"
                    ),
                    "correct_close": "t",
                }
            )
            first += n
        entries.append(
            {
                "Date": (T0 + timedelta(hours=k, minutes=55)).isoformat(),
                "Type": "Run summary",
                "Category": "Physics",
                "Exp number": str(EXP),
                "Run number": str(run),
                "Num events": str(_raw(run, 1) + _raw(run, 2)),
                "text": "Run summary\n",
            }
        )
    write_elog_dayfiles(root / "elog", entries)
    catalogue = root / "daq.csv"
    with catalogue.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(daq[0]))
        writer.writeheader()
        writer.writerows(daq)
    return {"prod": prod, "elog": root / "elog", "daq": catalogue}


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_production(tmp_path_factory.mktemp("skims"))


def _regex_profile(tmp_path: Path) -> Path:
    """The belle2 profile with a regular-expression name grammar (no skim group in it)."""
    import dataclasses

    from lumiaudit.profiles import dump_profile, load_profile

    regex = (
        r"r(?P<run>\d{5})/.*\.(?P<experiment>\d{4})\.\d{5}\.HLT(?P<hlt_unit>\d+)"
        r"\.f(?P<file_index>\d{5})\.root$"
    )
    profile = dataclasses.replace(load_profile("belle2"), name="belle2-regex", names=regex)
    path = tmp_path / "regex.toml"
    path.write_text(dump_profile(profile))
    return path


@pytest.fixture(scope="module", params=["belle2", "regex"])
def audited(
    production: dict[str, Path],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    import lumiaudit

    profile = (
        "belle2" if request.param == "belle2" else _regex_profile(tmp_path_factory.mktemp("p"))
    )
    return lumiaudit.audit(
        online=[production["elog"], production["daq"]],
        offline=production["prod"],
        profile=str(profile),
    )


def _row(runs: pd.DataFrame, run: int) -> pd.Series:
    sel = runs[runs["run"] == run]
    assert len(sel) == 1
    return sel.iloc[0]


@pytest.mark.parametrize("run", [602, 603])
def test_skims_are_no_duplicates_no_events_no_production(audited: Any, run: int) -> None:
    row = _row(audited.runs, run)
    assert row["n_offline"] == _raw(run, 1) + _raw(run, 2)
    assert row["status"] == "OK", (row["reasons"], row["evidence"])
    assert not bool(row["flagged"])
    reasons = str(row["reasons"])
    assert "duplicate_file" not in reasons
    assert "several_productions" not in reasons
    files = audited.files[audited.files["run"] == run]
    skims = files[files["path"].str.contains("/skim/hadron/")]
    assert len(skims) == 2
    assert (skims["status"] == "ok").all()
    assert skims["duplicate_of"].isna().all()
    assert skims["markers"].str.contains("skim:hadron").all()


def test_a_real_loss_beside_skims_keeps_its_exact_amount(audited: Any) -> None:
    row = _row(audited.runs, 604)
    assert row["status"] == "DEFICIT"
    assert row["diff"] == 20
    assert str(row["reason_events"]) == "processing_loss=20", row["evidence"]
    # the exact amount, and no second number for the cause (issue 16)
    assert re.search(
        r"1 file\(s\) shorter than their raw file: HLT2 f00000 -20(?![\d,])", str(row["evidence"])
    ), row["evidence"]
    assert "estimate" not in str(row["evidence"])
    assert bool(row["flagged"])
