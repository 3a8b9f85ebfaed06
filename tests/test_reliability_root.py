"""Reliability: hostile ROOT inputs never crash, hang or give a silent zero (issue 8).

The corpus is made by :func:`tests.support.faults.make_root_corpus` from valid uproot-written
basf2-like files, plus truncated and bit-flipped copies of the ROOT-written files vendored in
``tests/data/root-compat``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumiaudit.offline import count_events, count_file
from lumiaudit.schema import FileStatus
from tests.support.faults import (
    Fault,
    can_bypass_permissions,
    drop_dac_capabilities,
    flip_bits,
    make_fifo,
    make_root_corpus,
    root_regions,
    truncate_copy,
)

pytestmark = pytest.mark.reliability

REPO = Path(__file__).parent.parent
STATUSES = {s.value for s in FileStatus}
#: statuses whose n_entries must be <NA>: the file could not be counted
UNCOUNTED = {s.value for s in FileStatus if not s.readable} - {"duplicate"}
#: cases a single in-process test cannot handle (see their own tests below)
OWN_TESTS = {"fifo", "unreadable", "metadata_mismatch"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Fault]:
    return make_root_corpus(tmp_path_factory.mktemp("corpus"), n_truncations=40, n_flips=6)


def _violations(fault: Fault, status: str, error: str, n_entries: int | None) -> list[str]:
    """What is wrong with one counting result (empty list: it honours the contract)."""
    where = f"{fault.kind} ({fault.detail}) {fault.path.name}: status {status!r}"
    out = []
    if status not in STATUSES:
        out.append(f"{where} is not a FileStatus")
    if fault.expect and status not in fault.expect:
        out.append(f"{where}, expected one of {sorted(fault.expect)}")
    if status not in ("ok", "empty") and not error:
        out.append(f"{where} without an error message")
    if "\n" in error:
        out.append(f"{where}: error spans several lines")
    if status in UNCOUNTED and n_entries is not None:
        out.append(f"{where} but n_entries={n_entries} (must be missing)")
    if status == "empty" and fault.n_entries not in (0, None):
        out.append(f"{where}: a silent zero, the file holds {fault.n_entries}")
    if status == "ok" and n_entries != fault.n_entries:
        out.append(f"{where} with n_entries={n_entries}, the file holds {fault.n_entries}")
    return out


KINDS = [
    "truncated",
    "bitflip:header",
    "bitflip:directory",
    "bitflip:keys",
    "bitflip:objects",
    "bitflip:streamers",
    "bitflip:baskets",
    "valid",
    "valid_empty",
    "zero_bytes",
    "wrong_magic",
    "text_file",
    "html_page",
    "no_tree",
    "hole",
    "directory",
    "symlink_loop",
]


@pytest.mark.parametrize("mode", ["auto", "fast", "deep"])
@pytest.mark.parametrize("kind", KINDS)
def test_count_file_gives_every_hostile_file_a_status(
    corpus: list[Fault], kind: str, mode: str
) -> None:
    faults = [f for f in corpus if f.kind == kind]
    assert faults, f"corpus has no {kind}"
    problems: list[str] = []
    for fault in faults:
        rec = count_file(str(fault.path), mode=mode)  # must not raise
        problems += _violations(fault, rec.status, rec.error, rec.n_entries)
    assert not problems, "\n".join(problems)


def test_corpus_covers_the_issue(corpus: list[Fault]) -> None:
    kinds = {f.kind for f in corpus}
    assert set(KINDS) | OWN_TESTS <= kinds
    assert sum(f.kind == "truncated" for f in corpus) >= 40
    cuts = [int(f.detail.split()[1]) for f in corpus if f.kind == "truncated"]
    assert min(cuts) == 1  # inside the magic
    assert max(cuts) > 0.9 * corpus[0].path.stat().st_size  # near the end


@pytest.mark.parametrize("mode", ["auto", "deep"])
def test_metadata_mismatch_of_uproot_written_file_is_seen(corpus: list[Fault], mode: str) -> None:
    fault = next(f for f in corpus if f.kind == "metadata_mismatch")
    rec = count_file(str(fault.path), mode=mode)
    assert (rec.status, rec.n_entries, rec.n_meta) == ("metadata_mismatch", 7, 9)


def _compat_files() -> list[tuple[Path, str, int]]:
    folder = REPO / "tests" / "data" / "root-compat"
    with (folder / "entries.csv").open(encoding="utf-8") as fh:
        return [(folder / r["file"], r["tree"], int(r["entries"])) for r in csv.DictReader(fh)]


@pytest.mark.parametrize(("path", "tree", "entries"), _compat_files(), ids=lambda v: str(v)[-30:])
def test_root_written_files_truncated_and_flipped(
    tmp_path: Path, path: Path, tree: str, entries: int
) -> None:
    """Files written by ROOT 5.23-6.22 (all compressions), cut and flipped by record."""
    rec = count_file(str(path), tree=tree, mode="deep")
    assert (rec.status, rec.n_entries) == ("ok" if entries else "empty", entries)
    size = path.stat().st_size
    regions = root_regions(path, tree=tree)
    cuts = sorted({1, 4, 50, 99, 100, size // 3, size // 2, size - 1})
    for r in regions["keys"] + regions["streamers"] + regions["baskets"][:3]:
        cuts += [r.start, r.start + len(r) // 2]
    problems: list[str] = []
    for i, cut in enumerate(sorted(set(cuts))):
        if not 0 < cut < size:
            continue
        bad = truncate_copy(path, tmp_path / f"cut{i}.root", cut)
        fault = Fault(bad, "truncated", f"first {cut} of {size}", path, entries)
        got = count_file(str(bad), tree=tree, mode="deep")
        problems += _violations(fault, got.status, got.error, got.n_entries)
        if got.status != "truncated" and cut >= 4:
            problems.append(f"cut at {cut}: {got.status} ({got.error})")
    for name in ("header", "keys", "objects", "streamers", "baskets"):
        for j, r in enumerate(regions[name][:4]):
            bad = flip_bits(path, tmp_path / f"flip-{name}{j}.root", [r.start + len(r) // 2])
            fault = Fault(bad, f"bitflip:{name}", f"byte {r.start + len(r) // 2}", path, entries)
            got = count_file(str(bad), tree=tree, mode="deep")
            problems += _violations(fault, got.status, got.error, got.n_entries)
    assert not problems, "\n".join(problems)


_COUNT_JSON = """
import json, sys
from lumiaudit.offline import count_file
rec = count_file(sys.argv[1], mode=sys.argv[2])
print(json.dumps({"status": rec.status, "error": rec.error, "n_entries": rec.n_entries}))
"""


@pytest.mark.parametrize("mode", ["auto", "fast"])
def test_unreadable_file_is_io_error(corpus: list[Fault], mode: str) -> None:
    """chmod 000: root ignores it, so the counter runs without CAP_DAC_OVERRIDE."""
    fault = next(f for f in corpus if f.kind == "unreadable")
    preexec = drop_dac_capabilities if can_bypass_permissions() else None
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _COUNT_JSON, str(fault.path), mode],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            preexec_fn=preexec,  # single-threaded test, Linux only
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:  # prctl refused (no CAP_SETPCAP)
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE to make a file unreadable as root: {exc}")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert _violations(fault, got["status"], got["error"], got["n_entries"]) == []
    assert "Permission" in got["error"]


def _unblock(fifo: Path) -> None:
    """Open the FIFO for writing once, so that a reader blocked in open() gets EOF."""
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.close(fd)


def test_count_file_does_not_hang_on_a_fifo(tmp_path: Path) -> None:
    fifo = make_fifo(tmp_path / "mdst.physics.0012.00100.HLT1.f00000.root")
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(count_file(str(fifo))), daemon=True)
    worker.start()
    worker.join(5)
    hung = worker.is_alive()
    if hung:
        _unblock(fifo)
        worker.join(10)
    assert not hung, "count_file blocked on a FIFO for 5 s"
    rec = result[0]
    assert getattr(rec, "status", None) in {"io_error", "not_root"}
    assert getattr(rec, "n_entries", 0) is None


_COUNT_EVENTS = """
import sys
from lumiaudit.offline import count_events
r = count_events(sys.argv[1:], timeout=2)
print(r.files[["path", "status", "n_entries"]].to_json(orient="records"))
"""


def test_count_events_timeout_stops_a_fifo(tmp_path: Path, b2_file: Callable[..., Path]) -> None:
    good = b2_file("mdst.physics.0012.00101.HLT1.f00000.root")
    fifo = make_fifo(tmp_path / "mdst.physics.0012.00101.HLT2.f00000.root")
    proc = subprocess.Popen(
        [sys.executable, "-c", _COUNT_EVENTS, str(good), str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("count_events(timeout=2) still blocked on a FIFO after 15 s")
    assert proc.returncode == 0, err
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    assert rows[good.name]["status"] == "ok"
    assert rows[fifo.name]["status"] in {"io_error", "not_root"}
    assert rows[fifo.name]["n_entries"] is None


@pytest.fixture(scope="module")
def counted_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Fault], Path]:
    """A corpus directory, FIFO and symlink loop included (``x.root/`` is just a directory)."""
    folder = tmp_path_factory.mktemp("corpus_dir")
    faults = make_root_corpus(folder, n_truncations=30, n_flips=4)
    return [f for f in faults if f.kind != "directory"], folder


def _check_files_table(faults: list[Fault], files: pd.DataFrame) -> list[str]:
    rows = {Path(p).name: r for p, r in zip(files["path"], files.to_dict("records"), strict=True)}
    problems = []
    for fault in faults:
        row = rows.get(fault.path.name)
        if row is None:
            problems.append(f"{fault.kind} {fault.path.name} missing from the files table")
            continue
        status = str(row["status"])
        if status == "duplicate":  # bit flips that change nothing read: same stem twice
            continue
        n = None if pd.isna(row["n_entries"]) else int(row["n_entries"])
        error = "" if pd.isna(row["error"]) else str(row["error"])
        if fault.kind != "unreadable":  # root reads it: see test_unreadable_file_is_io_error
            problems += _violations(fault, status, error, n)
    return problems


def test_count_events_lists_every_file_with_a_status(counted_dir: tuple[list[Fault], Path]) -> None:
    faults, folder = counted_dir
    result = count_events(folder, mode="auto", timeout=10)
    problems = _check_files_table(faults, result.files)
    assert not problems, "\n".join(problems)
    # unreadable files contribute nothing: no run gets events from a truncated copy
    bad = result.files[~result.files["status"].isin(["ok", "empty", "metadata_mismatch"])]
    assert not set(bad["path"]) & set(result.contributions["path"])


@pytest.mark.slow
def test_count_events_jobs_2_identical(counted_dir: tuple[list[Fault], Path]) -> None:
    _, folder = counted_dir
    one = count_events(folder, mode="deep", jobs=1)
    two = count_events(folder, mode="deep", jobs=2)
    cols = ["path", "status", "n_entries", "n_full", "error"]
    pd.testing.assert_frame_equal(one.files[cols], two.files[cols])
    pd.testing.assert_frame_equal(one.runs, two.runs)


def test_symlink_loop_in_a_directory_gets_a_status(tmp_path: Path) -> None:
    faults = make_root_corpus(tmp_path, n_truncations=1, n_flips=0)
    for fault in faults:
        if fault.kind == "fifo":
            fault.path.unlink()
    loop = next(f for f in faults if f.kind == "symlink_loop")
    result = count_events(tmp_path)
    row = result.files[result.files["path"].str.endswith(loop.path.name)]
    assert list(row["status"]) == ["io_error"]


def test_count_events_on_a_symlink_loop_alone(tmp_path: Path) -> None:
    from lumiaudit.errors import LumiauditError
    from tests.support.faults import make_symlink_loop

    loop = make_symlink_loop(tmp_path / "mdst.physics.0012.00100.HLT1.f00000.root")
    try:
        result = count_events([loop])
    except LumiauditError:
        return  # a clear error naming the path is fine too
    assert list(result.files["status"]) == ["io_error"]


def test_cli_count_on_the_corpus(counted_dir: tuple[list[Fault], Path], tmp_path: Path) -> None:
    """`lumiaudit count` as a real process: exit 0, every file in the CSV with its status."""
    from tests.support.faults import cli_argv

    faults, folder = counted_dir
    out = tmp_path / "files.csv"
    proc = subprocess.run(
        [*cli_argv(), "count", str(folder), "--mode", "deep", "--timeout", "10", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    files = pd.read_csv(out, dtype={"error": "string"}, keep_default_na=False)
    files["n_entries"] = pd.to_numeric(files["n_entries"]).astype("Int64")
    problems = _check_files_table(faults, files)
    assert not problems, "\n".join(problems)
    assert len(files) == len(faults)


class _StallingServer:
    """An HTTP server on 127.0.0.1 that hangs: silent, or a few bytes of a range then nothing."""

    def __init__(self, *, trickle: bool) -> None:
        self.trickle = trickle
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.trickle:
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while request := conn.recv(65536):
                if request.startswith(b"HEAD"):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                    continue
                m = re.search(rb"[Rr]ange: bytes=(\d+)-(\d+)", request)
                a, b = (int(m.group(1)), int(m.group(2))) if m else (0, 99_999)
                conn.sendall(
                    b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/100000\r\n"
                    b"Content-Length: %d\r\n\r\nroot" % (a, b, b - a + 1)
                )
                return  # and never the rest

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self.thread.join(5)
        for conn in self.conns:
            conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickle"])
def test_timeout_stops_a_stalled_remote_read(b2_file: Callable[..., Path], trickle: bool) -> None:
    """A server that stops answering: the file is io_error after about the timeout."""
    good = b2_file("mdst.physics.0012.00101.HLT1.f00000.root")
    server = _StallingServer(trickle=trickle)
    url = f"http://127.0.0.1:{server.port}/mdst.physics.0012.00101.HLT2.f00000.root"
    try:
        start = time.monotonic()
        result = count_events([str(good), url], timeout=2)
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert elapsed < 30, f"{elapsed:.0f} s with timeout=2"
    rows = dict(zip(result.files["path"], result.files.to_dict("records"), strict=True))
    assert rows[str(good)]["status"] == "ok"
    stalled = rows[url]
    assert stalled["status"] == "io_error"
    assert pd.isna(stalled["n_entries"])
    assert "timed out" in str(stalled["error"]).lower()


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int]:
    from lumiaudit.example import write_basf2_file

    path = write_basf2_file(
        tmp_path_factory.mktemp("valid") / "mdst.physics.0012.00100.HLT1.f00000.root",
        experiment=12,
        run=100,
        n_events=120,
    )
    return path.read_bytes(), 120


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_byte_mutations(valid_bytes: tuple[bytes, int], data: st.DataObject) -> None:
    """Hypothesis overwrites 1-8 random bytes (and may cut the tail): contract still holds."""
    raw, n_events = valid_bytes
    mutated = bytearray(raw)
    edits = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), min_size=1, max_size=8
        )
    )
    for offset, value in edits:
        mutated[offset] = value
    cut = data.draw(st.one_of(st.none(), st.integers(1, len(raw) - 1)))
    if cut is not None:
        mutated = mutated[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mdst.physics.0012.00100.HLT1.f00000.root"
        path.write_bytes(bytes(mutated))
        fault = Fault(path, "mutation", f"{edits} cut={cut}", None, n_events)
        problems: list[str] = []
        for mode in ("auto", "deep"):
            rec = count_file(str(path), mode=mode)  # must not raise
            problems += _violations(fault, rec.status, rec.error, rec.n_entries)
            if cut is not None and cut >= 24 and mutated[:24] == raw[:24]:
                # the header still names the full size: a cut file is always truncated
                assert rec.status == "truncated", (mode, cut, rec.status, rec.error)
    assert not problems, "\n".join(problems)


def test_directory_symlink_cycles(b2_file: Callable[..., Path], tmp_path: Path) -> None:
    """Links to `..`, `.`, an absolute cycle and a GoodRuns view: finite walk, no double count."""
    names = [f"r00101/mdst.physics.0012.00101.HLT{u}.f00000.root" for u in (1, 2)]
    for name in names:
        b2_file(name)
    run_dir = tmp_path / "r00101"
    (run_dir / "up").symlink_to("..")
    (run_dir / "self").symlink_to(".")
    (tmp_path / "abs cycle").symlink_to(tmp_path)
    (tmp_path / "GoodRuns").mkdir()
    (tmp_path / "GoodRuns" / "r00101").symlink_to("../r00101")
    start = time.monotonic()
    result = count_events(tmp_path, timeout=10)
    assert time.monotonic() - start < 30
    assert sorted(Path(p).name for p in result.files["path"]) == sorted(Path(n).name for n in names)
    runs = result.runs.set_index("run")
    assert (runs.loc[101, "n_offline"], runs.loc[101, "n_files"]) == (20, 2)
