"""The console's database reads, on SQLite and on PostgreSQL: what each viewer's schools let
through, the queue's order, filters and pages, and a fixed number of statements per page
however many rows it shows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from monitor import models
from monitor.web import queries
from monitor.web.queries import QueueFilters
from tests.monitor.conftest import database  # noqa: F401 (the SQLite/PostgreSQL fixture)
from tests.web.conftest import FakeGraph, build_world

NOW = datetime.now(UTC).replace(microsecond=0)
SEVERITY = {"threat": "urgent", "safeguarding": "urgent", "abusive": "high",
            "personal_data": "high", "disparaging": "normal"}
HARM = {"threat": "threat", "safeguarding": "safeguarding", "abusive": "hostility",
        "personal_data": "personal_data", "disparaging": "hostility"}


@pytest.fixture
def world(database, tmp_path, local_server):  # noqa: F811 (uses the imported fixture)
    return build_world(tmp_path, FakeGraph(local_server()))


@contextmanager
def statements(world) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    engine = world.sessions.kw["bind"]
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def add_incidents(world, count: int, *, school: str = "oakfield", items: int = 1,
                  category: str = "abusive", start: int = 0) -> list[int]:
    """`count` incidents of one category, each with `items` items, the later ones newer."""
    ids = []
    with world.sessions.begin() as session:
        source = session.scalars(select(models.Source)
                                 .where(models.Source.school_id == school)).first()
        for n in range(start, start + count):
            at = NOW - timedelta(hours=1) + timedelta(seconds=n)
            incident = models.Incident(
                school_id=school, key=f"bulk:{school}:{n}", severity=SEVERITY[category],
                categories=[category], item_count=items, opened_at=at, last_item_at=at,
                harm=HARM[category])
            session.add(incident)
            session.flush()
            for k in range(items):
                item = models.Item(
                    platform="facebook", external_id=f"bulk_{school}_{n}_{k}",
                    source_id=source.id, school_id=school, kind="comment",
                    author_id=f"author-{n}", author_name=f"Author {n}", text=f"comment {n}/{k}",
                    created_at=at, conversation_id=f"thread-{n}")
                session.add(item)
                session.flush()
                session.add(models.Verdict(item_id=item.id, model_version="test",
                                           categories=[category], severity=SEVERITY[category],
                                           reasons={category: [f"reason {k}"]}, created_at=at))
                session.add(models.IncidentItem(incident_id=incident.id, item_id=item.id))
            ids.append(incident.id)
    return ids


def test_the_queue_is_paged_urgent_first_then_newest(world):
    abusive = add_incidents(world, 70, category="abusive")
    threats = add_incidents(world, 5, category="threat", start=100)
    with world.sessions() as session:
        first = queries.queue(session, ["oakfield"], QueueFilters())
        last = queries.queue(session, ["oakfield"], QueueFilters(page=2))
    everything = [row.id for row in first.rows + last.rows]
    assert first.total == last.total == 75 + 3  # and the world's three Oakfield incidents
    assert (first.pages, len(first.rows), len(last.rows)) == (2, 50, 28)
    urgent = [row.id for row in first.rows if row.severity == "urgent"]
    assert everything[:len(urgent)] == urgent and set(threats) <= set(urgent)
    # Within a severity, the latest activity first.
    high = [row.id for row in first.rows + last.rows if row.id in abusive]
    assert high == sorted(abusive, reverse=True)
    assert first.rows[0].platforms == ("facebook",)
    assert len(set(everything)) == len(everything)


def test_a_page_past_the_end_shows_the_last_page(world):
    add_incidents(world, 60)
    with world.sessions() as session:
        result = queries.queue(session, None, QueueFilters(page=99))
    assert result.page == result.pages == 2


def test_the_queue_costs_the_same_statements_for_one_row_or_fifty(world):
    add_incidents(world, 1, school="riverside", items=3)
    with world.sessions() as session, statements(world) as few:
        assert len(queries.queue(session, ["riverside"], QueueFilters()).rows) == 2
    add_incidents(world, 120, items=2)
    with world.sessions() as session, statements(world) as many:
        assert len(queries.queue(session, None, QueueFilters()).rows) == 50
    assert len(many) == len(few) <= 3


def test_filters_keep_to_the_viewers_schools(world):
    add_incidents(world, 3, school="riverside", category="threat")
    with world.sessions() as session:
        oakfield = queries.queue(session, ["oakfield"], QueueFilters(school="riverside"))
        threats = queries.queue(session, ["oakfield"], QueueFilters(harm="threat"))
        everyone = queries.queue(session, None, QueueFilters(harm="threat"))
    assert oakfield.rows == []
    assert {row.school_id for row in threats.rows} == {"oakfield"}
    assert {row.school_id for row in everyone.rows} == {"oakfield", "riverside"}


def test_category_platform_and_status_filters(world):
    disparaging = add_incidents(world, 2, category="disparaging")
    with world.sessions.begin() as session:
        session.get(models.Incident, disparaging[0]).status = "resolved"
    with world.sessions() as session:
        def ids(**filters) -> set[int]:
            return {row.id for row in queries.queue(session, None, QueueFilters(**filters)).rows}

        assert ids(category="disparaging") == {disparaging[1]}
        assert ids(category="disparaging", status="resolved") == {disparaging[0]}
        assert ids(category="disparaging", status="all") == set(disparaging)
        assert ids(category="media") == set()
        assert ids(platform="x") == set()
        assert disparaging[1] in ids(platform="facebook")
        assert ids(status="acknowledged") == set()


def test_filters_from_a_query_string_ignore_what_they_do_not_know():
    filters = QueueFilters.from_args({"status": "deleted", "category": "nonsense",
                                      "page": "-4", "harm": "threat"})
    assert (filters.status, filters.category, filters.page, filters.harm) == (
        "active", "", 1, "threat")
    assert filters.query_args(page=1) == {"harm": "threat"}
    assert QueueFilters.from_args({"page": "x"}).page == 1


def test_the_incident_view_reads_a_fixed_number_of_statements(world):
    [small] = add_incidents(world, 1, items=2)
    [large] = add_incidents(world, 1, items=40, start=50)
    counts = []
    for incident_id in (small, large):
        with world.sessions() as session, statements(world) as seen:
            view = queries.incident_view(session, incident_id, private_notes=True, now=NOW)
        counts.append(len(seen))
    assert len(view.items) == 40 and view.items[0].reasons == [("abusive", ["reason 0"])]
    assert counts[0] == counts[1]


def test_the_thread_and_the_authors_other_items_stay_in_the_school(world):
    [first] = add_incidents(world, 1, items=1, start=7)
    with world.sessions.begin() as session:
        item = session.scalars(select(models.Item).where(
            models.Item.external_id == "bulk_oakfield_7_0")).one()
        riverside = session.scalars(select(models.Source).where(
            models.Source.school_id == "riverside")).one()
        # Same thread id and author on the other school's source: never shown here.
        for n, school, source in ((1, "oakfield", item.source_id),
                                  (2, "riverside", riverside.id)):
            other = models.Item(platform="facebook", external_id=f"other-{n}",
                                source_id=source, school_id=school, kind="comment",
                                author_id=item.author_id, text=f"other {school}",
                                created_at=item.created_at - timedelta(days=2),
                                conversation_id=item.conversation_id)
            session.add(other)
            session.flush()
            session.add(models.Verdict(item_id=other.id, model_version="t", severity="high",
                                       categories=["abusive"], reasons={}, created_at=NOW))
        old = models.Item(platform="facebook", external_id="old", source_id=item.source_id,
                          school_id="oakfield", kind="comment", author_id=item.author_id,
                          text="too old", created_at=NOW - timedelta(days=45))
        session.add(old)
        session.flush()
        session.add(models.Verdict(item_id=old.id, model_version="t", severity="high",
                                   categories=["abusive"], reasons={}, created_at=NOW))
    with world.sessions() as session:
        view = queries.incident_view(session, first, private_notes=False, now=NOW)
    assert [i.text for i in view.thread] == ["other oakfield"]
    assert [v.item.text for v in view.earlier] == ["other oakfield"]


def test_private_notes_are_left_out_of_the_trail_and_the_audit(world):
    from monitor import incidents

    threat = world.incidents["threat"]
    incidents.acknowledge(world.sessions, threat, "dsl@oakfield.example", via="console")
    incidents.add_note(world.sessions, threat, "dsl@oakfield.example", "called the police")
    with world.sessions() as session:
        shown = queries.trail(session, threat, [], private_notes=False)
        everything = queries.trail(session, threat, [], private_notes=True)
        audit = queries.audit(session, ["oakfield"], 1, private_notes=False)
    assert [a.action for a in shown] == ["acknowledge"]
    assert [a.action for a in everything] == ["acknowledge", "note"]
    assert [row.action.action for row in audit.rows] == ["acknowledge"]


def test_the_audit_trail_is_the_viewers_schools_newest_first(world):
    from monitor import incidents

    incidents.acknowledge(world.sessions, world.incidents["threat"], "a", via="console")
    incidents.acknowledge(world.sessions, world.incidents["riverside"], "b", via="console")
    with world.sessions.begin() as session:
        session.add(models.Action(item_id=world.items["pile_on_0"], action="hide", actor="c",
                                  ok=True, result="hidden", created_at=NOW + timedelta(1)))
        session.add(models.Action(action="resume", actor="d", ok=True, result="",
                                  created_at=NOW))
    with world.sessions() as session:
        oakfield = queries.audit(session, ["oakfield"], 1, private_notes=True)
        riverside = queries.audit(session, ["riverside"], 1, private_notes=True)
        everyone = queries.audit(session, None, 1, private_notes=True)
    assert [row.action.actor for row in oakfield.rows] == ["c", "a"]
    assert [row.action.actor for row in riverside.rows] == ["b"]
    assert {row.action.actor for row in everyone.rows} == {"a", "b", "c", "d"}
    assert oakfield.rows[0].school_id == "oakfield"


def test_the_audit_trail_is_paged_by_older_and_newer(world):
    with world.sessions.begin() as session:
        session.add_all(models.Action(incident_id=world.incidents["threat"], action="acknowledge",
                                      actor=f"staff {n}", ok=True, result="",
                                      created_at=NOW + timedelta(seconds=n)) for n in range(60))
    with world.sessions() as session:
        first = queries.audit(session, ["oakfield"], 1, private_notes=True)
        second = queries.audit(session, ["oakfield"], 2, private_notes=True)
    assert (len(first.rows), first.has_older) == (50, True)
    assert (len(second.rows), second.has_older) == (10, False)
    assert first.rows[0].action.actor == "staff 59" and second.rows[-1].action.actor == "staff 0"


def test_staff_accounts_are_the_schools_and_carry_no_hash(world):
    with world.sessions() as session:
        oakfield = queries.staff_users(session, ["oakfield"])
        everyone = queries.staff_users(session, None)
    assert {u.email for u in oakfield} == {"dsl@oakfield.example", "head@oakfield.example",
                                           "champion@oakfield.example", "it@oakfield.example"}
    assert len(everyone) == 6
    assert not any(hasattr(u, "password_hash") for u in everyone)


def test_sources_of_the_viewers_schools_with_their_costs(world):
    with world.sessions() as session:
        oakfield = queries.source_rows(session, ["oakfield"])
        everyone = queries.source_rows(session, None)
    assert oakfield and {row.source.school_id for row in oakfield} == {"oakfield"}
    assert {row.source.school_id for row in everyone} == {"oakfield", "riverside"}
    assert oakfield[0].state == "ok" and oakfield[0].monthly_cost == "free"


def test_readable_reasons_follow_the_categories_and_drop_internal_marks():
    shown = queries.readable_reasons(
        {"abusive": ["useless", "useless", "harmlessphrase lot"], "threat": ["watch his back"],
         "question": ["?"]}, ["abusive", "threat"])
    assert shown == [("threat", ["watch his back"]), ("abusive", ["useless"])]


def done(item_id: int, action: str, ok: bool = True) -> models.Action:
    return models.Action(item_id=item_id, action=action, actor="dsl@oakfield.example", ok=ok)


def test_an_items_state_follows_its_last_successful_hide_or_unhide_and_its_authors_block():
    first = models.Item(id=1, platform="facebook", author_id="p3")
    second = models.Item(id=2, platform="facebook", author_id="p3")
    stranger = models.Item(id=3, platform="facebook", author_id="p9")
    states = queries.item_states([first, second, stranger], [
        done(1, "hide"), done(1, "unhide", ok=False), done(2, "hide"), done(2, "unhide"),
        done(3, "delete", ok=False), done(2, "block")])
    assert states[1] == queries.ItemState(hidden=True, author_blocked=True)
    assert states[2] == queries.ItemState(hidden=False, author_blocked=True)
    assert states[3] == queries.ItemState()  # a failed delete left it where it was
    assert states[1].refusal("hide") == "it is already hidden"
    assert states[1].refusal("unhide") is None
    assert states[2].refusal("unhide") == "it is not hidden"
    assert states[2].refusal("block") == "its author is already blocked"
    gone = queries.ItemState(deleted=True)
    assert [gone.refusal(a) for a in ("hide", "unhide", "delete", "block")] == [
        "it has already been deleted"] * 3 + [None]
    assert gone.words == ("Deleted",) and states[1].words == ("Hidden", "Author blocked")


def test_an_item_is_known_blocked_from_a_block_on_another_item_by_its_author(world):
    [incident] = add_incidents(world, 1, items=1)
    with world.sessions.begin() as session:
        first = session.scalars(select(models.Item)
                                .join(models.IncidentItem,
                                      models.IncidentItem.item_id == models.Item.id)
                                .where(models.IncidentItem.incident_id == incident)).one()
        later = models.Item(platform="facebook", external_id="again", source_id=first.source_id,
                            school_id="oakfield", kind="comment", author_id=first.author_id,
                            text="again", created_at=NOW)
        session.add(later)
        session.flush()
        session.add_all([done(first.id, "block"), done(first.id, "hide")])
        first_id, later_id = first.id, later.id
    with world.sessions() as session:
        assert queries.item_state(session, session.get(models.Item, later_id)) == \
            queries.ItemState(author_blocked=True)
        assert queries.item_state(session, session.get(models.Item, first_id)) == \
            queries.ItemState(hidden=True, author_blocked=True)
