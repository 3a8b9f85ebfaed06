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
    again = AuditOptions.from_mapping({k: v for k, v in opts.as_dict().items() if v is not None})
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
