"""End to end: the Audit object, the audit directory and the audit/demo commands."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import lumiaudit
from lumiaudit.cli import cli
from lumiaudit.errors import AuditDirError, ParameterError
from lumiaudit.pipeline import Audit

#: what the bundled example's injected faults must produce (see data/README.md)
EXPECTED = {
    105: ("DEFICIT", "unreadable_file"),
    109: ("DEFICIT", "file_index_gap"),
    111: (None, "off_by_one"),
    113: (None, "elog_typo"),
    117: ("NOT_AUDITED", "non_physics"),
    119: ("DEFICIT", "unexplained"),
    121: ("OK", "duplicate_file"),
    123: ("MISSING_OFFLINE", "no_offline_files"),
}


@pytest.fixture(scope="module")
def example_audit(example: dict[str, Path]) -> Audit:
    return lumiaudit.audit(online=example["elog"], offline=example["prod"])


@pytest.fixture(scope="module")
def truth(example: dict[str, Path]) -> dict[int, dict[str, str]]:
    with example["truth"].open(encoding="utf-8") as fh:
        return {int(r["run"]): r for r in csv.DictReader(fh)}


def _row(a: Audit, run: int) -> pd.Series:
    rows = a.run(run)
    assert len(rows) == 1, run
    return rows.iloc[0]


def test_every_run_is_audited_with_offline_counts_from_readable_files(
    example_audit: Audit, truth: dict[int, dict[str, str]]
) -> None:
    runs = example_audit.runs
    assert sorted(runs["run"].astype(int)) == sorted(truth)
    for run, t in truth.items():
        row = _row(example_audit, run)
        if int(t["n_readable"]) == 0:
            assert pd.isna(row["n_offline"]), run  # missing, never 0
        else:
            assert row["n_offline"] == int(t["n_readable"]), run
        assert row["n_online"] == int(t["typed"]), run


def test_injected_faults_get_their_status_and_reason(example_audit: Audit) -> None:
    for run, (status, reason) in EXPECTED.items():
        row = _row(example_audit, run)
        if status is not None:
            assert row["status"] == status, (run, row["status"], row["reasons"])
        assert reason in str(row["reasons"]).split(";"), (run, row["reasons"])


def test_clean_runs_are_not_flagged(example_audit: Audit, truth: dict[int, dict[str, str]]) -> None:
    clean = [r for r, t in truth.items() if not t["note"]]
    assert len(clean) > 10
    for run in clean:
        row = _row(example_audit, run)
        assert row["status"] == "OK", (run, row["status"], row["reasons"])
        assert not row["flagged"], (run, row["reasons"])
    flagged = set(example_audit.flagged["run"].astype(int))
    assert {113, 119} <= flagged
    assert flagged <= set(EXPECTED)


def test_unreadable_file_is_listed_with_its_error(example_audit: Audit) -> None:
    files = example_audit.files
    bad = files[files["status"] != "ok"]
    assert set(bad["status"]) == {"truncated", "duplicate"}
    truncated = bad[bad["status"] == "truncated"].iloc[0]
    assert "r00105" in truncated["path"]
    assert truncated["error"]
    assert pd.isna(truncated["n_entries"])


def test_write_and_load_roundtrip(example_audit: Audit, tmp_path: Path) -> None:
    out = example_audit.write(tmp_path / "audit", formats=("png",))
    for name in (
        "online.csv",
        "files.csv",
        "runs.csv",
        "summary.json",
        "good_runs.json",
        "bad_runs.json",
        "plots/diff_vs_run.png",
        "plots/ratio_vs_run.png",
        "plots/diff_distribution.png",
        "plots/ratio_distribution.png",
    ):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lumiaudit_version"] == lumiaudit.__version__
    assert summary["totals"]["runs"] == 24
    assert all(len(d["sha256"] or "") == 64 for d in summary["inputs"]["online"])
    loaded = Audit.load(out)
    pd.testing.assert_series_equal(
        loaded.runs["n_offline"], example_audit.runs["n_offline"], check_names=False
    )
    # a missing count is an empty CSV cell, never 0
    runs_csv = (out / "runs.csv").read_text().splitlines()
    row123 = next(line for line in runs_csv if ",123," in line)
    assert ",123,physics,3213,," in row123
    bad = json.loads((out / "bad_runs.json").read_text())
    assert "113" in json.dumps(bad)
    assert not list(tmp_path.glob(".audit.tmp-*")), "temporary directory left behind"


def test_unwritable_output_is_a_clear_error(example_audit: Audit, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/lumiaudit-cannot-write-here")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "audit"
    with pytest.raises(lumiaudit.LumiauditError, match="cannot"):
        example_audit.write(target, plots=False)


def test_audit_cli_writes_directory_and_exit_codes(
    example: dict[str, Path], tmp_path: Path
) -> None:
    runner = CliRunner()
    args = ["audit", "--online", str(example["elog"]), "--offline", str(example["prod"])]
    res = runner.invoke(cli, [*args, "--out", str(tmp_path / "a"), "--no-plots"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a" / "runs.csv").is_file()
    res = runner.invoke(
        cli, [*args, "--out", str(tmp_path / "b"), "--no-plots", "--fail-on-flagged"]
    )
    assert res.exit_code == 1
    assert "flagged: e12 r113" in res.output


def test_audit_cli_missing_input_is_one_line_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "in").mkdir()
    res = runner.invoke(
        cli,
        [
            "audit",
            "--online",
            str(tmp_path / "nope"),
            "--offline",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2
    assert "nope" in res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_b2_sample_subset_audit_runs_to_the_end(b2_sample: Path, elog_dir: Path) -> None:
    a = lumiaudit.audit(online=elog_dir / "ondisk", offline=b2_sample / "prod")
    files = a.files
    with (b2_sample / "truth_files.csv").open(encoding="utf-8") as fh:
        truth = {r["path"]: r for r in csv.DictReader(fh)}
    assert len(files) == len(truth)
    for path, t in truth.items():
        match = files[files["path"].str.endswith(path)]
        assert len(match) == 1, path
        expected = "ok" if t["status"] == "multi_run" else t["status"]
        assert match.iloc[0]["status"] == expected, path
        if expected not in ("ok", "empty", "metadata_mismatch", "duplicate"):
            assert match.iloc[0]["error"], path


@pytest.mark.slow
def test_shared_b2_sample_audit(shared_data: Path, tmp_path: Path) -> None:
    sample = shared_data / "b2-sample"
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "audit",
            "--online",
            str(sample / "elog" / "ondisk"),
            "--offline",
            str(sample / "prod"),
            "--out",
            str(tmp_path / "x"),
            "--no-plots",
        ],
    )
    assert res.exit_code == 0, res.output
    files = pd.read_csv(tmp_path / "x" / "files.csv")
    assert len(files) == 365
    assert files["status"].notna().all()
    runs = pd.read_csv(tmp_path / "x" / "runs.csv").set_index("run")
    with (sample / "truth_runs.csv").open(encoding="utf-8") as fh:
        for t in csv.DictReader(fh):
            run = int(t["run"])
            if int(t["n_readable"]):
                assert runs.loc[run, "n_offline"] == int(t["n_readable"]), run


# ------------------------------------------------------------------ damaged audit directories


@pytest.fixture(scope="module")
def written(example_audit: Audit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_audit.write(tmp_path_factory.mktemp("written") / "audit", plots=False)


def _damage(src: Path, dst: Path, how: str) -> Path:
    shutil.copytree(src, dst)
    if how == "summary_cut":
        (dst / "summary.json").write_bytes((src / "summary.json").read_bytes()[:100])
    elif how == "summary_not_an_object":
        (dst / "summary.json").write_text("[1, 2]", encoding="utf-8")
    elif how == "runs_binary":
        (dst / "runs.csv").write_bytes(bytes(range(128, 256)) * 8)
    elif how == "runs_open_quote":
        header = (src / "runs.csv").read_text(encoding="utf-8").splitlines()[0]
        (dst / "runs.csv").write_text(header + '\n12,"105', encoding="utf-8")
    elif how == "runs_empty":
        (dst / "runs.csv").write_bytes(b"")
    else:  # a run number that is not a number
        (dst / "files.csv").write_text("experiment,run,path\n12,abc,x.root\n", encoding="utf-8")
    return dst


@pytest.mark.parametrize(
    ("how", "filename"),
    [
        ("summary_cut", "summary.json"),
        ("summary_not_an_object", "summary.json"),
        ("runs_binary", "runs.csv"),
        ("runs_open_quote", "runs.csv"),
        ("runs_empty", "runs.csv"),
        ("files_bad_run", "files.csv"),
    ],
)
def test_load_names_the_damaged_file(
    written: Path, tmp_path: Path, how: str, filename: str
) -> None:
    bad = _damage(written, tmp_path / "bad audit", how)
    with pytest.raises(AuditDirError) as err:
        Audit.load(bad)
    message = str(err.value)
    assert message.startswith(str(bad / filename)), message
    assert "damaged audit file" in message
    assert "\n" not in message
    assert isinstance(err.value, ValueError)  # `except ValueError` keeps working


def test_load_reads_an_intact_copy(written: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(written, tmp_path / "copy"))
    assert len(Audit.load(copy).runs) == len(Audit.load(written).runs) > 0


@pytest.mark.parametrize("run_range", [(9, 1), (1, "x"), (5,)])
def test_bad_run_range_is_a_parameter_error(example: dict[str, Path], run_range: object) -> None:
    with pytest.raises(ParameterError, match="run_range"):
        lumiaudit.audit(online=example["elog"], offline=example["prod"], run_range=run_range)


def test_audit_cli_says_when_no_run_matched(example: dict[str, Path], tmp_path: Path) -> None:
    mask = tmp_path / "mask.json"
    mask.write_text("[99999]", encoding="utf-8")
    args = ["audit", "--online", str(example["elog"]), "--offline", str(example["prod"])]
    res = CliRunner().invoke(
        cli, [*args, "--out", str(tmp_path / "a"), "--no-plots", "--mask", str(mask)]
    )
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"lumiaudit: warning: no run matched the selection (--mask {mask}); the audit is empty"
    ]
    assert len(pd.read_csv(tmp_path / "a" / "runs.csv")) == 0
    # a non-empty audit does not warn
    res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b"), "--no-plots"])
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr


def test_a_duplicate_file_is_not_counted_as_unreadable(example_audit: Audit) -> None:
    # one "unreadable" set (schema.UNREADABLE_STATUSES): the summary's files_bad ("N not
    # readable") agrees with the runs' n_files_bad; the example's duplicate is readable
    from lumiaudit import schema

    status = example_audit.files["status"]
    assert (status == "duplicate").sum() == 1
    unreadable = int(status.isin(schema.UNREADABLE_STATUSES).sum())
    assert unreadable == 1
    assert example_audit.summary["totals"]["files_bad"] == unreadable
    assert int(example_audit.runs["n_files_bad"].sum()) == unreadable
