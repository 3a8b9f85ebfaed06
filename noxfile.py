#!/usr/bin/env -S uv run --script
# /// script
# dependencies = ["nox>=2024.3.2"]
# ///
"""Task runner (``pip install nox``; ``nox -l`` lists the sessions). Modelled on scikit-hep/hist."""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "venv"


@nox.session(default=True)
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy --strict, as the README's test command runs them."""
    session.install("-e", ".[test]", "--group", "dev")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(default=True)
def tests(session: nox.Session) -> None:
    """The test suite (pass pytest options after ``--``, e.g. ``nox -s tests -- -m 'not slow'``)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(name="docs-check", default=False)
def docs_check(session: nox.Session) -> None:
    """The package's doctests and the README/CI consistency checks."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "lumiaudit", "tests/test_project.py")


@nox.session(default=False)
def screenshots(session: nox.Session) -> None:
    """The README's pictures (docs/img): the report's first screen and one plot, from the
    bundled example, photographed in headless Chromium (needs `chromium` on PATH)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "lumiaudit.report.screenshots", "docs/img", *session.posargs)


if __name__ == "__main__":
    nox.main()
