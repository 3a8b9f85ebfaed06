"""RunSelection: the ``--runs`` grammar, its semantics and its text round trip."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.errors import ParameterError
from lumiaudit.offline.names import parse_path
from lumiaudit.runselect import RunRange, RunSelection


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("101-124,130,^127", [(12, 101), (12, 124), (12, 130), (3, 110)], [(12, 127), (12, 125)]),
        ("e12:101-124", [(12, 101), (None, 110)], [(13, 110), (12, 125)]),
        ("e0012:r00101-r00124", [(12, 101)], [(13, 101)]),
        ("e12", [(12, 0), (12, 99999)], [(13, 5)]),
        ("3000-", [(10, 3000), (10, 10**6)], [(10, 2999)]),
        ("^127", [(12, 1), (12, 128)], [(12, 127), (None, 127)]),
        ("^e12:127", [(13, 127), (None, 127)], [(12, 127)]),
        (" 101 , 103 ", [(1, 101), (1, 103)], [(1, 102)]),
        ("e12:101-124,e14:1-5,^e12:110", [(12, 101), (14, 3)], [(12, 110), (13, 3), (14, 101)]),
    ],
)
def test_contains(text: str, inside: list, outside: list) -> None:
    sel = RunSelection.parse(text)
    for exp, run in inside:
        assert sel.contains(exp, run), (text, exp, run)
    for exp, run in outside:
        assert not sel.contains(exp, run), (text, exp, run)


def test_order_does_not_matter() -> None:
    assert RunSelection.parse("^127,101-124") == RunSelection.parse("101-124,^127")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty run selection"),
        ("101-99", "item 1 '101-99': first run 101 is greater than last run 99"),
        ("101,x12", "item 2 'x12' is not a run"),
        ("12/101", "item 1 '12/101' is not a run"),
        ("101--102", "is not a run"),
        ("^", "is not a run"),
        (",,", "empty run selection"),
    ],
)
def test_bad_selections_are_one_line_errors(text: str, match: str) -> None:
    with pytest.raises(ParameterError, match=match) as info:
        RunSelection.parse(text)
    assert "\n" not in str(info.value)


ranges = st.builds(
    RunRange,
    st.one_of(st.none(), st.integers(0, 40)),
    st.integers(0, 5000),
    st.one_of(st.none(), st.integers(0, 200)),
).map(lambda r: RunRange(r.experiment, r.first, None if r.last is None else r.first + r.last))


@settings(deadline=None)
@given(st.lists(ranges, min_size=1, max_size=4), st.lists(ranges, max_size=3))
def test_text_round_trip(include: list[RunRange], exclude: list[RunRange]) -> None:
    sel = RunSelection(tuple(include), tuple(exclude))
    again = RunSelection.parse(str(sel))
    assert again == sel
    assert str(again) == str(sel)


@settings(deadline=None)
@given(
    st.lists(ranges, min_size=1, max_size=3),
    st.lists(ranges, max_size=2),
    st.one_of(st.none(), st.integers(0, 40)),
    st.integers(0, 5300),
)
def test_contains_matches_the_definition(include: list, exclude: list, exp, run) -> None:
    sel = RunSelection(tuple(include), tuple(exclude))

    def hit(r: RunRange, unknown_excl: bool = False) -> bool:
        if r.experiment is not None and exp is not None and r.experiment != exp:
            return False
        if unknown_excl and r.experiment is not None and exp is None:
            return False
        return r.first <= run and (r.last is None or run <= r.last)

    expected = any(hit(r) for r in include) and not any(hit(r, True) for r in exclude)
    assert sel.contains(exp, run) == expected


def test_coerce_keeps_the_old_run_range() -> None:
    assert RunSelection.coerce((3000, 3010)) == RunSelection.parse("3000-3010")
    assert RunSelection.coerce(None) is None
    with pytest.raises(ParameterError, match="first run 9 is greater"):
        RunSelection.coerce((9, 1))
    with pytest.raises(ParameterError, match="expected a selection text"):
        RunSelection.coerce(3.5)


def test_files_without_a_run_in_their_name_are_kept() -> None:
    sel = RunSelection.parse("e12:101")
    keep = "e0012/4S/r00101/all/mdst/sub00/mdst.physics.0012.00101.HLT1.f00000.root"
    drop = "e0012/4S/r00102/all/mdst/sub00/mdst.physics.0012.00102.HLT1.f00000.root"
    grid = "e0012/4S/r00000/all/mdst/sub00/mdst_000001_prod00012345_task10020000001.root"
    assert sel.keeps_file(parse_path(keep))
    assert not sel.keeps_file(parse_path(drop))
    assert sel.keeps_file(parse_path(grid))


def test_filter_keeps_rows_without_run() -> None:
    frame = pd.DataFrame(
        {
            "experiment": pd.array([12, 12, pd.NA, 13], dtype="Int64"),
            "run": pd.array([101, 102, pd.NA, 101], dtype="Int64"),
        }
    )
    out = RunSelection.parse("e12:101").filter(frame)
    assert out["run"].tolist()[0] == 101
    assert len(out) == 2
    assert pd.isna(out["run"].iloc[1])
