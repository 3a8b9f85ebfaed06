"""Run lists in the peers' formats: round trips for every format, the peers' conventions (CMS
golden JSON against coffea's LumiMask, ATLAS GRL open LBRange, basf2 IoV -1 ends) and
one-line errors that name the file and the line or element."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumiaudit.errors import ConfigError, ParameterError
from lumiaudit.runlist_io import detect_format, format_runlist, read_runlist, write_runlist
from lumiaudit.runsets import ALL, EXP_MAX, LS_MAX, RUN_MAX, RunLumiSet
from tests.conftest import need

lumi_ranges = st.lists(
    st.tuples(st.integers(1, 50), st.integers(0, 5)).map(lambda t: (t[0], t[0] + t[1])),
    min_size=1,
    max_size=4,
)


@st.composite
def run_sets(draw: st.DrawFn, exps: tuple[int | None, ...], *, lumis: bool = True) -> RunLumiSet:
    keys = draw(
        st.lists(st.tuples(st.sampled_from(exps), st.integers(0, 99999)), min_size=0, max_size=8)
    )
    values = st.one_of(st.just(ALL), lumi_ranges) if lumis else st.just(ALL)
    return RunLumiSet.from_mapping({k: draw(values) for k in keys})


ROUND_TRIP = settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _round_trip(tmp_path: Path, s: RunLumiSet, fmt: str) -> RunLumiSet:
    path = tmp_path / f"{uuid.uuid4().hex}.list"
    write_runlist(s, path, fmt)
    text = path.read_text(encoding="utf-8")
    assert detect_format(text) == fmt or not s  # an empty list reads as any format
    return read_runlist(path)


@ROUND_TRIP
@given(run_sets((None,)))
def test_golden_json_round_trip(tmp_path: Path, s: RunLumiSet) -> None:
    assert _round_trip(tmp_path, s, "golden-json") == s


@ROUND_TRIP
@given(st.sampled_from([None, 12]).flatmap(lambda e: run_sets((e,))))
def test_grl_xml_round_trip(tmp_path: Path, s: RunLumiSet) -> None:
    assert _round_trip(tmp_path, s, "grl-xml") == s


@ROUND_TRIP
@given(run_sets((None, 10, 12)))
def test_json_and_csv_round_trip(tmp_path: Path, s: RunLumiSet) -> None:
    assert _round_trip(tmp_path, s, "json") == s
    assert _round_trip(tmp_path, s, "csv") == s


def _union(sets: list[RunLumiSet]) -> RunLumiSet:
    out = RunLumiSet()
    for s in sets:
        out = out | s
    return out


def _iov(exp: int, run: int, exp_step: int, run_step: int) -> RunLumiSet:
    """A range of whole runs; exp_step 3 is open-ended (basf2 -1,-1)."""
    if exp_step == 3:
        return RunLumiSet.from_run_range(exp, run, EXP_MAX, RUN_MAX)
    high = run + run_step if exp_step == 0 else run_step
    return RunLumiSet.from_run_range(exp, run, exp + exp_step, high)


iov_sets = st.lists(
    st.builds(
        _iov, st.integers(0, 30), st.integers(0, 9999), st.integers(0, 3), st.integers(0, 20)
    ),
    max_size=5,
).map(_union)


@ROUND_TRIP
@given(iov_sets)
def test_iov_round_trip(tmp_path: Path, s: RunLumiSet) -> None:
    assert _round_trip(tmp_path, s, "iov") == s


def test_golden_json_semantics_match_coffea_lumimask(tmp_path: Path) -> None:
    """coffea's LumiMask (uint32 ranges, first LS - 1, searchsorted) reads what we write and
    selects exactly the (run, LS) points our set contains."""
    # the `cms` extra, part of `test`: skipped locally without it, a failure in CI
    try:
        from coffea.lumi_tools import LumiMask
    except ImportError:
        need(False, "coffea (pip install 'lumiaudit[cms]')")
    rng = np.random.default_rng(7)
    mapping = {}
    for run in range(100, 130):
        if rng.random() < 0.3:
            mapping[(None, run)] = ALL
        else:
            starts = np.sort(rng.choice(np.arange(1, 60), size=4, replace=False))
            mapping[(None, run)] = [(int(a), int(a) + int(rng.integers(0, 3))) for a in starts]
    s = RunLumiSet.from_mapping(mapping)
    path = write_runlist(s, tmp_path / "golden.json", "golden-json")
    mask = LumiMask(str(path))
    grid = list(itertools.product(range(95, 135), [*range(1, 70), 1000, LS_MAX - 1, LS_MAX]))
    runs = np.array([r for r, _ in grid], dtype=np.uint32)
    lumis = np.array([ls for _, ls in grid], dtype=np.uint32)
    theirs = mask(runs, lumis)
    ours = np.array([s.contains(None, int(r), int(ls)) for r, ls in grid])
    assert theirs.tolist() == ours.tolist()
    assert ours.any()
    assert not ours.all()


GRL = """<?xml version="1.0"?>
<!DOCTYPE LumiRangeCollection SYSTEM "LumiRangeCollection.dtd">
<!-- like GoodRunsLists' own example: two named ranges, an open-ended LBRange -->
<LumiRangeCollection>
  <NamedLumiRange>
    <Name>first</Name><Version>2.1</Version>
    <Metadata Name="Query">anything</Metadata>
    <LumiBlockCollection><Run> 102334</Run>
      <LBRange Start="1" End="10"/><LBRange Start="23" End="26"/><LBRange Start="28"/>
    </LumiBlockCollection>
    <LumiBlockCollection><Run> 90210 </Run><LBRange Start="51" End="995"/></LumiBlockCollection>
  </NamedLumiRange>
  <NamedLumiRange>
    <Name>second</Name>
    <LumiBlockCollection><Run>51515</Run><LBRange Start="11" End="59" /></LumiBlockCollection>
  </NamedLumiRange>
</LumiRangeCollection>
"""


def test_grl_as_goodrunslists_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "grl.xml"
    path.write_text(GRL, encoding="utf-8")
    s = read_runlist(path)
    assert s.lumis(None, 102334) == ((1, 10), (23, 26), (28, LS_MAX))
    assert s.lumis(None, 90210) == ((51, 995),)
    assert s.lumis(None, 51515) == ((11, 59),)


def test_iov_conventions(tmp_path: Path) -> None:
    path = tmp_path / "blessed.txt"
    path.write_text(
        "# centrally blessed\n"
        "12,101,12,124\n"
        "14,0,14,-1   # all of experiment 14\n"
        "dbstore/Payload 3 16,5,-1,-1\n"
        "-1,-1,-1,-1\n",
        encoding="utf-8",
    )
    s = read_runlist(path)
    assert s.contains(12, 101)
    assert s.contains(12, 124)
    assert not s.contains(12, 125)
    assert s.contains(14, 99999)
    assert not s.contains(15, 1)
    assert s.contains(16, 5)
    assert s.contains(EXP_MAX, RUN_MAX)
    assert format_runlist(s, "iov").splitlines()[1:] == [
        "12,101,12,124",
        "14,0,14,-1",
        "16,5,-1,-1",
    ]


@pytest.mark.parametrize(
    ("s", "fmt", "match"),
    [
        (RunLumiSet.from_mapping({(12, 1): [(1, 2)]}), "iov", "has lumisection ranges"),
        (RunLumiSet.from_runs([(None, 1)]), "iov", "need experiment numbers"),
        (RunLumiSet.from_runs([(10, 1), (12, 1)]), "golden-json", "holds one experiment"),
        (RunLumiSet.from_runs([(10, 1), (12, 1)]), "grl-xml", "holds one experiment"),
        (RunLumiSet.from_run_range(12, 0, 12, RUN_MAX), "json", "cannot be listed run by run"),
        (RunLumiSet.from_runs([(12, 1)]), "yaml", "unknown run-list format"),
    ],
)
def test_formats_refuse_what_they_cannot_hold(s: RunLumiSet, fmt: str, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        format_runlist(s, fmt)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("g.json", '{"101": [[3, 1]]}', r"g\.json:run 101: lumisection range \[3, 1\]"),
        ("g.json", '{"101": [[0, 4]]}', r"g\.json:run 101: lumisection range \[0, 4\]"),
        ("g.json", '{"x1": [[1, 4]]}', r"g\.json:run x1: not a run number"),
        ("g.json", '{"101": [1, 4]}', r"g\.json:run 101: a lumisection range must be"),
        ("g.json", '{"101": [[1, 4]],', r"g\.json:1: not valid JSON"),
        ("l.json", '[{"experiment": 12}]', r"l\.json:item 0: run list entry without 'run'"),
        ("r.xml", "<LumiRangeCollection><NamedLumiRange>", r"r\.xml:1: not well-formed XML"),
        ("r.xml", "<Runs/>", r"r\.xml: XML root element is <Runs>"),
        (
            "r.xml",
            "<LumiRangeCollection><NamedLumiRange><LumiBlockCollection><Run>5</Run>"
            '<LBRange End="3"/></LumiBlockCollection></NamedLumiRange></LumiRangeCollection>',
            r"r\.xml:NamedLumiRange 1 LumiBlockCollection 1 run 5: <LBRange> without Start",
        ),
        (
            "r.xml",
            "<LumiRangeCollection><NamedLumiRange><LumiBlockCollection><LBRange Start='1'/>"
            "</LumiBlockCollection></NamedLumiRange></LumiRangeCollection>",
            r"r\.xml:NamedLumiRange 1 LumiBlockCollection 1: <LumiBlockCollection> without <Run>",
        ),
        (
            "r.xml",
            '<!DOCTYPE x [<!ENTITY a "b">]><LumiRangeCollection/>',
            r"r\.xml: XML entity declarations are not accepted",
        ),
        ("i.txt", "12,101,12,124\n12,130,11,4\n", r"i\.txt:2: IoV 12,130,11,4 ends before"),
        ("i.txt", "12,101,12,124\n12,101\n", r"i\.txt:2: not an IoV"),
        ("c.csv", "run,ls_first,ls_last\n5,1,x\n", r"c\.csv:2: not a lumisection: 'x'"),
        ("c.csv", "experiment,run\nzz,5\n", r"c\.csv:2: not a experiment"),
        ("t.txt", "101\n10x\n", r"t\.txt:2: not a run number: '10x'"),
    ],
)
def test_bad_files_are_one_line_config_errors(
    tmp_path: Path, name: str, content: str, match: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as info:
        read_runlist(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "fmt"),
    [
        ('{"3000": [[1, 4]]}', "golden-json"),
        ('{"runs": [3000]}', "json"),
        ("[3000]", "json"),
        ("<LumiRangeCollection/>", "grl-xml"),
        ("# blessed\n12,0,12,-1\n", "iov"),
        ("experiment,run\n12,3000\n", "csv"),
        ("3000\n3001\n", "text"),
    ],
)
def test_detect_format(content: str, fmt: str) -> None:
    assert detect_format(content) == fmt


def test_grl_writer_layout_is_the_atlas_one() -> None:
    text = format_runlist(
        RunLumiSet.from_mapping({(12, 5): [(1, 3), (7, 9)], (12, 6): ALL}), "grl-xml", name="x<y"
    )
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text)
    named = root.find("NamedLumiRange")
    assert named is not None
    assert named.findtext("Name") == "x<y"
    colls = named.findall("LumiBlockCollection")
    assert [c.findtext("Run") for c in colls] == ["5", "6"]
    assert [(r.get("Start"), r.get("End")) for r in colls[0].findall("LBRange")] == [
        ("1", "3"),
        ("7", "9"),
    ]
    assert colls[1].find("LBRange").get("End") == str(LS_MAX)  # type: ignore[union-attr]
