"""Waivers: a run accepted as it is, for a reason, by someone, until a date.

A waivers file is TOML (``[[waiver]]`` tables) or CSV, with the fields ``run`` (required),
``experiment`` (optional: any experiment), ``reason`` (a :class:`lumiaudit.schema.Reason` code,
or ``*`` / empty for any reason), ``note``, ``owner`` and ``expiry`` (ISO date, inclusive;
empty: never expires)::

    [[waiver]]
    run = 3044
    experiment = 10
    reason = "unexplained"
    note = "DAQ crate 7 lost events, ticket BII-1234"
    owner = "shifter@kek.jp"
    expiry = 2026-12-31

A waived run keeps its status and reasons, gets ``waived = True`` and the waiver text, and is no
longer ``flagged`` (so ``--fail-on-flagged`` passes) until the waiver expires.

This module is pure: :func:`parse_waivers` turns a file's text into the table and
:func:`apply_waivers` applies it; reading the file is :func:`lumiaudit.store.config.read_waivers`'
job, so the reconciliation, which applies waivers, never reaches file I/O.
"""

from __future__ import annotations

import csv
import logging
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit.errors import ConfigError
from lumiaudit.schema import Reason

__all__ = ["WAIVER_COLUMNS", "apply_waivers", "parse_waivers"]

log = logging.getLogger(__name__)

#: Columns of a waivers table.
WAIVER_COLUMNS: tuple[str, ...] = (
    "experiment",
    "run",
    "reason",
    "note",
    "owner",
    "expiry",
    "source",
)

_CODES = {r.value for r in Reason}


def _parse(record: dict[str, Any], path: Path, where: int | str) -> dict[str, Any]:
    def bad(msg: str) -> ConfigError:
        return ConfigError(msg, path=path, line=where, hint="see lumiaudit.waivers for the format")

    unknown = set(record) - {"experiment", "run", "reason", "note", "owner", "expiry"}
    if unknown:
        msg = f"unknown waiver field(s) {sorted(unknown)}"
        raise bad(msg)
    try:
        run = int(str(record.get("run", "")).strip())
    except ValueError:
        msg = f"waiver run must be an integer, not {record.get('run')!r}"
        raise bad(msg) from None
    exp_text = str(record.get("experiment", "") or "").strip()
    try:
        experiment = int(exp_text) if exp_text else None
    except ValueError:
        msg = f"waiver experiment must be an integer, not {exp_text!r}"
        raise bad(msg) from None
    reason = str(record.get("reason", "") or "").strip() or "*"
    if reason != "*" and reason not in _CODES:
        msg = f"unknown reason code {reason!r} (known: {', '.join(sorted(_CODES))}, or *)"
        raise bad(msg)
    raw = record.get("expiry", "")
    expiry: date | None
    if isinstance(raw, datetime):
        expiry = raw.date()
    elif isinstance(raw, date):
        expiry = raw
    elif raw is None or str(raw).strip() == "":
        expiry = None
    else:
        try:
            expiry = date.fromisoformat(str(raw).strip())
        except ValueError:
            msg = f"waiver expiry must be an ISO date (YYYY-MM-DD), not {raw!r}"
            raise bad(msg) from None
    return {
        "experiment": experiment,
        "run": run,
        "reason": reason,
        "note": str(record.get("note", "") or ""),
        "owner": str(record.get("owner", "") or ""),
        "expiry": expiry,
        "source": f"{path}:{where}",
    }


def parse_waivers(text: str, path: str | Path) -> pd.DataFrame:
    """The waivers table of a waivers file's text (TOML or CSV, by the extension of ``path``;
    otherwise TOML is tried first).

    Parameters
    ----------
    text
        The file's text (read by :func:`lumiaudit.store.config.read_waivers`).
    path
        The file, for the format and for messages and the ``source`` column.

    Returns
    -------
    DataFrame
        :data:`WAIVER_COLUMNS` (``experiment`` <NA> = any, ``reason`` ``*`` = any, ``expiry``
        a :class:`datetime.date` or None = never).

    Raises
    ------
    ConfigError
        A record is invalid (the message names file and line or entry).
    """
    p = Path(path)
    rows: list[dict[str, Any]] = []
    if p.suffix.lower() == ".csv" or (p.suffix.lower() != ".toml" and _looks_csv(text)):
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or "run" not in [f.strip() for f in reader.fieldnames]:
            msg = "CSV waivers need a header with a 'run' column"
            raise ConfigError(msg, path=p, line=1)
        for lineno, rec in enumerate(reader, start=2):
            clean = {k.strip(): (v or "").strip() for k, v in rec.items() if k is not None}
            if not any(clean.values()):
                continue
            rows.append(_parse(clean, p, lineno))
    else:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            msg = f"not valid TOML: {exc}"
            raise ConfigError(msg, path=p) from None
        entries = doc.get("waiver", doc.get("waivers", []))
        if not isinstance(entries, list):
            msg = "expected [[waiver]] tables"
            raise ConfigError(msg, path=p)
        for i, rec in enumerate(entries, start=1):
            if not isinstance(rec, dict):
                msg = "expected [[waiver]] tables"
                raise ConfigError(msg, path=p, line=f"waiver {i}")
            rows.append(_parse(rec, p, f"waiver {i}"))
    df = pd.DataFrame(rows, columns=list(WAIVER_COLUMNS))
    df["experiment"] = df["experiment"].astype("Int64")
    df["run"] = df["run"].astype("Int64")
    for col in ("reason", "note", "owner", "source"):
        df[col] = df[col].astype("string")
    log.info("%d waivers read from %s", len(df), p)
    return df


def _looks_csv(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return "," in first and "=" not in first and not first.startswith("[")


def apply_waivers(
    runs: pd.DataFrame, waivers: pd.DataFrame, *, today: date | None = None
) -> pd.DataFrame:
    """Mark the runs covered by an active waiver.

    A waiver covers a run when run (and experiment, if given) match, its reason is ``*`` or
    one of the run's reasons, and ``today`` is not after its expiry.

    Parameters
    ----------
    runs
        Runs table with ``experiment, run, reasons, flagged``.
    waivers
        From :func:`lumiaudit.store.config.read_waivers` (or :func:`parse_waivers`).
    today
        The date compared with expiries (default: today, UTC).

    Returns
    -------
    DataFrame
        ``runs`` with ``waived`` (boolean), ``waiver`` (``owner: note (until expiry)``) and
        ``flagged`` False where waived.
    """
    day = today or datetime.now(UTC).date()
    out = runs.copy()
    waived = [False] * len(out)
    text: list[str | None] = [None] * len(out)
    row: Any
    w: Any
    for i, row in enumerate(out.itertuples(index=False)):
        reasons = set(str(row.reasons).split(";")) if isinstance(row.reasons, str) else set()
        for w in waivers.itertuples(index=False):
            if int(w.run) != int(row.run):
                continue
            if not pd.isna(w.experiment) and (
                pd.isna(row.experiment) or int(w.experiment) != int(row.experiment)
            ):  # a run-only key's run has no experiment to match
                continue
            if w.reason != "*" and w.reason not in reasons:
                continue
            expiry = w.expiry if isinstance(w.expiry, date) else None
            if expiry is not None and day > expiry:
                log.info("waiver %s for run %s expired on %s", w.source, row.run, expiry)
                continue
            waived[i] = True
            until = f" (until {expiry.isoformat()})" if expiry else ""
            text[i] = f"{w.owner or 'unknown'}: {w.note or w.reason}{until}"
            break
    out["waived"] = pd.array(waived, dtype="boolean")
    out["waiver"] = pd.array(text, dtype="string")
    if "flagged" in out:
        out["flagged"] = out["flagged"].astype("boolean").mask(out["waived"], False)
    return out
