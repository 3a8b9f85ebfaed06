"""The nightly audit: dated reports, a ``latest`` link, a lock, a diff against last night.

One run of :func:`run_nightly` (``lumiaudit nightly --config nightly.toml``, from cron):

1. takes a lock (``fcntl.flock`` on ``<reports>/.nightly.lock``) so two runs never overlap;
   a second run fails at once with a message naming the holder, or waits (``wait=True``);
2. executes the report notebook (:func:`lumiaudit.report.run_report`) into a new dated
   directory ``<reports>/YYYY-MM-DDTHHMMSSZ/`` with the count cache, so only new or changed
   files are read;
3. compares it with the previous night (the target of ``<reports>/latest``) through
   :func:`lumiaudit.store.history.diff_audits`: newly flagged, resolved, changed runs;
4. writes ``nightly.json`` (the diff, cache hits, exit code) into the dated directory and
   points ``latest`` at it.

Exit codes for alerting: 0 nothing new, 1 newly flagged runs that are not waived, 2 failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lumiaudit._version import __version__
from lumiaudit.errors import (
    ConfigError,
    LumiauditError,
    NightlyLockedError,
    OutputError,
    OutputRefusedError,
    ParameterError,
)
from lumiaudit.nightly_config import NightlyConfig, read_config
from lumiaudit.store.atomic import write_text
from lumiaudit.store.audit_dir import is_audit_dir
from lumiaudit.store.outdir import check_output, read_marker, write_marker

__all__ = [
    "EXIT_FAILURE",
    "EXIT_NEW_FLAGS",
    "EXIT_OK",
    "NightlyConfig",
    "NightlyResult",
    "read_config",
    "run_nightly",
]

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_NEW_FLAGS = 1
EXIT_FAILURE = 2

LOCK_NAME = ".nightly.lock"
LATEST = "latest"
RESULT_NAME = "nightly.json"


@dataclass(frozen=True)
class NightlyResult:
    """What one nightly run found.

    Attributes
    ----------
    report_dir
        Tonight's dated report directory.
    previous
        The previous night's directory, or ``None`` on the first night.
    newly_flagged, resolved, changed
        Runs (dicts) from :func:`lumiaudit.store.history.diff_audits`; ``newly_flagged`` holds the
        runs that are not waived (those are what alerts).
    waived
        Newly flagged runs that are waived (reported, not alerted on).
    cache
        ``{"files", "hits", "counted"}``: files of tonight's audit, found in the count cache,
        read tonight.
    exit_code
        0 nothing new, 1 new flags.
    diff_skipped
        Why there is no diff against the previous night (its report is damaged), or ``None``.
    """

    report_dir: Path
    previous: Path | None
    newly_flagged: list[dict[str, Any]]
    resolved: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    waived: list[dict[str, Any]]
    cache: dict[str, Any]
    exit_code: int
    diff_skipped: str | None = None


# ------------------------------------------------------------------------------ lock


@contextlib.contextmanager
def _locked(reports: Path, *, wait: bool, poll: float = 1.0) -> Iterator[None]:
    """Hold ``<reports>/.nightly.lock`` (flock: released by the kernel if the process dies)."""
    path = reports / LOCK_NAME
    with path.open("a+", encoding="utf-8") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown process"
                    msg = f"another nightly run holds the lock ({holder})"
                    raise NightlyLockedError(
                        msg,
                        path=path,
                        hint="it is still running; try later or use --wait",
                    ) from None
                log.info("waiting for the nightly lock %s", path)
                time.sleep(poll)
        handle.seek(0)
        handle.truncate()
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        handle.write(f"pid {os.getpid()} since {stamp}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# ------------------------------------------------------------------------------ pieces


def _dated_dir(reports: Path, now: datetime) -> Path:
    stem = now.astimezone(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    candidate = reports / stem
    n = 1
    while candidate.exists():
        candidate = reports / f"{stem}-{n}"
        n += 1
    return candidate


def _previous(reports: Path) -> Path | None:
    link = reports / LATEST
    if link.is_symlink() or link.is_dir():
        target = link.resolve()
        if is_audit_dir(target):  # runs.csv or runs.parquet (--table-format)
            return target
        log.warning("%s does not point at an audit directory; no diff tonight", link)
    return None


def _point_latest(reports: Path, target: Path) -> None:
    link = reports / LATEST
    tmp = reports / f".{LATEST}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target.name)  # relative: the reports directory can move
    tmp.replace(link)


def _cache_counts(cache: Path, paths: Sequence[str], since: float) -> dict[str, Any]:
    """Files of tonight's audit that came from the count cache, and those read tonight.

    A cache row stored before tonight's run started and still there afterwards was used
    as is: a changed file is recounted and its row replaced (``stored_at`` is then tonight).
    """
    out: dict[str, Any] = {"files": len(paths), "hits": None, "counted": None}
    if not cache.is_file():
        return out
    try:
        db = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
        try:
            stored: dict[str, float] = {}
            unique = list(dict.fromkeys(paths))
            for start in range(0, len(unique), 500):
                batch = unique[start : start + 500]
                marks = ",".join("?" * len(batch))
                for path, stored_at in db.execute(
                    f"SELECT path, MAX(stored_at) FROM records WHERE path IN ({marks}) "
                    "GROUP BY path",
                    batch,
                ):
                    stored[path] = stored_at
        finally:
            db.close()
    except sqlite3.Error as exc:
        log.warning("cannot read the count cache %s: %s", cache, exc)
        return out
    out["hits"] = sum(1 for p in paths if p in stored and stored[p] < since)
    out["counted"] = sum(1 for p in paths if p in stored and stored[p] >= since)
    return out


def _part(diff: Any, name: str) -> Any:
    """A part of diff_audits' result (a dataclass, or a dict by its first contract)."""
    return diff.get(name) if isinstance(diff, Mapping) else getattr(diff, name, None)


def _records(value: Any) -> list[dict[str, Any]]:
    """diff_audits values as a list of JSON-able dicts (it may return frames or lists)."""
    import pandas as pd

    if value is None:
        return []
    if isinstance(value, pd.DataFrame):
        frame = value.astype(object).where(value.notna(), None)
        return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
    out: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, Mapping):
            out.append({str(k): _plain(v) for k, v in item.items()})
        elif isinstance(item, tuple | list) and len(item) == 2:
            out.append({"experiment": _plain(item[0]), "run": _plain(item[1])})
        else:
            out.append({"run": _plain(item)})
    return out


def _plain(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float | int | str | bool):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _waived_runs(runs: Any) -> set[tuple[int | None, int]]:
    if "waived" not in runs.columns:
        return set()
    waived = runs["waived"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return {(_exp(e), int(r)) for e, r in runs.loc[waived, ["experiment", "run"]].to_numpy()}


def _exp(value: Any) -> int | None:
    """The experiment of a key; None for a run-only key (profile), never a made-up number."""
    import pandas as pd

    return None if value is None or pd.isna(value) else int(value)


def _key(row: Mapping[str, Any]) -> tuple[int | None, int] | None:
    try:
        return _exp(row["experiment"]), int(row["run"])
    except (KeyError, TypeError, ValueError):
        return None


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def _prepare_reports(cfg: NightlyConfig) -> None:
    """Check and create the reports directory (a lumiaudit output of kind ``nightly``).

    A directory holding the lock file of an earlier nightly run (written before the marker
    existed) is taken as lumiaudit's own; the marker is written once the lock is held
    (:func:`_mark_reports`), so a run refused by the lock changes nothing.
    """
    reports = cfg.reports
    inputs = [*cfg.online, *cfg.offline, *([] if cfg.waivers is None else [str(cfg.waivers)])]
    check_output(
        reports, kind="nightly", inputs=inputs, what="reports directory", adopt_if=LOCK_NAME
    )
    link = reports / LATEST
    if link.exists() and not link.is_symlink():
        msg = "not a symlink; lumiaudit moves only the link it made"
        raise OutputRefusedError(
            msg,
            path=link,
            hint="remove it or choose another reports directory",
        )
    try:
        reports.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create the reports directory: {exc.strerror}"
        raise OutputError(msg, path=reports) from exc


def _check_parameters(cfg: NightlyConfig, options: Mapping[str, Any]) -> None:
    """The notebook parameters of tonight's report, checked as ``run_report`` will check them.

    Raises
    ------
    ConfigError
        Naming the configuration file, for anything :func:`lumiaudit.report.validate_parameters`
        refuses (an unknown name, a bad value, a missing input, a cache that is not one).
    """
    from lumiaudit.report import validate_parameters

    params = {"online": list(cfg.online), "offline": list(cfg.offline), **options}
    try:
        validate_parameters(cfg.notebook, params)
    except (ParameterError, OutputError) as exc:
        where = f"{cfg.path}: " if cfg.path is not None else ""
        msg = f"{where}[audit]: {exc}"
        raise ConfigError(msg) from exc


def _mark_reports(reports: Path) -> None:
    if read_marker(reports) is None:
        write_marker(reports, "nightly")


def _diff(previous: Path, out: Path) -> tuple[Any, str | None]:
    """diff_audits(previous, out), or (None, why) when the previous report is damaged."""
    from lumiaudit.store.history import diff_audits

    try:
        return diff_audits(previous, out), None
    except LumiauditError as exc:
        log.warning("no diff tonight: the previous report is damaged: %s", exc)
        return None, str(exc)


# ------------------------------------------------------------------------------ the run


def run_nightly(
    config: NightlyConfig | str | os.PathLike[str],
    *,
    wait: bool = False,
    now: datetime | None = None,
    progress: bool = False,
) -> NightlyResult:
    """Run tonight's audit into a dated directory and compare it with the previous night.

    Parameters
    ----------
    config
        A :class:`NightlyConfig` or the path of a TOML configuration.
    wait
        If another nightly run holds the lock, wait for it instead of failing.
    now
        The time naming the dated directory (default: now, UTC).
    progress
        papermill's progress bar on stderr.

    Returns
    -------
    NightlyResult
        ``exit_code`` 1 when runs are newly flagged and not waived, else 0.

    Raises
    ------
    NightlyLockedError
        Another run holds the lock and ``wait`` is false.
    ConfigError
        The configuration is invalid (also for a bad ``[audit]`` parameter).
    ReportError
        The report notebook failed (the partial report stays in the dated directory, with
        ``nightly.json`` saying so; ``latest`` is not moved).
    """
    from lumiaudit.report import run_report

    cfg = config if isinstance(config, NightlyConfig) else read_config(config)
    cache = cfg.cache or cfg.reports / "counts.sqlite"
    options = dict(cfg.audit)
    if cfg.waivers is not None:
        options["waivers"] = str(cfg.waivers)
    _check_parameters(cfg, {"cache": str(cache), **options})  # before anything is created
    _prepare_reports(cfg)
    with _locked(cfg.reports, wait=wait):
        _mark_reports(cfg.reports)
        previous = _previous(cfg.reports)
        out = _dated_dir(cfg.reports, now or datetime.now(UTC))
        started = time.time()
        record: dict[str, Any] = {
            "lumiaudit_version": __version__,
            "config": None if cfg.path is None else str(cfg.path),
            "started": datetime.fromtimestamp(started, UTC).isoformat(),
            "previous": None if previous is None else previous.name,
        }
        try:
            report = run_report(
                online=cfg.online,
                offline=cfg.offline,
                out=out,
                notebook=cfg.notebook,
                kernel_name=cfg.kernel,
                html=cfg.html,
                progress=progress,
                previous=previous,  # the report's first screen: what changed since last night
                cache=str(cache),
                **options,
            )
        except ParameterError as exc:
            where = f"{cfg.path}: " if cfg.path is not None else ""
            msg = f"{where}[audit]: {exc}"
            raise ConfigError(msg) from exc
        except LumiauditError as exc:
            if out.is_dir():
                record.update(status="failed", error=str(exc), exit_code=EXIT_FAILURE)
                _write_json(out / RESULT_NAME, record)
            raise
        from lumiaudit.store.audit_dir import read_tables

        tonight = read_tables(out, ["runs", "files"])
        files = tonight["files"]
        cache_counts = _cache_counts(cache, [str(p) for p in files["path"].dropna()], started)
        offline_stats = (report.summary or {}).get("offline_stats")
        if offline_stats:
            cache_counts["offline_stats"] = offline_stats
        diff, diff_skipped = (None, None) if previous is None else _diff(previous, out)
        if diff is not None:
            newly = _records(_part(diff, "newly_flagged"))
            resolved = _records(_part(diff, "resolved"))
            changed = _records(_part(diff, "changed"))
        else:  # first night, or last night unreadable: everything flagged alerts
            flagged = (report.summary or {}).get("flagged_runs", [])
            newly, resolved, changed = _records(flagged), [], []
        if diff_skipped is not None:
            record["diff_skipped"] = diff_skipped
        waived_keys = _waived_runs(tonight["runs"])
        waived = [r for r in newly if _key(r) in waived_keys]
        alerting = [r for r in newly if _key(r) not in waived_keys]
        exit_code = EXIT_NEW_FLAGS if alerting else EXIT_OK
        record.update(
            status="ok",
            finished=datetime.now(UTC).isoformat(),
            report=out.name,
            html=None if report.html is None else report.html.name,
            newly_flagged=alerting,
            waived=waived,
            resolved=resolved,
            changed=changed,
            cache=cache_counts,
            totals=(report.summary or {}).get("totals"),
            exit_code=exit_code,
        )
        _write_json(out / RESULT_NAME, record)
        _point_latest(cfg.reports, out)
        log.info(
            "nightly %s: %d newly flagged, %d resolved, %d changed",
            out.name,
            len(alerting),
            len(resolved),
            len(changed),
        )
        return NightlyResult(
            report_dir=out,
            previous=previous,
            newly_flagged=alerting,
            resolved=resolved,
            changed=changed,
            waived=waived,
            cache=cache_counts,
            exit_code=exit_code,
            diff_skipped=diff_skipped,
        )
