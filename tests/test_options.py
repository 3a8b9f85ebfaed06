"""AuditOptions: one declaration, and the API/CLI/TOML forms derived from it agree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from lumiaudit.errors import ConfigError, ParameterError
from lumiaudit.options import MODES, AuditOptions, click_options


def test_defaults_validate_and_round_trip() -> None:
    opts = AuditOptions()
    assert opts.mode == "auto"
    assert opts.jobs == 1
    toml = AuditOptions.names(toml=True)
    again = AuditOptions.from_mapping(
        {k: v for k, v in opts.as_dict().items() if v is not None and k in toml}
    )
    assert again == opts


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mode": "sideways"}, "mode: 'sideways' is not one of auto, fast, deep"),
        ({"jobs": 0}, "jobs: 0 is below the minimum 1"),
        ({"jobs": "2"}, "jobs: expected an integer"),
        ({"jobs": True}, "jobs: expected an integer"),
        ({"strict": "yes"}, "strict: expected true or false"),
        ({"timeout": 0.01}, "timeout: 0.01 is below the minimum 0.1"),
        ({"policy": "newest"}, "policy: 'newest' is not one of"),
        ({"no_such": 1}, "unknown option 'no_such'"),
    ],
)
def test_bad_values_are_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        AuditOptions.from_mapping(data)


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nightly.toml: \[audit\] mode"):
        AuditOptions.from_mapping({"mode": 3}, source=tmp_path / "nightly.toml")


def test_relative_paths_are_relative_to_the_base(tmp_path: Path) -> None:
    opts = AuditOptions.from_mapping({"cache": "c.sqlite"}, base=tmp_path)
    assert opts.cache == tmp_path / "c.sqlite"


@given(mode=st.sampled_from(MODES), jobs=st.integers(1, 64), retries=st.integers(0, 9))
def test_valid_values_are_kept(mode: str, jobs: int, retries: int) -> None:
    opts = AuditOptions(mode=mode, jobs=jobs, retries=retries)
    assert (opts.mode, opts.jobs, opts.retries) == (mode, jobs, retries)


def test_click_options_carry_the_dataclass_defaults_and_help() -> None:
    seen: dict[str, object] = {}

    @click.command()
    @click_options()
    def cmd(**kwargs: object) -> None:
        seen.update(kwargs)

    runner = CliRunner()
    assert runner.invoke(cmd, []).exit_code == 0
    for f in dataclasses.fields(AuditOptions):
        if f.metadata.get("cli", True):
            assert seen[f.name] == f.default, f.name
    helptext = runner.invoke(cmd, ["--help"]).output
    assert "Name of the event tree." in helptext
    bad = runner.invoke(cmd, ["--mode", "sideways"])
    assert bad.exit_code == 2
    assert "sideways" in bad.output
    AuditOptions(**seen)  # type: ignore[arg-type]  # the CLI's values build valid options


# ------------------------------------------------------------------ one declaration


def _fields(*, cli: bool = False) -> list[dataclasses.Field[object]]:
    return [f for f in dataclasses.fields(AuditOptions) if not cli or f.metadata.get("cli", True)]


def test_every_cli_option_of_audit_comes_from_the_dataclass() -> None:
    """`lumiaudit audit` has one flag per field, with the field's default and help text."""
    from lumiaudit.cli import cli
    from lumiaudit.cli.audit import command

    params = {p.name: p for p in command.params}
    helptext = " ".join(CliRunner().invoke(cli, ["audit", "--help"]).output.split())
    for f in _fields(cli=True):
        assert f.name in params, f.name
        assert params[f.name].default == f.default, f.name
        assert " ".join(f.metadata["help"].split()) in helptext, f.name
    assert "-j, --jobs" in helptext


@pytest.mark.parametrize("notebook", ["audit_overview", "run_drilldown", "file_health"])
def test_report_options_are_the_audit_options_and_no_notebook_copies_them(notebook: str) -> None:
    """`report` audits in the calling process (issue 12): it has a flag for each field of
    `audit` it takes, and the notebooks declare none of them (their cells are data knobs)."""
    from lumiaudit.report import notebook_parameters

    spec = notebook_parameters(notebook)
    from lumiaudit.cli.report import command

    params = {p.name for p in command.params}
    skipped = {"allow_empty", "production", "experiment_label"}
    for f in _fields(cli=True):
        assert (f.name in params) == (f.name not in skipped), f.name
    # the drilldown's experiment names the run's experiment; it selects nothing to audit
    assert not {f.name for f in _fields()} & (set(spec) - {"experiment"})


def test_api_signature_lists_every_option_with_its_default() -> None:
    import inspect

    import lumiaudit

    sig = inspect.signature(lumiaudit.audit)
    for f in _fields():
        param = sig.parameters[f.name]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY
        assert param.default == f.default, f.name
    assert {"online", "offline", "options", "client", "progress", "mapping"} <= set(sig.parameters)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"jobz": 2}, "unknown option 'jobz'"),
        ({"jobs": 0}, "jobs: 0 is below the minimum 1"),
        ({"mode": "fast"}, "mode 'fast' counts tree entries only"),
        ({"mask_ls": "half"}, "mask_ls: 'half' is not one of"),
        ({"run_range": (9, 3)}, "run_range: first run 9 is greater"),
        ({"runs": "1-2,x"}, "runs:"),
        ({"thresholds": {"z_fial": 6}}, "unknown threshold 'z_fial'"),
    ],
)
def test_audit_validates_its_options(kwargs: dict[str, object], message: str) -> None:
    import lumiaudit

    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        lumiaudit.audit("no-such-online", "no-such-offline", **kwargs)


def test_audit_takes_options_and_keyword_overrides(bundled_example: Path) -> None:
    """``options=`` and keywords give the same audit; ``summary["options"]`` is ``as_dict``."""
    import lumiaudit
    from lumiaudit.runselect import RunSelection

    online, offline = str(bundled_example / "elog"), str(bundled_example / "prod")
    opts = AuditOptions(mode="deep", runs="101-104")
    a = lumiaudit.audit(online, offline, options=opts, runs=RunSelection.parse("101-103"))
    b = lumiaudit.audit(online, offline, mode="deep", runs="101-103")
    assert list(a.runs["run"]) == list(b.runs["run"]) == [101, 102, 103]
    expected = opts.replace(runs="101-103").as_dict()
    for name, value in expected.items():
        if name not in ("non_physics", "tree", "profile", "golden"):
            assert a.summary["options"][name] == value, name
    assert "profile" not in a.summary["options"]  # the default profile: summary as before
    # where the option's None means "the profile's", the summary gives the value in effect
    assert a.summary["options"]["non_physics"]
    assert a.summary["options"]["tree"] == "tree"
