"""Whole-result reuse (lumiaudit.offline.result_cache): an unchanged rerun gives the same tables
without reading or tabulating anything, and every kind of change falls back to counting."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lumiaudit.example import write_basf2_file
from lumiaudit.offline import OfflineResult, count_events
from lumiaudit.offline.cache import CountCache

TABLES = ("files", "contributions", "runs", "gaps")


@pytest.fixture
def prod(tmp_path: Path) -> Path:
    top = tmp_path / "prod" / "e0012" / "4S" / "r00101" / "all" / "mdst" / "sub00"
    top.mkdir(parents=True)
    for i in (0, 1, 2, 4):  # index 3 missing: a gap
        write_basf2_file(
            top / f"mdst.physics.0012.00101.HLT1.f{i:05d}.root",
            experiment=12,
            run=101,
            n_events=10 + i,
        )
    other = tmp_path / "prod" / "e0012" / "4S" / "r00102" / "all" / "mdst" / "sub00"
    other.mkdir(parents=True)
    write_basf2_file(
        other / "mdst.physics.0012.00102.HLT1.f00000.root", experiment=12, run=102, n_events=7
    )
    return tmp_path / "prod"


def same_tables(a: OfflineResult, b: OfflineResult) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_like=False)


def reused(result: OfflineResult) -> bool:
    return bool(result.stats.get("unchanged"))


def test_an_unchanged_rerun_reuses_the_tables_and_they_equal_a_fresh_count(
    tmp_path: Path, prod: Path
) -> None:
    db = tmp_path / "counts.sqlite"
    first = count_events(prod, cache=db)
    assert not reused(first)
    assert first.stats["read"] == 5
    again = count_events(prod, cache=db)
    assert reused(again)
    assert (again.stats["read"], again.stats["cached"], again.stats["files"]) == (0, 5, 5)
    same_tables(again, first)
    same_tables(again, count_events(prod))  # and equal to a count without any cache
    assert len(first.gaps) == 1  # index 3 of run 101: the tables are not trivial


def _touch(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _rewrite_restoring_size_and_mtime(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    with path.open("r+b") as fh:  # same bytes, same size, mtime restored: only ctime moves
        fh.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _first_file(prod: Path) -> Path:
    return sorted(prod.rglob("*.root"))[0]


CHANGES: dict[str, Callable[[Path], Any]] = {
    "new file": lambda p: write_basf2_file(
        _first_file(p).with_name("mdst.physics.0012.00101.HLT1.f00003.root"),
        experiment=12,
        run=101,
        n_events=5,
    ),
    "removed file": lambda p: _first_file(p).unlink(),
    "touched file": lambda p: _touch(_first_file(p)),
    "rewritten in place, size and mtime restored": lambda p: _rewrite_restoring_size_and_mtime(
        _first_file(p)
    ),
    "other content": lambda p: write_basf2_file(
        _first_file(p), experiment=12, run=101, n_events=33
    ),
    "renamed file": lambda p: _first_file(p).rename(
        _first_file(p).with_name("mdst.physics.0012.00101.HLT2.f00000.root")
    ),
    "new link to a file": lambda p: (
        (p / "view").mkdir() or (p / "view" / _first_file(p).name).symlink_to(_first_file(p))
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_of_the_files_is_counted_again(tmp_path: Path, prod: Path, change: str) -> None:
    db = tmp_path / "counts.sqlite"
    count_events(prod, cache=db)
    assert reused(count_events(prod, cache=db))
    CHANGES[change](prod)
    after = count_events(prod, cache=db)
    assert not reused(after), change
    same_tables(after, count_events(prod))
    # the changed state is stored in its turn
    assert reused(count_events(prod, cache=db))


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "fast"},
        {"mode": "deep"},
        {"include_skims": True},
        {"runs": "101"},
        {"branch_names": {"release": ""}},
        {"tree": "persistent"},
        {"profile": "generic", "tree": "tree"},
    ],
    ids=repr,
)
def test_other_options_never_reuse_a_result(
    tmp_path: Path, prod: Path, options: dict[str, Any]
) -> None:
    db = tmp_path / "counts.sqlite"
    count_events(prod, cache=db)
    fresh = count_events(prod, **options)
    other = count_events(prod, cache=db, **options)
    assert not reused(other)
    same_tables(other, fresh)


def test_other_inputs_have_their_own_result(tmp_path: Path, prod: Path) -> None:
    db = tmp_path / "counts.sqlite"
    run101 = prod / "e0012" / "4S" / "r00101"
    count_events(prod, cache=db)
    part = count_events(run101, cache=db)
    assert not reused(part)
    assert set(part.runs["run"].astype(int)) == {101}
    assert reused(count_events(prod, cache=db))
    assert reused(count_events(run101, cache=db))


def test_a_run_with_a_file_not_read_stores_no_result(tmp_path: Path, prod: Path) -> None:
    db = tmp_path / "counts.sqlite"
    (prod / "mdst.physics.0012.00101.HLT1.f00009.root").symlink_to(tmp_path / "nowhere.root")
    first = count_events(prod, cache=db)
    assert first.stats["not_counted"]
    again = count_events(prod, cache=db)
    assert not reused(again)
    same_tables(again, first)


def test_a_damaged_stored_result_is_a_miss_not_an_error(tmp_path: Path, prod: Path) -> None:
    db = tmp_path / "counts.sqlite"
    first = count_events(prod, cache=db)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM stored_tables").fetchone()[0] == 5
        con.execute("UPDATE stored_tables SET payload = x'80049500' WHERE part = 2")
    again = count_events(prod, cache=db)
    assert not reused(again)
    assert again.stats["read"] == 0  # the per-file records still serve
    same_tables(again, first)
    assert reused(count_events(prod, cache=db))


def test_forget_drops_the_stored_results(tmp_path: Path, prod: Path) -> None:
    db = tmp_path / "counts.sqlite"
    count_events(prod, cache=db)
    with CountCache.open(db) as cache:
        cache.forget([str(_first_file(prod).resolve())])
    again = count_events(prod, cache=db)
    assert not reused(again)
    assert again.stats["read"] == 1


def test_a_cache_without_results_table_is_used_and_gets_one(tmp_path: Path, prod: Path) -> None:
    """A cache written before whole results existed: its records serve, the table is added."""
    db = tmp_path / "counts.sqlite"
    count_events(prod, cache=db)
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE stored_tables")
    again = count_events(prod, cache=db)
    assert not reused(again)
    assert again.stats["read"] == 0
    assert reused(count_events(prod, cache=db))


def test_a_copied_production_is_not_taken_for_the_original(tmp_path: Path, prod: Path) -> None:
    db = tmp_path / "counts.sqlite"
    count_events(prod, cache=db)
    copy = tmp_path / "copy"
    shutil.copytree(prod, copy)
    assert not reused(count_events(copy, cache=db))


def test_a_run_selection_reuses_only_while_its_files_and_the_rest_are_unchanged(
    tmp_path: Path, prod: Path
) -> None:
    db = tmp_path / "counts.sqlite"
    first = count_events(prod, cache=db, runs="101")
    assert first.stats["not_selected"] == 1
    again = count_events(prod, cache=db, runs="101")
    assert reused(again)
    assert again.stats["not_selected"] == 1
    same_tables(again, first)
    # a new file of another run: the tables stay, the count of files left out does not
    other = prod / "e0012" / "4S" / "r00102" / "all" / "mdst" / "sub00"
    write_basf2_file(
        other / "mdst.physics.0012.00102.HLT1.f00001.root", experiment=12, run=102, n_events=3
    )
    after = count_events(prod, cache=db, runs="101")
    assert not reused(after)
    assert after.stats["not_selected"] == 2
    _touch(_first_file(prod))  # a selected file
    assert not reused(count_events(prod, cache=db, runs="101"))


def test_relative_inputs_from_another_directory_are_another_slot(
    tmp_path: Path, prod: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "counts.sqlite"
    monkeypatch.chdir(tmp_path)
    first = count_events("prod", cache=db)
    assert reused(count_events("prod", cache=db))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "prod").symlink_to(prod)  # the same files, reached through a link
    monkeypatch.chdir(elsewhere)
    linked = count_events("prod", cache=db)
    assert not reused(linked)
    same_tables(linked, count_events("prod"))
    assert "symlink" in ";".join(linked.files["markers"].astype(str))
    assert "symlink" not in ";".join(first.files["markers"].astype(str))


def test_the_upper_case_suffix_warning_is_given_on_a_reuse_too(
    tmp_path: Path, prod: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "counts.sqlite"
    odd = _first_file(prod).with_name("mdst.physics.0012.00101.HLT1.f00007.ROOT")
    write_basf2_file(odd, experiment=12, run=101, n_events=2)
    count_events(prod, cache=db)
    caplog.clear()
    assert reused(count_events(prod, cache=db))
    assert "upper-case ROOT suffix" in caplog.text


def test_a_stored_result_missing_a_part_is_a_miss(tmp_path: Path, prod: Path) -> None:
    db = tmp_path / "counts.sqlite"
    first = count_events(prod, cache=db)
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM stored_tables WHERE part = 4")
    again = count_events(prod, cache=db)
    assert not reused(again)
    same_tables(again, first)
    assert reused(count_events(prod, cache=db))
