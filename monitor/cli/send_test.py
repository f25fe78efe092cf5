"""`test-alert`: send a clearly marked test to every destination (or one role's, or one
school's) and say how each went, so a school can prove its alerts arrive before it needs them."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import click

from monitor.cli.common import Failure, config_options, table
from monitor.config import ROLES

if TYPE_CHECKING:
    from monitor.config import Config


@click.command("test-alert")
@config_options
@click.option("--role", type=click.Choice(ROLES), help="Only this role's destinations.")
@click.option("--school", "school_id", metavar="ID", help="Only this school's destinations.")
def test_alert(config: Config, role: str | None, school_id: str | None) -> None:
    """Send a test message to each alert destination and print each result."""
    from monitor import notify, secrets

    schools = config.schools
    if school_id is not None:
        school = config.find_school(school_id)
        if school is None:
            known = ", ".join(s.id for s in config.schools)
            raise Failure(f"no school '{school_id}' in the config (it has: {known})")
        schools = [school]
    host = socket.gethostname()
    rows, failed = [], 0
    for school in schools:
        for recipient in school.recipients:
            if role is not None and recipient.role != role:
                continue
            for url in recipient.urls:
                title = f"[TEST] Hall Monitor test alert - {school.name} - {recipient.role}"
                body = (f"This is a test sent by 'hallmonitor test-alert' on {host}. It is not "
                        "about any comment and nothing needs doing.\n\n"
                        f"School: {school.name}\nRole: {recipient.role}\n\n"
                        "If you can read this, alerts for this role reach you here.")
                result = notify.send_apprise(config.secret(url) if secrets.is_reference(url)
                                             else url, title, body)
                shown = url if secrets.is_reference(url) else secrets.mask_url(url)
                outcome = "sent" if result.ok else f"FAILED: {result.error}"
                failed += not result.ok
                rows.append((school.id, recipient.role, shown, outcome))
    if not rows:
        raise Failure("no destination matches" + (f" role '{role}'" if role else "")
                      + (f" at school '{school_id}'" if school_id else ""))
    click.echo(table(["school", "role", "destination", "result"], rows))
    if failed:
        raise Failure(f"{failed} of {len(rows)} test alerts could not be sent")
