"""Keeping the database's schools and sources in step with the config file."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import models
from monitor.config import Account, Config, School


def source_key(school: School, account: Account, kind: str) -> str:
    return f"{school.id}/{account.platform}/{account.account}/{kind}"


def item_platform(account: Account) -> str:
    # A replayed Facebook page is still Facebook to the people reading the alerts.
    if account.platform == "replay":
        return str(account.settings.get("as_platform", "facebook"))
    return account.platform


def sync(session: Session, config: Config) -> list[models.Source]:
    """Create or update a school row per school and a source row per account and kind; sources
    no longer in the config are disabled (their items and history are kept)."""
    wanted: set[str] = set()
    for school in config.schools:
        row = session.get(models.School, school.id) or models.School(id=school.id)
        row.name = school.name
        row.timezone = config.school_timezone(school)
        row.keywords = list(school.keywords)
        row.pupil_names_path = str(school.pupil_names) if school.pupil_names else None
        session.add(row)
        session.flush()
        for account in school.accounts:
            for kind in account.kinds:
                key = source_key(school, account, kind)
                wanted.add(key)
                source = session.scalar(select(models.Source).where(models.Source.key == key))
                if source is None:
                    source = models.Source(key=key, school_id=school.id)
                    session.add(source)
                source.platform = account.platform
                source.item_platform = item_platform(account)
                source.kind = kind
                source.account = account.account
                source.name = account.name or f"{school.name}: {account.platform} {kind}"
                source.settings = dict(account.settings)
                source.poll_interval = account.poll_interval
                source.enabled = account.enabled
    for source in session.scalars(select(models.Source)):
        if source.key not in wanted:
            source.enabled = False
    session.flush()
    return list(session.scalars(
        select(models.Source).where(models.Source.enabled.is_(True)).order_by(models.Source.id)))
