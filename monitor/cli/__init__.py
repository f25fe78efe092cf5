"""The `hallmonitor` command: one module per command group.

Bad input never ends in a traceback: configuration problems exit 2 with one line per problem,
other failures exit 1 with a one-line message (`--debug` shows the traceback).

Only click and the command modules are imported here, and those import the database and config
machinery inside the commands that use them, so `hallmonitor classify` starts fast.
"""

from __future__ import annotations

import sys

import click

from monitor.cli import (
    action,
    alerts,
    classify,
    config_check,
    db,
    deliver,
    digest,
    evidence,
    feedback,
    followers,
    incidents,
    items,
    model,
    privacy,
    retention,
    run,
    send_test,
    sources,
    users,
    watchlist,
    web,
)
from monitor.cli.common import Failure, load_config, open_db
from monitor.errors import ConfigError, DatabaseError, DatabaseUnreachable

__all__ = ["Failure", "cli", "load_config", "main", "open_db"]

PACKAGE = "hallmonitor"


def installed_version() -> str:
    """The version pip installed, from the package metadata (the one place it is written)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "unknown (not installed: run 'pip install .')"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"hallmonitor {installed_version()}")
    ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the installed version and exit.")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Hall Monitor: watches a school's social media accounts, flags harmful comments and tells
    the right person in time."""
    ctx.obj = {"debug": debug}


for command in (
    run.run, run.poll, deliver.deliver,
    config_check.check_config,
    sources.sources_command,
    items.items, alerts.alerts, incidents.incidents,
    action.action,
    feedback.feedback,
    classify.classify,
    model.model,
    db.db_group,
    send_test.test_alert,
    users.users,
    digest.digest_group,
    followers.followers_group,
    watchlist.watchlist,
    evidence.evidence_group,
    privacy.privacy_group,
    retention.retention_group,
    web.web,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="hallmonitor", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        raise SystemExit(130) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"hallmonitor: config error: {problem}", err=True)
        raise SystemExit(2) from None
    except DatabaseUnreachable as exc:
        # Often passing (a server restarting): exit 1 like any failure, not 2 like a mistake.
        click.echo(f"hallmonitor: {exc}", err=True)
        raise SystemExit(1) from None
    except DatabaseError as exc:
        click.echo(f"hallmonitor: database error: {exc}", err=True)
        raise SystemExit(2) from None
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            raise
        click.echo(f"hallmonitor: {_one_line(exc)} (run with --debug for details)", err=True)
        raise SystemExit(1) from None


def _one_line(exc: Exception) -> str:
    """An unexpected error in one line. A database driver's text (several lines, the SQL, a
    link to the SQLAlchemy docs) is reduced to its reason; no configured secret is shown."""
    from monitor.cli.common import redact

    database_errors = sys.modules.get("sqlalchemy.exc")
    if database_errors is not None and isinstance(exc, database_errors.DBAPIError):
        from monitor.db import error_reason

        return redact(f"database error: {error_reason(exc)}")
    text = " ".join(str(exc).split())
    return redact(f"error: {type(exc).__name__}: {text}")
