"""`alerts list`: alerts with their item, recipients and delivery states."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import click

from monitor.cli.common import config_options, local_time, open_db, table

if TYPE_CHECKING:
    from monitor import models
    from monitor.alerts import UndeliveredNotice
    from monitor.config import Config


@click.group()
def alerts() -> None:
    """Alerts and their deliveries."""


@alerts.command("list")
@config_options
@click.option("--limit", default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def alerts_list(config: Config, limit: int, fmt: str) -> None:
    """The newest alerts, with who they went to and how delivery went."""
    from sqlalchemy import select

    from monitor import alerts as outbox
    from monitor import models
    sessions = open_db(config)
    with sessions() as session:
        rows = list(session.scalars(
            select(models.Alert).order_by(models.Alert.id.desc()).limit(limit)))
        payload = [_alert_json(alert) for alert in rows]
        stranded = outbox.undelivered_it_notices(session)
    tz = config.daemon.timezone
    # Shown first, and on stderr beside JSON: a notice nobody received is an outage nobody knows.
    _warn_undelivered(stranded, tz, err=fmt == "json")
    if fmt == "json":
        for entry in payload:
            click.echo(json.dumps(entry, ensure_ascii=False))
        return
    click.echo(table(["id", "when", "severity", "categories", "to", "delivery", "title"], [
        [a["id"], local_time(datetime.fromisoformat(a["created_at"]), tz), a["severity"],
         ",".join(a["categories"]), ",".join(sorted({r for d in a["deliveries"]
                                                      for r in d["roles"]})) or "-",
         ",".join(sorted({d["status"] for d in a["deliveries"]})) or "none",
         a["title"][:70]] for a in payload]))


def _warn_undelivered(stranded: list[UndeliveredNotice], tz: str, *, err: bool) -> None:
    if not stranded:
        return
    count = len(stranded)
    click.echo(f"!! {count} notice{'s' if count != 1 else ''} for IT reached nobody (every "
               "channel tried has failed):", err=err)
    for notice in stranded:
        click.echo(f"!!   alert {notice.alert_id}, {local_time(notice.created_at, tz)}, "
                   f"{notice.school_id}: {notice.title}", err=err)
        click.echo(f"!!     {notice.why}", err=err)
    click.echo("!! They are retried while they can be; once the destination works again, "
               "'hallmonitor deliver --retry-dead' sends any given up on.\n",
               err=err)


def _alert_json(alert: models.Alert) -> dict:
    from monitor import secrets
    item = alert.item
    return {
        "id": alert.id, "kind": alert.kind, "severity": alert.severity,
        "categories": list(alert.categories), "title": alert.title, "body": alert.body,
        "dedupe_key": alert.dedupe_key, "school": alert.school_id,
        "incident_id": alert.incident_id, "created_at": alert.created_at.isoformat(),
        "item": None if item is None else {
            "id": item.id, "platform": item.platform, "external_id": item.external_id,
            "kind": item.kind, "text": item.text, "author": item.author_name or
            item.author_handle, "permalink": item.permalink,
            "created_at": item.created_at.isoformat()},
        "recipients": sorted({role for d in alert.deliveries for role in d.roles}),
        "deliveries": [{
            "destination": d.destination if secrets.is_reference(d.destination)
            else secrets.mask_url(d.destination),
            "roles": list(d.roles), "status": d.status, "attempts": d.attempts,
            "last_error": d.last_error, "possible_repeat": d.possible_repeat,
            "first_attempt_at": d.first_attempt_at.isoformat() if d.first_attempt_at else None,
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
        } for d in alert.deliveries],
    }
