"""``lumiaudit runlist``: peers' formats from an audit, and ``and|or|sub|diff|convert``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import lumiaudit
from lumiaudit.cli import cli
from lumiaudit.runlist_io import read_runlist
from lumiaudit.runlists import classify_runs
from lumiaudit.runsets import RunLumiSet


@pytest.fixture(scope="module")
def audit_dir(example: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runlist") / "audit"
    lumiaudit.audit(online=example["elog"], offline=example["prod"]).write(out, plots=False)
    return out


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, ["runlist", *args])


@pytest.mark.parametrize("fmt", ["golden-json", "grl-xml", "iov"])
def test_good_list_in_the_peers_formats(audit_dir: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"good.{fmt}"
    result = _invoke(["--from", str(audit_dir), "--format", fmt, "--list", "good", "-o", str(out)])
    assert result.exit_code == 0, result.output
    runs = lumiaudit.Audit.load(audit_dir).runs
    cats = classify_runs(runs).fillna("not audited")
    good = sorted(int(r) for r, c in zip(runs["run"], cats, strict=True) if c == "good")
    assert good
    listed = read_runlist(out)
    got = sorted(run for _, run, lumis in listed.runs() if lumis == "all")
    assert got == good
    if fmt == "golden-json":
        assert "golden JSON has no experiment field" in result.stderr
        assert listed.experiments() == {None}
    else:
        assert listed.experiments() == {12}


def test_peer_format_defaults_to_the_good_list(audit_dir: Path) -> None:
    default = _invoke(["--from", str(audit_dir), "--format", "iov"])
    good = _invoke(["--from", str(audit_dir), "--format", "iov", "--list", "good"])
    assert default.exit_code == 0
    assert default.stdout == good.stdout
    # the lumiaudit json keeps its default: every category, with reasons
    rows = json.loads(_invoke(["--from", str(audit_dir)]).stdout)
    assert {r["category"] for r in rows} == {"good", "bad", "ugly"}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_algebra_across_formats(tmp_path: Path) -> None:
    golden = _write(tmp_path / "a.json", '{"101": [[1, 10]], "102": [[1, 2147483647]]}')
    grl = _write(
        tmp_path / "b.xml",
        "<LumiRangeCollection><NamedLumiRange><LumiBlockCollection><Run>101</Run>"
        '<LBRange Start="5" End="20"/></LumiBlockCollection><LumiBlockCollection><Run>103'
        '</Run><LBRange Start="1"/></LumiBlockCollection></NamedLumiRange></LumiRangeCollection>',
    )
    expected = {
        "and": {101: ((5, 10),)},
        "or": {101: ((1, 20),), 102: "all", 103: "all"},
        "sub": {101: ((1, 4),), 102: "all"},
        "diff": {101: ((1, 4), (11, 20)), 102: "all", 103: "all"},
    }
    for op, want in expected.items():
        out = tmp_path / f"{op}.json"
        result = _invoke([op, str(golden), str(grl), "-o", str(out)])
        assert result.exit_code == 0, result.output
        got = {run: lumis for _, run, lumis in read_runlist(out).runs()}
        assert got == want, op
        assert f"lumiaudit runlist: {op}: A 2 runs" in result.stderr
        assert json.loads(out.read_text()) is not None  # golden JSON in, golden JSON out


def test_convert_and_experiment(tmp_path: Path) -> None:
    golden = _write(tmp_path / "a.json", '{"101": [[1, 2147483647]], "102": [[1, 2147483647]]}')
    no_exp = _invoke(["convert", str(golden), "--format", "iov"])
    assert no_exp.exit_code == 2
    assert "basf2 IoVs need experiment numbers" in no_exp.output
    result = _invoke(["convert", str(golden), "--format", "iov", "--experiment", "12"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == ["12,101,12,102"]
    partial = _write(tmp_path / "p.json", '{"101": [[1, 3]]}')
    refused = _invoke(["convert", str(partial), "--format", "iov", "--experiment", "12"])
    assert refused.exit_code == 2
    assert "e12 r101 has lumisection ranges" in refused.output


def test_mixing_experiment_kinds_is_a_one_line_error(tmp_path: Path) -> None:
    golden = _write(tmp_path / "a.json", '{"101": [[1, 2147483647]]}')
    iov = _write(tmp_path / "b.iov", "12,101,12,110\n")
    result = _invoke(["and", str(golden), str(iov)])
    assert result.exit_code == 2
    assert "without experiment numbers" in result.output
    assert "Traceback" not in result.output
    ok = _invoke(["and", str(golden), str(iov), "--experiment", "12", "--format", "iov"])
    assert ok.exit_code == 0, ok.output
    assert read_runlist_text(ok.stdout) == RunLumiSet.from_runs([(12, 101)])


def read_runlist_text(text: str) -> RunLumiSet:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x"
        path.write_text(text, encoding="utf-8")
        return read_runlist(path)


def test_bad_input_file_is_exit_2(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.json", '{"101": [[3, 1]]}')
    result = _invoke(["or", str(bad), str(bad)])
    assert result.exit_code == 2
    assert "bad.json:run 101: lumisection range [3, 1]" in result.output


def test_help_lists_the_subcommands() -> None:
    result = CliRunner().invoke(cli, ["runlist", "--help"])
    assert result.exit_code == 0
    assert "and|or|sub|diff" in result.output
    sub = CliRunner().invoke(cli, ["runlist", "diff", "--help"])
    assert "symmetric difference" in sub.output


def test_output_is_never_an_input(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.json", '{"101": [[1, 10]]}')
    b = _write(tmp_path / "b.json", '{"102": [[1, 10]]}')
    for args in (["or", str(a), str(b), "-o", str(b)], ["convert", str(a), "-o", str(a)]):
        result = _invoke(args)
        assert result.exit_code == 2, args
        assert "--output" in result.output
    assert a.read_text() == '{"101": [[1, 10]]}'
    assert b.read_text() == '{"102": [[1, 10]]}'


def test_cli_json_records_are_the_audit_run_list_records(audit_dir: Path, tmp_path: Path) -> None:
    # one record builder (lumiaudit.store.runlists.run_records): the CLI's json lists the
    # same objects as the audit's good_runs.json and bad_runs.json, counts included
    good = json.loads((audit_dir / "good_runs.json").read_text(encoding="utf-8"))
    bad = json.loads((audit_dir / "bad_runs.json").read_text(encoding="utf-8"))
    assert any("n_online" in r for r in good + bad)
    for category, expected in (("good", good), ("bad", [r for r in bad if r["category"] == "bad"])):
        out = tmp_path / f"{category}.json"
        args = ["--from", str(audit_dir), "--list", category, "-o", str(out)]
        result = _invoke(args)
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text(encoding="utf-8")) == expected
        # and a rerun may replace it: it is recognised as lumiaudit's run list
        assert _invoke(args).exit_code == 0
    everything = json.loads(_invoke(["--from", str(audit_dir)]).stdout)
    key = lambda r: (r["experiment"], r["run"])  # noqa: E731
    assert sorted(everything, key=key) == sorted(good + bad, key=key)
