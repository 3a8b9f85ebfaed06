"""The project as users meet it: README commands, CI script, CLI manual, start-up time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from lumiaudit.cli import COMMANDS, cli

REPO = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    install_demo, test_cmd = _readme_commands()
    assert "lumiaudit demo" in install_demo
    for tool in ("pytest", "mypy", "ruff"):
        assert tool in test_cmd
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_cmd in ci


def test_every_command_is_documented_and_has_help() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert name in result.output
        assert f"lumiaudit {name}" in readme, f"README does not show `lumiaudit {name}`"
        sub = runner.invoke(cli, [name, "--help"])
        assert sub.exit_code == 0, (name, sub.output)
        assert "Usage:" in sub.output


def test_version_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys; from lumiaudit.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "mods = ('pandas', 'uproot', 'matplotlib', 'scipy', 'papermill')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "lumiaudit, version" in out.stdout
    assert "HEAVY []" in out.stdout


def test_unknown_command_and_option_exit_2_without_traceback() -> None:
    runner = CliRunner()
    for args in (["no-such-command"], ["audit", "--no-such-option"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2
        assert "Traceback" not in result.output
