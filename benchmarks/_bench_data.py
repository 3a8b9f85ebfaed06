"""Files for bench_offline.py: ROOT-written wide files, uproot-written narrow ones, and a
production of 100,000 small real files for the memory figure.

Kept apart from the measurements so that bench_offline.py stays readable.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from lumiaudit.example import HLT_DISCARD, write_basf2_file

REPO = Path(__file__).resolve().parent.parent
MAKE_WIDE = REPO.parent / "shared" / "data" / "wide-sample" / "make_wide.py"
FILES_PER_RUN = 40
UNITS = 4
SEED = 20261129


def _manifest(top: Path, n_files: int) -> list[str] | None:
    manifest = top / "manifest.json"
    if manifest.is_file():
        paths = json.loads(manifest.read_text())
        if len(paths) == n_files and all(
            Path(p).is_file() for p in paths[:: max(1, n_files // 100)]
        ):
            return list(paths)
    return None


def ensure_wide(directory: Path, n_files: int, root_python: str, make_wide: Path) -> list[str]:
    """ROOT-written files of 161 branches from ``make_wide.py`` (needs a ``root`` wheel venv)."""
    top = directory / f"wide-{n_files}"
    paths = _manifest(top, n_files)
    if paths is not None:
        return paths
    shutil.rmtree(top, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([root_python, str(make_wide), str(top), str(n_files)], check=True)
    paths = sorted(str(p) for p in top.glob("**/*.root"))
    (top / "manifest.json").write_text(json.dumps(paths))
    print(f"wrote {len(paths)} ROOT-written wide files in {time.perf_counter() - start:.0f} s")
    return paths


def _narrow_spec(i: int) -> tuple[str, dict[str, Any]]:
    rng = np.random.default_rng(SEED + i)
    n = int(rng.integers(100, 1001))
    flags = np.where(rng.random(n) < 0.03, HLT_DISCARD, 0).astype(np.uint32)
    run = 1000 + i // FILES_PER_RUN
    if i % 100 == 99:  # a grid file: no run in the name, two runs inside
        split = n // 3
        runs = np.concatenate([np.full(split, run), np.full(n - split, run + 1)])
        name = f"e0012/4S/r00000/all/mdst/sub00/mdst_{i:06d}_prod00012345_task10020{i:06d}.root"
        return name, {"experiment": 12, "run": runs, "n_events": n, "error_flags": flags}
    unit, index = 1 + i % UNITS, (i % FILES_PER_RUN) // UNITS
    name = (
        f"e0012/4S/r{run:05d}/all/mdst/sub00/"
        f"mdst.physics.0012.{run:05d}.HLT{unit}.f{index:05d}.root"
    )
    return name, {"experiment": 12, "run": run, "n_events": n, "error_flags": flags}


def _write_narrow(args: tuple[Path, int]) -> str:
    top, i = args
    name, kw = _narrow_spec(i)
    return str(write_basf2_file(top / name, **kw))


def ensure_narrow(directory: Path, n_files: int) -> list[str]:
    """uproot-written Belle II-like files (few branches), written once and reused."""
    top = directory / f"narrow-{n_files}"
    paths = _manifest(top, n_files)
    if paths is not None:
        return paths
    shutil.rmtree(top, ignore_errors=True)
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        paths = pool.map(_write_narrow, [(top, i) for i in range(n_files)], chunksize=20)
    (top / "manifest.json").write_text(json.dumps(paths))
    return list(paths)


def _write_run(args: tuple[Path, int]) -> list[str]:
    """One uproot-written file of a run, copied under the run's 40 names (4 units x 10)."""
    top, run = args
    base = top / f"e0012/4S/r{run:05d}/all/mdst/sub00"
    first = write_basf2_file(
        base / f"mdst.physics.0012.{run:05d}.HLT1.f00000.root", experiment=12, run=run, n_events=5
    )
    out = [str(first)]
    for k in range(1, FILES_PER_RUN):
        unit, index = 1 + k % UNITS, k // UNITS
        dst = base / f"mdst.physics.0012.{run:05d}.HLT{unit}.f{index:05d}.root"
        shutil.copyfile(first, dst)
        out.append(str(dst))
    return out


def ensure_many_small(directory: Path, n_files: int) -> Path:
    """``n_files`` small real files (uproot-written, 5 events) in runs of 40; returns the top.

    Each run's 40 files are byte copies of one file written for that run (the name differs,
    the content is the run's), which keeps generating 100,000 files to a few minutes.
    """
    top = directory / f"small-{n_files}"
    if _manifest(top, n_files) is not None:
        return top
    shutil.rmtree(top, ignore_errors=True)
    runs = range(20000, 20000 + (n_files + FILES_PER_RUN - 1) // FILES_PER_RUN)
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        parts = pool.map(_write_run, [(top, r) for r in runs], chunksize=10)
    paths = [p for part in parts for p in part][:n_files]
    for extra in [p for part in parts for p in part][n_files:]:
        Path(extra).unlink()
    (top / "manifest.json").write_text(json.dumps(paths))
    size = sum(Path(p).stat().st_size for p in paths[:100]) / 100 * len(paths)
    took = time.perf_counter() - start
    print(f"wrote {len(paths)} small files (~{size / 1e9:.1f} GB) in {took:.0f} s")
    return top
