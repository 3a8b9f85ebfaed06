"""Reliability: faults during a run (issue 8): kill -9, full or read-only disks, a dying XRootD
server, a killed Dask worker, two nightly runs at once.

Real processes throughout: the CLI runs as a subprocess, the XRootD server is the Debian
``xrootd`` binary on 127.0.0.1, the cluster is a ``dask.distributed.LocalCluster``.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import need

from lumiaudit.cli import cli
from lumiaudit.example import write_basf2_file
from lumiaudit.offline import count_events
from tests.support.faults import cli_argv

pytestmark = pytest.mark.reliability

REPO = Path(__file__).parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
#: for the kill -9 tests: uproot's full reading (~50x slower than the lean reader) leaves a
#: window to kill the count in; what is tested is the cache and the workers, not the reader
SLOW_ENV = {**ENV, "LUMIAUDIT_LEAN": "0"}
PROGRESS = re.compile(rb"(\d+)/(\d+) \[")


def _production(root: Path, n_files: int, n_events: int) -> Path:
    for i in range(n_files):
        run = 100 + i // 4
        name = f"mdst.physics.0012.{run:05d}.HLT{1 + i % 4}.f00000.root"
        write_basf2_file(root / f"r{run:05d}" / name, experiment=12, run=run, n_events=n_events + i)
    return root


def _kill_at_progress(
    proc: subprocess.Popen[bytes], *, fraction: float, on_kill: Any, limit: float = 120
) -> tuple[bool, bytes]:
    """Read the progress bar on stderr; call ``on_kill`` once ``fraction`` of it is done."""
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    buf = b""
    fired = False
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(BlockingIOError):
            buf += os.read(proc.stderr.fileno(), 65536) or b""
        seen = PROGRESS.findall(buf)
        if not fired and seen:
            done, total = (int(x) for x in seen[-1])
            if total and done >= fraction * total and done < total:
                on_kill()
                fired = True
        time.sleep(0.02)
    with contextlib.suppress(BlockingIOError, TypeError, OSError):
        buf += os.read(proc.stderr.fileno(), 1 << 20) or b""
    proc.stderr.close()
    return fired, buf


def _files_csv(text: str) -> dict[str, dict[str, str]]:
    return {r["path"]: r for r in csv.DictReader(io.StringIO(text))}


# ------------------------------------------------------------------ kill -9 during counting


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _production(tmp_path_factory.mktemp("many") / "prod", 200, 400)


@pytest.mark.slow
def test_kill_9_during_count_then_rerun(many_files: Path, tmp_path: Path) -> None:
    reference = count_events(many_files, mode="deep")
    cache = tmp_path / "counts.sqlite"
    # a first, complete run over half the runs fills the cache
    first = sorted(str(p) for p in many_files.rglob("*.root"))[:100]
    count_events(first, mode="deep", cache=cache)
    with sqlite3.connect(cache) as db:
        (cached_before,) = db.execute("SELECT COUNT(*) FROM records").fetchone()
    assert cached_before == 100
    out = tmp_path / "files.csv"
    args = ["count", str(many_files), "--mode", "deep", "--cache", str(cache), "--progress"]
    proc = subprocess.Popen(
        [*cli_argv(), *args, "-o", str(out)],
        env=SLOW_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    fired, err = _kill_at_progress(proc, fraction=0.3, on_kill=lambda: proc.send_signal(9))
    proc.wait(30)
    assert proc.stdout is not None
    proc.stdout.close()
    assert fired, f"the count ended before it could be killed: {err[-300:]!r}"
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists(), "a half-written files table was left behind"
    # the cache survived the kill: intact, and nothing counted before was lost
    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (cached_after,) = db.execute("SELECT COUNT(*) FROM records").fetchone()
    assert cached_after >= cached_before
    rerun = subprocess.run(
        [*cli_argv(), *args[:-1], "--no-progress", "-o", str(out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    got = _files_csv(out.read_text(encoding="utf-8"))
    want = {r["path"]: r for r in reference.files.astype(str).to_dict("records")}
    assert set(got) == set(want)
    for path, row in want.items():
        assert (got[path]["status"], got[path]["n_entries"], got[path]["n_full"]) == (
            row["status"],
            row["n_entries"],
            row["n_full"],
        ), path
    # and the cache now answers for every file with the right numbers
    again = count_events(many_files, mode="deep", cache=cache)
    pd.testing.assert_frame_equal(again.runs, reference.runs)
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM records").fetchone() == (200,)


# ------------------------------------------------------------------ full / read-only / bad output


@contextlib.contextmanager
def _tmpfs(target: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mount (root only); skips with the reason when mounting is not allowed."""
    target.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8); the RLIMIT_FSIZE test covers it")
    proc = subprocess.run(
        [mount, "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); RLIMIT test covers it")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def _audit_args(example: dict[str, Path], out: Path) -> list[str]:
    return [
        "audit",
        "--online",
        str(example["elog"]),
        "--offline",
        str(example["prod"]),
        "--out",
        str(out),
        "--no-progress",
    ]


def _one_line_error(result: Any) -> str:
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.mark.parametrize(
    ("options", "cause"),
    [("size=64k,mode=1777", "No space left"), ("ro,size=64k", "Read-only file system")],
    ids=["disk-full", "read-only"],
)
def test_audit_out_on_full_or_read_only_disk(
    example: dict[str, Path], tmp_path: Path, options: str, cause: str
) -> None:
    with _tmpfs(tmp_path / "mnt", options) as mnt:
        out = mnt / "audit"
        result = CliRunner().invoke(cli, [*_audit_args(example, out), "--no-plots"])
        assert result.exit_code == 2, result.output
        line = _one_line_error(result)
        assert str(out) in line
        assert cause in line
        assert list(mnt.iterdir()) == [], "half-written audit left on the full disk"


def test_audit_out_below_a_regular_file(example: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "not a directory"
    blocker.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, [*_audit_args(example, blocker / "audit"), "--no-plots"])
    assert result.exit_code == 2
    assert str(blocker) in _one_line_error(result)
    assert blocker.read_text(encoding="utf-8") == "x"


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _limit_file_size() -> None:  # preexec_fn: files may not grow past 20 kB
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


@pytest.mark.slow
def test_failed_rewrite_keeps_the_previous_audit(example: dict[str, Path], tmp_path: Path) -> None:
    """Disk full half-way through a rewrite (RLIMIT_FSIZE): the old audit stays whole."""
    out = tmp_path / "audit"
    first = CliRunner().invoke(cli, [*_audit_args(example, out), "--no-plots"])
    assert first.exit_code == 0, first.output
    before = _digest(out)
    proc = subprocess.run(
        [*cli_argv(), *_audit_args(example, out), "--no-plots"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,  # single-threaded parent; Linux only
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, proc.stderr
    assert "File too large" in errors[0]
    assert _digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"], "temporary output left over"


# ------------------------------------------------------------------ XRootD server dies mid-run


class _Xrootd:
    """A real xrootd on 127.0.0.1 serving ``data`` (as nobody when run as root)."""

    def __init__(self, base: Path, port: int | None = None) -> None:
        self.base = base
        self.data = base / "data"
        self.admin = base / "admin"
        self.port = port or self._free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def start(self) -> None:
        binary = shutil.which("xrootd")
        assert binary is not None
        self.admin.mkdir(exist_ok=True)
        for path in [self.base, self.data, *self.data.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.admin.chmod(0o777)
        config = self.base / "xrootd.cfg"
        config.write_text(
            f"xrd.port {self.port}\noss.localroot {self.data}\nall.export /\n"
            f"all.adminpath {self.admin}\nall.pidpath {self.admin}\n",
            encoding="utf-8",
        )
        cmd = [binary, "-c", str(config), "-l", str(self.admin / "log"), "-n", "reliability"]
        if os.geteuid() == 0:
            cmd[1:1] = ["-R", "nobody"]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.base
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"xrootd did not start on port {self.port}")
                time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def urls(self) -> list[str]:
        return [
            f"root://127.0.0.1:{self.port}//{p.relative_to(self.data).as_posix()}"
            for p in sorted(self.data.rglob("*.root"))
        ]


#: fail fast: XRootD's defaults retry for minutes
XRD_FAST = {
    "XRD_CONNECTIONRETRY": "1",
    "XRD_CONNECTIONWINDOW": "2",
    "XRD_REQUESTTIMEOUT": "3",
    "XRD_STREAMTIMEOUT": "3",
    "XRD_TIMEOUTRESOLUTION": "1",
}


@pytest.fixture
def xrootd() -> Iterator[_Xrootd]:
    need(shutil.which("xrootd") is not None, "xrootd server binary (Debian xrootd-server)")
    # outside pytest's 0700 tree: xrootd runs as nobody and must read the files
    base = Path(tempfile.mkdtemp(prefix="lumiaudit-reliability-xrd-"))
    server = _Xrootd(base)
    _production(server.data, 60, 2000)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(base, ignore_errors=True)


def _count_urls(server: _Xrootd, extra: list[str]) -> subprocess.Popen[bytes]:
    urls = server.base / "urls.txt"
    urls.write_text("".join(f"{u}\n" for u in server.urls()), encoding="utf-8")
    out = server.base / "files.csv"
    return subprocess.Popen(
        [*cli_argv(), "count", str(urls), "--mode", "deep", "--progress", "-o", str(out), *extra],
        env={**ENV, **XRD_FAST},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _elog_for(data: Path, out: Path) -> Path:
    """A logbook whose counts are the true totals of the production in ``data``."""
    from datetime import datetime, timedelta

    from lumiaudit.example import write_elog_dayfiles

    totals = count_events(data, mode="fast").runs.set_index("run")["n_offline"]
    start = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
    entries = [
        {
            "Date": (start + timedelta(hours=i)).isoformat(),
            "Author": "reliability",
            "Subject": f"physics run {run}",
            "Type": "Run summary",
            "Category": "Physics",
            "Exp number": "12",
            "Run number": str(run),
            "Num events": str(int(n)),
            "text": "Integrated Luminosity : 1.0",
        }
        for i, (run, n) in enumerate(totals.items())
    ]
    write_elog_dayfiles(out, entries)
    return out


@pytest.mark.slow
@pytest.mark.xrootd
def test_xrootd_server_killed_mid_audit(xrootd: _Xrootd) -> None:
    """The audit completes, lists every file, and names the runs and files not counted."""
    local = count_events(xrootd.data, mode="deep").files
    truth = dict(zip(local["path"].map(lambda p: Path(p).name), local["n_entries"], strict=True))
    elog = _elog_for(xrootd.data, xrootd.base / "elog")
    urls = xrootd.base / "urls.txt"
    urls.write_text("".join(f"{u}\n" for u in xrootd.urls()), encoding="utf-8")
    out = xrootd.base / "audit"
    cmd = [*cli_argv(), "audit", "--online", str(elog), "--offline", str(urls), "--out", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--mode", "deep", "--no-plots", "--progress"],
        env={**ENV, **XRD_FAST},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    fired, err = _kill_at_progress(proc, fraction=0.3, on_kill=xrootd.kill, limit=180)
    assert proc.stdout is not None
    summary = proc.stdout.read().decode()
    proc.stdout.close()
    proc.wait(60)
    assert fired, f"the audit ended before the server could be killed: {err[-300:]!r}"
    assert proc.returncode == 0, err[-2000:]
    files = pd.read_csv(out / "files.csv", keep_default_na=False)
    assert len(files) == 60, "every file is listed, counted or not"
    assert set(files["status"]) <= {"ok", "io_error"}, set(files["status"])
    failed = files[files["status"] == "io_error"]
    assert len(failed), "the server died with files left to read"
    for row in files.itertuples():
        if row.status == "ok":
            assert int(row.n_entries) == truth[Path(row.path).name]
        else:
            assert row.n_entries == ""  # missing, not 0
            assert str(row.error).strip()
    # the summary line counts them, and their runs are flagged with the reason
    assert summary.strip() == str(out)  # stdout: the audit directory, for scripts
    assert f"{len(failed)} not readable".encode() in err, err[-500:]
    runs = pd.read_csv(out / "runs.csv", keep_default_na=False)
    hit = runs[runs["run"].isin(failed["run"])]
    assert hit["flagged"].astype(str).str.lower().eq("true").all()
    assert hit["reasons"].str.contains("unreadable_file").all()


@pytest.mark.slow
@pytest.mark.xrootd
def test_xrootd_server_restarted_mid_count_is_retried(xrootd: _Xrootd) -> None:
    proc = _count_urls(xrootd, [])

    restart = threading.Timer(1.0, xrootd.start)

    def bounce() -> None:
        xrootd.kill()
        restart.start()

    try:
        fired, err = _kill_at_progress(proc, fraction=0.3, on_kill=bounce, limit=180)
        proc.wait(60)
    finally:
        if restart.is_alive():
            restart.join(30)  # the fixture kills the restarted server afterwards
    assert fired
    assert proc.returncode == 0, err[-2000:]
    rows = _files_csv((xrootd.base / "files.csv").read_text(encoding="utf-8"))
    assert {r["status"] for r in rows.values()} == {"ok"}


@pytest.mark.xrootd
def test_xrootd_count_with_timeout(xrootd: _Xrootd) -> None:
    from lumiaudit.offline import count_file

    url = xrootd.urls()[0]
    rec = count_file(url, timeout=5.0)
    assert rec.status == "ok", rec.error


# ------------------------------------------------------------------ Dask worker killed


@pytest.mark.slow
def test_dask_worker_killed_mid_count(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    prod = _production(tmp_path / "prod", 80, 3000)
    reference = count_events(prod, mode="deep")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        pids = client.run(os.getpid)
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["r"] = count_events(prod, mode="deep", client=client)
            except Exception as exc:  # reported below
                result["e"] = exc

        thread = threading.Thread(target=work)
        thread.start()
        # kill one worker once the cluster is busy
        deadline = time.monotonic() + 30
        while not client.processing() or not any(client.processing().values()):
            assert time.monotonic() < deadline, "the cluster never got work"
            time.sleep(0.05)
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        thread.join(180)
        assert not thread.is_alive(), "count_events hung after a worker died"
    assert "e" not in result, repr(result.get("e"))
    got = result["r"]
    pd.testing.assert_frame_equal(got.runs, reference.runs)
    pd.testing.assert_frame_equal(got.contributions, reference.contributions)
    cols = ["path", "status", "n_entries", "n_meta", "n_full", "error"]
    pd.testing.assert_frame_equal(got.files[cols], reference.files[cols])


# ------------------------------------------------------------------ two nightly runs at once


def _nightly_config(example: dict[str, Path], tmp_path: Path) -> Path:
    reports = tmp_path / "reports"
    reports.mkdir()
    config = tmp_path / "nightly.toml"
    config.write_text(
        "[nightly]\n"
        f'online = "{example["elog"]}"\n'
        f'offline = "{example["prod"]}"\n'
        f'reports = "{reports}"\n'
        f'cache = "{tmp_path / "counts.sqlite"}"\n'
        "html = false\n",
        encoding="utf-8",
    )
    return config


def test_nightly_refuses_while_another_holds_the_lock(
    example: dict[str, Path], tmp_path: Path
) -> None:
    config = _nightly_config(example, tmp_path)
    lock = tmp_path / "reports" / ".nightly.lock"
    with lock.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write("pid 4242 since 2026-01-01T00:00:00Z\n")
        handle.flush()
        start = time.monotonic()
        result = CliRunner().invoke(cli, ["nightly", "--config", str(config), "--no-progress"])
        elapsed = time.monotonic() - start
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    assert result.exit_code == 2, result.output
    line = [x for x in result.output.splitlines() if x.strip()]
    assert len(line) == 1, result.output
    assert "another nightly run holds the lock" in line[0]
    assert "pid 4242" in line[0]
    assert elapsed < 10
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [".nightly.lock"]


def _lock_is_free(lock: Path) -> bool:
    with lock.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return True


@pytest.mark.slow
def test_two_nightly_runs_at_once(example: dict[str, Path], tmp_path: Path) -> None:
    """Two real nightly processes started together: one runs, the other says why it stops.

    A third one with --wait waits. The runner is then killed with -9: the kernel releases
    its lock (flock), so the next night is not blocked by a stale lock file.
    """
    config = _nightly_config(example, tmp_path)
    cmd = [*cli_argv(), "nightly", "--config", str(config), "--no-progress"]
    procs = [
        subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    lock = tmp_path / "reports" / ".nightly.lock"
    try:
        deadline = time.monotonic() + 60
        while all(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "neither run finished or failed in 60 s"
            time.sleep(0.05)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        _, err = loser.communicate(timeout=10)
        assert loser.returncode == 2, err
        lines = [x for x in err.decode().splitlines() if x.strip()]
        assert len(lines) == 1, err
        assert "another nightly run holds the lock" in lines[0]
        # the holder writes its pid just after taking the lock: a loser that reads the lock
        # file in between names an "unknown process" (seen once in ~10 runs)
        assert f"pid {winner.pid}" in lines[0] or "unknown process" in lines[0], lines[0]
        assert winner.poll() is None, "the winner should still be running its report"
        waiting = subprocess.Popen(
            [*cmd, "--wait"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(3)
        assert waiting.poll() is None, "the --wait run did not wait"
        assert f"pid {winner.pid}" in lock.read_text(encoding="utf-8")
        waiting.kill()
        waiting.wait(10)
        winner.kill()
        winner.communicate(timeout=30)
        assert _lock_is_free(lock), "a killed nightly run left its lock held"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)


# ---------------------------------------------------------------- kill -9 while an audit is written


@pytest.mark.slow
def test_kill_9_while_the_audit_is_written(example: dict[str, Path], tmp_path: Path) -> None:
    """The previous audit stays whole when a rewrite is killed half-way; a rerun works."""
    out = tmp_path / "audit"
    first = CliRunner().invoke(cli, [*_audit_args(example, out), "--no-plots"])
    assert first.exit_code == 0, first.output
    before = _digest(out)
    proc = subprocess.Popen(
        [*cli_argv(), *_audit_args(example, out)],  # with plots: the write takes seconds
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    killed_in: Path | None = None
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        partial = [p for p in tmp_path.iterdir() if p.name.startswith(".audit.tmp")]
        if partial and (partial[0] / "summary.json").exists():
            proc.kill()
            killed_in = partial[0]
            break
        time.sleep(0.01)
    proc.wait(30)
    assert killed_in is not None, "the audit was not caught while writing"
    assert proc.returncode == -signal.SIGKILL
    assert _digest(out) == before, "the previous audit was changed by a killed rewrite"
    rerun = CliRunner().invoke(cli, [*_audit_args(example, out), "--no-plots"])
    assert rerun.exit_code == 0, rerun.output
    assert (out / "summary.json").is_file()
    assert _digest(out).keys() == before.keys()


@pytest.mark.slow
def test_kill_9_of_a_parallel_count_leaves_no_workers(many_files: Path, tmp_path: Path) -> None:
    """`count --jobs 2` killed with -9: its worker processes go away too (no orphans)."""
    psutil = pytest.importorskip("psutil")
    args = ["count", str(many_files), "--mode", "deep", "--jobs", "2", "--progress"]
    proc = subprocess.Popen(
        [*cli_argv(), *args, "-o", str(tmp_path / "files.csv")],
        env=SLOW_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    children: list[Any] = []

    def kill() -> None:
        children.extend(psutil.Process(proc.pid).children(recursive=True))
        proc.kill()

    fired, err = _kill_at_progress(proc, fraction=0.3, on_kill=kill)
    proc.wait(30)
    assert fired, f"the count ended before it could be killed: {err[-300:]!r}"
    assert children, "no worker processes seen"
    _, alive = psutil.wait_procs(children, timeout=8)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for leftover in alive:  # clean up before failing
        with contextlib.suppress(psutil.Error):
            leftover.kill()
    assert not alive, f"{len(alive)} worker processes outlived their killed parent"


@pytest.mark.slow
def test_nightly_killed_mid_run_then_next_night(example: dict[str, Path], tmp_path: Path) -> None:
    """kill -9 of a nightly run: `latest` and last night's report stay; the next night works."""
    config = _nightly_config(example, tmp_path)
    reports = tmp_path / "reports"
    cmd = [*cli_argv(), "nightly", "--config", str(config), "--no-progress"]

    def night() -> None:
        proc = subprocess.run(
            cmd, env=ENV, capture_output=True, text=True, timeout=300, check=False
        )
        assert proc.returncode in (0, 1), proc.stderr[-2000:]

    night()
    first = (reports / "latest").resolve()
    before = _digest(first)
    seen = set(reports.iterdir())
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        new = [p for p in reports.iterdir() if p not in seen and not p.name.startswith(".night")]
        if new:  # the second night has started writing its report
            time.sleep(0.2)
            proc.kill()
            break
        time.sleep(0.01)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the second night was not caught running"
    assert (reports / "latest").resolve() == first
    assert _digest(first) == before
    assert _lock_is_free(reports / ".nightly.lock")
    night()
    third = (reports / "latest").resolve()
    assert third != first
    record = json.loads((third / "nightly.json").read_text(encoding="utf-8"))
    assert record["status"] == "ok"
    assert record["previous"] == first.name  # compared with the last complete night


@pytest.mark.parametrize("command", ["count", "online"])
def test_table_output_on_a_full_disk(
    example: dict[str, Path], tmp_path: Path, command: str
) -> None:
    """`count -o` / `online -o` on a 4 KiB tmpfs: one line, exit 2, no partial file."""
    with _tmpfs(tmp_path / "mnt", "size=4k,mode=1777") as mnt:
        out = mnt / "table.csv"
        if command == "count":
            source = example["prod"]  # 137 files: a ~30 kB table
        else:
            from tests.support.faults import write_big_elog

            source = write_big_elog(tmp_path / "book" / "191105a.log", 2000)  # ~150 kB
        result = CliRunner().invoke(cli, [command, str(source), "-o", str(out)])
        assert result.exit_code == 2, result.output
        line = _one_line_error(result)
        assert "No space left" in line
        assert str(out) in line or str(mnt) in line
        assert list(mnt.iterdir()) == [], "a partial table was left on the full disk"


def test_demo_out_on_a_read_only_disk(tmp_path: Path) -> None:
    need((REPO / "data" / "example").is_dir(), "data/example")
    with _tmpfs(tmp_path / "mnt", "ro,size=64k") as mnt:
        result = CliRunner().invoke(cli, ["demo", "--out", str(mnt / "demo")])
        assert result.exit_code == 2, result.output
        line = _one_line_error(result)
        assert "Read-only file system" in line
        assert list(mnt.iterdir()) == []
