"""`hallmonitor deliver --retry-dead / --resolve-unknown` and `alerts list`, as an IT manager uses
them after an outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from monitor import alerts, models, notify
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"

pytestmark = pytest.mark.usefixtures("database")


def setup_school(tmp_path, recipients):
    write_replay(tmp_path / "fb", [THREAT])
    path = write_config(tmp_path, recipients)
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    return path, config, sessions


def statuses(sessions) -> list[tuple[str, bool]]:
    with sessions() as session:
        return [(d.status, d.possible_repeat) for d in session.scalars(
            select(models.Delivery).order_by(models.Delivery.id))]


def test_retry_dead_sends_a_given_up_delivery_again_and_says_so(tmp_path, webhook, capsys):
    path, config, sessions = setup_school(tmp_path, {"dsl": [webhook.url()]})
    webhook.statuses = [404]  # refused for good: dead at once
    notify.deliver_due(config, sessions, "test")
    assert statuses(sessions) == [("dead", False)]
    capsys.readouterr()
    main(["deliver", "--retry-dead", "--config", str(path)])
    out = capsys.readouterr().out
    assert "1 dead delivery, sending again:" in out
    assert "json://127.0.0.1/****: HTTP 404" in out
    assert "deliveries: 1 sent" in out
    assert statuses(sessions) == [("sent", False)]
    assert len(webhook.received) == 1
    main(["deliver", "--retry-dead", "--config", str(path)])
    assert "no dead deliveries" in capsys.readouterr().out
    assert len(webhook.received) == 1


def test_resolve_unknown_resends_marked_as_a_possible_repeat(tmp_path, webhook, capsys):
    path, config, sessions = setup_school(tmp_path, {"dsl": [webhook.url()]})
    with sessions.begin() as session:  # as a send whose answer never came leaves it
        session.execute(update(models.Delivery).values(
            status="unknown", attempts=1, last_error="timed out waiting for the answer",
            next_attempt_at=datetime.now(UTC) + timedelta(hours=1)))
    capsys.readouterr()
    main(["deliver", "--resolve-unknown", "--config", str(path)])
    out = capsys.readouterr().out
    assert "1 unknown delivery, resending as a possible repeat:" in out
    assert "timed out waiting for the answer" in out
    assert statuses(sessions) == [("sent", True)]
    [payload] = webhook.received
    assert payload["title"].endswith("(possible repeat)")


def test_alerts_list_shows_a_notice_for_it_that_reached_nobody_first(tmp_path, capsys):
    # The school's only channel is IT's, on a mail server that is not there.
    path, config, sessions = setup_school(
        tmp_path, {"it": ["mailto://127.0.0.1:9?to=it@school.example&from=hm@school.example"
                          "&mode=insecure"]})
    now = datetime.now(UTC)
    with sessions.begin() as session:
        alerts.notify_it(session, config, "oakfield", "test-notice", "source_paused",
                         "[ACTION NEEDED] A source stopped", "Renew the token.", now)
    notify.deliver_due(config, sessions, "test")
    capsys.readouterr()
    main(["alerts", "list", "--config", str(path)])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "!! 1 notice for IT reached nobody (every channel tried has failed):"
    assert "[ACTION NEEDED] A source stopped" in out[1]
    assert "mailto://127.0.0.1/**** pending: connection refused" in out[2]
