"""Incident steps in the evidence chain, and evidence hold: acknowledging, noting, resolving and
reopening an incident with evidence each add a step; a hold always does, keeping the incident's
items first when they are not in the chain yet; `hallmonitor incidents hold|release` and what
`incidents show|list` say about a hold."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from classifiers import Verdict
from monitor import incidents, models
from monitor.classify import ClassifierCache
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from monitor.evidence import chain
from tests.builders import write_config, write_replay
from tests.monitor.test_evidence_chain import THREAT, entries

pytestmark = pytest.mark.usefixtures("database")


def poll(tmp_path, texts: list[str]):
    write_replay(tmp_path / "fb", texts)
    path = write_config(tmp_path)
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        [incident_id] = session.scalars(select(models.Incident.id))
    return path, sessions, incident_id


class ReadsCategories:
    """A classifier that reads the categories off the comment: "[disparaging] …". Used where a
    test needs an incident of normal severity, which keeps no evidence when alerted."""

    version = "test"
    degraded = None

    def predict(self, texts):
        found = []
        for text in texts:
            categories = tuple(text[1:text.index("]")].split(","))
            found.append(Verdict(scores=dict.fromkeys(categories, 0.9), categories=categories,
                                 reasons={c: (f'rule: {c} "words"',) for c in categories},
                                 model_version="test"))
        return found


def steps(sessions) -> list[tuple[str, str]]:
    return [(e.content["action"], e.content["actor"]) for e in entries(sessions)
            if e.kind == "step"]


def test_each_step_of_an_incident_with_evidence_is_added_to_the_chain(tmp_path):
    _, sessions, incident_id = poll(tmp_path, [THREAT])
    incidents.acknowledge(sessions, incident_id, "dsl@school")
    incidents.add_note(sessions, incident_id, "dsl@school", "spoke to the police")
    incidents.hold(sessions, incident_id, "head@school", "police inquiry")
    incidents.resolve(sessions, incident_id, "dsl@school", "reported_to_police")
    incidents.release(sessions, incident_id, "head@school")
    incidents.reopen(sessions, incident_id, "head@school")
    assert steps(sessions) == [
        ("acknowledge", "dsl@school"), ("note", "dsl@school"), ("hold", "head@school"),
        ("resolve", "dsl@school"), ("release", "head@school"), ("reopen", "head@school")]
    found = entries(sessions)
    # The threat was kept when alerted; holding it kept nothing more of it.
    assert [e.content.get("reason") for e in found if e.kind == "item"] == ["alerted urgent"]
    with sessions() as session:
        trail = incidents.trail(session, incident_id)
        assert chain.verify_school(session, "oakfield").broken is None
    for step, action in zip([e for e in found if e.kind == "step"], trail, strict=True):
        assert step.incident_id == incident_id
        assert step.content == {
            "incident_id": incident_id, "item_id": None, "action": action.action,
            "actor": action.actor, "at_utc": action.created_at.isoformat(), "ok": True,
            "result": action.result, "action_id": action.id}
    assert found[-4].content["result"] == "evidence hold: police inquiry (via command line)"


def test_holding_an_incident_without_evidence_keeps_its_items_first(tmp_path, monkeypatch):
    monkeypatch.setattr(ClassifierCache, "for_school",
                        lambda self, school, session=None: ReadsCategories())
    _, sessions, incident_id = poll(tmp_path, ["[disparaging] the new head is hopeless",
                                               "[disparaging] worst school in town"])
    incidents.acknowledge(sessions, incident_id, "champion@school")
    assert entries(sessions) == []  # normal severity: not evidence, nor what is done about it
    incidents.hold(sessions, incident_id, "head@school", "a parent's complaint")
    incidents.release(sessions, incident_id, "head@school")
    incidents.add_note(sessions, incident_id, "head@school", "complaint withdrawn")
    found = entries(sessions)
    assert [(e.kind, e.content.get("reason") or e.content.get("action")) for e in found] == [
        ("item", "held"), ("item", "held"), ("step", "hold"), ("step", "release"),
        ("step", "note")]
    assert [e.content["item"]["text"] for e in found[:2]] == [
        "[disparaging] the new head is hopeless", "[disparaging] worst school in town"]
    assert all(e.incident_id == incident_id for e in found)
    assert found[0].content["item"]["timezone"] == "Europe/London"
    assert found[0].content["verdict"]["severity"] == "normal"
    with sessions() as session:
        assert chain.verify_school(session, "oakfield").broken is None


def run(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code
    return 0


def test_hold_and_release_from_the_command_line(tmp_path, capsys):
    path, sessions, incident_id = poll(tmp_path, [THREAT])
    config = ["--config", str(path)]
    assert run("incidents", "hold", str(incident_id), "--reason", "police inquiry",
               "--actor", "head@school", *config) == 0
    assert capsys.readouterr().out.strip() == (
        f"incident {incident_id} put under evidence hold by head@school")
    with sessions() as session:
        incident = session.get(models.Incident, incident_id)
        assert (incident.held_by, incident.hold_reason) == ("head@school", "police inquiry")
        assert incident.held_at is not None

    assert run("incidents", "show", str(incident_id), *config) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if "Evidence hold:" in x]
    assert line.startswith("  Evidence hold: held since ")
    assert line.endswith(" by head@school: police inquiry")
    assert run("incidents", "list", *config) == 0
    listed = capsys.readouterr().out
    assert "hold" in listed.splitlines()[0] and "by head@school" in listed

    # A second hold changes nothing: the first one's name and reason stand.
    assert run("incidents", "hold", str(incident_id), "--by", "dsl@school", *config) == 0
    assert "already under evidence hold (by head@school)" in capsys.readouterr().out
    with sessions() as session:
        assert session.get(models.Incident, incident_id).held_by == "head@school"

    assert run("incidents", "release", str(incident_id), "--actor", "head@school",
               *config) == 0
    assert capsys.readouterr().out.strip() == (
        f"evidence hold on incident {incident_id} released by head@school")
    assert run("incidents", "show", str(incident_id), *config) == 0
    assert "  Evidence hold: no" in capsys.readouterr().out.splitlines()
    assert steps(sessions) == [("hold", "head@school"), ("release", "head@school")]

    assert run("incidents", "release", str(incident_id), *config) == 1
    [error] = capsys.readouterr().err.strip().splitlines()
    assert f"incident {incident_id} is not under evidence hold" in error
    assert run("incidents", "hold", "999", *config) == 1
    [error] = capsys.readouterr().err.strip().splitlines()
    assert "no incident with id 999" in error
