"""Good/bad run lists, run-list masks and ``GoodRuns/ BadRuns/ UglyRuns/`` symlink views.

Categories (of audited runs; ``NOT_AUDITED`` runs are in no list):

* **good**: not flagged (waived runs included);
* **ugly**: flagged, and the attribution explains the whole difference (a typo, a lost file ...);
* **bad**: flagged with an unexplained difference, or no comparison possible (missing online or
  offline count).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit._io import read_config_text
from lumiaudit.errors import ConfigError, OutputError
from lumiaudit.schema import Reason, RunStatus

__all__ = ["VIEWS", "classify_runs", "read_mask", "symlink_view", "write_runlists"]

log = logging.getLogger(__name__)

#: Directory name of each category in a symlink view.
VIEWS: dict[str, str] = {"good": "GoodRuns", "bad": "BadRuns", "ugly": "UglyRuns"}

_RUN_DIR = re.compile(r"^r(\d{4,6})(?:_bad)?$")


def _true(x: object) -> bool:
    return str(x) == "True"


def classify_runs(runs: pd.DataFrame) -> pd.Series:
    """``good`` / ``bad`` / ``ugly`` per run (``<NA>`` for runs not audited).

    Examples
    --------
    >>> runs = pd.DataFrame({"status": ["OK", "DEFICIT"], "flagged": [False, True],
    ...                      "reasons": [None, "unexplained"], "unexplained_diff": [0, 91]})
    >>> classify_runs(runs).tolist()
    ['good', 'bad']
    """
    out: list[Any] = []
    for row in runs.itertuples(index=False):
        status = str(row.status)
        reasons = set(str(row.reasons).split(";")) if isinstance(row.reasons, str) else set()
        if status == RunStatus.NOT_AUDITED.value:
            out.append(pd.NA)
        elif not _true(row.flagged):
            out.append("good")
        elif status in (RunStatus.MISSING_ONLINE.value, RunStatus.MISSING_OFFLINE.value):
            out.append("ugly" if Reason.UNREADABLE_FILE.value in reasons else "bad")
        elif Reason.UNEXPLAINED.value in reasons:
            out.append("bad")
        else:
            out.append("ugly")
    return pd.Series(out, index=runs.index, dtype="string")


def _records(runs: pd.DataFrame, cats: pd.Series, wanted: Iterable[str]) -> list[dict[str, Any]]:
    sel = runs[cats.isin(list(wanted)).fillna(False)]
    recs = []
    for (_, row), cat in zip(sel.iterrows(), cats[sel.index], strict=True):
        reasons = str(row["reasons"]).split(";") if isinstance(row["reasons"], str) else []
        rec: dict[str, Any] = {
            # a run-only key (profile) has no experiment: null, never a made-up number
            "experiment": None if pd.isna(row["experiment"]) else int(row["experiment"]),
            "run": int(row["run"]),
            "status": str(row["status"]),
            "category": str(cat),
            "reasons": reasons,
        }
        for col in ("n_online", "n_offline", "diff", "unexplained_diff"):
            if col in row and not pd.isna(row[col]):
                rec[col] = int(row[col])
        if "severity" in row and isinstance(row["severity"], str):
            rec["severity"] = row["severity"]
        recs.append(rec)
    return recs


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write run list: {exc.strerror or exc}", path=path) from None


def write_runlists(runs: pd.DataFrame, out_dir: str | PathLike[str]) -> dict[str, Path]:
    """Write ``good_runs.json``, ``bad_runs.json`` (bad and ugly runs, with their reasons),
    ``good_runs.csv`` and ``bad_runs.csv`` into ``out_dir``.

    The JSON files are a list of ``{"experiment", "run", "status", "category", "reasons", ...}``
    objects, readable back by :func:`read_mask`.

    Returns
    -------
    dict
        File key (``good_runs.json`` ...) to path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cats = classify_runs(runs)
    written: dict[str, Path] = {}
    for name, wanted in (("good_runs", ("good",)), ("bad_runs", ("bad", "ugly"))):
        recs = _records(runs, cats, wanted)
        path = out / f"{name}.json"
        _write_atomic(path, json.dumps(recs, indent=1) + "\n")
        written[path.name] = path
        table = pd.DataFrame(
            [{**r, "reasons": ";".join(r["reasons"])} for r in recs],
            columns=["experiment", "run", "status", "category", "reasons"],
        )
        path = out / f"{name}.csv"
        _write_atomic(path, table.to_csv(index=False))
        written[path.name] = path
    return written


def read_mask(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a run list to restrict an audit to.

    Accepted: JSON (a list of run numbers, a list of ``{"experiment", "run"}`` objects such as
    ``good_runs.json``, ``{"runs": [...]}``, or a CMS golden-JSON-like ``{"3000": [[1, 9]]}``),
    CSV with a ``run`` (and optional ``experiment``) column, or plain text with one run per line.

    Returns
    -------
    DataFrame
        ``experiment`` (<NA> = any) and ``run``, both ``Int64``.

    Raises
    ------
    InputNotFoundError, ConfigError
        Missing file or unreadable content (file and line named).
    """
    p = Path(path)
    text = read_config_text(p, what="run list", hint="expected JSON, CSV or one run per line")
    rows: list[tuple[int | None, int]] = []
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON: {exc.msg}", path=p, line=exc.lineno) from None
        if isinstance(doc, dict) and "runs" in doc:
            doc = doc["runs"]
        if isinstance(doc, dict):
            for key in doc:
                rows.append((None, _as_int(key, p, f"key {key!r}")))
        elif isinstance(doc, list):
            for i, item in enumerate(doc):
                if isinstance(item, dict):
                    if "run" not in item:
                        raise ConfigError("run list entry without 'run'", path=p, line=f"item {i}")
                    exp = item.get("experiment")
                    rows.append(
                        (
                            None if exp is None else _as_int(exp, p, f"item {i}"),
                            _as_int(item["run"], p, f"item {i}"),
                        )
                    )
                else:
                    rows.append((None, _as_int(item, p, f"item {i}")))
        else:
            raise ConfigError("a run list must be a JSON list or object", path=p)
    else:
        lines = text.splitlines()
        header = lines[0].lower().replace(" ", "").split(",") if lines else []
        if "run" in header:
            try:
                df = pd.read_csv(p, dtype=str)
            except pd.errors.ParserError as exc:
                raise ConfigError(f"not a valid CSV run list: {exc}", path=p) from None
            df.columns = [c.strip().lower() for c in df.columns]
            rec: Any
            for i, rec in enumerate(df.itertuples(index=False), start=2):
                col_exp: Any = getattr(rec, "experiment", None)
                exp_v = (
                    None
                    if col_exp is None or pd.isna(col_exp) or not str(col_exp).strip()
                    else col_exp
                )
                rows.append(
                    (
                        None if exp_v is None else _as_int(exp_v, p, i),
                        _as_int(rec.run, p, i),
                    )
                )
        else:
            for i, ln in enumerate(lines, start=1):
                item = ln.split("#")[0].strip().strip(",")
                if item:
                    rows.append((None, _as_int(item, p, i)))
    df = pd.DataFrame(rows, columns=["experiment", "run"])
    return df.astype({"experiment": "Int64", "run": "Int64"}).drop_duplicates(ignore_index=True)


def _as_int(value: Any, path: Path, where: int | str) -> int:
    try:
        return int(str(value).strip().lstrip("r"))
    except ValueError:
        raise ConfigError(f"not a run number: {value!r}", path=path, line=where) from None


def _run_dirs(files: pd.DataFrame) -> dict[tuple[int, int], list[Path]]:
    """Run directories (``rNNNNN`` or ``rNNNNN_bad``) holding each run's files."""
    out: dict[tuple[int, int], list[Path]] = {}
    if len(files) == 0 or "path" not in files:
        return out
    row: Any
    for row in files.itertuples(index=False):
        if pd.isna(row.run) or pd.isna(row.experiment) or not isinstance(row.path, str):
            continue
        if "://" in row.path:
            continue
        p = Path(row.path)
        for parent in p.parents:
            m = _RUN_DIR.match(parent.name)
            if m and int(m.group(1)) == int(row.run):
                dirs = out.setdefault((int(row.experiment), int(row.run)), [])
                if parent not in dirs:
                    dirs.append(parent)
                break
    return out


def symlink_view(
    runs: pd.DataFrame, files: pd.DataFrame, out_dir: str | PathLike[str]
) -> dict[str, int]:
    """Materialize ``GoodRuns/``, ``BadRuns/`` and ``UglyRuns/`` as symlinks to run directories.

    Idempotent: links already right are kept, links of runs that changed category are moved,
    stale links removed. Only symlinks inside ``out_dir/<view>`` are created or removed; the data
    is never touched.

    Parameters
    ----------
    runs
        Runs table (``experiment, run, status, flagged, reasons``).
    files
        Files table (``path, experiment, run``): where the run directories are.
    out_dir
        Where the three view directories go.

    Returns
    -------
    dict
        Number of links per view directory name (plus ``removed`` and ``created``).

    Raises
    ------
    OutputError
        A non-symlink entry is in the way, or the links cannot be written.
    """
    out = Path(out_dir)
    cats = classify_runs(runs)
    dirs = _run_dirs(files)
    experiments = {e for e, _ in dirs}
    wanted: dict[Path, Path] = {}
    for (_, row), cat in zip(runs.iterrows(), cats, strict=True):
        if pd.isna(cat) or pd.isna(row["experiment"]):
            # run-only keys (profiles): no eEEEE/rRRRRR run directories to link to
            continue
        key = (int(row["experiment"]), int(row["run"]))
        for n, target in enumerate(dirs.get(key, [])):
            name = target.name if len(experiments) <= 1 else f"e{key[0]:04d}_{target.name}"
            if n:
                name = f"{name}.{n}"
            wanted[out / VIEWS[str(cat)] / name] = target.resolve()
    counts = dict.fromkeys(VIEWS.values(), 0) | {"created": 0, "removed": 0}
    try:
        for view in VIEWS.values():
            vdir = out / view
            vdir.mkdir(parents=True, exist_ok=True)
            for entry in vdir.iterdir():
                if entry in wanted:
                    continue
                if not entry.is_symlink():
                    raise OutputError(
                        "not a symlink, refusing to remove it",
                        path=entry,
                        hint="symlink views may only contain links",
                    )
                entry.unlink()
                counts["removed"] += 1
        for link, target in sorted(wanted.items()):
            if link.is_symlink():
                if link.readlink() == target:
                    counts[link.parent.name] += 1
                    continue
                link.unlink()
            elif link.exists():
                raise OutputError("not a symlink, refusing to replace it", path=link)
            link.symlink_to(target, target_is_directory=True)
            counts["created"] += 1
            counts[link.parent.name] += 1
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(
            f"cannot write the symlink view: {exc.strerror or exc}", path=exc.filename or out
        ) from None
    log.info("symlink view in %s: %s", out, counts)
    return counts
