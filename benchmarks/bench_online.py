"""Benchmark the online readers on a generated 100,000-entry ELOG logbook.

Writes day files in elogd's layout (LF headers, CRLF text) into a temporary directory, then
measures, in the same run:

- baseline: read the same bytes, decode them and iterate over every line, plus a pass of
  Python's ``csv`` reader over the same text (the least any line-based reader must do);
- ``read_online`` on the directory (detection, parsing, interpretation, resolution, tables).

Reports wall time, entries/s and peak traced memory (``tracemalloc``, measured in a second pass
so the timings are not slowed by tracing), and the ratios to the baseline.

Run: ``python benchmarks/bench_online.py [--entries 100000] [--per-file 1000]``
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lumiaudit.online import read_online

JST = timezone(timedelta(hours=9))


def write_logbook(directory: Path, n_entries: int, per_file: int) -> int:
    """Write ``n_entries`` Run summaries into day files; return the bytes written."""
    start = datetime(2019, 1, 1, 8, 0, tzinfo=JST)
    total = 0
    for first in range(0, n_entries, per_file):
        day = start + timedelta(days=first // per_file)
        parts = []
        for mid in range(first + 1, min(first + per_file, n_entries) + 1):
            date = day + timedelta(seconds=mid % 86000)
            run = mid
            count = 1000 + (mid * 7919) % 90000
            typed = f"{count:,}" if mid % 3 == 0 else str(count)
            head = (
                f"$@MID@$: {mid}\nDate: {date:%a, %d %b %Y %H:%M:%S %z}\nAuthor: Müller, Jörg\n"
                f"Subject: physics run {run}\nType: Run summary\nCategory: Physics\n"
                f"Exp number: {10 + mid // 50000}\nRun number: {run}\nNum events: {typed}\n"
                "Run time: 01:22:34\nSolenoid: ON\nSubdetectors: PXD | SVD | CDC | TOP\n"
                f"DQM Plots: https://dqm.example.org/r{run:05d}/\nAttachment: \nEncoding: plain\n"
                + "=" * 40
                + "\n"
            )
            text = (
                f"Run summary for run {run}\r\nStart : {date:%Y-%m-%d} 09:00:00 JST\r\n"
                f"Stop  : {date:%Y-%m-%d} 10:22:34 JST\r\nHER/LER current : 519 / 583 mA\r\n"
                f"Integrated Luminosity : {count / 0.35:.3f}\n"
            )
            parts.append(head + text)
        data = "".join(parts).encode("utf-8")
        (directory / f"{day:%y%m%d}a.log").write_bytes(data)
        total += len(data)
    return total


def baseline(directory: Path) -> int:
    """Read, decode and iterate every line; run the csv reader over the same text."""
    lines = 0
    for path in sorted(directory.glob("*.log")):
        text = path.read_bytes().decode("utf-8")
        for _line in text.split("\n"):
            lines += 1
        for _row in csv.reader(io.StringIO(text, newline="")):
            pass
    return lines


def timed(func: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall time and CPU time (the CPU time is less affected by other jobs on the machine)."""
    w0, c0 = time.perf_counter(), time.process_time()
    value = func()
    return time.perf_counter() - w0, time.process_time() - c0, value


def peak_memory(func: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--per-file", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        size = write_logbook(directory, args.entries, args.per_file)
        print(
            f"logbook: {args.entries} entries, {size / 1e6:.1f} MB in "
            f"{len(list(directory.glob('*.log')))} day files"
        )
        t_base, c_base, n_lines = timed(lambda: baseline(directory))
        t_read, c_read, result = timed(lambda: read_online(directory))
        assert len(result.table) == args.entries, result.summary()
        m_base = peak_memory(lambda: baseline(directory))
        m_read = peak_memory(lambda: read_online(directory))
    print(
        f"baseline (decode + line split + csv.reader, {n_lines} lines): {t_base:.2f} s wall, "
        f"{c_base:.2f} s CPU, peak {m_base / 1e6:.0f} MB"
    )
    print(
        f"read_online: {t_read:.2f} s wall, {c_read:.2f} s CPU, "
        f"{args.entries / c_read:,.0f} entries/CPU-s, "
        f"peak {m_read / 1e6:.0f} MB ({result.summary()})"
    )
    print(
        f"ratio read_online / baseline: wall {t_read / t_base:.1f}x, "
        f"CPU {c_read / c_base:.1f}x, memory {m_read / m_base:.1f}x"
    )


if __name__ == "__main__":
    main()
