"""Profiles: one TOML file tells every command how an experiment names its data.

A :class:`Profile` holds the event tree and branch names, what "full" (error-free) events are,
the file-name grammar, whether the experiment is part of the run key, the lumisection branch
and tree, the online attribute names (a :mod:`lumiaudit.online.mapping` override), the
non-physics run types, the plot label and the thresholds. Built in (TOML files beside this
module): ``belle2`` (the default: lumiaudit's behaviour without a profile), ``belle2-raw``,
``cms-nanoaod`` and ``generic``.

>>> p = load_profile("cms-nanoaod")
>>> p.tree, p.key, p.lumis.branch if p.lumis else None
('Events', ('run',), 'luminosityBlock')
>>> load_profile(None) == load_profile("belle2")
True
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

from lumiaudit.errors import ConfigError, InputNotFoundError
from lumiaudit.reconcile.stats import Thresholds

__all__ = [
    "BRANCH_KEYS",
    "BUILTIN",
    "DEFAULT",
    "FULL",
    "KEYS",
    "NAME_GROUPS",
    "Lumis",
    "Profile",
    "dump_profile",
    "list_profiles",
    "load_profile",
]

#: The built-in profiles (``lumiaudit/profiles/<name>.toml``).
BUILTIN = ("belle2", "belle2-raw", "cms-nanoaod", "generic")

#: The profile used when none is given: today's Belle II behaviour.
DEFAULT = "belle2"

#: What ``n_full`` means: events with error flag 0 (basf2 ``m_errorFlag``, FileMetaData
#: ``m_nFullEvents``), every entry (formats without an error flag, e.g. NanoAOD), or unknown.
FULL = ("error_flag", "entries", "none")

#: Run keys: (experiment, run) as Belle II, or the run alone (CMS, most others).
KEYS = (("experiment", "run"), ("run",))

#: Branch roles a profile names (``""``: not in this format, not read).
BRANCH_KEYS = (
    "run",
    "experiment",
    "event",
    "error_flag",
    "persistent",
    "n_events",
    "n_full",
    "experiment_low",
    "experiment_high",
    "run_low",
    "run_high",
    "data_description",
    "release",
)

#: Named groups a file-name regex may capture (see :func:`lumiaudit.offline.grammar.parse_name`).
NAME_GROUPS = ("experiment", "run", "run_type", "hlt_unit", "file_index", "data_level", "skim")

_FOLLOWS = ("auto", "full", "entries")
_SOURCES = ("elog", "rundb", "daq", "table")


@dataclass(frozen=True)
class Lumis:
    """Where the lumisections are (CMS "luminosity blocks").

    Attributes
    ----------
    branch
        Per-event branch of the lumisection number in the event tree.
    tree
        Per-file tree with one entry per (run, lumisection) processed (NanoAOD
        ``LuminosityBlocks``); ``""`` if the format has none.
    online_column
        Column names of the lumisection in an online per-lumisection table (tried in order).
    tolerance
        Events a lumisection may lack offline before it is ``SHORT`` (default 0: exact).
    """

    branch: str
    tree: str = ""
    online_column: tuple[str, ...] = ("ls", "lumisection", "luminosityblock")
    tolerance: int = 0


@dataclass(frozen=True)
class Profile:
    """How one experiment's files and online sources name things (see the module docstring).

    Build one with :func:`load_profile`; ``dataclasses.replace`` derives variants.
    """

    name: str
    description: str = ""
    label: str = "Belle II"
    key: tuple[str, ...] = ("experiment", "run")
    tree: str = "tree"
    names: str = "belle2"
    full: str = "error_flag"
    branches: tuple[tuple[str, str], ...] = ()
    lumis: Lumis | None = None
    online: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    non_physics: tuple[str, ...] = ("cosmic", "debug", "null", "calibration", "beam")
    follows: str = "auto"
    thresholds: Thresholds | None = None
    #: Where the profile was read from (a built-in name or a path); not part of equality.
    source: str = field(default="", compare=False)

    @property
    def run_only(self) -> bool:
        """Whether the run alone is the key (the experiment stays ``<NA>``)."""
        return self.key == ("run",)

    def branch_names(self) -> dict[str, str]:
        """Branch roles for :func:`lumiaudit.offline.count_events` (``""``: not read)."""
        out = dict(self.branches)
        if self.run_only:
            out["experiment"] = out["experiment_low"] = out["experiment_high"] = ""
        return out

    def mapping(self) -> Any:
        """The online :class:`~lumiaudit.online.mapping.Mapping` (Belle II plus overrides)."""
        from lumiaudit.online.mapping import load_mapping

        spec = {src: {k: _thaw(v) for k, v in pairs} for src, pairs in self.online}
        return load_mapping(spec)

    def as_dict(self) -> dict[str, Any]:
        """The profile as TOML-shaped plain data (what :func:`dump_profile` writes)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "label": self.label,
            "key": list(self.key),
            "offline": {
                "tree": self.tree,
                "names": self.names,
                "full": self.full,
                "branches": dict(self.branches),
            },
        }
        if self.lumis is not None:
            out["lumis"] = {
                "branch": self.lumis.branch,
                "tree": self.lumis.tree,
                "online_column": list(self.lumis.online_column),
                "tolerance": self.lumis.tolerance,
            }
        if self.online:
            out["online"] = {src: {k: _thaw(v) for k, v in pairs} for src, pairs in self.online}
        out["audit"] = {"non_physics": list(self.non_physics), "follows": self.follows}
        if self.thresholds is not None:
            out["thresholds"] = self.thresholds.as_dict()
        return out


def _thaw(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# ------------------------------------------------------------------------------ loading


class _Reader:
    """Validates one TOML document; every error names the file and the dotted key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"profile key {key!r}: {message}", path=self.where, hint=hint)

    def table(self, data: Any, key: str, known: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(key, "must be a table")
        for name in data:
            if name not in known:
                dotted = f"{key}.{name}" if key else name
                msg = f"unknown profile key {dotted!r}"
                raise ConfigError(
                    msg,
                    path=self.where,
                    hint=f"known keys{f' in [{key}]' if key else ''}: {', '.join(known)}",
                )
        return dict(data)

    def string(self, data: Mapping[str, Any], key: str, default: str, *, empty: bool) -> str:
        value = data.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {value!r}")
        if not empty and not value:
            raise self.fail(key, "must not be empty")
        return value

    def strings(
        self, data: Mapping[str, Any], key: str, default: tuple[str, ...]
    ) -> tuple[str, ...]:
        value = data.get(key.rsplit(".", 1)[-1], list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of non-empty strings, got {value!r}")
        return tuple(value)

    def choice(
        self, data: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...]
    ) -> str:
        value = self.string(data, key, default, empty=False)
        if value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return value


def _names(reader: _Reader, value: str) -> str:
    """Validate the file-name grammar: ``belle2``, ``none`` or a regex with named groups."""
    if value in ("belle2", "none"):
        return value
    try:
        pattern = re.compile(value)
    except re.error as exc:
        msg = "offline.names"
        raise reader.fail(msg, f"not a valid regular expression: {exc}") from None
    groups = set(pattern.groupindex)
    unknown = {g for g in groups - set(NAME_GROUPS) if not re.fullmatch(r"run_\d+", g)}
    if not groups or unknown:
        msg = "offline.names"
        raise reader.fail(
            msg,
            "a regex needs named groups (?P<run>...) among "
            + ", ".join(NAME_GROUPS)
            + " (or run_1, run_2, ...)"
            + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else ""),
        )
    return value


def _thresholds(reader: _Reader, data: Any) -> Thresholds:
    fields = {f.name: f for f in dataclasses.fields(Thresholds)}
    spec = reader.table(data, "thresholds", tuple(fields))
    values: dict[str, Any] = {}
    for key, value in spec.items():
        kind = type(getattr(Thresholds(), key))
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"thresholds.{key}"
            raise reader.fail(msg, f"must be a number, got {value!r}")
        if kind is int and not isinstance(value, int):
            msg = f"thresholds.{key}"
            raise reader.fail(msg, f"must be an integer, got {value!r}")
        if value < 0:
            msg = f"thresholds.{key}"
            raise reader.fail(msg, f"must be 0 or more, got {value!r}")
        if key == "rel_floor" and value == 0:
            # the smallest spread of the robust z (docs/statistics.md): 0 would divide by 0
            msg = "thresholds.rel_floor"
            raise reader.fail(msg, "must be more than 0", hint="e.g. 0.0001")
        values[key] = kind(value)
    return Thresholds(**values)


def _online(reader: _Reader, data: Any) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    from lumiaudit.online.mapping import load_mapping

    spec = reader.table(data, "online", _SOURCES)
    try:  # the mapping's own validation (key names, types, regexes)
        load_mapping(spec)
    except ConfigError as exc:
        msg = f"[online]: {exc.message}"
        raise ConfigError(msg, path=reader.where, hint=exc.hint) from None
    return tuple(
        (src, tuple((k, _freeze(v)) for k, v in sorted(dict(spec[src]).items())))
        for src in _SOURCES
        if src in spec
    )


def profile_from_dict(data: Mapping[str, Any], *, where: str = "profile") -> Profile:
    """Build and validate a :class:`Profile` from TOML-shaped data.

    Raises
    ------
    ConfigError
        An unknown key (named with its section), a value of the wrong type or an inconsistent
        combination (a run-only key with a grammar that captures the experiment).
    """
    r = _Reader(where)
    top = r.table(
        data,
        "",
        (
            "name",
            "description",
            "label",
            "key",
            "offline",
            "lumis",
            "online",
            "audit",
            "thresholds",
        ),
    )
    name = r.string(top, "name", "", empty=False)
    key = r.strings(top, "key", ("experiment", "run"))
    if key not in KEYS:
        msg = "key"
        raise r.fail(msg, f"{list(key)} is not one of {', '.join(str(list(k)) for k in KEYS)}")
    off = r.table(top.get("offline", {}), "offline", ("tree", "names", "full", "branches"))
    tree = r.string(off, "offline.tree", "tree", empty=False)
    names = _names(r, r.string(off, "offline.names", "belle2", empty=False))
    full = r.choice(off, "offline.full", "error_flag", FULL)
    from lumiaudit.offline.count import DEFAULT_BRANCHES

    given = r.table(off.get("branches", {}), "offline.branches", BRANCH_KEYS)
    branches = {**DEFAULT_BRANCHES, "event": "EventMetaData/m_event"}
    for role in given:
        branches[role] = r.string(given, f"offline.branches.{role}", "", empty=True)
    if key == ("run",) and (names == "belle2" or "experiment" in re.compile(names).groupindex):
        msg = "key"
        raise r.fail(
            msg,
            "a run-only key needs a file-name grammar without the experiment",
            hint='set offline.names = "none" or a regex without (?P<experiment>...)',
        )
    if full == "error_flag" and not branches["error_flag"] and not branches["n_full"]:
        msg = "offline.full"
        raise r.fail(msg, "'error_flag' needs an error_flag or n_full branch")
    lumis = None
    if "lumis" in top:
        ls = r.table(top["lumis"], "lumis", ("branch", "tree", "online_column", "tolerance"))
        tolerance = ls.get("tolerance", 0)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
            msg = "lumis.tolerance"
            raise r.fail(msg, f"must be an integer >= 0, got {tolerance!r}")
        lumis = Lumis(
            branch=r.string(ls, "lumis.branch", "", empty=False),
            tree=r.string(ls, "lumis.tree", "", empty=True),
            online_column=r.strings(ls, "lumis.online_column", Lumis("x").online_column),
            tolerance=tolerance,
        )
    aud = r.table(top.get("audit", {}), "audit", ("non_physics", "follows"))
    return Profile(
        name=name,
        description=r.string(top, "description", "", empty=True),
        label=r.string(top, "label", "", empty=True),
        key=key,
        tree=tree,
        names=names,
        full=full,
        branches=tuple(sorted(branches.items())),
        lumis=lumis,
        online=_online(r, top.get("online", {})),
        non_physics=tuple(
            v.lower() for v in r.strings(aud, "audit.non_physics", Profile("x").non_physics)
        ),
        follows=r.choice(aud, "audit.follows", "auto", _FOLLOWS),
        thresholds=None if "thresholds" not in top else _thresholds(r, top["thresholds"]),
        source=where,
    )


def _builtin_text(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def load_profile(spec: Profile | str | PathLike[str] | None) -> Profile:
    """Return a :class:`Profile` from a built-in name, a TOML path, or ``None`` (``belle2``).

    Parameters
    ----------
    spec
        A :class:`Profile` (returned as is), the name of a built-in (:data:`BUILTIN`), or the
        path of a TOML file (anything ending in ``.toml`` or containing a ``/``).

    Raises
    ------
    ConfigError
        Unknown built-in name, invalid TOML, unknown key or bad value (one line naming the file
        and the key).
    InputNotFoundError
        The TOML file does not exist.

    Examples
    --------
    >>> load_profile("generic").run_only
    True
    """
    if isinstance(spec, Profile):
        return spec
    if spec is None:
        spec = DEFAULT
    text_spec = str(spec)
    if isinstance(spec, str) and spec in BUILTIN:
        where, text = spec, _builtin_text(spec)
    elif isinstance(spec, PathLike) or text_spec.endswith(".toml") or "/" in text_spec:
        path = Path(spec)
        where = str(path)
        if not path.is_file():
            msg = "profile file not found"
            raise InputNotFoundError(msg, path=path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            msg = f"not UTF-8 text (byte {exc.start})"
            raise ConfigError(msg, path=path) from None
        except OSError as exc:
            msg = f"cannot read the profile: {exc.strerror}"
            raise ConfigError(msg, path=path) from None
    else:
        msg = f"unknown profile {text_spec!r}"
        raise ConfigError(
            msg,
            hint=f"built in: {', '.join(BUILTIN)}; or give the path of a .toml file",
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"invalid TOML: {exc}"
        raise ConfigError(msg, path=where) from None
    return profile_from_dict(data, where=where)


def list_profiles() -> list[Profile]:
    """The built-in profiles, in :data:`BUILTIN` order."""
    return [load_profile(name) for name in BUILTIN]


# ------------------------------------------------------------------------------ writing


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    msg = f"cannot write {value!r} as TOML"
    raise TypeError(msg)  # pragma: no cover - profiles hold none


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else _toml_escape(c) for c in escaped)
    return f'"{escaped}"'


def _toml_tables(data: Mapping[str, Any], prefix: str, lines: list[str]) -> None:
    plain = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    if prefix and (plain or not tables):
        lines.append(f"\n[{prefix}]")
    for k, v in plain.items():
        lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    for k, v in tables.items():
        _toml_tables(v, f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k), lines)


def _toml_escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def dump_profile(profile: Profile) -> str:
    """The profile as TOML text; :func:`load_profile` reads it back to an equal profile.

    Examples
    --------
    >>> import tomllib
    >>> p = load_profile("cms-nanoaod")
    >>> profile_from_dict(tomllib.loads(dump_profile(p))) == p
    True
    """
    lines = [
        f"# lumiaudit profile {profile.name!r}"
        + (f" (from {profile.source})" if profile.source else "")
    ]
    _toml_tables(profile.as_dict(), "", lines)
    return "\n".join(lines) + "\n"
