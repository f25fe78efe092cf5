"""Term dates and holiday weeks.

A school's terms come from its config, either as date ranges (`term_dates`) or from the iCalendar
file it already publishes (`term_calendar`). A week is a holiday week when none of its weekdays
(Monday to Friday) is a school day; without any term dates every week is a school week.

Schools publish term calendars in two styles, and a file may mix them. The rule, by each event's
summary (case-insensitive, whole words):

- a closure: it mentions a holiday, half term, a break, closed/closure, INSET or a training day
  ("Christmas holidays", "Half Term", "October break", "INSET day");
- a term: otherwise, it names a term ("Autumn term", "Term 2") or a season ("Spring 1", "Summer 2");
- anything else (sports day, a residential trip, parents' evening) is ignored.

A day is a school day when no closure covers it and, if the file has any term events, a term does;
a file of closures only treats every day outside them as term time. All-day events (DATE values)
end the day before their DTEND, as RFC 5545 says; events with times cover the days they touch.
Recurring terms or closures (RRULE) are refused rather than half understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.digest.weeks import SchoolWeek

if TYPE_CHECKING:
    from monitor.config import School

_CLOSURE = re.compile(
    r"\b(holidays?|half[\s-]?term|break|closed|closure|inset|training\s+days?|bank\s+holiday)\b",
    re.IGNORECASE)
_TERM = re.compile(r"\b(terms?|autumn|spring|summer|michaelmas|lent|trinity|semester)\b",
                   re.IGNORECASE)


class HolidayError(Exception):
    """A term calendar that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # inclusive

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass(frozen=True)
class TermCalendar:
    """Terms and closures; with no terms at all, every day outside a closure is term time."""

    terms: tuple[DateRange, ...] = ()
    closures: tuple[DateRange, ...] = ()

    def is_school_day(self, day: date) -> bool:
        if any(day in closure for closure in self.closures):
            return False
        return not self.terms or any(day in term for term in self.terms)

    @property
    def empty(self) -> bool:
        return not self.terms and not self.closures


def is_holiday_week(week: SchoolWeek, school_settings: School) -> bool:
    """Whether the school is closed on every weekday of `week` (raises HolidayError when its
    term calendar cannot be read)."""
    calendar = term_calendar(school_settings)
    if calendar.empty:
        return False
    return not any(calendar.is_school_day(day) for day in week.weekdays)


def term_calendar(school_settings: School) -> TermCalendar:
    """The school's terms, from its config ranges or its iCalendar file."""
    if school_settings.term_calendar is not None:
        return read_calendar(school_settings.term_calendar)
    return TermCalendar(terms=tuple(DateRange(t.start, t.end)
                                    for t in school_settings.term_dates))


def read_calendar(path: Path) -> TermCalendar:
    """Terms and closures from an iCalendar file, re-read only when the file changes."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise HolidayError(f"{path}: cannot read the term calendar "
                           f"({exc.strerror or type(exc).__name__})") from None
    return _read_calendar(path, info.st_mtime_ns, info.st_size)


@lru_cache(maxsize=64)
def _read_calendar(path: Path, mtime_ns: int, size: int) -> TermCalendar:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HolidayError(f"{path}: cannot read the term calendar "
                           f"({exc.strerror or type(exc).__name__})") from None
    return parse_calendar(data, source=str(path))


def parse_calendar(data: bytes | str, *, source: str = "term calendar") -> TermCalendar:
    """Terms and closures from iCalendar text; `source` names it in errors."""
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as exc:  # icalendar raises ValueError, KeyError and friends on bad input
        raise HolidayError(f"{source}: not a valid iCalendar file ({_first_line(exc)})") from None
    terms: list[DateRange] = []
    closures: list[DateRange] = []
    for event in calendar.walk("VEVENT"):
        summary = str(event.get("SUMMARY", "")).strip()
        if _CLOSURE.search(summary):
            kind = closures
        elif _TERM.search(summary):
            kind = terms
        else:
            continue
        if event.get("RRULE") is not None:
            raise HolidayError(f"{source}: {summary!r} repeats (RRULE); list each term or "
                               "holiday as its own event")
        kind.append(_event_days(event, summary, source))
    if not terms and not closures:
        raise HolidayError(f"{source}: no term or holiday events found (expected summaries such "
                           "as \"Autumn term\" or \"Half term\")")
    return TermCalendar(tuple(terms), tuple(closures))


def _event_days(event, summary: str, source: str) -> DateRange:
    start = _decoded(event, "DTSTART", summary, source)
    if start is None:
        raise HolidayError(f"{source}: {summary!r} has no DTSTART")
    end = _decoded(event, "DTEND", summary, source)
    if end is None and event.get("DURATION") is not None:
        try:
            end = start + event.decoded("DURATION")
        except (TypeError, ValueError):
            raise HolidayError(f"{source}: {summary!r} has an invalid DURATION") from None
    first = start.date() if isinstance(start, datetime) else start
    if end is None:
        last = first
    elif isinstance(end, datetime):
        # An event ending at midnight does not touch the day it ends on.
        last = (end - timedelta(microseconds=1)).date() if end != start else end.date()
    else:
        # DTEND of an all-day event is exclusive: the day after the last day (some publishers
        # write DTEND equal to DTSTART for a one-day event).
        last = end - timedelta(days=1) if end != first else first
    if last < first:
        raise HolidayError(f"{source}: {summary!r} ends before it starts")
    return DateRange(first, last)


def _decoded(event, name: str, summary: str, source: str) -> date | None:
    try:
        value = event.decoded(name)
    except KeyError:
        return None
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, date):
        raise HolidayError(f"{source}: {summary!r} has an invalid {name}")
    return value


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
