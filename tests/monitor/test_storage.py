import os
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from monitor import db, models


@pytest.fixture
def engine(database, tmp_path):
    url = os.environ["HALLMONITOR_DATABASE_URL"] if database == "postgresql" else (
        f"sqlite:///{tmp_path / 'hm.sqlite3'}")
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


def test_the_migrations_build_exactly_the_schema_of_the_models(engine):
    db.upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection),
                                       models.Base.metadata)
    assert differences == []
    assert db.is_current(engine)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hm.sqlite3'}")
    engine.connect().close()
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.parametrize("failing_at", ["CREATE TABLE feedback", "CREATE TABLE paid_read"])
def test_an_upgrade_cut_off_part_way_leaves_nothing_behind_and_the_next_one_completes(
        engine, failing_at):
    """A daemon killed while creating its database must start the next time: the schema is
    created in one transaction, all of it or none."""
    from sqlalchemy import event, inspect

    def cut_off(conn, cursor, statement, *args):
        if statement.strip().startswith(failing_at):
            raise RuntimeError("killed")

    event.listen(engine, "before_cursor_execute", cut_off)
    with pytest.raises(RuntimeError, match="killed"):
        db.upgrade(engine)
    event.remove(engine, "before_cursor_execute", cut_off)
    assert inspect(engine).get_table_names() == []
    db.upgrade(engine)
    assert db.is_current(engine)


def test_upgrading_twice_is_harmless(engine):
    db.upgrade(engine)
    db.upgrade(engine)
    assert db.is_current(engine)


def test_times_are_stored_in_utc_and_come_back_aware(engine):
    db.upgrade(engine)
    sessions = db.session_factory(engine)
    london_evening = datetime(2026, 7, 1, 21, 30, tzinfo=timezone(timedelta(hours=1)))
    with sessions.begin() as session:
        session.add(models.School(id="s", name="S", timezone="Europe/London", keywords=[]))
    with sessions.begin() as session:
        session.add(models.Source(key="k", school_id="s", platform="replay",
                                  item_platform="facebook", kind="comments", account="1",
                                  settings={}, next_poll_at=london_evening))
    with sessions() as session:
        stored = session.execute(text("SELECT next_poll_at FROM source")).scalar()
        assert str(stored).startswith("2026-07-01 20:30:00")
        row = session.query(models.Source).one()
        assert row.next_poll_at == london_evening and row.next_poll_at.tzinfo == UTC
    with sessions() as session, pytest.raises(StatementError, match="naive datetime"):
        session.add(models.Source(key="k2", school_id="s", platform="replay",
                                  item_platform="facebook", kind="comments", account="1",
                                  settings={}, next_poll_at=datetime(2026, 7, 1)))
        session.flush()


def test_a_bad_database_url_is_a_clear_error():
    with pytest.raises(db.DatabaseError, match="not valid"):
        db.make_engine("not a url")


def test_incidents_from_before_harms_were_kept_apart_are_labelled_by_their_worst_harm(engine):
    """Opened by an older release, they must still be found by the console's harm filters and
    escalated if they are threats or disclosures."""
    from alembic import command

    config = db._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(text("INSERT INTO school (id, name, timezone, keywords) "
                                "VALUES ('oak', 'Oak', 'Europe/London', '[]')"))
        for number, categories in enumerate(['["abusive", "threat"]', '["disparaging"]',
                                             '["safeguarding", "personal_data"]'], start=1):
            connection.execute(text(
                "INSERT INTO incident (id, school_id, key, status, severity, categories, "
                "item_count, opened_at, last_item_at) VALUES (:id, 'oak', :key, 'open', "
                "'urgent', :categories, 1, '2026-01-05 10:00:00', '2026-01-05 10:00:00')"),
                {"id": number, "key": f"thread:x:{number}", "categories": categories})
    db.upgrade(engine)
    with engine.connect() as connection:
        harms = dict(connection.execute(text("SELECT id, harm FROM incident")).all())
    assert harms == {1: "threat", 2: "hostility", 3: "safeguarding"}
