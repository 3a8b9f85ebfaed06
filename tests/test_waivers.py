"""Waivers: TOML and CSV files, validation with file and line, expiry, application."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from lumiaudit.errors import ConfigError, InputNotFoundError
from lumiaudit.store.config import read_waivers
from lumiaudit.waivers import apply_waivers

TOML = """
[[waiver]]
run = 3044
experiment = 10
reason = "unexplained"
note = "DAQ crate lost events"
owner = "alice"
expiry = 2026-12-31

[[waiver]]
run = 3012
reason = "*"
owner = "bob"
"""


def _runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment": pd.array([10, 10, 10], dtype="Int64"),
            "run": pd.array([3044, 3012, 3020], dtype="Int64"),
            "reasons": pd.array(
                ["unexplained", "no_offline_files", "unreadable_file"], dtype="string"
            ),
            "flagged": pd.array([True, True, True], dtype="boolean"),
        }
    )


def test_toml_waivers_apply_until_expiry(tmp_path: Path) -> None:
    path = tmp_path / "waivers.toml"
    path.write_text(TOML, encoding="utf-8")
    w = read_waivers(path)
    assert w["run"].tolist() == [3044, 3012]
    assert w.loc[0, "expiry"] == date(2026, 12, 31)
    assert w.loc[1, "expiry"] is None
    assert w.loc[1, "experiment"] is pd.NA
    out = apply_waivers(_runs(), w, today=date(2026, 11, 1))
    assert out["waived"].tolist() == [True, True, False]
    assert out["flagged"].tolist() == [False, False, True]
    assert out.loc[0, "waiver"] == "alice: DAQ crate lost events (until 2026-12-31)"
    expired = apply_waivers(_runs(), w, today=date(2027, 1, 1))
    assert expired["waived"].tolist() == [False, True, False]
    assert expired["flagged"].tolist() == [True, False, True]


def test_csv_waivers_and_reason_must_match(tmp_path: Path) -> None:
    path = tmp_path / "waivers.csv"
    path.write_text(
        "run,experiment,reason,note,owner,expiry\n3020,10,file_index_gap,wrong reason,carol,\n"
        "3044,,unexplained,ok,dave,2030-01-01\n",
        encoding="utf-8",
    )
    w = read_waivers(path)
    out = apply_waivers(_runs(), w, today=date(2026, 11, 1))
    assert out["waived"].tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("text", "suffix", "match"),
    [
        (
            "run,reason\n3044,not_a_code\n",
            ".csv",
            r"waivers\.csv:2: unknown reason code 'not_a_code'",
        ),
        (
            "run,reason,expiry\n3044,*,31/12/2026\n",
            ".csv",
            r"waivers\.csv:2: waiver expiry must be",
        ),
        ("run,reason\nabc,*\n", ".csv", r"waivers\.csv:2: waiver run must be an integer"),
        ("note,reason\nx,*\n", ".csv", r"waivers\.csv:1: CSV waivers need a header"),
        (
            "[[waiver]]\nrun = 1\ncolour = 'red'\n",
            ".toml",
            r"waivers\.toml:waiver 1: unknown waiver field",
        ),
        ("[[waiver]\n", ".toml", r"waivers\.toml: not valid TOML"),
    ],
)
def test_bad_waivers_name_file_and_line(tmp_path: Path, text: str, suffix: str, match: str) -> None:
    path = tmp_path / f"waivers{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        read_waivers(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="waivers file not found"):
        read_waivers(tmp_path / "nope.toml")


@pytest.mark.parametrize("suffix", [".toml", ".csv", ".txt"])
def test_binary_waivers_file_is_a_config_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"waivers{suffix}"
    path.write_bytes(b"run,reason\n" + bytes(range(128, 256)))
    with pytest.raises(ConfigError, match=r"waivers\.\w+: not a text waivers file \(byte 11 "):
        read_waivers(path)


def test_reconcile_takes_tables_not_paths(tmp_path: Path) -> None:
    # the reconciliation is pure (issue 12): it refuses a path instead of reading it
    from lumiaudit.errors import ParameterError
    from lumiaudit.reconcile import reconcile

    path = tmp_path / "waivers.toml"
    path.write_text(TOML, encoding="utf-8")
    key = {"experiment": [10], "run": [3044]}
    online = pd.DataFrame({**key, "n_online": [100], "run_type": ["physics"]})
    offline = pd.DataFrame(
        {**key, "n_offline": [90], "n_offline_full": [90], "n_files": [1], "n_files_bad": [0]}
    )
    with pytest.raises(ParameterError, match="waivers as a table, not a path"):
        reconcile(online=online, offline_runs=offline, waivers=path)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="mask as a table, not a path"):
        reconcile(online=online, offline_runs=offline, mask=str(path))
    waived = reconcile(online=online, offline_runs=offline, waivers=read_waivers(path)).runs
    assert bool(waived["waived"].iloc[0])


def test_audit_reads_the_waivers_file_before_counting(tmp_path: Path) -> None:
    # a bad waivers file fails in a second, before any offline input is looked at: here the
    # offline input does not even exist, and the error is still the waivers file's
    import lumiaudit

    bad = tmp_path / "waivers.toml"
    bad.write_text("[[waiver]\nrun = 1\n", encoding="utf-8")
    elog = tmp_path / "elog"
    elog.mkdir()
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        lumiaudit.audit(online=elog, offline=tmp_path / "no-such-production", waivers=bad)
    assert info.value.path == str(bad)
