"""Run database JSON, DAQ file catalogue, generic tables, mappings, detection and errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lumiaudit.errors import ConfigError, InputNotFoundError, OnlineFormatError, ParameterError
from lumiaudit.online import read_online
from lumiaudit.online.detect import detect_format
from lumiaudit.online.mapping import BELLE2, load_mapping


@pytest.fixture(scope="module")
def online_data(data_dir: Path) -> Path:
    return data_dir / "online"


def by_run(table: pd.DataFrame) -> dict[int, pd.Series]:
    return {int(r["run"]): r for _, r in table.iterrows()}


def test_rundb_pages(online_data: Path) -> None:
    res = read_online(sorted(online_data.glob("rundb_page*.json")))
    assert set(res.formats.values()) == {"rundb"}
    rows = by_run(res.table)
    assert rows[3000]["n_online"] == 6725
    assert rows[3000]["lumi_nb"] == pytest.approx(19214.286)
    assert rows[3010]["run_type"] == "cosmic"
    assert rows[3010]["start_time"] == pd.Timestamp("2019-11-05 19:12:38", tz="UTC")
    assert rows[3050]["n_online"] == 2952  # a count given as a JSON string
    assert pd.isna(rows[3050]["run_type"])  # null stays missing
    assert pd.isna(rows[3048]["n_online"])
    assert pd.isna(rows[3048]["stop_time"])
    assert res.problems["line"].tolist() == ["record 1"]
    assert rows[3048]["source"].endswith("rundb_page2.json")
    quality = dict(zip(res.entries["run"], res.entries["quality"], strict=True))
    assert quality[3010] == "svd=bad;cdc=good"
    assert pd.isna(quality[3048])


def test_rundb_events_field_from_mapping(tmp_path: Path) -> None:
    page = tmp_path / "runs.json"
    page.write_text(
        '[{"experiment": 12, "run": 5, "statistics": {"nevents": 1, "nevents_hlt": 77}}]',
        encoding="utf-8",
    )
    assert read_online(page).table["n_online"].tolist() == [1]
    res = read_online(page, mapping={"rundb": {"events": "statistics.nevents_hlt"}})
    assert res.table["n_online"].tolist() == [77]


def test_daq_catalogue_sums_per_run_and_keeps_files(online_data: Path) -> None:
    res = read_online(online_data / "daq_catalogue.csv")
    assert res.formats == {str(online_data / "daq_catalogue.csv"): "daq"}
    rows = by_run(res.table)
    assert rows[3035]["n_online"] == 1200 + 650 + 2329
    assert rows[3035]["source_line"] == "2-4"
    assert rows[3036]["n_online"] == 3856
    # one file of run 3037 has no nevents: no partial sum, a problem instead
    assert pd.isna(rows[3037]["n_online"])
    assert "1 of 2 files have no nevents" in res.problems["reason"].item()
    files = res.daq_files
    assert len(files) == 6
    f = files.loc[files["name"] == "physics.0010.03035.HLT1.f00001.root"].iloc[0]
    assert (f["hlt_unit"], f["file_index"], f["n_online"], f["n_online_full"]) == (1, 1, 650, 650)
    assert f["source_line"] == "3"
    assert files.loc[files["run"] == 3036, "correct_close"].tolist() == [False]
    assert str(files["n_online"].dtype) == "Int64"


def test_daq_psql_output(online_data: Path) -> None:
    res = read_online(online_data / "daq_catalogue_psql.txt")
    rows = by_run(res.table)
    assert rows[3040]["n_online"] == 10296
    assert rows[3011]["run_type"] == "cosmic"
    assert res.daq_files["hlt_unit"].tolist() == [3, 1]
    assert res.problems.empty


def test_table_with_typed_values(online_data: Path) -> None:
    res = read_online(online_data / "quirks_table.csv")
    rows = by_run(res.table)
    assert rows[1925]["n_online"] == 1234567  # r01925, "1 234 567"
    # 01926, "~ 2000 events": approximate, so missing with a problem (issue 11)
    assert pd.isna(rows[1926]["n_online"])
    assert rows[1926]["run_type"] == "physics"  # "Physics"
    assert pd.isna(rows[1926]["lumi_nb"])  # n/a
    assert pd.isna(rows[1927]["n_online"])  # n/a: missing, never 0
    assert rows[1928]["n_online"] == 1235  # later row wins
    assert pd.isna(rows[1929]["n_online"])  # 12O0 (letter O)
    assert res.conflicts["values"].tolist() == ["1234;1235"]
    problems = dict(zip(res.problems["line"], res.problems["reason"], strict=True))
    assert "12O0" in problems["7"]
    assert "'~ 2000 events'" in problems["3"]
    assert "approximate" in problems["3"]
    assert "no run number" in problems["8"]
    assert "1927" in problems["4"]


def test_mapping_toml(online_data: Path) -> None:
    path = online_data / "custom.tsv"
    with pytest.raises(OnlineFormatError, match="formats tried"):
        read_online(path)  # Nevt is not a known column name
    res = read_online(path, mapping=online_data / "custom_mapping.toml")
    assert res.table["n_online"].tolist() == [100, 200]
    assert res.table["experiment"].tolist() == [8, 8]
    assert res.table["run_type"].tolist() == ["physics", "cosmic"]


def test_mapping_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown section"):
        load_mapping({"elgo": {}})
    with pytest.raises(ConfigError, match="unknown key 'evnts'"):
        load_mapping({"elog": {"evnts": "x"}})
    with pytest.raises(ConfigError, match="capturing group"):
        load_mapping({"elog": {"lumi_regex": "Lumi"}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[elog\nevents = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        load_mapping(bad)
    with pytest.raises(InputNotFoundError):
        load_mapping(tmp_path / "missing.toml")
    assert load_mapping(None) is BELLE2


def test_detect_format() -> None:
    assert detect_format("\ufeff$@MID@$: 3\n", BELLE2) == "elog"
    assert detect_format('<?xml version="1.0"?>\n<ELOG_LIST>', BELLE2) == "elog-xml"
    assert detect_format('"Message ID";"Date"\r\n', BELLE2) == "elog-csv"
    assert detect_format('{"results": []}', BELLE2) == "rundb"
    assert detect_format("name,path,host,runtype,expno,runno,fileno,nevents\n", BELLE2) == "daq"
    assert detect_format("exp\trun\tn_online\n", BELLE2) == "table"
    assert detect_format("# README\nhello", BELLE2) is None
    assert detect_format("", BELLE2) is None


def test_missing_and_unknown_inputs(tmp_path: Path, elog_dir: Path) -> None:
    with pytest.raises(InputNotFoundError, match="nowhere"):
        read_online(tmp_path / "nowhere.log")
    with pytest.raises(InputNotFoundError, match="glob matched no file"):
        read_online(str(tmp_path / "*.log"))
    notes = tmp_path / "notes.txt"
    notes.write_text("just text\n", encoding="utf-8")
    with pytest.raises(OnlineFormatError, match=r"notes\.txt: .*elog, elog-xml, elog-csv"):
        read_online(notes)
    with pytest.raises(OnlineFormatError, match="no online source found"):
        read_online(tmp_path)
    with pytest.raises(ParameterError, match="policy"):
        read_online(elog_dir / "ondisk", policy="newest")
    with pytest.raises(ParameterError, match="format"):
        read_online(elog_dir / "ondisk", format="word")


def test_directory_skips_unknown_files_and_glob(elog_dir: Path) -> None:
    res = read_online(elog_dir)  # README.md is skipped; day files and exports all read
    assert "README.md" not in " ".join(res.formats)
    assert len(res.formats) == 10
    assert by_run(res.table)[3030]["n_online"] == 10231
    # the same entries read from six files are one value each in the conflict
    assert res.conflicts["values"].tolist() == ["7231;10231"]
    assert res.conflicts["sources"].item().count("(+5 copies)") == 2
    assert len(res.problems) == 1
    globbed = read_online(str(elog_dir / "ondisk" / "*" / "*.log"))
    assert len(globbed.formats) == 5


def test_forced_format(elog_dir: Path, online_data: Path) -> None:
    res = read_online(elog_dir / "exports" / "export_XML.xml", format="elog")
    assert set(res.formats.values()) == {"elog-xml"}
    forced = read_online(online_data / "quirks_table.csv", format="table")
    assert len(forced.table) == 5


def test_mapping_example_in_docs_is_valid(tmp_path: Path) -> None:
    docs = Path(__file__).parent.parent / "docs" / "online.md"
    assert docs.is_file(), docs
    text = docs.read_text(encoding="utf-8")
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "site.toml"
    path.write_text(block, encoding="utf-8")
    mapping = load_mapping(path)
    assert mapping.elog.events == ("Recorded events",)
    assert mapping.elog.utc_offset_hours == 1.0
    assert mapping.table.events == ("Nevt", "Events")
    assert mapping.daq == BELLE2.daq


def test_truth_csv_as_a_table(b2_sample: Path) -> None:
    """online_truth.csv itself is a table: undated rows, so the last row of a run wins."""
    truth_path = b2_sample / "online_truth.csv"
    res = read_online(truth_path)
    assert res.formats == {str(truth_path): "table"}
    truth = pd.read_csv(truth_path).groupby("run").last()
    got = by_run(res.table)
    assert sorted(got) == sorted(int(r) for r in truth.index)
    for run, n in truth["num_events"].items():
        assert got[int(run)]["n_online"] == n
        assert got[int(run)]["run_type"] == truth.loc[run, "run_type"]
