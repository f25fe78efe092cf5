"""Links into the staff console, and the signed one-time links sent by email.

An alert links to its incident's page, and carries a link that acknowledges that incident
without a password. Such a link is signed (itsdangerous), expires, names one incident and one
purpose, and is honoured once: the console records it in `used_link` when it is spent. Opening
it only shows a confirmation page; the POST from that page acknowledges, because mail scanners
open every link in an email.

The signing key comes from `[web] secret_key` (a secret reference) or, when none is given, is
generated once and kept in the database, so every daemon sharing the database agrees on it.
"""

from __future__ import annotations

import secrets as random
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import models
from monitor.config import Config

KEY_SETTING = "web_secret_key"
ACKNOWLEDGE = "ack"
SIGN_IN = "sign_in"


class LinkError(Exception):
    """A one-time link that cannot be honoured: malformed, tampered with, expired or spent."""


@dataclass(frozen=True)
class Link:
    purpose: str
    subject: int  # the incident (ack) or staff user (sign_in)
    token_id: str  # what `used_link` records when it is spent


def signing_key(config: Config, session: Session) -> str:
    """The key that signs sessions and links; generated and stored on first use if the config
    names none. Safe when two daemons race to create it: both end up with the stored one."""
    if config.web.secret_key:
        return config.secret(config.web.secret_key)
    stored = session.get(models.Setting, KEY_SETTING)
    if stored is not None:
        return stored.value
    try:
        with session.begin_nested():
            session.add(models.Setting(name=KEY_SETTING, value=random.token_urlsafe(48)))
    except IntegrityError:
        pass
    return session.get(models.Setting, KEY_SETTING, populate_existing=True).value


def console_url(config: Config, path: str = "") -> str:
    """An absolute URL of the console: its public address if configured."""
    web = config.web
    base = web.public_url or f"http://{_host_for_url(web.host)}:{web.port}"
    return base + path


def incident_url(config: Config, incident_id: int) -> str:
    return console_url(config, f"/incidents/{incident_id}")


def digest_url(config: Config, school_id: str | None, week_label: str,
               kind: str = "head") -> str | None:
    """The console's page for a week's digest (kind head, dsl or trust; a trust's roll-up has no
    school), or None when the console is not served."""
    if not config.web.enabled:
        return None
    if kind == "trust":
        return console_url(config, f"/digest/trust/{week_label}")
    return console_url(config, f"/digest/{school_id}/{week_label}" + (
        "" if kind == "head" else f"?kind={kind}"))


def _host_for_url(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _serializer(key: str, purpose: str) -> URLSafeTimedSerializer:
    # The purpose is the salt: a sign-in token is never accepted as an acknowledgement.
    return URLSafeTimedSerializer(key, salt=f"hallmonitor-{purpose}")


def make_token(key: str, purpose: str, subject: int) -> str:
    return _serializer(key, purpose).dumps({"s": subject, "n": random.token_urlsafe(12)})


def read_token(key: str, purpose: str, token: str, max_age: float) -> Link:
    """What a token says, if it is genuine and not expired (whether it was spent is `spend`'s
    business)."""
    try:
        data = _serializer(key, purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkError("this link has expired") from None
    except BadSignature:
        raise LinkError("this link is not valid") from None
    if not isinstance(data, dict) or not isinstance(data.get("s"), int) \
            or not isinstance(data.get("n"), str):
        raise LinkError("this link is not valid")
    return Link(purpose, data["s"], f"{purpose}:{data['n']}")


def is_spent(session: Session, link: Link) -> bool:
    return session.scalar(select(models.UsedLink.token_id)
                          .where(models.UsedLink.token_id == link.token_id)) is not None


def spend(session: Session, link: Link, now: datetime | None = None) -> None:
    """Record the link as used, in the caller's transaction; LinkError if it already was. The
    caller's transaction is then unusable and must be rolled back with what the link was to do
    (no savepoint: on SQLite one opened before any write commits on its own when released)."""
    session.add(models.UsedLink(token_id=link.token_id, purpose=link.purpose,
                                used_at=now or datetime.now(UTC)))
    try:
        session.flush()
    except IntegrityError:
        raise LinkError("this link has already been used") from None


def ack_url(config: Config, session: Session, incident_id: int) -> str:
    """A one-time link that acknowledges this incident (after a confirmation page)."""
    token = make_token(signing_key(config, session), ACKNOWLEDGE, incident_id)
    return console_url(config, f"/ack/{token}")


def sign_in_url(config: Config, session: Session, user_id: int) -> str:
    token = make_token(signing_key(config, session), SIGN_IN, user_id)
    return console_url(config, f"/sign-in/{token}")
