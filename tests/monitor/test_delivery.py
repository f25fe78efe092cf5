from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from monitor import models, notify
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"

pytestmark = pytest.mark.usefixtures("database")


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def deliveries(sessions) -> list[models.Delivery]:
    with sessions() as session:
        rows = list(session.scalars(select(models.Delivery).order_by(models.Delivery.id)))
        for row in rows:
            _ = row.alert
        return rows


def setup_school(tmp_path, recipients, texts=(THREAT,), daemon="", batch_interval="2s"):
    write_replay(tmp_path / "fb", list(texts))
    config = load(write_config(tmp_path, recipients, daemon=daemon,
                               batch_interval=batch_interval))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    return config, sessions


def test_an_urgent_alert_arrives_by_email_with_what_where_why_and_next(tmp_path, smtp_inbox):
    config, sessions = setup_school(tmp_path, {"dsl": [smtp_inbox.url("dsl@school.example")]})
    stats = notify.deliver_due(config, sessions, "test")
    assert stats.sent == 1
    [message] = smtp_inbox.messages
    assert message["To"] == "dsl@school.example"
    assert message["Subject"] == "[URGENT] Threat - Oakfield Primary School - Facebook"
    body = smtp_inbox.text(message)
    lines = body.splitlines()
    assert lines[0] == "For: designated safeguarding lead"
    assert THREAT in body
    assert "Where: https://www.facebook.com/" in body
    assert "Why it was flagged:" in lines and "  - Threat (score " in body
    assert "What to do next:" in lines and "  1. If anyone is in danger now, call 999." in lines
    assert "Ref: item:" in body


def test_a_refused_email_is_retried_and_arrives_once(tmp_path, smtp_inbox):
    config, sessions = setup_school(tmp_path, {"dsl": [smtp_inbox.url()]})
    smtp_inbox.refuse = 1
    first = notify.deliver_due(config, sessions, "test")
    assert (first.sent, first.failed) == (0, 1)
    [row] = deliveries(sessions)
    assert row.status == "pending" and row.attempts == 1 and row.last_error
    assert row.next_attempt_at > datetime.now(UTC)
    # Not due yet: nothing is sent early.
    assert notify.deliver_due(config, sessions, "test").sent == 0
    second = notify.deliver_due(config, sessions, "test", now=later(5))
    assert second.sent == 1
    assert smtp_inbox.refused == 1
    assert len(smtp_inbox.messages) == 1
    [row] = deliveries(sessions)
    assert row.status == "sent" and row.attempts == 2
    assert notify.deliver_due(config, sessions, "test", now=later(60)).sent == 0
    assert len(smtp_inbox.messages) == 1


def test_a_url_failing_past_the_give_up_time_ends_dead_with_one_notice_to_it(tmp_path,
                                                                             smtp_inbox, webhook):
    webhook.statuses = [500] * 1000
    config, sessions = setup_school(
        tmp_path,
        {"dsl": [webhook.url()], "digital_champion": [webhook.url()],
         "it": [smtp_inbox.url("it@school.example")]},
        texts=(THREAT, "my friend says her stepdad hits her and she's scared to go home"),
        daemon='delivery_give_up_after = "1h"')
    for step in range(15):  # every ten minutes for two and a half hours
        notify.deliver_due(config, sessions, "test", now=later(600 * step))
    rows = deliveries(sessions)
    to_hook = [row for row in rows if row.destination == webhook.url()]
    assert len(to_hook) == 2
    # Retried by time, not by count: every ten-minute pass tried again until the hour was up.
    assert all(row.status == "dead" and row.attempts == 7 for row in to_hook)
    assert to_hook[0].last_error == "HTTP 500 Internal server error"
    notices = [m for m in smtp_inbox.messages if "not reaching" in m["Subject"]]
    assert len(notices) == 1
    body = smtp_inbox.text(notices[0])
    assert "after 7 attempts over 60 minutes" in body and "json://127.0.0.1/****" in body


def test_an_invalid_url_is_dead_at_once(tmp_path):
    config, sessions = setup_school(tmp_path, {"dsl": ["nosuchscheme://whatever"]})
    stats = notify.deliver_due(config, sessions, "test")
    assert stats.dead == 1
    [row] = [d for d in deliveries(sessions) if d.destination.startswith("nosuch")]
    assert row.status == "dead" and "not a valid notification URL" in row.last_error


def test_a_webhook_receives_the_alert_as_json(tmp_path, webhook):
    config, sessions = setup_school(tmp_path, {"dsl": [webhook.url()]})
    assert notify.deliver_due(config, sessions, "test").sent == 1
    [payload] = webhook.received
    assert payload["title"].startswith("[URGENT] Threat")
    assert THREAT in payload["message"]


def test_a_secret_url_is_resolved_at_send_time_and_never_stored(tmp_path, webhook, monkeypatch):
    monkeypatch.setenv("DSL_HOOK", webhook.url())
    config, sessions = setup_school(tmp_path, {"dsl": ["env:DSL_HOOK"]})
    assert notify.deliver_due(config, sessions, "test").sent == 1
    assert [row.destination for row in deliveries(sessions)] == ["env:DSL_HOOK"]
    assert len(webhook.received) == 1


def test_normal_and_low_alerts_wait_for_the_batch_and_go_as_one_message(tmp_path, webhook):
    texts = ["what time is pick up on friday?", "is the school trip still on?",
             "Jack won't be in today, he's got a temperature"]
    config, sessions = setup_school(tmp_path, {"digital_champion": [webhook.url()]}, texts,
                                    batch_interval="1h")
    assert notify.deliver_due(config, sessions, "test").sent == 0  # not due before the batch
    stats = notify.deliver_due(config, sessions, "test", now=later(3601))
    assert stats.sent == 3
    [payload] = webhook.received
    assert payload["title"].startswith("[DIGEST] 3 comments")
    for text in texts:
        assert text in payload["message"]


@pytest.mark.parametrize(
    ("quiet", "severity", "waits"),
    [
        ('{ start = "00:00", end = "23:59" }', "high", True),
        ('{ start = "00:00", end = "23:59" }', "urgent", False),
        ('{ start = "03:00", end = "03:00" }', "high", False),
    ],
)
def test_quiet_hours_hold_high_alerts_but_never_urgent_ones(tmp_path, webhook, quiet, severity,
                                                            waits):
    text = THREAT if severity == "urgent" else "you are all useless c*nts"
    write_replay(tmp_path / "fb", [text])
    config = load(write_config(tmp_path, {"digital_champion": [webhook.url()]},
                               extra_school=f"quiet_hours = {quiet}\n"
                               'timezone = "UTC"'))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    [row] = deliveries(sessions)
    assert row.alert.severity == severity
    held = row.next_attempt_at > datetime.now(UTC) + timedelta(minutes=1)
    assert held is waits


def test_a_pile_on_is_one_incident_with_a_few_alerts_not_one_per_comment(tmp_path):
    insults = [f"you lot are a disgrace and the head is a useless idiot {n}" for n in range(12)]
    write_replay(tmp_path / "fb", insults, per_page=4)
    config = load(write_config(tmp_path, {"digital_champion": ["console://"]}))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        incidents = list(session.scalars(select(models.Incident)))
        alerts = list(session.scalars(select(models.Alert).order_by(models.Alert.id)))
    assert len(incidents) == 1 and incidents[0].item_count == 12
    # Two comments alerted one by one, the pile-on at three, an update at ten.
    assert [a.kind for a in alerts] == ["item", "item", "update", "update"]
    assert "12" not in alerts[-1].title and "10 flagged comments" in alerts[-1].title


def test_a_repeat_offender_is_named_as_such_in_the_alert(tmp_path):
    for post, number in ((1, 4), (2, 8), (3, 12)):  # one author (number % 4), three threads
        write_replay(tmp_path / "fb", [f"you are a useless idiot, post {post}"], post=post,
                     first_id=number)
    config = load(write_config(tmp_path, {"digital_champion": ["console://"]}))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        bodies = [a.body for a in session.scalars(select(models.Alert).order_by(models.Alert.id))]
    assert len(bodies) == 3
    assert "Repeat:" not in bodies[0]
    assert "Repeat: this author has 2 other serious flagged comments" in bodies[2]
