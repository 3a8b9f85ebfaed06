"""Benchmark the offline counting engine against plain uproot, in the same run.

Generates (once, into ``--dir``) a Belle II-like production of ``--files`` ROOT files written
with :func:`lumiaudit.example.write_basf2_file` (split ``EventMetaData`` leaves in ``tree``,
``FileMetaData`` in ``persistent``; 40 files per run from 4 HLT units, 100-1,000 events each,
~3 % HLT-discarded events, one grid file spanning two runs per 100 files), then measures:

1. fast mode, ``count_events(..., mode="fast", jobs=2)`` vs sequential
   ``uproot.open(p)["tree"].num_entries`` (target >= 3x; per core, i.e. ``jobs=1``, >= 1x);
2. deep mode, ``count_events(..., mode="deep", jobs=2)`` vs a straightforward per-file read of
   ``persistent`` and ``EventMetaData/m_run`` (target >= 3x);
3. an unchanged rerun with the SQLite cache vs the first run (target >= 20x);
4. with ``--latency-ms`` (20) injected per request by a delaying HTTP server on 127.0.0.1 (Range
   and multi-range support, in its own process): many files in flight vs one at a time
   (target >= 20x);
5. peak memory (RSS of a fresh process) for ``--memory-files`` (100,000) files: records built
   from the real ones under new names, stored in and read back from a cache, and every offline
   table built from them (discovery and reading excluded); plus ``count_events`` on the real
   files, extrapolated linearly (target < 1 GB).

The page cache is warmed before the local measurements, so they compare CPU cost, not disk.
The machine may be shared: every figure is the best of ``--repeat`` runs.

Run: ``python benchmarks/bench_offline.py [--files 2000] [--jobs 2] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lumiaudit.example import HLT_DISCARD, write_basf2_file  # noqa: E402
from lumiaudit.offline import count_events  # noqa: E402
from lumiaudit.offline.count import count_file  # noqa: E402
from lumiaudit.offline.executors import map_files  # noqa: E402

FILES_PER_RUN = 40
UNITS = 4
SEED = 20261129


# -- the generated production ------------------------------------------------------------


def _file_spec(i: int) -> tuple[str, dict[str, Any]]:
    rng = np.random.default_rng(SEED + i)
    n = int(rng.integers(100, 1001))
    flags = np.where(rng.random(n) < 0.03, HLT_DISCARD, 0).astype(np.uint32)
    run = 1000 + i // FILES_PER_RUN
    if i % 100 == 99:  # a grid file: no run in the name, two runs inside
        split = n // 3
        runs = np.concatenate([np.full(split, run), np.full(n - split, run + 1)])
        name = f"e0012/4S/r00000/all/mdst/sub00/mdst_{i:06d}_prod00012345_task10020{i:06d}.root"
        return name, {"experiment": 12, "run": runs, "n_events": n, "error_flags": flags}
    unit = 1 + i % UNITS
    index = (i % FILES_PER_RUN) // UNITS
    name = (
        f"e0012/4S/r{run:05d}/all/mdst/sub00/"
        f"mdst.physics.0012.{run:05d}.HLT{unit}.f{index:05d}.root"
    )
    return name, {"experiment": 12, "run": run, "n_events": n, "error_flags": flags}


def _write_one(args: tuple[Path, int]) -> str:
    top, i = args
    name, kw = _file_spec(i)
    return str(write_basf2_file(top / name, **kw))


def ensure_files(directory: Path, n_files: int) -> list[str]:
    """Write the production once; reuse it when the manifest says it is complete."""
    top = directory / f"prod-{n_files}"
    manifest = top / "manifest.json"
    if manifest.is_file():
        paths = json.loads(manifest.read_text())
        if len(paths) == n_files and all(Path(p).is_file() for p in paths):
            return list(paths)
    shutil.rmtree(top, ignore_errors=True)
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        paths = pool.map(_write_one, [(top, i) for i in range(n_files)], chunksize=20)
    manifest.write_text(json.dumps(paths))
    size = sum(Path(p).stat().st_size for p in paths)
    print(
        f"wrote {n_files} files ({size / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s "
        f"into {top}"
    )
    return list(paths)


def warm(paths: list[str]) -> None:
    for p in paths:
        Path(p).read_bytes()


# -- timing helpers ----------------------------------------------------------------------


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def report(label: str, base: float, ours: float, target: float, n: int) -> dict[str, Any]:
    ratio = base / ours
    verdict = "ok" if ratio >= target else "BELOW TARGET"
    print(
        f"  {label:<44} baseline {base:7.2f} s ({n / base:7.0f} files/s)   "
        f"ours {ours:7.2f} s ({n / ours:7.0f} files/s)   x{ratio:6.1f}  "
        f"(target >= {target:g}: {verdict})"
    )
    return {"label": label, "baseline_s": base, "ours_s": ours, "ratio": ratio, "target": target}


# -- baselines ---------------------------------------------------------------------------


def uproot_num_entries(paths: list[str]) -> int:
    import uproot

    total = 0
    for p in paths:
        with uproot.open(p) as f:
            total += f["tree"].num_entries
    return total


def uproot_straightforward_deep(paths: list[str]) -> int:
    import uproot

    total = 0
    for p in paths:
        with uproot.open(p) as f:
            f["persistent"].arrays()
            total += len(f["tree"]["EventMetaData/m_run"].array())
    return total


# -- a delaying HTTP server --------------------------------------------------------------

_RANGE = re.compile(r"(\d*)-(\d*)")


class DelayingHandler(BaseHTTPRequestHandler):
    """Serves files under ``root`` with Range / multi-range support, after a delay."""

    root: Path = Path()
    delay: float = 0.0
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _file(self) -> Path | None:
        path = (self.root / self.path.split("?")[0].lstrip("/")).resolve()
        if self.root not in path.parents or not path.is_file():
            self.send_error(404)
            return None
        return path

    def do_HEAD(self) -> None:
        time.sleep(self.delay)
        path = self._file()
        if path is None:
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:
        time.sleep(self.delay)
        path = self._file()
        if path is None:
            return
        data = path.read_bytes()
        size = len(data)
        spec = self.headers.get("Range", "")
        if not spec.startswith("bytes="):
            self._send(200, data, "application/octet-stream")
            return
        ranges = []
        for part in spec[len("bytes=") :].split(","):
            m = _RANGE.fullmatch(part.strip())
            if m is None:
                self.send_error(416)
                return
            a, b = m.groups()
            if a == "":
                first, last = max(0, size - int(b)), size - 1
            else:
                first, last = int(a), min(size - 1, int(b) if b else size - 1)
            ranges.append((first, last))
        if len(ranges) == 1:
            first, last = ranges[0]
            self._send(
                206,
                data[first : last + 1],
                "application/octet-stream",
                {"Content-Range": f"bytes {first}-{last}/{size}"},
            )
            return
        boundary = "lumiaudit-bench-boundary"
        body = b""
        for first, last in ranges:
            body += (
                (
                    f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
                ).encode()
                + data[first : last + 1]
                + b"\r\n"
            )
        body += f"--{boundary}--\r\n".encode()
        self._send(206, body, f"multipart/byteranges; boundary={boundary}")

    def _send(
        self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def _serve(root: str, delay: float, port_queue: Any) -> None:
    handler = type("H", (DelayingHandler,), {"root": Path(root).resolve(), "delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    port_queue.put(server.server_address[1])
    server.serve_forever()


@contextmanager
def delaying_server(root: Path, delay: float) -> Iterator[str]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(str(root), delay, queue), daemon=True)
    proc.start()
    try:
        port = queue.get(timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.join(10)


# -- an fsspec file system adding latency to every request ------------------------------


def delayed_fs(delay: float) -> type:
    """Register ``delayed://`` = local files with ``delay`` seconds per storage request."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    class DelayedFileSystem(LocalFileSystem):  # type: ignore[misc]
        protocol = ("delayed",)
        requests = 0

        @classmethod
        def _strip_protocol(cls, path: Any) -> Any:
            text = str(path)
            return super()._strip_protocol(text.removeprefix("delayed://"))

        def _wait(self) -> None:
            type(self).requests += 1
            time.sleep(delay)

        def info(self, path: Any, **kwargs: Any) -> Any:
            self._wait()
            return super().info(path, **kwargs)

        def cat_file(self, path: Any, start: Any = None, end: Any = None, **kw: Any) -> Any:
            self._wait()
            return super().cat_file(path, start=start, end=end, **kw)

        def cat_ranges(self, paths: Any, starts: Any, ends: Any, **kw: Any) -> Any:
            self._wait()  # one vector read, like XRootD's readv or an HTTP multi-range GET
            return [
                super(DelayedFileSystem, self).cat_file(p, start=s, end=e)
                for p, s, e in zip(paths, starts, ends, strict=True)
            ]

    fsspec.register_implementation("delayed", DelayedFileSystem, clobber=True)
    return DelayedFileSystem


# -- memory ------------------------------------------------------------------------------

MEMORY_SCRIPT = r"""
import dataclasses, json, pickle, resource, sys, tempfile
from pathlib import Path
sys.path.insert(0, {repo!r})
from lumiaudit.offline.cache import CountCache, FileKey
from lumiaudit.offline.discover import Found, find_duplicates
from lumiaudit.offline.names import join_markers, parse_path
from lumiaudit.offline.runs import contributions_frame, files_frame, find_gaps, runs_frame

templates = pickle.loads(Path({records!r}).read_bytes())
n = {n}
found, records = [], []
for i in range(n):
    t = templates[i % len(templates)]
    run = 10000 + i // 40
    unit, index = 1 + i % 4, (i % 40) // 4
    path = (f"/gpfs/belle2/e0012/4S/r{{run:05d}}/all/mdst/sub00/"
            f"mdst.physics.0012.{{run:05d}}.HLT{{unit}}.f{{index:05d}}.root")
    name = parse_path(path)
    found.append(Found(path, name, join_markers(name.markers)))
    contribution = ((12, run, t.n_entries, t.n_full),)
    records.append(dataclasses.replace(t, path=path, contributions=contribution))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.TemporaryDirectory() as tmp:
    keys = [FileKey(r.path, 1000 + i, 10**18 + i, i, 10**18 + i, 42) for i, r in enumerate(records)]
    with CountCache.open(Path(tmp) / "c.sqlite") as cache:
        cache.store(records, tree="tree", mode="auto", keys=keys)
    with CountCache.open(Path(tmp) / "c.sqlite") as cache:
        back = cache.lookup_many(keys, tree="tree", mode="auto")
    assert all(b is not None for b in back)
    dups = find_duplicates(found, readable=[True] * n)
    files = files_frame(found, back, dups)
    contributions = contributions_frame(found, back, dups, include_skims=False)
    runs = runs_frame(found, back, dups, include_skims=False)
    gaps = find_gaps(found, back, dups, include_skims=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"n": n, "files": len(files), "runs": len(runs), "peak_mb": peak / 1024,
                  "before_tables_mb": before / 1024}}))
"""

COUNT_MEMORY_SCRIPT = r"""
import json, resource, sys
sys.path.insert(0, {repo!r})
from lumiaudit.offline import count_events
from pathlib import Path
result = count_events(json.loads(Path({paths!r}).read_text()), mode="auto", jobs=1)
print(json.dumps({{"files": len(result.files),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_json(code: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measurement process failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000, help="files to generate (>= 2000)")
    parser.add_argument("--jobs", type=int, default=2, help="local workers for 'ours'")
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure; best is kept")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "lumiaudit-bench-offline",
        help="where the generated files are kept between runs",
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--latency-files", type=int, default=200, help="files read over HTTP")
    parser.add_argument("--memory-files", type=int, default=100_000)
    parser.add_argument(
        "--only", default="1,2,3,4,5", help="comma-separated list of measurements to run"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    only = {int(x) for x in args.only.split(",")}

    paths = ensure_files(args.dir, args.files)
    prod = Path(paths[0]).parents[6]
    n = len(paths)
    print(f"{n} files under {prod}; jobs={args.jobs}; {os.cpu_count()} CPUs; best of {args.repeat}")
    warm(paths)
    results: list[dict[str, Any]] = []

    if 1 in only:
        print("1. fast mode (entries only)")
        base, total = best_of(args.repeat, lambda: uproot_num_entries(paths))
        ours, res = best_of(args.repeat, lambda: count_events(prod, mode="fast", jobs=args.jobs))
        assert int(res.files["n_entries"].sum()) == total, "fast mode disagrees with uproot"
        results.append(report(f"count_events fast, jobs={args.jobs}", base, ours, 3, n))
        one, _ = best_of(args.repeat, lambda: count_events(prod, mode="fast", jobs=1))
        results.append(report("count_events fast, jobs=1 (per core)", base, one, 1, n))

    if 2 in only:
        print("2. deep mode (FileMetaData, runs, error flags)")
        base, total = best_of(args.repeat, lambda: uproot_straightforward_deep(paths))
        ours, res = best_of(args.repeat, lambda: count_events(prod, mode="deep", jobs=args.jobs))
        assert int(res.files["n_entries"].sum()) == total, "deep mode disagrees with uproot"
        results.append(report(f"count_events deep, jobs={args.jobs}", base, ours, 3, n))
        one, _ = best_of(args.repeat, lambda: count_events(prod, mode="deep", jobs=1))
        results.append(report("count_events deep, jobs=1 (per core)", base, one, 1, n))

    if 3 in only:
        print("3. unchanged rerun with the cache")
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "counts.sqlite"
            first_s, first = best_of(
                1, lambda: count_events(prod, mode="auto", jobs=args.jobs, cache=db)
            )
            again_s, again = best_of(
                args.repeat, lambda: count_events(prod, mode="auto", jobs=args.jobs, cache=db)
            )
            assert again.stats["read"] == 0, again.stats
            assert again.files.equals(first.files)
        results.append(report("rerun with cache vs first run", first_s, again_s, 20, n))

    if 4 in only:
        delay = args.latency_ms / 1000
        subset = paths[: args.latency_files]
        func = partial(count_file, mode="fast", timeout=60)
        print(f"4a. {args.latency_ms:g} ms per request, fsspec wrapper ({len(subset)} files)")
        fs = delayed_fs(delay)
        urls = [f"delayed://{p}" for p in subset]
        fs.requests = 0
        base, seq = best_of(1, lambda: map_files(func, urls, inflight=1))
        per_file = fs.requests / len(urls)
        ours, par = best_of(args.repeat, lambda: map_files(func, urls, jobs=args.jobs))
        assert [r.n_entries for r in par] == [r.n_entries for r in seq]
        assert all(r.status == "ok" for r in par), {r.status for r in par}
        print(f"  ({per_file:.1f} requests per file)")
        results.append(
            report(f"many in flight (jobs={args.jobs}) vs one at a time", base, ours, 20, len(urls))
        )
        print(f"4b. {args.latency_ms:g} ms per request over HTTP ({len(subset)} files)")
        with delaying_server(prod, delay) as url:
            urls = [f"{url}/{Path(p).relative_to(prod).as_posix()}" for p in subset]
            base, seq = best_of(1, lambda: map_files(func, urls, inflight=1))
            ours, par = best_of(args.repeat, lambda: map_files(func, urls, jobs=args.jobs))
            assert [r.n_entries for r in par] == [r.n_entries for r in seq]
            assert all(r.status == "ok" for r in par), {r.status for r in par}
        results.append(
            report(
                f"HTTP: many in flight (jobs={args.jobs}) vs one at a time",
                base,
                ours,
                20,
                len(urls),
            )
        )

    if 5 in only:
        import pickle

        print(f"5. peak memory for {args.memory_files} files")
        with tempfile.TemporaryDirectory() as tmp:
            records = Path(tmp) / "records.pickle"
            sample = map_files(partial(count_file, mode="auto"), paths[:400], jobs=args.jobs)
            records.write_bytes(pickle.dumps(sample))
            mem = run_json(
                MEMORY_SCRIPT.format(repo=str(REPO), records=str(records), n=args.memory_files)
            )
            print(
                f"  records + cache + tables for {mem['n']} files: peak RSS "
                f"{mem['peak_mb']:.0f} MB (target < 1024 MB: "
                f"{'ok' if mem['peak_mb'] < 1024 else 'ABOVE TARGET'})"
            )
            lists = Path(tmp) / "small.json", Path(tmp) / "large.json"
            lists[0].write_text(json.dumps(paths[: n // 4]))
            lists[1].write_text(json.dumps(paths))
            small = run_json(COUNT_MEMORY_SCRIPT.format(repo=str(REPO), paths=str(lists[0])))
            large = run_json(COUNT_MEMORY_SCRIPT.format(repo=str(REPO), paths=str(lists[1])))
        slope = (large["peak_mb"] - small["peak_mb"]) / (large["files"] - small["files"])
        extrapolated = large["peak_mb"] + slope * (args.memory_files - large["files"])
        print(
            f"  count_events peak RSS: {small['peak_mb']:.0f} MB for {small['files']} files, "
            f"{large['peak_mb']:.0f} MB for {large['files']}; linear extrapolation to "
            f"{args.memory_files}: {extrapolated:.0f} MB"
        )
        results.append(
            {
                "label": "memory",
                **mem,
                "count_events_small": small,
                "count_events_large": large,
                "extrapolated_mb": extrapolated,
            }
        )

    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
