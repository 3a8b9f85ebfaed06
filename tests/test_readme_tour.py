"""The README's tour: its Belle II and CMS-style ``lumiaudit audit`` commands work as written.

The commands are taken from the README text itself (the ``### Command line`` block), run from a
directory where ``data/`` is the repository's bundled examples, and their outputs checked
against the examples' truth (data/README.md).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import lumiaudit
from lumiaudit.cli import cli
from lumiaudit.example_cms import LS_RECORDED_UB, ONLINE

REPO = Path(__file__).resolve().parents[1]


def _tour_audits() -> dict[str, list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("### Command line", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    out: dict[str, list[str]] = {}
    for line in joined.splitlines():
        args = shlex.split(line, comments=True)
        if args[:2] == ["lumiaudit", "audit"]:
            out["cms" if "cms-nanoaod" in args else "belle2"] = args[1:]
    return out


@pytest.fixture
def in_repo_like_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "data").symlink_to(REPO / "data", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_tour_has_one_belle2_and_one_cms_audit() -> None:
    assert set(_tour_audits()) == {"belle2", "cms"}


def test_belle2_tour_command(in_repo_like_dir: Path) -> None:
    args = _tour_audits()["belle2"]
    result = CliRunner().invoke(cli, [*args, "--no-plots", "--no-progress"])
    assert result.exit_code == 0, result.output
    out = in_repo_like_dir / args[args.index("--out") + 1]
    runs = lumiaudit.Audit.load(out).runs
    flagged = sorted(int(r) for r in runs.loc[runs["flagged"].fillna(False), "run"])
    assert flagged == [105, 109, 113, 119, 123]  # data/README.md


def test_cms_tour_command(in_repo_like_dir: Path) -> None:
    args = _tour_audits()["cms"]
    assert "--lumi" in args
    result = CliRunner().invoke(cli, [*args, "--no-plots", "--no-progress"])
    assert result.exit_code == 0, result.output
    # a run-only key is named by its run alone, never "e? r381150"
    assert "flagged: r381150 " in result.output
    assert "e?" not in result.output
    out = in_repo_like_dir / args[args.index("--out") + 1]
    assert json.loads((out / "not_finished_lumis.json").read_text()) == {
        "381150": [[4, 6]],
        "381151": [[2, 2]],
    }
    audit = lumiaudit.Audit.load(out)
    runs = audit.runs.set_index("run")
    assert sorted(int(r) for r in runs.index[runs["flagged"].fillna(False)]) == [381150, 381151]
    # each run's luminosity is the brilcalc file's recorded one, /ub -> nb^-1
    for run, per in ONLINE.items():
        assert runs.loc[run, "lumi_nb"] == pytest.approx(len(per) * LS_RECORDED_UB * 1e-3)
    lost = runs.loc[381150, "lumi_affected_nb"]
    assert not pd.isna(lost)
    assert lost > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lumi_file"]["unit"] == "/ub"
    assert summary["lumi_file"]["runs_without_lumi"] == []
