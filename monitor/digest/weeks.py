"""School weeks: Monday 00:00 to the next Monday 00:00 in the school's timezone, named by ISO
week ("2026-W47"), and when the digest covering a week is due.

A week is bounded in local time, so the week in which the clocks go forward is 167 hours long and
the one in which they go back is 169; its `start` and `end` are aware UTC datetimes, ready to
compare with the UTC times stored in the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_DAY = "monday"
DEFAULT_TIME = time(7, 30)
DEFAULT_TIMEZONE = "Europe/London"

_LABEL = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


class Schedule(Protocol):
    """When a digest goes out: a weekday name ("monday") and a local time of day."""

    @property
    def day(self) -> str: ...

    @property
    def time(self) -> time: ...


@dataclass(frozen=True)
class DefaultSchedule:
    day: str = DEFAULT_DAY
    time: time = DEFAULT_TIME


@dataclass(frozen=True)
class SchoolWeek:
    """One ISO week as a school lives it, in its timezone."""

    iso_year: int
    iso_week: int
    timezone: str
    label: str
    first_day: date  # the Monday
    last_day: date  # the Sunday
    start: datetime  # Monday 00:00 local, in UTC
    end: datetime  # the next Monday 00:00 local, in UTC (exclusive)

    @classmethod
    def of(cls, iso_year: int, iso_week: int, tz: str | ZoneInfo = DEFAULT_TIMEZONE) -> SchoolWeek:
        zone = _zone(tz)
        monday = _monday(iso_year, iso_week)
        return cls(
            iso_year=iso_year,
            iso_week=iso_week,
            timezone=zone.key,
            label=f"{iso_year}-W{iso_week:02d}",
            first_day=monday,
            last_day=monday + timedelta(days=6),
            start=_local_midnight(monday, zone),
            end=_local_midnight(monday + timedelta(days=7), zone),
        )

    @property
    def days(self) -> list[date]:
        """Monday to Sunday."""
        return [self.first_day + timedelta(days=n) for n in range(7)]

    @property
    def weekdays(self) -> list[date]:
        """Monday to Friday: the days a school may be open."""
        return self.days[:5]

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def shifted(self, weeks: int) -> SchoolWeek:
        """The week `weeks` later (earlier when negative), in the same timezone."""
        return week_of(self.first_day + timedelta(weeks=weeks), self.timezone)

    def __str__(self) -> str:
        return self.label


def parse_week(label: str) -> tuple[int, int]:
    """(ISO year, ISO week) from "2026-W47" (also "2026W47", "2026-w47")."""
    match = _LABEL.match(label) if isinstance(label, str) else None
    if not match:
        raise ValueError(f"{label!r} is not a week such as \"2026-W47\" (ISO year, W, week number)")
    year, week = int(match.group(1)), int(match.group(2))
    _monday(year, week)
    return year, week


def week_of(label_or_date: str | date | datetime, tz: str | ZoneInfo = DEFAULT_TIMEZONE
            ) -> SchoolWeek:
    """The school week named by a label ("2026-W47"), or containing a date or an aware moment
    (a moment counts in the school's timezone: Sunday 23:30 UTC in summer is already Monday)."""
    zone = _zone(tz)
    if isinstance(label_or_date, str):
        return SchoolWeek.of(*parse_week(label_or_date), zone)
    if isinstance(label_or_date, datetime):
        if label_or_date.tzinfo is None:
            raise ValueError("a moment without a timezone is ambiguous: give an aware datetime")
        day = label_or_date.astimezone(zone).date()
    elif isinstance(label_or_date, date):
        day = label_or_date
    else:
        raise ValueError(f"expected a week label, a date or a datetime, not {label_or_date!r}")
    iso = day.isocalendar()
    return SchoolWeek.of(iso.year, iso.week, zone)


def previous_week(now: datetime, tz: str | ZoneInfo = DEFAULT_TIMEZONE) -> SchoolWeek:
    """The school week before the one containing `now`: the one a digest sent now covers."""
    return week_of(now, tz).shifted(-1)


def earlier_weeks(week: SchoolWeek, n: int = 4) -> list[SchoolWeek]:
    """The `n` weeks before `week`, oldest first (the baseline a week is compared with)."""
    if n < 0:
        raise ValueError("n must not be negative")
    return [week.shifted(-k) for k in range(n, 0, -1)]


def due_at(week_after: SchoolWeek, schedule: Schedule | None = None,
           tz: str | ZoneInfo | None = None) -> datetime:
    """When the digest covering the week before `week_after` is due: the schedule's weekday and
    local time within `week_after`, as an aware UTC datetime. A time that does not exist because
    the clocks went forward counts as the same wall-clock time before the change."""
    schedule = schedule or DefaultSchedule()
    zone = _zone(tz or week_after.timezone)
    day = week_after.first_day + timedelta(days=_weekday_index(schedule.day))
    local = datetime.combine(day, schedule.time, tzinfo=zone)
    return local.astimezone(UTC)


def due_week(now: datetime, schedule: Schedule | None = None,
             tz: str | ZoneInfo = DEFAULT_TIMEZONE) -> SchoolWeek | None:
    """The week whose digest is due by `now` (the previous school week), or None before this
    week's scheduled time. Sending it more than once is prevented by the outbox, not here."""
    if now.tzinfo is None:
        raise ValueError("a moment without a timezone is ambiguous: give an aware datetime")
    this_week = week_of(now, tz)
    if now < due_at(this_week, schedule, tz):
        return None
    return this_week.shifted(-1)


def is_due(now: datetime, schedule: Schedule | None = None,
           tz: str | ZoneInfo = DEFAULT_TIMEZONE) -> bool:
    """Whether the digest covering the previous school week is due by `now`."""
    return due_week(now, schedule, tz) is not None


def _weekday_index(name: str) -> int:
    try:
        return WEEKDAYS.index(name.strip().lower())
    except (ValueError, AttributeError):
        raise ValueError(f"{name!r} is not a day of the week (monday..sunday)") from None


def _monday(iso_year: int, iso_week: int) -> date:
    try:
        return date.fromisocalendar(iso_year, iso_week, 1)
    except ValueError:
        if 1 <= iso_year <= 9999 and iso_week == 53:
            raise ValueError(f"{iso_year} has only 52 ISO weeks, so there is no "
                             f"{iso_year}-W53") from None
        raise ValueError(f"{iso_year}-W{iso_week:02d} is not a week: ISO weeks run from W01 to "
                         "W52 or W53") from None


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # Midnight exists in every zone we serve (UK clocks change at 01:00 and 02:00).
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
