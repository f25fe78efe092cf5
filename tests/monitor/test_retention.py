"""The retention policy on SQLite and PostgreSQL, with a clock the tests set: each rule at its
boundary, evidence hold, the digest's counts, the evidence chain, batches, dry runs, the
commands and the daemon's job."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor import incidents, models, retention
from monitor.cli import main
from monitor.config import Config, load
from monitor.daemon import Daemon, open_database
from monitor.digest import content
from monitor.evidence import chain
from tests import digest_builder as week
from tests.builders import PAGE_ID, write_config

pytestmark = pytest.mark.usefixtures("database")

SCHOOL = "oakfield"
BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
# The defaults of [retention].
RAW, TEXT, FLAGGED = 30, 30, 365


@dataclass
class World:
    config: Config
    sessions: sessionmaker[Session]
    source_id: int
    serial: int = 0


def make_world(directory: Path, retention_toml: str = "") -> World:
    path = write_config(directory)
    if retention_toml:
        path.write_text(path.read_text(encoding="utf-8") + f"\n[retention]\n{retention_toml}\n",
                        encoding="utf-8")
    config = load(path)
    _, sessions = open_database(config)
    with sessions.begin() as session:
        session.add(models.School(id=SCHOOL, name="Oakfield Primary School"))
        source = models.Source(key=f"{SCHOOL}/facebook/{PAGE_ID}/comments", school_id=SCHOOL,
                               platform="facebook", item_platform="facebook", kind="comments",
                               account=PAGE_ID)
        session.add(source)
        session.flush()
        source_id = source.id
    return World(config, sessions, source_id)


@pytest.fixture
def world(tmp_path) -> World:
    return make_world(tmp_path)


def add_item(world: World, session: Session, text: str, categories: list[str] | None, *,
             created: datetime = BASE, fetched: datetime | None = None,
             author_id: str = "parent-1", handle: str = "jo.parent",
             name: str = "Jo Parent") -> models.Item:
    world.serial += 1
    item = models.Item(platform="facebook", external_id=f"c{world.serial}",
                       source_id=world.source_id, school_id=SCHOOL, kind="comment",
                       author_id=author_id, author_handle=handle, author_name=name, text=text,
                       created_at=created, fetched_at=fetched or created,
                       permalink=f"https://facebook.example/{author_id}/c{world.serial}",
                       conversation_id="post-1",
                       raw={"id": f"c{world.serial}", "message": text, "from": {"id": author_id}})
    session.add(item)
    session.flush()
    if categories is not None:
        session.add(models.Verdict(item_id=item.id, model_version="test", categories=categories,
                                   scores={c: 0.9 for c in categories},
                                   reasons={c: ["a word"] for c in categories},
                                   severity="high" if categories else None, created_at=created))
        session.flush()
    return item


def add_incident(session: Session, items: list[models.Item], *, status: str = "resolved",
                 resolved: datetime | None = None, key: str = "thread:facebook:post-1:hostility",
                 opened: datetime = BASE) -> models.Incident:
    incident = models.Incident(school_id=SCHOOL, key=key, status=status, severity="high",
                               categories=["abusive"], harm="hostility", item_count=len(items),
                               opened_at=opened, last_item_at=opened, resolved_at=resolved,
                               outcome="hidden" if resolved else None,
                               resolved_by="dsl@oakfield.example" if resolved else None)
    session.add(incident)
    session.flush()
    session.add_all(models.IncidentItem(incident_id=incident.id, item_id=i.id) for i in items)
    session.flush()
    return incident


def add_alert(session: Session, key: str, *, item: models.Item | None = None,
              incident: models.Incident | None = None, kind: str = "item",
              created: datetime = BASE) -> models.Alert:
    words = item.text if item is not None else "the comment again"
    alert = models.Alert(dedupe_key=key, school_id=SCHOOL, kind=kind, severity="high",
                         item_id=item.id if item else None,
                         incident_id=incident.id if incident else None, categories=["abusive"],
                         title="HIGH: abusive on Facebook", body=f"Jo Parent wrote: {words}",
                         details={"item": {"text": words, "author": "Jo Parent"}},
                         created_at=created)
    session.add(alert)
    session.flush()
    return alert


def record_item(session: Session, item: models.Item, incident_id: int | None = None,
                reason: str = "alerted high") -> models.EvidenceRecord:
    """An "item" evidence record, as the evidence contract has it."""
    verdict = item.verdict
    at = item.created_at.isoformat()
    item_content: dict[str, Any] = {
        "reason": reason, "school": SCHOOL, "incident_id": incident_id,
        "item": {"id": item.id, "platform": item.platform, "external_id": item.external_id,
                 "kind": item.kind, "text": item.text,
                 "author": {"id": item.author_id, "handle": item.author_handle,
                            "name": item.author_name},
                 "created_utc": at, "created_local": at, "timezone": "Europe/London",
                 "permalink": item.permalink, "parent_id": item.parent_id,
                 "conversation_id": item.conversation_id,
                 "fetched_utc": item.fetched_at.isoformat()},
        "raw": item.raw,
        "verdict": {"categories": list(verdict.categories), "severity": verdict.severity,
                    "reasons": verdict.reasons, "scores": verdict.scores,
                    "model_version": verdict.model_version, "classified_utc": at}
        if verdict else None}
    return chain.append(session, SCHOOL, "item", item_content, now=item.created_at,
                        incident_id=incident_id, item_id=item.id)


def record_step(session: Session, incident_id: int | None, item_id: int | None, action: str,
                at: datetime) -> models.EvidenceRecord:
    return chain.append(session, SCHOOL, "step", {
        "incident_id": incident_id, "item_id": item_id, "action": action,
        "actor": "dsl@oakfield.example", "at_utc": at.isoformat(), "ok": True,
        "result": "hidden on facebook", "action_id": 1}, now=at, incident_id=incident_id,
        item_id=item_id)


def run(world: World, at: datetime, **kwargs) -> retention.RetentionResult:
    return retention.apply(world.config, world.sessions, now=at, **kwargs)


def item_row(world: World, item_id: int) -> models.Item | None:
    with world.sessions() as session:
        return session.get(models.Item, item_id)


def evidence(world: World) -> dict[int, models.EvidenceRecord]:
    with world.sessions() as session:
        return {r.seq: r for r in session.scalars(select(models.EvidenceRecord)
                                                  .order_by(models.EvidenceRecord.seq))}


def chain_holds(world: World) -> bool:
    with world.sessions() as session:
        return chain.verify_school(session, SCHOOL).broken is None


def removals(world: World) -> list[models.DataRemoval]:
    with world.sessions() as session:
        return list(session.scalars(select(models.DataRemoval).order_by(models.DataRemoval.id)))


def count(world: World, model) -> int:
    with world.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


# --- raw payloads -------------------------------------------------------------------------------

def test_raw_payloads_go_a_day_after_their_period_and_not_a_day_before(world):
    with world.sessions.begin() as session:
        praise = add_item(world, session, "lovely assembly", ["praise"]).id
        later = add_item(world, session, "great concert", ["praise"], created=BASE + 2 * DAY).id

    kept = run(world, BASE + (RAW - 1) * DAY)
    assert kept.raw_payloads == 0 and item_row(world, praise).raw is not None

    gone = run(world, BASE + (RAW + 1) * DAY)
    assert gone.raw_payloads == 1
    assert item_row(world, praise).raw is None
    assert item_row(world, praise).text == "lovely assembly"  # the item itself is kept
    assert item_row(world, later).raw is not None  # fetched two days later: not yet
    # Cleared for good: the next run finds nothing more to do.
    assert run(world, BASE + (RAW + 1) * DAY).removed == 0


# --- unflagged items ----------------------------------------------------------------------------

def test_unflagged_items_lose_their_text_and_author_after_their_period_and_keep_their_row(world):
    with world.sessions.begin() as session:
        plain = add_item(world, session, "see you at pick up", [])
        unjudged = add_item(world, session, "anyone going to the fair?", None,
                            author_id="parent-2", handle="sam", name="Sam Smith")
        # The school's own Page: not a person, and the digest leaves it out by its id.
        own = add_item(world, session, "Please email the office", [], author_id=PAGE_ID,
                       handle="", name="Oakfield Primary")
        flagged = add_item(world, session, "you are all useless", ["abusive"])
        watch = add_alert(session, "watchlist:1:c1", item=plain, kind="watchlist")
        ids = plain.id, unjudged.id, own.id, flagged.id
        watch_id = watch.id

    before = run(world, BASE + (TEXT - 1) * DAY)
    assert before.unflagged_texts == 0
    assert item_row(world, ids[0]).text == "see you at pick up"

    after = run(world, BASE + (TEXT + 1) * DAY)
    assert (after.unflagged_texts, after.alert_copies) == (3, 1)
    with world.sessions() as session:
        rows = {i: session.get(models.Item, i) for i in ids}
        for item_id in ids[:2]:
            row = rows[item_id]
            assert (row.text, row.author_id, row.author_handle, row.author_name, row.raw,
                    row.permalink) == ("", "", "", "", None, "")
            # What the digest counts stays: platform, kind, time, school, source.
            assert (row.platform, row.kind, row.created_at, row.school_id) == (
                "facebook", "comment", BASE, SCHOOL)
        assert rows[ids[0]].verdict is not None and rows[ids[0]].verdict.categories == []
        assert (rows[ids[2]].text, rows[ids[2]].author_id) == ("", PAGE_ID)
        # A flagged item is kept whole for its own, longer, period (its raw payload aside).
        assert (rows[ids[3]].text, rows[ids[3]].author_id) == ("you are all useless",
                                                                "parent-1")
        alert = session.get(models.Alert, watch_id)
        assert (alert.dedupe_key, alert.title, alert.details) == (
            "watchlist:1:c1", retention.REMOVED, None)
        assert "see you at pick up" not in alert.body


# --- flagged items ------------------------------------------------------------------------------

def flagged_in_no_incident(world: World) -> dict[str, int]:
    """A question with a correction, an action, an alert and an evidence record."""
    with world.sessions.begin() as session:
        question = add_item(world, session, "when is the next INSET day?", ["question"])
        session.add(models.Feedback(item_id=question.id, school_id=SCHOOL,
                                    categories=["question"], corrected_by="champion",
                                    created_at=BASE))
        action = models.Action(item_id=question.id, action="reply_needed", actor="head",
                               ok=True, created_at=BASE)
        session.add(action)
        alert = add_alert(session, f"item:{question.id}", item=question)
        session.flush()
        seq = record_item(session, question).seq
        return {"item": question.id, "action": action.id, "alert": alert.id, "seq": seq}


def test_a_flagged_item_in_no_incident_goes_a_year_after_it_was_written(world):
    ids = flagged_in_no_incident(world)

    kept = run(world, BASE + (FLAGGED - 1) * DAY)
    assert (kept.flagged_items, kept.evidence_contents) == (0, 0)
    assert item_row(world, ids["item"]) is not None

    gone = run(world, BASE + (FLAGGED + 1) * DAY)
    assert (gone.flagged_items, gone.alert_copies, gone.evidence_contents) == (1, 1, 1)
    with world.sessions() as session:
        assert session.get(models.Item, ids["item"]) is None
        for model in (models.Verdict, models.Feedback, models.IncidentItem):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        # The trail keeps that something was done, not to which comment.
        action = session.get(models.Action, ids["action"])
        assert (action.action, action.item_id) == ("reply_needed", None)
        # The alert row and its dedupe key stay (they stop a repeat); its words go.
        alert = session.get(models.Alert, ids["alert"])
        assert (alert.dedupe_key, alert.item_id, alert.title, alert.body, alert.details) == (
            f"item:{ids['item']}", None, retention.REMOVED, retention.REMOVED_BODY, None)
    records = evidence(world)
    assert records[ids["seq"]].content is None
    assert records[ids["seq"]].removed_at == BASE + (FLAGGED + 1) * DAY
    # The removal is itself an entry of the chain, which still verifies.
    last = records[max(records)]
    assert (last.kind, last.content["removed"], last.content["reason"]) == (
        "removal", [ids["seq"]], "retention")
    assert chain_holds(world)


def test_the_cascades_take_an_items_verdict_links_and_corrections_on_both_databases(world):
    """The schema's own ON DELETE rules, which retention relies on as much as its own deletes."""
    ids = flagged_in_no_incident(world)
    with world.sessions.begin() as session:
        incident = add_incident(session, [session.get(models.Item, ids["item"])])
        incident_id = incident.id
    with world.sessions.begin() as session:
        session.execute(delete(models.Item).where(models.Item.id == ids["item"]))
    with world.sessions() as session:
        for model in (models.Verdict, models.Feedback, models.IncidentItem):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        assert session.get(models.Alert, ids["alert"]).item_id is None
        assert session.get(models.Action, ids["action"]).item_id is None
        assert session.get(models.Incident, incident_id) is not None


def test_flagged_items_go_a_year_after_their_incident_is_resolved_and_open_ones_stay(world):
    resolved_at = BASE + 10 * DAY
    with world.sessions.begin() as session:
        first = add_item(world, session, "you are all useless", ["abusive"], author_id="rude-1")
        second = add_item(world, session, "clowns, the lot of you", ["abusive"],
                          author_id="rude-1", created=BASE + DAY)
        done = add_incident(session, [first, second], resolved=resolved_at,
                            key="campaign:facebook:rude-1")
        add_alert(session, f"item:{first.id}", item=first, incident=done)
        escalation = add_alert(session, f"incident:{done.id}:escalation:1:1", incident=done,
                               kind="escalation")
        record_item(session, first, done.id)
        record_step(session, done.id, None, "resolve", resolved_at)
        # Older still, but someone has yet to deal with them.
        waiting = add_item(world, session, "I know where you live", ["threat"])
        open_one = add_incident(session, [waiting], status="open", resolved=None)
        seen = add_item(world, session, "idiots", ["abusive"])
        acknowledged = add_incident(session, [seen], status="acknowledged", resolved=None)
        ids = {"first": first.id, "second": second.id, "done": done.id,
               "escalation": escalation.id, "waiting": waiting.id, "seen": seen.id,
               "open": open_one.id, "acknowledged": acknowledged.id}

    # Written more than a year ago, but the incident was resolved less than a year ago.
    kept = run(world, resolved_at + (FLAGGED - 1) * DAY)
    assert kept.flagged_items == 0 and item_row(world, ids["first"]) is not None

    gone = run(world, resolved_at + (FLAGGED + 1) * DAY)
    assert (gone.flagged_items, gone.alert_copies, gone.evidence_contents) == (2, 2, 2)
    assert item_row(world, ids["first"]) is None and item_row(world, ids["second"]) is None
    with world.sessions() as session:
        incident = session.get(models.Incident, ids["done"])
        # The incident stays, as a count for the record, without naming its author's account.
        assert (incident.status, incident.outcome, incident.key) == (
            "resolved", "hidden", "campaign:facebook:-")
        # An escalation quotes the leading comment: its copy goes with the incident's items.
        assert session.get(models.Alert, ids["escalation"]).title == retention.REMOVED
    assert all(r.content is None for r in evidence(world).values() if r.kind != "removal")
    assert chain_holds(world)

    # Open and acknowledged incidents keep their items, however old.
    years_on = run(world, BASE + 5 * 365 * DAY)
    assert years_on.flagged_items == 0
    assert item_row(world, ids["waiting"]).text == "I know where you live"
    assert item_row(world, ids["seen"]).text == "idiots"


# --- evidence hold ------------------------------------------------------------------------------

def test_an_incident_under_hold_keeps_everything_until_released_and_then_it_goes(world):
    resolved_at = BASE + 2 * DAY
    with world.sessions.begin() as session:
        threat = add_item(world, session, "I'll be waiting at the gates", ["threat"],
                          author_id="angry-1")
        held = add_incident(session, [threat], resolved=resolved_at)
        alert = add_alert(session, f"item:{threat.id}", item=threat, incident=held)
        record_item(session, threat, held.id)
        record_step(session, held.id, threat.id, "hide", resolved_at)
        ids = {"item": threat.id, "incident": held.id, "alert": alert.id}
    incidents.hold(world.sessions, ids["incident"], "head@oakfield.example", "police enquiry")
    recorded = {seq for seq, r in evidence(world).items() if r.content is not None}

    years_on = BASE + 3 * 365 * DAY
    result = run(world, years_on)
    assert result.removed == 0 and result.held_incidents == 1
    row = item_row(world, ids["item"])
    assert (row.text, row.author_id, row.raw is not None) == (
        "I'll be waiting at the gates", "angry-1", True)
    with world.sessions() as session:
        assert session.get(models.Alert, ids["alert"]).title != retention.REMOVED
    assert {seq for seq, r in evidence(world).items() if r.content is not None} == recorded

    incidents.release(world.sessions, ids["incident"], "head@oakfield.example")
    released = run(world, years_on)
    assert (released.raw_payloads, released.flagged_items, released.alert_copies,
            released.held_incidents) == (1, 1, 1, 0)
    assert released.evidence_contents >= 2
    assert item_row(world, ids["item"]) is None
    assert all(evidence(world)[seq].content is None for seq in recorded)
    assert chain_holds(world)


def test_a_held_incidents_raw_payloads_and_evidence_stay_while_others_go(world):
    with world.sessions.begin() as session:
        kept = add_item(world, session, "her stepdad hits her", ["safeguarding"])
        held = add_incident(session, [kept], status="open")
        held.held_at, held.held_by = BASE, "dsl@oakfield.example"
        other = add_item(world, session, "so rude", ["abusive"])
        add_incident(session, [other], resolved=BASE + DAY)
        record_item(session, kept, held.id)
        ids = kept.id, other.id
    result = run(world, BASE + (FLAGGED + 5) * DAY)
    assert (result.flagged_items, result.raw_payloads, result.held_incidents) == (1, 1, 1)
    assert item_row(world, ids[0]).raw is not None and item_row(world, ids[1]) is None
    assert all(r.content is not None for r in evidence(world).values())


def test_an_item_in_a_held_incident_keeps_what_another_incident_has_of_it(world):
    with world.sessions.begin() as session:
        item = add_item(world, session, "I'll be waiting at the gates", ["threat"])
        held = add_incident(session, [item], status="open")
        held.held_at = BASE
        old = add_incident(session, [item], resolved=BASE + DAY,
                           key="thread:facebook:post-1:threat")
        about_item = add_alert(session, f"item:{item.id}", item=item, incident=old)
        escalation = add_alert(session, f"incident:{old.id}:escalation", incident=old,
                               kind="escalation")
        seq = record_item(session, item, old.id).seq
        ids = item.id, about_item.id, escalation.id
    result = run(world, BASE + (FLAGGED + 5) * DAY)
    assert (result.flagged_items, result.alert_copies, result.evidence_contents) == (0, 1, 0)
    assert item_row(world, ids[0]) is not None
    with world.sessions() as session:
        assert session.get(models.Alert, ids[1]).title != retention.REMOVED
        assert session.get(models.Alert, ids[2]).title == retention.REMOVED
    assert evidence(world)[seq].content is not None


# --- weekly reports -----------------------------------------------------------------------------

def test_weekly_reports_lose_their_quoted_comments_after_a_year_and_keep_their_row(world):
    with world.sessions.begin() as session:
        report = models.Alert(dedupe_key="digest:oakfield:head:2026-W02", school_id=SCHOOL,
                              kind="digest", severity="normal", categories=[],
                              title="Oakfield: your week", body="Jo Parent: lovely assembly",
                              details={"digest": "<p>Jo Parent: lovely assembly</p>"},
                              created_at=BASE)
        session.add(report)
        session.flush()
        report_id = report.id
    assert run(world, BASE + (FLAGGED - 1) * DAY).reports == 0
    assert run(world, BASE + (FLAGGED + 1) * DAY).reports == 1
    with world.sessions() as session:
        row = session.get(models.Alert, report_id)
        assert (row.dedupe_key, row.kind, row.title, row.body, row.details) == (
            "digest:oakfield:head:2026-W02", "digest", retention.REMOVED,
            retention.REMOVED_BODY, None)


# --- the digest's counts ------------------------------------------------------------------------

def head_digest(built: week.Built) -> content.HeadDigest:
    with built.sessions() as session:
        return content.head_digest(session, built.config, week.SCHOOL, week.START, week.END,
                                   week.EARLIER, now=week.NOW)


def test_the_head_digests_counts_are_the_same_after_retention_removed_the_texts(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    built = week.build(tmp_path)
    before = head_digest(built)
    result = retention.apply(built.config, built.sessions, now=week.NOW + 200 * DAY)
    # Every unflagged comment of the five weeks lost its words and author, the Page's own
    # replies included (which keep their author: the digest leaves them out by it).
    assert result.unflagged_texts > 10 and result.flagged_items == 0
    with built.sessions() as session:
        reply = session.get(models.Item, built.ids["parent_reply"])
        assert (reply.text, reply.author_name) == ("", "")
    after = head_digest(built)
    assert (after.total, after.flagged, after.needed_action, after.volumes) == (
        before.total, before.flagged, before.needed_action, before.volumes)
    assert [(p.name, p.this_week, p.average) for p in after.volumes.platforms] == [
        (p.name, p.this_week, p.average) for p in before.volumes.platforms]


# --- batches ------------------------------------------------------------------------------------

def test_batches_of_two_remove_all_seven_items_and_the_record_says_seven(tmp_path):
    world = make_world(tmp_path, "batch_size = 2")
    with world.sessions.begin() as session:
        for n in range(7):
            record_item(session, add_item(world, session, f"rude {n}", ["abusive"],
                                          created=BASE + n * timedelta(minutes=1)))
    result = run(world, BASE + 400 * DAY)
    assert (result.flagged_items, result.evidence_contents) == (7, 7)
    assert count(world, models.Item) == 0
    [record] = removals(world)
    assert (record.kind, record.by, record.counts["flagged_items"],
            record.counts["evidence_contents"]) == ("retention", "retention job", 7, 7)
    assert record.started_at == BASE + 400 * DAY and record.finished_at >= record.started_at
    # One removal entry per batch of two: the batches were committed one by one.
    entries = [r for r in evidence(world).values() if r.kind == "removal"]
    assert [len(r.content["removed"]) for r in entries] == [2, 2, 2, 1]
    assert chain_holds(world)


def test_rows_due_far_apart_are_all_found_however_many_are_kept_between(tmp_path):
    """Each batch looks through a bounded window of ids: a due row many windows past the last
    one must still be reached, on each rule."""
    world = make_world(tmp_path, "batch_size = 1")
    kept_between = 3 * retention.WINDOW
    with world.sessions.begin() as session:
        first = add_item(world, session, "rude first", ["abusive"], created=BASE)
        for n in range(kept_between):  # recent: nothing is due
            add_item(world, session, f"lovely {n}", None, created=BASE + 390 * DAY)
        last = add_item(world, session, "rude last", ["abusive"], created=BASE)
        first_id, last_id = first.id, last.id
    result = run(world, BASE + 400 * DAY)
    assert result.flagged_items == 2
    with world.sessions() as session:
        left = set(session.scalars(select(models.Item.id)))
    assert first_id not in left and last_id not in left and len(left) == kept_between


def test_a_run_that_removes_nothing_is_not_recorded(world):
    with world.sessions.begin() as session:
        add_item(world, session, "lovely assembly", ["praise"])
    assert run(world, BASE + DAY).removed == 0
    assert removals(world) == []


# --- dry runs -----------------------------------------------------------------------------------

def snapshot(world: World) -> list:
    with world.sessions() as session:
        return [
            [(i.id, i.text, i.author_id, i.raw, i.permalink)
             for i in session.scalars(select(models.Item).order_by(models.Item.id))],
            [(a.id, a.title, a.details, a.item_id)
             for a in session.scalars(select(models.Alert).order_by(models.Alert.id))],
            [(r.seq, r.content) for r in session.scalars(
                select(models.EvidenceRecord).order_by(models.EvidenceRecord.seq))],
            session.scalar(select(func.count()).select_from(models.DataRemoval)),
        ]


def test_a_dry_run_changes_nothing_and_counts_what_the_run_then_removes(world):
    flagged_in_no_incident(world)
    with world.sessions.begin() as session:
        add_item(world, session, "see you at pick up", [])
        rude = add_item(world, session, "you are all useless", ["abusive"])
        done = add_incident(session, [rude], resolved=BASE + DAY)
        add_alert(session, f"item:{rude.id}", item=rude, incident=done)
        add_alert(session, f"incident:{done.id}:escalation", incident=done, kind="escalation")
        record_item(session, rude, done.id)
        record_step(session, done.id, None, "resolve", BASE + DAY)
        session.add(models.Alert(dedupe_key="digest:w2", school_id=SCHOOL, kind="digest",
                                 severity="normal", categories=[], title="week", body="words",
                                 details={"digest": "<p>words</p>"}, created_at=BASE))
    at = BASE + 400 * DAY
    before = snapshot(world)
    dry = run(world, at, dry_run=True)
    assert snapshot(world) == before
    real = run(world, at)
    assert dry.dry_run and not real.dry_run
    assert dry.counts() == real.counts() == {
        "raw_payloads": 3, "unflagged_texts": 1, "flagged_items": 2, "alert_copies": 3,
        "reports": 1, "evidence_contents": 3, "held_incidents": 0}
    assert snapshot(world) != before


# --- the commands -------------------------------------------------------------------------------

def cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_retention_run_says_what_it_removed_and_log_lists_past_removals(world, capsys):
    path = str(world.config.path)
    long_ago = datetime.now(UTC) - 400 * DAY
    with world.sessions.begin() as session:
        add_item(world, session, "you are all useless", ["abusive"], created=long_ago)
        add_item(world, session, "see you at pick up", [], created=long_ago)
        session.add(models.DataRemoval(kind="erasure", started_at=long_ago,
                                       finished_at=long_ago, by="dpo@oakfield.example",
                                       counts={"items": 3, "alerts": 0}))

    code, out, _ = cli(capsys, "retention", "run", "--dry-run", "--config", path)
    assert code == 0
    assert "dry run, nothing changed" in out
    assert "flagged items" in out and "useless" not in out
    assert count(world, models.Item) == 2

    code, out, _ = cli(capsys, "retention", "run", "--config", path, "--by", "it@oakfield")
    assert code == 0
    lines = {line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1]
             for line in out.splitlines()[3:]}
    assert lines["flagged items"] == "1" and lines["unflagged items' texts and authors"] == "1"
    assert lines["raw payloads"] == "2"
    assert count(world, models.Item) == 1

    code, out, _ = cli(capsys, "retention", "log", "--config", path)
    assert code == 0
    rows = out.splitlines()[2:]
    assert len(rows) == 2
    assert "retention" in rows[0] and "it@oakfield" in rows[0]
    assert "flagged_items=1" in rows[0] and "unflagged_texts=1" in rows[0]
    assert "erasure" in rows[1] and "items=3" in rows[1] and "alerts" not in rows[1]

    code, out, _ = cli(capsys, "retention", "log", "--limit", "1", "--config", path)
    assert len(out.splitlines()[2:]) == 1

    code, _, err = cli(capsys, "retention", "log", "--limit", "0", "--config", path)
    assert code == 2 and "Traceback" not in err and "--limit" in err


def test_retention_log_with_nothing_removed_says_so(world, capsys):
    code, out, _ = cli(capsys, "retention", "log", "--config", str(world.config.path))
    assert (code, out.strip()) == (0, "no data has been removed yet")


# --- the daemon's job ---------------------------------------------------------------------------

def test_the_daemons_job_applies_the_policy_and_logs_counts_without_content(world, caplog):
    with world.sessions.begin() as session:
        add_item(world, session, "you are all useless", ["abusive"], name="Rude Person")
    daemon = Daemon(world.config, world.sessions, clock=lambda: BASE + 400 * DAY)
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        result = daemon.apply_retention()
    assert result.flagged_items == 1 and count(world, models.Item) == 0
    assert "retention removed raw payloads: 1, flagged items: 1" in caplog.text
    assert "useless" not in caplog.text and "Rude Person" not in caplog.text
    [record] = removals(world)
    assert record.by == "retention job"
