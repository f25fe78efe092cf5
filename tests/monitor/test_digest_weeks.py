from datetime import UTC, date, datetime, time, timedelta

import pytest

from monitor.config import ConfigError, DigestSchedule, parse
from monitor.digest.weeks import (
    due_at,
    due_week,
    earlier_weeks,
    is_due,
    parse_week,
    previous_week,
    week_of,
)

LONDON = "Europe/London"


def test_a_week_runs_monday_to_monday_in_the_schools_timezone():
    week = week_of("2026-W47", LONDON)
    assert (week.iso_year, week.iso_week, week.label) == (2026, 47, "2026-W47")
    assert (week.first_day, week.last_day) == (date(2026, 11, 16), date(2026, 11, 22))
    # November is GMT: local midnight is UTC midnight.
    assert week.start == datetime(2026, 11, 16, tzinfo=UTC)
    assert week.end == datetime(2026, 11, 23, tzinfo=UTC)
    assert week.weekdays == [date(2026, 11, 16) + timedelta(days=n) for n in range(5)]


def test_a_summer_week_starts_at_midnight_british_summer_time():
    week = week_of("2026-W27", LONDON)
    assert week.start == datetime(2026, 6, 28, 23, tzinfo=UTC)
    assert week.end - week.start == timedelta(hours=168)


def test_the_week_the_clocks_go_forward_is_167_hours():
    # The clocks go forward at 01:00 on Sunday 29 March 2026.
    week = week_of(date(2026, 3, 29), LONDON)
    assert week.label == "2026-W13"
    assert week.start == datetime(2026, 3, 23, 0, tzinfo=UTC)
    assert week.end == datetime(2026, 3, 29, 23, tzinfo=UTC)
    assert week.end - week.start == timedelta(hours=167)
    # Sunday 23:30 UTC after the change is already Monday in London: the next week.
    assert not week.contains(datetime(2026, 3, 29, 23, 30, tzinfo=UTC))
    assert week_of(datetime(2026, 3, 29, 23, 30, tzinfo=UTC), LONDON).label == "2026-W14"
    assert week.contains(datetime(2026, 3, 29, 22, 59, tzinfo=UTC))


def test_the_week_the_clocks_go_back_is_169_hours():
    # The clocks go back at 02:00 BST on Sunday 25 October 2026.
    week = week_of(date(2026, 10, 25), LONDON)
    assert week.label == "2026-W43"
    assert week.start == datetime(2026, 10, 18, 23, tzinfo=UTC)
    assert week.end == datetime(2026, 10, 26, 0, tzinfo=UTC)
    assert week.end - week.start == timedelta(hours=169)
    assert week.shifted(1).start == week.end


def test_weeks_follow_the_schools_own_timezone():
    moment = datetime(2026, 11, 22, 20, tzinfo=UTC)  # Sunday evening in London
    assert week_of(moment, LONDON).label == "2026-W47"
    # Already Monday morning in Sydney.
    assert week_of(moment, "Australia/Sydney").label == "2026-W48"
    assert week_of("2026-W48", "Australia/Sydney").start == datetime(2026, 11, 22, 13, tzinfo=UTC)


def test_a_year_with_53_iso_weeks_has_a_w53_that_crosses_new_year():
    week = week_of("2026-W53", LONDON)
    assert (week.first_day, week.last_day) == (date(2026, 12, 28), date(2027, 1, 3))
    assert week_of(date(2027, 1, 1), LONDON) == week
    assert week.shifted(1).label == "2027-W01"
    assert week_of("2027-W01", LONDON).shifted(-1).label == "2026-W53"
    # 2 January 2021 belongs to the last week of 2020.
    assert week_of(date(2021, 1, 2), LONDON).label == "2020-W53"


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("2025-W53", "2025 has only 52 ISO weeks, so there is no 2025-W53"),
        ("2026-W00", "2026-W00 is not a week: ISO weeks run from W01 to W52 or W53"),
        ("2026-W54", "2026-W54 is not a week"),
        ("last week", "'last week' is not a week such as \"2026-W47\""),
        ("2026-47", "'2026-47' is not a week such as \"2026-W47\""),
        ("", "'' is not a week such as \"2026-W47\""),
    ],
)
def test_a_bad_week_label_is_refused_with_a_clear_message(label, message):
    with pytest.raises(ValueError) as error:
        parse_week(label)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_week_labels_are_read_leniently_and_written_the_iso_way():
    assert parse_week("2026-W47") == (2026, 47)
    assert parse_week("2026w05") == (2026, 5)
    assert week_of(" 2026-w5 ", LONDON).label == "2026-W05"


def test_a_moment_without_a_timezone_is_refused():
    with pytest.raises(ValueError, match="without a timezone"):
        week_of(datetime(2026, 11, 16, 9), LONDON)


def test_the_previous_week_is_the_one_before_now():
    now = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
    assert previous_week(now, LONDON).label == "2026-W47"
    # Monday 00:30 BST is still Sunday in UTC; the previous week is the one that just ended.
    now = datetime(2026, 3, 29, 23, 30, tzinfo=UTC)
    assert previous_week(now, LONDON).label == "2026-W13"


def test_the_four_earlier_weeks_come_oldest_first():
    weeks = earlier_weeks(week_of("2027-W02", LONDON))
    assert [w.label for w in weeks] == ["2026-W51", "2026-W52", "2026-W53", "2027-W01"]
    assert earlier_weeks(week_of("2027-W02", LONDON), n=0) == []


def test_the_digest_is_due_monday_0730_london_time_by_default():
    # Monday 16 November 2026 is GMT, 7:30 local is 7:30 UTC.
    week_after = week_of("2026-W47", LONDON)
    assert due_at(week_after) == datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
    assert not is_due(datetime(2026, 11, 16, 7, 29, tzinfo=UTC), None, LONDON)
    assert is_due(datetime(2026, 11, 16, 7, 30, tzinfo=UTC), None, LONDON)
    assert due_week(datetime(2026, 11, 16, 7, 30, tzinfo=UTC), None, LONDON).label == "2026-W46"
    assert due_week(datetime(2026, 11, 16, 7, 29, tzinfo=UTC), None, LONDON) is None


def test_the_due_time_is_the_schools_local_time_in_summer():
    week_after = week_of("2026-W27", LONDON)
    # 07:30 BST is 06:30 UTC.
    assert due_at(week_after, None, LONDON) == datetime(2026, 6, 29, 6, 30, tzinfo=UTC)
    assert is_due(datetime(2026, 6, 29, 6, 30, tzinfo=UTC), None, LONDON)
    assert not is_due(datetime(2026, 6, 29, 6, 29, tzinfo=UTC), None, LONDON)


def test_a_configured_day_and_time_move_the_due_moment():
    schedule = DigestSchedule(day="friday", time=time(16, 0))
    week_after = week_of("2026-W44", LONDON)  # the week after the clocks went back
    assert due_at(week_after, schedule, LONDON) == datetime(2026, 10, 30, 16, tzinfo=UTC)
    # On the Thursday of that week the digest for the week before last is still the one due.
    assert due_week(datetime(2026, 10, 29, 12, tzinfo=UTC), schedule, LONDON) is None
    assert due_week(datetime(2026, 10, 30, 16, tzinfo=UTC), schedule, LONDON).label == "2026-W43"
    sydney = due_at(week_of("2026-W48", "Australia/Sydney"), schedule)
    assert sydney == datetime(2026, 11, 27, 5, tzinfo=UTC)  # 16:00 AEDT (UTC+11)


SCHOOLS = """
[[schools]]
id = "oakfield"
name = "Oakfield Primary School"
{oakfield}

[[schools.accounts]]
platform = "replay"
account = "1"
kinds = ["comments"]
settings = {{ path = "fb" }}

[[schools]]
id = "riverside"
name = "Riverside Academy"

[[schools.accounts]]
platform = "replay"
account = "2"
kinds = ["comments"]
settings = {{ path = "fb" }}
"""


def load_schools(tmp_path, trust: str = "", oakfield: str = ""):
    text = trust + SCHOOLS.format(oakfield=oakfield)
    return {s.id: s.digest for s in parse(text, path=tmp_path / "config.toml").schools}


def test_the_digest_schedule_defaults_to_monday_0730_enabled(tmp_path):
    digests = load_schools(tmp_path)
    assert digests["oakfield"] == DigestSchedule(day="monday", time=time(7, 30), enabled=True)


def test_schools_inherit_the_trusts_schedule_and_override_it_key_by_key(tmp_path):
    digests = load_schools(tmp_path, trust='[digest]\nday = "Sunday"\ntime = 18:00:00\n',
                           oakfield='digest = { time = "06:45" }')
    assert digests["riverside"] == DigestSchedule(day="sunday", time=time(18, 0))
    assert digests["oakfield"] == DigestSchedule(day="sunday", time=time(6, 45))
    digests = load_schools(tmp_path, trust="[digest]\nenabled = false\n",
                           oakfield="digest = { enabled = true }")
    assert not digests["riverside"].enabled
    assert digests["oakfield"].enabled


@pytest.mark.parametrize(
    ("trust", "oakfield", "expected"),
    [
        ('[digest]\nday = "funday"\n', "",
         "digest.day: 'funday' is not a day of the week (monday, tuesday, ... sunday)"),
        ("", 'digest = { time = "7.30am" }',
         "schools[0].digest.time: '7.30am' is not a time of day such as \"07:30\""),
        ("", 'digest = { time = "24:00" }', "schools[0].digest.time: '24:00' is not a time"),
        ("", 'digest = { enabled = "sometimes" }', "schools[0].digest.enabled:"),
        ("", 'digest = { weekday = "monday" }', "schools[0].digest.weekday: unknown key"),
    ],
)
def test_digest_schedule_mistakes_name_the_key(tmp_path, trust, oakfield, expected):
    with pytest.raises(ConfigError) as error:
        load_schools(tmp_path, trust, oakfield)
    assert any(problem.startswith(expected) for problem in error.value.problems), \
        error.value.problems
