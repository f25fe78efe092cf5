"""Moderation actions on stored items, carried out through the item's connector and recorded in
the audit trail whether they worked or not."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from connectors import Author, ConnectorError
from connectors import Item as PlatformItem
from monitor import models
from monitor.config import Config
from monitor.pipeline import build_connector


class ActionError(Exception):
    """The action could not even be attempted (no such item, source gone)."""


def platform_item(row: models.Item) -> PlatformItem:
    return PlatformItem(
        external_id=row.external_id, kind=row.kind, text=row.text, created_at=row.created_at,
        author=Author(row.author_id, row.author_handle, row.author_name),
        permalink=row.permalink, parent_id=row.parent_id, conversation_id=row.conversation_id,
        raw=row.raw or {})


def take_action(config: Config, sessions: sessionmaker[Session], action: str, item_id: int,
                actor: str) -> models.Action:
    with sessions() as session:
        row = session.get(models.Item, item_id)
        if row is None:
            raise ActionError(f"no item with id {item_id} (see 'hallmonitor items list')")
        source = session.get(models.Source, row.source_id)
        try:
            connector = build_connector(config, source)
        except ConnectorError as exc:
            raise ActionError(f"cannot act on item {item_id}: {exc}") from None
        item = platform_item(row)
    try:
        result = connector.act(action, item)
        ok, message = result.ok, result.message
    except ConnectorError as exc:
        ok, message = False, f"{type(exc).__name__}: {exc}"
    with sessions.begin() as session:
        record = models.Action(item_id=item_id, action=action, actor=actor, ok=ok,
                               result=message, created_at=datetime.now(UTC))
        session.add(record)
    return record
