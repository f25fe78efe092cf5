"""`deliver`: send the alerts that are due now, from the command line; and, by hand, send again
what was given up on (`--retry-dead`) or whose outcome is unknown (`--resolve-unknown`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor.cli.common import config_options, open_db

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.notify import Requeued

# How long the command waits, before exiting, for a send to a slow service to end.
SLOW_SEND_GRACE = 60.0


@click.command()
@config_options
@click.option("--retry-dead", is_flag=True,
              help="Send dead deliveries again now, with a new retry period.")
@click.option("--resolve-unknown", is_flag=True,
              help="Send again now the deliveries whose outcome is unknown (a crash or timeout "
                   "during a send), marked as a possible repeat.")
def deliver(config: Config, retry_dead: bool, resolve_unknown: bool) -> None:
    """Send the alerts that are due now, and exit."""
    from monitor import notify
    from monitor.daemon import worker_id

    sessions = open_db(config)
    if retry_dead:
        _report("dead", notify.requeue(sessions, "dead"))
    if resolve_unknown:
        _report("unknown", notify.requeue(sessions, "unknown"))
    stats = notify.deliver_due(config, sessions, worker_id())
    if stats.in_flight and not notify.wait_for_sends(SLOW_SEND_GRACE):
        click.echo(f"warning: {stats.in_flight} sends to a slow service had not ended after "
                   f"{SLOW_SEND_GRACE:.0f}s; their outcome is unknown and they will be resent "
                   "marked as a possible repeat", err=True)
    summary = f"deliveries: {stats.sent} sent, {stats.failed} to retry, {stats.dead} dead"
    if stats.unknown:
        summary += f", {stats.unknown} with an unknown outcome"
    if stats.in_flight:
        summary += f" ({stats.in_flight} to a slow service)"
    click.echo(summary)


def _report(status: str, requeued: list[Requeued]) -> None:
    if not requeued:
        click.echo(f"no {status} deliveries")
        return
    again = "sending again" if status == "dead" else "resending as a possible repeat"
    click.echo(f"{len(requeued)} {status} deliver{'y' if len(requeued) == 1 else 'ies'}, "
               f"{again}:")
    for entry in requeued:
        click.echo(f"  delivery {entry.delivery_id} (alert {entry.alert_id}) to "
                   f"{entry.destination}: {entry.last_error or 'no error recorded'}")
