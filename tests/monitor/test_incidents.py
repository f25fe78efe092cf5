from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from monitor import incidents, models
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def school(tmp_path):
    write_replay(tmp_path / "fb", [THREAT, "you are a useless idiot"])
    path = write_config(tmp_path, {"dsl": ["console://"], "head": ["json://localhost/head"],
                                   "digital_champion": ["console://"]})
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    return path, config, sessions


def escalations(sessions) -> list[models.Alert]:
    with sessions() as session:
        rows = list(session.scalars(select(models.Alert).where(models.Alert.kind == "escalation")
                                    .order_by(models.Alert.id)))
        for row in rows:
            _ = row.deliveries
        return rows


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_an_unacknowledged_threat_is_escalated_to_the_dsl_and_head_twice_then_left(school):
    _, config, sessions = school
    assert incidents.escalate_due(config, sessions, later(10)) == 0
    assert incidents.escalate_due(config, sessions, later(31)) == 1
    assert incidents.escalate_due(config, sessions, later(45)) == 0
    assert incidents.escalate_due(config, sessions, later(121)) == 1
    assert incidents.escalate_due(config, sessions, later(600)) == 0
    first, _second = escalations(sessions)
    assert "NOT YET ACKNOWLEDGED" in first.title
    assert "hallmonitor incidents ack" in first.body
    assert sorted(r for d in first.deliveries for r in d.roles) == ["dsl", "head"]


def test_acknowledging_stops_the_escalation_and_is_audited(school, capsys):
    path, config, sessions = school
    main(["incidents", "ack", "1", "--by", "dsl@school", "--config", str(path)])
    assert "incident 1 acknowledged by dsl@school" in capsys.readouterr().out
    assert incidents.escalate_due(config, sessions, later(300)) == 0
    with sessions() as session:
        action = session.scalars(select(models.Action)).one()
        assert (action.incident_id, action.action, action.actor) == (1, "acknowledge",
                                                                     "dsl@school")
        incident = session.get(models.Incident, 1)
        assert incident.status == "acknowledged" and incident.acknowledged_by == "dsl@school"


def test_a_new_threat_on_an_acknowledged_thread_needs_acknowledging_again(school, tmp_path):
    _, config, sessions = school
    incidents.acknowledge(sessions, 1, "dsl")
    write_replay(tmp_path / "fb", ["I know where Mr Hughes parks, watch your back"],
                 first_id=40)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        assert session.get(models.Incident, 1).status == "open"
    assert incidents.escalate_due(config, sessions, later(31)) == 1


def test_incidents_are_listed_and_resolved_from_the_command_line(school, capsys):
    path, _, sessions = school
    main(["incidents", "list", "--config", str(path)])
    out = capsys.readouterr().out
    assert "urgent" in out and "threat" in out
    main(["incidents", "resolve", "1", "--outcome", "hidden", "--config", str(path)])
    capsys.readouterr()
    main(["incidents", "list", "--config", str(path)])
    assert "threat" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["incidents", "ack", "99", "--config", str(path)])
    assert info.value.code == 1
    assert "no incident with id 99" in capsys.readouterr().err
