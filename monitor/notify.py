"""The delivery job: claims due deliveries from the outbox and sends them through Apprise, so that
each alert arrives exactly once, or, when that cannot be known, once more marked as a possible
repeat; never silently lost, never silently doubled.

A delivery moves through these states (`Delivery.status`):

    pending ──► sending ──► sent
                   ├──────► pending     failed for now: retried with backoff
                   ├──────► dead        refused for good, or failing for too long
                   └──────► unknown     handed over, outcome never learned
    unknown ──► sending                 resent once, marked "(possible repeat)"
    dead ─────► pending                 by hand: `hallmonitor deliver --retry-dead`
    pending ──► superseded              a notice for IT that reached IT another way

- **Claims.** A worker claims a small batch (`BATCH`) by compare-and-swap, for one lease
  (`[daemon] lease`), and renews the claim on a timer while it works, only while it still holds
  it. Before a message is handed to Apprise its deliveries are committed as "sending" (still under
  the claim), and only then sent; the outcome is recorded afterwards. So a crash, a lost claim or
  a failed database write can never make a send look as if it never happened.
- **Unknown outcomes.** A delivery found in "sending" whose claim has expired (its daemon died,
  or lost its claim) may or may not have reached its recipient: it becomes "unknown". So does a
  send that timed out after the message was handed over (an SMTP reply or HTTP answer that never
  came). Such a delivery is never retried as if it had failed. By default it is resent, and the
  resend says "(possible repeat)" in its title and body and sets `possible_repeat`: for a
  safeguarding alert a repeat the reader can recognise is far better than a loss. Every email for
  one delivery carries the same Message-ID, so mail clients collapse a true repeat. The choice is
  `[daemon] unknown_deliveries`: "resend" (the default) or
  "hold", which keeps them for a person to resolve with `hallmonitor deliver --resolve-unknown`.
- **A slow service.** The job waits `SEND_TIMEOUT` seconds for one send, then moves on while the
  send carries on in its thread, keeping its claim, and its outcome is recorded when it ends. Only
  a send still running after `SEND_GIVE_UP` is abandoned, and then its outcome is unknown.
- **Retry by time.** A failed send is retried with backoff (from `retry_base`, doubling, at most
  `retry_cap`) until `delivery_give_up_after` has passed since its first attempt, then it is dead.
  A permanent refusal (an SMTP 5xx reply; an HTTP 4xx other than 408 and 429; an invalid URL) is
  dead at once. `hallmonitor deliver --retry-dead` sends dead ones again.
- **Telling IT.** A dead delivery, and alerts held back for more than `DELAY_NOTICE_AFTER` by a
  failing destination, are told to the school's IT recipients once, through any other working
  channel of the school when IT's own is the one down (see `alerts.notify_it`); a notice no
  channel could take is shown by `alerts list` and `sources` (`alerts.undelivered_it_notices`).

Normal and low severity alerts due for the same destination go out together as one message. A
weekly digest (kind "digest", see `monitor.digest.send`) always goes on its own, whatever its
severity: it is a report, not one of a heap of comments, and it carries its own text, markdown,
HTML and chart.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import logging
import re
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any, Protocol

import apprise
from apprise.decorators import notify as apprise_plugin
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from monitor import alerts, backoff, email_html, message, models, rules, secrets
from monitor.config import Config

log = logging.getLogger(__name__)

# Deliveries claimed at a time: few enough that a slow server cannot hold many for long.
BATCH = 10
# How long the job waits for one send before moving on (the send keeps going, and its claim).
SEND_TIMEOUT = 15.0
# A send still running after this long is abandoned: its outcome is unknown.
SEND_GIVE_UP = 600.0
# Alerts held back this long by a failing destination are told to IT (once per outage).
DELAY_NOTICE_AFTER = timedelta(minutes=10)
BATCHED = ("normal", "low")
REPEAT_MARK = "(possible repeat)"
LOST_SEND = ("outcome unknown: the send was handed over but its result never recorded "
             "(the sender stopped or lost its claim)")


@apprise_plugin(on="console", name="Terminal")
def _print_to_terminal(body: str, title: str, notify_type: str, *args, **kwargs) -> bool:
    """`console://` prints alerts in the terminal: the demo's recipient, and handy when testing."""
    rule = "─" * 78
    sys.stdout.write(f"\n{rule}\n{title}\n{rule}\n{body}\n")
    # A terminal cannot show a file: it says what came with the message (the email carries it).
    for attachment in kwargs.get("attach") or ():
        sys.stdout.write(f"[Attached: {attachment.name} ({attachment.mimetype}), "
                         "sent with the email]\n")
    sys.stdout.flush()
    return True


# An inline attachment's name is its Content-ID too: kept to characters that need no quoting in
# a header, a file name or an HTML attribute.
_ATTACHMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message: to an email as a MIME part, to other services as Apprise
    sends attachments to them (services that cannot take files send the message without it).

    With a `content_id`, an HTML email shows it in place where its HTML says
    `<img src="cid:CONTENT_ID">`, in a multipart/related part marked inline with its file name
    (so mail clients also offer it to save). Apprise's email plugin makes an inline part's
    Content-ID from its file name, so the Content-ID is the name: `content_id` must equal `name`
    (use the `cid` property in the HTML)."""

    name: str
    content_type: str
    data: bytes
    content_id: str | None = None

    def __post_init__(self) -> None:
        if not _ATTACHMENT_NAME.fullmatch(self.name):
            raise ValueError(f"attachment name {self.name!r}: use letters, digits, '.', '-' "
                             "and '_' only")
        if self.content_id is not None and self.content_id != self.name:
            raise ValueError(f"attachment {self.name!r}: its Content-ID must be its name "
                             f"(got {self.content_id!r})")

    @property
    def cid(self) -> str:
        """The address an HTML email uses for it: `<img src="...">`."""
        return f"cid:{self.content_id or self.name}"

    def stored(self) -> dict[str, str | None]:
        """As kept in an alert's details (JSON): the file's bytes in base64."""
        return {"name": self.name, "content_type": self.content_type,
                "content_id": self.content_id,
                "data": base64.b64encode(self.data).decode("ascii")}

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Attachment:
        """Back from `stored()`; ValueError (one line) for a record that is not one."""
        try:
            data = base64.b64decode(stored["data"], validate=True)
            return cls(str(stored["name"]), str(stored["content_type"]), data,
                       stored.get("content_id"))
        except (KeyError, TypeError, binascii.Error) as exc:
            raise ValueError(f"a stored attachment is damaged ({type(exc).__name__})") from None


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    permanent: bool = False
    # The message may have been delivered: never retried as a plain failure.
    unknown: bool = False


class Sender(Protocol):
    def __call__(self, url: str, title: str, body: str, *,
                 message_id: str | None = None) -> SendResult: ...


# --- sending through Apprise, with the service's own reason ------------------------------------

# The Message-ID Apprise's email plugin gives the message being sent in this context, and the
# list the current send's Apprise log lines are collected in. Apprise runs each service in a
# worker thread with a copy of the caller's context, so both reach it, and only it.
_MESSAGE_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("message_id",
                                                                         default=None)
_CAPTURE: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("capture",
                                                                           default=None)
# The plain text an HTML email's text part must be: Apprise would otherwise make that part by
# converting the HTML, which joins lines, drops blank lines and loses every link's address.
_TEXT_PART: contextvars.ContextVar[str | None] = contextvars.ContextVar("text_part",
                                                                       default=None)
_hooks_lock = threading.Lock()


class _CaptureReasons(logging.Filter):
    """On Apprise's logger: hands every record logged during one of our sends to that send (the
    SMTP reply is only logged at DEBUG), and lets through to the application's handlers only what
    the logger's configured level would have let through."""

    def __init__(self) -> None:
        super().__init__()
        self.visible = logging.WARNING

    def filter(self, record: logging.LogRecord) -> bool:
        sink = _CAPTURE.get()
        if sink is not None:
            sink.append(record.getMessage())
        return record.levelno >= self.visible


_capture_filter = _CaptureReasons()


def _install_hooks() -> None:
    """Apprise's logger records DEBUG for our captures (the filter keeps the rest as configured),
    and its email plugin uses our Message-ID and our plain text for an HTML email's text part
    (Apprise has no way to pass both parts). Apprise gives an email a random Message-ID after any
    headers asked for in the URL, so a `+Message-ID` header would make two of them."""
    apprise_log = logging.getLogger("apprise")
    with _hooks_lock:
        if _capture_filter not in apprise_log.filters:
            apprise_log.addFilter(_capture_filter)
        if apprise_log.level != logging.DEBUG:
            # Someone (re)configured the level: that is what their handlers should see.
            _capture_filter.visible = apprise_log.getEffectiveLevel()
            apprise_log.setLevel(logging.DEBUG)
        from apprise.plugins.email import base as email_base
        original = email_base.make_msgid
        if not getattr(original, "stable", False):
            def make_msgid(*args, **kwargs) -> str:
                return _MESSAGE_ID.get() or original(*args, **kwargs)
            make_msgid.stable = True  # type: ignore[attr-defined]
            email_base.make_msgid = make_msgid
        convert = email_base.convert_between
        if not getattr(convert, "stable", False):
            def convert_between(from_format, to_format, content):
                text = _TEXT_PART.get()
                if text is not None and (from_format, to_format) == (
                        apprise.NotifyFormat.HTML, apprise.NotifyFormat.TEXT):
                    return text
                return convert(from_format, to_format, content)
            convert_between.stable = True  # type: ignore[attr-defined]
            email_base.convert_between = convert_between


class Body(str):
    """A message's plain text, carrying its markdown and HTML renderings when the alert's parts
    were kept, and the files that go with it (a digest's chart): `send_apprise` gives each
    channel the rendering it shows best and sends the files, and any other sender uses it as
    the text it is. So a sender's signature (`Sender`) is the same with or without files."""

    markdown: str | None
    html: str | None
    attachments: tuple[Attachment, ...]

    def __new__(cls, text: str, markdown: str | None = None, html: str | None = None,
                attachments: Sequence[Attachment] = ()) -> Body:
        body = super().__new__(cls, text)
        body.markdown, body.html, body.attachments = markdown, html, tuple(attachments)
        return body


# Generic webhooks hand the body to a program, not a person: they get the plain text.
_PLAIN_SERVICES = ("NotifyJSON", "NotifyXML", "NotifyForm")


def body_format_for(service: object) -> apprise.NotifyFormat:
    """The format a service is given: HTML for email, markdown where the service renders it
    (Teams, Slack, Discord, Telegram, Matrix; ntfy and webhooks when the URL asks for it with
    `?format=markdown`), plain text for everything else (the terminal, generic webhooks)."""
    from apprise.decorators.base import CustomNotifyPlugin
    from apprise.plugins.email.base import NotifyEmail

    if isinstance(service, NotifyEmail):
        return apprise.NotifyFormat.HTML
    declared = getattr(service, "notify_format", apprise.NotifyFormat.TEXT)
    formats = tuple(declared) if isinstance(declared, tuple | list) else (declared,)
    resolve = getattr(service, "resolve_format", None)
    preferred = resolve(None) if resolve is not None else formats[0]
    if preferred == apprise.NotifyFormat.MARKDOWN:
        return apprise.NotifyFormat.MARKDOWN
    if (apprise.NotifyFormat.MARKDOWN in formats and not isinstance(service, CustomNotifyPlugin)
            and type(service).__name__ not in _PLAIN_SERVICES):
        return apprise.NotifyFormat.MARKDOWN
    return apprise.NotifyFormat.TEXT


def send_apprise(url: str, title: str, body: str, *, message_id: str | None = None,
                 attachments: Sequence[Attachment] | None = None) -> SendResult:
    """Send one message to one Apprise URL and say how it went, without raising.

    The body goes in the service's own format (see `body_format_for`) when it carries one (a
    `Body`), else as plain text: Apprise escapes text for services that show HTML and keeps its
    line breaks. An HTML email's text part is the message's own plain text, line for line.

    `attachments` go with the message (see `Attachment`), by default the body's own (a `Body`
    carries them): an HTML email with one that has a Content-ID is multipart/related, its HTML
    and text parts followed by the files, the inline ones carrying their Content-ID."""
    if attachments is None:
        attachments = getattr(body, "attachments", ())
    _install_hooks()
    target = apprise.Apprise()
    if not target.add(url):
        return SendResult(False, "not a valid notification URL", permanent=True)
    chosen = body_format_for(target[0])
    content, body_format = str(body), apprise.NotifyFormat.TEXT
    if chosen == apprise.NotifyFormat.HTML and getattr(body, "html", None):
        content, body_format = body.html, chosen
    elif chosen == apprise.NotifyFormat.MARKDOWN and getattr(body, "markdown", None):
        content, body_format = body.markdown, chosen
    captured: list[str] = []
    id_token = _MESSAGE_ID.set(message_id)
    capture_token = _CAPTURE.set(captured)
    text_token = _TEXT_PART.set(str(body) if body_format == apprise.NotifyFormat.HTML else None)
    try:
        attach = _apprise_attachments(target[0], attachments,
                                      html=body_format == apprise.NotifyFormat.HTML)
        result = target.notify(body=content, title=title, body_format=body_format,
                               attach=attach)
    except Exception as exc:  # a plugin bug must not take the delivery job down
        return SendResult(False, f"{type(exc).__name__}: {one_line(str(exc))}")
    finally:
        _TEXT_PART.reset(text_token)
        _CAPTURE.reset(capture_token)
        _MESSAGE_ID.reset(id_token)
    if result:
        return SendResult(True)
    return explain_failure(captured)


def _apprise_attachments(service: object, attachments: Sequence[Attachment], *,
                         html: bool) -> apprise.AppriseAttachment | None:
    """The files as Apprise attachments (held in memory, never written to disk). An HTML email
    with an inline file is switched to Apprise's inline mode (RFC 2387, as the URL's
    `?inline=yes` would), which makes it multipart/related with each image's Content-ID its
    name; in that mode Apprise shows every image attachment in place."""
    if not attachments:
        return None
    from apprise.attachment.memory import AttachMemory
    from apprise.plugins.email.base import NotifyEmail

    if html and isinstance(service, NotifyEmail) and any(a.content_id for a in attachments):
        service.inline = True
    return apprise.AppriseAttachment([
        AttachMemory(content=a.data, name=a.name, mimetype=a.content_type)
        for a in attachments])


def one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# An SMTP reply as smtplib reports it: (550, b'5.1.1 <x@y>: Recipient address rejected').
_SMTP_REPLY = re.compile(r"\((\d{3}), b(['\"])(.*?)\2")
_HTTP_STATUS = re.compile(r"notification: (?:(?P<reason>[^,]*?), )?error=(?P<code>\d{3})")
_TEMPORARY_HTTP = (408, 429)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def explain_failure(lines: Iterable[str]) -> SendResult:
    """The service's reason for a failed send, in one short line, from what Apprise logged, and
    whether it is permanent (refused for good) or unknown (the message may have arrived)."""
    text = "\n".join(lines)
    reply = _SMTP_REPLY.search(text)
    if reply:
        code = int(reply.group(1))
        return SendResult(False, one_line(f"SMTP {code} {reply.group(3)}"),
                          permanent=500 <= code < 600)
    status = _HTTP_STATUS.search(text)
    if status:
        code = int(status.group("code"))
        reason = status.group("reason") or ""
        return SendResult(False, one_line(f"HTTP {code} {reason}".strip().rstrip(".")),
                          permanent=400 <= code < 500 and code not in _TEMPORARY_HTTP)
    lowered = text.lower()
    # A message handed over whose answer never came may have been delivered.
    handed_over = "sending email to" in lowered or "read timed out" in lowered
    if "timed out" in lowered:
        if handed_over:
            return SendResult(False, "timed out waiting for the answer", unknown=True)
        return SendResult(False, "timed out connecting")
    if "connection unexpectedly closed" in lowered or "connection reset" in lowered:
        if handed_over:
            return SendResult(False, "connection closed before the answer", unknown=True)
        return SendResult(False, "connection closed")
    if "connection refused" in lowered:
        return SendResult(False, "connection refused")
    if ("name or service not known" in lowered or "nodename nor servname" in lowered
            or "temporary failure in name resolution" in lowered):
        return SendResult(False, "host name not found")
    if "certificate" in lowered or "ssl" in lowered:
        return SendResult(False, "TLS failed (certificate or protocol)")
    warnings = [line for line in text.splitlines()
                if line and not line.startswith("Socket Exception")]
    if not warnings:
        return SendResult(False, "the service did not accept the message")
    # A plugin may name the URL it posted to: never store more of it than its host.
    return SendResult(False, one_line(_URL.sub(lambda m: secrets.mask_url(m.group(0)),
                                               warnings[-1])))


# --- the job ------------------------------------------------------------------------------------

@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    unknown: int = 0
    # Sends still running when the job moved on: their outcome is recorded when they end.
    in_flight: int = 0


class _Clock:
    """The job's clock: `now` as given (tests move it), advancing in real time from there."""

    def __init__(self, now: datetime | None) -> None:
        self.offset = (now - datetime.now(UTC)) if now else timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class _Job:
    config: Config
    sessions: sessionmaker[Session]
    worker: str
    clock: _Clock
    send: Sender
    send_timeout: float
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    tried: set[int] = field(default_factory=set)  # claimed in this run

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.config.daemon.lease)


# Outcomes this process learned but could not write (the database failed after a send): written
# by the next run of the job before anything else, so a known outcome is never taken for unknown.
_unrecorded: dict[str, dict[tuple[int, ...], SendResult]] = defaultdict(dict)
_unrecorded_lock = threading.Lock()


def deliver_due(config: Config, sessions: sessionmaker[Session], worker: str, *,
                now: datetime | None = None, send: Sender = send_apprise,
                limit: int = 200, send_timeout: float | None = None) -> DeliveryStats:
    """Send what is due now, in claimed batches of `BATCH`, at most `limit` deliveries."""
    job = _Job(config, sessions, worker, _Clock(now), send,
               SEND_TIMEOUT if send_timeout is None else send_timeout)
    _write_unrecorded(job)
    _mark_lost_sends(job)
    _tell_it_about_delays(job)
    handled = 0
    while handled < limit:
        ids = _claim(job, min(BATCH, limit - handled))
        if not ids:
            break
        handled += len(ids)
        _deliver_batch(job, ids)
    return job.stats


def _claimable_statuses(config: Config) -> tuple[str, ...]:
    resend = config.daemon.unknown_deliveries == "resend"
    return ("pending", "unknown") if resend else ("pending",)


def _claim(job: _Job, limit: int) -> list[int]:
    """Compare-and-swap claims, so two daemons never send the same delivery. A delivery tried
    once in this run waits for its next attempt, however soon that is due."""
    now = job.clock.now()
    free = or_(models.Delivery.claimed_until.is_(None), models.Delivery.claimed_until < now)
    with job.sessions() as session:
        due = list(session.execute(
            select(models.Delivery.id, models.Delivery.status)
            .where(models.Delivery.status.in_(_claimable_statuses(job.config)),
                   models.Delivery.next_attempt_at <= now, free,
                   models.Delivery.id.not_in(job.tried))
            .order_by(models.Delivery.next_attempt_at, models.Delivery.id)
            .limit(limit)))
    claimed = []
    for delivery_id, status in due:
        with job.sessions.begin() as session:
            taken = session.execute(
                update(models.Delivery)
                .where(models.Delivery.id == delivery_id, models.Delivery.status == status, free)
                .values(claimed_by=job.worker, claimed_until=now + job.lease)
                .execution_options(synchronize_session=False)).rowcount
        if taken == 1:
            claimed.append(delivery_id)
    job.tried.update(claimed)
    return claimed


class _Renewal:
    """Renews this worker's claim on some deliveries on a timer, only while it still holds it:
    a claim that lapsed may already be another worker's."""

    def __init__(self, job: _Job, ids: Iterable[int]) -> None:
        self.job = job
        self.ids = list(ids)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"delivery-claim-{self.ids[0]}")
        self.thread.start()

    def _run(self) -> None:
        every = max(0.05, self.job.config.daemon.lease / 4)
        while not self.stopped.wait(every):
            try:
                self.renew()
            except SQLAlchemyError as error:
                log.warning("could not renew a delivery claim: %s", one_line(str(error), 120))

    def renew(self) -> int:
        now = self.job.clock.now()
        with self.job.sessions.begin() as session:
            return session.execute(
                update(models.Delivery)
                .where(models.Delivery.id.in_(self.ids),
                       models.Delivery.claimed_by == self.job.worker,
                       models.Delivery.claimed_until >= now,
                       models.Delivery.status.in_(("pending", "unknown", "sending")))
                .values(claimed_until=now + self.job.lease)
                .execution_options(synchronize_session=False)).rowcount

    def stop(self) -> None:
        self.stopped.set()


def _deliver_batch(job: _Job, ids: list[int]) -> None:
    renewal = _Renewal(job, ids)
    try:
        with job.sessions() as session:
            rows = list(session.scalars(
                select(models.Delivery).where(models.Delivery.id.in_(ids))
                .order_by(models.Delivery.id)))
            for row in rows:
                _ = row.alert  # load while the session is open
        groups: dict[tuple[str, str, bool], list[models.Delivery]] = defaultdict(list)
        for row in rows:
            batch = "batch" if is_batched(row.alert) else f"alert:{row.id}"
            repeat = row.possible_repeat or row.status == "unknown"
            groups[(row.destination, batch, repeat)].append(row)
        for (destination, _batch, _repeat), group in groups.items():
            _deliver_group(job, destination, group)
    finally:
        renewal.stop()


def _deliver_group(job: _Job, destination: str, group: list[models.Delivery]) -> None:
    try:
        url = job.config.secret(destination)
    except KeyError:
        _record(job, [row.id for row in group],
                SendResult(False, "its secret reference is no longer in the config",
                           permanent=True), handed_over=False)
        return
    held = _mark_sending(job, group)
    if not held:
        return
    title, body = compose_message(job.config, held)
    message_id = message_id_for(held)
    ids = tuple(row.id for row in held)
    finished = threading.Event()
    outcome: list[SendResult] = []

    def run() -> None:
        try:
            outcome.append(job.send(url, title, body, message_id=message_id))
        except Exception as exc:  # a custom sender's bug must still be recorded
            outcome.append(SendResult(False, f"{type(exc).__name__}: {one_line(str(exc))}"))
        finally:
            finished.set()

    threading.Thread(target=run, daemon=True, name=f"delivery-send-{ids[0]}").start()
    if finished.wait(job.send_timeout):
        _record(job, list(ids), _outcome_of(outcome))
        return
    # A slow service: the send carries on, keeping its claim, and is recorded when it ends.
    job.stats.in_flight += len(ids)
    log.info("a send to %s is taking longer than %.0fs; it carries on", shown(destination),
             job.send_timeout)
    threading.Thread(target=_await_send, args=(job, ids, finished, outcome), daemon=True,
                     name=f"delivery-wait-{ids[0]}").start()


def _await_send(job: _Job, ids: tuple[int, ...], finished: threading.Event,
                outcome: list[SendResult]) -> None:
    renewal = _Renewal(job, ids)
    try:
        if finished.wait(SEND_GIVE_UP):
            result = _outcome_of(outcome)
        else:
            result = SendResult(False, f"timed out after {SEND_GIVE_UP:.0f}s", unknown=True)
    finally:
        renewal.stop()
    try:
        _record(job, list(ids), result)
    except SQLAlchemyError:
        log.warning("could not record the outcome of a slow send; it is kept until the next run")


def _outcome_of(outcome: list[SendResult]) -> SendResult:
    # Empty when the sending thread was stopped by something no `except Exception` catches.
    return outcome[0] if outcome else SendResult(False, "the send stopped without an outcome",
                                                 unknown=True)


def _mark_sending(job: _Job, group: list[models.Delivery]) -> list[models.Delivery]:
    """Commit "sending" before the hand-over, for each delivery still ours: from here on a crash
    leaves a delivery whose outcome is unknown, never one that looks unsent."""
    now = job.clock.now()
    held = []
    with job.sessions.begin() as session:
        for row in group:
            repeat = row.possible_repeat or row.status == "unknown"
            taken = session.execute(
                update(models.Delivery)
                .where(models.Delivery.id == row.id, models.Delivery.status == row.status,
                       models.Delivery.claimed_by == job.worker,
                       models.Delivery.claimed_until >= now)
                .values(status="sending", possible_repeat=repeat,
                        attempts=models.Delivery.attempts + 1,
                        first_attempt_at=row.first_attempt_at or now,
                        claimed_until=now + job.lease)
                .execution_options(synchronize_session=False)).rowcount
            if taken == 1:
                row.possible_repeat = repeat
                row.attempts += 1
                row.first_attempt_at = row.first_attempt_at or now
                held.append(row)
    return held


def message_id_for(rows: list[models.Delivery]) -> str:
    """The same Message-ID every time these deliveries are sent, so mail clients collapse a
    repeat; unique across installations (the hash covers the alert's key and destination)."""
    first = rows[0]
    seed = "|".join([first.alert.dedupe_key, first.destination,
                     ",".join(str(row.id) for row in rows)])
    return f"<delivery-{first.id}-{sha256(seed.encode()).hexdigest()[:10]}@hallmonitor>"


def is_batched(alert: models.Alert) -> bool:
    """Whether this alert goes out together with the others due for its destination: normal
    and low ones do, except a weekly digest or report, which is always a message of its own."""
    return alert.severity in BATCHED and alert.kind not in alerts.REPORTS


def is_it_notice(alert: models.Alert) -> bool:
    """A notice about the system, for IT: not about comments, nor a reminder about them (one
    must not be marked "For IT", nor settled by IT's rules)."""
    return alert.kind not in alerts.ABOUT_ITEMS


def compose_message(config: Config, rows: list[models.Delivery]) -> tuple[str, Body]:
    """Title and body for these deliveries to one destination: the body's plain text with its
    markdown and HTML renderings (for alerts whose parts were kept), naming whom it is for;
    marked as a possible repeat when an earlier send's outcome is unknown, and as meant for IT
    when it goes to someone else. The body carries the files that go with it (a digest's
    chart)."""
    roles = list(dict.fromkeys(role for row in rows for role in row.roles))
    if len(rows) == 1:
        title, body = _single(rows[0], roles)
    else:
        title, body = _digest(config, rows, roles)
    if any(row.possible_repeat for row in rows):
        title = f"{title} {REPEAT_MARK}"
        notice = (f"{REPEAT_MARK} An earlier send of this message may have arrived already: its "
                  "outcome was not known, so it is sent again.")
        body = Body(f"{notice}\n\n{body}",
                    f"{message.md_escape(notice)}\n\n{body.markdown}" if body.markdown else None,
                    _with_preface(body.html, email_html.e(notice)), body.attachments)
    return title, body


def _single(row: models.Delivery, roles: list[str]) -> tuple[str, Body]:
    alert = row.alert
    if alert.kind in alerts.REPORTS:
        return alert.title, digest_body(alert)
    if alert.details and not is_it_notice(alert):
        details = alert.details
        return alert.title, Body(message.render_text(details, roles),
                                 message.render_markdown(details, roles),
                                 email_html.render(alert.title, details, roles))
    title, body = alert.title, alert.body
    if is_it_notice(alert) and "it" not in row.roles:
        title = f"[For IT] {title}"
        body = ("This notice is for the school's IT contact: their own channel is not "
                "working, so it is sent here. Please pass it on.\n\n" + body)
    return title, Body(body)


def digest_body(alert: models.Alert) -> Body:
    """A weekly digest as it was rendered when it was queued (`monitor.digest.send`): its plain
    text (the alert's body), markdown, HTML and files, from `details["digest"]`. Sent as it
    was written, so a retry sends the same digest, not one rebuilt from a changed database."""
    stored = (alert.details or {}).get("digest") or {}
    files = []
    for record in stored.get("attachments") or ():
        try:
            files.append(Attachment.from_stored(record))
        except ValueError as error:  # the text still goes: it says all the chart says
            log.warning("digest alert %s: %s; sent without it", alert.id, error)
    return Body(alert.body, stored.get("markdown") or None, stored.get("html") or None, files)


def _digest(config: Config, rows: list[models.Delivery], roles: list[str]) -> tuple[str, Body]:
    """Normal and low alerts due together for one destination, as one message."""
    school = config.school_name(rows[0].alert.school_id)
    # The most pressing first, as in the title's list of what they are.
    alerts = sorted((row.alert for row in rows), key=lambda a: _severity_rank(a.severity))
    found = rules.by_severity(c for a in alerts for c in a.categories)
    kinds = ", ".join(message.label(c) for c in found)
    title = f"[DIGEST] {len(rows)} comments to look at - {school}" + (f" - {kinds}"
                                                                        if kinds else "")
    texts = [f"{n}. {a.title}\n{message.render_text(a.details) if a.details else a.body}"
             for n, a in enumerate(alerts, 1)]
    lead = f"For: {message.role_names(roles)}\n\n" if roles else ""
    text = lead + ("\n\n" + "-" * 40 + "\n\n").join(texts)
    if not any(a.details for a in alerts):
        return title, Body(text)
    sections = [f"**{n}\\. {message.md_escape(a.title)}**\n\n"
                + (message.render_markdown(a.details) if a.details else message.md_quote(a.body))
                for n, a in enumerate(alerts, 1)]
    md_lead = f"**For:** {message.md_escape(message.role_names(roles))}\n\n" if roles else ""
    markdown = md_lead + "\n\n---\n\n".join(sections)
    html = email_html.render_digest(
        title, [(a.title, a.severity, a.details, a.body) for a in alerts], roles)
    return title, Body(text, markdown, html)


def _severity_rank(severity: str) -> int:
    order = rules.SEVERITY_ORDER
    return order.index(severity) if severity in order else len(order)


_BODY_TAG = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


def _with_preface(html: str | None, line: str) -> str | None:
    """The HTML email with a line (already HTML) before its first card; in an HTML page of
    another layout (a digest), at the top of its body."""
    if html is None:
        return None
    notice = email_html.notice(line)
    marker = '<td align="center" style="padding:12px 8px;">'
    if marker in html:
        return html.replace(marker, marker + notice, 1)
    body = _BODY_TAG.search(html)
    at = body.end() if body else 0
    return html[:at] + notice + html[at:]


# --- recording outcomes -------------------------------------------------------------------------

def _record(job: _Job, ids: list[int], result: SendResult, *, handed_over: bool = True) -> None:
    """Write a send's outcome for the deliveries this worker still holds. When the write fails
    the outcome is kept in memory and written by the next run, before anything is resent."""
    try:
        _write_outcome(job, ids, result, handed_over=handed_over)
    except SQLAlchemyError:
        if handed_over:
            with _unrecorded_lock:
                _unrecorded[job.worker][tuple(ids)] = result
        raise
    if not result.ok:
        log.warning("delivery %s: %s", ",".join(map(str, ids)), result.error)


def _write_unrecorded(job: _Job) -> None:
    with _unrecorded_lock:
        waiting = dict(_unrecorded.get(job.worker, {}))
    for ids, result in waiting.items():
        _write_outcome(job, list(ids), result, handed_over=True)
        with _unrecorded_lock:
            _unrecorded[job.worker].pop(ids, None)


def _write_outcome(job: _Job, ids: list[int], result: SendResult, *, handed_over: bool) -> None:
    now = job.clock.now()
    settings = job.config.daemon
    # Ours: "sending" (or "unknown" after we gave up waiting) and still under our name.
    expected = ("sending", "unknown") if handed_over else ("pending", "unknown")
    with job.sessions.begin() as session:
        rows = list(session.scalars(
            select(models.Delivery)
            .where(models.Delivery.id.in_(ids), models.Delivery.claimed_by == job.worker,
                   models.Delivery.status.in_(expected))
            .with_for_update()))
        if len(rows) < len(ids):
            log.warning("%d of %d deliveries were taken over before their outcome was recorded",
                        len(ids) - len(rows), len(ids))
        for row in rows:
            row.claimed_until = None
            if result.ok:
                row.status, row.sent_at, row.last_error = "sent", now, None
                row.claimed_by = None
                job.stats.sent += 1
                if is_it_notice(row.alert):
                    alerts.settle_it_notice(session, row.alert, row)
                continue
            row.last_error = result.error
            if not handed_over:
                row.attempts += 1
                row.first_attempt_at = row.first_attempt_at or now
            started = row.first_attempt_at or now
            give_up = started + timedelta(seconds=settings.delivery_give_up_after)
            if result.permanent or now >= give_up:
                row.status, row.claimed_by = "dead", None
                job.stats.dead += 1
                _tell_it_dead(session, job.config, row, now)
                continue
            wait = timedelta(seconds=backoff.delay(row.attempts, settings.retry_base,
                                                   cap=settings.retry_cap))
            row.next_attempt_at = min(now + wait, give_up)
            if result.unknown:
                # Kept under our name: if the send still completes, we record its outcome.
                row.status = "unknown"
                job.stats.unknown += 1
            else:
                row.status, row.claimed_by = "pending", None
                job.stats.failed += 1
                if is_it_notice(row.alert) and "it" in row.roles and row.attempts == 1:
                    alerts.reroute_it_notice(session, job.config, row.alert, now,
                                             avoid={row.destination})


def _mark_lost_sends(job: _Job) -> None:
    """"sending" whose claim expired: the sender died or lost track; the outcome is unknown."""
    now = job.clock.now()
    with job.sessions.begin() as session:
        lost = session.execute(
            update(models.Delivery)
            .where(models.Delivery.status == "sending",
                   or_(models.Delivery.claimed_until.is_(None),
                       models.Delivery.claimed_until < now))
            .values(status="unknown", last_error=LOST_SEND, claimed_until=None,
                    next_attempt_at=now)
            .execution_options(synchronize_session=False)).rowcount
    if lost:
        job.stats.unknown += lost
        log.warning("%d deliveries were handed over but never recorded: outcome unknown, "
                    "resent marked as a possible repeat", lost)


def shown(destination: str) -> str:
    return destination if secrets.is_reference(destination) else secrets.mask_url(destination)


# --- telling IT ---------------------------------------------------------------------------------

def _tell_it_dead(session: Session, config: Config, row: models.Delivery, now: datetime) -> None:
    alert = row.alert
    if is_it_notice(alert) and alert.kind.startswith("delivery_"):
        return  # a notice about delivery that cannot be delivered: it stays on `alerts list`
    if alert.school_id is None:
        # A trust's roll-up belongs to no school, so to no school's IT: it is logged, and
        # stays on `alerts list` and `deliver --retry-dead`.
        log.warning("gave up sending %r to %s: %s", alert.title, shown(row.destination),
                    row.last_error)
        return
    digest = sha256(row.destination.encode()).hexdigest()[:12]
    started = row.first_attempt_at or now
    alerts.notify_it(
        session, config, alert.school_id, f"delivery-dead:{digest}:{now:%Y-%m-%d}",
        "delivery_dead",
        "[ACTION NEEDED] Alerts are not reaching a recipient",
        f"Hall Monitor gave up sending to {shown(row.destination)} "
        f"(roles: {', '.join(row.roles)}) after {row.attempts} attempts over "
        f"{_duration(now - started)}.\n"
        f"Last error: {row.last_error}\n"
        f"Undelivered alert: {alert.title}\n"
        "Check the URL in the config; 'hallmonitor alerts list' shows what did not arrive, and "
        "'hallmonitor deliver --retry-dead' sends it again once the destination works.",
        now, avoid={row.destination})


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{minutes // 60} hours"


def _tell_it_about_delays(job: _Job) -> None:
    """Alerts held back for more than DELAY_NOTICE_AFTER by failing destinations are told to the
    school's IT once per outage: not again while a delivery that was failing when it was told
    still fails."""
    now = job.clock.now()
    with job.sessions.begin() as session:
        failing = list(session.scalars(
            select(models.Delivery).join(models.Alert)
            .where(models.Delivery.status == "pending", models.Delivery.last_error.is_not(None),
                   models.Delivery.attempts > 0,
                   models.Delivery.first_attempt_at <= now - DELAY_NOTICE_AFTER,
                   models.Alert.kind.in_(alerts.ABOUT_ITEMS))))
        by_school: dict[str, list[models.Delivery]] = defaultdict(list)
        for row in failing:
            by_school[row.alert.school_id].append(row)
        for school_id, rows in by_school.items():
            if job.config.find_school(school_id) is None:
                continue
            oldest = min(row.first_attempt_at for row in rows)
            if session.scalar(select(models.Alert.id).where(
                    models.Alert.school_id == school_id, models.Alert.kind == "delivery_delayed",
                    models.Alert.created_at >= oldest).limit(1)):
                continue  # this outage was told already (some of it may have recovered since)
            destinations: dict[str, str] = {}
            for row in rows:
                destinations[row.destination] = row.last_error or "failing"
            lines = [f"  - {shown(dest)}: {error}" for dest, error in destinations.items()]
            alerts.notify_it(
                session, job.config, school_id,
                f"delivery-delayed:{school_id}:{oldest:%Y%m%dT%H%M%S}", "delivery_delayed",
                "[ACTION NEEDED] Alerts are being held back: a recipient cannot be reached",
                f"{len(rows)} alert deliveries have been failing since "
                f"{oldest:%Y-%m-%d %H:%M} UTC:\n" + "\n".join(lines) + "\n\n"
                "They are retried until they get through (for up to "
                f"{_duration(timedelta(seconds=job.config.daemon.delivery_give_up_after))}), "
                "so nothing is lost yet, but urgent alerts are not reaching people. "
                "'hallmonitor alerts list' shows what is waiting.",
                now, avoid=set(destinations))


# --- by hand: `hallmonitor deliver --retry-dead / --resolve-unknown` ---------------------------

@dataclass(frozen=True)
class Requeued:
    delivery_id: int
    alert_id: int
    destination: str  # as shown: a reference or a masked URL
    previous: str  # the status it had
    last_error: str | None


def requeue(sessions: sessionmaker[Session], status: str, *,
            now: datetime | None = None) -> list[Requeued]:
    """Make every delivery in `status` ("dead" or "unknown") due now. A dead one starts a new
    retry period; an unknown one is resent marked as a possible repeat."""
    now = now or datetime.now(UTC)
    done = []
    with sessions.begin() as session:
        rows = list(session.scalars(select(models.Delivery)
                                    .where(models.Delivery.status == status)
                                    .order_by(models.Delivery.id)))
        for row in rows:
            done.append(Requeued(row.id, row.alert_id, shown(row.destination), row.status,
                                 row.last_error))
            row.next_attempt_at = now
            row.claimed_by = row.claimed_until = None
            if status == "dead":
                row.status, row.first_attempt_at = "pending", None
            else:
                row.status, row.possible_repeat = "pending", True
    return done


def wait_for_sends(timeout: float) -> bool:
    """Wait up to `timeout` seconds for sends still running in this process (a command that
    exits must not cut one off); True when none is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(t.name.startswith("delivery-wait-") and t.is_alive()
                   for t in threading.enumerate()):
            return True
        time.sleep(0.05)
    return False
