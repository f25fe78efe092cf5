"""`incidents list|ack|resolve`: flagged items that belong together, and who dealt with them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from monitor.cli.common import Failure, actor_option, config_options, local_time, open_db, table

if TYPE_CHECKING:
    from monitor.config import Config


SEVERITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


@click.group()
def incidents() -> None:
    """Incidents: flagged items that belong together, and who has dealt with them."""


@incidents.command("list")
@config_options
@click.option("--all", "show_all", is_flag=True, help="Include resolved incidents.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="How many incidents to show (at least 1), the most pressing first.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def incidents_list(config: Config, show_all: bool, limit: int, fmt: str) -> None:
    """Open and acknowledged incidents, most serious and newest first."""
    from sqlalchemy import case, select

    from monitor import models
    incident = models.Incident
    # Sorted before the limit is taken: --limit 5 shows the five most pressing, not the five
    # newest in order of pressure.
    query = select(incident).order_by(
        (incident.status == "resolved").asc(),
        case(SEVERITY_ORDER, value=incident.severity, else_=len(SEVERITY_ORDER)),
        incident.last_item_at.desc(), incident.id.desc()).limit(limit)
    if not show_all:
        query = query.where(incident.status != "resolved")
    with open_db(config)() as session:
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
