"""Which attribute, column or regex gives each online quantity, per source.

A :class:`Mapping` holds one :class:`Fields` per source kind (``elog``, ``rundb``, ``daq``,
``table``). The built-in default, :data:`BELLE2`, names the Belle II "Beam run" logbook
attributes (``Exp number``, ``Run number``, ``Num events``, ``Category``, ``Type``, ``Subject``,
``JSTTime``) and the body line ``Integrated Luminosity : x`` (nb^-1). A TOML file overrides any
field::

    [elog]
    events = "Recorded events"
    lumi_regex = 'Lumi\\s*=\\s*(\\S+)'

    [table]
    experiment = "exp"
    run = "run"
    events = "num_events"
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from os import PathLike
from pathlib import Path
from typing import Any

from lumiaudit.errors import ConfigError, InputNotFoundError

__all__ = ["BELLE2", "Fields", "Mapping", "load_mapping"]

_SOURCES = ("elog", "rundb", "daq", "table")


@dataclass(frozen=True)
class Fields:
    """Names (and regexes) giving the online quantities in one kind of source.

    Each name field is a tuple of candidates, tried in order (names are compared after
    :func:`~lumiaudit.online.values.norm_key`, so ``Num events`` matches ``Num_events``). For
    JSON sources a name may be a dotted path (``statistics.lumi_recorded``).
    """

    experiment: tuple[str, ...] = ()
    run: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    events_full: tuple[str, ...] = ()
    run_type: tuple[str, ...] = ()
    entry_type: tuple[str, ...] = ()
    subject: tuple[str, ...] = ()
    lumi: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    date: tuple[str, ...] = ()
    #: Regex on the subject (or any text) giving the run number when the run field is empty.
    run_regex: str = r"\brun\s*[#:]?\s*r?0*(\d{1,9})\b"
    #: Regex on the subject giving the run type when the run type field is empty or unknown.
    run_type_regex: str = r"\b(physics|cosmics?|debug|calibration|null|beam)\b"
    #: Regexes on the entry text (markup stripped): the first group is the value.
    #: The whole rest of the line is the value: a unit after the number is read (``pb-1``) and
    #: anything else makes the luminosity missing with a problem, never half-read.
    lumi_regex: str = r"(?m)Integrated\s+Luminosity\s*:[ \t]*(.*?)[ \t]*$"
    start_regex: str = r"(?m)^\s*Start\s*:\s*(.+?)\s*$"
    stop_regex: str = r"(?m)^\s*Stop\s*:\s*(.+?)\s*$"
    #: Offset from UTC (hours) of times written without a zone.
    utc_offset_hours: float = 9.0

    @property
    def tz(self) -> timezone:
        """The time zone assumed for times without one."""
        return timezone(timedelta(hours=self.utc_offset_hours))


@dataclass(frozen=True)
class Mapping:
    """The field names of every source kind; :data:`BELLE2` is the default."""

    elog: Fields = field(default_factory=Fields)
    rundb: Fields = field(default_factory=Fields)
    daq: Fields = field(default_factory=Fields)
    table: Fields = field(default_factory=Fields)

    def for_source(self, kind: str) -> Fields:
        """Return the :class:`Fields` for ``kind`` (``elog``, ``rundb``, ``daq``, ``table``)."""
        fields: Fields = getattr(self, kind)
        return fields


BELLE2 = Mapping(
    elog=Fields(
        experiment=("Exp number", "Experiment"),
        run=("Run number", "Run"),
        events=("Num events", "Events"),
        run_type=("Category", "Run type"),
        entry_type=("Type",),
        subject=("Subject",),
        date=("JSTTime", "Date"),
    ),
    rundb=Fields(
        experiment=("experiment", "exp", "expno"),
        run=("run", "runno", "run_number"),
        events=(
            "statistics.nevents",
            "statistics.events_recorded",
            "statistics.nevents_recorded",
            "statistics.recorded",
            "nevents",
            "events",
        ),
        events_full=("statistics.nevents_full", "nfullevents"),
        run_type=("run_type", "runtype", "type"),
        lumi=("statistics.lumi_recorded", "lumi_recorded", "lumi"),
        start=("time_start", "start_time", "start"),
        stop=("time_stop", "stop_time", "stop"),
        date=("time_stop", "time_start"),
        utc_offset_hours=0.0,
    ),
    daq=Fields(
        experiment=("expno", "exp", "experiment"),
        run=("runno", "run"),
        events=("nevents", "n_events"),
        events_full=("nfullevents", "n_full_events"),
        run_type=("runtype", "run_type"),
        stop=("time_close",),
        utc_offset_hours=0.0,
    ),
    table=Fields(
        experiment=("experiment", "exp", "expno", "exp_number", "exp number"),
        run=("run", "runno", "run_number", "run number"),
        events=("n_online", "num_events", "nevents", "n_events", "events", "num events"),
        events_full=("n_online_full", "nfullevents"),
        run_type=("run_type", "runtype", "category"),
        lumi=("lumi_nb", "lumi", "lumi_recorded", "luminosity"),
        start=("start_time", "time_start", "start"),
        stop=("stop_time", "time_stop", "stop"),
        date=("entry_date", "date"),
        utc_offset_hours=0.0,
    ),
)


def _fields_from(base: Fields, spec: AbcMapping[str, Any], where: str) -> Fields:
    known = {f.name: f for f in dataclasses.fields(Fields)}
    changes: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in known:
            msg = f"unknown key {key!r} in [{where}]"
            raise ConfigError(msg, hint=f"known keys: {', '.join(sorted(known))}")
        default = getattr(base, key)
        if isinstance(default, tuple):
            names = (value,) if isinstance(value, str) else value
            if not isinstance(names, list | tuple) or not all(isinstance(v, str) for v in names):
                msg = f"[{where}] {key} must be a string or a list of strings"
                raise ConfigError(msg)
            changes[key] = tuple(names)
        elif isinstance(default, str):
            if not isinstance(value, str):
                msg = f"[{where}] {key} must be a string (a regular expression)"
                raise ConfigError(msg)
            try:
                pattern = re.compile(value)
            except re.error as exc:
                msg = f"[{where}] {key} is not a valid regex: {exc}"
                raise ConfigError(msg) from None
            if pattern.groups < 1:
                msg = f"[{where}] {key} needs one capturing group (...)"
                raise ConfigError(msg)
            changes[key] = value
        else:
            if not isinstance(value, int | float) or isinstance(value, bool):
                msg = f"[{where}] {key} must be a number"
                raise ConfigError(msg)
            changes[key] = float(value)
    return dataclasses.replace(base, **changes)


def load_mapping(
    spec: Mapping | AbcMapping[str, Any] | str | PathLike[str] | None,
) -> Mapping:
    """Return a :class:`Mapping` from a TOML file, a dict or ``None`` (the Belle II default).

    Keys given in the file or dict override the Belle II defaults of their section; sections are
    ``elog``, ``rundb``, ``daq`` and ``table``.

    Parameters
    ----------
    spec
        A :class:`Mapping`, a dict ``{"elog": {"events": "Nevt"}, ...}``, a path to a TOML
        file, or ``None``.

    Raises
    ------
    ConfigError
        Unknown section or key, wrong type, invalid regex or invalid TOML.
    InputNotFoundError
        The TOML file does not exist.

    Examples
    --------
    >>> load_mapping({"table": {"events": "nevt"}}).table.events
    ('nevt',)
    """
    if spec is None:
        return BELLE2
    if isinstance(spec, Mapping):
        return spec
    where = "mapping"
    if isinstance(spec, str | PathLike):
        path = Path(spec)
        where = str(path)
        if not path.is_file():
            msg = "mapping file not found"
            raise InputNotFoundError(msg, path=path)
        try:
            data: AbcMapping[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            msg = f"invalid TOML: {exc}"
            raise ConfigError(msg, path=path) from None
    else:
        data = spec
    sections: dict[str, Fields] = {}
    for name, value in data.items():
        if name not in _SOURCES:
            msg = f"{where}: unknown section [{name}]"
            raise ConfigError(msg, hint=f"sections: {', '.join(_SOURCES)}")
        if not isinstance(value, AbcMapping):
            msg = f"{where}: [{name}] must be a table of keys"
            raise ConfigError(msg)
        sections[name] = _fields_from(BELLE2.for_source(name), value, f"{where} [{name}]")
    return dataclasses.replace(BELLE2, **sections)
