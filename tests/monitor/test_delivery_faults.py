"""Delivery under faults, against a real SMTP server (aiosmtpd) that can refuse, be slow or be down,
and a real webhook receiver: every alert arrives exactly once, or once more marked as a possible
repeat with the same Message-ID; nothing is lost in an outage; IT hears about it once."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from monitor import alerts, models, notify
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay
from tests.conftest import free_port, wait_for

THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"
DISCLOSURE = "my friend says her stepdad hits her and she's scared to go home"

pytestmark = pytest.mark.usefixtures("database")


class MailServer:
    """A real SMTP server on 127.0.0.1 that keeps what it receives. It can refuse recipients or
    messages with a given reply, take `delay` seconds over each DATA, and be stopped and started
    again on the same port (a mail outage)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.delay = 0.0
        self.controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.data_reply:
            return self.data_reply
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def url(self, to: str) -> str:
        return (f"mailto://127.0.0.1:{self.port}?from=hallmonitor@school.example&to={to}"
                "&mode=insecure")

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def text(message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def mail():
    server = MailServer()
    server.start()
    yield server
    server.stop()


def setup_school(tmp_path, recipients, texts=(THREAT,), daemon=""):
    write_replay(tmp_path / "fb", list(texts))
    config = load(write_config(tmp_path, recipients, daemon=daemon))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    return config, sessions


def deliveries(sessions) -> list[models.Delivery]:
    with sessions() as session:
        rows = list(session.scalars(select(models.Delivery).order_by(models.Delivery.id)))
        for row in rows:
            _ = row.alert
        return rows


def at(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def add_urgent_alerts(sessions, destination: str, count: int) -> None:
    """`count` more urgent alerts to one destination, due now (the outbox as the pipeline
    writes it, without classifying `count` comments first)."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for n in range(count):
            alert = models.Alert(dedupe_key=f"test:{n}", school_id="oakfield", kind="item",
                                 severity="urgent", categories=["threat"],
                                 title=f"[URGENT] Threat {n}", body=f"Threat number {n}",
                                 created_at=now)
            session.add(alert)
            session.flush()
            session.add(models.Delivery(alert_id=alert.id, destination=destination,
                                        roles=["dsl"], next_attempt_at=now))


# --- exactly once -------------------------------------------------------------------------------

def test_every_email_carries_one_stable_message_id(tmp_path, mail):
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")]})
    assert notify.deliver_due(config, sessions, "test").sent == 1
    [message] = mail.messages
    [row] = deliveries(sessions)
    assert message.get_all("Message-ID") == [notify.message_id_for([row])]
    assert message["Message-ID"].startswith(f"<delivery-{row.id}-")


def test_a_daemon_killed_between_hand_over_and_commit_leads_to_one_marked_repeat(tmp_path,
                                                                                  mail):
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")]},
                                    daemon='lease = "5s"')
    # A real process that hands the email to the server and is killed (SIGKILL) before it can
    # record anything.
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from monitor import notify
        from monitor.config import load
        from monitor.daemon import open_database
        config = load(Path({str(tmp_path / "config.toml")!r}))
        _, sessions = open_database(config)
        def send_then_die(url, title, body, *, message_id=None):
            notify.send_apprise(url, title, body, message_id=message_id)
            os.kill(os.getpid(), signal.SIGKILL)
        notify.deliver_due(config, sessions, "doomed", send=send_then_die)
    """)
    process = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, timeout=60,
                             env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert process.returncode == -signal.SIGKILL
    [row] = deliveries(sessions)
    assert row.status == "sending" and row.claimed_by == "doomed"
    assert len(mail.messages) == 1
    # While the dead daemon's claim lasts, nobody touches it.
    assert notify.deliver_due(config, sessions, "survivor").sent == 0
    later = notify.deliver_due(config, sessions, "survivor", now=at(1))
    assert later.unknown == 1 and later.sent == 1
    first, second = mail.messages
    assert "(possible repeat)" not in first["Subject"]
    assert second["Subject"].endswith("(possible repeat)")
    assert mail.text(second).startswith("(possible repeat)")
    assert first["Message-ID"] == second["Message-ID"]
    [row] = deliveries(sessions)
    assert row.status == "sent" and row.possible_repeat and row.attempts == 2
    assert notify.deliver_due(config, sessions, "survivor", now=at(60)).sent == 0
    assert len(mail.messages) == 2


def test_a_database_write_failing_after_a_send_never_sends_it_again(tmp_path, mail):
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")]},
                                    daemon='lease = "5s"')
    engine = sessions.kw["bind"]

    def fail_to_record(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE delivery") and "sent_at" in statement:
            raise OperationalError(statement, parameters, Exception("disk I/O error"))

    event.listen(engine, "before_cursor_execute", fail_to_record)
    try:
        with pytest.raises(OperationalError):
            notify.deliver_due(config, sessions, "test")
    finally:
        event.remove(engine, "before_cursor_execute", fail_to_record)
    assert len(mail.messages) == 1
    [row] = deliveries(sessions)
    assert row.status == "sending"
    # Even after its claim has expired, the outcome this process knows is written first.
    stats = notify.deliver_due(config, sessions, "test", now=at(5))
    assert (stats.sent, stats.unknown) == (1, 0)  # recorded, not sent again
    [row] = deliveries(sessions)
    assert row.status == "sent" and not row.possible_repeat
    assert len(mail.messages) == 1


def test_a_slow_mail_server_gets_each_alert_once(tmp_path, mail):
    mail.delay = 2.0  # seconds per DATA, longer than the job waits for one send
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")]},
                                    texts=(THREAT, DISCLOSURE))
    first = notify.deliver_due(config, sessions, "test", send_timeout=0.3)
    assert first.in_flight == 2 and first.sent == 0
    # The sends carry on under their claims; passes meanwhile leave them alone.
    assert notify.deliver_due(config, sessions, "test", send_timeout=0.3).sent == 0
    assert notify.deliver_due(config, sessions, "other", send_timeout=0.3, now=at(0.5)).sent == 0
    assert wait_for(lambda: all(r.status == "sent" for r in deliveries(sessions)), timeout=10)
    assert first.sent == 2  # recorded when each send ended
    assert notify.deliver_due(config, sessions, "test", now=at(60)).sent == 0
    assert len(mail.messages) == 2
    assert len({m["Message-ID"] for m in mail.messages}) == 2
    assert not any("(possible repeat)" in m["Subject"] for m in mail.messages)


def test_two_deliverers_racing_on_one_database_send_each_delivery_once(tmp_path, mail):
    # Each claim lasts one second and a batch takes longer than that to send: each deliverer
    # sends only what it still holds.
    mail.delay = 0.15
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")]},
                                    daemon='lease = "1s"')
    add_urgent_alerts(sessions, mail.url("dsl@school.example"), 39)
    errors: list[BaseException] = []

    def deliverer(worker: str) -> None:
        try:
            for _ in range(30):
                if not notify.deliver_due(config, sessions, worker).sent:
                    break
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=deliverer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    counts = Counter(m["Message-ID"] for m in mail.messages)
    assert len(counts) == 40 and set(counts.values()) == {1}
    rows = deliveries(sessions)
    assert all(row.status == "sent" and row.attempts == 1 for row in rows)
    assert {row.claimed_by for row in rows} == {None}


# --- what the service said -----------------------------------------------------------------------

@pytest.mark.parametrize(("stage", "reply", "status", "error"), [
    ("rcpt", "550 5.1.1 <dsl@school.example>: Recipient address rejected: User unknown", "dead",
     "SMTP 550 5.1.1 <dsl@school.example>: Recipient address rejected: User unknown"),
    ("rcpt", "451 4.3.0 mailbox busy", "pending", "SMTP 451 4.3.0 mailbox busy"),
    ("data", "554 5.7.1 message refused as spam", "dead", "SMTP 554 5.7.1 message refused as spam"),
    ("data", "451 4.3.0 Mail server temporarily unavailable", "pending",
     "SMTP 451 4.3.0 Mail server temporarily unavailable"),
])
def test_an_smtp_refusal_is_permanent_when_5xx_and_retried_when_4xx(tmp_path, mail, webhook,
                                                                    stage, reply, status, error):
    setattr(mail, f"{stage}_reply", reply)
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")],
                                               "it": [webhook.url()]})
    notify.deliver_due(config, sessions, "test")
    [row] = [r for r in deliveries(sessions) if r.alert.kind == "item"]
    assert (row.status, row.attempts, row.last_error) == (status, 1, error)
    notices = [p for p in webhook.received if "not reaching" in p["title"]]
    assert len(notices) == (1 if status == "dead" else 0)
    if notices:
        assert error in notices[0]["message"]


@pytest.mark.parametrize(("answer", "status"), [
    (404, "dead"), (401, "dead"), (410, "dead"), (408, "pending"), (429, "pending"),
    (500, "pending"), (503, "pending"),
])
def test_a_webhook_4xx_is_permanent_except_408_and_429(tmp_path, webhook, answer, status):
    webhook.statuses = [answer]
    config, sessions = setup_school(tmp_path, {"dsl": [webhook.url()]})
    notify.deliver_due(config, sessions, "test")
    [row] = deliveries(sessions)
    assert row.status == status
    assert row.last_error.startswith(f"HTTP {answer}")
    assert "\n" not in row.last_error and len(row.last_error) < 80


def test_a_mail_server_that_is_down_is_reported_in_a_few_words(tmp_path, mail):
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")]})
    mail.stop()
    notify.deliver_due(config, sessions, "test")
    [row] = deliveries(sessions)
    assert (row.status, row.last_error) == ("pending", "connection refused")


def test_comment_markup_reaches_the_email_only_as_text(tmp_path, mail):
    comment = ('I\'ll be waiting at the gates for that teacher, he\'d better watch his back '
               '<img src="https://tracker.example/p.gif"> <a href="https://evil.example">here</a>')
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")]},
                                    texts=(comment,))
    assert notify.deliver_due(config, sessions, "test").sent == 1
    [message] = mail.messages
    [html] = [part.get_content() for part in message.walk()
              if part.get_content_type() == "text/html"]
    tags = Tags()
    tags.feed(html)
    assert "img" not in tags.names  # the comment's image tag is shown, not loaded
    assert not any("evil.example" in (dict(attrs).get("href") or "") for attrs in tags.links)
    assert "&lt;img" in html and "&lt;a href=" in html
    text = mail.text(message)
    assert comment in text  # the reader sees what was written, as text
    assert "Why it was flagged:" in text.splitlines()  # line breaks kept


class Tags(HTMLParser):
    """The tags of an HTML document, and the attributes of its links."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.links: list[list[tuple[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        if tag == "a":
            self.links.append(attrs)


# --- outages --------------------------------------------------------------------------------------

def run_for(config, sessions, start: float, minutes: int, step: float = 2.0) -> None:
    """The delivery job every `step` minutes of the controllable clock, from `start`."""
    for n in range(int(minutes / step)):
        notify.deliver_due(config, sessions, "test", now=at(start + n * step))


def test_an_hour_long_mail_outage_loses_nothing_and_tells_it_once_through_another_channel(
        tmp_path, mail, webhook):
    config, sessions = setup_school(
        tmp_path, {"dsl": [mail.url("dsl@school.example")],
                   "head": [mail.url("head@school.example")],
                   "it": [mail.url("it@school.example")],
                   "digital_champion": [webhook.url()]},
        texts=(THREAT, DISCLOSURE))
    mail.stop()
    run_for(config, sessions, 0, 60)
    rows = deliveries(sessions)
    waiting = [r for r in rows if r.destination.startswith("mailto") and r.alert.kind == "item"]
    assert waiting and all(r.status == "pending" for r in waiting)
    # IT's mail is on the same server as the failing ones: the notice went to the champion's
    # webhook, marked as for IT, once.
    notices = [p for p in webhook.received if "held back" in p["title"]]
    assert len(notices) == 1
    assert notices[0]["title"].startswith("[For IT]")
    assert "for the school's IT contact" in notices[0]["message"]
    assert "connection refused" in notices[0]["message"]
    mail.start()
    run_for(config, sessions, 60, 10)
    rows = deliveries(sessions)
    assert all(r.status == "sent" for r in rows)
    emails = [m for m in mail.messages]
    assert len(emails) == len(waiting)
    assert len({m["Message-ID"] for m in emails}) == len(emails)
    assert not mail.to("it@school.example")
    assert len([p for p in webhook.received if "held back" in p["title"]]) == 1


def test_a_notice_no_channel_can_take_is_recorded_shown_and_sent_once_mail_is_back(
        tmp_path, mail):
    config, sessions = setup_school(
        tmp_path, {"dsl": [mail.url("dsl@school.example")],
                   "it": [mail.url("it@school.example")]})
    mail.stop()
    run_for(config, sessions, 0, 30)
    with sessions() as session:
        [stranded] = alerts.undelivered_it_notices(session, "oakfield")
    assert stranded.kind == "delivery_delayed"
    assert "connection refused" in stranded.why
    mail.start()
    run_for(config, sessions, 30, 10)
    [notice] = mail.to("it@school.example")
    assert "held back" in notice["Subject"]
    assert len(mail.to("dsl@school.example")) == 1
    with sessions() as session:
        assert alerts.undelivered_it_notices(session) == []


def test_when_its_own_channel_fails_the_notice_for_it_goes_another_way(tmp_path, mail,
                                                                       webhook, local_server):
    it_mail = MailServer()  # IT's own mail server: configured, never started
    webhook.statuses = [404]  # the DSL's webhook refuses for good
    config, sessions = setup_school(
        tmp_path, {"dsl": [webhook.url()], "it": [it_mail.url("it@school.example")],
                   "digital_champion": [mail.url("champion@school.example")]})
    for minute in range(3):
        notify.deliver_due(config, sessions, "test", now=at(minute))
    [notice] = [m for m in mail.to("champion@school.example") if "not reaching" in m["Subject"]]
    assert notice["Subject"].startswith("[For IT]")
    assert "HTTP 404" in mail.text(notice)
    [own] = [r for r in deliveries(sessions) if r.destination == it_mail.url("it@school.example")]
    assert own.status == "superseded"  # IT is told once
    with sessions() as session:
        assert alerts.undelivered_it_notices(session) == []


def test_apprise_debug_lines_read_for_the_reason_never_reach_the_log(tmp_path, mail, caplog):
    mail.rcpt_reply = "550 5.1.1 <dsl@school.example>: Recipient address rejected"
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")]})
    caplog.set_level(logging.DEBUG)  # as `run -v`, which keeps Apprise itself at WARNING
    apprise_log = logging.getLogger("apprise")
    level = apprise_log.level
    apprise_log.setLevel(logging.WARNING)
    try:
        notify.deliver_due(config, sessions, "test")
    finally:
        apprise_log.setLevel(level)
    [row] = deliveries(sessions)
    assert row.last_error.startswith("SMTP 550 5.1.1")  # read from Apprise's DEBUG lines
    from_apprise = [r for r in caplog.records if r.name == "apprise"]
    assert from_apprise and all(r.levelno >= logging.WARNING for r in from_apprise)


def test_a_webhook_that_answers_too_late_is_an_unknown_outcome_resent_as_a_possible_repeat(
        tmp_path, webhook):
    # Apprise gives up reading the answer after 0.3 s; the receiver still takes the message.
    url = webhook.url() + "?rto=0.3"
    config, sessions = setup_school(tmp_path, {"dsl": [url]})
    webhook.server.delay = 1.0
    stats = notify.deliver_due(config, sessions, "test")
    assert (stats.unknown, stats.failed, stats.sent) == (1, 0, 0)
    [row] = deliveries(sessions)
    assert (row.status, row.last_error) == ("unknown", "timed out waiting for the answer")
    assert wait_for(lambda: len(webhook.received) == 1)
    webhook.server.delay = 0.0
    assert notify.deliver_due(config, sessions, "test", now=at(10)).sent == 1
    first, second = webhook.received
    assert not first["title"].endswith("(possible repeat)")
    assert second["title"].endswith("(possible repeat)")
    [row] = deliveries(sessions)
    assert row.status == "sent" and row.possible_repeat


def test_held_unknown_outcomes_wait_for_a_person_to_resolve_them(tmp_path, webhook):
    url = webhook.url() + "?rto=0.3"
    config, sessions = setup_school(tmp_path, {"dsl": [url]},
                                    daemon='unknown_deliveries = "hold"')
    webhook.server.delay = 1.0
    assert notify.deliver_due(config, sessions, "test").unknown == 1
    assert wait_for(lambda: len(webhook.received) == 1)
    webhook.server.delay = 0.0
    # Held: later runs leave it alone, however long it waits.
    for minutes in (10, 120, 24 * 60):
        assert notify.deliver_due(config, sessions, "test", now=at(minutes)).sent == 0
    [row] = deliveries(sessions)
    assert row.status == "unknown" and len(webhook.received) == 1


def test_a_config_that_still_sets_max_delivery_attempts_loads_and_retries_by_time(tmp_path,
                                                                                  webhook):
    webhook.statuses = [503] * 20
    config, sessions = setup_school(tmp_path, {"dsl": [webhook.url()]},
                                    daemon="max_delivery_attempts = 2")
    for minute in range(0, 60, 10):
        notify.deliver_due(config, sessions, "test", now=at(minute))
    [row] = deliveries(sessions)
    assert (row.status, row.attempts) == ("pending", 6)


def test_an_outage_recovering_one_delivery_at_a_time_is_told_once(tmp_path, mail, webhook):
    config, sessions = setup_school(
        tmp_path, {"dsl": [mail.url("dsl@school.example")],
                   "head": [mail.url("head@school.example")],
                   "digital_champion": [webhook.url()]})
    mail.stop()
    run_for(config, sessions, 0, 16)
    assert len([p for p in webhook.received if "held back" in p["title"]]) == 1
    # The oldest failing delivery gets through; one that began failing a minute later is still
    # waiting for its retry.
    with sessions.begin() as session:
        oldest, younger = session.scalars(
            select(models.Delivery).where(models.Delivery.status == "pending")
            .order_by(models.Delivery.first_attempt_at, models.Delivery.id))
        oldest.status = "sent"
        younger.first_attempt_at += timedelta(minutes=1)
    notify.deliver_due(config, sessions, "test", now=at(17))
    assert len([p for p in webhook.received if "held back" in p["title"]]) == 1


def test_a_failed_send_waits_for_the_next_run_however_soon_its_retry_is_due(tmp_path, webhook):
    webhook.statuses = [500]
    write_replay(tmp_path / "fb", [THREAT])
    path = write_config(tmp_path, {"dsl": [webhook.url()]})
    path.write_text(path.read_text().replace('retry_base = "1s"', 'retry_base = "0.001s"'))
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    stats = notify.deliver_due(config, sessions, "test")
    assert (stats.sent, stats.failed) == (0, 1)
    assert notify.deliver_due(config, sessions, "test", now=at(1)).sent == 1
    assert len(webhook.received) == 1


def test_a_send_longer_than_the_claim_keeps_it_while_another_deliverer_keeps_looking(tmp_path,
                                                                                     mail):
    mail.delay = 4.5  # one send outlasts two claims of two seconds
    config, sessions = setup_school(tmp_path, {"dsl": [mail.url("dsl@school.example")]},
                                    daemon='lease = "2s"')
    sender = threading.Thread(target=notify.deliver_due, args=(config, sessions, "a"),
                              kwargs={"send_timeout": 10})
    sender.start()
    assert wait_for(lambda: deliveries(sessions)[0].status == "sending")
    looked = 0
    while sender.is_alive():
        stats = notify.deliver_due(config, sessions, "b")
        assert (stats.sent, stats.unknown) == (0, 0)
        looked += 1
        sender.join(0.2)
    assert looked >= 3
    assert len(mail.messages) == 1
    [row] = deliveries(sessions)
    assert row.status == "sent" and not row.possible_repeat
