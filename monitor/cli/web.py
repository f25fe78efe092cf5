"""`hallmonitor web`: the staff console on its own, without polling or sending anything."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

import click

from monitor.cli.common import Failure, config_options, open_db, setup_logging

if TYPE_CHECKING:
    from monitor.config import Config


@click.command("web")
@config_options
@click.option("--host", metavar="ADDRESS", help="Listen on this address (default: [web] host, "
              "127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Listen on this port (default: "
              "[web] port, 8080).")
@click.option("--verbose", "-v", is_flag=True, help="Log debugging detail.")
def web(config: Config, host: str | None, port: int | None, verbose: bool) -> None:
    """Serve the staff console until Ctrl-C or SIGTERM (the daemon serves it too when [web]
    enabled = true)."""
    from monitor.cli.run import demo_sign_in_link, is_demo
    from monitor.web.serve import CannotServe, start

    setup_logging(verbose)
    sessions = open_db(config)
    try:
        handle = start(config, sessions, host=host, port=port)
    except CannotServe as exc:
        raise Failure(str(exc)) from None
    click.echo(f"Staff console on {handle.url} (listening on {handle.host}:{handle.port}). "
               "Ctrl-C to stop.", err=True)
    if is_demo(config):
        click.echo("Sign in as the demo trust admin (this link works once, within "
                   f"{round(config.web.sign_in_link_ttl / 60)} minutes):\n"
                   f"  {demo_sign_in_link(config, sessions, handle.url)}", err=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    while not stop.wait(0.5):
        pass
    handle.stop()
    click.echo("stopped", err=True)
