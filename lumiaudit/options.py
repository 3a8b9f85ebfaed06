"""The audit's options, declared once.

:class:`AuditOptions` is the single declaration of every knob of an audit: its type, default,
help text and validation. The Python API (:func:`lumiaudit.audit`), the command line
(:func:`click_options` builds the ``audit``/``report``/``demo`` options from it), the nightly
TOML ``[audit]`` table and notebook parameters (:meth:`AuditOptions.from_mapping`) are derived
from it, so a default or a help text cannot disagree between them.

>>> from lumiaudit.options import AuditOptions
>>> AuditOptions(mode="deep", jobs=2).mode
'deep'
>>> AuditOptions.from_mapping({"mode": "sideways"})
Traceback (most recent call last):
...
lumiaudit.errors.ParameterError: mode: 'sideways' is not one of auto, fast, deep
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lumiaudit.errors import ConfigError, ParameterError

__all__ = ["MODES", "POLICIES", "AuditOptions", "click_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: Counting modes (see docs/offline.md).
MODES = ("auto", "fast", "deep")

#: Which online entry wins when several name the same run (see docs/online.md).
POLICIES = ("latest", "first", "max", "error")


def _opt(
    help: str,
    *,
    choices: Iterable[str] | None = None,
    flag: str | None = None,
    metavar: str | None = None,
    minimum: float | None = None,
    cli: bool = True,
    toml: bool = True,
) -> dict[str, Any]:
    """Field metadata: how the option reads on the command line and in configuration files."""
    return {
        "help": help,
        "choices": None if choices is None else tuple(choices),
        "flag": flag,
        "metavar": metavar,
        "minimum": minimum,
        "cli": cli,
        "toml": toml,
    }


@dataclass(frozen=True, kw_only=True)
class AuditOptions:
    """Every option of an audit (counting, online reading, selection, statistics).

    The fields' metadata carry the help text shown by ``lumiaudit audit --help``; see
    :func:`click_options`. Paths may be given as strings; they are kept as :class:`~pathlib.Path`.

    Raises
    ------
    ParameterError
        If a value is out of range or not one of the allowed choices (the message names it).
    """

    profile: str | None = field(
        default=None,
        metadata=_opt(
            "Experiment profile: built-in name (belle2, belle2-raw, cms-nanoaod, generic) or "
            "TOML file (docs/profiles.md); default belle2.",
            metavar="NAME|FILE.toml",
        ),
    )
    tree: str | None = field(
        default=None,
        metadata=_opt("Name of the event tree. Default: the profile's (tree for Belle II)."),
    )
    golden: Path | None = field(
        default=None,
        metadata=_opt(
            'Golden JSON {"run": [[first_ls, last_ls], ...]}: lumisections outside are not '
            "audited (profiles with lumisections)."
        ),
    )
    mode: str = field(
        default="auto",
        metadata=_opt(
            "fast: tree entries only (cannot audit; for `count`); deep: also FileMetaData, "
            "run split and error flags of every file; auto: FileMetaData everywhere, events "
            "where they are needed.",
            choices=MODES,
        ),
    )
    jobs: int = field(
        default=1,
        metadata=_opt("Local workers (bounded by the number of files and CPUs).", minimum=1),
    )
    scheduler: str | None = field(
        default=None, metadata=_opt("Dask scheduler address (count on a cluster).")
    )
    cache: Path | None = field(
        default=None, metadata=_opt("SQLite count cache: reruns read only new or changed files.")
    )
    policy: str = field(
        default="latest",
        metadata=_opt("Which online entry wins when several name the same run.", choices=POLICIES),
    )
    mask: Path | None = field(
        default=None,
        metadata=_opt(
            "Run list (golden JSON, GRL XML, basf2 IoVs, JSON, CSV, text): audit only these runs."
        ),
    )
    mask_ls: str = field(
        default="refuse",
        metadata=_opt(
            "A --mask run certified for only some lumisections: refuse (error), or audit it "
            "whole (whole-runs; the runs are listed in summary.json and on stderr).",
            choices=("refuse", "whole-runs"),
        ),
    )
    runs: str | None = field(
        default=None,
        metadata=_opt(
            "Audit only these runs, e.g. '101-124,130,^127' or 'e12:101-124' "
            "(docs/runlists.md); files whose name gives another run are not opened.",
            metavar="SPEC",
        ),
    )
    waivers: Path | None = field(
        default=None,
        metadata=_opt("Waivers file (TOML or CSV): waived runs do not fail --fail-on-flagged."),
    )
    experiment: int | None = field(
        default=None, metadata=_opt("Audit only this experiment.", minimum=0)
    )
    include_skims: bool = field(
        default=False, metadata=_opt("Count skim files too (they are subsets).")
    )
    strict: bool = field(
        default=False, metadata=_opt("Any problem in the online input is fatal (exit 2).")
    )
    timeout: float | None = field(
        default=None,
        metadata=_opt("Seconds before one remote read is given up as io_error.", minimum=0.1),
    )
    retries: int = field(
        default=3,
        metadata=_opt(
            "Retries of a remote read that failed for a network/server reason (backoff 0.5 s, "
            "doubled each time); local files are read once.",
            minimum=0,
        ),
    )
    online_format: str | None = field(
        default=None,
        metadata=_opt("Format of the online sources (default: detected per file).", cli=False),
    )
    experiment_label: str | None = field(
        default=None, metadata=_opt("Text of the plot labels (default: Belle II e<N>).")
    )
    non_physics: tuple[str, ...] | None = field(
        default=None,
        metadata=_opt("Run types reported as NOT_AUDITED (default: the profile's).", cli=False),
    )

    def __post_init__(self) -> None:
        hints = _hints()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            checked = _check(f.name, value, hints[f.name], f.metadata)
            if checked is not value:
                object.__setattr__(self, f.name, checked)
        if self.runs is not None:
            from lumiaudit.runselect import RunSelection

            RunSelection.parse(self.runs)  # the grammar's error names the item

    # ------------------------------------------------------------------ derived forms
    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        source: str | os.PathLike[str] | None = None,
        base: str | os.PathLike[str] | None = None,
    ) -> AuditOptions:
        """Options from a mapping (a TOML ``[audit]`` table, notebook parameters).

        Parameters
        ----------
        data
            Option names to values; unknown names are an error.
        source
            The file the mapping came from (named in errors; they become :class:`ConfigError`).
        base
            Directory that relative paths are relative to (default: as given).

        Raises
        ------
        ParameterError
            For an unknown name or a bad value (:class:`ConfigError` when ``source`` is given).
        """
        known = {f.name for f in dataclasses.fields(cls) if f.metadata.get("toml", True)}
        unknown = sorted(set(data) - known)
        if unknown:
            _raise(
                f"unknown option {unknown[0]!r}",
                source,
                hint=f"known: {', '.join(sorted(known))}",
            )
        values = dict(data)
        if base is not None:
            for name, hint in _hints().items():
                if "Path" in str(hint) and isinstance(values.get(name), str):
                    values[name] = Path(base) / Path(values[name]).expanduser()
        try:
            return cls(**values)
        except ParameterError as exc:
            _raise(exc.message, source, hint=exc.hint)
            raise  # pragma: no cover - _raise always raises

    def replace(self, **changes: Any) -> AuditOptions:
        """A copy with some options changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (paths as strings), as written to ``summary.json``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def _raise(message: str, source: str | os.PathLike[str] | None, *, hint: str | None) -> None:
    if source is not None:
        raise ConfigError(f"[audit] {message}", path=source, hint=hint)
    raise ParameterError(message, hint=hint)


def _hints() -> dict[str, Any]:
    return typing.get_type_hints(AuditOptions)


def _check(name: str, value: Any, hint: Any, meta: Mapping[str, Any]) -> Any:
    """Validate (and normalise) one option value against its type hint and metadata."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if value is None:
        if optional:
            return None
        raise ParameterError(f"{name}: a value is required")
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    origin = typing.get_origin(base)
    if base is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"{name}: expected true or false, got {value!r}")
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{name}: expected an integer, got {value!r}")
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(f"{name}: expected a number, got {value!r}")
        value = float(value)
    elif base is str:
        if not isinstance(value, str):
            raise ParameterError(f"{name}: expected a string, got {value!r}")
    elif base is Path:
        if not isinstance(value, str | os.PathLike):
            raise ParameterError(f"{name}: expected a path, got {value!r}")
        value = value if isinstance(value, Path) else Path(value)
    elif origin is tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
            raise ParameterError(f"{name}: expected a list of strings, got {value!r}")
        value = tuple(items)
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ParameterError(f"{name}: {value!r} is not one of {', '.join(choices)}")
    minimum = meta.get("minimum")
    if minimum is not None and isinstance(value, int | float) and value < minimum:
        raise ParameterError(f"{name}: {value!r} is below the minimum {minimum:g}")
    return value


def click_options(*, exclude: Iterable[str] = ()) -> Callable[[F], F]:
    """A decorator adding one click option per :class:`AuditOptions` field.

    Defaults, choices, ranges and help texts come from the dataclass; the command receives
    the values as keyword arguments named like the fields (build the options with
    ``AuditOptions(**{k: v for k, v in kwargs.items() if k in names})``).
    """
    import click

    skip = set(exclude)
    hints = _hints()
    params: list[Callable[[Any], Any]] = []
    for f in dataclasses.fields(AuditOptions):
        meta = f.metadata
        if not meta.get("cli", True) or f.name in skip:
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        args = typing.get_args(hint)
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        kwargs: dict[str, Any] = {"help": meta["help"], "show_default": f.default is not None}
        if base is bool:
            params.append(click.option(flag, f.name, is_flag=True, help=meta["help"]))
            continue
        if meta.get("choices"):
            kwargs["type"] = click.Choice(list(meta["choices"]))
        elif base is int:
            kwargs["type"] = click.IntRange(min=meta.get("minimum"))
        elif base is float:
            kwargs["type"] = click.FloatRange(min=meta.get("minimum"))
        elif base is Path:
            kwargs["type"] = click.Path(dir_okay=False, path_type=Path)
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        params.append(click.option(flag, f.name, default=f.default, **kwargs))

    def decorate(func: F) -> F:
        for param in reversed(params):
            func = param(func)
        return func

    return decorate
