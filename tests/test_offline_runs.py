"""count_events end to end against the injected truth, and the per-run / gap tables."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from statistics import median

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.errors import InputNotFoundError, ParameterError
from lumiaudit.offline import OfflineResult, count_events
from lumiaudit.offline.count import FileRecord
from lumiaudit.offline.discover import Found, find_duplicates
from lumiaudit.offline.names import parse_path
from lumiaudit.offline.runs import contributions_frame, find_gaps, runs_frame
from lumiaudit.schema import CONTRIBUTIONS, FILES, GAPS

MakeFile = Callable[..., Path]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def check_against_truth(sample: Path, result: OfflineResult) -> None:
    """Every run's n_offline, every file's status, n_full where readable, gap, split."""
    runs = result.runs.set_index("run")
    truth_runs = _read(sample / "truth_runs.csv")
    for row in truth_runs:
        run = int(row["run"])
        if int(row["n_readable"]) == 0:
            assert run not in runs.index or pd.isna(runs.loc[run, "n_offline"]), run
            continue
        assert runs.loc[run, "n_offline"] == int(row["n_readable"]), run
        if row["n_readable"] == row["n_written"]:
            assert runs.loc[run, "n_offline_full"] == int(row["n_full"]), run
    assert set(runs.index) <= {int(r["run"]) for r in truth_runs}

    files = result.files.set_index("path")
    truth_files = _read(sample / "truth_files.csv")
    assert len(files) == len(truth_files)
    for row in truth_files:
        rec = files.loc[str((sample / row["path"]).resolve())]
        expected = "ok" if row["status"] == "multi_run" else row["status"]
        assert rec["status"] == expected, row["path"]
        if row["n_entries"]:
            assert rec["n_entries"] == int(row["n_entries"]), row["path"]
        else:
            assert pd.isna(rec["n_entries"]), row["path"]

    dup = result.files[result.files["status"] == "duplicate"]
    assert len(dup) == 1
    assert "/sub01/" in dup["path"].iloc[0]
    assert "/sub00/" in dup["duplicate_of"].iloc[0]
    assert runs.loc[3040, "n_files_duplicate"] == 1

    gap = result.gaps[result.gaps["kind"] == "file_index_gap"]
    assert gap[["run", "hlt_unit", "file_index"]].values.tolist() == [[3035, 2, 0]]
    run_files = result.files[(result.files["run"] == 3035) & (result.files["status"] == "ok")]
    assert gap["est_events"].iloc[0] == median(run_files["n_entries"].astype(int))

    contrib = result.contributions
    grid = contrib[contrib["path"].str.contains("task10020000123")]
    assert dict(zip(grid["run"], grid["n_entries"], strict=True)) == {3052: 400, 3053: 250}
    assert "grid" in runs.loc[3052, "markers"]
    assert "bad_suffix" in runs.loc[3041, "markers"]
    assert "badruns_dir" in runs.loc[3042, "markers"]
    # the contributions add up to the runs table
    sums = contrib.groupby("run")["n_entries"].sum()
    assert (sums == runs.loc[sums.index, "n_offline"]).all()


@pytest.fixture(scope="module")
def vendored(b2_sample: Path) -> OfflineResult:
    return count_events(b2_sample / "prod")


def test_vendored_sample_matches_truth(b2_sample: Path, vendored: OfflineResult) -> None:
    check_against_truth(b2_sample, vendored)


def test_tables_have_canonical_columns(vendored: OfflineResult) -> None:
    assert list(vendored.files.columns[: len(FILES.names)]) == FILES.names
    for name in ("markers", "data_level", "mtime", "duplicate_of", "run_low", "run_high"):
        assert name in vendored.files.columns
    assert list(vendored.contributions.columns) == CONTRIBUTIONS.names
    assert list(vendored.gaps.columns) == GAPS.names
    assert str(vendored.files["n_entries"].dtype) == "Int64"
    assert str(vendored.runs["n_offline"].dtype) == "Int64"
    bad = vendored.files[vendored.files["status"].isin(["not_root", "truncated", "zero_bytes"])]
    assert len(bad) == 3
    assert bad["n_entries"].isna().all()  # missing, never 0
    assert (bad["error"].str.len() > 0).all()
    summary = vendored.summary()
    assert summary["files"] == len(vendored.files)
    assert summary["events"] == int(vendored.runs["n_offline"].sum())


def test_symlinked_view_adds_nothing(b2_sample: Path, vendored: OfflineResult) -> None:
    base = b2_sample / "prod/release-03-02-04/DB00000677/bucket7/e0010/4S"
    view = count_events(base / "GoodRuns")
    assert set(view.runs["run"]) == {3000, 3027}
    both = count_events([base / "GoodRuns", base / "r03000", base / "r03027"])
    assert len(both.files) == len(view.files)
    assert both.runs["n_offline"].tolist() == view.runs["n_offline"].tolist()
    mine = vendored.runs.set_index("run").loc[[3000, 3027], "n_offline"].tolist()
    assert view.runs["n_offline"].tolist() == mine


@pytest.mark.slow
def test_shared_sample_matches_truth(shared_data: Path) -> None:
    sample = shared_data / "b2-sample"
    check_against_truth(sample, count_events(sample / "prod"))


def test_vendored_sample_deep_mode(b2_sample: Path, vendored: OfflineResult) -> None:
    deep = count_events(b2_sample / "prod", mode="deep")
    check_against_truth(b2_sample, deep)
    flag_cols = [c for c in deep.runs.columns if c.startswith("n_flag_")]
    assert "n_flag_0x10" in flag_cols
    both = deep.runs.dropna(subset=["n_offline"])
    flagged = both["n_offline"] - both["n_offline_full"]
    assert (both["n_flag_0x10"] <= flagged).all()
    assert (both["n_flag_0x10"] > 0).any()
    same = ["n_offline", "n_offline_full", "n_files", "n_files_bad"]
    pd.testing.assert_frame_equal(deep.runs[same], vendored.runs[same])


def test_deep_mode_flag_columns_and_counted_full(b2_file: MakeFile) -> None:
    rng = np.random.default_rng(3)
    flags = rng.choice(np.array([0, 0, 0x10, 0x1], dtype=np.uint32), size=40)
    path = b2_file(n_events=40, error_flags=flags)
    res = count_events(path, mode="deep")
    assert res.files.loc[0, "n_flag_0x10"] == int(np.count_nonzero(flags & 0x10))
    assert res.runs.loc[0, "n_flag_0x1"] == int(np.count_nonzero(flags & 0x1))
    assert res.runs.loc[0, "n_offline_full"] == int(np.count_nonzero(flags == 0))
    assert not [c for c in count_events(path).runs.columns if c.startswith("n_flag")]


def test_skims_are_excluded_unless_asked(b2_file: MakeFile, tmp_path: Path) -> None:
    base = "e0012/4S/r00101"
    name = "mdst.physics.0012.00101.HLT1.f00000.root"
    b2_file(f"{base}/all/mdst/sub00/{name}", n_events=50)
    b2_file(f"{base}/skim/hadron/mdst/sub00/{name}", n_events=7)
    plain = count_events(tmp_path)
    assert plain.runs["n_offline"].tolist() == [50]
    assert len(plain.files) == 2
    assert "duplicate" not in set(plain.files["status"])
    assert set(plain.contributions["n_entries"]) == {50}
    skims = count_events(tmp_path, include_skims=True)
    assert skims.runs["n_offline"].tolist() == [57]
    assert "skim:hadron" in skims.runs["markers"].iloc[0]


def test_bad_run_is_listed_with_missing_count(b2_file: MakeFile, tmp_path: Path) -> None:
    path = b2_file("r00101/mdst.physics.0012.00101.HLT1.f00000.root")
    path.write_bytes(b"")
    res = count_events(tmp_path)
    row = res.runs.iloc[0]
    assert (row["run"], row["n_files"], row["n_files_bad"]) == (101, 1, 1)
    assert pd.isna(row["n_offline"])
    assert pd.isna(row["n_offline_full"])
    assert res.contributions.empty


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        count_events(tmp_path / "nothing-here")
    with pytest.raises(ParameterError):
        count_events(tmp_path, mode="turbo")
    with pytest.raises(ParameterError, match="tree name"):
        count_events(tmp_path, tree="")
    with pytest.raises(ParameterError, match="jobs"):
        count_events(tmp_path, jobs=-1)


def test_unreadable_links_are_io_errors(tmp_path: Path) -> None:
    loop = tmp_path / "mdst.physics.0012.00100.HLT1.f00000.root"
    loop.symlink_to(loop)
    res = count_events(tmp_path)
    assert res.files["status"].tolist() == ["io_error"]
    assert res.files["error"].str.contains("symbolic links").all()
    assert res.runs["n_files_bad"].tolist() == [1]


def test_cache_and_workers_give_identical_tables(
    b2_sample: Path, vendored: OfflineResult, tmp_path: Path
) -> None:
    cache = tmp_path / "counts.sqlite"
    first = count_events(b2_sample / "prod", jobs=2, cache=cache)
    again = count_events(b2_sample / "prod", cache=cache)
    for res in (first, again):
        pd.testing.assert_frame_equal(res.files, vendored.files)
        pd.testing.assert_frame_equal(res.runs, vendored.runs)
        pd.testing.assert_frame_equal(res.gaps, vendored.gaps)


def _found(path: str) -> Found:
    return Found(path, parse_path(path), "")


def _rec(path: str, n: int | None, status: str = "ok", run: int = 7) -> FileRecord:
    contrib = () if n is None else ((1, run, n, n),)
    return FileRecord(path=path, status=status, n_entries=n, contributions=contrib)


def test_gap_estimates_and_missing_units_from_expected_units() -> None:
    names = {
        "physics.0001.00007.HLT1.f00000.root": 100,
        "physics.0001.00007.HLT1.f00003.root": 300,
        "physics.0001.00007.HLT2.f00001.root": 200,
        "physics.0001.00007.HLT2.f00000.root": None,  # unreadable: not a gap
    }
    found = [_found(f"/d/{n}") for n in names]
    records = [
        _rec(f.path, n, "ok" if n is not None else "truncated")
        for f, n in zip(found, names.values(), strict=True)
    ]
    gaps = find_gaps(found, records, {})
    assert gaps[["hlt_unit", "file_index"]].values.tolist() == [[1, 1], [1, 2]]
    assert set(gaps["est_events"]) == {200.0}
    assert set(gaps["kind"]) == {"file_index_gap"}
    more = find_gaps(found, records, {}, expected_units={(1, 7): [1, 2, 3]})
    unit = more[more["kind"] == "missing_hlt_unit"]
    assert unit["hlt_unit"].tolist() == [3]
    assert pd.isna(unit["file_index"].iloc[0])
    assert unit["est_events"].iloc[0] == median([400, 200])


def test_runs_frame_full_count_unknown_when_any_part_unknown() -> None:
    found = [_found(f"/d/physics.0001.00007.HLT{u}.f00000.root") for u in (1, 2)]
    records = [
        FileRecord(path=found[0].path, status="ok", n_entries=5, contributions=((1, 7, 5, 5),)),
        FileRecord(path=found[1].path, status="ok", n_entries=4, contributions=((1, 7, 4, None),)),
    ]
    row = runs_frame(found, records, {}).iloc[0]
    assert row["n_offline"] == 9
    assert pd.isna(row["n_offline_full"])
    assert row["run_type"] == "physics"


_STATUSES = ["ok", "empty", "metadata_mismatch", "not_root", "truncated", "zero_bytes", "io_error"]


@given(
    files=st.lists(
        st.tuples(
            st.integers(1, 3),  # run
            st.integers(1, 3),  # HLT unit
            st.integers(0, 4),  # file index
            st.sampled_from(_STATUSES),
            st.integers(0, 1000),  # entries
            st.booleans(),  # in sub01 (a possible duplicate copy)
            st.booleans(),  # a skim
        ),
        max_size=25,
    )
)
@settings(max_examples=60, deadline=None)
def test_tables_are_consistent(files: list[tuple[int, int, int, str, int, bool, bool]]) -> None:
    found: list[Found] = []
    records: list[FileRecord] = []
    seen: set[str] = set()
    for run, unit, index, status, n, copy, skim in files:
        where = "skim/tau/mdst" if skim else "all/mdst"
        name = f"mdst.physics.0001.{run:05d}.HLT{unit}.f{index:05d}.root"
        path = f"/p/e0001/4S/r{run:05d}/{where}/sub0{int(copy)}/{name}"
        if path in seen:
            continue
        seen.add(path)
        readable = status in ("ok", "empty", "metadata_mismatch")
        entries = (0 if status == "empty" else n) if readable else None
        found.append(_found(path))
        records.append(
            FileRecord(
                path=path,
                status=status,
                n_entries=entries,
                contributions=((1, run, entries, entries),) if entries is not None else (),
            )
        )
    order = sorted(range(len(found)), key=lambda i: found[i].path)
    found = [found[i] for i in order]
    records = [records[i] for i in order]
    dups = find_duplicates(found, readable=[r.readable for r in records])
    contrib = contributions_frame(found, records, dups)
    runs = runs_frame(found, records, dups)
    gaps = find_gaps(found, records, dups)
    counted = [
        r
        for f, r in zip(found, records, strict=True)
        if r.readable and f.path not in dups and f.name.skim is None
    ]
    assert int(contrib["n_entries"].sum()) == sum(r.n_entries or 0 for r in counted)
    assert int(runs["n_offline"].fillna(0).sum()) == int(contrib["n_entries"].sum())
    assert (runs["n_files"] >= runs["n_files_bad"] + runs["n_files_duplicate"]).all()
    assert runs["n_offline"].isna().tolist() == [
        not any(r.contributions[0][1] == run for r in counted) for run in runs["run"]
    ]
    # a gap is never an index that has a file, and is below the highest index of its unit
    names = [f.name for f in found if f.path not in dups and f.name.skim is None]
    for gap in gaps.itertuples():
        same = [n.file_index for n in names if (n.run, n.hlt_unit) == (gap.run, gap.hlt_unit)]
        assert gap.file_index not in same
        assert gap.file_index < max(same)
