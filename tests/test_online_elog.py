"""The ELOG readers against real elogd 3.1.5 output (tests/data/elog, see its README)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lumiaudit.errors import ElogParseError
from lumiaudit.online import read_online

EXPORTS = [
    "export_CSV1.csv",
    "export_CSV2.csv",
    "export_CSV3.csv",
    "export_XML.xml",
    "export_Raw.txt",
]


def final_counts(truth_csv: Path) -> dict[int, int | None]:
    """The last row per run of online_truth.csv: the count the logbook finally says."""
    truth = pd.read_csv(truth_csv).groupby("run").last()
    return {int(run): (None if pd.isna(n) else int(n)) for run, n in truth["num_events"].items()}


def counts(table: pd.DataFrame) -> dict[int, int | None]:
    return {
        int(r): (None if pd.isna(n) else int(n))
        for r, n in zip(table["run"], table["n_online"], strict=True)
    }


def elog_inputs(elog: Path) -> dict[str, object]:
    day_files = sorted((elog / "ondisk" / "2019").glob("*.log"))
    inputs: dict[str, object] = {"day-file directory": elog / "ondisk", "day files": day_files}
    inputs.update({name: elog / "exports" / name for name in EXPORTS})
    return inputs


@pytest.mark.parametrize("which", ["day-file directory", "day files", *EXPORTS])
def test_vendored_elog_gives_truth(which: str, elog_dir: Path, b2_sample: Path) -> None:
    res = read_online(elog_inputs(elog_dir)[which])  # type: ignore[arg-type]
    truth = final_counts(b2_sample / "online_truth.csv")
    got = counts(res.table)
    assert {run: got[run] for run in truth} == truth
    assert len(res.table) == 53
    assert 3049 not in got  # no entry, not in the table


@pytest.mark.parametrize("which", ["day-file directory", "day files", *EXPORTS])
def test_shared_elog_gives_full_truth(which: str, shared_data: Path) -> None:
    sample = shared_data / "b2-sample"
    res = read_online(elog_inputs(sample / "elog")[which])  # type: ignore[arg-type]
    assert counts(res.table) == final_counts(sample / "online_truth.csv")
    truth = pd.read_csv(sample / "online_truth.csv").groupby("run").last()
    assert list(res.table["run_type"]) == list(truth["run_type"])


@pytest.fixture(scope="module")
def ondisk(elog_dir: Path) -> object:
    return read_online(elog_dir / "ondisk")


def row(res: object, run: int) -> pd.Series:
    table = res.table  # type: ignore[attr-defined]
    return table.loc[table["run"] == run].iloc[0]


def test_reply_wins_and_conflict_is_kept(ondisk: object) -> None:
    r = row(ondisk, 3030)
    assert r["n_online"] == 10231
    assert r["source"].endswith("191108a.log")
    assert r["source_line"] == "MID 34"
    conflicts = ondisk.conflicts  # type: ignore[attr-defined]
    assert len(conflicts) == 1
    c = conflicts.iloc[0]
    assert (c["experiment"], c["run"], c["values"], c["chosen"]) == (10, 3030, "7231;10231", 10231)
    assert c["policy"] == "latest"
    assert c["sources"].split(";")[0].endswith("191107a.log:MID 32")
    # lumi of the reply; start/stop absent in the reply are taken from the parent entry
    assert r["lumi_nb"] == pytest.approx(29231.429)
    assert r["start_time"] == pd.Timestamp("2019-11-07 10:34:30", tz="UTC")


def test_problem_report_without_count_does_not_blank(ondisk: object) -> None:
    entries = ondisk.entries  # type: ignore[attr-defined]
    e3037 = entries.loc[entries["run"] == 3037]
    assert list(e3037["entry_type"]) == ["Problem report", "Run summary"]
    assert list(e3037["chosen"]) == [False, True]
    assert pd.isna(e3037["n_online"].iloc[0])
    assert row(ondisk, 3037)["n_online"] == 5551


def test_shift_summary_is_not_a_run_entry(ondisk: object) -> None:
    entries = ondisk.entries  # type: ignore[attr-defined]
    assert "26" not in set(entries["entry_id"])
    assert "Shift summary" not in set(entries["entry_type"].dropna())
    assert len(entries) == 55  # 56 entries minus the shift summary
    problems = ondisk.problems  # type: ignore[attr-defined]
    assert not problems["reason"].str.contains("MID 26").any()


def test_empty_count_is_missing_with_a_problem(ondisk: object) -> None:
    r = row(ondisk, 3048)
    assert pd.isna(r["n_online"])
    assert pd.isna(r["lumi_nb"])
    problems = ondisk.problems  # type: ignore[attr-defined]
    assert len(problems) == 1
    p = problems.iloc[0]
    assert p["source"].endswith("191109a.log")
    assert "3048" in p["reason"]
    assert "Num events empty" in p["reason"]
    text = Path(p["source"]).read_text(encoding="utf-8").splitlines()
    assert text[int(p["line"]) - 1] == "Num events: "


def test_body_values_in_every_encoding(ondisk: object) -> None:
    assert row(ondisk, 3026)["lumi_nb"] == pytest.approx(23588.571)  # ELCode [b]..[/b]
    r = row(ondisk, 3036)  # HTML <p>..</p>, Stop&nbsp; :
    assert r["lumi_nb"] == pytest.approx(11017.143)
    assert r["stop_time"] == pd.Timestamp("2019-11-07 23:08:51", tz="UTC")
    assert pd.isna(row(ondisk, 3014)["lumi_nb"])  # no luminosity line
    r = row(ondisk, 3000)  # Start : 2019-11-05 09:00:00 JST
    assert r["start_time"] == pd.Timestamp("2019-11-05 00:00:00", tz="UTC")
    assert r["stop_time"] == pd.Timestamp("2019-11-05 01:22:34", tz="UTC")
    assert row(ondisk, 3017)["n_online"] == 2535  # Run number: 03017


def test_run_types(ondisk: object) -> None:
    types = dict(zip(ondisk.table["run"], ondisk.table["run_type"], strict=True))  # type: ignore[attr-defined]
    assert types[3010] == types[3011] == "cosmic"
    assert {t for r, t in types.items() if r not in (3010, 3011)} == {"physics"}


def test_schema_and_entries_columns(ondisk: object) -> None:
    table = ondisk.table  # type: ignore[attr-defined]
    assert str(table["n_online"].dtype) == "Int64"
    assert str(table["start_time"].dtype) == "datetime64[ns, UTC]"
    entries = ondisk.entries  # type: ignore[attr-defined]
    for col in ("entry_id", "entry_date", "entry_type", "count_text", "chosen", "problem"):
        assert col in entries.columns
    assert entries.loc[entries["entry_id"] == "2", "count_text"].item() == "6,648"
    assert entries["chosen"].sum() == 53


def test_single_day_file_without_its_correction(elog_dir: Path, b2_sample: Path) -> None:
    """191107a.log alone has run 3030's first entry; the correction is in the next file."""
    res = read_online(elog_dir / "ondisk" / "2019" / "191107a.log")
    got = counts(res.table)
    assert got[3030] == 7231
    assert res.conflicts.empty
    both = read_online(sorted((elog_dir / "ondisk" / "2019").glob("19110[78]a.log")))
    assert counts(both.table)[3030] == 10231


@pytest.mark.parametrize(
    ("policy", "expected"), [("first", 7231), ("max", 10231), ("latest", 10231)]
)
def test_policies(policy: str, expected: int, elog_dir: Path) -> None:
    res = read_online(elog_dir / "exports" / "export_XML.xml", policy=policy)
    assert row(res, 3030)["n_online"] == expected
    assert res.conflicts["policy"].tolist() == [policy]


def test_policy_error_names_the_conflict(elog_dir: Path) -> None:
    with pytest.raises(ElogParseError, match=r"run 3030: conflicting counts 7231;10231"):
        read_online(elog_dir / "exports" / "export_CSV1.csv", policy="error")


def test_strict_names_first_problem(elog_dir: Path) -> None:
    with pytest.raises(ElogParseError, match=r"191109a\.log:\d+: exp 10 run 3048") as info:
        read_online(elog_dir / "ondisk", strict=True)
    assert "\n" not in str(info.value)


def test_exports_order_does_not_matter(elog_dir: Path) -> None:
    """Exports are newest first, day files oldest first: the same run wins."""
    xml = read_online(elog_dir / "exports" / "export_XML.xml").table
    raw = read_online(elog_dir / "exports" / "export_Raw.txt").table
    pd.testing.assert_frame_equal(
        xml.drop(columns=["source"]), raw.drop(columns=["source"]), check_exact=True
    )


def test_iso_8859_1_logbook_with_quirks(data_dir: Path) -> None:
    path = data_dir / "online" / "latin1_quirks.log"
    res = read_online(path)
    assert counts(res.table) == {1925: 1234567, 1926: 5000, 1927: 42}
    r = row(res, 1925)  # run only in the Subject, e0008, CET times, lumi "1,234.5"
    assert r["experiment"] == 8
    assert r["lumi_nb"] == pytest.approx(1234.5)
    assert r["start_time"] == pd.Timestamp("2020-03-02 07:00", tz="UTC")
    assert row(res, 1926)["run_type"] == "cosmic"  # empty Category, from the Subject
    reasons = dict(zip(res.problems["line"], res.problems["reason"], strict=True))
    assert "header line without" in reasons["25"]
    assert "no line of 40 '='" in reasons["30"]
