"""`deliver`: send the alerts that are due now, from the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor.cli.common import config_options, open_db

if TYPE_CHECKING:
    from monitor.config import Config


@click.command()
@config_options
def deliver(config: Config) -> None:
    """Send the alerts that are due now, and exit."""
    from monitor import notify
    from monitor.daemon import worker_id

    stats = notify.deliver_due(config, open_db(config), worker_id())
    click.echo(f"deliveries: {stats.sent} sent, {stats.failed} to retry, {stats.dead} dead")
