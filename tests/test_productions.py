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


# --- productions by FileMetaData release (m_release in the files table's ``release``) ----------

PATH = "release-08-00-00/DB00002000/proc15/e0014/4S/r00305/all/mdst/{sub}/"
STEMS = [f"mdst.physics.0014.00305.HLT{u}.f00000.root" for u in (1, 2, 3, 4)]


def _tables(releases: tuple[object, object]) -> dict[str, pd.DataFrame]:
    """Run 305 twice under one path: sub00 (400 events a file) and sub01 (a reprocessing,
    390 a file, the same stems: the counting stage calls them duplicates of sub00)."""
    files, contributions = [], []
    for sub, n, release in (("sub00", 400, releases[0]), ("sub01", 390, releases[1])):
        for u, stem in enumerate(STEMS, start=1):
            path = PATH.format(sub=sub) + stem
            dup = sub == "sub01"
            files.append(
                {
                    "path": path,
                    "experiment": 14,
                    "run": 305,
                    "hlt_unit": u,
                    "file_index": 0,
                    "status": "duplicate" if dup else "ok",
                    "duplicate_of": PATH.format(sub="sub00") + stem if dup else pd.NA,
                    "n_entries": n,
                    "n_full": n,
                    "markers": "",
                    "release": release,
                }
            )
            if not dup:
                contributions.append(
                    {"path": path, "experiment": 14, "run": 305, "n_entries": n, "n_full": n}
                )
    files_frame = pd.DataFrame(files).astype({"release": "string"})
    offline_runs = pd.DataFrame(
        {
            "experiment": [14],
            "run": [305],
            "n_offline": [1600],
            "n_offline_full": [1600],
            "n_files": [4],
            "n_files_bad": [0],
        }
    )
    online = pd.DataFrame(
        {"experiment": [14], "run": [305], "run_type": ["physics"], "n_online": [1560]}
    )
    return {
        "files": files_frame,
        "contributions": pd.DataFrame(contributions),
        "offline_runs": offline_runs,
        "online": online,
    }


@pytest.mark.parametrize(
    ("releases", "several", "n_offline"),
    [
        # two releases under one path: two productions, the newer audited, never summed
        (("release-08-00-00", "release-08-01-00"), True, 1560),
        (("release-08-01-00", "release-08-00-00"), True, 1600),
        # FileMetaData agrees with the path, or says nothing: the path alone (one production)
        (("release-08-00-00", "release-08-00-00"), False, 1600),
        ((pd.NA, pd.NA), False, 1600),
        (("", ""), False, 1600),
    ],
)
def test_productions_by_release(
    releases: tuple[object, object], several: bool, n_offline: int
) -> None:
    from lumiaudit.reconcile import reconcile

    t = _tables(releases)
    rec = reconcile(
        online=t["online"],
        files=t["files"],
        contributions=t["contributions"],
        offline_runs=t["offline_runs"],
    )
    row = _row(rec.runs, 305)
    assert row["n_offline"] == n_offline  # never 1600 + 1560
    assert ("several_productions" in str(row["reasons"])) is several
    if several:
        text = str(row["productions"])
        assert "1,600" in text
        assert "1,560" in text
        assert "(chosen)" in text
        assert "@release-08-0" in text  # the release FileMetaData gives, not in the path


def test_production_option_picks_a_release() -> None:
    from lumiaudit.reconcile import reconcile

    t = _tables(("release-08-00-00", "release-08-01-00"))
    rec = reconcile(
        online=t["online"],
        files=t["files"],
        contributions=t["contributions"],
        offline_runs=t["offline_runs"],
        production="release-08-00-00",
    )
    row = _row(rec.runs, 305)
    assert row["n_offline"] == 1600
    assert "release-08-00-00/DB00002000/proc15: 1,600 (chosen)" in str(row["productions"])
