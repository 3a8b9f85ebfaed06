"""How long ``lumiaudit count`` takes against a stalled XRootD server (docs/reliability.md).

Starts a real ``xrootd`` on 127.0.0.1 serving N small basf2-like files, stops it with
SIGSTOP (it accepts TCP connections in the kernel's backlog, then never answers), and times
``lumiaudit count URL... -o files.csv`` for each option set. No ``XRD_*`` variable is set.

    python benchmarks/stalled_xrootd.py --files 1 16 60 --options "" "--timeout 3 --retries 0"
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(n_files: int, options: str) -> tuple[float, dict[str, int], str]:
    from lumiaudit.example import write_basf2_file

    binary = shutil.which("xrootd")
    if binary is None:
        msg = "needs the xrootd binary (Debian xrootd-server)"
        raise SystemExit(msg)
    base = Path(tempfile.mkdtemp(prefix="lumiaudit-stall-"))
    data, admin = base / "data", base / "admin"
    data.mkdir()
    admin.mkdir()
    for i in range(n_files):
        write_basf2_file(
            data / f"mdst.physics.0012.00101.HLT1.f{i:05d}.root", experiment=12, run=101, n_events=9
        )
    for path in [base, data, *data.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    admin.chmod(0o777)
    port = _free_port()
    (base / "x.cfg").write_text(
        f"xrd.port {port}\noss.localroot {data}\nall.export /\n"
        f"all.adminpath {admin}\nall.pidpath {admin}\n"
    )
    cmd = [binary, "-c", str(base / "x.cfg"), "-l", str(admin / "log"), "-n", "stall"]
    if os.geteuid() == 0:
        cmd[1:1] = ["-R", "nobody"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(150):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        urls = [f"root://127.0.0.1:{port}//{p.name}" for p in sorted(data.iterdir())]
        os.kill(server.pid, signal.SIGSTOP)
        env = {k: v for k, v in os.environ.items() if not k.startswith("XRD_")}
        env["PYTHONPATH"] = str(REPO)
        out = base / "files.csv"
        argv = [sys.executable, "-c", "from lumiaudit.cli import main; main()", "count"]
        start = time.monotonic()
        proc = subprocess.run(
            [*argv, *urls, *shlex.split(options), "--no-progress", "-o", str(out)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - start
        statuses: dict[str, int] = {}
        error = ""
        if out.exists():
            with out.open() as fh:
                for row in csv.DictReader(fh):
                    statuses[row["status"]] = statuses.get(row["status"], 0) + 1
                    error = row["error"]
        if proc.returncode != 0:
            error = f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
        return seconds, statuses, error
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.terminate()
        server.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[1, 16, 60])
    parser.add_argument("--options", nargs="+", default=["", "--timeout 3 --retries 0"])
    args = parser.parse_args()
    print("files | options | seconds | statuses | last error", flush=True)
    for options in args.options:
        for n in args.files:
            seconds, statuses, error = measure(n, options)
            print(
                f"{n} | {options or '(default)'} | {seconds:.1f} | {statuses} | {error}", flush=True
            )


if __name__ == "__main__":
    main()
