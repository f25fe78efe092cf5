"""`users add|list|disable|enable|reset|password`: who can sign in to the staff console.

A password is read from standard input (`--password-stdin`: the first line, or a hidden prompt
at a terminal), never from the command line, where other users of the machine and the shell
history would see it; it is never printed or logged. Without a password, an account signs in by
a one-time link, printed here when the console is configured.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from monitor.cli.common import BadInput, config_options, local_time, open_db, table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor import models
    from monitor.config import Config

# monitor.users.ALL_ROLES, written out so that --help needs no database machinery (a test keeps
# the two the same).
ROLE_CHOICES = ("digital_champion", "dsl", "head", "it", "admin")

password_stdin_option = click.option(
    "--password-stdin", is_flag=True,
    help="Read the password from standard input (the first line; a hidden prompt at a terminal).")


@click.group()
def users() -> None:
    """Staff accounts for the console: add, list, disable, enable, reset, set a password."""


@users.command("add")
@config_options
@click.option("--email", required=True, help="The address they sign in with (and get links at).")
@click.option("--role", required=True, metavar="ROLE",
              help=f"One of {', '.join(ROLE_CHOICES)} (an admin sees every school).")
@click.option("--school", "school_id", metavar="ID",
              help="Their school's id in the config (not for an admin; may be left out when the "
                   "config has one school).")
@click.option("--name", default="", help="Their name, as the console shows it.")
@password_stdin_option
def users_add(config: Config, email: str, role: str, school_id: str | None, name: str,
              password_stdin: bool) -> None:
    """Create a staff account. Without --password-stdin it has no password: a one-time sign-in
    link is printed instead."""
    from monitor import users as users_module

    password = read_password() if password_stdin else None
    sessions = open_db(config)
    with _user_errors(), sessions.begin() as session:
        user = users_module.add(session, config, email=email, role=role, school_id=school_id,
                                name=name, password=password)
        session.flush()
        where = f"at {user.school_id}" if user.school_id else "for every school"
        lines = [f"added {user.email}: {user.role} {where}"
                 + (", with a password" if password is not None else "")]
        if password is None:
            lines += _sign_in_link(config, session, user)
    # Shown once the account is committed: a link to an account that is not there helps nobody.
    click.echo("\n".join(lines))


@users.command("list")
@config_options
@click.option("--school", "school_id", metavar="ID", help="Only this school's staff.")
def users_list(config: Config, school_id: str | None) -> None:
    """Every staff account: role, school, whether it has a password, last sign-in."""
    from monitor import users as users_module

    if school_id is not None and config.find_school(school_id) is None:
        raise BadInput(f"unknown school {school_id!r}: the config has "
                       f"{', '.join(s.id for s in config.schools)}")
    with open_db(config)() as session:
        rows = users_module.list_users(session, school_id)
        tz = config.daemon.timezone
        click.echo(table(["id", "email", "name", "role", "school", "state", "password",
                          "last sign-in"], [
            [u.id, u.email, u.name or "-", u.role, u.school_id or "(all schools)",
             "disabled" if u.disabled else "active", "set" if u.password_hash else "none",
             local_time(u.last_sign_in_at, tz)] for u in rows]))


@users.command("disable")
@config_options
@click.argument("email")
def users_disable(config: Config, email: str) -> None:
    """Stop EMAIL signing in, and end their open sessions."""
    from monitor import users as users_module

    with _user_errors(), open_db(config).begin() as session:
        user = users_module.disable(session, email)
        click.echo(f"{user.email} is disabled: they can no longer sign in")


@users.command("enable")
@config_options
@click.argument("email")
def users_enable(config: Config, email: str) -> None:
    """Let a disabled account sign in again."""
    from monitor import users as users_module

    with _user_errors(), open_db(config).begin() as session:
        user = users_module.enable(session, email)
        click.echo(f"{user.email} is enabled")


@users.command("reset")
@config_options
@click.argument("email")
def users_reset(config: Config, email: str) -> None:
    """Clear EMAIL's password and end their sessions; print a one-time sign-in link."""
    from monitor import users as users_module

    with _user_errors(), open_db(config).begin() as session:
        user = users_module.reset(session, email)
        lines = [f"{user.email}: password cleared and every session ended",
                 *_sign_in_link(config, session, user)]
    click.echo("\n".join(lines))


@users.command("password")
@config_options
@click.argument("email")
@password_stdin_option
def users_password(config: Config, email: str, password_stdin: bool) -> None:
    """Set EMAIL's password (read with --password-stdin); their other sessions end."""
    from monitor import users as users_module

    if not password_stdin:
        raise BadInput("give the password on standard input with --password-stdin (never on "
                       "the command line)")
    password = read_password()
    with _user_errors(), open_db(config).begin() as session:
        user = users_module.set_password(session, email, password)
        click.echo(f"password set for {user.email}")


def read_password() -> str:
    """The password from standard input: a hidden prompt, asked twice, at a terminal; otherwise
    the first line (without its line ending)."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True,
                            err=True)
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise BadInput("no password on standard input")
    return password


def _sign_in_link(config: Config, session: Session, user: models.StaffUser) -> list[str]:
    """A one-time sign-in link for the account, with how long it works; or, without a console
    to sign in to, what to do instead."""
    from monitor import links
    from monitor import users as users_module

    if not users_module.console_configured(config):
        return ["no sign-in link: the console is not configured (set [web] enabled = true, "
                f"then run 'hallmonitor users reset {user.email}'), or set a password with "
                f"'hallmonitor users password {user.email} --password-stdin'"]
    url = links.sign_in_url(config, session, user.id)
    return [f"one-time sign-in link for {user.email} (works once, for "
            f"{_duration(config.web.sign_in_link_ttl)}; give it to them only):", url]


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(seconds)} seconds"


@contextmanager
def _user_errors() -> Iterator[None]:
    """monitor.users' refusals as one-line usage errors (exit 2)."""
    from monitor.users import UserError

    try:
        yield
    except UserError as exc:
        raise BadInput(str(exc)) from None
