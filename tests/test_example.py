from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import uproot

from lumiaudit.example import write_basf2_file, write_elog_dayfiles


def test_basf2_file_layout_and_metadata(tmp_path: Path) -> None:
    flags = np.array([0, 0x10, 0, 0], dtype=np.uint32)
    path = write_basf2_file(
        tmp_path / "f.root", experiment=10, run=3, n_events=4, error_flags=flags
    )
    with uproot.open(path) as f:
        assert f["tree"].num_entries == 4
        assert f["persistent"].num_entries == 1
        meta = f["persistent"].arrays(library="np")
        assert meta["FileMetaData/m_nEvents"][0] == 4
        assert meta["FileMetaData/m_nFullEvents"][0] == 3
        assert meta["FileMetaData/m_runLow"][0] == 3
        assert f["tree"]["EventMetaData/m_errorFlag"].array(library="np").tolist() == [0, 16, 0, 0]


def test_multi_run_and_empty_files(tmp_path: Path) -> None:
    runs = np.array([5, 5, 6], dtype=np.int32)
    path = write_basf2_file(tmp_path / "grid.root", experiment=10, run=runs, n_events=3)
    with uproot.open(path) as f:
        meta = f["persistent"].arrays(library="np")
        assert (meta["FileMetaData/m_runLow"][0], meta["FileMetaData/m_runHigh"][0]) == (5, 6)
    empty = write_basf2_file(tmp_path / "empty.root", experiment=10, run=7, n_events=0)
    with uproot.open(empty) as f:
        assert f["tree"].num_entries == 0
        assert f["persistent"].arrays(library="np")["FileMetaData/m_runLow"][0] == -1
    with pytest.raises(ValueError, match="3 values for 2 events"):
        write_basf2_file(
            tmp_path / "bad.root", experiment=1, run=1, n_events=2, error_flags=np.zeros(3)
        )


def test_elog_dayfiles_follow_elogd_layout(tmp_path: Path) -> None:
    entries = [
        {
            "Date": "2021-03-01T10:00:00+09:00",
            "Run number": "1",
            "Num events": "1,234",
            "text": "a\nb",
        },
        {"Date": "2021-03-02T10:00:00+09:00", "Run number": "2", "Num events": "", "text": "c"},
    ]
    files = write_elog_dayfiles(tmp_path, entries)
    assert [p.name for p in files] == ["210301a.log", "210302a.log"]
    raw = files[0].read_bytes()
    assert raw.startswith(b"$@MID@$: 1\nDate: Mon, 01 Mar 2021 10:00:00 +0900\n")
    assert b"\n" + b"=" * 40 + b"\na\r\nb\n" in raw
    assert b"Num events: \n" in files[1].read_bytes()


def test_bundled_example_matches_its_truth(bundled_example: Path) -> None:
    with (bundled_example / "truth.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 24
    for row in rows:
        run_dirs = list((bundled_example / "prod").rglob(f"r{int(row['run']):05d}"))
        if int(row["n_readable"]) == 0:
            assert not run_dirs
            continue
        total = 0
        for path in run_dirs[0].rglob("sub00/*.root"):
            try:
                with uproot.open(path) as f:
                    # ROOT's TFile::Init test: a file shorter than its fEND is truncated
                    if f.file.fEND > path.stat().st_size:
                        continue
                    total += f["tree"].num_entries
            except Exception:
                continue
        assert total == int(row["n_readable"]), row
