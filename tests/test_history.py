"""diff_audits between two audit directories (runs.csv written as lumiaudit writes it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lumiaudit.store.history import diff_audits, read_audit_tables


def _write(d: Path, rows: list[tuple[int, int | None, int, str, bool, str]]) -> Path:
    d.mkdir()
    frame = pd.DataFrame(
        rows, columns=["run", "n_online", "n_offline", "status", "flagged", "reasons"]
    )
    frame.insert(0, "experiment", 10)
    frame.to_csv(d / "runs.csv", index=False, na_rep="")
    return d


def test_diff_audits(tmp_path: Path) -> None:
    old = _write(
        tmp_path / "old",
        [
            (1, 100, 100, "OK", False, ""),
            (2, 100, 90, "DEFICIT", True, "unexplained"),
            (3, 100, 100, "OK", False, ""),
            (4, 50, 50, "OK", False, ""),
            (6, 100, 90, "DEFICIT", True, "unexplained"),
        ],
    )
    new = _write(
        tmp_path / "new",
        [
            (1, 100, 100, "OK", False, ""),
            (2, 100, 100, "OK", False, ""),
            (3, 100, 80, "DEFICIT", True, "unreadable_file"),
            (5, None, 70, "MISSING_ONLINE", True, "no_online_entry"),
            (6, 100, 85, "DEFICIT", True, "unexplained"),
        ],
    )
    diff = diff_audits(old, new)
    assert diff.counts() == {
        "newly_flagged": 2,
        "resolved": 1,
        "changed": 1,
        "added": 1,
        "removed": 1,
    }
    # each run once: runs 2 and 3 changed too, but they are resolved / newly flagged; run 6
    # is flagged both nights with another count
    assert diff["changed"]["run"].tolist() == [6]
    assert diff["newly_flagged"]["run"].tolist() == [3, 5]
    assert diff.get("resolved")["run"].tolist() == [2]
    assert diff["removed"]["run"].tolist() == [4]
    doc = json.loads(json.dumps(diff.to_dict()))
    assert doc["counts"]["resolved"] == 1
    assert doc["added"][0]["n_online_new"] is None  # missing stays missing
    # the same audit twice: nothing changed
    assert set(diff_audits(old, old).counts().values()) == {0}


def test_read_audit_tables_keeps_missing_values(tmp_path: Path) -> None:
    d = _write(tmp_path / "a", [(5, None, 70, "MISSING_ONLINE", True, "no_online_entry")])
    runs = read_audit_tables(d)["runs"]
    assert runs.loc[0, "n_online"] is pd.NA
    assert str(runs["n_offline"].dtype) == "Int64"
    assert bool(runs.loc[0, "flagged"])


def test_what_changed_on_the_page_lists_each_run_once_with_reasons_in_words(
    tmp_path: Path,
) -> None:
    from lumiaudit.render.html import changes_html

    old = _write(tmp_path / "old", [(102, 100, 100, "OK", False, "")])
    new = _write(
        tmp_path / "new",
        [(102, None, 100, "MISSING_ONLINE", True, "no_online_count;online_count_unreadable")],
    )
    page = changes_html(diff_audits(old, new))
    assert "<b>newly flagged</b> (1)" in page
    assert "<b>changed</b>" not in page
    assert "the online count cannot be read" in page
    assert "online_count_unreadable" not in page
