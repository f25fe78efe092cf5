"""Staff accounts for the console: who may sign in, for which school, in which role.

A member of staff belongs to one school with one of the config's roles (digital_champion, dsl,
head, it); a trust-wide admin has the role "admin" and no school. Passwords are hashed with
argon2id (argon2-cffi's PasswordHasher, its recommended parameters); a hash made with older
parameters is replaced at the next successful sign-in. An account need not have a password:
staff can sign in with a one-time link instead.

Every function works in the caller's session and transaction, so the console and the command
line share them. No password is ever logged, printed or kept anywhere but as its hash.
"""

from __future__ import annotations

import re
import secrets as random
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import models
from monitor.config import ROLES, Config

ADMIN = "admin"
ALL_ROLES = (*ROLES, ADMIN)
# NCSC's advice is length over complexity ("three random words"): no composition rules, a floor
# on length, and a ceiling that keeps hashing a pasted novel from tying up the server.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254
# One @, something either side, a dot in the domain, no spaces: enough to catch typos without
# refusing real addresses (the sign-in link is the real test of an address).
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

_hasher = PasswordHasher()
# Verified against when there is no account (or no password) to check, so that a sign-in for
# an unknown email takes as long as one for a known email: timing does not say who has one.
_dummy_hash: str | None = None


class UserError(Exception):
    """A request about staff accounts that cannot be met; the message is one line for a person."""


def normalise_email(email: str) -> str:
    """The address as stored: trimmed and lower-cased; UserError if it is not an address."""
    address = (email or "").strip().lower()
    if len(address) > MAX_EMAIL_LENGTH or not EMAIL.fullmatch(address):
        raise UserError(f"not an email address: {email!r}")
    return address


def check_password(password: str) -> None:
    """UserError (never naming the password) if it is too short or too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters (three "
                        "random words make a good one)")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"a password can have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def find_by_email(session: Session, email: str) -> models.StaffUser | None:
    try:
        address = normalise_email(email)
    except UserError:
        return None
    return session.scalar(select(models.StaffUser).where(models.StaffUser.email == address))


def get(session: Session, email: str) -> models.StaffUser:
    """The account with this email; UserError if there is none."""
    user = find_by_email(session, email)
    if user is None:
        raise UserError(f"no staff account for {email.strip()!r} (see 'hallmonitor users list')")
    return user


def add(session: Session, config: Config, *, email: str, role: str,
        school_id: str | None = None, name: str = "",
        password: str | None = None) -> models.StaffUser:
    """Create an account. A school's staff need a school of the config and one of its roles; an
    admin is trust-wide and has no school. Without a password the account signs in by link."""
    address = normalise_email(email)
    school_id = _school_for(config, role, school_id)
    password_hash = hash_password(password) if password is not None else None
    if find_by_email(session, address) is not None:
        raise UserError(f"a staff account for {address} already exists")
    if school_id is not None:
        ensure_school_row(session, config, school_id)
    user = models.StaffUser(email=address, name=name.strip(), role=role, school_id=school_id,
                            password_hash=password_hash, disabled=False, session_version=0,
                            created_at=datetime.now(UTC))
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:  # created by someone else since we looked
        raise UserError(f"a staff account for {address} already exists") from None
    return user


def _school_for(config: Config, role: str, school_id: str | None) -> str | None:
    if role not in ALL_ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ALL_ROLES)}")
    if role == ADMIN:
        if school_id is not None:
            raise UserError("an admin is trust-wide and has no school: leave out the school")
        return None
    known = [school.id for school in config.schools]
    if school_id is None:
        # One school in the config: it is the only school a member of staff can belong to.
        if len(known) == 1:
            return known[0]
        raise UserError(f"a {role} belongs to a school: name one of {', '.join(known)}")
    if config.find_school(school_id) is None:
        raise UserError(f"unknown school {school_id!r}: the config has {', '.join(known)}")
    return school_id


def ensure_school_row(session: Session, config: Config, school_id: str) -> None:
    """The school's row, which the daemon creates when it starts, may not exist yet on a new
    database: create it from the config (the daemon fills in the rest)."""
    if session.get(models.School, school_id) is not None:
        return
    school = config.school(school_id)
    try:
        with session.begin_nested():
            session.add(models.School(id=school.id, name=school.name,
                                      timezone=config.school_timezone(school), keywords=[]))
    except IntegrityError:  # a daemon created it meanwhile
        pass


def list_users(session: Session, school_id: str | None = None) -> list[models.StaffUser]:
    """Accounts by school (admins first) and email; only one school's with `school_id`."""
    query = select(models.StaffUser).order_by(models.StaffUser.school_id.is_not(None),
                                              models.StaffUser.school_id,
                                              models.StaffUser.email)
    if school_id is not None:
        query = query.where(models.StaffUser.school_id == school_id)
    return list(session.scalars(query))


def disable(session: Session, email: str) -> models.StaffUser:
    """The account can no longer sign in, and its open sessions end."""
    user = get(session, email)
    if not user.disabled:
        user.disabled = True
        user.session_version += 1
    return user


def enable(session: Session, email: str) -> models.StaffUser:
    user = get(session, email)
    user.disabled = False
    return user


def reset(session: Session, email: str) -> models.StaffUser:
    """Clear the password and end every session: the account signs in by a one-time link (and
    can set a new password from there)."""
    user = get(session, email)
    user.password_hash = None
    user.session_version += 1
    return user


def set_password(session: Session, email: str, password: str) -> models.StaffUser:
    """Set a new password; sessions signed in with the old one end."""
    user = get(session, email)
    user.password_hash = hash_password(password)
    user.session_version += 1
    return user


def authenticate(session: Session, email: str, password: str) -> models.StaffUser | None:
    """The account these credentials sign in to, or None. Takes as long for an unknown email,
    an account without a password or a disabled account as for a wrong password: one argon2
    verification each time. A hash made with older parameters is replaced (in the caller's
    transaction) and the sign-in time recorded."""
    user = find_by_email(session, email)
    stored = user.password_hash if user is not None else None
    if stored is None:
        _verify(_dummy(), password)
        return None
    if not _verify(stored, password) or user.disabled:
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    user.last_sign_in_at = datetime.now(UTC)
    return user


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(random.token_urlsafe(24))
    return _dummy_hash


def console_configured(config: Config) -> bool:
    """Whether staff can reach a console to use a sign-in link: it is enabled, or its public
    address is set (it may then be run on its own with `hallmonitor web`)."""
    return bool(config.web.enabled or config.web.public_url)
