"""A queued digest through the real delivery job: to a real SMTP server (aiosmtpd) as a
multipart email with its chart in place, once even after a refusal, marked when it may be a
repeat; to a webhook as text with the chart as a file; and never batched with other alerts."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from monitor import models, notify
from monitor.daemon import Daemon
from monitor.digest.chart import CHART_FILE
from monitor.digest.send import dedupe_key, enqueue_digest
from tests.digest_builder import NOW, SCHOOL, Built
from tests.digest_builder import build as build_week
from tests.monitor.test_digest_send import WEEK, configure

WORKER = "test-worker"


def queue(built: Built, kind: str = "head"):
    with built.sessions.begin() as session:
        result = enqueue_digest(session, built.config, kind, SCHOOL, WEEK, now=NOW)
    assert result, result.reason
    return result.alert


def deliver(built: Built, minutes_later: float = 0) -> notify.DeliveryStats:
    return notify.deliver_due(built.config, built.sessions, WORKER,
                              now=NOW + timedelta(minutes=minutes_later))


def statuses(built: Built) -> list[str]:
    with built.sessions() as session:
        return list(session.scalars(select(models.Delivery.status).order_by(models.Delivery.id)))


@pytest.fixture
def mailed(tmp_path: Path, smtp_inbox) -> Built:
    """The builder's week, with the head and the DSL reading email at the local SMTP server."""
    built = build_week(tmp_path)
    built.config = configure(tmp_path, {"head": [smtp_inbox.url("head@oakfield.example")],
                                        "dsl": [smtp_inbox.url("dsl@oakfield.example")]})
    return built


def test_the_daemon_mails_the_head_a_multipart_digest_with_the_chart_in_place(mailed,
                                                                              smtp_inbox):
    Daemon(mailed.config, mailed.sessions, clock=lambda: NOW).send_digests()
    stats = deliver(mailed)
    assert stats.sent == 2 and statuses(mailed) == ["sent", "sent"]

    with mailed.sessions() as session:
        head = session.scalar(select(models.Alert).where(
            models.Alert.dedupe_key == dedupe_key("head", SCHOOL, WEEK)))
    [message] = [m for m in smtp_inbox.messages if m["To"] == "head@oakfield.example"]
    assert message["Subject"] == head.title
    assert message.get_content_type() == "multipart/related"

    alternative, *files = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain = alternative.get_body(preferencelist=("plain",)).get_content()
    html = alternative.get_body(preferencelist=("html",)).get_content()
    assert plain.splitlines() == head.body.splitlines()  # the digest's own text part
    assert "A busy week" in plain or "A week that needs your attention" in plain

    [chart] = files
    assert chart.get_content_type() == "image/png"
    assert chart["Content-ID"] == f"<{CHART_FILE}>"
    assert chart.get_content_disposition() == "inline"
    assert re.findall(r'src="(cid:[^"]+)"', html) == [f"cid:{CHART_FILE}"]
    image = Image.open(io.BytesIO(chart.get_content()))
    assert image.format == "PNG" and image.size[0] == 1200

    # The DSL's summary went to the DSL, on its own, and carries no chart.
    [summary] = [m for m in smtp_inbox.messages if m["To"] == "dsl@oakfield.example"]
    assert summary.get_content_type() == "multipart/alternative"
    assert "safeguarding" in smtp_inbox.text(summary).lower()


def test_a_refused_digest_is_sent_again_later_and_arrives_once(tmp_path, smtp_inbox):
    mailed = build_week(tmp_path)
    mailed.config = configure(tmp_path, {"head": [smtp_inbox.url("head@oakfield.example")]})
    Daemon(mailed.config, mailed.sessions, clock=lambda: NOW).send_digests()
    smtp_inbox.refuse = 1
    assert deliver(mailed).failed == 1
    assert smtp_inbox.refused == 1 and smtp_inbox.messages == []
    assert statuses(mailed) == ["pending"]

    # A restarted daemon does not queue it again; the retry sends it.
    Daemon(mailed.config, mailed.sessions, clock=lambda: NOW).send_digests()
    assert deliver(mailed, minutes_later=10).sent == 1
    assert deliver(mailed, minutes_later=20).sent == 0
    assert len(smtp_inbox.messages) == 1
    assert smtp_inbox.messages[0].get_content_type() == "multipart/related"
    assert statuses(mailed) == ["sent"]


def test_a_digest_whose_send_was_lost_is_resent_marked_as_a_possible_repeat(mailed,
                                                                           smtp_inbox):
    alert = queue(mailed)
    with mailed.sessions.begin() as session:
        [delivery] = session.scalars(select(models.Delivery)
                                     .where(models.Delivery.alert_id == alert.id))
        delivery.status = "unknown"  # handed over by a daemon that died before recording it
    assert deliver(mailed).sent == 1

    [message] = smtp_inbox.messages
    assert message["Subject"] == f"{alert.title} {notify.REPEAT_MARK}"
    assert smtp_inbox.text(message).startswith(f"{notify.REPEAT_MARK} An earlier send")
    alternative, chart = message.iter_parts()
    html = alternative.get_body(preferencelist=("html",)).get_content()
    assert notify.REPEAT_MARK in html.split(f"cid:{CHART_FILE}")[0]  # above the chart
    assert chart["Content-ID"] == f"<{CHART_FILE}>"


def test_a_webhook_gets_the_digest_text_and_the_chart_file(tmp_path, webhook):
    built = build_week(tmp_path)
    built.config = configure(tmp_path, {"head": [webhook.url()]})
    alert = queue(built)
    assert deliver(built).sent == 1

    [payload] = webhook.received
    assert payload["title"] == alert.title
    assert payload["message"] == alert.body.strip()  # a program gets the plain text
    [attached] = payload["attachments"]
    assert attached["filename"] == CHART_FILE and attached["mimetype"] == "image/png"
    stored = alert.details["digest"]["attachments"][0]
    assert attached["base64"] == stored["data"]


def test_a_channel_that_shows_markdown_gets_the_digest_in_markdown_with_the_chart(tmp_path,
                                                                                  webhook):
    built = build_week(tmp_path)
    chat = webhook.url() + "?format=markdown"  # as a chat service is given it
    built.config = configure(tmp_path, {"head": [chat]})
    alert = queue(built)
    assert deliver(built).sent == 1

    [payload] = webhook.received
    markdown = alert.details["digest"]["markdown"]
    assert markdown != alert.body
    assert payload["message"] == markdown.strip()
    assert [a["filename"] for a in payload["attachments"]] == [CHART_FILE]


def test_a_digest_is_never_batched_with_other_alerts_for_the_same_recipient(tmp_path,
                                                                           webhook):
    built = build_week(tmp_path)
    built.config = configure(tmp_path, {"head": [webhook.url()]})
    digest = queue(built)
    with built.sessions.begin() as session:
        for n in (1, 2):  # two comments to look at, due with the digest, for the same person
            alert = models.Alert(dedupe_key=f"note:{n}", school_id=SCHOOL, kind="item",
                                 severity="normal", categories=["disparaging"],
                                 title=f"Comment {n}", body=f"Comment {n} to look at",
                                 created_at=NOW)
            session.add(alert)
            session.flush()
            session.add(models.Delivery(alert_id=alert.id, destination=webhook.url(),
                                        roles=["head"], next_attempt_at=NOW))
    assert deliver(built).sent == 3

    titles = sorted(payload["title"] for payload in webhook.received)
    assert len(titles) == 2
    assert digest.title in titles  # on its own, as it was written
    [batch] = [p for p in webhook.received if p["title"] != digest.title]
    assert batch["title"].startswith("[DIGEST] 2 comments to look at")
    assert "attachments" not in batch or not batch["attachments"]


def test_a_trust_roll_up_refused_for_good_is_given_up_without_a_school_to_tell(tmp_path,
                                                                               webhook, caplog):
    built = build_week(tmp_path)
    built.config = configure(tmp_path, {"head": [webhook.url()]}, tail=(
        f'\n[trust]\nname = "Oak Learning Trust"\n\n[[trust.recipients]]\n'
        f'urls = ["{webhook.url()}"]\n'))
    with built.sessions.begin() as session:
        result = enqueue_digest(session, built.config, "trust", None, WEEK, now=NOW)
    assert result.alert.school_id is None
    webhook.statuses = [400]  # refused for good: dead at once
    assert deliver(built).dead == 1
    assert statuses(built) == ["dead"]
    assert any("gave up sending" in r.getMessage() for r in caplog.records)
    with built.sessions() as session:  # no school's IT is told about the trust's roll-up
        kinds = list(session.scalars(select(models.Alert.kind)))
    assert kinds == ["digest"]
