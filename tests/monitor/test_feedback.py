from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from monitor import models
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from monitor.feedback import FeedbackError, correct, corrections
from tests.builders import write_config, write_replay

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def polled(tmp_path):
    write_replay(tmp_path / "fb", ["you are all useless c*nts", "what time is pick up?",
                                   "lovely assembly this morning"])
    path = write_config(tmp_path)
    config = load(path)
    _, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    daemon.poll_once()
    return path, sessions, daemon


def test_a_correction_is_recorded_with_its_school_and_who_made_it(polled, capsys):
    path, sessions, _ = polled
    main(["feedback", "2", "--category", "question", "--category", "disparaging",
          "--by", "champion@school", "--config", str(path)])
    assert "item 2 is disparaging, question (corrected by champion@school)" in (
        capsys.readouterr().out)
    with sessions() as session:
        record = session.scalars(select(models.Feedback)).one()
        trail = session.scalars(select(models.Action)).one()
    assert (record.item_id, record.school_id, record.categories, record.not_a_problem,
            record.corrected_by) == (2, "oakfield", ["disparaging", "question"], False,
                                     "champion@school")
    assert record.created_at is not None
    assert (trail.item_id, trail.action, trail.actor, trail.result) == (
        2, "correct", "champion@school", "is disparaging, question")


def test_not_a_problem_means_the_item_belongs_to_no_category(polled, capsys):
    path, sessions, _ = polled
    main(["feedback", "1", "--not-a-problem", "--config", str(path)])
    assert "item 1 is not a problem" in capsys.readouterr().out
    with sessions() as session:
        record = session.scalars(select(models.Feedback)).one()
    assert (record.categories, record.not_a_problem) == ([], True)


@pytest.mark.parametrize(("arguments", "message"), [
    (["999", "--not-a-problem"], "no item with id 999"),
    (["1", "--category", "rude"], "unknown category 'rude'; the categories are threat, "),
    (["1", "--category", "abusive", "--not-a-problem"], "not both"),
    (["1"], "say what the item is: --not-a-problem, or --category CAT"),
])
def test_bad_feedback_is_one_clear_line_and_exit_2(polled, capsys, arguments, message):
    path, sessions, _ = polled
    with pytest.raises(SystemExit) as info:
        main(["feedback", *arguments, "--config", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.Feedback)) == 0


def test_the_latest_correction_of_an_item_is_the_one_learned_from(polled):
    _, sessions, _ = polled
    correct(sessions, 1, categories=["abusive"], by="a")
    correct(sessions, 1, not_a_problem=True, by="b")
    correct(sessions, 3, categories=["praise"], by="a")
    with sessions() as session:
        found = corrections(session, "oakfield")
    assert [(c.item_id, c.categories) for c in found] == [(1, ()), (3, ("praise",))]
    assert found[1].text == "lovely assembly this morning"
    with sessions() as session:
        assert corrections(session, "another-school") == []


def test_the_functions_refuse_what_the_command_refuses(polled):
    _, sessions, _ = polled
    with pytest.raises(FeedbackError, match="no item with id 42"):
        correct(sessions, 42, categories=["praise"], by="a")
    with pytest.raises(FeedbackError, match="unknown categories 'x', 'y'"):
        correct(sessions, 1, categories=["x", "praise", "y"], by="a")


def test_corrections_go_with_their_items_when_retention_removes_them(polled):
    _, sessions, daemon = polled
    correct(sessions, 1, not_a_problem=True, by="champion")
    correct(sessions, 1, categories=["abusive"], by="head")
    correct(sessions, 2, categories=["question"], by="champion")
    long_ago = datetime.now(UTC) - timedelta(days=3 * 365)
    with sessions.begin() as session:
        session.execute(update(models.Item).where(models.Item.id == 1)
                        .values(created_at=long_ago, fetched_at=long_ago))
        # Retention keeps an open incident's items: someone still has to deal with them.
        session.execute(update(models.Incident).values(status="resolved", resolved_at=long_ago))
    daemon.apply_retention()
    with sessions() as session:
        assert set(session.scalars(select(models.Item.id))) == {2, 3}
        assert [f.item_id for f in session.scalars(select(models.Feedback))] == [2]
        assert corrections(session, "oakfield")[0].item_id == 2
        # The audit trail keeps that a correction was made, not what the comment said.
        trail = list(session.scalars(select(models.Action).order_by(models.Action.id)))
        assert [(a.item_id, a.result) for a in trail] == [
            (None, "is not a problem"), (None, "is abusive"), (2, "is question")]
