"""Running the daemon: `run` and `poll`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor.cli.common import Failure, config_options, open_db, setup_logging, shown_db

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.daemon import Daemon
    from monitor.pipeline import PollResult


class CannotStart(click.ClickException):
    """The daemon refuses to start (its classifier cannot run as trained): one line, exit 2 like
    a config mistake, which is what it usually is."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"hallmonitor: cannot start: {self.message}", err=True)


def _prepared(config: Config) -> Daemon:
    """A daemon whose classifiers are loaded, or a one-line refusal."""
    from monitor import daemon

    prepared = daemon.Daemon(config, open_db(config))
    try:
        prepared.prepare()
    except daemon.CannotStart as exc:
        raise CannotStart(str(exc)) from None
    return prepared


@click.command()
@config_options
@click.option("--verbose", "-v", is_flag=True, help="Log debugging detail.")
def run(config: Config, verbose: bool) -> None:
    """Run the daemon until Ctrl-C or SIGTERM."""
    setup_logging(verbose)
    daemon = _prepared(config)
    names = ", ".join(school.name for school in config.schools)
    click.echo(f"Hall Monitor watching {names}; database {shown_db(config)}. "
               "Ctrl-C to stop.", err=True)
    code = daemon.run_forever()
    if daemon.fatal:
        click.echo(f"hallmonitor: {daemon.fatal}", err=True)
    raise SystemExit(code)


def _state(result: PollResult) -> str:
    if not result.claimed:
        return result.not_claimed or "not polled"
    return f"error: {result.error}" if result.error else "ok"


@click.command()
@config_options
@click.option("--once", is_flag=True, help="One cycle, then exit (the only mode: kept for "
              "clarity in scripts).")
@click.option("--source", "source_ids", type=int, multiple=True, metavar="ID",
              help="Only this source (repeatable); see 'hallmonitor sources'.")
@click.option("--verbose", "-v", is_flag=True, help="Log debugging detail.")
def poll(config: Config, once: bool, source_ids: tuple[int, ...], verbose: bool) -> None:
    """Poll every source (or the ones named) once, send due alerts, and exit."""
    setup_logging(verbose)
    from monitor.daemon import database_place
    from monitor.pipeline import DatabaseFault

    daemon = _prepared(config)
    try:
        results = daemon.poll_once(list(source_ids) or None)
    except DatabaseFault as fault:
        what = "it is read-only" if fault.kind == "read-only" else fault.detail
        raise Failure(f"cannot write to the database at {database_place(config)}: "
                      f"{what}") from None
    if source_ids and not results:
        raise Failure(f"no enabled source with id {', '.join(map(str, source_ids))}")
    for result in results:
        click.echo(f"source {result.source_id}: {result.new_items} new items, "
                   f"{result.alerts} alerts, {result.pages} pages — {_state(result)}")
    stats = daemon.deliver_once()
    click.echo(f"deliveries: {stats.sent} sent, {stats.failed} to retry, {stats.dead} dead")
    # A paused source is as much a failure to a script as an error: whatever runs this from
    # cron must notice. One busy with another daemon is being polled, which is fine.
    if any(r.error or (r.not_claimed or "").startswith(("paused", "disabled"))
           for r in results):
        raise SystemExit(1)
