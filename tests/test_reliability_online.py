"""Reliability: malformed online inputs give problems with file:line, never a crash or a 0.

Hypothesis writes malformed PSI ELOG day files (layout of ``tests/data/elog/README.md``);
:mod:`tests.support.faults` writes huge lines, binary garbage, other encodings and 10^5 entries.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumiaudit.errors import ElogParseError, LumiauditError, OnlineFormatError
from lumiaudit.online import read_online
from tests.support.faults import (
    HOSTILE_COUNTS,
    elog_entry,
    run_entry,
    write_big_elog,
    write_elog_day,
    write_garbage,
    write_huge_line,
)

pytestmark = pytest.mark.reliability

REPO = Path(__file__).parent.parent

JST = timezone(timedelta(hours=9))
DIGITS = re.compile(r"\d")


def _read(path: Path, **kw: object) -> object:
    """read_online, turning anything but a LumiauditError into a test failure."""
    try:
        return read_online(path, **kw)  # type: ignore[arg-type]
    except LumiauditError as exc:
        return exc
    except Exception as exc:  # the contract: only LumiauditError subclasses
        pytest.fail(f"read_online raised {type(exc).__name__} (not a LumiauditError): {exc}")


def _check_result(res: object, path: Path) -> None:
    """Invariants of a non-strict read: no silent numbers, problems located."""
    if isinstance(res, LumiauditError):
        assert "\n" not in str(res)
        assert res.path is not None, str(res)
        assert Path(res.path).name == path.name, str(res)
        return
    table, entries, problems = res.table, res.entries, res.problems  # type: ignore[attr-defined]
    assert (table["n_online"].dropna() >= 0).all()
    # every count comes from digits that were typed
    for row in entries.itertuples():
        if pd.notna(row.n_online):
            assert pd.notna(row.count_text), row
            assert DIGITS.search(str(row.count_text)), row
        elif pd.notna(row.count_text) and str(row.count_text).strip():
            # a typed value that was not read must say why (in the entry or the problems)
            assert (pd.notna(row.problem) and str(row.problem)) or len(problems), row
    for prob in problems.itertuples():
        assert Path(str(prob.source)).name == path.name
        assert str(prob.line).strip(), prob
        assert "\n" not in str(prob.reason)


# ------------------------------------------------------------------ hypothesis: malformed entries

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_counts = st.one_of(
    st.sampled_from(HOSTILE_COUNTS),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.integers(min_value=0, max_value=10**9).map(lambda n: f"{n:,}"),
    _text,
)
_runs = st.one_of(st.integers(min_value=-5, max_value=99999).map(str), _text)
_dates = st.one_of(
    st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(JST)
    ),
    _text,
)


@st.composite
def _entries(draw: st.DrawFn) -> str:
    mid = draw(st.one_of(st.integers(min_value=0, max_value=10**6), _text))
    attrs = {
        "Author": draw(_text),
        "Subject": draw(_text),
        "Type": draw(st.sampled_from(["Run summary", "Shift summary", "", "Run Summary"])),
        "Category": draw(st.sampled_from(["Physics", "Cosmic", "", "<b>x</b>"])),
        "Exp number": draw(st.one_of(st.just("12"), _text)),
        "Run number": draw(_runs),
        "Num events": draw(_counts),
    }
    body = draw(st.one_of(_text, st.just("Integrated Luminosity : " + draw(_text))))
    text = elog_entry(mid, attrs, body, date=draw(_dates))
    damage = draw(st.sampled_from(["none", "no_separator", "cut", "mid_in_body", "dup_header"]))
    if damage == "no_separator":
        text = text.replace("=" * 40 + "\n", "")
    elif damage == "cut":
        text = text[: draw(st.integers(min_value=0, max_value=len(text)))]
    elif damage == "mid_in_body":
        text += "$@MID@$: \n"
    elif damage == "dup_header":
        text = text.replace("Num events:", "Num events: 5\nNum events:", 1)
    return text


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(entries=st.lists(_entries(), min_size=1, max_size=6))
def test_malformed_entries_never_crash_nor_invent_counts(entries: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_elog_day(Path(tmp) / "191105a.log", [run_entry(1, 100, "1,234"), *entries])
        res = _read(path, strict=False)
        _check_result(res, path)
        strict = _read(path, strict=True)
        if isinstance(res, LumiauditError):
            assert isinstance(strict, LumiauditError)
        elif len(res.problems):  # type: ignore[attr-defined]
            assert isinstance(strict, ElogParseError), strict
            assert path.name in str(strict)
            assert strict.line is not None
        else:
            assert not isinstance(strict, LumiauditError), strict


# ------------------------------------------------------------------ hostile count texts


def test_hostile_counts_become_missing_with_a_located_problem(tmp_path: Path) -> None:
    entries = [run_entry(i + 1, 1000 + i, c) for i, c in enumerate(HOSTILE_COUNTS)]
    path = write_elog_day(tmp_path / "191105a.log", entries)
    res = read_online(path)
    _check_result(res, path)
    table = res.table.set_index("run")
    unread = [c for i, c in enumerate(HOSTILE_COUNTS) if pd.isna(table.loc[1000 + i, "n_online"])]
    # never a 0 from text, and most of these texts give no number at all
    assert not (table["n_online"] == 0).any()
    assert len(unread) >= len(HOSTILE_COUNTS) - 5, sorted(set(HOSTILE_COUNTS) - set(unread))
    # each unread count is traced to its line in the file
    lines = path.read_text(encoding="utf-8").split("\n")
    for prob in res.problems.itertuples():
        number = int(str(prob.line))
        assert 1 <= number <= len(lines)
    strict_error = _read(path, strict=True)
    assert isinstance(strict_error, ElogParseError)
    assert re.search(rf"{re.escape(str(path))}:\d+", str(strict_error)), str(strict_error)


@pytest.mark.parametrize("count", ["-5", "12O45", "1,2,3,4", "99999999999999999999999999", "NaN"])
def test_hostile_count_never_zero_nor_number(tmp_path: Path, count: str) -> None:
    path = write_elog_day(tmp_path / "191105a.log", [run_entry(7, 4242, count)])
    res = read_online(path)
    row = res.table[res.table["run"] == 4242]
    assert len(row) == 1
    assert pd.isna(row["n_online"].item())
    assert len(res.problems) >= 1


# ------------------------------------------------------------------ encodings and line endings

ENCODINGS = {
    "iso-8859-1": {"encoding": "iso-8859-1"},
    "utf-8-bom": {"bom": True},
    "crlf-only": {"newline": "\r\n"},
    "cr-only": {"newline": "\r"},
    "utf-16": {"encoding": "utf-16"},
}


@pytest.mark.parametrize("variant", list(ENCODINGS))
def test_encodings_and_line_endings(tmp_path: Path, variant: str) -> None:
    entries = [
        run_entry(1, 700, "1,234", subject="Müller, Jörg: physics run 700 – ok"),
        run_entry(2, 701, "99"),
    ]
    path = write_elog_day(tmp_path / "191105a.log", entries, **ENCODINGS[variant])  # type: ignore[arg-type]
    res = _read(path)
    _check_result(res, path)
    if variant in ("iso-8859-1", "utf-8-bom", "crlf-only"):
        assert not isinstance(res, LumiauditError), res
        got = dict(zip(res.table["run"], res.table["n_online"], strict=True))  # type: ignore[attr-defined]
        assert got == {700: 1234, 701: 99}
        if variant == "iso-8859-1":
            subjects = res.entries  # type: ignore[attr-defined]
            assert len(subjects) == 2
    elif isinstance(res, LumiauditError):
        # utf-16 or old-Mac CR: a clear refusal naming the file is acceptable
        assert isinstance(res, OnlineFormatError | ElogParseError), res
    else:
        got = dict(zip(res.table["run"], res.table["n_online"], strict=True))  # type: ignore[attr-defined]
        # whatever was read is right; what was not is a problem, never a wrong number
        assert all(
            got.get(r) in (v, None) or pd.isna(got.get(r)) for r, v in [(700, 1234), (701, 99)]
        )
        assert len(got) == 2 or len(res.problems)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ huge lines and garbage


@pytest.fixture(scope="module")
def huge_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("huge")
    return {
        where: write_huge_line(base / where / "191105a.log", 50 * 2**20, where=where)
        for where in ("body", "attribute", "count", "nonewline")
    }


@pytest.mark.slow
@pytest.mark.parametrize("where", ["body", "attribute", "count", "nonewline"])
def test_fifty_megabyte_line(huge_files: dict[str, Path], where: str) -> None:
    path = huge_files[where]
    start = time.perf_counter()
    res = _read(path)
    elapsed = time.perf_counter() - start
    assert elapsed < 30, f"{elapsed:.1f} s for one 50 MB line"
    _check_result(res, path)
    if where == "nonewline":
        assert isinstance(res, OnlineFormatError)
        return
    assert not isinstance(res, LumiauditError), res
    got = dict(zip(res.table["run"], res.table["n_online"], strict=True))  # type: ignore[attr-defined]
    assert got[501] == 1234
    assert got[503] == 3456
    if where == "count":
        assert pd.isna(got[502])
    else:
        assert got[502] == 2345


@pytest.mark.slow
def test_problem_text_of_a_huge_value_is_shortened(huge_files: dict[str, Path]) -> None:
    res = read_online(huge_files["count"])
    assert len(res.problems) >= 1
    assert res.problems["reason"].str.len().max() < 2000
    assert res.problems["text"].str.len().max() < 2000


@pytest.mark.parametrize(
    "prefix", [b"", b"$@MID@$: 1\n", b"$@MID@$: 1\nDate: x\n" + b"=" * 40 + b"\n"]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_binary_garbage(tmp_path: Path, prefix: bytes, seed: int) -> None:
    path = write_garbage(tmp_path / "191105a.log", 256 * 1024, seed=seed, prefix=prefix)
    res = _read(path)
    _check_result(res, path)
    if not isinstance(res, LumiauditError):
        assert res.table["n_online"].isna().all() or len(res.problems)  # type: ignore[attr-defined]


def test_nul_bytes_and_control_characters(tmp_path: Path) -> None:
    entry = run_entry(3, 800, "5\x00000", subject="run\x1b[31m 800\x07", text="\x00\x00\x00")
    path = write_elog_day(tmp_path / "191105a.log", [entry, run_entry(4, 801, "77")])
    res = read_online(path)
    _check_result(res, path)
    got = dict(zip(res.table["run"], res.table["n_online"], strict=True))
    assert got[801] == 77
    assert pd.isna(got[800])


# ------------------------------------------------------------------ many entries


@pytest.mark.slow
def test_hundred_thousand_entries(tmp_path: Path) -> None:
    """10^5 run summaries (10^6 measured once, see docs/reliability.md)."""
    n = 100_000
    path = write_big_elog(tmp_path / "191105a.log", n)
    start = time.perf_counter()
    res = read_online(path)
    elapsed = time.perf_counter() - start
    assert len(res.table) == n
    assert len(res.problems) == 0
    expected = 1000 + (res.table["run"] - 1) % 5000
    assert (res.table["n_online"] == expected).all()
    assert elapsed < 60, f"{elapsed:.1f} s for {n} entries"


# ------------------------------------------------------------------ the CLI


def test_cli_online_strict_exits_2_with_one_line(tmp_path: Path) -> None:
    from lumiaudit.cli import cli

    path = write_elog_day(tmp_path / "191105a.log", [run_entry(1, 900, "12O45")])
    result = CliRunner().invoke(cli, ["online", "--strict", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert f"{path}:" in lines[0]
    assert "Traceback" not in result.output
    lax = CliRunner().invoke(cli, ["online", str(path)])
    assert lax.exit_code == 0, lax.output
    assert "900" in lax.stdout


def test_cli_online_garbage_exits_2(tmp_path: Path) -> None:
    from lumiaudit.cli import cli

    path = write_garbage(tmp_path / "garbage.log", 4096)
    result = CliRunner().invoke(cli, ["online", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert str(path) in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------ other formats: forced, cut, garbage

FORMATS = ["elog", "elog-xml", "elog-csv", "rundb", "daq", "table"]


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=4096), fmt=st.sampled_from(FORMATS))
def test_forced_format_on_arbitrary_bytes(data: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.txt"
        path.write_bytes(data)
        _check_result(_read(path, format=fmt), path)


EXPORTS = ["export_CSV1.csv", "export_CSV3.csv", "export_XML.xml", "export_Raw.txt"]


@pytest.mark.parametrize("name", EXPORTS)
def test_real_exports_cut_anywhere(elog_dir: Path, tmp_path: Path, name: str) -> None:
    """Real elogd exports cut at 24 offsets (an interrupted download): problems, not crashes."""
    data = (elog_dir / "exports" / name).read_bytes()
    full = read_online(elog_dir / "exports" / name)
    truth = dict(zip(full.table["run"], full.table["n_online"], strict=True))
    for i, cut in enumerate(range(len(data) // 25, len(data), len(data) // 25)):
        path = tmp_path / f"{i:02d}-{name}"
        path.write_bytes(data[:cut])
        res = _read(path)
        _check_result(res, path)
        if isinstance(res, LumiauditError):
            continue
        wrong = [
            (run, n, truth[run])
            for run, n in zip(res.table["run"], res.table["n_online"], strict=True)
            if pd.notna(n) and (run not in truth or pd.isna(truth[run]) or n != truth[run])
        ]
        # a count read from a cut export is the real one or missing, never another number
        assert not wrong, (cut, wrong)


# ------------------------------------------------------------------ special and unreadable files


def test_fifo_in_a_logbook_never_hangs(elog_dir: Path, tmp_path: Path) -> None:
    from tests.support.faults import make_fifo

    book = tmp_path / "book"
    book.mkdir()
    day = elog_dir / "ondisk" / "2019" / "191105a.log"
    (book / day.name).write_bytes(day.read_bytes())
    fifo = make_fifo(book / "191106a.log")
    results: dict[str, object] = {}

    def work() -> None:
        results["dir"] = _read(book)
        results["fifo"] = _read(fifo)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(20)
    hung = worker.is_alive()
    if hung:  # let the blocked open() return, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
    assert not hung, "read_online blocked on a FIFO"
    whole = results["dir"]
    assert not isinstance(whole, LumiauditError), whole
    assert len(whole.table) == len(read_online(day).table)  # type: ignore[attr-defined]
    assert isinstance(results["fifo"], LumiauditError)


_READ_JSON = """
import json, sys
from lumiaudit.errors import LumiauditError
from lumiaudit.online import read_online
try:
    read_online(sys.argv[1])
    print(json.dumps({"raised": None}))
except LumiauditError as exc:
    print(json.dumps({"raised": "LumiauditError", "text": str(exc)}))
except Exception as exc:
    print(json.dumps({"raised": type(exc).__name__, "text": str(exc)}))
"""


def _unprivileged(args: list[str]) -> subprocess.CompletedProcess[str]:
    from tests.support.faults import can_bypass_permissions, drop_dac_capabilities

    try:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            preexec_fn=drop_dac_capabilities if can_bypass_permissions() else None,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE to make a file unreadable as root: {exc}")


@pytest.fixture
def unreadable_book(elog_dir: Path, tmp_path: Path) -> Path:
    book = tmp_path / "book"
    book.mkdir()
    day = elog_dir / "ondisk" / "2019" / "191105a.log"
    (book / day.name).write_bytes(day.read_bytes())
    locked = book / "191106a.log"
    locked.write_bytes(day.read_bytes())
    locked.chmod(0)
    return locked


def test_cli_online_unreadable_logbook(unreadable_book: Path) -> None:
    from tests.support.faults import cli_argv

    for target in (unreadable_book.parent, unreadable_book):
        proc = _unprivileged([*cli_argv(), "online", str(target)])
        assert proc.returncode == 2, proc.stderr
        lines = [x for x in proc.stderr.splitlines() if x.startswith("Error:")]
        assert len(lines) == 1, proc.stderr
        assert "191106a.log" in lines[0]
        assert "Traceback" not in proc.stderr


def test_read_online_unreadable_logbook_raises_lumiaudit_error(unreadable_book: Path) -> None:
    proc = _unprivileged([sys.executable, "-c", _READ_JSON, str(unreadable_book.parent)])
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["raised"] == "LumiauditError", got
    assert "191106a.log" in got["text"]


# ------------------------------------------------------------------ dates pandas cannot hold


@pytest.mark.parametrize("year", ["0900", "2262", "7019", "9999"])
def test_entry_date_out_of_pandas_range(tmp_path: Path, year: str) -> None:
    typo = elog_entry(
        1,
        {"Type": "Run summary", "Exp number": "12", "Run number": "101", "Num events": "55"},
        "Integrated Luminosity : 1.0",
        date=f"Wed, 06 Nov {year} 14:09:04 +0900",
    )
    path = write_elog_day(tmp_path / "191106a.log", [typo, run_entry(2, 102, "66")])
    res = _read(path)
    _check_result(res, path)
    assert not isinstance(res, LumiauditError), res
    got = dict(zip(res.table["run"], res.table["n_online"], strict=True))  # type: ignore[attr-defined]
    assert got[102] == 66  # the other entries survive the bad date


# ------------------------------------------------------------------ parser attacks

_XML_ENTRY = (
    "<ENTRY><MID>1</MID><DATE>Sat, 09 Nov 2019 15:13:38 +0900</DATE><ENCODING>plain</ENCODING>"
    "<Type>Run summary</Type><Exp_number>10</Exp_number><Run_number>3053</Run_number>"
    "<Num_events>{count}</Num_events><Subject>{subject}</Subject><TEXT>x</TEXT></ENTRY>"
)


def _xml(doctype: str, *, count: str = "250", subject: str = "run") -> bytes:
    body = _XML_ENTRY.format(count=count, subject=subject)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n<ELOG_LIST>{body}</ELOG_LIST>\n'
    ).encode()


def test_xml_external_entities_are_not_resolved(tmp_path: Path) -> None:
    """XXE: an entity pointing at a local file must never put its content into a count."""
    secret = tmp_path / "secret.txt"
    secret.write_text("4242", encoding="utf-8")
    doctype = f'<!DOCTYPE ELOG_LIST [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    path = tmp_path / "export.xml"
    path.write_bytes(_xml(doctype, count="&xxe;", subject="&xxe;"))
    res = _read(path)
    _check_result(res, path)
    if not isinstance(res, LumiauditError):
        assert 4242 not in set(res.table["n_online"].dropna())  # type: ignore[attr-defined]
        assert "4242" not in res.entries.astype(str).to_string()  # type: ignore[attr-defined]


def test_xml_entity_expansion_bomb(tmp_path: Path) -> None:
    """Billion laughs: refused quickly, not expanded into gigabytes."""
    entities = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    ]
    path = tmp_path / "export.xml"
    path.write_bytes(_xml(f"<!DOCTYPE ELOG_LIST [{''.join(entities)}]>", subject="&l9;"))
    start = time.perf_counter()
    res = _read(path)
    assert time.perf_counter() - start < 10
    _check_result(res, path)


def test_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "rundb.json"
    path.write_bytes(b'{"results": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    for fmt in (None, "rundb"):
        res = _read(path, format=fmt)
        _check_result(res, path)
        if not isinstance(res, LumiauditError):
            assert len(res.table) == 0  # type: ignore[attr-defined]
            assert len(res.problems)  # type: ignore[attr-defined]


def test_csv_field_larger_than_the_csv_module_limit(tmp_path: Path) -> None:
    """A 2 MiB field in a CSV export: a located problem, the rows before it kept."""
    header = '"Message ID","Date","Subject","Type","Exp number","Run number","Num events"\r\n'

    def row(mid: int, run: int, count: int, subject: str = "x") -> str:
        date = "Sat  09 Nov 2019 15:13:38 +0900"
        return f'{mid},{date},"{subject}","Run summary","10","{run}","{count}"\r\n'

    path = tmp_path / "export.csv"
    path.write_text(
        header + row(1, 3000, 100) + row(2, 3001, 200, "A" * 2 * 2**20) + row(3, 3002, 300),
        encoding="utf-8",
    )
    res = _read(path)
    _check_result(res, path)
    assert not isinstance(res, LumiauditError), res
    got = dict(zip(res.table["run"], res.table["n_online"], strict=True))  # type: ignore[attr-defined]
    assert got[3000] == 100
    assert len(res.problems)  # type: ignore[attr-defined]
    assert all(
        got.get(r) in (None, v) or pd.isna(got.get(r)) for r, v in [(3001, 200), (3002, 300)]
    )
