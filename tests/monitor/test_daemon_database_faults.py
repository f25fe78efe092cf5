"""A database that cannot take writes: read-only stops the daemon with one clear line; full or
locked is one clear line per episode, nothing read is lost, and the daemon carries on once the
fault clears. Real SQLite files throughout; the full disk alone is injected (see below)."""

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from monitor import models
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import COMMENTS, write_config, write_replay

TEXTS = [text for text, _ in COMMENTS]


@pytest.fixture
def school(tmp_path, monkeypatch):
    monkeypatch.delenv("HALLMONITOR_DATABASE_URL", raising=False)
    write_replay(tmp_path / "fb", TEXTS)
    path = write_config(tmp_path, {"digital_champion": ["console://"]}, daemon='lease = "1s"')
    return path


def stored(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(models.Item))


def daemon_log(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("monitor")
            and r.levelno >= logging.INFO]


@pytest.fixture
def read_only(school):
    """The database file made read-only for real: immutable when running as root (root may
    write to any file its mode forbids), its mode otherwise."""
    config = load(school)
    _, sessions = open_database(config)
    Daemon(config, sessions).sync_sources()  # a database in use, then made read-only
    database = Path(config.database_url.removeprefix("sqlite:///"))
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(database)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot make a file read-only as root here (chattr: "
                        f"{made.stderr.decode().strip()})")
        undo = ["chattr", "-i", str(database)]
    else:
        database.chmod(0o444)
        undo = ["chmod", "644", str(database)]
    yield school, database
    subprocess.run(undo, check=True)


def test_a_read_only_database_stops_the_daemon_with_one_clear_line(read_only):
    path, database = read_only
    run = subprocess.run([sys.executable, "-m", "monitor", "run", "--config", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[-1] == (f"hallmonitor: cannot write to the database at {database}: "
                         "it is read-only")
    assert sum("read-only" in line for line in lines) == 1


def test_poll_once_on_a_read_only_database_fails_with_one_line(read_only, capsys):
    path, database = read_only
    with pytest.raises(SystemExit) as exit_info:
        main(["poll", "--once", "--config", str(path)])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert f"cannot write to the database at {database}: it is read-only" in err
    assert "Traceback" not in err


def test_a_database_turning_read_only_while_running_stops_the_daemon(school):
    config = load(school)
    engine, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    [source] = daemon.sync_sources()

    @event.listens_for(engine, "before_cursor_execute")
    def read_only(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("attempt to write a readonly database")

    daemon._guarded(daemon._poll_job, source.id)
    assert daemon.stop.is_set()
    assert daemon.fatal.endswith("it is read-only")


def test_a_full_disk_is_one_line_per_episode_and_nothing_is_lost(school, caplog):
    # A full disk cannot be made without root here (no small filesystem to fill), so the
    # error SQLite gives then is raised at the engine, for every write, while `full` holds.
    config = load(school)
    engine, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    daemon.prepare()
    [source] = daemon.sync_sources()
    disk = {"full": True}

    @event.listens_for(engine, "before_cursor_execute")
    def full(conn, cursor, statement, params, context, executemany):
        if disk["full"] and statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")

    caplog.set_level(logging.DEBUG)
    for _ in range(5):
        daemon._guarded(daemon._poll_job, source.id)
    assert not daemon.stop.is_set()
    lines = daemon_log(caplog)
    [said] = [r.getMessage() for r in lines if "disk is full" in r.getMessage()]
    assert said.startswith("cannot write to the database at /")
    assert said.endswith(".sqlite3: the disk is full (database or disk is full); nothing read "
                         "is lost: polling carries on where it left off once this clears")
    assert not any(r.exc_info for r in lines)
    assert stored(sessions) == 0

    disk["full"] = False
    daemon._guarded(daemon._poll_job, source.id)
    assert stored(sessions) == len(TEXTS)
    assert any("takes writes again" in r.getMessage() for r in daemon_log(caplog))


def test_a_database_locked_by_another_writer_is_waited_out(school, caplog):
    config = load(school)
    engine, sessions = open_database(config)

    # Wait 0.2 s for a lock instead of 10 s, so that the test takes seconds.
    @event.listens_for(engine, "connect")
    def impatient(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    engine.dispose()
    daemon = Daemon(config, sessions)
    daemon.prepare()
    [source] = daemon.sync_sources()
    other = sqlite3.connect(config.database_url.removeprefix("sqlite:///"), timeout=0.1)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database
    caplog.set_level(logging.INFO)
    try:
        for _ in range(4):
            daemon._guarded(daemon._poll_job, source.id)
        locked = [r for r in daemon_log(caplog) if "locked by another writer" in r.getMessage()]
        assert len(locked) == 1
        assert not any(r.exc_info for r in daemon_log(caplog))
        assert not daemon.stop.is_set()
    finally:
        other.rollback()
        other.close()
    daemon._guarded(daemon._poll_job, source.id)
    assert stored(sessions) == len(TEXTS)
    assert any("takes writes again" in r.getMessage() for r in daemon_log(caplog))
