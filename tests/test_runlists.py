"""Run lists: categories, JSON/CSV lists read back as masks, idempotent symlink views."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lumiaudit.errors import ConfigError, OutputError
from lumiaudit.runlists import classify_runs, read_mask
from lumiaudit.store.runlists import symlink_view, write_runlists


def _runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment": pd.array([10] * 5, dtype="Int64"),
            "run": pd.array([1, 2, 3, 4, 5], dtype="Int64"),
            "status": ["OK", "DEFICIT", "DEFICIT", "NOT_AUDITED", "MISSING_ONLINE"],
            "flagged": pd.array([False, True, True, False, True], dtype="boolean"),
            "reasons": pd.array(
                [pd.NA, "unreadable_file", "unexplained", "non_physics", "no_online_entry"],
                dtype="string",
            ),
            "unexplained_diff": pd.array([0, 0, 91, pd.NA, pd.NA], dtype="Int64"),
        }
    )


def _production(root: Path) -> pd.DataFrame:
    rows = []
    for run, name in ((1, "r00001"), (2, "r00002_bad"), (3, "r00003"), (5, "r00005")):
        f = (
            root
            / "e0010"
            / "4S"
            / name
            / "all"
            / "mdst"
            / "sub00"
            / f"mdst.physics.0010.{run:05d}.HLT1.f00000.root"
        )
        f.parent.mkdir(parents=True)
        f.write_bytes(b"data")
        rows.append({"path": str(f), "experiment": 10, "run": run})
    return pd.DataFrame(rows)


def test_categories() -> None:
    assert classify_runs(_runs()).tolist() == ["good", "ugly", "bad", pd.NA, "bad"]


def test_lists_round_trip_as_masks(tmp_path: Path) -> None:
    written = write_runlists(_runs(), tmp_path)
    assert sorted(written) == ["bad_runs.csv", "bad_runs.json", "good_runs.csv", "good_runs.json"]
    bad = json.loads((tmp_path / "bad_runs.json").read_text())
    assert [(r["run"], r["category"]) for r in bad] == [(2, "ugly"), (3, "bad"), (5, "bad")]
    assert bad[1]["reasons"] == ["unexplained"]
    assert read_mask(tmp_path / "good_runs.json")["run"].tolist() == [1]
    mask = read_mask(tmp_path / "bad_runs.csv")
    assert mask["run"].tolist() == [2, 3, 5]
    assert mask["experiment"].tolist() == [10, 10, 10]


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("[3000, 3001]", [3000, 3001]),
        ('{"runs": [{"experiment": 10, "run": 3002}]}', [3002]),
        # golden JSON of whole runs (a part of a run is refused: see test_masks.py)
        ('{"3000": [[1, 2147483647]], "3005": [[1, 2147483647]]}', [3000, 3005]),
        ("3000\n# comment\nr03001\n", [3000, 3001]),
        ("experiment,run\n10,3000\n,3001\n", [3000, 3001]),
    ],
)
def test_mask_formats(tmp_path: Path, text: str, runs: list[int]) -> None:
    path = tmp_path / "mask.txt"
    path.write_text(text, encoding="utf-8")
    assert read_mask(path)["run"].tolist() == runs


def test_bad_mask(tmp_path: Path) -> None:
    path = tmp_path / "mask.json"
    path.write_text('[3000, "x"]', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mask\.json:item 1: not a run number"):
        read_mask(path)
    path.write_text("[3000,", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_mask(path)


def test_symlink_view_is_idempotent_and_never_touches_data(tmp_path: Path) -> None:
    files = _production(tmp_path / "prod")
    before = {p: p.read_bytes() for p in (tmp_path / "prod").rglob("*") if p.is_file()}
    view = tmp_path / "view"
    counts = symlink_view(_runs(), files, view)
    assert counts["GoodRuns"] == 1
    assert counts["UglyRuns"] == 1
    assert counts["BadRuns"] == 2
    link = view / "UglyRuns" / "r00002_bad"
    assert link.is_symlink()
    assert link.resolve() == (tmp_path / "prod/e0010/4S/r00002_bad").resolve()
    again = symlink_view(_runs(), files, view)
    assert again["created"] == 0
    assert again["removed"] == 0
    # run 2 is resolved: its link moves from UglyRuns to GoodRuns
    runs = _runs()
    runs.loc[1, "flagged"] = False
    moved = symlink_view(runs, files, view)
    assert moved["removed"] == 1
    assert moved["created"] == 1
    assert not (view / "UglyRuns" / "r00002_bad").exists()
    assert (view / "GoodRuns" / "r00002_bad").is_symlink()
    after = {p: p.read_bytes() for p in (tmp_path / "prod").rglob("*") if p.is_file()}
    assert after == before
    # a file or a link lumiaudit did not make is never removed
    (view / "BadRuns" / "notes.txt").write_text("mine")
    (view / "BadRuns" / "elsewhere").symlink_to(tmp_path / "prod")
    again = symlink_view(runs, files, view)
    assert again["removed"] == 0
    assert (view / "BadRuns" / "notes.txt").read_text() == "mine"
    assert (view / "BadRuns" / "elsewhere").is_symlink()
    # ... and one in the way of a link is refused before anything changes
    (view / "GoodRuns" / "r00002_bad").unlink()
    (view / "GoodRuns" / "r00002_bad").write_text("mine too")
    with pytest.raises(OutputError, match="not a symlink"):
        symlink_view(runs, files, view)
    assert (view / "GoodRuns" / "r00002_bad").read_text() == "mine too"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (bytes(range(128, 256)) * 4, r"mask\.json: not a text run list \(byte 0 is not UTF-8\)"),
        (b"run\n3000\n3001,1,2\n", r"mask\.json: not a valid CSV run list: .*line 3"),
    ],
)
def test_unreadable_mask_is_a_config_error(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "mask.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=match):
        read_mask(path)
