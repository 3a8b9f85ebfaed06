"""count_file: per-file entries, FileMetaData, run split and b2file-check-like health."""

from __future__ import annotations

import csv
import os
import pickle
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import uproot

from lumiaudit.errors import ParameterError
from lumiaudit.offline.count import FLAG_BITS, FileRecord, count_file
from tests.support.http_servers import PlainHandler, RangeHandler, base_url, serve

MakeFile = Callable[..., Path]


def _tree(f: Any, name: str, branches: dict[str, np.ndarray]) -> None:
    """Write a TTree (assigning a dict would write an RNTuple in uproot >= 5.7)."""
    f.mktree(name, {k: v.dtype for k, v in branches.items()})
    f[name].extend(branches)


def test_ok_file_auto_mode_reads_metadata_and_name_run(b2_file: MakeFile) -> None:
    flags = np.zeros(25, dtype=np.uint32)
    flags[[3, 7, 11]] = 0x10
    path = b2_file(n_events=25, error_flags=flags)
    rec = count_file(str(path))
    assert rec.status == "ok"
    assert rec.error == ""
    assert (rec.n_entries, rec.n_meta, rec.n_full) == (25, 25, 22)
    assert (rec.experiment, rec.run_low, rec.run_high) == (12, 101, 101)
    assert rec.contributions == ((12, 101, 25, 22),)
    assert rec.size_bytes == path.stat().st_size
    assert rec.mtime_ns == path.stat().st_mtime_ns
    assert rec.inode == path.stat().st_ino
    assert rec.data_level == "mdst"
    assert rec.flag_counts == ()  # per-bit counts are deep mode only


def test_fast_mode_reads_entries_only(b2_file: MakeFile) -> None:
    path = b2_file(n_events=17, meta_n_events=99)
    rec = count_file(str(path), mode="fast")
    assert rec.status == "ok"  # fast mode cannot see the FileMetaData mismatch
    assert rec.n_entries == 17
    assert rec.n_meta is None
    assert rec.n_full is None
    assert rec.contributions == ((12, 101, 17, None),)


def test_deep_mode_counts_error_flag_bits_per_run(b2_file: MakeFile) -> None:
    rng = np.random.default_rng(7)
    flags = rng.choice(np.array([0, 0, 0, 0x10, 0x4, 0x14, 0x40], dtype=np.uint32), size=60)
    runs = np.repeat([301, 302], [35, 25])
    path = b2_file(
        "mdst_000001_prod00000001_task00000001.root", run=runs, n_events=60, error_flags=flags
    )
    rec = count_file(str(path), mode="deep")
    assert rec.status == "ok"
    assert rec.n_full == int(np.count_nonzero(flags == 0))
    counts = dict(rec.flag_counts)
    assert set(FLAG_BITS) <= set(counts)
    for bit in (0x4, 0x10, 0x40):
        assert counts[bit] == int(np.count_nonzero(flags & bit))
    assert counts[0x1] == 0
    by_run = {(run, bit): n for _, run, bit, n in rec.run_flag_counts}
    for run in (301, 302):
        mask = runs == run
        assert by_run[(run, 0x10)] == int(np.count_nonzero(flags[mask] & 0x10))
    split = {run: (n, full) for _, run, n, full in rec.contributions}
    assert split == {
        301: (35, int(np.count_nonzero(flags[:35] == 0))),
        302: (25, int(np.count_nonzero(flags[35:] == 0))),
    }


def test_auto_mode_splits_files_spanning_runs_by_event_metadata(b2_file: MakeFile) -> None:
    runs = np.repeat([5, 6, 8], [4, 10, 3])
    path = b2_file("mdst_000123_prod00012345_task10020000123.root", run=runs, n_events=17)
    rec = count_file(str(path))
    assert (rec.run_low, rec.run_high) == (5, 8)
    assert [(r, n) for _, r, n, _ in rec.contributions] == [(5, 4), (6, 10), (8, 3)]
    assert sum(c[2] for c in rec.contributions) == rec.n_entries == 17


def test_auto_mode_trusts_single_run_metadata_without_reading_events(b2_file: MakeFile) -> None:
    # m_run disagrees with name and FileMetaData: only deep mode reads (and follows) it
    path = b2_file(run=101, n_events=9)
    events = np.full(9, 777, dtype=np.int32)
    other = path.with_name("other.physics.0012.00101.HLT1.f00000.root")
    with uproot.open(path) as src:
        tree = src["tree"].arrays(library="np")
        meta = src["persistent"].arrays(library="np")
    tree = {f"EventMetaData/{k}" if "/" not in k else k: v for k, v in tree.items()}
    tree["EventMetaData/m_run"] = events
    meta = {f"FileMetaData/{k}" if "/" not in k else k: v for k, v in meta.items()}
    with uproot.recreate(other) as f:
        f.mktree("tree", {k: v.dtype for k, v in tree.items()})
        f["tree"].extend(tree)
        f.mktree("persistent", {k: v.dtype for k, v in meta.items()})
        f["persistent"].extend(meta)
    assert count_file(str(other), mode="auto").contributions[0][1] == 101
    assert count_file(str(other), mode="deep").contributions[0][1] == 777


def test_empty_file_is_valid_and_contributes_zero(b2_file: MakeFile) -> None:
    rec = count_file(str(b2_file(n_events=0)))
    assert rec.status == "empty"
    assert rec.n_entries == 0
    assert rec.contributions == ((12, 101, 0, 0),)
    assert (rec.run_low, rec.run_high) == (-1, -1)
    assert rec.readable


def test_metadata_mismatch_is_readable_and_says_both_numbers(b2_file: MakeFile) -> None:
    rec = count_file(str(b2_file(n_events=30, meta_n_events=31)))
    assert rec.status == "metadata_mismatch"
    assert "31" in rec.error
    assert "30" in rec.error
    assert rec.readable
    assert rec.contributions[0][2] == 30


def test_persistent_with_two_entries_is_a_metadata_problem(tmp_path: Path) -> None:
    path = tmp_path / "mdst.physics.0012.00101.HLT1.f00000.root"
    with uproot.recreate(path) as f:
        _tree(f, "tree", {"EventMetaData/m_run": np.full(4, 101, dtype=np.int32)})
        _tree(f, "persistent", {"FileMetaData/m_nEvents": np.array([2, 2], dtype=np.uint32)})
    rec = count_file(str(path))
    assert rec.status == "metadata_mismatch"
    assert "2 entries instead of 1" in rec.error
    assert rec.n_entries == 4


def test_zero_bytes_not_root_truncated(tmp_path: Path, b2_file: MakeFile) -> None:
    zero = tmp_path / "zero.root"
    zero.write_bytes(b"")
    text = tmp_path / "text.root"
    text.write_text("Error in <TFile::Init>: not a ROOT file\n")
    good = b2_file(n_events=500)
    cut = tmp_path / "cut.root"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert count_file(str(zero)).status == "zero_bytes"
    rec = count_file(str(text))
    assert rec.status == "not_root"
    # the first bytes as a person reads them, not a Python bytes repr (issue 16)
    assert rec.error.startswith('not a ROOT file: starts with "Error in"'), rec.error
    assert "b'" not in rec.error
    rec = count_file(str(cut))
    assert rec.status == "truncated"
    assert rec.n_entries is None
    assert rec.contributions == ()
    assert not rec.readable


def test_cut_after_the_header_end_check_still_truncated(b2_file: MakeFile, tmp_path: Path) -> None:
    # keep the size, zero the second half: the header is fine, the records are not
    good = b2_file(n_events=500)
    data = bytearray(good.read_bytes())
    half = len(data) // 2
    data[half:] = bytes(len(data) - half)
    broken = tmp_path / "zeroed.root"
    broken.write_bytes(bytes(data))
    rec = count_file(str(broken), mode="deep")
    assert rec.status == "truncated"
    assert rec.error


def test_no_tree_lists_what_the_file_holds(b2_file: MakeFile) -> None:
    rec = count_file(str(b2_file(n_events=3)), tree="Events")
    assert rec.status == "no_tree"
    assert "'Events'" in rec.error
    assert "persistent" in rec.error


def test_io_errors_never_raise(tmp_path: Path) -> None:
    missing = count_file(str(tmp_path / "gone.root"))
    assert missing.status == "io_error"
    assert "FileNotFoundError" in missing.error
    directory = tmp_path / "dir.root"
    directory.mkdir()
    assert count_file(str(directory)).status == "io_error"
    fifo = tmp_path / "fifo.root"
    os.mkfifo(fifo)
    rec = count_file(str(fifo))  # must not block on the pipe
    assert rec.status == "io_error"
    assert "regular" in rec.error


def test_file_url_and_record_pickles(b2_file: MakeFile) -> None:
    path = b2_file(n_events=12)
    rec = count_file(f"file://{path}")
    assert rec.status == "ok"
    assert rec.n_entries == 12
    again = pickle.loads(pickle.dumps(rec))
    assert again == rec
    assert isinstance(again, FileRecord)
    assert pickle.loads(pickle.dumps(count_file)) is count_file


def test_unknown_mode_is_a_parameter_error(b2_file: MakeFile) -> None:
    with pytest.raises(ParameterError, match="unknown counting mode 'quick'"):
        count_file(str(b2_file()), mode="quick")


def test_custom_branch_names_for_other_experiments(tmp_path: Path) -> None:
    path = tmp_path / "exp_run_mix.root"
    runs = np.repeat(np.array([11, 12], dtype=np.int32), [3, 5])
    with uproot.recreate(path) as f:
        _tree(f, "events", {"runNumber": runs, "quality": np.zeros(8, dtype=np.uint32)})
    rec = count_file(
        str(path), tree="events", branch_names={"run": "runNumber", "error_flag": "quality"}
    )
    assert rec.status == "ok"
    assert [(r, n) for _, r, n, _ in rec.contributions] == [(11, 3), (12, 5)]


def test_vendored_b2_sample_statuses_and_entries(b2_sample: Path) -> None:
    with (b2_sample / "truth_files.csv").open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    for row in truth:
        rec = count_file(str(b2_sample / row["path"]))
        expected = "ok" if row["status"] in ("duplicate", "multi_run") else row["status"]
        assert rec.status == expected, row["path"]
        if row["n_entries"]:
            assert rec.n_entries == int(row["n_entries"]), row["path"]
        else:
            assert rec.n_entries is None, row["path"]


def _root_compat(directory: Path) -> list[dict[str, str]]:
    with (directory / "entries.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("mode", ["fast", "auto", "deep"])
def test_vendored_root_compat_entries(data_dir: Path, mode: str) -> None:
    directory = data_dir / "root-compat"
    rows = _root_compat(directory)
    assert rows
    for row in rows:
        rec = count_file(str(directory / row["file"]), tree=row["tree"], mode=mode)
        assert rec.n_entries == int(row["entries"]), row["file"]
        assert rec.status in ("ok", "empty"), (row["file"], rec.error)
        assert rec.error == ""


def test_shared_root_compat_entries(shared_data: Path) -> None:
    directory = shared_data / "root-compat"
    rows = _root_compat(directory)
    assert len(rows) >= 50
    for row in rows:
        rec = count_file(str(directory / row["file"]), tree=row["tree"], mode="auto")
        assert rec.n_entries == int(row["entries"]), (row["file"], rec.status, rec.error)


def test_copy_of_a_real_file_keeps_its_count(b2_sample: Path, tmp_path: Path) -> None:
    src = next(b2_sample.glob("prod/**/r03027/**/*HLT2.f00000.root"))
    dst = tmp_path / "elsewhere" / src.name
    dst.parent.mkdir()
    shutil.copy(src, dst)
    assert count_file(str(dst)).n_entries == count_file(str(src)).n_entries == 818


def test_rntuple_event_tree_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "ntuple.root"
    with uproot.recreate(path) as f:
        f["events"] = {"x": np.arange(13, dtype=np.float64)}
    rec = count_file(str(path), tree="events", mode="deep")
    assert rec.status == "ok"
    assert rec.n_entries == 13


@pytest.fixture
def http_sample(b2_sample: Path) -> Iterator[str]:
    with serve(RangeHandler, b2_sample / "prod") as server:
        yield base_url(server)


def test_http_urls_give_the_same_statuses(b2_sample: Path, http_sample: str) -> None:
    with (b2_sample / "truth_files.csv").open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    wanted = {"ok", "not_root", "truncated", "zero_bytes", "metadata_mismatch", "multi_run"}
    picked = {row["status"]: row for row in truth if row["status"] in wanted}
    assert set(picked) == wanted
    for status, row in picked.items():
        url = f"{http_sample}/{row['path'].removeprefix('prod/')}"
        rec = count_file(url, timeout=10)
        local = count_file(str(b2_sample / row["path"]))
        assert rec.status == local.status, (status, rec.error)
        assert rec.n_entries == local.n_entries
        assert rec.contributions == local.contributions
        assert rec.size_bytes == local.size_bytes
        assert rec.mtime is None
    missing = count_file(f"{http_sample}/nothing.root", timeout=10)
    assert missing.status == "io_error"
    assert "404" in missing.error


def test_count_events_over_http_gives_the_local_tables(b2_sample: Path, http_sample: str) -> None:
    from lumiaudit.offline import count_events

    run_dir = b2_sample / "prod/release-03-02-04/DB00000677/bucket7/e0010/4S/r03020"
    local = sorted(run_dir.rglob("*.root"))
    local.append(next((b2_sample / "prod/grid").rglob("*.root")))
    urls = [f"{http_sample}/{p.relative_to(b2_sample / 'prod').as_posix()}" for p in local]
    here = count_events(local, mode="deep")
    there = count_events(urls, mode="deep", timeout=10)
    pd.testing.assert_frame_equal(there.runs, here.runs)
    cols = ["run", "hlt_unit", "file_index", "n_entries", "n_meta", "n_full", "status", "markers"]
    pd.testing.assert_frame_equal(there.files[cols], here.files[cols])
    assert there.files["mtime"].isna().all()
    assert str(there.files["mtime"].dtype) == "datetime64[ns, UTC]"
    assert set(there.runs["run"]) == {3020, 3052, 3053}


def test_http_lean_reading_equals_uproots(
    b2_sample: Path,
    http_sample: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Over HTTP the lean reader answers by range requests; its records are uproot's."""
    import logging

    from lumiaudit.offline.count import MODES

    run_dir = b2_sample / "prod/release-03-02-04/DB00000677/bucket7/e0010/4S/r03020"
    files = sorted(run_dir.rglob("*.root"))
    files.append(next((b2_sample / "prod/grid").rglob("*.root")))
    caplog.set_level(logging.DEBUG, logger="lumiaudit.offline.count")
    for path in files:
        url = f"{http_sample}/{path.relative_to(b2_sample / 'prod').as_posix()}"
        for mode in MODES:
            monkeypatch.setenv("LUMIAUDIT_LEAN", "0")
            full = count_file(url, mode=mode, timeout=10)
            monkeypatch.setenv("LUMIAUDIT_LEAN", "1")
            caplog.clear()
            lean = count_file(url, mode=mode, timeout=10)
            assert lean == full, (path.name, mode)
            if lean.status == "ok":
                assert not [r for r in caplog.records if "gave up" in r.getMessage()], path


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[str]:
    """A static server that ignores Range (answers 200 with the whole file)."""
    with serve(PlainHandler, tmp_path) as server:
        yield base_url(server)


def test_http_ranges_refuse_what_is_not_an_exact_range(
    b2_sample: Path, http_sample: str, plain_server: str, tmp_path: Path
) -> None:
    from lumiaudit.offline.http_source import WINDOW, HttpRanges
    from lumiaudit.offline.rootio import Unsure

    (tmp_path / "f.root").write_bytes(b"root" * 100)
    with pytest.raises(Unsure, match="HTTP 200"):
        HttpRanges(f"{plain_server}/f.root", timeout=10)
    with pytest.raises(FileNotFoundError, match="404"):
        HttpRanges(f"{http_sample}/nothing.root", timeout=10)
    with pytest.raises(Unsure, match="credentials"):
        HttpRanges("http://me:pw@127.0.0.1:1/f.root", timeout=10)
    path = next(b2_sample.rglob("mdst.physics.0010.03020.HLT1.f00000.root"))
    data = path.read_bytes()
    url = f"{http_sample}/{path.relative_to(b2_sample / 'prod').as_posix()}"
    source = HttpRanges(url, timeout=10)
    try:
        assert source.size == len(data)
        # table of reads: inside the head window, across it, in the tail, past the end
        for n, offset in [(10, 0), (100, WINDOW - 50), (64, len(data) - 64), (99, len(data) - 9)]:
            assert source.read(n, offset) == data[offset : offset + n], (n, offset)
        assert source.read(5, len(data) + 3) == b""
        assert source.requests <= 4
    finally:
        source.close()


# ------------------------------------------------------------------ retries of remote reads


class _FlakyHandler(RangeHandler):
    """Answers ``503 Service Unavailable`` to the first ``server.failures`` requests."""

    def send_head(self) -> Any:
        server: Any = self.server
        with server.lock:
            failing = server.failures > 0
            server.failures -= failing
            server.requests += 1
        if failing:
            self.send_error(503)
            return None
        return super().send_head()


@pytest.fixture
def flaky_server(tmp_path: Path) -> Iterator[Any]:
    with serve(_FlakyHandler, tmp_path, lock=threading.Lock(), failures=0, requests=0) as server:
        yield server


def _url(server: Any, path: Path) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{path.name}"


def test_remote_read_is_retried_until_the_server_answers(
    b2_file: MakeFile, flaky_server: Any
) -> None:
    path = b2_file(n_events=17)
    local = count_file(str(path), mode="deep")
    flaky_server.failures = 3  # the first attempt and the probe after it fail, then more
    start = time.monotonic()
    rec = count_file(_url(flaky_server, path), mode="deep", timeout=10, backoff=0.05)
    assert rec.status == "ok", rec.error
    assert (rec.n_entries, rec.contributions) == (local.n_entries, local.contributions)
    assert flaky_server.failures == 0
    assert time.monotonic() - start >= 0.05  # it waited before trying again


def test_remote_read_gives_up_after_the_retries(b2_file: MakeFile, flaky_server: Any) -> None:
    path = b2_file(n_events=17)
    flaky_server.failures = 10_000
    rec = count_file(_url(flaky_server, path), timeout=10, retries=2, backoff=0.01)
    assert rec.status == "io_error"
    assert rec.n_entries is None
    assert "503" in rec.error
    assert rec.error.endswith("(after 3 attempts)")
    # no retries: one attempt only (a read and the probe that tells why it failed)
    before = flaky_server.requests
    once = count_file(_url(flaky_server, path), timeout=10, retries=0)
    assert once.error.endswith("(after 1 attempt)")
    assert flaky_server.requests - before <= 3


def test_bad_remote_files_and_local_files_are_not_retried(
    b2_file: MakeFile, flaky_server: Any, tmp_path: Path
) -> None:
    (tmp_path / "text.root").write_text("not ROOT at all\n" * 10, encoding="utf-8")
    slow = {"retries": 3, "backoff": 30.0}  # a retry would make the test time out
    start = time.monotonic()
    not_root = count_file(_url(flaky_server, tmp_path / "text.root"), timeout=10, **slow)
    missing = count_file(_url(flaky_server, tmp_path / "nothing.root"), timeout=10, **slow)
    local = count_file(str(tmp_path / "nothing.root"), **slow)
    assert time.monotonic() - start < 10
    assert not_root.status == "not_root"
    assert (missing.status, local.status) == ("io_error", "io_error")
    assert "attempt" not in missing.error + local.error


@pytest.mark.parametrize("knobs", [{"retries": -1}, {"backoff": -0.5}, {"backoff": float("nan")}])
def test_negative_retries_or_backoff_are_parameter_errors(
    b2_file: MakeFile, knobs: dict[str, Any]
) -> None:
    from lumiaudit.offline import count_events

    path = b2_file()
    with pytest.raises(ParameterError):
        count_file(str(path), **knobs)
    with pytest.raises(ParameterError):
        count_events([str(path)], **knobs)


def test_files_not_counted_are_listed(b2_file: MakeFile, flaky_server: Any) -> None:
    from lumiaudit.offline import count_events

    good = b2_file(n_events=12)
    gone = b2_file("mdst.physics.0012.00102.HLT1.f00000.root", run=102)
    flaky_server.failures = 10_000
    url = _url(flaky_server, gone)
    result = count_events([str(good), url], timeout=10, retries=1, backoff=0.01)
    statuses = dict(zip(result.files["path"], result.files["status"], strict=True))
    assert statuses == {str(good): "ok", url: "io_error"}
    assert [r["path"] for r in result.stats["not_counted"]] == [url]
    assert "503" in result.stats["not_counted"][0]["error"]
    assert result.summary()["not_counted"] == [url]
    assert count_events([str(good)]).summary()["not_counted"] == []


def test_deep_mode_reads_every_basket(b2_file: MakeFile, tmp_path: Path) -> None:
    """Branches written in several baskets (several ``extend`` calls) are read whole."""
    src = b2_file(n_events=1)
    with uproot.open(src) as f:
        meta = {
            k if "/" in k else f"FileMetaData/{k}": v
            for k, v in f["persistent"].arrays(library="np").items()
        }
    rng = np.random.default_rng(7)
    sizes = [5, 40, 1, 23]
    n = sum(sizes)
    runs = np.repeat(np.array([101, 101, 102, 102], dtype=np.int32), sizes)
    flags = np.where(rng.random(n) < 0.3, 0x10, 0).astype(np.uint32) | (runs == 102).astype(
        np.uint32
    )
    meta["FileMetaData/m_nEvents"] = np.array([n], dtype=meta["FileMetaData/m_nEvents"].dtype)
    meta["FileMetaData/m_runHigh"] = np.array([102], dtype=meta["FileMetaData/m_runHigh"].dtype)
    path = tmp_path / "mdst_000001_prod00012345_task10020000001.root"
    with uproot.recreate(path) as f:
        f.mktree("tree", {"EventMetaData/m_run": np.int32, "EventMetaData/m_errorFlag": np.uint32})
        start = 0
        for size in sizes:
            stop = start + size
            f["tree"].extend(
                {
                    "EventMetaData/m_run": runs[start:stop],
                    "EventMetaData/m_errorFlag": flags[start:stop],
                }
            )
            start = stop
        _tree(f, "persistent", meta)
    with uproot.open(path) as f:
        assert f["tree"]["EventMetaData/m_run"].num_baskets == len(sizes)
    rec = count_file(str(path), mode="deep")
    assert rec.status == "ok", rec.error
    assert rec.n_entries == n
    expected = tuple(
        (12, run, int(np.sum(runs == run)), int(np.sum((runs == run) & (flags == 0))))
        for run in (101, 102)
    )
    assert rec.contributions == expected
    assert dict(rec.flag_counts)[0x10] == int(np.count_nonzero(flags & 0x10))
    assert dict(rec.flag_counts)[0x1] == int(np.sum(runs == 102))
