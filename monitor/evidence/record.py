"""What goes into a school's evidence chain, and when it is worth writing.

Two kinds of entry are written here (the third, "removal", only by `chain.remove_content`):

- "item": an item as it was when it was alerted as high or urgent, before it was hidden, deleted
  or its author blocked, or when its incident was put under hold: its text, author, times (UTC
  and the school's local time), place, the raw payload as fetched and the verdict with its
  reasons and model version.
- "step": something done later about an item or incident (an action on the platform, an
  acknowledgement, a resolution, a note, a hold): who, when, and what came of it.

Each is written inside the caller's transaction, so the evidence and what it records are
committed together or not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from monitor import models
from monitor.evidence import chain

if TYPE_CHECKING:
    from monitor.config import Config

ITEM = "item"
STEP = "step"


def _utc(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _timezone(session: Session, config: Config | None, school_id: str) -> str:
    """The school's timezone from the config; without one (an incident step has none to hand),
    from the school's row, which the daemon keeps the same as the config's."""
    school = config.find_school(school_id) if config is not None else None
    if school is not None:
        return config.school_timezone(school)
    row = session.get(models.School, school_id)
    if row is not None and row.timezone:
        return row.timezone
    return config.daemon.timezone if config is not None else "Europe/London"


def verdict_content(verdict: models.Verdict | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {"categories": list(verdict.categories or []), "severity": verdict.severity,
            "reasons": {k: list(v) for k, v in (verdict.reasons or {}).items()},
            "scores": dict(verdict.scores or {}), "model_version": verdict.model_version,
            "classified_utc": _utc(verdict.created_at)}


def item_content(item: models.Item, reason: str, timezone: str,
                 incident_id: int | None) -> dict[str, Any]:
    """An "item" entry's content: the item as it is now, with its verdict."""
    return {
        "reason": reason,
        "school": item.school_id,
        "incident_id": incident_id,
        "item": {
            "id": item.id, "platform": item.platform, "external_id": item.external_id,
            "kind": item.kind, "text": item.text,
            "author": {"id": item.author_id, "handle": item.author_handle,
                       "name": item.author_name},
            "created_utc": _utc(item.created_at),
            "created_local": item.created_at.astimezone(ZoneInfo(timezone)).isoformat(),
            "timezone": timezone,
            "permalink": item.permalink, "parent_id": item.parent_id,
            "conversation_id": item.conversation_id,
            "fetched_utc": _utc(item.fetched_at),
        },
        "raw": item.raw,
        "verdict": verdict_content(item.verdict),
    }


def step_content(action: models.Action) -> dict[str, Any]:
    """A "step" entry's content: one row of the audit trail."""
    return {"incident_id": action.incident_id, "item_id": action.item_id,
            "action": action.action, "actor": action.actor, "at_utc": _utc(action.created_at),
            "ok": bool(action.ok), "result": action.result or "", "action_id": action.id}


def record_item(session: Session, config: Config | None, item: models.Item, reason: str, *,
                now: datetime, incident_id: int | None = None) -> models.EvidenceRecord:
    """Append the item as it is now to its school's chain. `reason` says why it was kept:
    "alerted urgent", "alerted high", "before hide", "before delete", "before block", "held".
    Without a config the school's timezone is read from its row."""
    timezone = _timezone(session, config, item.school_id)
    return chain.append(session, item.school_id, ITEM,
                        item_content(item, reason, timezone, incident_id),
                        now=now, incident_id=incident_id, item_id=item.id)


def record_step(session: Session, action: models.Action, school_id: str, *,
                now: datetime) -> models.EvidenceRecord:
    """Append a trail entry (already added to the session) to the school's chain."""
    if action.id is None:
        session.flush()  # the entry names the trail row it copies
    return chain.append(session, school_id, STEP, step_content(action), now=now,
                        incident_id=action.incident_id, item_id=action.item_id)


def has_evidence(session: Session, *, item_id: int | None = None,
                 incident_id: int | None = None) -> bool:
    """Whether the chain holds anything about this item, this incident or one of the
    incident's items: then what is done about them later is evidence too. One indexed query."""
    record = models.EvidenceRecord
    conditions = []
    if item_id is not None:
        conditions.append(record.item_id == item_id)
    if incident_id is not None:
        conditions.append(record.incident_id == incident_id)
        conditions.append(record.item_id.in_(
            select(models.IncidentItem.item_id)
            .where(models.IncidentItem.incident_id == incident_id)))
    if not conditions:
        return False
    return session.scalar(select(record.id).where(or_(*conditions)).limit(1)) is not None


def items_without_evidence(session: Session, incident_id: int) -> list[models.Item]:
    """The incident's items that have no "item" entry in the chain yet, oldest first."""
    recorded = exists().where(models.EvidenceRecord.item_id == models.Item.id,
                              models.EvidenceRecord.kind == ITEM)
    return list(session.scalars(
        select(models.Item)
        .join(models.IncidentItem, models.IncidentItem.item_id == models.Item.id)
        .where(models.IncidentItem.incident_id == incident_id, ~recorded)
        .order_by(models.Item.created_at, models.Item.id)))
