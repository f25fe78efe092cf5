import os
import textwrap
from datetime import date

import pytest

from monitor.config import ConfigError, parse
from monitor.digest.holidays import HolidayError, is_holiday_week, parse_calendar
from monitor.digest.weeks import week_of

CONFIG = """
[[schools]]
id = "oakfield"
name = "Oakfield Primary School"
{school}

[[schools.accounts]]
platform = "replay"
account = "1"
kinds = ["comments"]
settings = {{ path = "fb" }}
"""

RANGES = """term_dates = [
    { start = 2026-09-03, end = 2026-10-23, name = "Autumn 1" },
    { start = 2026-11-02, end = 2026-12-18, name = "Autumn 2" },
]"""


def school(tmp_path, lines: str = ""):
    return parse(CONFIG.format(school=lines), path=tmp_path / "config.toml").schools[0]


def ics(*events: str) -> str:
    """An iCalendar file with the given VEVENT bodies, CRLF line ends as RFC 5545 writes."""
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Oakfield Primary//Term dates//EN"]
    for n, event in enumerate(events):
        body += ["BEGIN:VEVENT", f"UID:term-{n}@oakfield.example", "DTSTAMP:20260701T120000Z",
                 *textwrap.dedent(event).strip().splitlines(), "END:VEVENT"]
    return "\r\n".join([*body, "END:VCALENDAR", ""])


def calendar_school(tmp_path, text: str, name: str = "terms.ics"):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return school(tmp_path, f'term_calendar = "{name}"')


def holiday_weeks(settings, labels: list[str]) -> list[str]:
    return [label for label in labels if is_holiday_week(week_of(label), settings)]


AUTUMN = [f"2026-W{n}" for n in range(35, 54)]


def test_without_term_dates_every_week_is_a_school_week(tmp_path):
    assert holiday_weeks(school(tmp_path), AUTUMN) == []


def test_term_date_ranges_make_half_term_and_christmas_holiday_weeks(tmp_path):
    settings = school(tmp_path, RANGES)
    # W35 is the end of the summer holidays; W36 starts on Thursday 3 September; W44 is half
    # term; W52 and W53 are Christmas (the autumn term ends Friday 18 December, in W51).
    assert holiday_weeks(settings, AUTUMN) == ["2026-W35", "2026-W44", "2026-W52", "2026-W53"]


def test_a_term_calendar_of_all_day_term_events_ends_each_term_the_day_before_dtend(tmp_path):
    settings = calendar_school(tmp_path, ics(
        # DTEND is exclusive: this term's last day is Sunday 25 October, so the half term week
        # starting Monday 26 October has no school day.
        """
        SUMMARY:Autumn term 1
        DTSTART;VALUE=DATE:20260903
        DTEND;VALUE=DATE:20261026
        """,
        """
        SUMMARY:Autumn Term 2
        DTSTART;VALUE=DATE:20261102
        DTEND;VALUE=DATE:20261219
        """,
        # Events that are neither terms nor closures are ignored, however long.
        """
        SUMMARY:Year 6 residential trip
        DTSTART;VALUE=DATE:20261027
        DTEND;VALUE=DATE:20261030
        """,
    ))
    assert holiday_weeks(settings, AUTUMN) == ["2026-W35", "2026-W44", "2026-W52", "2026-W53"]


def test_a_term_calendar_of_holiday_events_closes_only_the_weeks_they_cover(tmp_path):
    settings = calendar_school(tmp_path, ics(
        """
        SUMMARY:October Half Term
        DTSTART;VALUE=DATE:20261026
        DTEND;VALUE=DATE:20261031
        """,
        """
        SUMMARY:Christmas holidays
        DTSTART;VALUE=DATE:20261219
        DTEND;VALUE=DATE:20270104
        """,
        # A single INSET day does not make a holiday week.
        """
        SUMMARY:INSET day - school closed to pupils
        DTSTART;VALUE=DATE:20270104
        """,
        # DTEND exclusive: closed Monday to Thursday, open again on Friday 19 February.
        """
        SUMMARY:February break
        DTSTART;VALUE=DATE:20270215
        DTEND;VALUE=DATE:20270219
        """,
    ))
    labels = [*AUTUMN, "2027-W01", "2027-W07"]
    assert holiday_weeks(settings, labels) == ["2026-W44", "2026-W52", "2026-W53"]


def test_a_calendar_mixing_terms_and_closures_takes_both_into_account(tmp_path):
    settings = calendar_school(tmp_path, ics(
        """
        SUMMARY:Autumn term
        DTSTART;VALUE=DATE:20260903
        DTEND;VALUE=DATE:20261219
        """,
        """
        SUMMARY:Half term
        DTSTART;VALUE=DATE:20261024
        DTEND;VALUE=DATE:20261102
        """,
    ))
    assert holiday_weeks(settings, AUTUMN) == ["2026-W35", "2026-W44", "2026-W52", "2026-W53"]


def test_term_events_with_times_cover_the_days_they_touch(tmp_path):
    settings = calendar_school(tmp_path, ics(
        """
        SUMMARY:Summer 2
        DTSTART;TZID=Europe/London:20270607T083000
        DTEND;TZID=Europe/London:20270723T153000
        """,
        # Ending at midnight does not touch the day it ends on.
        """
        SUMMARY:Summer 1
        DTSTART:20270419T000000
        DTEND:20270524T000000
        """,
    ))
    labels = ["2027-W20", "2027-W21", "2027-W22", "2027-W23", "2027-W29", "2027-W30"]
    # Summer 1 ends on Sunday 23 May: W21 (from Monday 24 May) and W22 are closed.
    assert holiday_weeks(settings, labels) == ["2027-W21", "2027-W22", "2027-W30"]


def test_a_broken_calendar_is_named_in_one_line(tmp_path):
    settings = calendar_school(tmp_path, ics("SUMMARY:Autumn term\nDTSTART;VALUE=DATE:20260903"))
    path = tmp_path / "terms.ics"
    path.write_text("<html>Term dates moved to our new website</html>\n", encoding="utf-8")
    with pytest.raises(HolidayError) as error:
        is_holiday_week(week_of("2026-W44"), settings)
    message = str(error.value)
    assert message.startswith(f"{path}: not a valid iCalendar file (")
    assert "\n" not in message


def test_a_calendar_deleted_after_loading_is_named(tmp_path):
    settings = calendar_school(tmp_path, ics("SUMMARY:Autumn term\nDTSTART;VALUE=DATE:20260903"))
    os.remove(tmp_path / "terms.ics")
    with pytest.raises(HolidayError, match="terms.ics: cannot read the term calendar"):
        is_holiday_week(week_of("2026-W44"), settings)


def test_a_changed_calendar_file_is_read_again(tmp_path):
    settings = calendar_school(tmp_path, ics(
        "SUMMARY:Autumn term\nDTSTART;VALUE=DATE:20260903\nDTEND;VALUE=DATE:20261219"))
    assert not is_holiday_week(week_of("2026-W44"), settings)
    (tmp_path / "terms.ics").write_text(ics(
        "SUMMARY:Autumn term\nDTSTART;VALUE=DATE:20260903\nDTEND;VALUE=DATE:20261219",
        "SUMMARY:Half term\nDTSTART;VALUE=DATE:20261026\nDTEND;VALUE=DATE:20261031"))
    assert is_holiday_week(week_of("2026-W44"), settings)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (["SUMMARY:Sports day\nDTSTART;VALUE=DATE:20270625"],
         "no term or holiday events found"),
        (["SUMMARY:Autumn term\nDTSTART;VALUE=DATE:2026-09"],
         "'Autumn term' has an invalid DTSTART"),
        (["SUMMARY:Autumn term\nDTEND;VALUE=DATE:20261219"], "'Autumn term' has no DTSTART"),
        (["SUMMARY:Spring term\nDTSTART;VALUE=DATE:20270104\nDTEND;VALUE=DATE:20261219"],
         "'Spring term' ends before it starts"),
        (["SUMMARY:Half term\nDTSTART;VALUE=DATE:20261026\nRRULE:FREQ=YEARLY"],
         "'Half term' repeats (RRULE)"),
    ],
)
def test_calendars_that_cannot_be_understood_say_why(events, message):
    with pytest.raises(HolidayError) as error:
        parse_calendar(ics(*events), source="terms.ics")
    assert str(error.value).startswith("terms.ics: ")
    assert message in str(error.value)


def test_a_missing_calendar_is_named_when_the_config_loads(tmp_path):
    with pytest.raises(ConfigError) as error:
        school(tmp_path, 'term_calendar = "calendars/terms.ics"')
    assert error.value.problems == [
        f"schools[0].term_calendar: {tmp_path / 'calendars' / 'terms.ics'}: cannot read the "
        "term calendar (No such file or directory)"]


def test_a_broken_calendar_is_named_when_the_config_loads(tmp_path):
    (tmp_path / "terms.ics").write_text("not a calendar\n")
    with pytest.raises(ConfigError) as error:
        school(tmp_path, 'term_calendar = "terms.ics"')
    assert error.value.problems[0].startswith(
        f"schools[0].term_calendar: {tmp_path / 'terms.ics'}: not a valid iCalendar file")


def test_the_calendar_path_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "terms.ics").write_text(ics("SUMMARY:Autumn term\nDTSTART;VALUE=DATE:20260903"))
    assert school(tmp_path, 'term_calendar = "terms.ics"').term_calendar == tmp_path / "terms.ics"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('term_dates = [{ start = 2026-09-03, end = 2026-07-22 }]',
         "schools[0].term_dates[0]: end 2026-07-22 is before start 2026-09-03"),
        ('term_dates = [{ start = 2026-09-03 }]', "schools[0].term_dates[0].end: required key"),
        ('term_dates = [{ start = "September", end = 2026-10-23 }]',
         "schools[0].term_dates[0].start:"),
        ('term_dates = [{ start = 2026-09-03, end = 2026-10-23, ends = 2026-10-23 }]',
         "schools[0].term_dates[0].ends: unknown key"),
        (f'term_calendar = "terms.ics"\n{RANGES}',
         "schools[0]: give term_dates or term_calendar, not both"),
    ],
)
def test_term_date_mistakes_name_the_key(tmp_path, lines, expected):
    (tmp_path / "terms.ics").write_text(ics("SUMMARY:Autumn term\nDTSTART;VALUE=DATE:20260903"))
    with pytest.raises(ConfigError) as error:
        school(tmp_path, lines)
    assert any(problem.startswith(expected) for problem in error.value.problems), \
        error.value.problems


def test_term_dates_are_read_as_toml_dates(tmp_path):
    terms = school(tmp_path, RANGES).term_dates
    assert [(t.name, t.start, t.end) for t in terms] == [
        ("Autumn 1", date(2026, 9, 3), date(2026, 10, 23)),
        ("Autumn 2", date(2026, 11, 2), date(2026, 12, 18))]
