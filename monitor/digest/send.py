"""Sending the weekly digests through the outbox: exactly once per school, kind and ISO week.

A digest is queued as an alert of kind "digest" with one delivery per destination, and from
there it is sent, retried and reported like any alert (`monitor.notify`), never batched with
other alerts. It is rendered once, when it is queued, and kept in the alert (`details["digest"]`:
its markdown, HTML and chart), so a retry a day later sends the same digest.

Exactly once: the alert's dedupe key names the kind, the school (or the trust) and the ISO week
(`dedupe_key`), and the database's unique index on it is what holds, across restarts and
between two daemons racing on one database: the loser's insert fails and it reports "already
queued". `hallmonitor digest send --again` queues another under a key of its own. What became
of a digest, queued or why not, is an `Enqueued`.

When (`digests_due`): a school's digests are due from its scheduled day and time (in its
timezone) until the end of that week, so a daemon that was down at 07:30 still sends them at
09:00, but a week that was missed is never sent a week late. They cover the previous school
week:
- the head's digest, except in a holiday week with nothing flagged; in a holiday week with
  flagged items, a short one;
- the DSL's safeguarding summary, every school week, and in a holiday week only when it has
  incidents;
- the trust's roll-up, when the config has a [trust], on the trust's schedule.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from monitor import alerts, models, rules
from monitor.config import Config
from monitor.digest import build, content, weeks
from monitor.digest.holidays import HolidayError
from monitor.digest.weeks import SchoolWeek
from monitor.notify import Attachment

log = logging.getLogger(__name__)

DIGEST_KIND = alerts.DIGEST
# Not urgent, not high: a report read on Monday morning. (Digests are never batched, whatever
# their severity: see `notify.is_batched`.)
SEVERITY = "normal"
KINDS = ("head", "dsl", "trust")
# Who reads each kind: a school's role, or the trust's recipients.
ROLE = {"head": "head", "dsl": "dsl", "trust": "trust"}
AGAIN = ":again:"

Status = Literal["queued", "exists", "no_recipient", "not_needed", "failed"]


def dedupe_key(kind: str, school_id: str | None, week_label: str) -> str:
    """The outbox key of one digest: "digest:head:oakfield:2026-W47", "digest:trust:trust:…"."""
    return f"digest:{kind}:{school_id or 'trust'}:{week_label}"


@dataclass(frozen=True)
class Enqueued:
    """What became of one digest: `queued` (its alert is `alert`), or why not, in `reason` (one
    line for people):
    - "exists": one is queued (or sent) for this key already;
    - "no_recipient": the school has no recipient of that role (the trust none at all);
    - "not_needed": a holiday week with nothing to report (`digests_due` only);
    - "failed": it could not be made (`digests_due` only; logged with its traceback).
    True when it was queued."""

    kind: str
    school_id: str | None
    week: str  # the ISO week label, "2026-W47"
    key: str
    status: Status
    alert: models.Alert | None = None
    reason: str = ""
    # Where it was queued for: the config's URLs or references (secrets stay references).
    destinations: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.status == "queued"

    @property
    def who(self) -> str:
        """Whose digest, for a message: "the head's digest for oakfield, week 2026-W47"."""
        whose = {"head": "the head's digest", "dsl": "the DSL's summary",
                 "trust": "the trust's roll-up"}[self.kind]
        where = f" for {self.school_id}" if self.school_id else ""
        return f"{whose}{where}, week {self.week}"


def school_week(config: Config, kind: str, school_id: str | None,
                week: SchoolWeek | str) -> SchoolWeek:
    """The week as the school (or the trust) lives it, in its own timezone."""
    label = week.label if isinstance(week, SchoolWeek) else week
    return weeks.week_of(label, timezone_of(config, kind, school_id))


def recipients(config: Config, kind: str, school_id: str | None) -> list[rules.Destination]:
    """Where a digest of this kind goes: the school's head or DSL recipients, or the trust's."""
    if kind == "trust":
        trust = config.trust
        found: dict[str, None] = {}
        for recipient in (trust.recipients if trust else ()):
            found.update(dict.fromkeys(recipient.urls))
        return [rules.Destination(url, (ROLE["trust"],)) for url in found]
    return rules.destinations(config.school(school_id), [ROLE[kind]])


def enqueue_digest(session: Session, config: Config, kind: str, school_id: str | None,
                   week: SchoolWeek | str, *, now: datetime, again: bool = False,
                   short: bool = False) -> Enqueued:
    """Render one digest and queue it for its recipients, in the caller's transaction, unless
    one is queued for its key already (`Enqueued.status` says which). With `again`, a digest
    already queued is queued once more under a key of its own (`…:again:2`, `…:again:3`); one
    never queued is simply queued.
    `short` is the holiday week's digest: only what needed action.

    Raises ValueError (one line) for a kind that is not head, dsl or trust, a school not in the
    config, or a school where none goes (the trust's roll-up), or a trust the config lacks."""
    _check(config, kind, school_id)
    the_week = school_week(config, kind, school_id, week)
    base = dedupe_key(kind, school_id, the_week.label)
    targets = recipients(config, kind, school_id)
    if not targets:
        return _result(kind, school_id, the_week, base, "no_recipient",
                       reason=_no_recipient(kind, school_id))
    exists = _exists(session, base)
    if exists and not again:
        return _result(kind, school_id, the_week, base, "exists",
                       reason=f"it was queued already ({base}); --again sends another")
    rendered = build.build_digest(session, config, kind, school_id, the_week, now=now,
                                  short=short)
    key = _again_key(session, base) if exists else base
    for _ in range(3):  # with --again, another sender may take the same number first
        alert = _store(session, key, kind, school_id, the_week, rendered, targets, now)
        if alert is not None:
            return Enqueued(kind, school_id, the_week.label, key, "queued", alert, "",
                            tuple(t.destination for t in targets))
        if not again:
            break
        key = _again_key(session, base)
    return _result(kind, school_id, the_week, key, "exists",
                   reason=f"{key} was queued by another process meanwhile")


def digests_due(session: Session, config: Config, now: datetime, *,
                settled: Collection[str] = ()) -> list[Enqueued]:
    """Queue every digest due by `now` that is not queued yet, in the caller's transaction:
    each school's head digest and DSL summary, and the trust's roll-up (see the module's
    docstring for when each goes and what a holiday week changes).

    Returns what it decided about each digest it looked at: queued, or why not. A digest
    already queued is not reported (that is every run after the first of a week), nor is one
    whose key is in `settled` (the caller's memory of digests decided before: a holiday week
    is then not counted again every few minutes). Cheap when nothing is due: the schedules
    are compared with `now`, then one query finds the keys already queued; only a digest
    that is due and missing is built."""
    due = [(kind, school_id, week) for kind, school_id, week in _scheduled(config, now)
           if dedupe_key(kind, school_id, week.label) not in settled]
    if not due:
        return []
    keys = [dedupe_key(kind, school_id, week.label) for kind, school_id, week in due]
    queued = set(session.scalars(select(models.Alert.dedupe_key)
                                 .where(models.Alert.dedupe_key.in_(keys))))
    done = []
    for (kind, school_id, week), key in zip(due, keys, strict=True):
        if key in queued:
            continue
        try:
            done.append(_send_due(session, config, kind, school_id, week, now))
        except SQLAlchemyError:
            raise  # the database's fault, not this digest's: the daemon deals with it
        except Exception as error:  # one school's broken digest must not stop the others'
            log.exception("could not make %s", key)
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:200]
            done.append(_result(kind, school_id, week, key, "failed", reason=reason))
    return done


# --- when ---------------------------------------------------------------------------------------

def _scheduled(config: Config, now: datetime) -> list[tuple[str, str | None, SchoolWeek]]:
    """The digests whose time has come in the week containing `now`, with the week each covers."""
    due: list[tuple[str, str | None, SchoolWeek]] = []
    for school in config.schools:
        week = due_week_of(school.digest, config.school_timezone(school), now)
        if week is not None:
            due += [("head", school.id, week), ("dsl", school.id, week)]
    trust = config.trust
    if trust is not None:
        week = due_week_of(trust.digest, timezone_of(config, "trust", None), now)
        if week is not None:
            due.append(("trust", None, week))
    return due


def due_week_of(schedule, tz: str, now: datetime) -> SchoolWeek | None:
    if schedule is None:
        schedule = weeks.DefaultSchedule()
    elif not getattr(schedule, "enabled", True):
        return None
    return weeks.due_week(now, schedule, tz)


def timezone_of(config: Config, kind: str, school_id: str | None) -> str:
    """The timezone a digest's week and schedule are read in: the school's, or the trust's."""
    if kind == "trust":
        trust = config.trust
        return (trust.timezone if trust else None) or config.daemon.timezone
    return config.school_timezone(config.school(school_id))


# --- what a holiday week changes ----------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What the schedule sends for one digest's week: whether one is needed at all (a holiday
    week may need none), whether it is the short one, and a note saying why, for people
    (empty for an ordinary week)."""

    needed: bool = True
    short: bool = False
    note: str = ""


def plan(session: Session, config: Config, kind: str, school_id: str | None,
         week: SchoolWeek | str, *, now: datetime | None = None) -> Plan:
    """What a holiday week changes for this digest (see the module's docstring); the same
    answer for the schedule and for `hallmonitor digest preview/send`. (`now` is accepted as
    `enqueue_digest` takes it; nothing here depends on it.)"""
    the_week = school_week(config, kind, school_id, week)
    if kind == "trust" or not is_holiday(config, school_id, the_week):
        return Plan()
    if kind == "head":
        if _flagged(session, school_id, the_week) == 0:
            return Plan(needed=False, note="a holiday week with nothing flagged: the "
                        "schedule sends no digest for it")
        return Plan(short=True, note="a holiday week: the short digest, with only what "
                    "needed action")
    if not content.dsl_summary(session, config, school_id, the_week.start,
                               the_week.end).incidents:
        return Plan(needed=False, note="a holiday week with no safeguarding or threat "
                    "incident: the schedule sends no summary for it")
    return Plan()


def _send_due(session: Session, config: Config, kind: str, school_id: str | None,
              week: SchoolWeek, now: datetime) -> Enqueued:
    key = dedupe_key(kind, school_id, week.label)
    if not recipients(config, kind, school_id):
        return _result(kind, school_id, week, key, "no_recipient",
                       reason=_no_recipient(kind, school_id))
    planned = plan(session, config, kind, school_id, week, now=now)
    if not planned.needed:
        return _result(kind, school_id, week, key, "not_needed", reason=planned.note)
    return enqueue_digest(session, config, kind, school_id, week, now=now,
                          short=planned.short)


def is_holiday(config: Config, school_id: str, week: SchoolWeek) -> bool:
    """Whether the school is closed all of `week`; a term calendar that cannot be read is
    logged and the week taken as term time."""
    try:
        return build.in_holiday(config, school_id, week)
    except HolidayError as error:
        # Better a digest in a holiday than none in term time.
        log.warning("%s: %s; sending its digest as in term time", school_id, error)
        return False


def _flagged(session: Session, school_id: str, week: SchoolWeek) -> int:
    """Items of normal severity and above in the week, counted as the digest counts them (one
    grouped query): only asked in a holiday week."""
    own = content.OwnAccounts.of(session, school_id)
    return content.week_counts(session, school_id, week.start, week.end, own)[2]


# --- storing ------------------------------------------------------------------------------------

def _store(session: Session, key: str, kind: str, school_id: str | None, week: SchoolWeek,
           rendered: build.RenderedDigest, targets: list[rules.Destination],
           now: datetime) -> models.Alert | None:
    """The digest's alert and its deliveries (see `store_report`). Due at once, quiet hours or
    not: the schedule is the time its readers chose."""
    alert = models.Alert(
        dedupe_key=key, school_id=school_id, kind=DIGEST_KIND, severity=SEVERITY,
        categories=[], title=rendered.title, body=rendered.text, created_at=now,
        details=report_details(kind, week.label, rendered.html, rendered.markdown,
                               rendered.attachments))
    return store_report(session, alert, targets, now)


def report_details(kind: str, week_label: str, html: str, markdown: str,
                   attachments: Sequence[Attachment] = ()) -> dict:
    """How a report (a digest, IT's follower report) is kept in its alert, rendered once, so
    that a retry sends the same one: `notify.digest_body` reads it back."""
    return {"digest": {"kind": kind, "week": week_label, "html": html, "markdown": markdown,
                       "attachments": [a.stored() for a in attachments]}}


def store_report(session: Session, alert: models.Alert, targets: Iterable[rules.Destination],
                 now: datetime) -> models.Alert | None:
    """A report's alert and its deliveries, in one savepoint; None when its key was taken
    meanwhile (by another daemon, between our look and our insert)."""
    try:
        # Everything in the savepoint: on SQLite it may be the transaction itself.
        with session.begin_nested():
            session.add(alert)
            session.flush()
            session.add_all(models.Delivery(alert_id=alert.id, destination=t.destination,
                                            roles=list(t.roles), next_attempt_at=now)
                            for t in targets)
    except IntegrityError:
        if not _exists(session, alert.dedupe_key):
            raise  # not the key: something else is wrong, and must be seen
        return None
    return alert


def _exists(session: Session, key: str) -> bool:
    return session.scalar(select(models.Alert.id).where(models.Alert.dedupe_key == key)
                          .limit(1)) is not None


def _again_key(session: Session, base: str) -> str:
    """The next free "…:again:N" key (N from 2: the first send was the first)."""
    prefix = base + AGAIN
    taken = session.scalars(select(models.Alert.dedupe_key)
                            .where(models.Alert.dedupe_key.startswith(prefix, autoescape=True)))
    numbers = [int(k[len(prefix):]) for k in taken if k[len(prefix):].isdigit()]
    return f"{prefix}{max(numbers, default=1) + 1}"


def _check(config: Config, kind: str, school_id: str | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown digest {kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "trust":
        if school_id is not None:
            raise ValueError("the trust's roll-up covers every school: give no school")
        if config.trust is None:
            raise ValueError("the config has no [trust] table, so there is no trust roll-up")
    elif school_id is None:
        raise ValueError(f"the {kind} digest is a school's: give a school")
    elif config.find_school(school_id) is None:
        raise ValueError(f"no school {school_id!r} in the config")


def _no_recipient(kind: str, school_id: str | None) -> str:
    if kind == "trust":
        return "the [trust] table has no recipients"
    return f"{school_id} has no {ROLE[kind]} recipient in the config"


def _result(kind: str, school_id: str | None, week: SchoolWeek, key: str, status: Status, *,
            reason: str) -> Enqueued:
    return Enqueued(kind, school_id, week.label, key, status, reason=reason)
