import pytest
from sqlalchemy import select

from monitor import models
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def polled(tmp_path):
    write_replay(tmp_path / "fb", ["you are all useless c*nts", "what time is pick up?"])
    path = write_config(tmp_path)
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    return path, sessions


def test_an_action_is_carried_out_and_recorded_in_the_audit_trail(polled, capsys):
    path, sessions = polled
    main(["action", "hide", "1", "--by", "champion@school", "--config", str(path)])
    assert "done: hide recorded for replayed item 1_1" in capsys.readouterr().out
    with sessions() as session:
        record = session.scalars(select(models.Action)).one()
    assert (record.item_id, record.action, record.actor, record.ok) == (1, "hide",
                                                                        "champion@school", True)
    assert record.created_at is not None


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
