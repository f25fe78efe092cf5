"""The one way a digest is made, for the sender, the command line and the console alike: its
content read from the database, then rendered as it is sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from monitor.config import Config
from monitor.digest import content, holidays, render, weeks
from monitor.digest.render import RenderedDigest
from monitor.digest.weeks import SchoolWeek

# The weeks a digest's volumes and phrases are compared with.
EARLIER_WEEKS = 4


def build_digest(session: Session, config: Config, kind: str, school_id: str | None,
                 week: SchoolWeek | str, *, now: datetime | None = None,
                 short: bool = False) -> RenderedDigest:
    """The digest of `kind` ("head", "dsl" or "trust") for a school's week (a SchoolWeek, or a
    label such as "2026-W47" read in the school's timezone); a trust's roll-up has no school.
    Raises ValueError, in one line, for an unknown kind, school or week."""
    if kind not in render.KINDS:
        raise ValueError(f"{kind!r} is not a kind of digest ({', '.join(render.KINDS)})")
    if kind == "trust":
        return _trust(session, config, week, now)
    if not school_id:
        raise ValueError(f"a {kind} digest is for one school: give its id")
    school = config.find_school(school_id)
    if school is None:
        raise ValueError(f"school {school_id!r} is not in the config")
    if isinstance(week, str):
        week = weeks.week_of(week, config.school_timezone(school))
    if kind == "dsl":
        summary = content.dsl_summary(session, config, school_id, week.start, week.end)
        return render.render_dsl(summary, config, week)
    earlier = [(w.start, w.end) for w in weeks.earlier_weeks(week, EARLIER_WEEKS)]
    digest = content.head_digest(session, config, school_id, week.start, week.end, earlier,
                                 now=now)
    return render.render_head(digest, config, week, short=short)


def _trust(session: Session, config: Config, week: SchoolWeek | str,
           now: datetime | None) -> RenderedDigest:
    from monitor.digest import trust

    label = week if isinstance(week, str) else week.label
    weeks.parse_week(label)  # a bad label is named here, in one line
    rollup = trust.trust_rollup(session, config, label, now=now)
    return render.render_trust(rollup, config, label)


def in_holiday(config: Config, school_id: str, week: SchoolWeek) -> bool:
    """Whether the school is closed all of `week`, by its term dates or term calendar (a
    calendar that cannot be read raises holidays.HolidayError, in one line)."""
    return holidays.is_holiday_week(week, config.school(school_id))
