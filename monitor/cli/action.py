"""`action hide|unhide|delete|block|mute ITEM_ID`: moderate an item on its platform."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor.cli.common import Failure, actor_option, config_options, open_db

if TYPE_CHECKING:
    from monitor.config import Config


@click.command()
@config_options
@click.argument("action", type=click.Choice(["hide", "unhide", "delete", "block", "mute"]))
@click.argument("item_id", type=int)
@click.option("--incident", "incident_id", type=int, metavar="ID",
              help="The incident this is done for (default: the item's, when it has one).")
@actor_option
def action(config: Config, action: str, item_id: int, incident_id: int | None,
           actor: str) -> None:
    """Hide, unhide, delete, block or mute ITEM_ID on its platform (recorded in the audit log).

    An action the item's platform does not allow is refused with the reason, and nothing is
    sent to the platform."""
    from monitor.actions import ActionError, take_action

    try:
        record = take_action(config, open_db(config), action, item_id, actor,
                             incident_id=incident_id)
    except ActionError as exc:
        raise Failure(str(exc)) from None
    click.echo(f"{'done' if record.ok else 'FAILED'}: {record.result}")
    if not record.ok:
        raise SystemExit(1)
