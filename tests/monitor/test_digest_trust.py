"""The trust's weekly roll-up, as data, from a fixed database of three schools
(tests/trust_builder.py describes their week and the four before it)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from monitor.digest import content, trust, weeks
from tests import trust_builder as built_trust
from tests.digest_builder import EARLIER, END, NOW, SCHOOL, START
from tests.trust_builder import ELMWOOD, HARBOUR, WEEK

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def built(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return built_trust.build(tmp_path)


def rollup(built, week: str = WEEK, now=NOW) -> trust.TrustDigest:
    with built.sessions() as session:
        return trust.trust_rollup(session, built.config, week, now=now)


def rows(found: trust.TrustDigest) -> dict[str, trust.SchoolRow]:
    return {row.school_id: row for row in found.schools}


def test_every_school_has_a_row_by_name_with_its_weeks_counts(built):
    found = rollup(built)
    assert [row.school_name for row in found.schools] == [
        "Elmwood Academy", "Harbour International School", "Oakfield Primary School"]
    oakfield = rows(found)[SCHOOL]
    # As in the school's own digest: its Page's replies are not counted.
    assert (oakfield.total, oakfield.average) == (25, 16.0)
    assert oakfield.incidents == {"urgent": 2, "high": 1, "normal": 0}
    # The week's unacknowledged safeguarding concern, and two from earlier weeks not yet resolved.
    assert oakfield.open_incidents == 3
    assert oakfield.unanswered == 2
    assert [(v.name, v.this_week, v.average) for v in oakfield.volumes.platforms] == [
        ("facebook", 20, 11.0), ("x", 5, 5.0)]
    assert ("question", 5, 2.0) in [(v.name, v.this_week, v.average)
                                    for v in oakfield.volumes.categories]


def test_a_rows_counts_agree_with_the_schools_own_digest(built):
    oakfield = rows(rollup(built))[SCHOOL]
    with built.sessions() as session:
        own = content.head_digest(session, built.config, SCHOOL, START, END, EARLIER, now=NOW)
    assert oakfield.total == own.total
    assert oakfield.unanswered == len(own.unanswered)
    assert oakfield.volumes == own.volumes
    assert oakfield.open_incidents == sum(line.still_open for line in own.incidents)


def test_the_schools_needing_attention_come_most_pressing_first_with_reasons(built):
    found = rollup(built)
    # Oakfield's open urgent incidents come before Harbour's open high one, though Harbour has
    # more questions waiting and a jump in volume.
    assert [row.school_id for row in found.needs_attention] == [SCHOOL, HARBOUR]
    oakfield, harbour = found.needs_attention
    assert oakfield.attention == ("2 urgent incidents still open",
                                  "1 high-severity incident still open",
                                  "Instagram source paused", "Facebook source failing")
    assert harbour.attention == ("1 high-severity incident still open",
                                 "4 questions unanswered",
                                 "comments up 200% on the usual week")


def test_a_school_whose_incidents_were_dealt_with_moves_below_one_with_questions_waiting(built):
    from sqlalchemy import update

    from monitor import models

    with built.sessions.begin() as session:
        session.execute(update(models.Incident)
                        .where(models.Incident.school_id == SCHOOL,
                               models.Incident.status != "resolved")
                        .values(status="resolved", outcome="no_action",
                                resolved_at=END - timedelta(hours=1)))
    found = rollup(built)
    assert [row.school_id for row in found.needs_attention] == [HARBOUR, SCHOOL]
    assert found.needs_attention[1].attention == ("Instagram source paused",
                                                  "Facebook source failing")
    assert rows(found)[SCHOOL].open_incidents == 0


def test_a_quiet_school_has_no_reasons_and_is_not_listed_for_attention(built):
    found = rollup(built)
    elmwood = rows(found)[ELMWOOD]
    assert (elmwood.total, elmwood.average, elmwood.open_incidents, elmwood.unanswered) == (
        3, 3.0, 0, 0)
    assert elmwood.incidents == {"urgent": 0, "high": 0, "normal": 0}
    assert elmwood.attention == ()
    assert elmwood not in found.needs_attention
    assert [(v.name, v.this_week, v.average) for v in elmwood.volumes.platforms] == [
        ("facebook", 3, 3.0)]


def test_a_school_in_another_timezone_is_counted_over_its_own_week(built):
    harbour = rows(rollup(built))[HARBOUR]
    # Monday to Monday in New York: its Sunday evening counts, the Sunday evening before (and
    # the complaint opened then) belongs to the week before.
    assert (harbour.total, harbour.average) == (30, 10.0)
    assert harbour.incidents == {"urgent": 0, "high": 1, "normal": 1}
    assert (harbour.open_incidents, harbour.unanswered) == (1, 4)
    # The same school counted over London's week would differ.
    london = weeks.week_of(WEEK, "Europe/London")
    new_york = weeks.week_of(WEEK, "America/New_York")
    assert new_york.start != london.start
    with built.sessions() as session:
        in_london = content.head_digest(session, built.config, HARBOUR, london.start, london.end,
                                        [(w.start, w.end) for w in weeks.earlier_weeks(london)],
                                        now=NOW)
        in_new_york = content.head_digest(
            session, built.config, HARBOUR, new_york.start, new_york.end,
            [(w.start, w.end) for w in weeks.earlier_weeks(new_york)], now=NOW)
    assert (in_london.total, in_new_york.total) == (29, 30)


def test_the_headline_sums_up_the_trust_in_one_sentence(built):
    found = rollup(built)
    assert found.headline == ("3 schools, 58 comments, 5 needed action, "
                              "2 schools need attention")
    assert (found.trust_name, found.week_label) == ("Oak Learning Trust", "2026-W47")
    assert (found.first_day, found.last_day) == (date(2026, 11, 16), date(2026, 11, 22))


def test_a_week_before_anything_happened_is_quiet_everywhere(built):
    found = rollup(built, "2026-W30", now=None)
    assert found.headline == "3 schools, 0 comments, none needed action, no school needs attention"
    assert found.needs_attention == ()
    assert all(row.volumes is None and row.attention == () for row in found.schools)


def test_an_incident_resolved_after_the_week_still_counts_as_open_at_its_end(built):
    from monitor import incidents

    with built.sessions.begin() as session:
        incident = incidents.get(session, built.ids["harbour_abusive"])
        incidents.record_resolution(session, incident, "head@harbour.example",
                                    NOW, "hidden")
    harbour = rows(rollup(built))[HARBOUR]
    assert harbour.open_incidents == 1
    # The week after, it is resolved.
    later = rows(rollup(built, "2026-W48"))[HARBOUR]
    assert later.open_incidents == 0


def test_a_week_that_is_not_a_week_is_refused_in_words(built):
    with pytest.raises(ValueError, match="2026-W60 is not a week"):
        rollup(built, "2026-W60")
