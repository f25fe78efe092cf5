"""Writing the outbox: incidents, alerts and one delivery per destination.

Everything here runs inside the caller's transaction (the pipeline's page transaction), so an
item, its verdict and its alerts are committed together or not at all; so is the item's entry in
its school's evidence chain when it is alerted as high or urgent (`monitor.evidence.record`).

Flagged items are grouped into incidents by harm (see `incidents.harm_of`): a threat, a
safeguarding concern, a pupil's personal data and hostility are handled by different people with
different steps, so they never share an incident. Within a harm, items on one thread share one;
and one author's hostile comments on several threads within `CAMPAIGN_WINDOW` share one campaign
incident (key "campaign:…").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifiers.base import Verdict
from monitor import incidents, message, models, rules, secrets
from monitor.config import Config, School
from monitor.evidence import chain, record

REPEAT_WINDOW = timedelta(days=30)
# A weekly digest (`monitor.digest.send`): a report about the week's comments for the head, the
# DSL or a trust, queued in the outbox like any alert.
DIGEST = "digest"
# Alert kinds about comments (and reminders and reports about them); every other kind is a
# notice about the system, for IT.
# IT's weekly follower report: a report like a digest, sent as its own HTML email.
FOLLOWER_REPORT = "follower_report"
# Reports written once and kept whole in the alert (`details["digest"]`): never batched.
REPORTS = (DIGEST, FOLLOWER_REPORT)
# Alerts a person acts on, or reports: never re-routed as IT's notices about the system. (A
# watchlist alert goes to the champion too, addressed to them, not passed on from IT.)
ABOUT_ITEMS = ("item", "update", "escalation", "watchlist", *REPORTS)
# One author's hostile comments on different threads this close together are one campaign
# against the school (one incident, one person deciding whether to block), not separate rows.
CAMPAIGN_WINDOW = timedelta(hours=24)
CAMPAIGN_PREFIX = "campaign:"
# Items alerted at these severities are kept in the school's evidence chain as they were.
EVIDENCE_SEVERITIES = ("urgent", "high")


@dataclass
class Placement:
    """Where a flagged item went: its incident, and how it got there."""

    incident: models.Incident
    is_new: bool  # opened for this item
    previous_severity: str  # the incident's severity before this item joined
    became_campaign: bool = False  # this item made the author's comments a campaign


def thread_of(item: models.Item) -> str:
    return item.conversation_id or item.external_id


def thread_key(item: models.Item, harm: str) -> str:
    return f"thread:{item.platform}:{thread_of(item)}:{harm}"


def campaign_key(item: models.Item) -> str:
    return f"{CAMPAIGN_PREFIX}{item.platform}:{item.author_id}"


def _open_incident(session: Session, school_id: str, key: str, harm: str,
                   since: datetime) -> models.Incident | None:
    """The newest unresolved incident with this key and harm that had an item since `since`."""
    return session.scalars(
        select(models.Incident)
        .where(models.Incident.school_id == school_id, models.Incident.key == key,
               models.Incident.harm == harm, models.Incident.status != "resolved",
               models.Incident.last_item_at >= since)
        .order_by(models.Incident.id.desc())
        .limit(1)
    ).first()


def _new_incident(session: Session, school: School, key: str, harm: str, severity: str,
                  at: datetime) -> models.Incident:
    incident = models.Incident(school_id=school.id, key=key, harm=harm, severity=severity,
                               categories=[], item_count=0, opened_at=at, last_item_at=at)
    session.add(incident)
    session.flush()
    return incident


def _join(session: Session, incident: models.Incident, item: models.Item,
          categories: Iterable[str]) -> None:
    incident.item_count += 1
    incident.opened_at = min(incident.opened_at, item.created_at)
    incident.last_item_at = max(incident.last_item_at, item.created_at)
    incident.categories = sorted(set(incident.categories) | set(categories))
    session.add(models.IncidentItem(incident_id=incident.id, item_id=item.id))


def _place(session: Session, school: School, item: models.Item, harm: str, severity: str,
           categories: list[str]) -> Placement:
    """Put a flagged item in its incident: the author's campaign, the thread's incident of the
    same harm, or a new one."""
    if harm == incidents.HOSTILITY and item.author_id:
        campaign = _open_incident(session, school.id, campaign_key(item), harm,
                                  item.created_at - CAMPAIGN_WINDOW)
        if campaign is not None:
            previous = campaign.severity
            _join(session, campaign, item, categories)
            return Placement(campaign, False, previous)
        elsewhere = _hostile_elsewhere(session, school, item)
        if elsewhere:
            return _start_campaign(session, school, item, severity, categories, elsewhere)
    window = rules.INCIDENT_WINDOW
    incident = _open_incident(session, school.id, thread_key(item, harm), harm,
                              item.created_at - window)
    if incident is None:
        incident = _new_incident(session, school, thread_key(item, harm), harm, severity,
                                 item.created_at)
        _join(session, incident, item, categories)
        return Placement(incident, True, severity)
    previous = incident.severity
    _join(session, incident, item, categories)
    return Placement(incident, False, previous)


def _hostile_elsewhere(session: Session, school: School,
                       item: models.Item) -> list[tuple[models.Incident, models.Item]]:
    """The author's comments in unresolved hostility incidents on other threads of this
    platform, within CAMPAIGN_WINDOW of this one, with their incidents."""
    rows = session.execute(
        select(models.Incident, models.Item)
        .join(models.IncidentItem, models.IncidentItem.incident_id == models.Incident.id)
        .join(models.Item, models.Item.id == models.IncidentItem.item_id)
        .where(models.Incident.school_id == school.id,
               models.Incident.harm == incidents.HOSTILITY,
               models.Incident.status != "resolved",
               models.Item.platform == item.platform,
               models.Item.author_id == item.author_id,
               models.Item.id != item.id,
               models.Item.created_at >= item.created_at - CAMPAIGN_WINDOW,
               models.Item.created_at <= item.created_at + CAMPAIGN_WINDOW)
        .order_by(models.Item.created_at, models.Item.id))
    here = thread_of(item)
    return [(incident, other) for incident, other in rows if thread_of(other) != here]


def _start_campaign(session: Session, school: School, item: models.Item, severity: str,
                    categories: list[str],
                    elsewhere: list[tuple[models.Incident, models.Item]]) -> Placement:
    """This comment makes the author's hostility on several threads a campaign: one incident
    holding all of it. A thread incident holding only this author's comments becomes the
    campaign, keeping its alerts and trail; otherwise (the other comments are part of a pile-on
    by several people) a campaign incident is opened beside it, holding the author's ones."""
    incident = next((incident for incident in dict.fromkeys(i for i, _ in elsewhere)
                     if not incident.key.startswith(CAMPAIGN_PREFIX)
                     and _only_by(session, incident, item)), None)
    if incident is None:
        incident = _new_incident(session, school, campaign_key(item), incidents.HOSTILITY,
                                 severity, item.created_at)
    else:
        incident.key = campaign_key(item)
    previous = incident.severity
    linked = set(session.scalars(select(models.IncidentItem.item_id)
                                 .where(models.IncidentItem.incident_id == incident.id)))
    for _, other in elsewhere:
        if other.id not in linked:
            linked.add(other.id)
            _join(session, incident, other, _hostile_categories(session, other))
    _join(session, incident, item, categories)
    worst = rules.severity_of(incident.categories) or severity
    if rules.SEVERITY_ORDER.index(worst) < rules.SEVERITY_ORDER.index(incident.severity):
        incident.severity = worst
    return Placement(incident, False, previous, became_campaign=True)


def _only_by(session: Session, incident: models.Incident, item: models.Item) -> bool:
    authors = set(session.execute(
        select(models.Item.platform, models.Item.author_id).distinct()
        .join(models.IncidentItem, models.IncidentItem.item_id == models.Item.id)
        .where(models.IncidentItem.incident_id == incident.id)))
    return authors == {(item.platform, item.author_id)}


def _hostile_categories(session: Session, item: models.Item) -> list[str]:
    categories = session.scalar(select(models.Verdict.categories)
                                .where(models.Verdict.item_id == item.id)) or []
    return [c for c in categories if incidents.harm_of([c]) == incidents.HOSTILITY]


def serious_history(session: Session, platform: str, authors: set[str],
                    since: datetime) -> dict[str, list[datetime]]:
    """When each of these authors posted urgent or high severity items since `since`: one query
    per page, so a repeat offender is spotted without a query per comment."""
    if not authors:
        return {}
    rows = session.execute(
        select(models.Item.author_id, models.Item.created_at)
        .join(models.Verdict, models.Verdict.item_id == models.Item.id)
        .where(models.Item.platform == platform, models.Item.author_id.in_(authors),
               models.Verdict.severity.in_(("urgent", "high")),
               models.Item.created_at >= since - REPEAT_WINDOW))
    history: dict[str, list[datetime]] = {}
    for author, created in rows:
        history.setdefault(author, []).append(created)
    return history


def _earlier_flags(item: models.Item, history: dict[str, list[datetime]]) -> int:
    times = history.get(item.author_id, []) if item.author_id else []
    earliest = item.created_at - REPEAT_WINDOW
    return sum(1 for when in times if earliest <= when < item.created_at)


def route_item(session: Session, config: Config, school: School, item: models.Item,
               verdict: Verdict, now: datetime, history: dict[str, list[datetime]], *,
               watch_note: str = "", batch_from: datetime | None = None) -> models.Alert | None:
    """Decide whether this flagged item is told to anyone, and write the alert if so.
    `history` is `serious_history()` for the page's authors; `watch_note` says the author is
    on IT's watchlist, and why (empty when not); a batched alert goes with the batch that
    `batch_from` (the poll's start) falls in, when given."""
    categories = list(verdict.categories)
    severity = rules.severity_of(categories)
    roles = rules.roles_for(school, categories)
    if severity is None or not roles:
        return None
    harm = incidents.harm_of(categories)
    incident = None
    kind, dedupe = "item", f"item:{item.id}"
    if harm is not None:
        # The school's chain lock before any incident row: an incident step that records
        # evidence takes them in the same order (see `incidents._add`).
        chain.lock(session, school.id)
        placed = _place(session, school, item, harm, severity, categories)
        incident = placed.incident
        if not placed.is_new:
            kind, dedupe = _joined(incident, placed, harm, severity, item)
    if severity in EVIDENCE_SEVERITIES:
        # Kept as it is now, even when folded into a pile-on's next update: the incident's
        # evidence is all of its comments.
        record.record_item(session, config, item, f"alerted {severity}", now=now,
                           incident_id=incident.id if incident else None)
    if kind is None:
        return None
    repeat = _earlier_flags(item, history)
    composed = message.compose(config, school, item, verdict, incident, kind, repeat, dedupe,
                               watch_note=watch_note)
    alert = models.Alert(dedupe_key=dedupe, school_id=school.id, kind=kind, severity=severity,
                         item_id=item.id, incident_id=incident.id if incident else None,
                         categories=categories, title=composed.title, body=composed.body,
                         details=composed.details, created_at=now)
    session.add(alert)
    session.flush()
    first_try = rules.send_at(config, school, severity, batch_from or now)
    for target in rules.destinations(school, roles):
        session.add(models.Delivery(alert_id=alert.id, destination=target.destination,
                                    roles=list(target.roles), next_attempt_at=first_try))
    return alert


def _joined(incident: models.Incident, placed: Placement, harm: str, severity: str,
            item: models.Item) -> tuple[str, str] | tuple[None, None]:
    """An item joined an existing incident: the alert kind and dedupe key it gets, or
    (None, None) when it is folded silently into a pile-on's next update."""
    previous = placed.previous_severity
    worse = rules.SEVERITY_ORDER.index(severity) < rules.SEVERITY_ORDER.index(previous)
    if severity == "urgent" and incident.status == "acknowledged":
        incident.status = "open"  # a new threat or disclosure needs acknowledging again
    if worse:
        incident.severity = severity
    # The comment that makes a campaign is always told, whatever the count: that it is one is
    # news. So is every threat, disclosure and pupil's details; only hostility piles on.
    if placed.became_campaign or harm != incidents.HOSTILITY:
        return "item", f"item:{item.id}"
    if incident.item_count < rules.PILE_ON:
        return "item", f"item:{item.id}"
    if worse:
        return "update", f"incident:{incident.id}:severity:{severity}"
    if incident.item_count in rules.UPDATE_AT:
        return "update", f"incident:{incident.id}:count:{incident.item_count}"
    return None, None


def notify_it(session: Session, config: Config, school_id: str, dedupe_key: str, kind: str,
              title: str, body: str, now: datetime, *,
              avoid: Iterable[str] = ()) -> models.Alert | None:
    """Tell the school's IT recipients something about the system itself, once per key.

    When IT's own channel is down (a destination in `avoid`, or one on a service whose
    deliveries are failing now), the notice goes through one other working destination of the
    school instead, marked as meant for IT; when none works it waits for IT's own channel and
    `undelivered_it_notices` reports it meanwhile."""
    if session.scalar(select(models.Alert.id).where(models.Alert.dedupe_key == dedupe_key)):
        return None
    school = config.school(school_id)
    alert = models.Alert(dedupe_key=dedupe_key, school_id=school_id, kind=kind, severity="high",
                         categories=[], title=title, body=f"{body}\n\nRef: {dedupe_key}",
                         created_at=now)
    session.add(alert)
    session.flush()
    down = _down_services(session, config, now) | set(avoid)
    own = rules.destinations(school, ["it"])
    targets = [t for t in own if not _is_down(config, t.destination, down)]
    if not targets:
        targets = _other_working(session, config, school, down, now,
                                 used={t.destination for t in own}) or own
    for target in targets:
        session.add(models.Delivery(alert_id=alert.id, destination=target.destination,
                                    roles=list(target.roles), next_attempt_at=now))
    return alert


def reroute_it_notice(session: Session, config: Config, alert: models.Alert, now: datetime,
                      avoid: Iterable[str]) -> models.Delivery | None:
    """A notice for IT failed on IT's own channel: send it through another working destination
    of the school too, unless another of its deliveries has arrived or may still arrive."""
    school = config.find_school(alert.school_id)
    if school is None:
        return None
    for delivery in alert.deliveries:
        if delivery.destination in avoid:
            continue
        if delivery.status in ("sent", "sending") or (delivery.status == "pending"
                                                      and delivery.attempts == 0):
            return None
    down = _down_services(session, config, now) | set(avoid)
    used = {delivery.destination for delivery in alert.deliveries}
    [target] = _other_working(session, config, school, down, now, used=used) or [None]
    if target is None:
        return None
    delivery = models.Delivery(alert_id=alert.id, destination=target.destination,
                               roles=list(target.roles), next_attempt_at=now)
    session.add(delivery)
    return delivery


def settle_it_notice(session: Session, alert: models.Alert, arrived: models.Delivery) -> None:
    """A notice for IT reached someone: its deliveries still failing elsewhere are not needed
    (IT is told once)."""
    for delivery in alert.deliveries:
        if (delivery.id != arrived.id and delivery.status in ("pending", "unknown")
                and delivery.attempts > 0):
            delivery.status = "superseded"
            delivery.claimed_by = delivery.claimed_until = None
            delivery.last_error = f"not needed: the notice reached delivery {arrived.id}"


@dataclass(frozen=True)
class UndeliveredNotice:
    alert_id: int
    school_id: str
    kind: str
    title: str
    created_at: datetime
    why: str  # one line: what happened to its deliveries


NOTICE_WINDOW = timedelta(days=7)


def undelivered_it_notices(session: Session, school_id: str | None = None, *,
                           now: datetime | None = None) -> list[UndeliveredNotice]:
    """Notices for IT from the last week that have reached nobody: every channel tried failed,
    or the school has no channel for them. Oldest first."""
    now = now or datetime.now(UTC)
    query = (select(models.Alert)
             .where(models.Alert.kind.not_in(ABOUT_ITEMS),
                    models.Alert.created_at >= now - NOTICE_WINDOW)
             .order_by(models.Alert.id))
    if school_id is not None:
        query = query.where(models.Alert.school_id == school_id)
    found = []
    for alert in session.scalars(query):
        deliveries = list(alert.deliveries)
        if any(d.status in ("sent", "sending") or d.attempts == 0 for d in deliveries):
            continue
        if not deliveries:
            why = "no recipient for it is configured"
        else:
            why = "; ".join(f"{_shown(d.destination)} {d.status}: {d.last_error or '-'}"
                            for d in deliveries)
        found.append(UndeliveredNotice(alert.id, alert.school_id, alert.kind, alert.title,
                                       alert.created_at, why))
    return found


def _shown(destination: str) -> str:
    return destination if secrets.is_reference(destination) else secrets.mask_url(destination)


def _service(config: Config, destination: str) -> str:
    """The service behind a destination (scheme, host and port): two email addresses on one
    mail server are down together."""
    try:
        parts = urlsplit(config.secret(destination))
        return f"{parts.scheme}://{parts.hostname or ''}:{parts.port or ''}"
    except (KeyError, ValueError):
        return destination


def _down_services(session: Session, config: Config, now: datetime) -> set[str]:
    """What is down now: the services (mail server, webhook host) of deliveries failing for now,
    and the destinations given up on in the last day (a refusal such as "no such mailbox" is
    about that one recipient, not its server). An unknown outcome says nothing: its sender may
    simply have died."""
    failing = session.scalars(
        select(models.Delivery.destination).distinct()
        .where(models.Delivery.attempts > 0, models.Delivery.status == "pending",
               models.Delivery.last_error.is_not(None)))
    given_up = session.scalars(
        select(models.Delivery.destination).distinct()
        .where(models.Delivery.status == "dead",
               models.Delivery.next_attempt_at >= now - timedelta(days=1)))
    return {_service(config, destination) for destination in failing} | set(given_up)


def _is_down(config: Config, destination: str, down: set[str]) -> bool:
    return destination in down or _service(config, destination) in down


def _other_working(session: Session, config: Config, school: School, down: set[str],
                   now: datetime, used: set[str]) -> list[rules.Destination]:
    """One destination of the school, of any role, not down and not in `used`: one that
    delivered something in the last day if there is one."""
    roles = list(dict.fromkeys(r.role for r in school.recipients))
    candidates = [t for t in rules.destinations(school, roles)
                  if t.destination not in used and not _is_down(config, t.destination, down)]
    if not candidates:
        return []
    recent = set(session.scalars(
        select(models.Delivery.destination).distinct()
        .where(models.Delivery.status == "sent",
               models.Delivery.sent_at >= now - timedelta(days=1))))
    candidates.sort(key=lambda t: t.destination not in recent)
    return candidates[:1]
