"""Regressions of the reliability suite: unreadable inputs, dates pandas cannot hold, counts
typed with markup or in scientific notation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from lumiaudit.errors import ElogParseError, InputReadError
from lumiaudit.online import read_online
from lumiaudit.online.values import DATE_MAX, DATE_MIN, date_in_range, parse_count, parse_elog_date
from tests.support.faults import elog_entry, run_entry, write_elog_day

REPO = Path(__file__).parent.parent
JST = timezone(timedelta(hours=9))


# ------------------------------------------------------------------ counts


@pytest.mark.parametrize(
    "text",
    [
        "1e6",
        "1.5E+06",
        "2e3 events",
        "<script>alert(1)</script>",
        "<b>1234</b>",
        "[b]1234[/b]",
        "alert(1)",
        "&#49;234",
        "1234; DROP TABLE runs",
        "${1234}",
    ],
)
def test_count_with_markup_or_exponent_is_missing_with_a_reason(text: str) -> None:
    value, reason = parse_count(text)
    assert value is None
    assert reason is not None
    assert repr(text)[:20] in reason or "..." in reason


# Words around a count ("~ 1234567 events", "N = 1,234") are no longer read (issue 11: a count
# is read only when the whole text is a documented form); see tests/test_online_values.py.


def test_hostile_counts_in_a_day_file_are_problems(tmp_path: Path) -> None:
    path = write_elog_day(
        tmp_path / "191105a.log",
        [run_entry(1, 10, "1e6"), run_entry(2, 11, "<i>77</i>"), run_entry(3, 12, "88")],
    )
    res = read_online(path)
    got = dict(zip(res.table["run"], res.table["n_online"], strict=True))
    assert pd.isna(got[10])
    assert pd.isna(got[11])
    assert got[12] == 88
    lines = path.read_text(encoding="utf-8").split("\n")
    reasons = list(res.problems["reason"])
    assert len(reasons) == 2
    assert "scientific notation" in reasons[0]
    assert "markup" in reasons[1]
    for line in res.problems["line"]:
        assert lines[int(line) - 1].startswith("Num events: ")


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    "text",
    [
        "Wed, 06 Nov 7019 14:09:04 +0900",
        "Wed, 06 Nov 0900 14:09:04 +0900",
        "Mon, 01 Jan 0001 00:00:00 +0900",  # before year 1 in UTC
        "Fri, 31 Dec 9999 23:00:00 -0500",  # after year 9999 in UTC
        "7019-11-06 10:00:00 JST",
    ],
)
def test_dates_outside_pandas_range_parse_but_are_flagged(text: str) -> None:
    value = parse_elog_date(text)
    assert value is not None
    assert not date_in_range(value)


def test_date_range_ends() -> None:
    assert date_in_range(None)
    assert date_in_range(DATE_MIN)
    assert date_in_range(DATE_MAX)
    assert not date_in_range(DATE_MAX + timedelta(days=1))
    assert not date_in_range(DATE_MIN - timedelta(days=1))
    # the ends fit a datetime64[ns] column
    pd.Series(pd.to_datetime([DATE_MIN, DATE_MAX], utc=True)).astype("datetime64[ns, UTC]")


def _typo_book(tmp_path: Path) -> Path:
    """Run 101 twice: MID 1 dated 2019 (55), MID 2 with a typed year 7019 (66)."""
    attrs = {"Type": "Run summary", "Exp number": "12", "Run number": "101"}
    good = elog_entry(
        1,
        {**attrs, "Num events": "55"},
        "Stop : 2019-11-06 10:00:00 JST",
        date=datetime(2019, 11, 6, 14, 9, 4, tzinfo=JST),
    )
    typo = elog_entry(
        2,
        {**attrs, "Num events": "66"},
        "Stop : 7019-11-06 10:00:00 JST",
        date="Wed, 06 Nov 7019 14:09:04 +0900",
    )
    return write_elog_day(tmp_path / "191106a.log", [good, typo, run_entry(3, 102, "77")])


def test_out_of_range_date_is_missing_with_a_located_problem(tmp_path: Path) -> None:
    path = _typo_book(tmp_path)
    res = read_online(path)
    entries = res.entries.set_index("entry_id")
    assert pd.isna(entries.loc["2", "entry_date"])
    assert pd.isna(entries.loc["2", "stop_time"])
    assert entries.loc["1", "entry_date"] == pd.Timestamp("2019-11-06 05:09:04", tz="UTC")
    assert entries.loc["1", "stop_time"] == pd.Timestamp("2019-11-06 01:00:00", tz="UTC")
    problems = res.problems
    assert problems["reason"].str.contains("date out of range").all()
    assert len(problems) == 2  # the Date line and the Stop time in the body
    lines = path.read_text(encoding="utf-8").split("\n")
    by_kind = {
        ("stop" if "stop" in r else "date"): int(n) for r, n in problems[["reason", "line"]].values
    }
    assert lines[by_kind["date"] - 1].startswith("Date: Wed, 06 Nov 7019")
    assert lines[by_kind["stop"] - 1] == "$@MID@$: 2"  # body values point at their entry
    assert set(problems["source"]) == {str(path)}
    with pytest.raises(ElogParseError, match=rf"{path}:\d+: .*date out of range"):
        read_online(path, strict=True)


def test_latest_policy_ranks_an_undated_entry_oldest(tmp_path: Path) -> None:
    res = read_online(_typo_book(tmp_path))
    got = dict(zip(res.table["run"], res.table["n_online"], strict=True))
    assert got == {101: 55, 102: 77}  # MID 2 is newer by id, but has no usable date
    conflict = res.conflicts.set_index("run").loc[101]
    assert conflict["chosen"] == 55


def test_daq_close_time_out_of_range(data_dir: Path, tmp_path: Path) -> None:
    text = (data_dir / "online" / "daq_catalogue.csv").read_text(encoding="utf-8")
    assert text.count("2019-11-07 23:08:51") == 1
    path = tmp_path / "daq_catalogue.csv"
    path.write_text(text.replace("2019-11-07 23:08:51", "7019-11-07 23:08:51"), encoding="utf-8")
    res = read_online(path)
    files = res.daq_files
    assert pd.isna(files.loc[files["run"] == 3036, "time_close"].item())
    assert files["time_close"].notna().sum() == 4
    assert res.table.set_index("run").loc[3036, "n_online"] == 3856
    assert res.problems["reason"].str.contains("date out of range").sum() == 1


# ------------------------------------------------------------------ unreadable inputs

_READ_CASES = """
import json, sys
from lumiaudit.errors import InputReadError
from lumiaudit.online import read_online
out = {}
for target in sys.argv[1:]:
    try:
        read_online(target)
        out[target] = None
    except InputReadError as exc:
        out[target] = [str(exc), isinstance(exc, OSError)]
print(json.dumps(out))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="drops Linux capabilities")
def test_unreadable_file_and_subdirectory_raise_input_read_error(
    elog_dir: Path, tmp_path: Path
) -> None:
    from tests.support.faults import can_bypass_permissions, drop_dac_capabilities

    day = elog_dir / "ondisk" / "2019" / "191105a.log"
    locked_file = tmp_path / "file" / "191105a.log"
    locked_file.parent.mkdir()
    locked_file.write_bytes(day.read_bytes())
    locked_file.chmod(0)
    book = tmp_path / "book"
    (book / "2019").mkdir(parents=True)
    (book / day.name).write_bytes(day.read_bytes())
    (book / "2019").chmod(0)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _READ_CASES, str(locked_file), str(book)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            preexec_fn=drop_dac_capabilities if can_bypass_permissions() else None,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE: {exc}")
    finally:
        (book / "2019").chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    text, is_os_error = got[str(locked_file)]
    assert text.startswith(f"{locked_file}: cannot read: Permission denied")
    assert is_os_error
    # an unreadable subdirectory is not a silent gap in the logbook
    text, _ = got[str(book)]
    assert text.startswith(f"{book / '2019'}: cannot read: Permission denied")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_given_explicitly_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "191105a.log"
    os.mkfifo(fifo)
    with pytest.raises(InputReadError, match=rf"{fifo}: not a regular file"):
        read_online(fifo)
