"""The delivery job: claims due deliveries from the outbox and sends them through Apprise.

Each delivery is one alert to one destination URL. A send that fails is retried with the shared
backoff; after `max_delivery_attempts` it is marked dead and the school's IT recipients are told
(once a day per destination, so a broken Teams URL does not become a flood of its own). Normal and
low severity alerts due for the same destination go out together as one message.
"""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import apprise
from apprise.decorators import notify as apprise_plugin
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor import alerts, backoff, models, secrets
from monitor.config import Config

log = logging.getLogger(__name__)

# A claim lasts long enough for a slow SMTP server, short enough that a crashed daemon's claim
# soon passes to another.
CLAIM_SECONDS = 120
SEND_TIMEOUT = 15
BATCHED = ("normal", "low")


@apprise_plugin(on="console", name="Terminal")
def _print_to_terminal(body: str, title: str, notify_type: str, *args, **kwargs) -> bool:
    """`console://` prints alerts in the terminal: the demo's recipient, and handy when testing."""
    rule = "─" * 78
    sys.stdout.write(f"\n{rule}\n{title}\n{rule}\n{body}\n")
    sys.stdout.flush()
    return True


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    permanent: bool = False


Sender = Callable[[str, str, str], SendResult]


def send_apprise(url: str, title: str, body: str) -> SendResult:
    """Send one message to one Apprise URL and say how it went, without raising."""
    target = apprise.Apprise()
    if not target.add(url):
        return SendResult(False, "not a valid notification URL", permanent=True)
    with apprise.LogCapture(level=logging.WARNING) as captured:
        try:
            result = target.notify(body=body, title=title, timeout=SEND_TIMEOUT)
        except Exception as exc:  # a plugin bug must not take the delivery job down
            return SendResult(False, f"{type(exc).__name__}: {exc}")
        if result:
            return SendResult(True)
        detail = " ".join(captured.getvalue().split())[-300:]
    return SendResult(False, detail or "the service did not accept the message")


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    dead: int = 0


def _claim(sessions: sessionmaker[Session], worker: str, now: datetime,
           limit: int) -> list[int]:
    """Compare-and-swap claims, so two daemons never send the same delivery."""
    with sessions() as session:
        due = list(session.scalars(
            select(models.Delivery.id)
            .where(models.Delivery.status == "pending", models.Delivery.next_attempt_at <= now,
                   or_(models.Delivery.claimed_until.is_(None),
                       models.Delivery.claimed_until < now))
            .order_by(models.Delivery.next_attempt_at, models.Delivery.id)
            .limit(limit)))
    claimed = []
    for delivery_id in due:
        with sessions.begin() as session:
            taken = session.execute(
                update(models.Delivery)
                .where(models.Delivery.id == delivery_id, models.Delivery.status == "pending",
                       or_(models.Delivery.claimed_until.is_(None),
                           models.Delivery.claimed_until < now))
                .values(claimed_by=worker,
                        claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
                .execution_options(synchronize_session=False)).rowcount
        if taken == 1:
            claimed.append(delivery_id)
    return claimed


def _message(config: Config, rows: list[models.Delivery]) -> tuple[str, str]:
    if len(rows) == 1:
        alert = rows[0].alert
        return alert.title, alert.body
    school = config.school_name(rows[0].alert.school_id)
    title = f"[DIGEST] {len(rows)} comments to look at — {school}"
    parts = [f"{n}. {row.alert.title}\n{row.alert.body}" for n, row in enumerate(rows, 1)]
    return title, ("\n\n" + "-" * 40 + "\n\n").join(parts)


def deliver_due(config: Config, sessions: sessionmaker[Session], worker: str, *,
                now: datetime | None = None, send: Sender = send_apprise,
                limit: int = 200) -> DeliveryStats:
    now = now or datetime.now(UTC)
    stats = DeliveryStats()
    ids = _claim(sessions, worker, now, limit)
    if not ids:
        return stats
    with sessions() as session:
        rows = list(session.scalars(
            select(models.Delivery).where(models.Delivery.id.in_(ids))
            .order_by(models.Delivery.id)))
        for row in rows:
            _ = row.alert  # load while the session is open
    groups: dict[tuple[str, str], list[models.Delivery]] = defaultdict(list)
    for row in rows:
        batch = "batch" if row.alert.severity in BATCHED else f"alert:{row.id}"
        groups[(row.destination, batch)].append(row)
    for (destination, _batch), group in groups.items():
        title, body = _message(config, group)
        try:
            url = config.secret(destination)
        except KeyError:
            result = SendResult(False, "its secret reference is no longer in the config",
                                permanent=True)
        else:
            result = send(url, title, body)
        _record(config, sessions, group, result, stats)
    return stats


def _record(config: Config, sessions: sessionmaker[Session], group: list[models.Delivery],
            result: SendResult, stats: DeliveryStats) -> None:
    now = datetime.now(UTC)
    limit = config.daemon.max_delivery_attempts or 6
    with sessions.begin() as session:
        for claimed in group:
            row = session.get(models.Delivery, claimed.id)
            row.attempts += 1
            row.claimed_by = row.claimed_until = None
            if result.ok:
                row.status, row.sent_at, row.last_error = "sent", now, None
                stats.sent += 1
                continue
            row.last_error = result.error
            if result.permanent or row.attempts >= limit:
                row.status = "dead"
                stats.dead += 1
                _tell_it_once(session, config, row, now)
            else:
                wait = backoff.delay(row.attempts, config.daemon.retry_base)
                row.next_attempt_at = now + timedelta(seconds=wait)
                stats.failed += 1
    if not result.ok:
        log.warning("delivery to %s failed: %s", _shown(group[0].destination), result.error)


def _shown(destination: str) -> str:
    return destination if secrets.is_reference(destination) else secrets.mask_url(destination)


def _tell_it_once(session: Session, config: Config, row: models.Delivery, now: datetime) -> None:
    alert = row.alert
    if alert.kind == "delivery_dead":
        return  # IT's own channel is broken: nothing more to tell it through
    digest = sha256(row.destination.encode()).hexdigest()[:12]
    alerts.notify_it(
        session, config, alert.school_id, f"delivery-dead:{digest}:{now:%Y-%m-%d}",
        "delivery_dead",
        "[ACTION NEEDED] Alerts are not reaching a recipient",
        f"Hall Monitor gave up sending to {_shown(row.destination)} "
        f"(roles: {', '.join(row.roles)}) after {row.attempts} attempts.\n"
        f"Last error: {row.last_error}\n"
        f"Undelivered alert: {alert.title}\n"
        "Check the URL in the config; 'hallmonitor alerts list' shows what did not arrive.",
        now)
