"""What goes into the evidence chain: an item alerted as high or urgent, with everything a head
would hand over (text, author, times in UTC and the school's time, place, raw payload, verdict);
the item as it was before it is hidden or deleted, committed before the platform is asked; and
what came of each later action, when the item has evidence."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from monitor import models
from monitor.actions import take_action
from monitor.config import load
from monitor.daemon import Daemon, open_database
from monitor.evidence import chain
from monitor.evidence.record import has_evidence
from tests.builders import COMMENTS, write_config, write_replay
from tests.http_server import json_answer
from tests.monitor.test_evidence_chain import GRAPH_ERROR, THREAT, V, entries, page  # noqa: F401

pytestmark = pytest.mark.usefixtures("database")


def test_an_alerted_item_is_kept_with_what_a_head_would_hand_over(page):  # noqa: F811
    [threat, disclosure] = entries(page.sessions)
    with page.sessions() as session:
        item = session.get(models.Item, page.threat)
        verdict = item.verdict
        incident_id = session.scalars(select(models.IncidentItem.incident_id).where(
            models.IncidentItem.item_id == item.id)).one()
        kept = threat.content
        assert (threat.kind, threat.school_id, threat.item_id, threat.incident_id) == (
            "item", "oakfield", item.id, incident_id)
        assert (kept["reason"], kept["school"], kept["incident_id"]) == (
            "alerted urgent", "oakfield", incident_id)
        shown = kept["item"]
        assert (shown["id"], shown["platform"], shown["external_id"], shown["kind"],
                shown["text"]) == (item.id, "facebook", "822001_2", item.kind, THREAT)
        assert shown["author"] == {"id": "556", "handle": item.author_handle,
                                   "name": "D Foley"}
        assert shown["permalink"] == item.permalink
        assert (shown["parent_id"], shown["conversation_id"]) == (item.parent_id,
                                                                 item.conversation_id)
        assert datetime.fromisoformat(shown["created_utc"]) == item.created_at
        assert datetime.fromisoformat(shown["fetched_utc"]) == item.fetched_at
        local = datetime.fromisoformat(shown["created_local"])
        assert local == item.created_at
        assert local.utcoffset() == item.created_at.astimezone(
            ZoneInfo("Australia/Sydney")).utcoffset()
        assert shown["timezone"] == "Australia/Sydney"
        # The payload as Facebook sent it.
        assert kept["raw"] == item.raw and kept["raw"]["message"] == THREAT
        assert kept["verdict"]["categories"] == list(verdict.categories)
        assert "threat" in kept["verdict"]["categories"]
        assert kept["verdict"]["severity"] == "urgent"
        assert kept["verdict"]["reasons"]["threat"]
        assert kept["verdict"]["scores"]["threat"] == pytest.approx(verdict.scores["threat"])
        assert kept["verdict"]["model_version"] == verdict.model_version != ""
        assert datetime.fromisoformat(kept["verdict"]["classified_utc"]) == verdict.created_at
    assert threat.content_sha256 == chain.content_hash(threat.content)
    assert (disclosure.item_id, disclosure.content["reason"]) == (page.disclosure,
                                                                 "alerted urgent")


def test_the_item_is_kept_before_a_hide_is_sent_even_when_the_platform_refuses(page):  # noqa: F811
    seen_by_the_platform: list[list[str]] = []

    def refuse_hide(request):
        # What the chain held at the moment the platform was asked: had the daemon died here,
        # this is what would be left.
        with page.sessions() as session:
            seen_by_the_platform.append(list(session.scalars(
                select(models.EvidenceRecord.kind).where(
                    models.EvidenceRecord.item_id == page.threat)
                .order_by(models.EvidenceRecord.seq))))
        return json_answer(GRAPH_ERROR, status=403)

    page.graph.route("POST", f"{V}/822001_2", refuse_hide)
    record = take_action(page.config, page.sessions, "hide", page.threat, "champion@school")
    assert record.ok is False
    assert seen_by_the_platform == [["item", "item"]]
    *_, before, step = entries(page.sessions)
    assert (before.kind, before.item_id, before.content["reason"]) == (
        "item", page.threat, "before hide")
    assert before.content["item"]["text"] == THREAT
    assert before.incident_id == record.incident_id is not None
    assert step.kind == "step"
    assert step.content == {
        "incident_id": record.incident_id, "item_id": page.threat, "action": "hide",
        "actor": "champion@school", "at_utc": record.created_at.isoformat(), "ok": False,
        "result": record.result, "action_id": record.id}


def test_actions_on_an_item_without_evidence_are_kept_only_once_it_has_some(page):  # noqa: F811
    before = len(entries(page.sessions))
    with page.sessions() as session:
        assert not has_evidence(session, item_id=page.kind)
        assert has_evidence(session, item_id=page.threat)
    take_action(page.config, page.sessions, "unhide", page.kind, "champion@school")
    assert len(entries(page.sessions)) == before  # nothing of it is evidence
    take_action(page.config, page.sessions, "hide", page.kind, "champion@school")
    take_action(page.config, page.sessions, "unhide", page.kind, "champion@school")
    added = entries(page.sessions)[before:]
    assert [(e.kind, e.content.get("reason") or e.content["action"]) for e in added] == [
        ("item", "before hide"), ("step", "hide"), ("step", "unhide")]
    assert all(e.item_id == page.kind and e.incident_id is None for e in added)
    with page.sessions() as session:
        assert chain.verify_school(session, "oakfield").broken is None


def test_every_item_alerted_high_or_urgent_is_kept_including_those_joining_an_incident(
        tmp_path):
    texts = [text for text, _ in COMMENTS] + [THREAT]
    write_replay(tmp_path / "fb", texts)
    config = load(write_config(tmp_path))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    kept = entries(sessions)
    by_text = {e.content["item"]["text"]: e for e in kept if e.kind == "item"}
    with sessions() as session:
        severities = {text: severity for text, severity in session.execute(
            select(models.Item.text, models.Verdict.severity).join(models.Verdict))}
    assert {text for text, severity in severities.items()
            if severity in ("urgent", "high")} == set(by_text)
    threats = [e for e in kept if e.content["item"]["text"] == THREAT]
    assert len(threats) == 2  # the second threat joined the first one's incident
    assert threats[0].incident_id == threats[1].incident_id is not None
    assert threats[0].item_id != threats[1].item_id
    assert {e.content["reason"] for e in kept} == {"alerted urgent", "alerted high"}
    for entry in kept:
        assert entry.content["reason"] == f"alerted {entry.content['verdict']['severity']}"
    with sessions() as session:
        assert chain.verify_school(session, "oakfield").broken is None
