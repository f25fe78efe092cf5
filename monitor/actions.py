"""Moderation actions on stored items, carried out through the item's connector and recorded in
the audit trail whether they worked or not.

What an item allows comes from its connector's declared capabilities (`Connector.supports`),
read from the class alone: offering actions in the console or an alert builds no connector and
asks no platform anything. An action the platform does not allow is refused before anything is
sent, and the refusal is not written to the audit trail: nothing was attempted, nothing changed
on the platform, and the person asking is told why at once. The trail holds what was tried.

Before a hide, delete or block is sent the item is kept in its school's evidence chain as it
was (`monitor.evidence.record`), and what came of the action is added to the chain whenever the
item or its incident has evidence there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors import Author, ConnectorError, connector_class
from connectors import Item as PlatformItem
from monitor import models
from monitor.config import Config
from monitor.evidence import record as evidence

# Actions that take an item (or its author) out of sight: the item is kept in the school's
# evidence chain as it was, before the platform is asked.
REMOVING = ("hide", "delete", "block")


class ActionError(Exception):
    """The action could not even be attempted (no such item, source gone)."""


class ActionRefused(ActionError):
    """The item's platform does not allow this action on it; nothing was sent."""


def platform_item(row: models.Item) -> PlatformItem:
    return PlatformItem(
        external_id=row.external_id, kind=row.kind, text=row.text, created_at=row.created_at,
        author=Author(row.author_id, row.author_handle, row.author_name),
        permalink=row.permalink, parent_id=row.parent_id, conversation_id=row.conversation_id,
        raw=row.raw or {})


def available_actions(session: Session, item: models.Item) -> tuple[str, ...]:
    """The moderation actions worth offering on a stored item, in the order hide, unhide,
    delete, block, mute: what its source's platform allows on it. No connector is built and
    no network is used."""
    source = session.get(models.Source, item.source_id)
    if source is None:
        return ()
    try:
        declared = connector_class(source.platform)
    except ConnectorError:  # a platform no longer known: nothing can be done to its items
        return ()
    return declared.offered_actions(platform_item(item))


def refusal(session: Session, action: str, item: models.Item) -> str | None:
    """Why `action` cannot be taken on a stored item (None when it can be tried)."""
    source = session.get(models.Source, item.source_id)
    if source is None:
        return "its source is no longer in the database"
    try:
        declared = connector_class(source.platform)
    except ConnectorError as exc:
        return str(exc)
    return declared.refusal(action, platform_item(item))


def take_action(config: Config, sessions: sessionmaker[Session], action: str, item_id: int,
                actor: str, *, incident_id: int | None = None,
                via: str = "command line") -> models.Action:
    """Carry out `action` on the item's platform and record what came of it (with the incident
    it was taken for, and whether from the command line or the console). ActionRefused, with
    the reason, when the platform does not allow it: then nothing is sent or recorded."""
    with sessions() as session:
        row = session.get(models.Item, item_id)
        if row is None:
            raise ActionError(f"no item with id {item_id} (see 'hallmonitor items list')")
        reason = refusal(session, action, row)
        if reason is not None:
            raise ActionRefused(f"cannot {action} item {item_id}: {reason}")
        incident_id = _incident_for(session, item_id, incident_id)
        source = session.get(models.Source, row.source_id)
        # Imported here: the pipeline writes alerts, whose wording asks this module what an item
        # allows, so a module-level import would be circular.
        from monitor.pipeline import build_connector

        try:
            connector = build_connector(config, source)
        except ConnectorError as exc:
            raise ActionError(f"cannot act on item {item_id}: {exc}") from None
        item = platform_item(row)
        school_id = row.school_id
    if action in REMOVING:
        # Committed before the platform is asked: a crash or a failure halfway still leaves
        # the item as it was in the chain.
        with sessions.begin() as session:
            evidence.record_item(session, config, session.get(models.Item, item_id),
                                 f"before {action}", now=datetime.now(UTC),
                                 incident_id=incident_id)
    try:
        result = connector.act(action, item)
        ok, message = result.ok, result.message
    except ConnectorError as exc:
        ok, message = False, f"{type(exc).__name__}: {exc}"
    with sessions.begin() as session:
        now = datetime.now(UTC)
        record = models.Action(item_id=item_id, incident_id=incident_id, action=action,
                               actor=actor, ok=ok, result=f"{message} (via {via})",
                               created_at=now)
        session.add(record)
        if evidence.has_evidence(session, item_id=item_id, incident_id=incident_id):
            evidence.record_step(session, record, school_id, now=now)
    return record


def _incident_for(session: Session, item_id: int, given: int | None) -> int | None:
    """The incident the action is recorded with: the one given, which must hold the item, or
    else the item's incident when it belongs to exactly one."""
    held = list(session.scalars(select(models.IncidentItem.incident_id)
                                .where(models.IncidentItem.item_id == item_id)))
    if given is None:
        return held[0] if len(held) == 1 else None
    if given not in held:
        raise ActionError(f"item {item_id} is not part of incident {given}")
    return given
