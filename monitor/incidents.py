"""Incidents after they are opened: acknowledging, resolving with an outcome, reopening and notes,
each recorded in the trail (`models.Action`) with who and when (and in the school's evidence chain
when the incident has evidence there, see `_add`); evidence hold; and escalating urgent incidents
that nobody has acknowledged.

The command line and the staff console call the same functions here: neither holds rules of its
own. The `record_*` functions work inside a caller's transaction; the others open their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from monitor import message, models, rules
from monitor.config import Config
from monitor.evidence import chain
from monitor.evidence import record as evidence

# An unacknowledged urgent incident is escalated after escalate_after, and again after this many
# times as long; then it is left to the people already told.
ESCALATION_STEPS = (1, 4)
ESCALATE_TO = ("dsl", "head")

HOSTILITY = "hostility"
# The kinds of harm, each handled by different people with different steps.
HARMS: dict[str, str] = {
    "threat": "threat",
    "safeguarding": "safeguarding",
    "personal_data": "personal data",
    HOSTILITY: "hostility",
}
HARM_OF_CATEGORY: dict[str, str] = {
    "threat": "threat",
    "safeguarding": "safeguarding",
    "personal_data": "personal_data",
    "hateful": HOSTILITY,
    "abusive": HOSTILITY,
    "disparaging": HOSTILITY,
}
# An item showing several harms joins the incident of the first of these it shows:
# - a threat first: someone may be in danger now, its route (DSL, head and champion, the police
#   if needed) is the widest and fastest, and the DSL it reaches sees any safeguarding side too;
# - safeguarding next: a disclosure that also names a pupil is a child at risk first, and the
#   DSL's procedure includes hiding the details;
# - personal data before hostility: hostility folds into pile-ons without an alert each, and a
#   pupil's name or address must never be folded away unseen inside an insult.
HARM_ORDER = ("threat", "safeguarding", "personal_data", HOSTILITY)
assert set(HARM_ORDER) == set(HARMS) == set(HARM_OF_CATEGORY.values())
# Harms that are urgent: told at once, day or night, and escalated until someone acknowledges.
URGENT_HARMS = ("threat", "safeguarding")

OUTCOMES: dict[str, str] = {
    "hidden": "hidden",
    "deleted": "deleted",
    "blocked": "blocked",
    "reported_to_platform": "reported to the platform",
    "reported_to_police": "reported to the police",
    "referred_to_lado": "referred to the LADO",
    "no_action": "no action needed",
}

# Where a change came from, recorded in its trail entry.
VIA_COMMAND_LINE = "command line"
VIA_CONSOLE = "console"
VIA_ALERT_LINK = "alert link"


class IncidentError(Exception):
    """No such incident, or a change that does not apply to it."""


def harm_of(categories: Iterable[str]) -> str | None:
    """The harm an item with these categories belongs to (the most severe it shows), or None
    when it shows none (a question, praise, spam…)."""
    found = {HARM_OF_CATEGORY[c] for c in categories if c in HARM_OF_CATEGORY}
    return next((harm for harm in HARM_ORDER if harm in found), None)


def leading_items(session: Session, rows: Iterable[models.Incident]) -> dict[int, models.Item]:
    """The comment that stands for each incident (in a digest, in a reminder): its first that
    shows the incident's harm, since a pile-on's first comment may be a mild one; else its
    first."""
    harm_by_id = {row.id: row.harm for row in rows}
    if not harm_by_id:
        return {}
    found = session.execute(
        select(models.IncidentItem.incident_id, models.Item, models.Verdict.categories)
        .join(models.Item, models.Item.id == models.IncidentItem.item_id)
        .outerjoin(models.Verdict, models.Verdict.item_id == models.Item.id)
        .where(models.IncidentItem.incident_id.in_(list(harm_by_id)))
        .order_by(models.Item.created_at, models.Item.id))
    first: dict[int, models.Item] = {}
    showing: dict[int, models.Item] = {}
    for incident_id, item, categories in found:
        first.setdefault(incident_id, item)
        if incident_id not in showing and harm_of(categories or ()) == harm_by_id[incident_id]:
            showing[incident_id] = item
    return {incident_id: showing.get(incident_id, item) for incident_id, item in first.items()}


# --- changes inside the caller's transaction ----------------------------------------------------

def _who(actor: str) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise IncidentError("say who is acting: the trail records a name")
    return actor


def _add(session: Session, incident: models.Incident, action: str, actor: str, now: datetime,
         result: str) -> models.Action:
    """Add a step to the incident's trail, and to its school's evidence chain when the incident
    has evidence there. A hold is always evidence: holding an incident first puts its items in
    the chain (reason "held") when they are not there yet."""
    row = models.Action(incident_id=incident.id, action=action, actor=actor, ok=True,
                        result=result, created_at=now)
    # Nothing is flushed until the chain lock is held: the pipeline takes the school's lock
    # before incident rows, and taking them here in the other order could deadlock with it.
    with session.no_autoflush:
        held = action == "hold"
        if not (held or evidence.has_evidence(session, incident_id=incident.id)):
            session.add(row)
            return row
        chain.lock(session, incident.school_id)
    session.add(row)
    if held:
        for item in evidence.items_without_evidence(session, incident.id):
            evidence.record_item(session, None, item, "held", now=now, incident_id=incident.id)
    evidence.record_step(session, row, incident.school_id, now=now)
    return row


def record_acknowledgement(session: Session, incident: models.Incident, actor: str,
                           now: datetime, via: str = VIA_COMMAND_LINE) -> models.Action:
    """Someone has seen it and is dealing with it: stops its reminders. A second
    acknowledgement is added to the trail; the incident keeps the first one's name and time."""
    actor = _who(actor)
    if incident.status == "resolved":
        raise IncidentError(f"incident {incident.id} is already resolved "
                            f"({OUTCOMES.get(incident.outcome or '', 'no outcome')}); "
                            "reopen it first")
    again = incident.acknowledged_at is not None
    incident.status = "acknowledged"
    if not again:
        incident.acknowledged_by, incident.acknowledged_at = actor, now
    return _add(session, incident, "acknowledge", actor, now,
                f"acknowledged{' again' if again else ''} (via {via})")


def check_outcome(outcome: str) -> str:
    """The outcome if it is one of OUTCOMES; otherwise an IncidentError listing them."""
    if outcome not in OUTCOMES:
        raise IncidentError(f"unknown outcome {outcome!r}: choose one of "
                            f"{', '.join(OUTCOMES)}")
    return outcome


def record_resolution(session: Session, incident: models.Incident, actor: str, now: datetime,
                      outcome: str, note: str = "",
                      via: str = VIA_COMMAND_LINE) -> models.Action:
    """Dealt with, and how. A note given with it is a separate trail entry (notes are shown
    only to those allowed to read them)."""
    actor = _who(actor)
    outcome = check_outcome(outcome)
    if incident.status == "resolved":
        raise IncidentError(f"incident {incident.id} is already resolved "
                            f"({OUTCOMES.get(incident.outcome or '', 'no outcome')}); "
                            "reopen it first to change that")
    incident.status = "resolved"
    incident.outcome, incident.resolved_by, incident.resolved_at = outcome, actor, now
    if incident.acknowledged_at is None:  # resolving it is dealing with it: no reminders
        incident.acknowledged_by, incident.acknowledged_at = actor, now
    action = _add(session, incident, "resolve", actor, now,
                  f"resolved: {OUTCOMES[outcome]} (via {via})")
    if note.strip():
        record_note(session, incident, actor, now, note)
    return action


def record_reopening(session: Session, incident: models.Incident, actor: str, now: datetime,
                     note: str = "", via: str = VIA_COMMAND_LINE) -> models.Action:
    """A resolved incident needs dealing with again: open, with no outcome."""
    actor = _who(actor)
    if incident.status != "resolved":
        raise IncidentError(f"incident {incident.id} is {incident.status}, not resolved: "
                            "only a resolved incident can be reopened")
    was = OUTCOMES.get(incident.outcome or "", "no outcome")
    incident.status = "open"
    incident.outcome = incident.resolved_by = incident.resolved_at = None
    action = _add(session, incident, "reopen", actor, now,
                  f"reopened; it had been resolved: {was} (via {via})")
    if note.strip():
        record_note(session, incident, actor, now, note)
    return action


def record_note(session: Session, incident: models.Incident, actor: str, now: datetime,
                text: str) -> models.Action:
    """A note in the trail, whatever the incident's status."""
    actor = _who(actor)
    text = text.strip()
    if not text:
        raise IncidentError("a note needs some text")
    return _add(session, incident, "note", actor, now, text)


def record_hold(session: Session, incident: models.Incident, actor: str, now: datetime,
                reason: str = "", via: str = VIA_COMMAND_LINE) -> models.Action | None:
    """Put the incident under evidence hold: retention and erasure leave its items and evidence
    alone until the hold is released. Already held: nothing changes (None), the first hold's
    name, time and reason stand."""
    actor = _who(actor)
    if incident.held_at is not None:
        return None
    reason = " ".join(reason.split())
    incident.held_at, incident.held_by, incident.hold_reason = now, actor, reason or None
    return _add(session, incident, "hold", actor, now,
                f"evidence hold{': ' + reason if reason else ''} (via {via})")


def record_release(session: Session, incident: models.Incident, actor: str, now: datetime,
                   via: str = VIA_COMMAND_LINE) -> models.Action:
    """Release the evidence hold: from now on retention treats the incident like any other."""
    actor = _who(actor)
    if incident.held_at is None:
        raise IncidentError(f"incident {incident.id} is not under evidence hold")
    incident.held_at = incident.held_by = incident.hold_reason = None
    return _add(session, incident, "release", actor, now, f"evidence hold released (via {via})")


# --- the same, each in a transaction of its own -------------------------------------------------

def get(session: Session, incident_id: int) -> models.Incident:
    incident = session.get(models.Incident, incident_id)
    if incident is None:
        raise IncidentError(f"no incident with id {incident_id} (see 'hallmonitor "
                            "incidents list')")
    return incident


def acknowledge(sessions: sessionmaker[Session], incident_id: int, actor: str, *,
                via: str = VIA_COMMAND_LINE) -> models.Incident:
    with sessions.begin() as session:
        incident = get(session, incident_id)
        record_acknowledgement(session, incident, actor, datetime.now(UTC), via)
    return incident


def resolve(sessions: sessionmaker[Session], incident_id: int, actor: str, outcome: str,
            note: str = "", *, via: str = VIA_COMMAND_LINE) -> models.Incident:
    with sessions.begin() as session:
        incident = get(session, incident_id)
        record_resolution(session, incident, actor, datetime.now(UTC), outcome, note, via)
    return incident


def reopen(sessions: sessionmaker[Session], incident_id: int, actor: str, note: str = "", *,
           via: str = VIA_COMMAND_LINE) -> models.Incident:
    with sessions.begin() as session:
        incident = get(session, incident_id)
        record_reopening(session, incident, actor, datetime.now(UTC), note, via)
    return incident


def add_note(sessions: sessionmaker[Session], incident_id: int, actor: str,
             text: str) -> models.Action:
    with sessions.begin() as session:
        return record_note(session, get(session, incident_id), actor, datetime.now(UTC), text)


def hold(sessions: sessionmaker[Session], incident_id: int, actor: str, reason: str = "", *,
         via: str = VIA_COMMAND_LINE) -> models.Incident:
    with sessions.begin() as session:
        incident = get(session, incident_id)
        record_hold(session, incident, actor, datetime.now(UTC), reason, via)
    return incident


def release(sessions: sessionmaker[Session], incident_id: int, actor: str, *,
            via: str = VIA_COMMAND_LINE) -> models.Incident:
    with sessions.begin() as session:
        incident = get(session, incident_id)
        record_release(session, incident, actor, datetime.now(UTC), via)
    return incident


# --- reading ------------------------------------------------------------------------------------

def items(session: Session, incident_id: int) -> list[models.Item]:
    """The incident's items, oldest first."""
    return list(session.scalars(
        select(models.Item)
        .join(models.IncidentItem, models.IncidentItem.item_id == models.Item.id)
        .where(models.IncidentItem.incident_id == incident_id)
        .order_by(models.Item.created_at, models.Item.id)))


def trail(session: Session, incident_id: int) -> list[models.Action]:
    """Everything done about the incident and to its items (hide, delete, block, corrections),
    in the order it was done."""
    item_ids = select(models.IncidentItem.item_id).where(
        models.IncidentItem.incident_id == incident_id)
    return list(session.scalars(
        select(models.Action)
        .where(or_(models.Action.incident_id == incident_id,
                   models.Action.item_id.in_(item_ids)))
        .order_by(models.Action.created_at, models.Action.id)))


def readable_reasons(reasons: Mapping[str, Iterable[object]] | None,
                     scores: Mapping[str, float] | None = None) -> dict[str, list[str]]:
    """A verdict's reasons by category as the alerts show them (`rules.readable_reasons`): no
    internal tokens, no phrases of stop words, each once. Given the scores, a category with
    nothing readable left says it was the model's judgement and its score; without them it is
    left out, for the caller to say so."""
    shown: dict[str, list[str]] = {}
    for category, why in (reasons or {}).items():
        score = float((scores or {}).get(category, 0.0))
        kept = rules.readable_reasons([str(r) for r in why or ()], score)
        if scores is None and kept == rules.readable_reasons((), score):
            continue
        shown[category] = kept
    return shown


# --- escalation ---------------------------------------------------------------------------------

def escalate_due(config: Config, sessions: sessionmaker[Session],
                 now: datetime | None = None) -> int:
    """Tell the DSL and head again about urgent incidents (threats and safeguarding concerns)
    nobody has acknowledged."""
    now = now or datetime.now(UTC)
    after = config.daemon.escalate_after
    written = 0
    with sessions.begin() as session:
        # Urgent severity too: incidents from before harms were recorded all say "hostility".
        open_urgent = list(session.scalars(
            select(models.Incident).where(
                models.Incident.status == "open",
                or_(models.Incident.harm.in_(URGENT_HARMS),
                    models.Incident.severity == "urgent"))))
        for incident in open_urgent:
            # Measured from the first urgent alert since the latest acknowledgement: the
            # incident keeps its first acknowledgement, but a new threat reopened it since.
            since = max(filter(None, [_last_acknowledged(session, incident.id),
                                      incident.acknowledged_at]),
                        default=datetime.min.replace(tzinfo=UTC))
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


def _last_acknowledged(session: Session, incident_id: int) -> datetime | None:
    return session.scalar(select(func.max(models.Action.created_at))
                          .where(models.Action.incident_id == incident_id,
                                 models.Action.action == "acknowledge"))


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
    composed = message.compose_escalation(config, school, incident,
                                          _reasons_of(session, incident), minutes, key)
    alert = models.Alert(dedupe_key=key, school_id=incident.school_id, kind="escalation",
                         severity="urgent", incident_id=incident.id,
                         categories=list(incident.categories), title=composed.title,
                         body=composed.body,
                         details=composed.details, created_at=now)
    session.add(alert)
    session.flush()
    for target in rules.destinations(school, ESCALATE_TO):
        session.add(models.Delivery(alert_id=alert.id, destination=target.destination,
                                    roles=list(target.roles), next_attempt_at=now))
    return True
