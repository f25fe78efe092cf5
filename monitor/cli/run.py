"""Running the daemon: `run` and `poll`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor.cli.common import Failure, config_options, open_db, setup_logging, shown_db

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from monitor.config import Config
    from monitor.daemon import Daemon
    from monitor.pipeline import PollResult
    from monitor.web.serve import Handle


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
    """Run the daemon until Ctrl-C or SIGTERM (with the staff console when [web] enabled)."""
    setup_logging(verbose)
    daemon = _prepared(config)
    names = ", ".join(school.name for school in config.schools)
    click.echo(f"Hall Monitor watching {names}; database {shown_db(config)}. "
               "Ctrl-C to stop.", err=True)
    console = _start_console(config, daemon.sessions) if config.web.enabled else None
    if is_demo(config):
        _queue_demo_digests(config, daemon)
    try:
        code = daemon.run_forever()
    finally:
        if console is not None:
            console.stop()
    if daemon.fatal:
        click.echo(f"hallmonitor: {daemon.fatal}", err=True)
    raise SystemExit(code)


# The account `run --demo` signs in with: a trust admin with no password (links only).
DEMO_ADMIN = "demo-admin@hallmonitor.invalid"


def _start_console(config: Config, sessions: sessionmaker[Session]) -> Handle | None:
    """The staff console beside the daemon. A port that cannot be had is logged and the daemon
    carries on without it: alerts to a DSL matter more than the console."""
    import logging

    from monitor.web.serve import CannotServe, start

    try:
        handle = start(config, sessions)
    except CannotServe as exc:
        logging.getLogger("monitor.web").error("%s; the daemon carries on without it", exc)
        return None
    if is_demo(config):
        click.echo(f"Staff console: {handle.url}\n"
                   f"Sign in as the demo trust admin (this link works once, within "
                   f"{round(config.web.sign_in_link_ttl / 60)} minutes):\n"
                   f"  {demo_sign_in_link(config, sessions, handle.url)}", err=True)
    else:
        click.echo(f"Staff console: {handle.url}", err=True)
    return handle


def _queue_demo_digests(config: Config, daemon: Daemon) -> None:
    """The demo's week is in the past: its digests are queued once it has all been replayed."""
    import threading

    from monitor.digest.demo import queue_when_settled

    threading.Thread(target=queue_when_settled, args=(config, daemon.sessions, daemon.stop),
                     kwargs={"tell": lambda line: click.echo(line, err=True)},
                     daemon=True, name="demo-digest").start()


def is_demo(config: Config) -> bool:
    from monitor.config import DEMO_DIR

    return config.path is not None and config.path.resolve() == (DEMO_DIR / "demo.toml")


def demo_sign_in_link(config: Config, sessions: sessionmaker[Session], console_url: str) -> str:
    """A one-time sign-in link for the demo's trust admin (created on first use) on the
    console at `console_url`."""
    from sqlalchemy import select

    from monitor import links, models

    with sessions.begin() as session:
        user = session.scalar(select(models.StaffUser)
                              .where(models.StaffUser.email == DEMO_ADMIN))
        if user is None:
            user = models.StaffUser(email=DEMO_ADMIN, name="Demo trust admin", role="admin",
                                    school_id=None, password_hash=None)
            session.add(user)
            session.flush()
        token = links.make_token(links.signing_key(config, session), links.SIGN_IN, user.id)
    return f"{console_url}/sign-in/{token}"


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
