"""The demo's weekly digest. The demo replays one recorded week (16 to 22 November 2026) in under
a minute, so the daemon's schedule, which sends last week's digest on Monday morning, would find
nothing in the week it covers. Once the replayed week has all arrived, the head's digest and the
DSL's summary for that week are queued instead, like any digest (once: a restarted demo finds
them queued already), and printed to the terminal with the other alerts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor import models
from monitor.config import Config
from monitor.digest import send, weeks

log = logging.getLogger(__name__)

# The replay has finished when nothing new has arrived for this long (its files are released a
# few seconds apart).
SETTLED_AFTER = 12.0
CHECK_EVERY = 2.0


def week_of_newest(session: Session, config: Config, school_id: str) -> weeks.SchoolWeek | None:
    """The week of the school's newest comment: the demo's recorded week."""
    newest = session.scalar(select(func.max(models.Item.created_at))
                            .where(models.Item.school_id == school_id))
    if newest is None:
        return None
    if newest.tzinfo is None:  # SQLite gives naive datetimes back; they are UTC
        newest = newest.replace(tzinfo=UTC)
    return weeks.week_of(newest, config.school_timezone(config.school(school_id)))


def queue_demo_digests(session: Session, config: Config, now: datetime) -> list[send.Enqueued]:
    """Queue each school's head digest and DSL summary for the week its comments are in."""
    queued = []
    for school in config.schools:
        week = week_of_newest(session, config, school.id)
        if week is None:
            continue
        for kind in ("head", "dsl"):
            queued.append(send.enqueue_digest(session, config, kind, school.id, week, now=now))
    return queued


def queue_when_settled(config: Config, sessions: sessionmaker[Session],
                       stop: threading.Event, *, tell: Callable[[str], None],
                       settled_after: float = SETTLED_AFTER,
                       check_every: float = CHECK_EVERY) -> None:
    """Wait (until `stop`) for the replay to finish, then queue the demo week's digests and
    `tell` the person running the demo where to read them. Meant for a thread of its own."""
    last_count, quiet = -1, 0.0
    while not stop.wait(check_every):
        try:
            with sessions() as session:
                count = session.scalar(select(func.count(models.Item.id))) or 0
        except Exception:  # the daemon reports database faults; try again on the next tick
            log.debug("demo digest: could not count items yet", exc_info=True)
            continue
        quiet = quiet + check_every if count == last_count and count else 0.0
        last_count = count
        if quiet < settled_after:
            continue
        with sessions.begin() as session:
            queued = queue_demo_digests(session, config, datetime.now(UTC))
        for result in queued:
            if result:
                tell(f"Queued {result.who}. Preview it as a web page with:\n"
                     f"  hallmonitor digest preview --demo --kind {result.kind} "
                     f"--week {result.week} --out digest-{result.kind}.html")
        return
