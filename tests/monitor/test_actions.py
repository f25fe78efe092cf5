from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from connectors.graph import DEFAULT_API_VERSION
from monitor import models
from monitor.actions import ActionError, available_actions, take_action
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_graph_config, write_replay
from tests.http_server import json_answer

pytestmark = pytest.mark.usefixtures("database")

PAGE = "104857392011"
POST = f"{PAGE}_822001"
V = f"/{DEFAULT_API_VERSION}"
THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"
DEMO_REASON = "the demo replays recorded comments: there is nothing on a platform to act on"


@pytest.fixture
def polled(tmp_path):
    write_replay(tmp_path / "fb", ["you are all useless c*nts", "what time is pick up?"])
    path = write_config(tmp_path)
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    return path, sessions


def graph_time(minutes_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S+0000")


@pytest.fixture
def facebook(local_server, tmp_path, monkeypatch):
    """A school whose Facebook Page is a local server standing in for the Graph API, polled
    once: a kind comment and a threat (an incident) are stored."""
    graph = local_server()
    graph.route("GET", f"{V}/{PAGE}/feed", json_answer({"data": [{
        "id": POST, "created_time": graph_time(120), "updated_time": graph_time(5),
        "permalink_url": f"https://www.facebook.com/{PAGE}/posts/822001"}]}))
    graph.route("GET", f"{V}/{POST}/comments", json_answer({"data": [
        {"id": "822001_1", "message": "Lovely assembly this morning",
         "created_time": graph_time(30), "from": {"id": "555", "name": "Amy Cole"}},
        {"id": "822001_2", "message": THREAT, "created_time": graph_time(10),
         "from": {"id": "556", "name": "D Foley"}},
    ]}))
    graph.route("POST", f"{V}/822001_2", json_answer({"success": True}))
    monkeypatch.setenv("FB_TOKEN", "EAAB-page-token")
    path = write_graph_config(tmp_path, graph.url, PAGE)
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        threat = session.scalars(select(models.Item).where(
            models.Item.external_id == "822001_2")).one()
        incident_id = session.scalars(select(models.IncidentItem.incident_id).where(
            models.IncidentItem.item_id == threat.id)).one()
    return graph, path, sessions, threat.id, incident_id


def actions_recorded(sessions) -> list[models.Action]:
    with sessions() as session:
        return list(session.scalars(select(models.Action).where(
            models.Action.item_id.is_not(None))))


def test_an_action_is_carried_out_on_the_platform_and_recorded_with_its_incident(facebook,
                                                                                 capsys):
    graph, path, sessions, item_id, incident_id = facebook
    main(["action", "hide", str(item_id), "--by", "champion@school", "--config", str(path)])
    out = capsys.readouterr().out
    assert out.startswith("done: comment 822001_2 hidden on Facebook")
    [hide] = graph.asked("POST", f"{V}/822001_2")
    assert (hide.form() | hide.query).get("is_hidden") == "true"
    [record] = actions_recorded(sessions)
    assert (record.item_id, record.incident_id, record.action, record.actor, record.ok) == (
        item_id, incident_id, "hide", "champion@school", True)
    assert record.result.endswith("(via command line)")
    assert record.created_at is not None


def test_an_action_the_platform_does_not_allow_is_refused_with_the_reason_and_nothing_sent(
        facebook, capsys):
    graph, path, sessions, item_id, _ = facebook
    asked_before = len(graph.requests)
    with pytest.raises(SystemExit) as info:
        main(["action", "mute", str(item_id), "--config", str(path)])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert f"cannot mute item {item_id}: Facebook Pages cannot mute people" in line
    assert len(graph.requests) == asked_before
    # Nothing was attempted, so the audit trail holds no attempt.
    assert actions_recorded(sessions) == []


def test_the_demo_refuses_every_action_and_never_pretends(polled, capsys):
    path, sessions = polled
    with pytest.raises(SystemExit) as info:
        main(["action", "hide", "1", "--by", "champion@school", "--config", str(path)])
    assert info.value.code == 1
    assert DEMO_REASON in capsys.readouterr().err
    assert actions_recorded(sessions) == []


def test_the_console_records_the_incident_it_acted_for(facebook):
    _, path, sessions, item_id, incident_id = facebook
    record = take_action(load(path), sessions, "delete", item_id, "dsl@school",
                         incident_id=incident_id, via="console")
    # The local Graph has no DELETE route: the failure is recorded as honestly as a success.
    assert record.ok is False and record.incident_id == incident_id
    assert record.result.endswith("(via console)")


def test_an_incident_that_does_not_hold_the_item_is_refused(facebook):
    _, path, sessions, item_id, incident_id = facebook
    with pytest.raises(ActionError, match=f"not part of incident {incident_id + 1}"):
        take_action(load(path), sessions, "hide", item_id, "dsl@school",
                    incident_id=incident_id + 1, via="console")
    assert actions_recorded(sessions) == []


def test_available_actions_are_the_platforms_own_and_ask_nothing_of_it(facebook):
    graph, _, sessions, item_id, _ = facebook
    asked_before = len(graph.requests)
    with sessions() as session:
        item = session.get(models.Item, item_id)
        assert available_actions(session, item) == ("hide", "unhide", "delete", "block")
    assert len(graph.requests) == asked_before


def test_the_demo_offers_no_action(polled):
    _, sessions = polled
    with sessions() as session:
        assert available_actions(session, session.get(models.Item, 1)) == ()


def test_acting_on_an_unknown_item_says_so_and_exits_1(polled, capsys):
    path, _ = polled
    with pytest.raises(SystemExit) as info:
        main(["action", "delete", "999", "--config", str(path)])
    assert info.value.code == 1
    assert "no item with id 999" in capsys.readouterr().err


def test_an_unknown_action_is_a_usage_error(polled, capsys):
    path, _ = polled
    with pytest.raises(SystemExit) as info:
        main(["action", "obliterate", "1", "--config", str(path)])
    assert info.value.code == 2


def test_sources_check_reports_each_source_in_words(polled, capsys):
    path, _ = polled
    main(["sources", "--check", "--config", str(path)])
    out = capsys.readouterr().out
    assert "[OK] oakfield/replay/104857392011/comments: 1 recorded pages in" in out


def test_a_paused_source_can_be_resumed(polled, capsys):
    path, sessions = polled
    with sessions.begin() as session:
        session.scalars(select(models.Source)).one().paused_reason = "AuthError: expired"
    main(["sources", "--config", str(path)])
    assert "PAUSED" in capsys.readouterr().out
    main(["sources", "--resume", "1", "--config", str(path)])
    out = capsys.readouterr().out
    assert "source 1 resumed" in out and "PAUSED" not in out
