"""Masks in the peers' formats, and the lumisection policy: a run certified for only some
lumisections is never audited whole silently (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import lumiaudit
from lumiaudit.cli import cli
from lumiaudit.errors import ConfigError, ParameterError
from lumiaudit.masks import check_lumis, mask_keys
from lumiaudit.runlists import read_mask
from lumiaudit.runsets import ALL, RunLumiSet

PARTIAL = '{"105": [[1, 3], [7, 9]], "109": [[1, 2147483647]]}'


def test_partial_ls_mask_is_refused_naming_the_runs(tmp_path: Path) -> None:
    """Before issue 15 this mask was read as runs 105 and 109, silently whole."""
    path = tmp_path / "golden.json"
    path.write_text(PARTIAL, encoding="utf-8")
    match = r"golden\.json: .*only some lumisections of 1 run \(r105 \[LS 1-3,7-9\]\); lumiaudit"
    with pytest.raises(ConfigError, match=match) as info:
        read_mask(path)
    assert "--mask-ls whole-runs" in str(info.value)
    assert "\n" not in str(info.value)
    mask = read_mask(path, partial_ls="whole-runs")
    assert mask["run"].tolist() == [105, 109]


def test_check_lumis_lists_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    runs = RunLumiSet.from_mapping({(12, 1): [(1, 2)], (12, 2): ALL, (12, 3): [(4, 4)]})
    with caplog.at_level("WARNING", logger="lumiaudit"):
        out = check_lumis(runs, partial_ls="whole-runs", source="m.json")
    assert out == ["e12 r1 [LS 1-2]", "e12 r3 [LS 4]"]
    assert "LS ranges not applied, 2 runs audited whole" in caplog.text
    assert check_lumis(RunLumiSet.from_runs([(12, 2)])) == []
    with pytest.raises(ParameterError, match="partial_ls"):
        check_lumis(runs, partial_ls="ignore")


def test_mask_keys_match_open_iovs_and_unqualified_lists() -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "experiment": pd.array([12, 12, 14, pd.NA], dtype="Int64"),
            "run": pd.array([99, 150, 1, 150], dtype="Int64"),
        }
    )
    iov = RunLumiSet.from_run_range(12, 100, 12, 2**31 - 1)
    assert mask_keys(iov, [frame]).to_numpy().tolist() == [[pd.NA, 150], [12, 150]]
    golden = RunLumiSet.from_runs([(None, 1), (None, 99)])
    keys = mask_keys(golden, [frame])
    assert sorted(keys["run"].tolist()) == [1, 99]


def test_audit_with_a_golden_json_mask(example: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "golden.json"
    path.write_text(PARTIAL, encoding="utf-8")
    with pytest.raises(ConfigError, match="only some lumisections"):
        lumiaudit.audit(online=example["elog"], offline=example["prod"], mask=path)
    result = lumiaudit.audit(
        online=example["elog"], offline=example["prod"], mask=path, mask_ls="whole-runs"
    )
    assert sorted(result.runs["run"].astype(int)) == [105, 109]
    assert result.summary["mask"] == {"source": str(path), "ls_not_applied": ["r105 [LS 1-3,7-9]"]}
    assert result.summary["options"]["mask_ls"] == "whole-runs"


def test_audit_with_an_iov_mask(example: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "blessed.iov"
    path.write_text("# blessed\n12,120,12,-1\n", encoding="utf-8")
    result = lumiaudit.audit(online=example["elog"], offline=example["prod"], mask=path)
    assert sorted(result.runs["run"].astype(int)) == [120, 121, 122, 123, 124]
    assert result.summary["mask"]["ls_not_applied"] == []


def test_cli_mask_ls(example: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "golden.json"
    path.write_text(PARTIAL, encoding="utf-8")
    args = ["audit", "--online", str(example["elog"]), "--offline", str(example["prod"])]
    args += ["--no-plots", "--no-progress", "--mask", str(path)]
    runner = CliRunner()
    refused = runner.invoke(cli, [*args, "--out", str(tmp_path / "a")])
    assert refused.exit_code == 2
    assert "only some lumisections of 1 run (r105 [LS 1-3,7-9])" in refused.output
    assert "Traceback" not in refused.output
    assert not (tmp_path / "a").exists()
    ok = runner.invoke(cli, [*args, "--out", str(tmp_path / "b"), "--mask-ls", "whole-runs"])
    assert ok.exit_code == 0, ok.output
    assert (
        "lumiaudit: warning: mask LS ranges not applied, 1 run audited whole: r105 [LS 1-3,7-9]"
        in ok.stderr
    )
    summary = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))
    assert summary["mask"]["ls_not_applied"] == ["r105 [LS 1-3,7-9]"]


def test_a_bad_mask_fails_before_anything_is_read(tmp_path: Path) -> None:
    """The mask is judged first: a refused mask is the error even when the inputs would take an
    hour to count (here they do not exist at all)."""
    path = tmp_path / "golden.json"
    path.write_text(PARTIAL, encoding="utf-8")
    nowhere = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match="only some lumisections"):
        lumiaudit.audit(online=nowhere, offline=nowhere, mask=path)
    path.write_text('{"105": [[1, 3]', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        lumiaudit.audit(online=nowhere, offline=nowhere, mask=path)
