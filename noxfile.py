"""Task runner (``pip install nox``; ``nox -l`` lists the sessions). Modelled on scikit-hep/hist."""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.3.2"
nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy --strict, as the README's test command runs them."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (pass pytest options after ``--``, e.g. ``nox -s tests -- -m 'not slow'``)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(name="docs-check")
def docs_check(session: nox.Session) -> None:
    """The doctests of the package and the README/docs links that point into the repository."""
    session.install("-e", ".[test]")
    session.run(
        "python", "-m", "pytest", "--doctest-modules", "lumiaudit", "-p", "no:cacheprovider"
    )
    session.run("python", "-m", "pytest", "tests/test_project.py", "-p", "no:cacheprovider")
