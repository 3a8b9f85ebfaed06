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
import operator
import os
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lumiaudit.errors import ConfigError, ParameterError
from lumiaudit.reconcile.stats import Thresholds

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
    short: str | None = None,
    metavar: str | None = None,
    minimum: float | None = None,
    exists: bool = False,
    default_text: str | None = None,
    cli: bool = True,
    toml: bool = True,
) -> dict[str, Any]:
    """Field metadata: how the option reads on the command line and in configuration files.

    ``exists`` (paths): the file must exist; ``default_text``: the default shown by ``--help``
    when the field's default (None) means "decided later"; ``cli``/``toml``: whether the
    option has a command-line flag / may be given in a TOML table or as a notebook parameter.
    """
    return {
        "help": help,
        "choices": None if choices is None else tuple(choices),
        "flag": flag,
        "short": short,
        "metavar": metavar,
        "minimum": minimum,
        "exists": exists,
        "default_text": default_text,
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
    lumi: Path | None = field(
        default=None,
        metadata=_opt(
            "Luminosity file, brilcalc CSV or the basf2 luminosity SQLite (RunLumi table): "
            "each run's recorded luminosity, in nb^-1, replaces the online lumi_nb "
            "(docs/profiles.md).",
            exists=True,
            metavar="FILE",
        ),
    )
    mode: str = field(
        default="auto",
        metadata=_opt(
            "auto: FileMetaData and error-free counts, events read where a file spans "
            "runs; deep: events of every file; fast (entries only) is refused by audit/report: "
            "it cannot measure what the comparison needs.",
            choices=MODES,
        ),
    )
    jobs: int = field(
        default=1,
        metadata=_opt(
            "Local worker processes (never more than the local files or usable CPUs).",
            short="-j",
            minimum=1,
        ),
    )
    scheduler: str | None = field(
        default=None, metadata=_opt("Dask scheduler address (count on a cluster).")
    )
    cluster: str | None = field(
        default=None,
        metadata=_opt(
            "Count on a Dask cluster started for this run: condor:N or slurm:N (N batch jobs; "
            "the [batch] extra) or local:N (N local worker processes); "
            "docs/batch.md.",
            metavar="KIND:N",
        ),
    )
    cluster_timeout: float = field(
        default=600.0,
        metadata=_opt(
            "Seconds to wait for the first worker of --cluster; then an error, not a hang.",
            minimum=1,
        ),
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
            "Run list (golden JSON, GRL XML, basf2 IoVs, JSON, CSV, text): audit only these runs.",
            exists=True,
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
            "Audit only these runs: ranges, lists, exclusions, experiments, e.g. "
            "'101-124,130,^127' or 'e12:101-124' (docs/runlists.md). Files whose name gives "
            "another run are not opened.",
            metavar="SPEC",
        ),
    )
    waivers: Path | None = field(
        default=None,
        metadata=_opt(
            "Waivers file (TOML or CSV): waived runs do not fail --fail-on-flagged.", exists=True
        ),
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
        metadata=_opt(
            "Seconds one attempt at one remote file may take (then abandoned; io_error once "
            "the retries are spent), and the read timeout of live online sources "
            "(rundb+https://, elog+https://).",
            minimum=0.1,
            default_text="30 for files, 60 for online",
        ),
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
    run_range: tuple[int, int] | None = field(
        default=None,
        metadata=_opt(
            "Audit only runs first..last (a pair, first <= last); on the command line: --runs.",
            cli=False,
        ),
    )
    thresholds: Thresholds | None = field(
        default=None,
        metadata=_opt(
            "Statistical thresholds (docs/statistics.md); a table of Thresholds fields.",
            cli=False,
        ),
    )
    allow_empty: bool = field(
        default=False,
        metadata=_opt(
            "Accept an offline source without any ROOT file (default: exit 2 naming it).",
            toml=False,
        ),
    )
    production: str | None = field(
        default=None,
        metadata=_opt(
            "Where a run has several productions (release/DB/proc paths), audit the one whose "
            "path contains TEXT (default: the newest); the others are reported, never summed.",
            metavar="TEXT",
            toml=False,
        ),
    )
    table_format: str = field(
        default="csv",
        metadata=_opt(
            "Format of the audit's tables: csv, or parquet (schema, provenance and version in "
            "the file's metadata; needs the [parquet] extra).",
            choices=("csv", "parquet"),
        ),
    )

    def __post_init__(self) -> None:
        hints = _hints()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            checked = _check(f.name, value, hints[f.name], f.metadata)
            if checked is not value:
                object.__setattr__(self, f.name, checked)
        if self.run_range is not None and self.run_range[0] > self.run_range[1]:
            msg = (
                f"run_range: first run {self.run_range[0]} is greater than last run "
                f"{self.run_range[1]}"
            )
            raise ParameterError(
                msg,
                hint="give (first, last) with first <= last",
            )
        if self.runs is not None:
            from lumiaudit.runselect import RunSelection

            RunSelection.parse(self.runs)  # the grammar's error names the item
        if self.cluster is not None:
            from lumiaudit.offline.batch import ClusterSpec

            ClusterSpec.parse(self.cluster)  # names the kinds
            if self.scheduler is not None:
                msg = "cluster: give either --cluster or --scheduler, not both"
                raise ParameterError(msg)
        if self.table_format == "parquet":  # a missing pyarrow fails before anything runs
            from lumiaudit.store.parquet import require_pyarrow

            require_pyarrow()

    def check_auditable(self) -> None:
        """Refuse options an audit cannot run with (``count`` accepts them).

        Raises
        ------
        ParameterError
            ``mode="fast"``: it counts tree entries only (no error-free counts, FileMetaData
            or run split of multi-run files), so the comparison cannot be made (issue 11).
        """
        if self.mode == "fast":
            msg = (
                "mode 'fast' counts tree entries only (no error-free counts, FileMetaData or "
                "run split of multi-run files): the comparison cannot be made"
            )
            raise ParameterError(
                msg,
                hint="audit with --mode auto (the default) or --mode deep; "
                "`lumiaudit count --mode fast` lists entry counts",
            )

    def check_paths(self) -> None:
        """Check, read-only, the paths an audit will read or write before anything starts.

        Raises
        ------
        ParameterError
            ``mask``/``waivers`` do not exist.
        OutputError
            ``cache`` holds something that is not a lumiaudit count cache (it would be refused
            only when counting starts, e.g. inside a report's kernel).
        """
        for name in ("mask", "waivers", "lumi"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                msg = f"{name}: no such file"
                raise ParameterError(msg, path=path)
        if self.cache is not None:
            # read-only: the same refusal CountCache.open applies, before any kernel starts
            from lumiaudit.offline.cache import _refuse_foreign

            _refuse_foreign(Path(self.cache))

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

    @classmethod
    def from_cli(cls, values: Mapping[str, Any]) -> AuditOptions:
        """Options from a click command's keyword arguments (other names are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def names(cls, *, toml: bool = False) -> frozenset[str]:
        """The field names (``toml=True``: those allowed in a TOML table or notebook)."""
        return frozenset(
            f.name for f in dataclasses.fields(cls) if not toml or f.metadata.get("toml", True)
        )

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
            elif dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = dataclasses.asdict(value)
            out[f.name] = value
        return out


def _raise(message: str, source: str | os.PathLike[str] | None, *, hint: str | None) -> None:
    if source is not None:
        msg = f"[audit] {message}"
        raise ConfigError(msg, path=source, hint=hint)
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
        msg = f"{name}: a value is required"
        raise ParameterError(msg)
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    origin = typing.get_origin(base)
    if name == "runs" and not isinstance(value, str):
        from lumiaudit.runselect import RunSelection

        value = str(RunSelection.coerce(value))  # a RunSelection or (first, last): its text
    if base is Thresholds:
        return _thresholds(value)
    if origin is tuple and typing.get_args(base)[-1] is not Ellipsis:
        return _int_pair(name, value)
    if base is bool:
        if not isinstance(value, bool):
            msg = f"{name}: expected true or false, got {value!r}"
            raise ParameterError(msg)
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"{name}: expected an integer, got {value!r}"
            raise ParameterError(msg)
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"{name}: expected a number, got {value!r}"
            raise ParameterError(msg)
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):  # noqa: PLR0124 (NaN)
            msg = f"{name}: the value must be finite, not {value!r}"
            raise ParameterError(msg)
    elif base is str:
        if not isinstance(value, str):
            msg = f"{name}: expected a string, got {value!r}"
            raise ParameterError(msg)
    elif base is Path:
        if not isinstance(value, str | os.PathLike):
            msg = f"{name}: expected a path, got {value!r}"
            raise ParameterError(msg)
        value = value if isinstance(value, Path) else Path(value)
    elif origin is tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
            msg = f"{name}: expected a list of strings, got {value!r}"
            raise ParameterError(msg)
        value = tuple(items)
    choices = meta.get("choices")
    if choices and value not in choices:
        msg = f"{name}: {value!r} is not one of {', '.join(choices)}"
        raise ParameterError(msg)
    minimum = meta.get("minimum")
    if minimum is not None and isinstance(value, int | float) and value < minimum:
        msg = f"{name}: {value!r} is below the minimum {minimum:g}"
        raise ParameterError(msg)
    return value


def _thresholds(value: Any) -> Thresholds:
    if isinstance(value, Thresholds):
        return value
    if not isinstance(value, Mapping):
        msg = f"thresholds: expected a table of thresholds, got {value!r}"
        raise ParameterError(msg)
    known = {f.name for f in dataclasses.fields(Thresholds)}
    for key, item in value.items():
        if key not in known:
            msg = f"thresholds: unknown threshold {key!r}"
            raise ParameterError(msg, hint=f"known: {', '.join(sorted(known))}")
        if isinstance(item, bool) or not isinstance(item, int | float):
            msg = f"thresholds: {key!r} must be a number, got {item!r}"
            raise ParameterError(msg)
    return Thresholds(**value)


def _int_pair(name: str, value: Any) -> tuple[int, int]:
    msg = f"{name}: expected a pair (first, last) of run numbers, got {value!r}"
    try:
        first, last = value
        pair = (operator.index(first), operator.index(last))
    except (TypeError, ValueError):
        raise ParameterError(msg) from None
    if isinstance(first, bool) or isinstance(last, bool):
        raise ParameterError(msg)
    return pair


def click_options(*, exclude: Iterable[str] = ()) -> Callable[[F], F]:
    """A decorator adding one click option per :class:`AuditOptions` field.

    Defaults, choices, ranges and help texts come from the dataclass, and every value is
    checked by the dataclass's own validation (a bad value is a usage error, exit 2); the
    command receives the values as keyword arguments named like the fields (build the options
    with :meth:`AuditOptions.from_cli`).

    Parameters
    ----------
    exclude
        Fields without a flag on this command.
    """
    import click

    skip = set(exclude)
    hints = _hints()
    params: list[Callable[[Any], Any]] = []
    for f in dataclasses.fields(AuditOptions):
        meta = f.metadata
        if not meta.get("cli", True) or f.name in skip:
            continue
        flags = [meta.get("flag") or "--" + f.name.replace("_", "-")]
        if meta.get("short"):
            flags.insert(0, meta["short"])
        hint = hints[f.name]
        args = typing.get_args(hint)
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        if base is bool:
            params.append(
                click.option(*flags, f.name, is_flag=True, default=f.default, help=meta["help"])
            )
            continue
        kwargs: dict[str, Any] = {
            "help": meta["help"],
            "show_default": meta.get("default_text") or f.default is not None,
            "callback": _validator(f.name),
        }
        if meta.get("choices"):
            kwargs["type"] = click.Choice(list(meta["choices"]))
        elif base is int:
            kwargs["type"] = click.IntRange(min=meta.get("minimum"))
        elif base is float:
            kwargs["type"] = click.FloatRange(min=meta.get("minimum"))
        elif base is Path:
            kwargs["type"] = click.Path(
                exists=bool(meta.get("exists")), dir_okay=False, path_type=Path
            )
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        params.append(click.option(*flags, f.name, default=f.default, **kwargs))

    def decorate(func: F) -> F:
        for param in reversed(params):
            func = param(func)
        return func

    return decorate


def _validator(name: str) -> Callable[[Any, Any, Any], Any]:
    """A click callback applying the field's validation (the message without the name)."""
    import click

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            AuditOptions(**{name: value})
        except ParameterError as exc:
            raise click.BadParameter(
                exc.message.removeprefix(f"{name}: "), ctx=ctx, param=param
            ) from None
        return value

    return check
