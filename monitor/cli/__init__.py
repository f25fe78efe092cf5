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
    feedback,
    incidents,
    items,
    model,
    run,
    sources,
)
from monitor.cli.common import Failure, load_config, open_db
from monitor.errors import ConfigError, DatabaseError

__all__ = ["Failure", "cli", "load_config", "main", "open_db"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    except DatabaseError as exc:
        click.echo(f"hallmonitor: database error: {exc}", err=True)
        raise SystemExit(2) from None
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            raise
        click.echo(f"hallmonitor: error: {type(exc).__name__}: {exc} (run with --debug for "
                   "details)", err=True)
        raise SystemExit(1) from None
