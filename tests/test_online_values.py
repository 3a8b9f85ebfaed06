"""Values as people type them: counts, run numbers, floats, times, encodings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.online.values import (
    decode_bytes,
    norm_key,
    parse_count,
    parse_elog_date,
    parse_experiment,
    parse_float,
    parse_run,
    parse_time,
    strip_markup,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6725", 6725),
        ("6,648", 6648),
        ("1,234,567", 1234567),
        ("1 234 567", 1234567),
        ("1'234'567", 1234567),
        ("1.234.567", 1234567),
        ("~ 1234567 events", 1234567),
        ("  10,231 ", 10231),
        ("0", 0),
    ],
)
def test_count_as_typed(text: str, expected: int) -> None:
    assert parse_count(text) == (expected, None)


@pytest.mark.parametrize("text", ["", "   ", "n/a", "N/A", "-", "?", "none", "unknown"])
def test_count_missing_is_none_never_zero(text: str) -> None:
    value, reason = parse_count(text)
    assert value is None
    assert reason


@pytest.mark.parametrize("text", ["12O0", "1234 (run 1925)", "-5", "12.5", "1.234", "lots"])
def test_count_unparsable_has_reason(text: str) -> None:
    value, reason = parse_count(text)
    assert value is None
    assert reason is not None
    assert "cannot" in reason or "negative" in reason or "whole" in reason


def test_count_absent() -> None:
    assert parse_count(None) == (None, "absent")


@given(
    n=st.integers(min_value=0, max_value=10**12),
    sep=st.sampled_from(["", ",", " ", "'", "\u202f"]),
    prefix=st.sampled_from(["", "~ ", "approx. "]),
    suffix=st.sampled_from(["", " events", " evts"]),
)
@settings(max_examples=100)
def test_count_roundtrip_any_separator(n: int, sep: str, prefix: str, suffix: str) -> None:
    typed = f"{n:,}".replace(",", sep) if sep else str(n)
    assert parse_count(f"{prefix}{typed}{suffix}") == (n, None)


@given(st.text(max_size=40))
@settings(max_examples=100)
def test_count_never_crashes(text: str) -> None:
    value, reason = parse_count(text)
    assert (value is None) != (reason is None)
    assert value is None or value >= 0


@pytest.mark.parametrize(
    ("text", "expected"), [("1925", 1925), ("01925", 1925), ("r01925", 1925), ("run 1925", 1925)]
)
def test_run_forms(text: str, expected: int) -> None:
    assert parse_run(text) == (expected, None)


def test_run_and_experiment_bad() -> None:
    assert parse_run("3022-3024")[0] is None
    assert parse_run("")[1] == "empty"
    assert parse_experiment("e0010") == (10, None)
    assert parse_experiment("ten")[0] is None


def test_float() -> None:
    assert parse_float("29231.429") == (29231.429, None)
    assert parse_float("1,234.5 nb-1") == (1234.5, None)
    assert parse_float("n/a")[0] is None
    assert parse_float("1.0 2.0")[0] is None


def test_times_jst_to_utc() -> None:
    got = parse_time("Start : 2019-11-05 09:00:00 JST")
    assert got == datetime(2019, 11, 5, 0, 0, tzinfo=UTC)
    assert parse_time("2019-11-05T09:00:00+09:00") == got
    assert parse_time("2019-11-05 09:00", default_tz=timezone(timedelta(hours=9))) == got
    assert parse_time("no time here") is None
    assert parse_time("2019-13-45 99:00:00") is None


def test_elog_dates_rfc2822_and_csv_form() -> None:
    a = parse_elog_date("Tue, 05 Nov 2019 17:19:39 +0900")
    b = parse_elog_date("Tue  05 Nov 2019 17:19:39 +0900")
    assert a == b == datetime(2019, 11, 5, 8, 19, 39, tzinfo=UTC)
    assert parse_elog_date("") is None


def test_markup_and_keys() -> None:
    assert "Integrated Luminosity : 1.5" in strip_markup("[b]Integrated Luminosity : 1.5[/b]")
    assert strip_markup("<p>Stop&nbsp; : x &amp; y</p>").strip() == "Stop  : x & y"
    assert norm_key("DQM Plots") == norm_key("DQM_Plots") == "dqm_plots"


def test_decode_bytes() -> None:
    assert decode_bytes("Müller".encode()) == ("Müller", "utf-8")
    assert decode_bytes(b"\xef\xbb\xbfabc") == ("abc", "utf-8-sig")
    assert decode_bytes("Müller".encode("iso-8859-1")) == ("Müller", "iso-8859-1")
    # a UTF-8 text cut inside a character (ELOG CSV3 truncation) stays UTF-8
    text, enc = decode_bytes(("山田 太郎 " * 20).encode()[:-1])
    assert enc.startswith("utf-8")
    assert text.startswith("山田 太郎")


def test_reasons_quote_long_values_shortened() -> None:
    huge = "7" * 100_000
    value, reason = parse_count(huge)
    assert value is None
    assert reason is not None
    assert len(reason) < 200
    assert "100000 characters" in reason
    assert "implausibly large" in reason
    _, reason = parse_run("x" * 5000)
    assert reason is not None
    assert len(reason) < 200
