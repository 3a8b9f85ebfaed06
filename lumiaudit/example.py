"""Generate Belle II-like productions and logbooks: the bundled example and test fixtures.

The ROOT files follow basf2's layout as far as uproot can write it: a ``tree`` with one entry
per event and leaves ``EventMetaData/m_event``, ``m_run``, ``m_subrun``, ``m_experiment``,
``m_production``, ``m_time`` and ``m_errorFlag``; a ``persistent`` tree with exactly one entry
and leaves ``FileMetaData/m_nEvents``, ``m_nFullEvents``, ``m_experimentLow/High``,
``m_runLow/High`` and ``m_eventLow/High``. (uproot writes the leaves as flat branches with the
same names; basf2 writes split ``Belle2::EventMetaData`` objects, which uproot reads under the
same keys, so readers see no difference.)

The logbook is written in PSI ELOG's on-disk day-file layout (``YYMMDDa.log``), as elogd 3.1.5
writes it (see ``tests/data/elog/README.md``): ``$@MID@$:`` line, LF-terminated attribute lines,
a line of 40 ``=``, CRLF text lines with the last one ending in a bare LF.

``python -m lumiaudit.example OUT_DIR`` regenerates the bundled example in ``data/``.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

__all__ = [
    "ExampleRun",
    "make_example",
    "write_basf2_file",
    "write_elog_dayfiles",
]

#: basf2 EventMetaData error flag for "HLT discard" (see DOMAIN.md).
HLT_DISCARD = 0x10

JST = timezone(timedelta(hours=9))


def write_basf2_file(
    path: str | Path,
    *,
    experiment: int,
    run: int | Sequence[int] | np.ndarray,
    n_events: int,
    error_flags: np.ndarray | None = None,
    meta_n_events: int | None = None,
    first_event: int = 1,
    start_ns: int = 1_572_912_000_000_000_000,
    tree: str = "tree",
    with_persistent: bool = True,
) -> Path:
    """Write one basf2-like ROOT file with uproot.

    Parameters
    ----------
    path
        Output file (parent directories are created).
    experiment
        Experiment number of every event.
    run
        Run number of every event, or an array with one run number per event (for files that
        span several runs, like grid files under ``r00000``).
    n_events
        Number of tree entries.
    error_flags
        ``m_errorFlag`` per event (default: all 0).
    meta_n_events
        Override ``FileMetaData.m_nEvents`` (to make a ``metadata_mismatch`` file).
    first_event, start_ns
        First event number and first event time (ns since epoch).
    tree
        Name of the event tree.
    with_persistent
        Write the ``persistent`` tree.

    Returns
    -------
    Path
        The written file.
    """
    import uproot

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = np.broadcast_to(np.asarray(run, dtype=np.int32), (n_events,)).copy()
    flags = (
        np.zeros(n_events, dtype=np.uint32)
        if error_flags is None
        else np.asarray(error_flags, dtype=np.uint32)
    )
    if len(flags) != n_events:
        msg = f"error_flags has {len(flags)} values for {n_events} events"
        raise ValueError(msg)
    events = np.arange(first_event, first_event + n_events, dtype=np.uint32)
    branches: dict[str, np.ndarray] = {
        "EventMetaData/m_event": events,
        "EventMetaData/m_run": runs,
        "EventMetaData/m_subrun": np.zeros(n_events, dtype=np.int32),
        "EventMetaData/m_experiment": np.full(n_events, experiment, dtype=np.int32),
        "EventMetaData/m_production": np.zeros(n_events, dtype=np.int32),
        "EventMetaData/m_time": (start_ns + np.arange(n_events, dtype=np.uint64) * 1_000_000),
        "EventMetaData/m_errorFlag": flags,
    }
    n_full = int(np.count_nonzero(flags == 0))
    with uproot.recreate(out) as f:
        f.mktree(tree, {k: v.dtype for k, v in branches.items()})
        if n_events:
            f[tree].extend(branches)
        if with_persistent:
            empty = n_events == 0
            meta: dict[str, np.ndarray] = {
                "FileMetaData/m_nEvents": np.array(
                    [n_events if meta_n_events is None else meta_n_events], dtype=np.uint32
                ),
                "FileMetaData/m_nFullEvents": np.array([n_full], dtype=np.uint64),
                "FileMetaData/m_experimentLow": np.array([experiment], dtype=np.int32),
                "FileMetaData/m_runLow": np.array([-1 if empty else runs.min()], dtype=np.int32),
                "FileMetaData/m_eventLow": np.array([0 if empty else events[0]], dtype=np.uint32),
                "FileMetaData/m_experimentHigh": np.array([experiment], dtype=np.int32),
                "FileMetaData/m_runHigh": np.array([-1 if empty else runs.max()], dtype=np.int32),
                "FileMetaData/m_eventHigh": np.array([0 if empty else events[-1]], dtype=np.uint32),
            }
            f.mktree("persistent", {k: v.dtype for k, v in meta.items()})
            f["persistent"].extend(meta)
    return out


@dataclass
class ExampleRun:
    """One run of a generated production and its logbook entry.

    ``files`` maps HLT unit -> list of event counts per file index. ``typed`` is the
    ``Num events`` text the shifter typed (default: the error-free count).
    """

    run: int
    files: dict[int, list[int]]
    run_type: str = "physics"
    flagged_fraction: float = 0.0
    typed: str | None = None
    drop: list[tuple[int, int]] = field(default_factory=list)  # (unit, index) never produced
    truncate: list[tuple[int, int]] = field(default_factory=list)
    duplicate: list[tuple[int, int]] = field(default_factory=list)
    processed: bool = True
    note: str = ""


def _demo_runs(rng: np.random.Generator) -> list[ExampleRun]:
    runs: list[ExampleRun] = []
    for run in range(101, 125):
        n_units = 4
        n_idx = int(rng.integers(1, 3))
        files = {
            u: [int(rng.integers(200, 600)) for _ in range(n_idx)] for u in range(1, 1 + n_units)
        }
        runs.append(
            ExampleRun(run=run, files=files, flagged_fraction=0.02 if run % 4 == 0 else 0.0)
        )
    by_run = {r.run: r for r in runs}
    by_run[105].truncate = [(2, 0)]
    by_run[105].note = "truncated file (unreadable offline)"
    by_run[109].files[3] = [600, 500]
    by_run[109].drop = [(3, 0)]
    by_run[109].note = "file HLT3 f00000 never produced (index gap)"
    by_run[113].typed = "__drop_digit__"
    by_run[113].note = "shifter typo: last digit dropped"
    by_run[117].run_type = "cosmic"
    by_run[117].processed = False
    by_run[117].note = "cosmic run, not processed"
    by_run[121].duplicate = [(1, 0)]
    by_run[121].note = "duplicate copy of a file in sub01"
    by_run[123].processed = False
    by_run[123].note = "physics run never processed offline"
    by_run[111].typed = "__plus_one__"
    by_run[111].note = "off by one"
    by_run[119].typed = "__deficit_3pct__"
    by_run[119].note = "unexplained 3% offline deficit"
    return runs


def write_elog_dayfiles(
    out_dir: str | Path,
    entries: Sequence[dict[str, str]],
    *,
    attributes: Sequence[str] = (
        "Author",
        "Subject",
        "Type",
        "Category",
        "Exp number",
        "Run number",
        "Num events",
        "Run time",
        "Solenoid",
    ),
) -> list[Path]:
    """Write entries as PSI ELOG day files (``YYMMDDa.log``), oldest first.

    Each entry is a dict with ``Date`` (a :class:`datetime` in ISO format), the attributes and
    ``text``. Message ids are assigned in order from 1.

    Returns
    -------
    list of Path
        The day files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_day: dict[str, list[str]] = {}
    for mid, entry in enumerate(entries, start=1):
        date = datetime.fromisoformat(entry["Date"]).astimezone(JST)
        lines = [f"$@MID@$: {mid}", f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S %z')}"]
        lines += [f"{a}: {entry.get(a, '')}" for a in attributes]
        lines += ["Attachment: ", "Encoding: plain", "=" * 40]
        header = "\n".join(lines) + "\n"
        text_lines = entry.get("text", "").rstrip("\n").split("\n")
        body = "\r\n".join(text_lines) + "\n"
        by_day.setdefault(date.strftime("%y%m%d"), []).append(header + body)
    written = []
    for day, chunks in sorted(by_day.items()):
        path = out / f"{day}a.log"
        path.write_bytes("".join(chunks).encode("utf-8"))
        written.append(path)
    return written


def _drop_last_digit(n: int) -> str:
    return str(n)[:-1]


def make_example(out_dir: str | Path, *, seed: int = 20191105) -> dict[str, Path]:
    """Generate the bundled example: a small production, its logbook and the injected truth.

    Layout::

        OUT/prod/release-06-00-00/DB00001234/proc13/e0012/4S/rRRRRR/all/mdst/sub00/
            mdst.physics.0012.RRRRR.HLTn.fNNNNN.root
        OUT/elog/YYMMDDa.log
        OUT/truth.csv

    Returns
    -------
    dict
        ``{"prod": ..., "elog": ..., "truth": ...}`` paths.
    """
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    experiment = 12
    base = out / "prod" / "release-06-00-00" / "DB00001234" / "proc13" / f"e{experiment:04d}" / "4S"
    start = datetime(2021, 3, 1, 9, 0, tzinfo=JST)
    entries: list[dict[str, str]] = []
    truth_rows: list[dict[str, object]] = []
    t = start
    for spec in _demo_runs(rng):
        n_written = n_full = n_readable = 0
        for unit, counts in spec.files.items():
            for index, n in enumerate(counts):
                flags = np.zeros(n, dtype=np.uint32)
                if spec.flagged_fraction:
                    k = round(n * spec.flagged_fraction)
                    flags[rng.choice(n, size=k, replace=False)] = HLT_DISCARD
                n_written += n
                n_full += int(np.count_nonzero(flags == 0))
                if not spec.processed or (unit, index) in spec.drop:
                    continue
                name = (
                    f"{spec.run_type}.{experiment:04d}.{spec.run:05d}.HLT{unit}.f{index:05d}.root"
                )
                path = base / f"r{spec.run:05d}" / "all" / "mdst" / "sub00" / f"mdst.{name}"
                write_basf2_file(
                    path,
                    experiment=experiment,
                    run=spec.run,
                    n_events=n,
                    error_flags=flags,
                    start_ns=int(t.timestamp() * 1e9),
                )
                if (unit, index) in spec.truncate:
                    data = path.read_bytes()
                    path.write_bytes(data[: len(data) // 2])
                else:
                    n_readable += n
                if (unit, index) in spec.duplicate:
                    dup = path.parent.parent / "sub01" / path.name
                    dup.parent.mkdir(parents=True, exist_ok=True)
                    dup.write_bytes(path.read_bytes())
        typed = str(n_full)
        if spec.typed == "__drop_digit__":
            typed = _drop_last_digit(n_full)
        elif spec.typed == "__plus_one__":
            typed = str(n_full + 1)
        elif spec.typed == "__deficit_3pct__":
            typed = str(round(n_full / 0.97))
        duration = timedelta(minutes=int(rng.integers(20, 140)))
        stop = t + duration
        lumi = n_full / 0.35 if spec.run_type == "physics" else 0.0
        entries.append(
            {
                "Date": (stop + timedelta(minutes=5)).isoformat(),
                "Author": "lumiaudit example",
                "Subject": f"{spec.run_type} run {spec.run}",
                "Type": "Run summary",
                "Category": spec.run_type.capitalize(),
                "Exp number": str(experiment),
                "Run number": str(spec.run),
                "Num events": f"{int(typed):,}" if spec.run % 3 == 0 and typed else typed,
                "Run time": f"{duration.seconds // 3600:02d}:{duration.seconds // 60 % 60:02d}:00",
                "Solenoid": "ON",
                "text": "\n".join(
                    [
                        f"Run summary for exp {experiment} run {spec.run}",
                        f"Start : {t.strftime('%Y-%m-%d %H:%M:%S')} JST",
                        f"Stop  : {stop.strftime('%Y-%m-%d %H:%M:%S')} JST",
                        f"Integrated Luminosity : {lumi:.3f}",
                    ]
                ),
            }
        )
        truth_rows.append(
            {
                "experiment": experiment,
                "run": spec.run,
                "run_type": spec.run_type,
                "n_written": n_written,
                "n_full": n_full,
                "n_readable": n_readable,
                "typed": typed,
                "note": spec.note,
            }
        )
        t = stop + timedelta(minutes=int(rng.integers(5, 30)))
    elog = out / "elog"
    write_elog_dayfiles(elog, entries)
    truth = out / "truth.csv"
    with truth.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(truth_rows[0]))
        writer.writeheader()
        writer.writerows(truth_rows)
    return {"prod": out / "prod", "elog": elog, "truth": truth}


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    target = sys.argv[1] if len(sys.argv) > 1 else "data/example"
    for key, value in make_example(target).items():
        sys.stdout.write(f"{key}: {value}\n")
