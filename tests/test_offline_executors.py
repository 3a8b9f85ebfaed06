"""map_files: order, local process pool, I/O threads for URLs, progress, errors, lazy Dask."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lumiaudit.errors import ParameterError
from lumiaudit.offline.count import FileRecord, count_file
from lumiaudit.offline.executors import is_remote, map_files, usable_cpus, worker_processes

REPO = Path(__file__).parent.parent


def _pid_of(item: int) -> tuple[int, int]:
    return item, os.getpid()


def _fail_on_seven(item: int) -> int:
    if item == 7:
        raise KeyError(f"item {item}")
    return item


@pytest.fixture
def b2_files(b2_file: Callable[..., Path]) -> list[str]:
    """30 small files with different entry counts, plus a non-ROOT and a zero-byte file."""
    paths = [
        str(
            b2_file(
                f"mdst.physics.0012.{101 + i % 3:05d}.HLT{1 + i % 2}.f{i:05d}.root",
                run=101 + i % 3,
                n_events=5 + 7 * i,
            )
        )
        for i in range(30)
    ]
    bad = Path(paths[0]).parent / "mdst.physics.0012.00101.HLT1.f00999.root"
    bad.write_text("<html>not found</html>")
    empty = Path(paths[0]).parent / "mdst.physics.0012.00101.HLT1.f00998.root"
    empty.touch()
    return [*paths, str(bad), str(empty)]


def test_sequential_keeps_input_order() -> None:
    items = list(range(50))[::-1]
    assert map_files(_pid_of, items) == [(i, os.getpid()) for i in items]


def test_process_pool_gives_the_sequential_records_in_order(b2_files: list[str]) -> None:
    func = functools.partial(count_file, mode="deep")
    sequential = map_files(func, b2_files, jobs=1)
    parallel = map_files(func, b2_files, jobs=2)
    assert parallel == sequential
    assert [r.path for r in parallel] == b2_files
    assert all(isinstance(r, FileRecord) for r in parallel)
    # the files differ, so equal lists mean every record landed at its own index
    assert len({r.n_entries for r in parallel}) > 25
    assert [r.status for r in parallel[-2:]] == ["not_root", "zero_bytes"]


def test_local_paths_run_in_worker_processes() -> None:
    out = map_files(_pid_of, list(range(200)), jobs=2)
    assert [i for i, _ in out] == list(range(200))
    if usable_cpus() >= 2:  # with one CPU, one process: this one
        assert os.getpid() not in {pid for _, pid in out}


def _children(pid: int) -> set[str]:
    """Child process ids of ``pid`` (Linux /proc)."""
    children: set[str] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children.update((task / "children").read_text().split())
        except FileNotFoundError:  # the thread ended between listing and reading
            continue
    return children


def _siblings(item: int) -> frozenset[str]:
    """The processes the pool's owner has started (read in a worker)."""
    return frozenset(_children(os.getppid()))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize(("jobs", "n_files"), [(48, 3), (48, 2), (3, 40), (2, 2)])
def test_workers_are_bounded_by_files_and_cpus(jobs: int, n_files: int) -> None:
    """Seen: --jobs 48 on 3 files started 49 processes."""
    before = _children(os.getpid())  # earlier tests' helpers, not this pool's
    seen = map_files(_siblings, list(range(n_files)), jobs=jobs)
    started = set().union(*seen) - before
    bound = min(jobs, n_files, usable_cpus())
    assert bound == worker_processes(jobs, n_files)
    if bound > 1:
        assert 1 <= len(started) <= bound, (started, bound)
    else:  # one worker: the files are counted in this process
        assert map_files(_pid_of, list(range(n_files)), jobs=jobs)[0][1] == os.getpid()


def test_jobs_zero_means_one_per_cpu() -> None:
    assert map_files(_pid_of, list(range(20)), jobs=0)[5][0] == 5


def test_empty_input() -> None:
    assert map_files(_pid_of, [], jobs=2) == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_exception_in_func_is_raised(jobs: int) -> None:
    with pytest.raises(KeyError, match="item 7"):
        map_files(_fail_on_seven, list(range(40)), jobs=jobs)


def test_urls_are_read_by_many_threads_at_once() -> None:
    # every call waits for 12 others: this only finishes if 12 URLs are in flight together
    barrier = threading.Barrier(12, timeout=20)

    def fetch(url: str) -> tuple[str, str]:
        barrier.wait()
        return url, threading.current_thread().name

    urls = [f"root://127.0.0.1:1//data/f{i}.root" for i in range(24)]
    out = map_files(fetch, urls, jobs=1, inflight=12)
    assert [u for u, _ in out] == urls
    assert all(name.startswith("lumiaudit-io") for _, name in out)


def test_default_inflight_overlaps_urls_even_with_one_job() -> None:
    barrier = threading.Barrier(8, timeout=20)

    def fetch(url: str) -> str:
        barrier.wait()
        return url.upper()

    urls = [f"https://example.org/f{i}.root" for i in range(16)]
    assert map_files(fetch, urls) == [u.upper() for u in urls]


def test_mixed_local_and_remote_items_keep_their_order(b2_files: list[str]) -> None:
    def tag(item: str) -> str:
        return ("R:" if is_remote(item) else "L:") + item

    items = [b2_files[0], "root://h//a.root", b2_files[1], "http://h/b.root", b2_files[2]]
    assert map_files(tag, items) == [tag(i) for i in items]


def test_is_remote() -> None:
    assert is_remote("root://eos//a.root")
    assert is_remote("HTTPS://host/a.root")
    assert not is_remote("/data/root:/a.root")
    assert not is_remote(Path("/data/a.root"))


def test_bad_parameters() -> None:
    with pytest.raises(ParameterError, match="not both"):
        map_files(_pid_of, [1], client=object(), scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ParameterError, match="inflight"):
        map_files(_pid_of, [1], inflight=0)


def test_progress_bar_on_stderr_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    map_files(_pid_of, list(range(30)), progress=False)
    quiet = capsys.readouterr()
    assert (quiet.out, quiet.err) == ("", "")
    map_files(_pid_of, list(range(30)), jobs=2, progress=True, description="checking")
    shown = capsys.readouterr()
    assert shown.out == ""
    assert "checking" in shown.err
    assert "30/30" in shown.err
    assert "file/s" in shown.err


def test_dask_is_imported_only_when_used() -> None:
    code = (
        "import sys\n"
        "from lumiaudit.offline.executors import map_files\n"
        "assert map_files(abs, [-1, -2], jobs=2) == [1, 2]\n"
        "assert map_files(str, ['root://h//a']) == ['root://h//a']\n"
        "bad = [m for m in ('dask', 'distributed', 'tqdm') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
