"""`items list`: stored comments and mentions with their verdicts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from monitor.cli.common import config_options, local_time, open_db, table

if TYPE_CHECKING:
    from monitor.config import Config


@click.group()
def items() -> None:
    """Stored comments and mentions."""


@items.command("list")
@config_options
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="How many items to show (at least 1).")
@click.option("--flagged", is_flag=True,
              help="Only items needing moderation (normal severity or above).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def items_list(config: Config, limit: int, flagged: bool, fmt: str) -> None:
    """The newest items with their verdicts."""
    from sqlalchemy import select

    from monitor import models
    sessions = open_db(config)
    with sessions() as session:
        query = (select(models.Item, models.Verdict)
                 .outerjoin(models.Verdict, models.Verdict.item_id == models.Item.id)
                 .order_by(models.Item.created_at.desc(), models.Item.id.desc()).limit(limit))
        if flagged:
            query = query.where(models.Verdict.severity.in_(("urgent", "high", "normal")))
        rows = session.execute(query).all()
    if fmt == "json":
        for item, verdict in rows:
            click.echo(json.dumps({
                "id": item.id, "platform": item.platform, "external_id": item.external_id,
                "kind": item.kind, "author": item.author_name or item.author_handle,
                "text": item.text, "created_at": item.created_at.isoformat(),
                "permalink": item.permalink,
                "categories": list(verdict.categories) if verdict else [],
            }, ensure_ascii=False))
        return
    tz = config.daemon.timezone
    click.echo(table(["id", "when", "platform", "author", "categories", "text"], [
        [item.id, local_time(item.created_at, tz), item.platform,
         (item.author_name or item.author_handle)[:20],
         ",".join(verdict.categories) if verdict else "-",
         " ".join(item.text.split())[:60]] for item, verdict in rows]))
