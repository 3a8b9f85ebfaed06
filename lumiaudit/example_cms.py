"""A CMS NanoAOD-like production written by uproot: the CMS example and its test fixture.

Layout as NanoAOD has it: tree ``Events`` (``run`` uint32, ``luminosityBlock`` uint32,
``event`` uint64, one entry per event) and tree ``LuminosityBlocks`` (one entry per (run,
LS) the job processed). File names are GUIDs (they say nothing about the run). Beside the
files: the online per-LS table (``online_ls.csv``: ``run,ls,events``), a golden JSON and the
recorded luminosity as ``brilcalc lumi --byls --output-style csv`` prints it (``brilcalc.csv``,
in /ub, with its ``#Summary``).

Faults (the truth the tests check against):

- run 381150: the job for LS 4-6 never produced its file (LS 4-6 missing offline);
- run 381151: LS 2 lost 3 events in processing (short), LS 3 is processed with 0 events
  (in ``LuminosityBlocks``, nothing in ``Events``; online also says 0);
- run 381152 LS 9 is not in the golden JSON (not certified).

``python -m lumiaudit.example_cms OUT_DIR`` regenerates the bundled ``data/example-cms``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["GOLDEN", "ONLINE", "NanoProduction", "write_events_file", "write_nano_production"]

#: online events per (run, LS)
ONLINE: dict[int, dict[int, int]] = {
    381148: {1: 20, 2: 22, 3: 18},
    381150: {1: 10, 2: 10, 3: 10, 4: 12, 5: 11, 6: 9, 7: 10},
    381151: {1: 15, 2: 16, 3: 0},
    381152: {8: 7, 9: 8},
}
#: files: (run, LS list) per file; run 381150 LS 4-6 are the missing job
FILES: list[tuple[int, list[int]]] = [
    (381148, [1, 2]),
    (381148, [3]),
    (381150, [1, 2, 3]),
    (381150, [7]),
    (381151, [1, 2, 3]),
    (381152, [8, 9]),
]
SHORT = {(381151, 2): 3}
GOLDEN = {"381148": [[1, 3]], "381150": [[1, 7]], "381151": [[1, 3]], "381152": [[8, 8]]}


@dataclass
class NanoProduction:
    """Paths of the written production and its truth."""

    prod: Path
    online_ls: Path
    golden: Path
    lumi: Path | None = None
    files: list[Path] = field(default_factory=list)
    offline_per_run: dict[int, int] = field(default_factory=dict)


def write_events_file(
    path: Path,
    events: dict[str, np.ndarray],
    lumis: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write one NanoAOD-like file: TTree ``Events`` (and ``LuminosityBlocks``)."""
    import uproot

    with uproot.recreate(path) as f:
        # mktree: a TTree, as NanoAOD writes (assigning a dict would write an RNTuple)
        f.mktree("Events", {k: v.dtype for k, v in events.items()})
        f["Events"].extend(events)
        if lumis is not None:
            f.mktree("LuminosityBlocks", {k: v.dtype for k, v in lumis.items()})
            f["LuminosityBlocks"].extend(lumis)
    return path


def write_nano_production(root: Path) -> NanoProduction:
    """Write the production under ``root``.

    ``prod/`` (the ROOT files), ``online_ls.csv``, ``golden.json`` and ``brilcalc.csv``.
    """
    root = Path(root)
    prod = root / "prod" / "store" / "data" / "Run2024X" / "Muon0" / "NANOAOD"
    prod.mkdir(parents=True)
    rng = np.random.default_rng(7)
    out = NanoProduction(
        prod=root / "prod", online_ls=root / "online_ls.csv", golden=root / "golden.json"
    )
    for i, (run, lss) in enumerate(FILES):
        runs: list[int] = []
        ls_col: list[int] = []
        ev: list[int] = []
        for ls in lss:
            n = ONLINE[run][ls] - SHORT.get((run, ls), 0)
            runs += [run] * n
            ls_col += [ls] * n
            ev += list(rng.choice(10**9, size=n, replace=False) + ls * 10**9)
        events: dict[str, np.ndarray] = {
            "run": np.array(runs, dtype=np.uint32),
            "luminosityBlock": np.array(ls_col, dtype=np.uint32),
            "event": np.array(ev, dtype=np.uint64),
        }
        lumis: dict[str, np.ndarray] = {
            "run": np.full(len(lss), run, dtype=np.uint32),
            "luminosityBlock": np.array(lss, dtype=np.uint32),
        }
        name = f"{uuid.UUID(int=i + 1)}.root".upper().replace(".ROOT", ".root")
        out.files.append(write_events_file(prod / name, events, lumis))
        out.offline_per_run[run] = out.offline_per_run.get(run, 0) + len(runs)
    lines = ["run,ls,events"]
    lines += [f"{run},{ls},{n}" for run, per in ONLINE.items() for ls, n in per.items()]
    out.online_ls.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out.golden.write_text(json.dumps(GOLDEN), encoding="utf-8")
    out.lumi = root / "brilcalc.csv"
    out.lumi.write_text(brilcalc_byls(), encoding="utf-8")
    return out


#: recorded luminosity per LS in /ub (about 23.3 s per LS at 2e34 cm^-2 s^-1, 0.5 % dead time)
LS_RECORDED_UB = 464.5


def brilcalc_byls() -> str:
    """The recorded luminosity of :data:`ONLINE`'s LS as ``brilcalc lumi --byls`` CSV (/ub)."""
    lines = [
        "#Data tag : 24v1 , Norm tag: None",
        "#run:fill,ls,time,beamstatus,E(GeV),delivered(/ub),recorded(/ub),avgpu,source",
    ]
    total_d = total_r = 0.0
    for run, per in ONLINE.items():
        for ls in per:
            delivered = LS_RECORDED_UB / 0.995
            total_d += delivered
            total_r += LS_RECORDED_UB
            lines.append(
                f"{run}:9666,{ls}:{ls},05/24/24 11:{ls:02d}:00,STABLE BEAMS,6800,"
                f"{delivered:.3f},{LS_RECORDED_UB:.3f},60.1,hfoc"
            )
    n_ls = sum(len(per) for per in ONLINE.values())
    lines += [
        "#Summary:",
        "#nfill,nrun,nls,ncms,totdelivered(/ub),totrecorded(/ub)",
        f"#1,{len(ONLINE)},{n_ls},{n_ls},{total_d:.3f},{total_r:.3f}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    import sys

    write_nano_production(Path(sys.argv[1] if len(sys.argv) > 1 else "data/example-cms"))
