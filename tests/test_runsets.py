"""RunLumiSet: LS-granular run sets, checked point by point against a plain-set model, and the
algebra laws as properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.errors import ParameterError
from lumiaudit.runsets import ALL, LS_MAX, RUN_MAX, RunLumiSet, format_lumis

RUNS = range(0, 8)
#: LS probes: the small ones ranges are drawn from, and the far end of a whole run
LS_PROBES = [*range(1, 13), LS_MAX - 1, LS_MAX]

lumi_ranges = st.lists(
    st.tuples(st.integers(1, 11), st.integers(0, 3)).map(lambda t: (t[0], t[0] + t[1])),
    min_size=1,
    max_size=3,
)


@st.composite
def run_sets(draw: st.DrawFn, experiments: tuple[int | None, ...] | None = None) -> RunLumiSet:
    exps = experiments or draw(st.sampled_from([(None,), (10, 12)]))
    keys = draw(st.lists(st.tuples(st.sampled_from(exps), st.sampled_from(RUNS)), max_size=6))
    mapping = {k: draw(st.one_of(st.just(ALL), lumi_ranges)) for k in keys}
    return RunLumiSet.from_mapping(mapping)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[RunLumiSet, RunLumiSet]:
    exps = draw(st.sampled_from([(None,), (10, 12)]))
    return draw(run_sets(exps)), draw(run_sets(exps))


def points(s: RunLumiSet, exps: tuple[int | None, ...] = (None, 10, 12)) -> set[tuple]:
    return {
        (e, r, ls) for e, r, ls in itertools.product(exps, RUNS, LS_PROBES) if s.contains(e, r, ls)
    }


@settings(deadline=None)
@given(pairs())
def test_algebra_matches_the_set_model(ab: tuple[RunLumiSet, RunLumiSet]) -> None:
    a, b = ab
    pa, pb = points(a), points(b)
    assert points(a & b) == pa & pb
    assert points(a | b) == pa | pb
    assert points(a - b) == pa - pb
    assert points(a ^ b) == pa ^ pb


@settings(deadline=None)
@given(pairs())
def test_algebra_laws(ab: tuple[RunLumiSet, RunLumiSet]) -> None:
    a, b = ab
    assert (a - b).isdisjoint(b)
    assert a.issubset(a | b)
    assert b.issubset(a | b)
    assert (a & b).issubset(a)
    assert a ^ b == b ^ a
    assert a ^ b == (a - b) | (b - a)
    assert (a & b) | (a - b) == a
    assert a ^ a == RunLumiSet()
    assert a | b == b | a
    assert a & b == b & a


@settings(deadline=None)
@given(run_sets())
def test_intervals_are_canonical(s: RunLumiSet) -> None:
    """Sorted, disjoint and never adjacent: equal sets have equal intervals."""
    for (_, hi), (lo, _) in itertools.pairwise(s.intervals):
        assert lo > hi + 1
    rebuilt = RunLumiSet.from_mapping({(e, r): lumis for e, r, lumis in s.runs()})
    assert rebuilt == s


def test_lumis_and_partial_runs() -> None:
    s = RunLumiSet.from_mapping({(None, 101): [(7, 9), (1, 3), (3, 4)], (None, 102): ALL})
    assert s.lumis(None, 101) == ((1, 4), (7, 9))
    assert s.lumis(None, 102) == ALL
    assert s.lumis(None, 103) == ()
    assert s.partial_runs() == [(None, 101, ((1, 4), (7, 9)))]
    assert format_lumis(s.lumis(None, 101)) == "1-4,7-9"
    assert s.contains(None, 101, 8)
    assert not s.contains(None, 101, 5)
    assert s.contains(None, 101)


def test_whole_runs_merge_across_runs_and_experiments() -> None:
    s = RunLumiSet.from_runs([(12, 5), (12, 6), (12, 7)])
    assert len(s.intervals) == 1
    assert list(s.run_ranges()) == [(12, 5, 12, 7)]
    iov = RunLumiSet.from_run_range(12, 100, 14, RUN_MAX)
    assert iov.experiments() == {12, 13, 14}
    assert iov.contains(13, 0)
    assert not iov.contains(12, 99)


def test_run_ranges_refuse_partial_runs() -> None:
    s = RunLumiSet.from_mapping({(12, 101): [(1, 3)]})
    with pytest.raises(ParameterError, match="e12 r101 has lumisection ranges"):
        list(s.run_ranges())


def test_open_ranges_are_not_listed_run_by_run() -> None:
    s = RunLumiSet.from_run_range(12, 0, 12, RUN_MAX)
    with pytest.raises(ParameterError, match="cannot be listed run by run"):
        list(s.runs())


def test_mixing_qualified_and_unqualified_is_refused() -> None:
    a = RunLumiSet.from_runs([(None, 101)])
    b = RunLumiSet.from_runs([(12, 101)])
    for op in ("__and__", "__or__", "__sub__", "__xor__"):
        with pytest.raises(ParameterError, match="without experiment numbers"):
            getattr(a, op)(b)
    assert a.with_experiment(12) & b == b
    assert b.without_experiment() == a


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        ({(None, 1): [(0, 3)]}, "lumisection 0 is out of range"),
        ({(None, 1): [(5, 3)]}, "reversed"),
        ({(None, -1): ALL}, "run -1 is out of range"),
        ({(None, 1): [(1, LS_MAX + 1)]}, "out of range"),
    ],
)
def test_bad_values(mapping: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        RunLumiSet.from_mapping(mapping)


def test_describe() -> None:
    s = RunLumiSet.from_mapping({(12, 101): ALL, (12, 102): ALL, (12, 130): [(1, 3), (7, 9)]})
    assert s.describe() == "e12 r101-102, e12 r130 [LS 1-3], e12 r130 [LS 7-9]"
    assert s.describe(max_runs=1) == "e12 r101-102 and 2 more"
    assert RunLumiSet().describe() == "(empty)"
