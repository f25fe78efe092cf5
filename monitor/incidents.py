"""Incidents after they are opened: acknowledging, resolving, and escalating urgent ones that
nobody has acknowledged. Every change is written to the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor import message, models, rules
from monitor.config import Config

# An unacknowledged urgent incident is escalated after escalate_after, and again after this many
# times as long; then it is left to the people already told.
ESCALATION_STEPS = (1, 4)
ESCALATE_TO = ("dsl", "head")


class IncidentError(Exception):
    """No such incident, or a change that does not apply to it."""


def _change(sessions: sessionmaker[Session], incident_id: int, status: str, actor: str,
            note: str = "") -> models.Incident:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        incident = session.get(models.Incident, incident_id)
        if incident is None:
            raise IncidentError(f"no incident with id {incident_id} (see 'hallmonitor "
                                "incidents list')")
        if incident.status == "resolved" and status == "acknowledged":
            raise IncidentError(f"incident {incident_id} is already resolved")
        incident.status = status
        if status == "acknowledged":
            incident.acknowledged_by, incident.acknowledged_at = actor, now
        else:
            incident.resolved_at = now
            if incident.acknowledged_at is None:
                incident.acknowledged_by, incident.acknowledged_at = actor, now
        verb = "acknowledge" if status == "acknowledged" else "resolve"
        session.add(models.Action(incident_id=incident_id, action=verb, actor=actor, ok=True,
                                  result=note or status, created_at=now))
    return incident


def acknowledge(sessions: sessionmaker[Session], incident_id: int, actor: str) -> models.Incident:
    return _change(sessions, incident_id, "acknowledged", actor)


def resolve(sessions: sessionmaker[Session], incident_id: int, actor: str,
            note: str = "") -> models.Incident:
    return _change(sessions, incident_id, "resolved", actor, note)


def escalate_due(config: Config, sessions: sessionmaker[Session],
                 now: datetime | None = None) -> int:
    """Tell the DSL and head again about urgent incidents nobody has acknowledged."""
    now = now or datetime.now(UTC)
    after = config.daemon.escalate_after
    written = 0
    with sessions.begin() as session:
        open_urgent = session.scalars(
            select(models.Incident).where(models.Incident.status == "open",
                                          models.Incident.severity == "urgent"))
        for incident in open_urgent:
            # Measured from the first urgent alert nobody has acknowledged yet.
            since = incident.acknowledged_at or datetime.min.replace(tzinfo=UTC)
            first = session.execute(
                select(models.Alert.id, models.Alert.created_at)
                .where(models.Alert.incident_id == incident.id,
                       models.Alert.severity == "urgent", models.Alert.kind != "escalation",
                       models.Alert.created_at > since)
                .order_by(models.Alert.id).limit(1)).first()
            if first is None:
                continue
            for step, factor in enumerate(ESCALATION_STEPS, start=1):
                if now - first.created_at < timedelta(seconds=after * factor):
                    break
                if _escalate(session, config, incident, step, first, now):
                    written += 1
    return written


def _reasons_of(session: Session, incident: models.Incident) -> dict[str, list[str]]:
    """The reasons of all the incident's verdicts together, by category."""
    merged: dict[str, list[str]] = {}
    for reasons in session.scalars(
            select(models.Verdict.reasons)
            .join(models.IncidentItem, models.IncidentItem.item_id == models.Verdict.item_id)
            .where(models.IncidentItem.incident_id == incident.id)):
        for category, why in (reasons or {}).items():
            merged.setdefault(category, []).extend(str(w) for w in why)
    return merged


def _escalate(session: Session, config: Config, incident: models.Incident, step: int,
              first, now: datetime) -> bool:
    key = f"incident:{incident.id}:escalation:{first.id}:{step}"
    if session.scalar(select(models.Alert.id).where(models.Alert.dedupe_key == key)):
        return False
    school = config.find_school(incident.school_id)
    if school is None:  # removed from the config since
        return False
    minutes = int((now - first.created_at).total_seconds() // 60)
    title, body = message.compose_escalation(config, school, incident,
                                             _reasons_of(session, incident), minutes, key)
    alert = models.Alert(dedupe_key=key, school_id=incident.school_id, kind="escalation",
                         severity="urgent", incident_id=incident.id,
                         categories=list(incident.categories), title=title, body=body,
                         created_at=now)
    session.add(alert)
    session.flush()
    for target in rules.destinations(school, ESCALATE_TO):
        session.add(models.Delivery(alert_id=alert.id, destination=target.destination,
                                    roles=list(target.roles), next_attempt_at=now))
    return True
