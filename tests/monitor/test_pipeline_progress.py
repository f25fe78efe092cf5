"""What a poll records beyond its items: the resources a pay-per-read platform charged for (once
per resource and UTC day, marked as backfill on a source's first poll), and where an interrupted
poll got to, handed back to the connector as "resume" on the next poll."""

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from connectors.replay import ReplayConnector
from monitor import models
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def platform(monkeypatch):
    """The replayed pages, each charged for the posts and authors on it as X charges, with the
    cursor every fetch was asked to start from."""
    asked: list[dict | None] = []
    real_fetch = ReplayConnector.fetch

    def fetch(self, source, cursor):
        asked.append(None if cursor is None else dict(cursor))
        for page in real_fetch(self, source, cursor):
            charged = tuple(f"post:{item.external_id}" for item in page.items) + tuple(
                f"user:{item.author.id}" for item in page.items)
            yield dataclasses.replace(page, charged=charged, reads=len(charged))

    monkeypatch.setattr(ReplayConnector, "fetch", fetch)
    return asked


def paid(sessions) -> list[tuple[str, str, bool]]:
    with sessions() as session:
        rows = session.execute(select(models.PaidRead.platform, models.PaidRead.resource,
                                      models.PaidRead.backfill))
        return sorted(tuple(row) for row in rows)


def test_charged_reads_are_recorded_once_per_day_and_the_first_poll_as_backfill(
        tmp_path, platform):
    first = write_replay(tmp_path / "fb", ["one", "two", "three", "four"], per_page=2)
    config = load(write_config(tmp_path))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    authors = {f"user:900{n % 4}" for n in range(1, 5)}
    assert paid(sessions) == sorted(
        [("replay", f"post:{i}", True) for i in first]
        + [("replay", author, True) for author in authors])

    # A steady poll: a new post by an author already charged for today costs only the post.
    more = write_replay(tmp_path / "fb", ["five"], first_id=5)
    Daemon(config, sessions).poll_once()
    rows = paid(sessions)
    assert ("replay", f"post:{more[0]}", False) in rows
    assert len(rows) == 8 + 1  # user:9001 was charged today already
    with sessions() as session:
        runs = list(session.scalars(select(models.PollRun).order_by(models.PollRun.id)))
        assert [run.backfill for run in runs] == [True, False]
        day = session.scalars(select(models.PaidRead.day)).first()
    assert day == datetime.now(UTC).date().isoformat()


def poll_interrupted(config, sessions):
    """A poll stopped (Ctrl-C) after its first page."""
    daemon = Daemon(config, sessions)
    original = daemon.pipeline.store_page

    def store_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        daemon.stop.set()

    daemon.pipeline.store_page = store_then_stop
    return daemon.poll_once()


def test_an_interrupted_poll_resumes_from_its_saved_progress(tmp_path, platform):
    ids = write_replay(tmp_path / "fb", [f"comment {n}" for n in range(6)], per_page=2)
    config = load(write_config(tmp_path))
    _, sessions = open_database(config)
    [result] = poll_interrupted(config, sessions)
    assert result.pages == 1 and not result.completed
    with sessions() as session:
        source = session.scalars(select(models.Source)).one()
        progress = source.progress
        assert source.cursor is None and progress is not None

    [result] = Daemon(config, sessions).poll_once()
    assert result.completed
    assert platform[-1] == {"resume": progress}
    with sessions() as session:
        cursor = session.scalars(select(models.Source)).one().cursor
        assert len(list(session.scalars(select(models.Item)))) == len(ids)

    # A finished poll leaves nothing to resume: the next one starts from the cursor alone.
    Daemon(config, sessions).poll_once()
    assert platform[-1] == cursor

    # Interrupted again, after a cursor exists: the cursor, with the progress to resume from.
    write_replay(tmp_path / "fb", ["later 1", "later 2", "later 3", "later 4"], first_id=10,
                 per_page=2)
    poll_interrupted(config, sessions)
    with sessions() as session:
        progress = session.scalars(select(models.Source)).one().progress
    Daemon(config, sessions).poll_once()
    assert platform[-1] == {**cursor, "resume": progress}
