"""``--runs 101-124,130,^127``: which runs an audit, a count or a report looks at.

Grammar (one text, items separated by commas, spaces ignored)::

    selection := item ("," item)*
    item      := ["^"] [experiment ":"] runs  |  ["^"] experiment
    experiment:= "e" DIGITS                      e12, e0012 (as in eEEEE directories)
    runs      := run | run "-" run | run "-"     130, 101-124, 3000- (open end)
    run       := ["r"] DIGITS                    101, r00101 (as in rRRRRR directories)

``e12:101-124`` is runs 101 to 124 of experiment 12, ``e12`` every run of experiment 12, an item
without experiment matches that run in any experiment, and ``^`` excludes. A run is selected
when it matches an included item (or there is none: ``^127`` alone is every run but 127) and
no excluded item. The order of the items does not matter. The ``e``/``r`` prefixes are the ones
lumiaudit prints (``e12 r101``) and the KEKCC layout uses (``e0012/.../r00101``).

A run whose experiment is unknown (``None``) is matched on its number alone: a selection never
drops what it cannot tell apart.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lumiaudit.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from lumiaudit.offline.names import FileName

__all__ = ["RunRange", "RunSelection"]

_ITEM = re.compile(
    r"^(?P<neg>\^)?(?:e(?P<exp>\d+)(?::|$))?"
    r"(?:r?(?P<first>\d+)(?:(?P<dash>-)(?:r?(?P<last>\d+))?)?)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RunRange:
    """Runs ``first..last`` (``last`` ``None``: no upper end) of one experiment or of any.

    ``first = 0, last = None`` with an experiment is the whole experiment.
    """

    experiment: int | None
    first: int
    last: int | None

    def contains(self, experiment: int | None, run: int) -> bool:
        """Whether ``(experiment, run)`` is in the range (unknown experiment: run alone)."""
        if self.experiment is not None and experiment is not None and experiment != self.experiment:
            return False
        return self.first <= run and (self.last is None or run <= self.last)

    def __str__(self) -> str:
        exp = "" if self.experiment is None else f"e{self.experiment}"
        if self.experiment is not None and self.first == 0 and self.last is None:
            return exp
        if self.last is None:
            runs = f"{self.first}-"
        elif self.last == self.first:
            runs = str(self.first)
        else:
            runs = f"{self.first}-{self.last}"
        return f"{exp}:{runs}" if exp else runs


@dataclass(frozen=True, slots=True)
class RunSelection:
    """A set of runs given by inclusive ranges and exclusions; see the module docstring.

    Examples
    --------
    >>> sel = RunSelection.parse("101-124,130,^127")
    >>> sel.contains(12, 127), sel.contains(12, 124), sel.contains(12, 130)
    (False, True, True)
    >>> str(RunSelection.parse("e12:r00101-r00124, ^e12:127"))
    'e12:101-124,^e12:127'
    """

    include: tuple[RunRange, ...] = ()
    exclude: tuple[RunRange, ...] = ()

    @classmethod
    def parse(cls, text: str) -> RunSelection:
        """Parse a selection text.

        Raises
        ------
        ParameterError
            For an empty text, an item that does not follow the grammar or a reversed range;
            the message names the item.
        """
        if not isinstance(text, str):
            msg = f"runs: expected a text such as '101-124,^127', got {text!r}"  # type: ignore[unreachable]  # API callers
            raise ParameterError(msg)
        include: list[RunRange] = []
        exclude: list[RunRange] = []
        items = [t.strip() for t in text.replace(" ", "").split(",")]
        if not any(items):
            msg = "runs: empty run selection"
            raise ParameterError(msg, hint="e.g. '101-124,130,^127'")
        for pos, item in enumerate(items, start=1):
            m = _ITEM.match(item)
            if not item or m is None or (m["exp"] is None and m["first"] is None):
                msg = f"runs: item {pos} {item!r} is not a run, a range or an experiment"
                raise ParameterError(
                    msg,
                    hint="e.g. 101-124, 130, ^127, e12:101-124, e12",
                )
            exp = None if m["exp"] is None else int(m["exp"])
            if m["first"] is None:
                rng = RunRange(exp, 0, None)
            else:
                first = int(m["first"])
                last = (
                    first if m["dash"] is None else (None if m["last"] is None else int(m["last"]))
                )
                if last is not None and last < first:
                    msg = (
                        f"runs: item {pos} {item!r}: first run {first} is greater than last "
                        f"run {last}"
                    )
                    raise ParameterError(
                        msg,
                        hint="give FIRST-LAST with FIRST <= LAST",
                    )
                rng = RunRange(exp, first, last)
            (exclude if m["neg"] else include).append(rng)
        return cls(tuple(include), tuple(exclude))

    @classmethod
    def from_range(cls, first: int, last: int, *, experiment: int | None = None) -> RunSelection:
        """Runs ``first..last`` (the old ``--runs FIRST LAST``)."""
        if first > last:
            msg = f"runs: first run {first} is greater than last run {last}"
            raise ParameterError(msg)
        return cls((RunRange(experiment, first, last),))

    @classmethod
    def coerce(cls, value: Any) -> RunSelection | None:
        """``None``, a :class:`RunSelection`, a selection text or a ``(first, last)`` pair."""
        if value is None or isinstance(value, RunSelection):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        try:
            first, last = value
            pair = (operator.index(first), operator.index(last))
        except (TypeError, ValueError):
            msg = (
                f"runs: expected a selection text such as '101-124,^127' or a pair "
                f"(first, last), got {value!r}"
            )
            raise ParameterError(msg) from None
        return cls.from_range(*pair)

    def contains(self, experiment: int | None, run: int) -> bool:
        """Whether the run is selected (``experiment`` ``None``: unknown, run number alone)."""
        if self.include and not any(r.contains(experiment, run) for r in self.include):
            return False
        # an exclusion of one experiment cannot exclude a run whose experiment is unknown
        return not any(
            r.contains(experiment, run)
            for r in self.exclude
            if r.experiment is None or experiment is not None
        )

    def keeps_file(self, name: FileName) -> bool:
        """Whether a file must be opened: its name has no run (grid files, ``r00000``) or a
        selected one. The pre-open filter of offline discovery."""
        return name.run is None or self.contains(name.experiment, name.run)

    def filter(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of a table with ``run`` (and optional ``experiment``) columns that are selected;
        rows without a run are kept (a file whose runs are only known after counting)."""
        if len(frame) == 0 or "run" not in frame.columns:
            return frame
        runs = frame["run"].tolist()
        exps: Iterable[Any] = (
            frame["experiment"].tolist() if "experiment" in frame.columns else [None] * len(runs)
        )
        keep = [
            _missing(r) or self.contains(None if _missing(e) else int(e), int(r))
            for e, r in zip(exps, runs, strict=True)
        ]
        return frame[keep].reset_index(drop=True)

    def __str__(self) -> str:
        return ",".join([str(r) for r in self.include] + [f"^{r}" for r in self.exclude])

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))
