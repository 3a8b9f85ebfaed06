"""Values as people type them: counts, run numbers, floats, times, encodings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.online.values import (
    COUNT_MAX,
    COUNT_SEPARATORS,
    decode_bytes,
    norm_key,
    parse_count,
    parse_elog_date,
    parse_experiment,
    parse_float,
    parse_lumi,
    parse_run,
    parse_time,
    strip_markup,
)


# The documented forms (docs/online.md, "Counts"): the whole text is the count.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6725", 6725),
        ("0", 0),
        ("007", 7),
        ("6,648", 6648),
        ("1,234,567", 1234567),
        ("1 234 567", 1234567),
        ("1'234'567", 1234567),
        ("1.234.567", 1234567),
        ("1\u00a0234\u00a0567", 1234567),
        ("1\u202f234", 1234),
        ("1\u2009234", 1234),
        ("  10,231 ", 10231),
        ("1234 events", 1234),
        ("1,234 Events", 1234),
        ("1 event", 1),
        ("5 evts", 5),
        (str(COUNT_MAX), COUNT_MAX),
        (f"{COUNT_MAX:,}", COUNT_MAX),
    ],
)
def test_count_documented_forms(text: str, expected: int) -> None:
    assert parse_count(text) == (expected, None)


# Issue 11: each of these was read as a number (12, 2, 5, 234, 99, 1234, 1234) with no problem.
@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("12k", "multiplier"),
        ("12 k", "multiplier"),
        ("2M events", "multiplier"),
        ("about 5 thousand", "approximate"),
        ("5 thousand", "multiplier"),
        ("1.2 million", "multiplier"),
        ("l234", "letters"),
        ("1234O", "letters"),
        ("12O0", "letters"),
        ("99%", "percentage"),
        ("#1234", "documented form"),
        ("N = 1,234", "documented form"),
        ("~ 1234567 events", "approximate"),
        ("approx. 12 345 evts", "approximate"),
        ("1234 events (approx)", "documented form"),
        ("1234 (run 1925)", "documented form"),
        (">1000", "markup"),
        ("-5", "negative"),
        ("12.5", "whole number"),
        ("1.234", "documented form"),
        ("1,23,456", "documented form"),
        ("1,2345", "documented form"),
        ("1,234'567", "documented form"),
        ("1  234", "documented form"),
        ("1e6", "scientific"),
        ("lots", "no number"),
        ("\u0661\u0662\u0663", "no number"),  # Arabic-Indic digits: int() would read them
        ("\uff11\uff12", "no number"),  # full-width digits
        (str(COUNT_MAX + 1), "above"),
        ("99,999,999,999,999,999,999", "above"),  # was an OverflowError in the Int64 column
        ("9" * 5000, "above"),  # int() of >4300 digits raises ValueError
    ],
)
def test_count_other_text_is_missing_with_a_reason(text: str, why: str) -> None:
    value, reason = parse_count(text)
    assert value is None
    assert reason is not None
    assert reason.startswith("cannot read a count from")
    assert why in reason


@pytest.mark.parametrize("text", ["", "   ", "n/a", "N/A", "-", "?", "none", "unknown"])
def test_count_missing_is_none_never_zero(text: str) -> None:
    value, reason = parse_count(text)
    assert value is None
    assert reason


def test_count_absent() -> None:
    assert parse_count(None) == (None, "absent")


def _documented(text: str) -> int | None:
    """An independent oracle of the documented forms (no regex shared with the parser)."""
    t = text.strip()
    low = t.lower()
    for word in ("events", "event", "evts", "evt"):
        head = t[: len(t) - len(word)]
        if low.endswith(word) and head != head.rstrip() and head.strip():
            t = head.strip()
            break
    if t and all(c in "0123456789" for c in t):
        return int(t) if int(t) <= COUNT_MAX else None
    seps = {c for c in t if c not in "0123456789"}
    if len(seps) != 1 or next(iter(seps)) not in COUNT_SEPARATORS:
        return None
    groups = t.split(next(iter(seps)))
    if not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:]):
        return None
    if "." in seps and len(groups) < 3:
        return None
    value = int("".join(groups))
    return value if value <= COUNT_MAX else None


_COUNTISH = st.lists(
    st.sampled_from([*"0123456789 ,.'kKMlOo%#~-+eE\u00a0\u202f\u2009\u0661", " events"]),
    max_size=14,
).map("".join)


@given(st.one_of(_COUNTISH, st.text(max_size=30)))
@settings(max_examples=400)
def test_count_only_documented_forms_are_read(text: str) -> None:
    """Any text: read exactly when it is a documented form; else missing with a reason."""
    value, reason = parse_count(text)
    assert (value is None) != (reason is None)
    if reason in ("empty",) or (reason or "").startswith("marked as not available"):
        return
    assert value == _documented(text), (text, value, reason)


@given(
    n=st.integers(min_value=0, max_value=COUNT_MAX),
    sep=st.sampled_from(["", ",", " ", "'", ".", "\u00a0", "\u202f", "\u2009"]),
    suffix=st.sampled_from(["", " events", " evts", " Events"]),
    pad=st.sampled_from(["", " ", "\t"]),
)
@settings(max_examples=300)
def test_count_roundtrip_documented_forms(n: int, sep: str, suffix: str, pad: str) -> None:
    typed = f"{n:,}".replace(",", sep) if sep else str(n)
    if sep == "." and n < 10**6:
        typed = str(n)  # 1.234 alone is not a documented form (could be a decimal)
    assert parse_count(f"{pad}{typed}{suffix}{pad}") == (n, None)


@given(n=st.integers(min_value=COUNT_MAX + 1, max_value=10**40), sep=st.sampled_from(["", ","]))
def test_count_above_int64_is_a_reason_not_an_overflow(n: int, sep: str) -> None:
    typed = f"{n:,}".replace(",", sep)
    value, reason = parse_count(typed)
    assert value is None
    assert reason is not None
    assert "above" in reason


@given(
    n=st.integers(min_value=0, max_value=10**9),
    junk=st.sampled_from(["k", "M", "%", "#", "~", "O", "l", "x", " thousand", ".5", "e3", "?"]),
    where=st.sampled_from(["before", "after", "inside"]),
)
def test_count_with_any_junk_is_missing(n: int, junk: str, where: str) -> None:
    typed = str(n)
    if where == "before":
        typed = junk + typed
    elif where == "after":
        typed = typed + junk
    else:
        typed = typed[:1] + junk + typed[1:]
    value, reason = parse_count(typed)
    assert value is None, typed
    assert reason is not None


@given(st.text(max_size=40))
@settings(max_examples=100)
def test_count_never_crashes(text: str) -> None:
    value, reason = parse_count(text)
    assert (value is None) != (reason is None)
    assert value is None or 0 <= value <= COUNT_MAX


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
    assert parse_float("1,234.5") == (1234.5, None)
    assert parse_float("1.2e4") == (12000.0, None)
    assert parse_float("n/a")[0] is None
    for bad in ("1.0 2.0", "12k", "about 5", "l234", "99%", "1,5", "-1", "1e999", "true"):
        assert parse_float(bad)[0] is None, bad
        assert parse_float(bad)[1], bad


@pytest.mark.parametrize(
    ("text", "nb"),
    [
        ("29231.429", 29231.429),
        ("1,234.5 nb-1", 1234.5),
        ("1,234.5 /nb", 1234.5),
        ("12.5 nb^-1", 12.5),
        ("12.5 nb^{-1}", 12.5),
        ("12.5 pb-1", 12500.0),
        ("2 fb^-1", 2e6),
        ("3 /fb", 3e6),
        ("500 /ub", 0.5),
        ("500 \u00b5b-1", 0.5),
    ],
)
def test_lumi_units_are_converted_to_inverse_nb(text: str, nb: float) -> None:
    value, reason = parse_lumi(text)
    assert reason is None
    assert value == pytest.approx(nb)


# Issue 11 for luminosities: a unit or word after the number was dropped and the number kept
@pytest.mark.parametrize(
    "text", ["12k", "about 5 thousand", "12.5 (preliminary)", "12.5 nb", "12.5 mb-1", "1.0 2.0"]
)
def test_lumi_other_text_is_missing(text: str) -> None:
    value, reason = parse_lumi(text)
    assert value is None
    assert reason is not None
    assert "luminosity" in reason


@pytest.mark.parametrize(
    "text", ["r\u0663\u0660\u0660\u0660", "run \uff13\uff10", "3000.0", "true", "3e3", "30 00"]
)
def test_run_and_experiment_only_ascii_digits(text: str) -> None:
    assert parse_run(text)[0] is None
    assert parse_experiment(text.replace("run", "exp").replace("r", "e"))[0] is None


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
    assert "above 9,223,372,036,854,775,807" in reason
    _, reason = parse_run("x" * 5000)
    assert reason is not None
    assert len(reason) < 200
