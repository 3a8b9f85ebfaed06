"""Counting through a real XRootD server on 127.0.0.1 gives the same numbers as locally."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import need

from lumiaudit.example import write_basf2_file
from lumiaudit.offline import count_events
from lumiaudit.offline.count import count_file
from lumiaudit.offline.executors import map_files

pytestmark = [pytest.mark.slow, pytest.mark.xrootd]


@dataclass(frozen=True)
class Server:
    """A running xrootd serving ``root`` as ``root://127.0.0.1:port//``."""

    root: Path
    port: int

    def url(self, path: Path) -> str:
        return f"root://127.0.0.1:{self.port}//{path.relative_to(self.root).as_posix()}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_production(root: Path) -> None:
    rng = np.random.default_rng(4)
    prod = root / "e0012" / "4S"
    for run in (101, 102, 103):
        for unit in (1, 2):
            for index in range(3):
                n = int(rng.integers(5, 60))
                flags = np.where(rng.random(n) < 0.1, 0x10, 0)
                write_basf2_file(
                    prod
                    / f"r{run:05d}"
                    / "all"
                    / "mdst"
                    / "sub00"
                    / f"mdst.physics.0012.{run:05d}.HLT{unit}.f{index:05d}.root",
                    experiment=12,
                    run=run,
                    n_events=n,
                    error_flags=flags,
                )
    # a grid file spanning two runs, and the usual suspects
    write_basf2_file(
        prod
        / "r00000"
        / "all"
        / "mdst"
        / "sub00"
        / "mdst_000001_prod00000012_task10020000001.root",
        experiment=12,
        run=np.repeat([104, 105], [7, 11]),
        n_events=18,
    )
    bad = prod / "r00101" / "all" / "mdst" / "sub00"
    (bad / "mdst.physics.0012.00101.HLT3.f00000.root").write_text("<html>502</html>")
    (bad / "mdst.physics.0012.00101.HLT3.f00001.root").touch()
    whole = (bad / "mdst.physics.0012.00101.HLT1.f00000.root").read_bytes()
    (bad / "mdst.physics.0012.00101.HLT3.f00002.root").write_bytes(whole[: len(whole) // 2])


@contextlib.contextmanager
def run_xrootd(write: Callable[[Path], object]) -> Iterator[tuple[Server, subprocess.Popen[bytes]]]:
    """Start a real xrootd on a free port of 127.0.0.1 serving what ``write`` puts in ``data``.

    No ``XRD_*`` variable is set: the library's own bounds are what the tests see.
    """
    binary = shutil.which("xrootd")
    need(binary is not None, "xrootd server binary (Debian package xrootd-server)")
    assert binary is not None
    # outside pytest's 0700 tmp tree: when run as root, xrootd drops to 'nobody' (it refuses
    # to run as root) and must still read the files and write its admin directory
    base = Path(tempfile.mkdtemp(prefix="lumiaudit-xrootd-"))
    data, admin = base / "data", base / "admin"
    admin.mkdir()
    data.mkdir()
    write(data)
    for path in [base, data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    admin.chmod(0o777)
    port = _free_port()
    config = base / "xrootd.cfg"
    config.write_text(
        f"xrd.port {port}\n"
        f"oss.localroot {data}\n"
        "all.export /\n"
        f"all.adminpath {admin}\n"
        f"all.pidpath {admin}\n"
    )
    log = admin / "xrootd.log"  # xrootd writes it (as nobody) into admin/<name>/
    cmd = [binary, "-c", str(config), "-l", str(log), "-n", "lumiaudit"]
    if os.geteuid() == 0:
        cmd[1:1] = ["-R", "nobody"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=base)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                logs = "".join(p.read_text(errors="replace") for p in base.rglob("xrootd.log*"))
                pytest.fail(f"xrootd exited with {proc.returncode}: {out} {logs}"[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"xrootd did not listen on port {port} within 15 s")
                time.sleep(0.1)
        yield Server(data, port), proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)  # a stopped server cannot terminate
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def xrootd_server() -> Iterator[Server]:
    with run_xrootd(_write_production) as (server, _):
        yield server


def _comparable(frame: pd.DataFrame, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    # where a file was read from, and what os.stat says about it, differ by construction
    gone = {"path", "mtime", "duplicate_of", "error", *drop} & set(frame.columns)
    return frame.drop(columns=sorted(gone)).reset_index(drop=True)


def _local_and_urls(server: Server) -> tuple[list[Path], list[str]]:
    local = sorted(p for p in server.root.rglob("*.root"))
    return local, [server.url(p) for p in local]


def test_count_file_over_xrootd_matches_local(xrootd_server: Server) -> None:
    local, urls = _local_and_urls(xrootd_server)
    func = functools.partial(count_file, mode="deep", timeout=30)
    here = map_files(func, [str(p) for p in local])
    there = map_files(func, urls, jobs=2)
    assert [r.path for r in there] == urls
    for a, b in zip(here, there, strict=True):
        assert (b.status, b.n_entries, b.n_meta, b.n_full, b.contributions, b.flag_counts) == (
            a.status,
            a.n_entries,
            a.n_meta,
            a.n_full,
            a.contributions,
            a.flag_counts,
        ), b.path
        assert b.size_bytes in (a.size_bytes, None)
    statuses = {r.status for r in there}
    assert {"ok", "not_root", "zero_bytes", "truncated"} <= statuses
    assert sum(r.n_entries or 0 for r in there) > 300


def test_count_events_over_xrootd_gives_the_local_tables(xrootd_server: Server) -> None:
    local, urls = _local_and_urls(xrootd_server)
    here = count_events([str(p) for p in local], mode="deep")
    there = count_events(urls, mode="deep", jobs=2, timeout=30)
    pd.testing.assert_frame_equal(_comparable(there.runs), _comparable(here.runs))
    pd.testing.assert_frame_equal(_comparable(there.contributions), _comparable(here.contributions))
    # a missing file can tell that its size is unknown remotely: compare the counts
    cols = [
        "experiment",
        "run",
        "hlt_unit",
        "file_index",
        "n_entries",
        "n_meta",
        "n_full",
        "status",
    ]
    pd.testing.assert_frame_equal(there.files[cols], here.files[cols])
    assert set(here.runs["run"]) == {101, 102, 103, 104, 105}


def test_a_missing_remote_file_is_an_io_error_not_a_hang(xrootd_server: Server) -> None:
    url = f"root://127.0.0.1:{xrootd_server.port}//no/such/file.root"
    start = time.monotonic()
    record = count_file(url, timeout=10)
    assert record.status == "io_error"
    assert record.n_entries is None
    assert time.monotonic() - start < 20


#: Counts in a child process: one file while the server is alive (a live connection), then,
#: once the parent has stopped the server (SIGSTOP), everything with the given options.
_STALLED_CHILD = """
import json, sys
from lumiaudit.offline import count_events, count_file
options, urls = json.loads(sys.argv[1]), sys.argv[2:]
print(count_file(urls[0]).status, flush=True)
sys.stdin.readline()
result = count_events(urls, **options)
rows = result.files[["path", "status", "error", "n_entries"]].astype(object)
print(json.dumps(rows.where(rows.notna(), None).to_dict("records")), flush=True)
"""


def _write_files(n: int) -> Callable[[Path], None]:
    def write(data: Path) -> None:
        for i in range(n):
            write_basf2_file(
                data / f"mdst.physics.0012.00101.HLT1.f{i:05d}.root",
                experiment=12,
                run=101,
                n_events=5 + i,
            )

    return write


def _count_stopped(
    n_files: int, options: dict[str, object], guard: float
) -> list[dict[str, object]]:
    """Count ``n_files`` URLs of a real xrootd that is SIGSTOPped mid-count."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRD_")}
    env["PYTHONPATH"] = str(Path(__file__).parent.parent)
    with run_xrootd(_write_files(n_files)) as (server, proc):
        urls = [server.url(p) for p in sorted(server.root.glob("*.root"))]
        child = subprocess.Popen(
            [sys.executable, "-c", _STALLED_CHILD, json.dumps(options), *urls],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None
            assert child.stdin is not None
            assert child.stdout.readline().strip() == "ok"
            os.kill(proc.pid, signal.SIGSTOP)
            child.stdin.write("go\n")
            child.stdin.flush()
            out, err = child.communicate(timeout=guard)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            pytest.fail(
                f"count of {n_files} files against a stopped xrootd still ran after {guard} s"
            )
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert child.returncode == 0, err[-2000:]
    rows: list[dict[str, object]] = json.loads(out.strip().splitlines()[-1])
    assert sorted(r["path"] for r in rows) == sorted(urls)  # every file is a row
    return rows


@pytest.mark.parametrize(
    ("n_files", "options", "says"),
    [
        (1, {"timeout": 2, "retries": 0}, "timed out after 2 s"),
        (
            20,
            {"timeout": 2, "retries": 1, "backoff": 0.1},
            "timed out after 2 s (after 2 attempts)",
        ),
    ],
    ids=["1-file", "20-files-retried"],
)
def test_a_stopped_xrootd_gives_io_errors_bounded_by_the_timeout(
    n_files: int, options: dict[str, object], says: str
) -> None:
    """Seen: --timeout 3 --retries 0 took 31 s for one file; 60 files ran for ever."""
    rows = _count_stopped(n_files, options, guard=120)
    assert {r["status"] for r in rows} == {"io_error"}
    assert all(r["n_entries"] is None for r in rows)
    assert all(says in str(r["error"]) for r in rows), rows[0]["error"]


def test_a_stopped_xrootd_without_timeout_is_bounded_by_the_default() -> None:
    """Without --timeout a read hung for ever; now DEFAULT_TIMEOUT bounds every attempt."""
    from lumiaudit.offline.count import DEFAULT_TIMEOUT

    rows = _count_stopped(1, {"retries": 0}, guard=DEFAULT_TIMEOUT * 4)
    assert [r["status"] for r in rows] == ["io_error"]
    assert f"timed out after {DEFAULT_TIMEOUT:g} s" in str(rows[0]["error"])
