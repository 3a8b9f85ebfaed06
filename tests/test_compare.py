"""compare(): join, statuses, offline definition followed; missing values stay missing."""

from __future__ import annotations

import pandas as pd
import pytest

from lumiaudit import schema
from lumiaudit.errors import ParameterError
from lumiaudit.reconcile.compare import compare, detect_follows


def _online(rows: list[tuple[int, str, int | None]]) -> pd.DataFrame:
    return schema.enforce(
        pd.DataFrame(
            {
                "experiment": [10] * len(rows),
                "run": [r[0] for r in rows],
                "run_type": [r[1] for r in rows],
                "n_online": pd.array([r[2] for r in rows], dtype="Int64"),
            }
        ),
        schema.ONLINE,
    )


def _offline(rows: list[tuple[int, int, int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment": [10] * len(rows),
            "run": [r[0] for r in rows],
            "n_offline": [r[1] for r in rows],
            "n_offline_full": [r[2] for r in rows],
            "n_files": [r[3] for r in rows],
            "n_files_bad": [r[4] for r in rows],
            "run_type": ["physics"] * len(rows),
        }
    )


def test_statuses_and_missing_values() -> None:
    online = _online(
        [
            (1, "physics", 1000),
            (2, "physics", 1000),
            (3, "physics", 900),
            (4, "cosmic", 5000),
            (5, "physics", 700),
            (6, "physics", None),
            (8, "physics", 1001),
        ]
    )
    offline = _offline(
        [
            (1, 1000, 1000, 2, 0),
            (2, 900, 900, 2, 0),
            (3, 1000, 1000, 2, 0),
            (6, 500, 500, 1, 0),
            (7, 400, 400, 1, 0),
            (8, 1000, 1000, 2, 0),
        ]
    )
    runs, follows = compare(online, offline)
    status = dict(zip(runs["run"], runs["status"], strict=True))
    assert status == {
        1: "OK",
        2: "DEFICIT",
        3: "EXCESS",
        4: "NOT_AUDITED",
        5: "MISSING_OFFLINE",
        6: "MISSING_ONLINE",
        7: "MISSING_ONLINE",
        8: "OK",  # one event within the floors
    }
    by = runs.set_index("run")
    assert by.loc[5, "n_offline"] is pd.NA
    assert by.loc[5, "diff"] is pd.NA
    assert by.loc[7, "n_online"] is pd.NA
    assert by.loc[7, "ratio"] is pd.NA
    assert by.loc[2, "diff"] == 100
    assert by.loc[3, "ratio"] == pytest.approx(0.9)
    assert list(runs.columns[: len(schema.RUNS.names)]) == schema.RUNS.names
    assert follows == "full"


def test_all_files_unreadable_is_missing_offline() -> None:
    runs, _ = compare(_online([(1, "physics", 800)]), _offline([(1, 0, 0, 2, 2)]))
    assert runs["status"].tolist() == ["MISSING_OFFLINE"]


def test_follows_full_or_entries_globally_and_per_run() -> None:
    # online = error-free events (full) in runs 1, 2; run 3 follows the entries
    online = _online([(1, "physics", 950), (2, "physics", 480), (3, "physics", 300)])
    offline = _offline([(1, 1000, 950, 2, 0), (2, 500, 480, 1, 0), (3, 300, 290, 1, 0)])
    runs, follows = compare(online, offline)
    assert follows == "full"
    by = runs.set_index("run")
    assert by.loc[1, "diff"] == 0
    assert by.loc[1, "diff_entries"] == -50
    assert by.loc[3, "follows"] == "entries"
    assert by.loc[1, "follows"] == "full"
    # the other way round
    online2 = _online([(1, "physics", 1000), (2, "physics", 500)])
    runs2, follows2 = compare(online2, offline.iloc[:2])
    assert follows2 == "entries"
    assert runs2["diff"].tolist() == [0, 0]
    assert runs2["diff_full"].tolist() == [50, 20]


def test_runs_with_a_loss_do_not_vote() -> None:
    on = pd.Series([100, 100, 90], dtype="Int64")
    ent = pd.Series([110, 110, 70], dtype="Int64")
    full = pd.Series([100, 100, 60], dtype="Int64")
    follows, vote = detect_follows(on, ent, full)
    assert follows == "full"
    assert vote.isna().tolist() == [False, False, True]


def test_forced_definition_and_bad_value() -> None:
    online = _online([(1, "physics", 1000)])
    offline = _offline([(1, 1000, 950, 2, 0)])
    runs, follows = compare(online, offline, follows="full")
    assert follows == "full"
    assert runs["diff"].tolist() == [50]
    with pytest.raises(ParameterError, match="follows"):
        compare(online, offline, follows="both")


def test_non_physics_configurable() -> None:
    online = _online([(1, "cosmic", 1000)])
    offline = _offline([(1, 1000, 1000, 1, 0)])
    assert compare(online, offline)[0]["status"].tolist() == ["NOT_AUDITED"]
    assert compare(online, offline, non_physics=())[0]["status"].tolist() == ["OK"]
