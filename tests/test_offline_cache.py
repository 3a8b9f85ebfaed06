"""CountCache: hits, misses, reruns that read nothing, kill -9, concurrent writers, corruption."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lumiaudit.errors import LumiauditWarning, OutputError
from lumiaudit.offline.cache import CountCache, FileKey, file_key
from lumiaudit.offline.count import FileRecord, count_file
from lumiaudit.offline.executors import map_files

REPO = Path(__file__).parent.parent


class Counter:
    """count_file, remembering which paths it was called for."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, path: str) -> FileRecord:
        self.calls.append(path)
        return count_file(path, mode="deep")


def cached_count(paths: list[str], cache: CountCache, func: Counter) -> list[FileRecord]:
    """What count_events does with a cache: look up, count the misses, store them."""
    keys = [file_key(p) for p in paths]
    found = cache.lookup_many(keys, tree="tree", mode="deep")
    todo = [i for i, rec in enumerate(found) if rec is None]
    fresh = map_files(func, [paths[i] for i in todo])
    cache.store(fresh, tree="tree", mode="deep", keys=[keys[i] for i in todo])
    for i, rec in zip(todo, fresh, strict=True):
        found[i] = rec
    return found


@pytest.fixture
def files(b2_file: Callable[..., Path]) -> list[str]:
    return [
        str(b2_file(f"mdst.physics.0012.00101.HLT1.f{i:05d}.root", n_events=10 + i))
        for i in range(6)
    ]


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_records_round_trip(tmp_path: Path, files: list[str]) -> None:
    records = [count_file(p, mode="deep") for p in files]
    with CountCache.open(tmp_path / "c.sqlite") as cache:
        assert cache.store(records, tree="tree", mode="deep") == len(files)
    with CountCache.open(tmp_path / "c.sqlite") as cache:
        again = cache.lookup_many([file_key(p) for p in files], tree="tree", mode="deep")
        assert len(cache) == len(files)
    assert again == records
    assert [r.n_entries for r in again] == [10 + i for i in range(6)]


def test_a_rerun_leaves_the_cache_file_as_it_was(tmp_path: Path, files: list[str]) -> None:
    """Opening and looking up writes nothing (before: the meta rows were rewritten on every
    open, a write lock and a WAL checkpoint per rerun)."""
    db = tmp_path / "c.sqlite"
    with CountCache.open(db) as cache:
        cache.store([count_file(p) for p in files], tree="tree", mode="auto")
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.glob("c.sqlite*")}
    time.sleep(0.01)  # a write now would move the mtime
    with CountCache.open(db) as cache:
        assert all(cache.lookup_many([file_key(p) for p in files], tree="tree", mode="auto"))
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.glob("c.sqlite*")}
    assert after == before


def test_record_pickles_round_trip_every_field() -> None:
    import pickle

    record = FileRecord(
        path="/a.root",
        status="ok",
        n_entries=3,
        release="release-08-00-00",
        contributions=((1, 2, 3, None),),
        flag_counts=((16, 1),),
        run_flag_counts=((1, 2, 16, 1),),
    )
    assert pickle.loads(pickle.dumps(record)) == record
    assert [f.name for f in dataclasses.fields(FileRecord)] == [
        f.name for f in dataclasses.fields(pickle.loads(pickle.dumps(record)))
    ]


def test_unchanged_rerun_reads_nothing_and_changed_files_are_recounted(
    tmp_path: Path, files: list[str], b2_file: Callable[..., Path]
) -> None:
    db = tmp_path / "counts.sqlite"
    first = Counter()
    with CountCache.open(db) as cache:
        before = cached_count(files, cache, first)
    assert first.calls == files

    rerun = Counter()
    with CountCache.open(db) as cache:
        assert cached_count(files, cache, rerun) == before
    assert rerun.calls == []

    # touched (same bytes, new mtime), rewritten with other content, and a new file
    st = Path(files[1]).stat()
    os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    b2_file(Path(files[3]).name, n_events=99)
    new = str(b2_file("mdst.physics.0012.00101.HLT1.f00100.root", n_events=3))
    changed = Counter()
    with CountCache.open(db) as cache:
        after = cached_count([*files, new], cache, changed)
    assert sorted(changed.calls) == sorted([files[1], files[3], new])
    assert after[3].n_entries == 99
    assert after[1] != before[1]  # a new mtime in the record
    assert after[1].n_entries == before[1].n_entries
    assert after[0] == before[0]


@pytest.mark.parametrize(
    "change",
    [
        {"size": 1},
        {"mtime_ns": 1},
        {"inode": 1},
        {"ctime_ns": 1},
        {"dev": 1},
        {"mtime_ns": -1},
        {"ctime_ns": 1, "mtime_ns": 1, "size": 1, "inode": 1, "dev": 1},
        {"tree": "events"},
        {"mode": "fast"},
    ],
)
def test_any_difference_in_the_key_is_a_miss(
    tmp_path: Path, files: list[str], change: dict[str, Any]
) -> None:
    key = file_key(files[0])
    assert key is not None
    record = count_file(files[0], mode="deep")
    with CountCache.open(tmp_path / "c.sqlite") as cache:
        cache.store([record], tree="tree", mode="deep", keys=[key])
        assert cache.lookup(key, tree="tree", mode="deep") == record
        where = {"tree": "tree", "mode": "deep"}
        fields = {}
        for name, delta in change.items():
            if name in where:
                where[name] = delta
            else:
                fields[name] = getattr(key, name) + delta
        assert cache.lookup(dataclasses.replace(key, **fields), **where) is None


def _rewrite_in_place(path: Path, data: bytes) -> None:
    """Write ``data`` into the same inode and put size and mtime back as they were."""
    st = path.stat()
    with path.open("r+b") as fh:
        fh.write(data)
        fh.truncate(len(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_rewrite_in_place_restoring_size_and_mtime_is_a_miss(
    tmp_path: Path, b2_file: Callable[..., Path]
) -> None:
    """Seen: 296 returned where the file now has 301 (same size, mtime and inode)."""
    path = b2_file("mdst.physics.0012.00101.HLT1.f00000.root", n_events=296)
    other = b2_file("other/mdst.physics.0012.00101.HLT1.f00000.root", n_events=301)
    # same size: pad both to one length (bytes after a ROOT file's fEND are never read)
    before, after = path.read_bytes(), other.read_bytes()
    width = max(len(before), len(after))
    before, after = before.ljust(width, b"\0"), after.ljust(width, b"\0")
    path.write_bytes(before)
    db = tmp_path / "c.sqlite"
    from lumiaudit.offline import count_events

    assert count_events(path, cache=db).files["n_entries"].tolist() == [296]
    st = path.stat()
    time.sleep(0.01)  # a later ctime, even on coarse clocks
    _rewrite_in_place(path, after)
    now = path.stat()
    assert (now.st_size, now.st_mtime_ns, now.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    result = count_events(path, cache=db)
    assert result.stats["cached"] == 0
    assert result.files["n_entries"].tolist() == [301]


def test_a_file_replaced_by_another_with_same_size_and_mtime_is_a_miss(
    tmp_path: Path, files: list[str]
) -> None:
    path = Path(files[0])
    with CountCache.open(tmp_path / "c.sqlite") as cache:
        cache.store([count_file(str(path))], tree="tree", mode="auto")
        st = path.stat()
        copy = path.with_suffix(".tmp")
        copy.write_bytes(path.read_bytes())
        copy.replace(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        key = file_key(path)
        assert key is not None
        assert (key.size, key.mtime_ns) == (st.st_size, st.st_mtime_ns)
        assert key.inode != st.st_ino
        assert cache.lookup_many([key], tree="tree", mode="auto") == [None]


def test_urls_and_vanished_files_are_not_stored(tmp_path: Path, files: list[str]) -> None:
    url = FileRecord(path="root://127.0.0.1:1//a.root", status="ok", n_entries=5)
    gone = FileRecord(path=str(tmp_path / "gone.root"), status="io_error")
    with CountCache.open(tmp_path / "c.sqlite") as cache:
        assert cache.store([url, gone, count_file(files[0])], tree="tree", mode="auto") == 1
        assert len(cache) == 1
        assert cache.lookup_many([file_key(url.path), None], tree="tree", mode="auto") == [
            None,
            None,
        ]


def test_records_of_another_version_are_ignored(tmp_path: Path, files: list[str]) -> None:
    db = tmp_path / "c.sqlite"
    with CountCache.open(db) as cache:
        cache.store([count_file(files[0])], tree="tree", mode="auto")
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE records SET record_version = 'written-by-lumiaudit-0.0'")
    raw.close()
    with CountCache.open(db) as cache:
        assert cache.lookup_many([file_key(files[0])], tree="tree", mode="auto") == [None]


def test_a_cache_of_an_older_layout_is_rebuilt(tmp_path: Path, files: list[str]) -> None:
    db = tmp_path / "c.sqlite"
    with CountCache.open(db) as cache:
        cache.store([count_file(files[0])], tree="tree", mode="auto")
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    raw.close()
    with CountCache.open(db) as cache:
        assert len(cache) == 0


V1_LAYOUT = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (
    path TEXT NOT NULL, tree TEXT NOT NULL, mode TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, record_version TEXT NOT NULL,
    payload BLOB NOT NULL, stored_at REAL NOT NULL, PRIMARY KEY (path, tree, mode)
) WITHOUT ROWID;
INSERT INTO meta VALUES ('schema', '1');
"""


def test_a_cache_of_layout_1_is_rebuilt_not_a_crash(tmp_path: Path, files: list[str]) -> None:
    """Layout 1 (lumiaudit 0.1, no ctime_ns): was sqlite3.OperationalError on store."""
    db = tmp_path / "c.sqlite"
    with sqlite3.connect(db) as raw:
        raw.executescript(V1_LAYOUT)
        raw.execute(
            "INSERT INTO records VALUES ('/x.root', 'tree', 'auto', 1, 2, 3, 'v', x'00', 0.0)"
        )
    raw.close()
    from lumiaudit.offline import count_events

    result = count_events(files[:2], cache=db)
    assert result.stats["cached"] == 0
    with CountCache.open(db) as cache:
        assert len(cache) == 2
    assert count_events(files[:2], cache=db).stats["cached"] == 2


@pytest.mark.parametrize("layout", ["3", "99", "two"])
def test_a_cache_of_a_newer_layout_is_refused_and_kept(
    tmp_path: Path, files: list[str], layout: str
) -> None:
    db = tmp_path / "c.sqlite"
    with CountCache.open(db) as cache:
        cache.store([count_file(files[0])], tree="tree", mode="auto")
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (layout,))
    raw.close()
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    content = db.read_bytes()
    with pytest.raises(OutputError, match=f"layout {layout}"):
        CountCache.open(db)
    assert db.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir() if "corrupt" in p.name] == []


def _foreign_files(tmp_path: Path, b2: Callable[..., Path]) -> dict[str, Path]:
    made = {
        "root_file": b2("mdst.physics.0012.00101.HLT1.f00000.root"),
        "text": tmp_path / "files.txt",
        "garbage": tmp_path / "counts.sqlite",
        "other_sqlite": tmp_path / "elog.sqlite",
    }
    made["text"].write_text("/data/a.root\n")
    made["garbage"].write_bytes(b"\x00garbage, not SQLite\xff" * 300)
    with sqlite3.connect(made["other_sqlite"]) as raw:
        raw.execute("CREATE TABLE entries (id INTEGER, text TEXT)")
        raw.execute("INSERT INTO entries VALUES (1, 'Beam run')")
    raw.close()
    return made


@pytest.mark.parametrize("kind", ["root_file", "text", "garbage", "other_sqlite"])
def test_a_path_that_is_not_a_lumiaudit_cache_is_refused_never_renamed(
    tmp_path: Path, b2_file: Callable[..., Path], kind: str
) -> None:
    target = _foreign_files(tmp_path, b2_file)[kind]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    content = target.read_bytes()
    with pytest.raises(OutputError, match="not a lumiaudit count cache") as info:
        CountCache.open(target)
    assert str(target) in str(info.value)
    assert "\n" not in str(info.value)
    assert target.read_bytes() == content
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_damaged_pages_are_detected(tmp_path: Path, files: list[str]) -> None:
    db = tmp_path / "counts.sqlite"
    records = [count_file(p) for p in files]
    with CountCache.open(db) as cache:
        for i in range(40):  # a few hundred pages
            cache.store(records, tree="tree", mode=f"m{i}")
    # fold the WAL into the main file, then overwrite pages in the middle
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    data = bytearray(db.read_bytes())
    assert len(data) > 16 * 4096
    data[4096 * 3 : 4096 * 12] = b"\xa5" * (4096 * 9)
    db.write_bytes(bytes(data))
    with pytest.warns(LumiauditWarning, match="rebuilt"):
        cache = CountCache.open(db)
    with cache:
        assert len(cache) == 0


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cache directory"):
        CountCache.open(blocker / "sub" / "c.sqlite")


def test_closed_cache_says_so(tmp_path: Path) -> None:
    cache = CountCache.open(tmp_path / "c.sqlite")
    cache.close()
    cache.close()
    with pytest.raises(ValueError, match="closed"):
        cache.lookup_many([FileKey("/a", 1, 1, 1, 1, 1)], tree="tree", mode="auto")


WRITER = """
    import sys
    import time
    from lumiaudit.offline.cache import CountCache, FileKey
    from lumiaudit.offline.count import FileRecord

    db, tag, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    start = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    while time.time() < start:  # both writers begin together
        time.sleep(0.005)
    with CountCache.open(db) as cache:
        for b in range(batches):
            recs = [
                FileRecord(path=f"/{tag}/{b}/{i}.root", status="ok", n_entries=i, error="x" * 400)
                for i in range(size)
            ]
            keys = [FileKey(r.path, 100 + i, 7, i, 8, 9) for i, r in enumerate(recs)]
            cache.store(recs, tree="tree", mode="deep", keys=keys)
            print(b, flush=True)
"""


def _check_intact(db: Path) -> int:
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with CountCache.open(db) as cache:  # a warning here would fail the test (filterwarnings)
        n = len(cache)
        rows = [FileKey(f"/w/0/{i}.root", 100 + i, 7, i, 8, 9) for i in range(5)]
        found = cache.lookup_many(rows, tree="tree", mode="deep")
        assert [None if r is None else r.n_entries for r in found] == list(range(5))
        cache.store([FileRecord(path="/after", status="ok")], tree="t", mode="m", keys=[rows[0]])
    return n


def test_kill_9_while_storing_leaves_a_usable_cache(tmp_path: Path) -> None:
    db = tmp_path / "counts.sqlite"
    proc = run_python(WRITER, str(db), "w", "100000", "500")
    assert proc.stdout is not None
    try:
        for _ in range(3):  # a few transactions committed, the next one under way
            assert proc.stdout.readline(), proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -9
    n = _check_intact(db)
    # transactions are all or nothing: whole batches only
    assert n >= 1500
    assert n % 500 == 0


def test_two_processes_storing_at_once_do_not_corrupt_it(tmp_path: Path) -> None:
    db = tmp_path / "counts.sqlite"
    start = str(time.time() + 3)
    procs = [run_python(WRITER, str(db), tag, "30", "200", start) for tag in ("w", "v")]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.split() == [str(b) for b in range(30)]
    assert _check_intact(db) == 2 * 30 * 200


@pytest.mark.parametrize(
    "where", ["input_file", "zero_byte_input", "list_file", "listed", "inside"]
)
def test_count_events_refuses_a_cache_among_its_inputs(
    tmp_path: Path, b2_file: Callable[..., Path], where: str
) -> None:
    from lumiaudit.errors import ParameterError
    from lumiaudit.offline import count_events

    good = b2_file("prod/e0012/4S/r00101/all/mdst/sub00/mdst.physics.0012.00101.HLT1.f00000.root")
    empty = good.with_name("mdst.physics.0012.00101.HLT1.f00001.root")
    empty.touch()
    listing = tmp_path / "files.txt"
    listing.write_text(f"{good}\n{empty}\n")
    prod = tmp_path / "prod"
    inputs, cache = {
        "input_file": ([good, empty], good),
        "zero_byte_input": ([good, empty], empty),
        "list_file": ([listing], listing),
        "listed": ([listing], empty),
        "inside": ([prod], prod / "e0012" / "counts.sqlite"),
    }[where]
    tree = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ParameterError, match="count cache"):
        count_events(inputs, cache=cache)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == tree
