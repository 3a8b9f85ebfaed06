"""Run sets with lumisection granularity, and their algebra (``and``, ``or``, ``sub``, ``diff``).

A :class:`RunLumiSet` is a set of ``(experiment, run, lumisection)`` points: a CMS golden JSON
(``{"run": [[ls_first, ls_last], ...]}``), an ATLAS good-runs list (runs and lumi-block ranges)
and a basf2 list of intervals of validity (``exp_low, run_low, exp_high, run_high``) all read
into one. lumiaudit counts per run, not per lumisection, so a run is usually whole (:data:`ALL`
of its lumisections); the LS ranges are kept so that nothing read from a peer's file is lost and
the algebra is exact at LS granularity.

The points are kept as sorted, disjoint, non-adjacent closed intervals of one integer key that
orders points by ``(experiment, run, lumisection)``; a whole run, a range of whole runs and an
open-ended basf2 interval of validity are each one interval, and the set operations are merges
of two sorted interval lists.

Conventions (see ``docs/runlists.md``):

* lumisections number from 1 (CMS and ATLAS both do; coffea's ``LumiMask`` subtracts 1 from
  the first LS of a range); "all lumisections" is ``1 ..`` :data:`LS_MAX`, where
  ``LS_MAX = 2**31 - 1`` is the open end ATLAS GoodRunsLists give an ``LBRange`` without
  ``End`` (``TGoodRunsListReader``);
* runs number from 0 to :data:`RUN_MAX` and experiments from 0 to :data:`EXP_MAX` (basf2's
  ``IntervalOfValidity`` holds them as ``int``);
* experiment ``None`` is a list that names no experiment (golden JSON, a GRL, a bare list of
  runs). The algebra never guesses one: combining such a list with an experiment-qualified one
  is a :class:`~lumiaudit.errors.ParameterError` (qualify it first with
  :meth:`RunLumiSet.with_experiment`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from lumiaudit.errors import ParameterError

__all__ = [
    "ALL",
    "EXP_MAX",
    "LS_MAX",
    "RUN_MAX",
    "LumiRanges",
    "RunLumiSet",
    "format_lumis",
]

#: Highest lumisection: the open end of an ATLAS ``LBRange`` without ``End`` (GoodRunsLists).
LS_MAX: Final = 2**31 - 1
#: Highest run and experiment numbers (basf2 ``IntervalOfValidity`` keeps them as ``int``).
RUN_MAX: Final = 2**31 - 1
EXP_MAX: Final = 2**31 - 1

#: Lumisections of a whole run.
ALL: Final = "all"

#: ``"all"`` or sorted, disjoint ``(first, last)`` lumisection ranges (inclusive).
LumiRanges = Literal["all"] | tuple[tuple[int, int], ...]

_LS_SPAN = LS_MAX  # offsets 0 .. LS_MAX-1 stand for LS 1 .. LS_MAX
_RUN_SPAN = RUN_MAX + 1
_SLOT = _RUN_SPAN * _LS_SPAN  # keys of one experiment
#: Experiment None lives in slot 0; experiment e in slot e + 2, so that slot 1, never used,
#: keeps the two kinds from ever merging into one interval.
_FIRST_QUALIFIED = 2 * _SLOT

#: Most runs :meth:`RunLumiSet.runs` lists before refusing (an open-ended IoV is infinite).
EXPAND_LIMIT: Final = 1_000_000


def _slot(experiment: int | None) -> int:
    return 0 if experiment is None else experiment + 2


def _key(experiment: int | None, run: int, ls: int) -> int:
    return (_slot(experiment) * _RUN_SPAN + run) * _LS_SPAN + (ls - 1)


def _unkey(key: int) -> tuple[int | None, int, int]:
    slot, rest = divmod(key, _SLOT)
    run, offset = divmod(rest, _LS_SPAN)
    return (None if slot == 0 else slot - 2), run, offset + 1


def _check(experiment: int | None, run: int, ls: int | None = None) -> None:
    if experiment is not None and not 0 <= experiment <= EXP_MAX:
        msg = f"experiment {experiment} is out of range 0..{EXP_MAX}"
        raise ParameterError(msg)
    if not 0 <= run <= RUN_MAX:
        msg = f"run {run} is out of range 0..{RUN_MAX}"
        raise ParameterError(msg)
    if ls is not None and not 1 <= ls <= LS_MAX:
        msg = f"lumisection {ls} is out of range 1..{LS_MAX}"
        raise ParameterError(msg)


def _normalize(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort and merge overlapping or adjacent closed intervals."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if lo > hi:
            continue
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def _intersect(
    a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _subtract(
    a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in a:
        cur = lo
        while j < len(b) and b[j][1] < cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0] - 1))
            cur = max(cur, b[k][1] + 1)
            if cur > hi:
                break
            k += 1
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


@dataclass(frozen=True)
class RunLumiSet:
    """An immutable set of ``(experiment, run, lumisection)`` points.

    Build one with :meth:`from_runs`, :meth:`from_mapping` or :meth:`from_run_range`; combine
    with ``&`` (and), ``|`` (or), ``-`` (sub) and ``^`` (diff, the symmetric difference).

    Examples
    --------
    >>> a = RunLumiSet.from_mapping({(None, 101): [(1, 3), (7, 9)], (None, 102): "all"})
    >>> b = RunLumiSet.from_mapping({(None, 101): [(2, 8)]})
    >>> (a & b).lumis(None, 101)
    ((2, 3), (7, 8))
    >>> (a - b).lumis(None, 101)
    ((1, 1), (9, 9))
    >>> (a - b).lumis(None, 102)
    'all'
    """

    intervals: tuple[tuple[int, int], ...] = ()

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_runs(cls, runs: Iterable[tuple[int | None, int]]) -> RunLumiSet:
        """Whole runs, given as ``(experiment or None, run)`` pairs."""
        out = []
        for exp, run in runs:
            _check(exp, run)
            out.append((_key(exp, run, 1), _key(exp, run, LS_MAX)))
        return cls(_normalize(out))

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[tuple[int | None, int], LumiRanges | Iterable[tuple[int, int]]],
    ) -> RunLumiSet:
        """``{(experiment, run): "all" or [(ls_first, ls_last), ...]}`` (ranges inclusive)."""
        out = []
        for (exp, run), lumis in mapping.items():
            _check(exp, run)
            if lumis == ALL:
                out.append((_key(exp, run, 1), _key(exp, run, LS_MAX)))
                continue
            for first, last in lumis:
                _check(exp, run, first)
                _check(exp, run, last)
                if first > last:
                    msg = f"lumisection range {first}-{last} of run {run} is reversed"
                    raise ParameterError(msg)
                out.append((_key(exp, run, first), _key(exp, run, last)))
        return cls(_normalize(out))

    @classmethod
    def from_run_range(
        cls, exp_low: int | None, run_low: int, exp_high: int | None, run_high: int
    ) -> RunLumiSet:
        """Whole runs from ``(exp_low, run_low)`` to ``(exp_high, run_high)`` inclusive, in
        ``(experiment, run)`` order, like a basf2 ``IntervalOfValidity``. Both experiments must
        be ``None`` or both numbers."""
        if (exp_low is None) != (exp_high is None):
            msg = "a run range needs both experiments or neither"
            raise ParameterError(msg)
        _check(exp_low, run_low)
        _check(exp_high, run_high)
        lo, hi = _key(exp_low, run_low, 1), _key(exp_high, run_high, LS_MAX)
        if lo > hi:
            msg = f"run range e{exp_low} r{run_low} .. e{exp_high} r{run_high} is reversed"
            raise ParameterError(msg)
        return cls(((lo, hi),))

    # -- algebra --------------------------------------------------------------------------------
    def kinds(self) -> tuple[bool, bool]:
        """(has points without experiment, has points with one)."""
        if not self.intervals:
            return False, False
        return self.intervals[0][0] < _SLOT, self.intervals[-1][1] >= _FIRST_QUALIFIED

    def _compatible(self, other: RunLumiSet, op: str) -> None:
        none_a, qual_a = self.kinds()
        none_b, qual_b = other.kinds()
        if (none_a and qual_b) or (qual_a and none_b):
            msg = f"cannot '{op}' a run list without experiment numbers and one with them"
            raise ParameterError(
                msg,
                hint="give the experiment of the unqualified list (--experiment N, "
                "RunLumiSet.with_experiment)",
            )

    def __and__(self, other: RunLumiSet) -> RunLumiSet:
        self._compatible(other, "and")
        return RunLumiSet(_intersect(self.intervals, other.intervals))

    def __or__(self, other: RunLumiSet) -> RunLumiSet:
        self._compatible(other, "or")
        return RunLumiSet(_normalize(self.intervals + other.intervals))

    def __sub__(self, other: RunLumiSet) -> RunLumiSet:
        self._compatible(other, "sub")
        return RunLumiSet(_subtract(self.intervals, other.intervals))

    def __xor__(self, other: RunLumiSet) -> RunLumiSet:
        self._compatible(other, "diff")
        return RunLumiSet(
            _normalize(
                _subtract(self.intervals, other.intervals)
                + _subtract(other.intervals, self.intervals)
            )
        )

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def issubset(self, other: RunLumiSet) -> bool:
        """Whether every point of this set is in ``other``."""
        return not _subtract(self.intervals, other.intervals)

    def isdisjoint(self, other: RunLumiSet) -> bool:
        """Whether the two sets share no point."""
        return not _intersect(self.intervals, other.intervals)

    # -- experiments ----------------------------------------------------------------------------
    def experiments(self) -> set[int | None]:
        """Experiments with at least one point (``None``: points without experiment).

        Raises
        ------
        ParameterError
            If the set spans more than :data:`EXPAND_LIMIT` experiments (an open IoV).
        """
        out: set[int | None] = set()
        for lo, hi in self.intervals:
            first, last = lo // _SLOT, hi // _SLOT
            if last - first > EXPAND_LIMIT:
                msg = "the run list spans too many experiments to list them"
                raise ParameterError(msg)
            out.update(None if s == 0 else s - 2 for s in range(first, last + 1))
        return out

    def with_experiment(self, experiment: int) -> RunLumiSet:
        """The points without experiment moved to ``experiment`` (others kept)."""
        _check(experiment, 0)
        shift = _slot(experiment) * _SLOT
        moved = [(lo + shift, hi + shift) for lo, hi in self.intervals if hi < _SLOT]
        kept = [iv for iv in self.intervals if iv[0] >= _SLOT]
        return RunLumiSet(_normalize(moved + kept))

    def without_experiment(self) -> RunLumiSet:
        """The points of every experiment moved to experiment ``None`` (runs of different
        experiments with the same number merge)."""
        out: list[tuple[int, int]] = []
        for lo, hi in self.intervals:
            first, last = lo // _SLOT, hi // _SLOT
            if last - first > EXPAND_LIMIT:
                msg = "the run list spans too many experiments"
                raise ParameterError(msg)
            for slot in range(first, last + 1):
                a = max(lo, slot * _SLOT) - slot * _SLOT
                b = min(hi, slot * _SLOT + _SLOT - 1) - slot * _SLOT
                out.append((a, b))
        return RunLumiSet(_normalize(out))

    # -- queries --------------------------------------------------------------------------------
    def lumis(self, experiment: int | None, run: int) -> LumiRanges:
        """The lumisections of one run: ``"all"``, ranges, or ``()`` when the run is absent."""
        _check(experiment, run)
        lo, hi = _key(experiment, run, 1), _key(experiment, run, LS_MAX)
        parts = _intersect(self.intervals, ((lo, hi),))
        if parts == ((lo, hi),):
            return ALL
        base = lo - 1
        return tuple((a - base, b - base) for a, b in parts)

    def contains(self, experiment: int | None, run: int, ls: int | None = None) -> bool:
        """Whether the run (any of its lumisections, or lumisection ``ls``) is in the set."""
        if ls is None:
            return bool(self.lumis(experiment, run))
        _check(experiment, run, ls)
        key = _key(experiment, run, ls)
        return bool(_intersect(self.intervals, ((key, key),)))

    def runs(self, *, limit: int = EXPAND_LIMIT) -> Iterator[tuple[int | None, int, LumiRanges]]:
        """``(experiment, run, lumis)`` of every run with a point, in order.

        Raises
        ------
        ParameterError
            When more than ``limit`` runs would be listed (an open-ended run range).
        """
        n = 0
        pending: tuple[int | None, int, list[tuple[int, int]]] | None = None
        for lo, hi in self.intervals:
            e_lo, r_lo, ls_lo = _unkey(lo)
            e_hi, r_hi, ls_hi = _unkey(hi)
            k_first = lo // _LS_SPAN
            k_last = hi // _LS_SPAN
            if k_last - k_first > limit:
                msg = (
                    f"the run list has an open or very long run range (e{e_lo} r{r_lo} .. "
                    f"e{e_hi} r{r_hi}) that cannot be listed run by run"
                )
                raise ParameterError(
                    msg,
                    hint="write it as basf2 IoVs (--format iov)",
                )
            for k in range(k_first, k_last + 1):
                exp, run, _ = _unkey(k * _LS_SPAN)
                a = ls_lo if k == k_first else 1
                b = ls_hi if k == k_last else LS_MAX
                if pending is not None and (pending[0], pending[1]) == (exp, run):
                    pending[2].append((a, b))
                    continue
                if pending is not None:
                    yield _finish(pending)
                n += 1
                if n > limit:
                    msg = f"the run list has more than {limit} runs to list"
                    raise ParameterError(msg)
                pending = (exp, run, [(a, b)])
        if pending is not None:
            yield _finish(pending)

    def run_ranges(self) -> Iterator[tuple[int | None, int, int | None, int]]:
        """Maximal ranges of whole runs, ``(exp_low, run_low, exp_high, run_high)``.

        Raises
        ------
        ParameterError
            If a run has only some of its lumisections (a run range cannot say which).
        """
        for lo, hi in self.intervals:
            e_lo, r_lo, ls_lo = _unkey(lo)
            e_hi, r_hi, ls_hi = _unkey(hi)
            if ls_lo != 1 or ls_hi != LS_MAX:
                bad = (e_lo, r_lo) if ls_lo != 1 else (e_hi, r_hi)
                msg = f"run {_name(*bad)} has lumisection ranges, which a run range cannot hold"
                raise ParameterError(
                    msg,
                    hint="lumisection ranges can be written as golden JSON or GRL XML",
                )
            yield e_lo, r_lo, e_hi, r_hi

    def partial_runs(self) -> list[tuple[int | None, int, LumiRanges]]:
        """The runs that have some but not all of their lumisections."""
        out: list[tuple[int | None, int, LumiRanges]] = []
        seen: set[tuple[int | None, int]] = set()
        for lo, hi in self.intervals:
            for key, ls in ((lo, 1), (hi, LS_MAX)):
                exp, run, edge = _unkey(key)
                if edge != ls and (exp, run) not in seen:
                    seen.add((exp, run))
                    out.append((exp, run, self.lumis(exp, run)))
        return sorted(out, key=lambda t: (-1 if t[0] is None else t[0], t[1]))

    def describe(self, *, max_runs: int = 8) -> str:
        """A short text such as ``e12 r101-124, r130 [LS 1-3,7-9]`` for messages."""
        parts: list[str] = []
        for lo, hi in self.intervals:
            e_lo, r_lo, ls_lo = _unkey(lo)
            e_hi, r_hi, ls_hi = _unkey(hi)
            if ls_lo == 1 and ls_hi == LS_MAX:
                text = _name(e_lo, r_lo)
                if (e_lo, r_lo) != (e_hi, r_hi):
                    text += f"-{r_hi}" if e_lo == e_hi else f" .. {_name(e_hi, r_hi)}"
            elif (e_lo, r_lo) == (e_hi, r_hi):
                text = f"{_name(e_lo, r_lo)} [LS {ls_lo}-{ls_hi}]"
            else:
                text = f"{_name(e_lo, r_lo)} LS {ls_lo} .. {_name(e_hi, r_hi)} LS {ls_hi}"
            parts.append(text)
            if len(parts) > max_runs:
                return ", ".join(parts[:max_runs]) + f" and {len(self.intervals) - max_runs} more"
        return ", ".join(parts) or "(empty)"


def _finish(
    pending: tuple[int | None, int, list[tuple[int, int]]],
) -> tuple[int | None, int, LumiRanges]:
    exp, run, ranges = pending
    if ranges == [(1, LS_MAX)]:
        return exp, run, ALL
    return exp, run, tuple(ranges)


def _name(experiment: int | None, run: int) -> str:
    return f"r{run}" if experiment is None else f"e{experiment} r{run}"


def format_lumis(lumis: LumiRanges) -> str:
    """``all`` or ``1-3,7-9`` (a single LS as ``5``)."""
    if lumis == ALL:
        return ALL
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in lumis)
