"""`incidents list|ack|resolve`: flagged items that belong together, and who dealt with them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from monitor.cli.common import Failure, actor_option, config_options, local_time, open_db, table

if TYPE_CHECKING:
    from monitor.config import Config


@click.group()
def incidents() -> None:
    """Incidents: flagged items that belong together, and who has dealt with them."""


@incidents.command("list")
@config_options
@click.option("--all", "show_all", is_flag=True, help="Include resolved incidents.")
@click.option("--limit", default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def incidents_list(config: Config, show_all: bool, limit: int, fmt: str) -> None:
    """Open and acknowledged incidents, most serious and newest first."""
    from sqlalchemy import select

    from monitor import models
    sessions = open_db(config)
    with sessions() as session:
        query = select(models.Incident).order_by(models.Incident.last_item_at.desc()).limit(limit)
        if not show_all:
            query = query.where(models.Incident.status != "resolved")
        rows = list(session.scalars(query))
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps({
                "id": row.id, "school": row.school_id, "status": row.status,
                "severity": row.severity, "categories": list(row.categories),
                "items": row.item_count, "opened_at": row.opened_at.isoformat(),
                "last_item_at": row.last_item_at.isoformat(),
                "acknowledged_by": row.acknowledged_by}))
        return
    tz = config.daemon.timezone
    order = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
    rows.sort(key=lambda r: (r.status == "resolved", order.get(r.severity, 4)))
    click.echo(table(["id", "status", "severity", "items", "categories", "last item", "by"], [
        [r.id, r.status, r.severity, r.item_count, ",".join(r.categories),
         local_time(r.last_item_at, tz), r.acknowledged_by or "-"] for r in rows]))


def _incident_change(change: str) -> Callable:
    @config_options
    @click.argument("incident_id", type=int)
    @actor_option
    def command(config: Config, incident_id: int, actor: str) -> None:
        from monitor import incidents as incidents_module

        try:
            getattr(incidents_module, change)(open_db(config), incident_id, actor)
        except incidents_module.IncidentError as exc:
            raise Failure(str(exc)) from None
        click.echo(f"incident {incident_id} {change}d by {actor}")

    return command


incidents.command("ack", help="Acknowledge an incident: stops its escalation.")(
    _incident_change("acknowledge"))
incidents.command("resolve", help="Mark an incident as dealt with.")(
    _incident_change("resolve"))
