"""Benchmark offline counting against the baselines of issue 14, all measured in the same run.

Files: ROOT-written Belle II mdst-like files of realistic width (``--wide DIR``: files already
written by ``shared/data/wide-sample/make_wide.py``; or ``--root-python PY``: generate
``--files`` of them with that script in the ``root`` wheel's venv). Without either, narrow
uproot-written files are generated and every figure is labelled as such.

Baselines (sequential, one process, warm page cache):

* ``uproot.num_entries`` (reads only ``fEntries``);
* PyROOT ``TFile::Open`` + ``TTree::GetEntries`` (needs ``--root-python``);
* a plain uproot read per file of ``persistent`` ``FileMetaData/m_nEvents`` and ``tree``
  ``EventMetaData/m_run``.

Ours: ``count_events(dir, mode=fast|auto|deep, jobs=1 and --jobs)``, the same with the lean
reader off (``LUMIAUDIT_LEAN=0``: uproot's full reading, as before issue 14), an unchanged
rerun with the cache, ``--latency-ms`` per storage request (fsspec wrapper and a delaying HTTP
server), and the peak memory of counting ``--memory-files`` real small files (uproot-written,
generated under ``--dir``). Targets are those of issue 14; a target not met is printed as
NOT MET. ``--profile`` prints cProfile's top lines of ``count_file`` per mode.

Run: ``python benchmarks/bench_offline.py --wide /work/bench-data/wide --root-python
/work/venv-root/bin/python [--jobs 2] [--repeat 3] [--json out.json]``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_data import MAKE_WIDE, ensure_many_small, ensure_narrow, ensure_wide  # noqa: E402
from _bench_remote import delayed_fs, delaying_server  # noqa: E402

from lumiaudit.offline import count_events  # noqa: E402
from lumiaudit.offline.count import count_file  # noqa: E402
from lumiaudit.offline.executors import map_files  # noqa: E402

# -- helpers -----------------------------------------------------------------------------


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


@contextmanager
def lean(enabled: bool) -> Iterator[None]:
    old = os.environ.get("LUMIAUDIT_LEAN")
    os.environ["LUMIAUDIT_LEAN"] = "1" if enabled else "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["LUMIAUDIT_LEAN"]
        else:
            os.environ["LUMIAUDIT_LEAN"] = old


def warm(paths: list[str]) -> None:
    for p in paths:
        Path(p).read_bytes()


def width(path: str) -> int:
    """Top-level branches of ``tree``."""
    import uproot

    with uproot.open(path) as f:
        return len(f["tree"].keys(recursive=False))


# -- baselines ---------------------------------------------------------------------------


def uproot_num_entries(paths: list[str]) -> int:
    import uproot

    return sum(int(n) for _, _, n in uproot.num_entries([f"{p}:tree" for p in paths]))


def uproot_metadata(paths: list[str]) -> int:
    import uproot

    total = 0
    for p in paths:
        with uproot.open(p) as f:
            f["persistent"]["FileMetaData/m_nEvents"].array(library="np")
            total += len(f["tree"]["EventMetaData/m_run"].array(library="np"))
    return total


PYROOT = r"""
import json, sys, time
import ROOT
ROOT.gErrorIgnoreLevel = ROOT.kError
paths = json.load(open(sys.argv[1]))
f = ROOT.TFile.Open(paths[0]); f.Get("tree").GetEntries(); f.Close()  # load the libraries
best, total = float("inf"), 0
for _ in range(int(sys.argv[2])):
    start, total = time.perf_counter(), 0
    for p in paths:
        f = ROOT.TFile.Open(p)
        total += int(f.Get("tree").GetEntries())
        f.Close()
    best = min(best, time.perf_counter() - start)
print(json.dumps({"seconds": best, "entries": total, "version": ROOT.gROOT.GetVersion()}))
"""


def pyroot_get_entries(python: str, paths: list[str], repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "paths.json"
        listing.write_text(json.dumps(paths))
        done = subprocess.run(
            [python, "-c", PYROOT, str(listing), str(repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- memory ------------------------------------------------------------------------------

MEMORY = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from lumiaudit.offline import count_events
with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    result = count_events({top!r}, mode="auto", jobs={jobs}, cache=Path(tmp) / "c.sqlite")
    seconds = time.perf_counter() - start
self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({{"files": len(result.files), "runs": len(result.runs), "seconds": seconds,
                  "statuses": result.files["status"].value_counts().to_dict(),
                  "main_peak_mb": self_mb, "largest_worker_peak_mb": child_mb}}))
"""


def memory(top: Path, jobs: int) -> dict[str, Any]:
    code = textwrap.dedent(MEMORY.format(repo=str(REPO), top=str(top), jobs=jobs))
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        msg = f"memory measurement failed:\n{done.stderr[-3000:]}"
        raise RuntimeError(msg)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def profile(paths: list[str], mode: str, lines: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for p in paths:
        count_file(p, mode=mode)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(lines)
    text = out.getvalue()
    return text[text.index("ncalls") :] if "ncalls" in text else text


# -- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wide", type=Path, help="ROOT-written wide files to use")
    parser.add_argument("--root-python", help="python of a venv with the `root` wheel")
    parser.add_argument("--make-wide", type=Path, default=MAKE_WIDE, help="make_wide.py")
    parser.add_argument("--files", type=int, default=800, help="files to generate")
    parser.add_argument("--jobs", type=int, default=2, help="local workers for 'ours'")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; best is kept")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "lumiaudit-bench-offline",
        help="where generated files are kept between runs",
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--latency-files", type=int, default=200)
    parser.add_argument("--memory-files", type=int, default=100_000)
    parser.add_argument("--only", default="speed,cache,latency,memory")
    parser.add_argument("--profile", type=int, default=0, help="print N profile lines a mode")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    jobs = args.jobs

    if args.wide is not None:
        paths = sorted(str(p) for p in args.wide.glob("**/*.root"))
        source, writer = f"files from {args.wide}", "ROOT (make_wide.py)"
    elif args.root_python:
        paths = ensure_wide(args.dir, args.files, args.root_python, args.make_wide)
        source, writer = f"generated by {args.make_wide}", "ROOT (make_wide.py)"
    else:
        paths = ensure_narrow(args.dir, args.files)
        source, writer = "generated NARROW files, not the width of real mdst files", "uproot"
    top = Path(os.path.commonpath(paths))
    n = len(paths)
    branches = width(paths[0])
    print(f"{n} files, {branches} branches in 'tree', written by {writer}: {source}")
    print(
        f"jobs={jobs}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}; best of {args.repeat}"
    )
    warm(paths)
    out: dict[str, Any] = {
        "files": n,
        "branches": branches,
        "writer": writer,
        "source": source,
        "jobs": jobs,
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
    }
    ms: dict[str, float | None] = {}
    targets: list[dict[str, Any]] = []

    def target(label: str, ours: str, base: str, factor: float) -> None:
        a, b = ms.get(ours), ms.get(base)
        ratio = None if a is None or b is None else b / a
        verdict = "not measured" if ratio is None else ("met" if ratio >= factor else "NOT MET")
        targets.append({"target": label, "ratio": ratio, "wanted": factor, "verdict": verdict})

    if "speed" in only:
        t, total = best_of(args.repeat, lambda: uproot_num_entries(paths))
        ms["uproot.num_entries"] = 1e3 * t / n
        if args.root_python:
            got = pyroot_get_entries(args.root_python, paths, args.repeat)
            assert got["entries"] == total, ("PyROOT disagrees with uproot", got, total)
            ms["PyROOT GetEntries"] = 1e3 * got["seconds"] / n
            out["root_version"] = got["version"]
        else:
            ms["PyROOT GetEntries"] = None
        t, meta_total = best_of(args.repeat, lambda: uproot_metadata(paths))
        assert meta_total == total
        ms["uproot metadata read"] = 1e3 * t / n
        for mode in ("fast", "auto", "deep"):
            for j in (1, jobs):
                with lean(True):
                    t, res = best_of(args.repeat, partial(count_events, top, mode=mode, jobs=j))
                assert int(res.files["n_entries"].sum()) == total, (mode, "disagrees")
                assert set(res.files["status"]) == {"ok"}, res.files["status"].value_counts()
                ms[f"{mode} {j}"] = 1e3 * t / n
            with lean(False):
                t, full = best_of(1, partial(count_events, top, mode=mode, jobs=jobs))
            assert full.files.equals(res.files), f"{mode}: lean and full readings differ"
            ms[f"{mode} {jobs} uproot only"] = 1e3 * t / n
        target(
            f"fast, {jobs} workers >= 3x uproot.num_entries",
            f"fast {jobs}",
            "uproot.num_entries",
            3,
        )
        target(
            f"fast, {jobs} workers >= 5x PyROOT GetEntries", f"fast {jobs}", "PyROOT GetEntries", 5
        )
        target(
            f"auto, {jobs} workers >= 50x metadata read", f"auto {jobs}", "uproot metadata read", 50
        )
        target(
            f"deep, {jobs} workers >= 10x metadata read", f"deep {jobs}", "uproot metadata read", 10
        )

    if "cache" in only:
        with tempfile.TemporaryDirectory() as tmp:
            # untimed: the code paths of a count with a cache warmed (imports, the pool), so
            # that `--only cache` times the first run as it is after the speed figures
            count_events(top, mode="auto", jobs=jobs, cache=Path(tmp) / "warm.sqlite")
            db = Path(tmp) / "counts.sqlite"
            first_s, first = best_of(1, lambda: count_events(top, mode="auto", jobs=jobs, cache=db))
            again_s, again = best_of(
                args.repeat, lambda: count_events(top, mode="auto", jobs=jobs, cache=db)
            )
            assert again.stats["read"] == 0, again.stats
            assert again.stats.get("unchanged"), again.stats  # the stored tables were reused
            assert again.files.equals(first.files)

            def per_file_only() -> Any:
                # what a rerun with new files does for the old ones: per-file records, tables
                # rebuilt (the stored tables dropped first, inside the timed call: a few ms)
                with sqlite3.connect(db) as con:
                    con.execute("DELETE FROM stored_tables")
                con.close()
                return count_events(top, mode="auto", jobs=jobs, cache=db)

            records_s, records = best_of(args.repeat, per_file_only)
            assert records.stats["read"] == 0, records.stats
            assert not records.stats.get("unchanged"), records.stats
            assert records.files.equals(first.files)
        ms["first run with cache"], ms["cached rerun"] = 1e3 * first_s / n, 1e3 * again_s / n
        ms["cached rerun, per-file records"] = 1e3 * records_s / n
        target("unchanged rerun >= 20x the first run", "cached rerun", "first run with cache", 20)

    if "latency" in only:
        delay = args.latency_ms / 1000
        subset = paths[: args.latency_files]
        func = partial(count_file, mode="fast", timeout=60)
        fs = delayed_fs(delay)
        urls = [f"delayed://{p}" for p in subset]
        fs.requests = 0
        t, seq = best_of(1, lambda: map_files(func, urls, inflight=1))
        out["requests_per_file"] = fs.requests / len(urls)
        ms["latency sequential"] = 1e3 * t / len(urls)
        t, par = best_of(args.repeat, lambda: map_files(func, urls, jobs=jobs))
        assert [r.n_entries for r in par] == [r.n_entries for r in seq]
        ms["latency in flight"] = 1e3 * t / len(urls)
        with delaying_server(top, delay) as url:
            urls = [f"{url}/{Path(p).relative_to(top).as_posix()}" for p in subset]
            with lean(False):  # uproot's HTTP source, as before the lean reader read URLs
                t, old = best_of(1, lambda: map_files(func, urls, inflight=1))
            ms["HTTP latency sequential, uproot only"] = 1e3 * t / len(urls)
            t, seq = best_of(1, lambda: map_files(func, urls, inflight=1))
            assert seq == old, "lean and uproot readings over HTTP differ"
            ms["HTTP latency sequential"] = 1e3 * t / len(urls)
            t, par = best_of(args.repeat, lambda: map_files(func, urls, jobs=jobs))
            assert [r.n_entries for r in par] == [r.n_entries for r in seq]
            assert all(r.status == "ok" for r in par), {r.status for r in par}
            ms["HTTP latency in flight"] = 1e3 * t / len(urls)
        target(
            f"{args.latency_ms:g} ms latency >= 20x sequential",
            "latency in flight",
            "latency sequential",
            20,
        )
        target(
            f"{args.latency_ms:g} ms HTTP latency >= 20x sequential",
            "HTTP latency in flight",
            "HTTP latency sequential",
            20,
        )

    if "memory" in only:
        small = ensure_many_small(args.dir, args.memory_files)
        mem = memory(small, jobs)
        out["memory"] = mem
        peak = mem["main_peak_mb"] + jobs * mem["largest_worker_peak_mb"]
        mem["bound_mb"] = peak
        targets.append(
            {
                "target": f"peak memory <= 1 GB for {mem['files']} real files",
                "peak_mb": peak,
                "verdict": "met" if peak <= 1024 else "NOT MET",
            }
        )

    out["ms_per_file"], out["targets"] = ms, targets
    print_table(ms, targets, jobs, out)
    if args.profile:
        for mode in ("fast", "auto", "deep"):
            print(f"\nprofile of count_file, mode={mode}, {min(n, 400)} files (cProfile, tottime)")
            print(profile(paths[:400], mode, args.profile))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"(peak RSS of this script: {rss} MB)")
    return 0


def print_table(
    ms: dict[str, float | None], targets: list[dict[str, Any]], jobs: int, out: dict[str, Any]
) -> None:
    def cell(key: str) -> str:
        value = ms.get(key)
        return "" if value is None else f"{value:.3f}"

    print(f"\nms per file ({out['files']} files, {out['branches']} branches, {out['writer']})")
    print(f"| | 1 worker | {jobs} workers |\n|---|---|---|")
    rows = [
        ("`uproot.num_entries` (sequential)", "uproot.num_entries", None),
        (
            f"PyROOT `TFile::Open` + `GetEntries` ({out.get('root_version', 'not measured')})",
            "PyROOT GetEntries",
            None,
        ),
        (
            "plain uproot read of `FileMetaData/m_nEvents` + `EventMetaData/m_run`",
            "uproot metadata read",
            None,
        ),
    ]
    for mode in ("fast", "auto", "deep"):
        rows.append((f"lumiaudit {mode}", f"{mode} 1", f"{mode} {jobs}"))
        rows.append(
            (f"lumiaudit {mode}, lean reader off (uproot only)", None, f"{mode} {jobs} uproot only")
        )
    rows += [
        ("first run with an empty cache (auto)", None, "first run with cache"),
        ("unchanged rerun with the cache (auto): stored tables reused", None, "cached rerun"),
        (
            "the same rerun from the per-file records only (tables rebuilt, as with new files)",
            None,
            "cached rerun, per-file records",
        ),
        (
            "20 ms latency, fsspec: one at a time / in flight",
            "latency sequential",
            "latency in flight",
        ),
        (
            "20 ms latency, HTTP: one at a time / in flight",
            "HTTP latency sequential",
            "HTTP latency in flight",
        ),
        (
            "20 ms latency, HTTP, lean reader off (uproot only): one at a time",
            "HTTP latency sequential, uproot only",
            None,
        ),
    ]
    for label, one, many in rows:
        if (one and one in ms) or (many and many in ms):
            print(f"| {label} | {cell(one) if one else ''} | {cell(many) if many else ''} |")
    print("\n| target | measured | verdict |\n|---|---|---|")
    for t in targets:
        got = (
            f"{t['ratio']:.1f}x"
            if t.get("ratio")
            else f"{t.get('peak_mb', 0):.0f} MB"
            if "peak_mb" in t
            else "-"
        )
        print(f"| {t['target']} | {got} | {t['verdict']} |")
    if "memory" in out:
        m = out["memory"]
        print(
            f"memory: {m['files']} files in {m['runs']} runs counted in {m['seconds']:.0f} s; "
            f"peak RSS main {m['main_peak_mb']:.0f} MB, "
            f"largest worker {m['largest_worker_peak_mb']:.0f} MB"
        )


if __name__ == "__main__":
    raise SystemExit(main())
