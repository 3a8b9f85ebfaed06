"""Belle II file names and layout markers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lumiaudit.offline.names import join_markers, parse_path

PROD = "release-03-02-04/DB00000677/bucket7/e0010/4S"


def test_raw_name_from_domain_md() -> None:
    f = parse_path("/hsm/belle2/raw/physics.0008.01925.HLT3.f00010.root")
    assert (f.run_type, f.experiment, f.run, f.hlt_unit, f.file_index) == (
        "physics",
        8,
        1925,
        3,
        10,
    )
    assert f.data_level == "raw"
    assert f.process is None
    assert f.skim is None
    assert f.markers == ()
    assert f.stem == "physics.0008.01925.HLT3.f00010.root"


@pytest.mark.parametrize(
    ("name", "hlt", "process", "run"),
    [
        ("physics.0012.03456.HLT03.f00002.root", 3, None, 3456),
        ("physics.0012.03456.HLT12.p07.f00002.root", 12, 7, 3456),
        ("cosmic.0003.r04794.HLT1.f00000.sroot", 1, None, 4794),
    ],
)
def test_raw_name_variants(name: str, hlt: int, process: int | None, run: int) -> None:
    f = parse_path(name)
    assert (f.hlt_unit, f.process, f.run) == (hlt, process, run)


def test_processed_name_keeps_raw_stem_and_layout_markers() -> None:
    f = parse_path(f"{PROD}/r03041_bad/all/mdst/sub00/mdst.physics.0010.03041.HLT2.f00001.root")
    assert (f.data_level, f.run, f.hlt_unit, f.file_index) == ("mdst", 3041, 2, 1)
    assert f.markers == ("bad_suffix",)
    bad = parse_path(
        f"{PROD}/BadRuns/r03042/all/mdst/sub00/mdst.physics.0010.03042.HLT1.f00000.root"
    )
    assert bad.markers == ("badruns_dir",)
    good = parse_path(
        f"{PROD}/GoodRuns/r03000/all/mdst/sub00/mdst.physics.0010.03000.HLT1.f00000.root"
    )
    assert good.markers == ("goodruns_dir",)


def test_skim_from_directory_and_from_name() -> None:
    d = parse_path(
        f"{PROD}/r03000/skim/hadronic/mdst/sub00/mdst.physics.0010.03000.HLT1.f00000.root"
    )
    assert d.skim == "hadronic"
    assert d.markers == ("skim:hadronic",)
    assert d.run == 3000
    n = parse_path("mdst.physics.0010.03000.HLT1.f00000.tau_lfv.root")
    assert n.skim == "tau_lfv"
    assert n.markers == ("skim:tau_lfv",)
    assert n.file_index == 0


def test_grid_file_has_no_run() -> None:
    f = parse_path("grid/e0010/4S/r00000/mdst/sub00/mdst_000123_prod00012345_task10020000123.root")
    assert f.run is None
    assert f.experiment == 10
    assert f.data_level == "mdst"
    assert f.markers == ("grid",)


def test_unknown_name_takes_run_from_layout_but_never_r00000() -> None:
    assert parse_path("e0007/4S/r01234/all/udst/sub00/whatever.root").run == 1234
    assert parse_path("e0007/4S/r01234/all/udst/sub00/whatever.root").experiment == 7
    assert parse_path("e0007/4S/r00000/all/udst/sub00/whatever.root").run is None
    assert parse_path("plain.root").run is None


def test_urls_are_parsed_by_their_path() -> None:
    url = "root://xrootd.example.org:1094//belle/" + PROD + "/r03000/all/mdst/sub00/"
    f = parse_path(url + "mdst.physics.0010.03000.HLT4.f00001.root")
    assert (f.run, f.hlt_unit, f.file_index) == (3000, 4, 1)
    g = parse_path("https://host/belle/BadRuns/r00042/physics.0001.00042.HLT1.f00000.root")
    assert g.markers == ("badruns_dir",)


def test_join_markers_sorts_and_deduplicates() -> None:
    assert join_markers(("grid",), {"symlink", "grid"}, []) == "grid;symlink"
    assert join_markers() == ""


@given(
    level=st.sampled_from(["", "mdst.", "cdst.", "udst."]),
    run_type=st.sampled_from(["physics", "cosmic", "debug", "null"]),
    exp=st.integers(0, 9999),
    run=st.integers(0, 99999),
    hlt=st.integers(1, 20),
    two_digits=st.booleans(),
    process=st.none() | st.integers(0, 99),
    index=st.integers(0, 99999),
    ext=st.sampled_from([".root", ".sroot"]),
)
def test_names_round_trip(
    level: str,
    run_type: str,
    exp: int,
    run: int,
    hlt: int,
    two_digits: bool,
    process: int | None,
    index: int,
    ext: str,
) -> None:
    unit = f"HLT{hlt:02d}" if two_digits else f"HLT{hlt}"
    proc = "" if process is None else f".p{process:02d}"
    name = f"{level}{run_type}.{exp:04d}.{run:05d}.{unit}{proc}.f{index:05d}{ext}"
    f = parse_path(f"/data/{name}")
    assert (f.experiment, f.run, f.hlt_unit, f.process, f.file_index) == (
        exp,
        run,
        hlt,
        process,
        index,
    )
    assert f.run_type == run_type
    assert f.data_level == (level.rstrip(".") or "raw")
    assert f.stem == name


@given(st.text(max_size=80))
def test_any_text_parses_without_error(text: str) -> None:
    f = parse_path(text)
    assert f.run is None or f.run >= 0
