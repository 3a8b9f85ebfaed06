"""Two productions of one run side by side (issue 13): never summed, the chosen one audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from lumiaudit.example import write_basf2_file, write_elog_dayfiles
from lumiaudit.reconcile.productions import production_of

OLD = "release-06-00-00/DB00001000/proc13"
NEW = "release-08-00-00/DB00002000/proc15"
LAYOUT = "{prod}/e0014/4S/r{run:05d}/all/mdst/sub00/mdst.physics.0014.{run:05d}.HLT{u}.f00000.root"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("productions")
    prod = root / "prod"
    entries = []
    t0 = datetime(2022, 6, 1, tzinfo=UTC)
    for k, run in enumerate(range(301, 311)):
        for u in (1, 2, 3, 4):
            write_basf2_file(
                prod / LAYOUT.format(prod=NEW, run=run, u=u), experiment=14, run=run, n_events=400
            )
        if run == 305:
            # the older release of run 305: HLT4's file was never produced there, and the
            # others lost 10 events each (a mix of the two would give 3 x 390 + 400)
            for u in (1, 2, 3):
                write_basf2_file(
                    prod / LAYOUT.format(prod=OLD, run=run, u=u),
                    experiment=14,
                    run=run,
                    n_events=390,
                )
        entries.append(
            {
                "Date": (t0 + timedelta(hours=k)).isoformat(),
                "Type": "Run summary",
                "Category": "Physics",
                "Exp number": "14",
                "Run number": str(run),
                "Num events": "1600",
                "text": "Run summary\n",
            }
        )
    write_elog_dayfiles(root / "elog", entries)
    return {"prod": prod, "elog": root / "elog"}


def _row(runs: pd.DataFrame, run: int) -> pd.Series:
    return runs[runs["run"] == run].iloc[0]


def test_production_of_paths() -> None:
    assert production_of(LAYOUT.format(prod=NEW, run=1, u=1)) == NEW
    assert production_of("/grid/mdst_000123_prod00012345_task10020000123.root") is None


def test_the_newest_production_is_audited_and_all_are_reported(inputs: dict[str, Path]) -> None:
    import lumiaudit

    result = lumiaudit.audit(online=inputs["elog"], offline=inputs["prod"])
    row = _row(result.runs, 305)
    assert row["n_offline"] == 1600  # the newest: not 1600 + 1200, not a mix
    assert row["status"] == "OK"
    assert "several_productions" in str(row["reasons"])
    assert not bool(row["flagged"])
    text = str(row["productions"])
    assert f"{NEW}: 1,600 (chosen)" in text
    assert f"{OLD}: 1,170" in text
    assert "never summed" in str(row["evidence"])
    others = result.runs[result.runs["run"] != 305]
    assert others["productions"].isna().all()


def test_production_option_chooses(inputs: dict[str, Path], tmp_path: Path) -> None:
    from lumiaudit.cli import cli

    out = tmp_path / "audit"
    args = ["audit", "--online", str(inputs["elog"]), "--offline", str(inputs["prod"])]
    result = CliRunner().invoke(
        cli, [*args, "--out", str(out), "--no-plots", "--production", "proc13"]
    )
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    row: Any = _row(runs, 305)
    assert row["n_offline"] == 1170
    assert row["status"] == "DEFICIT"
    assert bool(row["flagged"])
    assert f"{OLD}: 1,170 (chosen)" in row["productions"]
    # runs with one production are audited as they are
    assert _row(runs, 304)["n_offline"] == 1600
