"""Failures that last reach IT: a source failing for longer than `failure_notice_after` tells IT
once, and once again when it recovers; a failure of our own (the classifier, the database)
tells IT after a few polls in a row, and is logged once per episode, not a traceback per poll."""

import logging
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from connectors import RetryableError
from connectors.replay import ReplayConnector
from monitor import models
from monitor.classify import ClassifierCache
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

pytestmark = pytest.mark.usefixtures("database")


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def school(tmp_path):
    write_replay(tmp_path / "fb", ["is the trip still on tomorrow?", "lovely assembly today"])
    config = load(write_config(tmp_path, {"it": ["console://"]},
                               daemon='failure_notice_after = "2h"'))
    _, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    daemon.pipeline.now = clock = Clock()
    return daemon, sessions, clock


@pytest.fixture
def outage(monkeypatch):
    """The platform is unreachable while `down` is true."""
    state = {"down": True}
    real_fetch = ReplayConnector.fetch

    def fetch(self, source, cursor):
        if state["down"]:
            raise RetryableError("connection refused by graph.facebook.com")
        yield from real_fetch(self, source, cursor)

    monkeypatch.setattr(ReplayConnector, "fetch", fetch)
    return state


def it_notices(sessions) -> list[models.Alert]:
    with sessions() as session:
        return list(session.scalars(
            select(models.Alert).where(models.Alert.kind.in_(("source_failing",
                                                              "source_recovered")))
            .order_by(models.Alert.id)))


def test_a_source_failing_for_two_hours_tells_it_once_and_again_on_recovery(school, outage):
    daemon, sessions, clock = school
    for _ in range(12):  # every 10 minutes for 1 h 50 min: not yet
        daemon.poll_once()
        clock.advance(minutes=10)
    assert it_notices(sessions) == []

    clock.advance(minutes=10, seconds=1)  # 2 h since the first failure
    daemon.poll_once()
    [failing] = it_notices(sessions)
    assert failing.kind == "source_failing"
    assert "oakfield/replay/" in failing.body
    assert "since 2026-03-02 09:00 UTC" in failing.body
    assert "connection refused by graph.facebook.com" in failing.body
    assert [d.roles for d in failing_deliveries(sessions, failing)] == [["it"]]

    for _ in range(6):  # hours more of the same outage: told once is enough
        clock.advance(minutes=30)
        daemon.poll_once()
    assert len(it_notices(sessions)) == 1

    outage["down"] = False
    clock.advance(minutes=5)
    [result] = daemon.poll_once()
    assert result.error is None and result.new_items == 2
    failing, recovered = it_notices(sessions)
    assert recovered.kind == "source_recovered"
    assert "had failed since 2026-03-02 09:00 UTC" in recovered.body
    daemon.poll_once()
    assert len(it_notices(sessions)) == 2
    with sessions() as session:
        source = session.scalars(select(models.Source)).one()
        assert source.failing_since is None and not source.failure_notified


def failing_deliveries(sessions, alert) -> list[models.Delivery]:
    with sessions() as session:
        return list(session.scalars(select(models.Delivery).where(
            models.Delivery.alert_id == alert.id)))


def test_a_short_outage_tells_nobody(school, outage):
    daemon, sessions, clock = school
    for _ in range(3):
        daemon.poll_once()
        clock.advance(minutes=20)
    outage["down"] = False
    daemon.poll_once()
    assert it_notices(sessions) == []


@pytest.fixture
def broken_classifier(monkeypatch):
    """The classifier raises on every page, as a corrupted feature cache did."""
    state = {"broken": True}
    real_for_school = ClassifierCache.for_school

    def for_school(self, school, session=None):
        classifier = real_for_school(self, school, session)
        if not state["broken"]:
            return classifier

        class Corrupted:
            def predict(self, texts):
                raise ValueError("index pointer size 5 should be 4")

        return Corrupted()

    monkeypatch.setattr(ClassifierCache, "for_school", for_school)
    return state


def test_repeated_internal_failures_reach_it_promptly_and_are_logged_once(
        school, broken_classifier, caplog):
    daemon, sessions, clock = school
    caplog.set_level(logging.DEBUG)
    for poll in range(1, 6):
        [result] = daemon.poll_once()
        assert result.error.startswith("internal error: ValueError: index pointer size")
        assert len(it_notices(sessions)) == (1 if poll >= 3 else 0), poll
        clock.advance(minutes=1)
    [notice] = it_notices(sessions)
    assert "not the platform" in notice.body
    assert "index pointer size 5 should be 4" in notice.body

    loud = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith(
        "monitor")]
    assert not any(r.exc_info for r in loud), "no traceback above debug level"
    errors = [r for r in loud if "index pointer size" in r.getMessage()]
    assert len(errors) == 1, [r.getMessage() for r in errors]

    broken_classifier["broken"] = False
    [result] = daemon.poll_once()
    assert result.error is None and result.new_items == 2  # nothing read was lost
    assert [a.kind for a in it_notices(sessions)] == ["source_failing", "source_recovered"]


def test_a_database_error_while_storing_a_page_reaches_it_too(school):
    daemon, sessions, clock = school
    engine = sessions.kw["bind"]

    # Storing the verdicts fails, as a schema drifted by hand or a bug would make it.
    @event.listens_for(engine, "before_cursor_execute")
    def refuse_verdicts(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO VERDICT"):
            raise sqlite3.IntegrityError("NOT NULL constraint failed: verdict.model_version")

    try:
        for _ in range(3):
            [result] = daemon.poll_once()
            assert result.error.startswith("internal error: ")
            clock.advance(minutes=1)
        [notice] = it_notices(sessions)
        assert "verdict.model_version" in notice.body
    finally:
        event.remove(engine, "before_cursor_execute", refuse_verdicts)
    [result] = daemon.poll_once()
    assert result.error is None and result.new_items == 2
