"""A typed but unreadable ``Run number`` / ``Exp number`` is a located problem, never a guess.

The Subject names the run only when ``Run number`` is absent or empty (docs/online.md); a value
like ``1I4`` or ``0x74`` used to be replaced silently by the Subject's run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lumiaudit.online import read_online

DAY = "191105a.log"


def _edit(src: Path, dst: Path, mid: int, changes: dict[str, str | None]) -> int:
    """Copy a day file, changing attributes of entry ``mid``; return the changed line (1-based)."""
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    out: list[str] = []
    current = None
    changed = 0
    for line in lines:
        if line.startswith("$@MID@$:"):
            current = int(line.split(":", 1)[1])
        key = line.split(": ", 1)[0] if ": " in line else line.rstrip("\r\n").rstrip(":")
        if current == mid and key in changes:
            value = changes[key]
            if value is None:
                continue  # attribute removed
            if key in ("Run number", "Exp number") and not changed:
                changed = len(out) + 1
            out.append(f"{key}: {value}\n")
            continue
        out.append(line)
    dst.write_text("".join(out), encoding="utf-8")
    return changed


# (Run number text, Subject, expected run read or None (entry skipped), problem expected)
CASES = [
    ("1I4", "physics run 999", None, True),
    ("11two", "physics run 3001", None, True),
    ("0x74", "physics run 3001", None, True),
    ("3001.5", "physics run 3001", None, True),
    ("-3001", "physics run 3001", None, True),
    ("3001", "physics run 999", 3001, False),
    ("r03001", "physics run 999", 3001, False),
    ("", "physics run 3001", 3001, False),  # empty: the Subject names the run
    (None, "physics run 3001", 3001, False),  # absent: the Subject names the run
]


@pytest.mark.parametrize(("text", "subject", "run", "problem"), CASES)
def test_run_number_attribute(
    text: str | None,
    subject: str,
    run: int | None,
    problem: bool,
    elog_dir: Path,
    tmp_path: Path,
) -> None:
    src = elog_dir / "ondisk" / "2019" / DAY
    day = tmp_path / DAY
    line = _edit(src, day, 2, {"Run number": text, "Subject": subject})
    res = read_online(day)
    runs = set(res.table["run"])
    assert 999 not in runs
    mine = res.entries[res.entries["entry_id"].astype(str) == "2"]
    if run is None:
        assert mine.empty
        assert 3001 not in runs
    else:
        assert list(mine["run"]) == [run]
    rows = res.problems[res.problems["reason"].str.contains("MID 2: ")]
    if problem:
        assert len(rows) == 1, res.problems
        got = rows.iloc[0]
        assert got["source"].endswith(DAY)
        assert got["line"] == str(line)
        assert "Run number" in got["reason"]
        assert "skipped" in got["reason"]
        assert got["text"] == text
    else:
        assert rows.empty, rows


@pytest.mark.parametrize(
    ("text", "problem"), [("1O", True), ("e0x0a", True), ("", True), ("10", False)]
)
def test_exp_number_attribute(text: str, problem: bool, elog_dir: Path, tmp_path: Path) -> None:
    src = elog_dir / "ondisk" / "2019" / DAY
    day = tmp_path / DAY
    line = _edit(src, day, 2, {"Exp number": text, "Subject": "physics run 3001 exp 12"})
    res = read_online(day)
    exp = res.table.set_index("run").loc[3001, "experiment"]
    rows = res.problems[res.problems["reason"].str.contains("MID 2: ")]
    if problem:
        assert pd.isna(exp)  # never the Subject's or a default experiment
        assert len(rows) == 1, res.problems
        assert rows.iloc[0]["line"] == str(line)
        assert "Exp number" in rows.iloc[0]["reason"]
    else:
        assert exp == 10
        assert rows.empty


def test_cli_reports_the_unreadable_run(elog_dir: Path, tmp_path: Path) -> None:
    """The issue's repro: ``lumiaudit online`` reports the problem and counts no run 999."""
    from click.testing import CliRunner

    from lumiaudit.cli import cli

    src = elog_dir / "ondisk" / "2019" / DAY
    day = tmp_path / DAY
    _edit(src, day, 2, {"Run number": "1I4", "Subject": "physics run 999"})
    out = tmp_path / "on.csv"
    result = CliRunner().invoke(cli, ["online", str(day), "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert 999 not in set(table["run"])
    assert 3001 not in set(table["run"])
    assert "1I4" in result.output  # the problem is shown, naming the typed text
