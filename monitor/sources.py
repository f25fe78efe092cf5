"""Keeping the database's schools and sources in step with the config file."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor import models
from monitor.config import Account, Config, School

log = logging.getLogger(__name__)


def source_key(school: School, account: Account, kind: str) -> str:
    return f"{school.id}/{account.platform}/{account.account}/{kind}"


def item_platform(account: Account) -> str:
    # A replayed Facebook page is still Facebook to the people reading the alerts.
    if account.platform == "replay":
        return str(account.settings.get("as_platform", "facebook"))
    return account.platform


def credential_fingerprint(config: Config, account: Account) -> str | None:
    """A short one-way fingerprint of the secret values an account uses, to tell whether the
    credentials changed without ever storing them; None when it has none (or they cannot be
    resolved now)."""
    if not account.credentials:
        return None
    try:
        values = sorted(f"{name}={config.secret(ref)}"
                        for name, ref in account.credentials.items())
    except KeyError:  # a reference not resolved at load (a disabled account's)
        return None
    return hashlib.sha256("\0".join([account.platform, *values]).encode()).hexdigest()[:16]


def credential_holders(config: Config, school_id: str,
                       account_id: str, platform: str) -> Iterator[tuple[School, Account]]:
    """Every account that polls with the same credential as the given one: the account itself
    (all its kinds) and any other account, of any school, whose secrets are the same values on
    the same platform. An account without credentials shares nothing but itself."""
    school = config.find_school(school_id)
    account = next((a for a in school.accounts if a.platform == platform
                    and a.account == account_id), None) if school else None
    if school is None or account is None:
        return
    fingerprint = credential_fingerprint(config, account)
    for other_school in config.schools:
        for other in other_school.accounts:
            same_account = other_school.id == school.id and other is account
            same_secret = (fingerprint is not None and other.platform == platform
                           and credential_fingerprint(config, other) == fingerprint)
            if same_account or same_secret:
                yield other_school, other


def _insert_missing(session: Session, model: type[models.Base], rows: list[dict],
                    key: str) -> None:
    """Insert the rows whose key is not there yet, and leave the others alone: several daemons
    starting together on a new database all try, and the losers must not crash."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    session.execute(insert(model).on_conflict_do_nothing(index_elements=[key]), rows)


def sync(session: Session, config: Config) -> list[models.Source]:
    """Create or update a school row per school and a source row per account and kind; sources
    no longer in the config are disabled (their items and history are kept). A source paused
    for refused credentials is resumed when its credentials have changed since."""
    _insert_missing(session, models.School, [
        {"id": school.id, "name": school.name, "timezone": config.school_timezone(school)}
        for school in config.schools], "id")
    now = datetime.now(UTC)
    _insert_missing(session, models.Source, [
        {"key": source_key(school, account, kind), "school_id": school.id,
         "platform": account.platform, "item_platform": item_platform(account), "kind": kind,
         "account": account.account, "next_poll_at": now}
        for school in config.schools for account in school.accounts for kind in account.kinds],
        "key")
    wanted: set[str] = set()
    for school in config.schools:
        row = session.get(models.School, school.id)
        row.name = school.name
        row.timezone = config.school_timezone(school)
        row.keywords = list(school.keywords)
        row.pupil_names_path = str(school.pupil_names) if school.pupil_names else None
        for account in school.accounts:
            fingerprint = None
            for kind in account.kinds:
                key = source_key(school, account, kind)
                wanted.add(key)
                source = session.scalar(select(models.Source).where(models.Source.key == key))
                source.platform = account.platform
                source.item_platform = item_platform(account)
                source.kind = kind
                source.account = account.account
                source.name = account.name or f"{school.name}: {account.platform} {kind}"
                source.settings = dict(account.settings)
                source.poll_interval = account.poll_interval
                source.enabled = account.enabled
                if source.paused_reason and source.paused_fingerprint:
                    fingerprint = fingerprint or credential_fingerprint(config, account)
                    if fingerprint and fingerprint != source.paused_fingerprint:
                        resume(source, now)
                        log.info("source %s (%s) resumed: its credentials changed since they "
                                 "were refused", source.id, source.key)
    for source in session.scalars(select(models.Source)):
        if source.key not in wanted:
            source.enabled = False
    session.flush()
    return list(session.scalars(
        select(models.Source).where(models.Source.enabled.is_(True)).order_by(models.Source.id)))


def resume(source: models.Source, now: datetime) -> None:
    """Poll a paused source again, at once, as if it had never failed."""
    source.paused_reason = source.paused_at = source.paused_fingerprint = None
    source.failure_count = 0
    source.failing_since = None
    source.failure_notified = False
    source.next_poll_at = now


def state_of(source: models.Source) -> str:
    """One word for a source's health, the same on the command line and in the console:
    disabled, paused (waiting for someone), failing (retrying on its own) or ok."""
    if not source.enabled:
        return "disabled"
    if source.paused_reason:
        return "paused"
    if source.failing_since or source.failure_count:
        return "failing"
    return "ok"
