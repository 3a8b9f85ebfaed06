"""``lumiaudit profile``: list the built-in profiles, print one as TOML; ``--profile``."""

from __future__ import annotations

import click

from lumiaudit.cli._common import handle_errors

#: ``--profile NAME|FILE.toml``, shared by every command that reads data.
profile_option = click.option(
    "--profile",
    "profile",
    default=None,
    metavar="NAME|FILE.toml",
    help="Experiment profile: tree, branch, file-name and online attribute names, run key, "
    "lumisections, thresholds (built in: belle2 (default), belle2-raw, cms-nanoaod, generic; "
    "see `lumiaudit profile list`).",
)


@click.group(name="profile")
def command() -> None:
    """Experiment profiles: what tree, branches, names and keys mean (docs/profiles.md)."""


@command.command(name="list")
@handle_errors
def list_command() -> None:
    """List the built-in profiles (name and description) on stdout."""
    from lumiaudit.profiles import list_profiles

    for prof in list_profiles():
        click.echo(f"{prof.name}\t{prof.description}")


@command.command(name="show")
@click.argument("profile", metavar="NAME|FILE.toml")
@handle_errors
def show_command(profile: str) -> None:
    """Print a profile as TOML (a built-in name or a file, validated); copy it to start your own."""
    from lumiaudit.profiles import dump_profile, load_profile

    click.echo(dump_profile(load_profile(profile)), nl=False)
