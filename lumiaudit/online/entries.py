"""Raw entries as readers see them, and their reading into canonical online values.

Every reader turns its input into :class:`RawEntry` objects (attribute name -> typed text, plus
the entry text); :func:`interpret` then applies a :class:`~lumiaudit.online.mapping.Fields` to
get experiment, run, count, run type, luminosity and times, recording why a value is missing.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lumiaudit.online.mapping import Fields
from lumiaudit.online.values import (
    DATE_MAX,
    DATE_MIN,
    _show,
    date_in_range,
    norm_key,
    parse_count,
    parse_elog_date,
    parse_experiment,
    parse_lumi,
    parse_run,
    parse_time,
    strip_markup,
)

__all__ = ["Problems", "RawEntry", "interpret"]

log = logging.getLogger(__name__)

_RUN_TYPES = {
    "physics": "physics",
    "cosmic": "cosmic",
    "cosmics": "cosmic",
    "debug": "debug",
    "null": "null",
    "calibration": "calibration",
    "beam": "beam",
    "beam study": "beam",
    "beam_study": "beam",
}


class Problems:
    """Collector of input problems (``schema.PROBLEMS`` rows)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def add(self, source: str, line: int | str, reason: str, text: str = "") -> None:
        """Record one problem at ``source:line``."""
        short = " ".join(str(text)[:400].split())
        if len(short) > 120:
            short = short[:117] + "..."
        self.rows.append({"source": source, "line": str(line), "reason": reason, "text": short})
        log.info("%s:%s: %s", source, line, reason)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class RawEntry:
    """One logbook entry or table row before interpretation.

    ``attrs`` maps normalised names (:func:`~lumiaudit.online.values.norm_key`) to the typed
    text; ``source_line`` is what the online table shows (``MID 34`` or a line number) and
    ``line`` is where problems point to (a line number when known).
    """

    source: str
    source_line: str
    line: str
    entry_id: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    encoding: str | None = None
    #: Line number of each attribute, when the format has lines (day files, Raw).
    attr_lines: dict[str, int] = field(default_factory=dict)


@functools.lru_cache(maxsize=256)
def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


_LETTERS = re.compile(r"[A-Za-z]{3}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _lookup(attrs: dict[str, str], names: tuple[str, ...]) -> tuple[str | None, str | None]:
    for name in names:
        key = norm_key(name)
        if key in attrs:
            return attrs[key], name
    return None, None


def _line(raw: RawEntry, name: str | None) -> str:
    if name is not None and norm_key(name) in raw.attr_lines:
        return str(raw.attr_lines[norm_key(name)])
    return raw.line


def _reportable(reason: str | None) -> bool:
    """Empty and "n/a"-like values are plainly missing; anything else unreadable is a problem."""
    if reason is None or reason in {"empty", "absent"}:
        return False
    return not reason.startswith("marked as not available")


def _run_type(value: str | None, subject: str | None, fields: Fields, *, free: bool) -> str | None:
    if value is not None and value.strip():
        low = " ".join(value.strip().lower().split())
        if low in _RUN_TYPES:
            return _RUN_TYPES[low]
        if free:
            return low
    if subject:
        m = _rx(fields.run_type_regex, re.IGNORECASE).search(subject)
        if m:
            low = m.group(1).lower()
            return _RUN_TYPES.get(low, low)
    return None


def _date(text: str | None, fields: Fields) -> datetime | None:
    if text is None or not text.strip():
        return None
    if _LETTERS.search(text) and not _ISO_DATE.search(text):
        return parse_elog_date(text)
    return parse_time(text, default_tz=fields.tz)


def _checked_date(
    text: str | None,
    fields: Fields,
    problems: Problems,
    *,
    where: tuple[str, str],
    what: str,
) -> datetime | None:
    """:func:`_date`, but a date pandas cannot hold is missing with a problem at ``where``."""
    value = _date(text, fields)
    if date_in_range(value):
        return value
    problems.add(
        where[0],
        where[1],
        f"{what} {_show(text or '')} date out of range (readable: {DATE_MIN:%Y-%m-%d} to "
        f"{DATE_MAX:%Y-%m-%d}); left empty",
        text or "",
    )
    return None


def _quality(attrs: dict[str, str]) -> str | None:
    """RunDB ``quality_<detector>`` flags as ``svd=good;cdc=bad`` (empty ones left out)."""
    flags = [f"{k[8:]}={v}" for k, v in attrs.items() if k.startswith("quality_") and v]
    return ";".join(flags) or None


def interpret(
    raw: RawEntry, fields: Fields, problems: Problems, *, kind: str, seq: int
) -> dict[str, Any] | None:
    """Read the online values of one raw entry.

    Parameters
    ----------
    raw
        The entry.
    fields
        Which attributes/columns/regexes to use.
    problems
        Collector for unreadable values.
    kind
        ``elog`` (entries without a run are ordinary logbook entries, skipped silently) or a
        table-like source (a row without a run is a problem).
    seq
        Reading order, the last tie-breaker of the ``latest`` policy.

    Returns
    -------
    dict or None
        The entry row, or ``None`` when the entry names no run.
    """
    attrs = raw.attrs
    where = f"{raw.source}:{raw.line}"
    label = f"MID {raw.entry_id}" if kind == "elog" else f"record {raw.entry_id}"
    subject, _ = _lookup(attrs, fields.subject)
    run_text, run_name = _lookup(attrs, fields.run)
    run, run_reason = parse_run(run_text)
    if run is None and subject:
        m = _rx(fields.run_regex, re.IGNORECASE).search(subject)
        if m:
            run = int(m.group(1))
    if run is None:
        if run_text is not None and run_text.strip() and run_reason:
            problems.add(
                raw.source,
                _line(raw, run_name),
                f"{label}: {run_name}: {run_reason}; entry skipped",
                run_text,
            )
        elif kind == "elog":
            log.debug("%s: %s names no run (not a run entry)", where, label)
        else:
            problems.add(
                raw.source, raw.line, f"{label}: no run number; row skipped", run_text or ""
            )
        return None
    exp_text, _ = _lookup(attrs, fields.experiment)
    experiment, exp_reason = parse_experiment(exp_text)
    if experiment is None and fields.experiment:  # a run-only key (profile) names none
        problems.add(
            raw.source, raw.line, f"{label}: run {run}: experiment {exp_reason}", exp_text or ""
        )
    count_text, count_name = _lookup(attrs, fields.events)
    n_online, count_reason = parse_count(count_text)
    problem = None
    reported = False
    if n_online is None:
        problem = f"{count_name or 'event count'} {count_reason}"
        if _reportable(count_reason):
            reported = True
            problems.add(
                raw.source,
                _line(raw, count_name),
                f"{label}: run {run}: {problem}; count left empty",
                count_text or "",
            )
    full_text, full_name = _lookup(attrs, fields.events_full)
    n_full, full_reason = parse_count(full_text)
    if n_full is None and _reportable(full_reason):
        problems.add(
            raw.source,
            _line(raw, full_name),
            f"{label}: run {run}: {full_name} {full_reason}; left empty",
            full_text or "",
        )
    type_text, _ = _lookup(attrs, fields.run_type)
    run_type = _run_type(type_text, subject, fields, free=kind != "elog")
    body = raw.text
    if body and (raw.encoding or "").lower() != "plain":
        body = strip_markup(body)
    lumi_text, _ = _lookup(attrs, fields.lumi)
    if lumi_text is None and body:
        m = _rx(fields.lumi_regex).search(body)
        lumi_text = m.group(1) if m else None
    lumi, lumi_reason = parse_lumi(lumi_text)
    if lumi is None and lumi_text is not None and _reportable(lumi_reason):
        problems.add(
            raw.source, raw.line, f"{label}: run {run}: luminosity {lumi_reason}", lumi_text
        )
    times = []
    for what, names, regex in (
        ("start", fields.start, fields.start_regex),
        ("stop", fields.stop, fields.stop_regex),
    ):
        text, name = _lookup(attrs, names)
        if text is None and body:
            m = _rx(regex).search(body)
            text = m.group(1) if m else None
        times.append(
            _checked_date(
                text,
                fields,
                problems,
                where=(raw.source, _line(raw, name)),
                what=f"{label}: run {run}: {what}",
            )
        )
    date_text, date_name = _lookup(attrs, fields.date)
    entry_date = _checked_date(
        date_text,
        fields,
        problems,
        where=(raw.source, _line(raw, date_name)),
        what=f"{label}: run {run}: {date_name or 'date'}",
    )
    entry_type, _ = _lookup(attrs, fields.entry_type)
    return {
        "experiment": experiment,
        "run": run,
        "run_type": run_type,
        "n_online": n_online,
        "n_online_full": n_full,
        "lumi_nb": lumi,
        "start_time": times[0],
        "stop_time": times[1],
        "source": raw.source,
        "source_line": raw.source_line,
        "entry_id": raw.entry_id,
        "entry_date": entry_date,
        "entry_type": entry_type if entry_type else None,
        "count_text": count_text,
        "problem": problem,
        "quality": _quality(attrs) if kind == "rundb" else None,
        "reported": reported,
        "line": _line(raw, count_name),
        "seq": seq,
    }
