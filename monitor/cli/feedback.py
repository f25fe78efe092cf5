"""`feedback ITEM_ID`: a member of staff's correction of an item's verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor.cli.common import BadInput, actor_option, config_options, open_db

if TYPE_CHECKING:
    from monitor.config import Config


@click.command()
@config_options
@click.argument("item_id", type=int)
@click.option("--not-a-problem", is_flag=True, help="The item belongs to no category.")
@click.option("--category", "categories", multiple=True, metavar="CAT",
              help="A category the item really belongs to (repeatable); replaces the "
                   "verdict's categories.")
@actor_option
def feedback(config: Config, item_id: int, not_a_problem: bool, categories: tuple[str, ...],
             actor: str) -> None:
    """Correct ITEM_ID's verdict. 'hallmonitor model train --feedback' learns from these."""
    from monitor.feedback import FeedbackError, correct, describe

    try:
        record = correct(open_db(config), item_id, categories=categories,
                         not_a_problem=not_a_problem, by=actor)
    except FeedbackError as exc:
        raise BadInput(str(exc)) from None
    click.echo(f"item {item_id} {describe(record.categories)} (corrected by {actor})")
