"""What a request handler needs from the daemon: its config and the database.

    config = hm_config()
    session = db()                      # reads: one session per request, closed at teardown
    with db_begin() as session:         # writes: one transaction, committed at the end of the
        ...                             # block, rolled back if it raises

`db()` is for reading; do not commit on it. Writes go through `db_begin()`, which opens a session
of its own, so a failed write never leaves the request's reading session half-way through a
transaction. Both are for use inside a request (or an app context).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Config

EXTENSION = "hallmonitor"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Console:
    """What the application was built with; kept in `app.extensions["hallmonitor"]`."""

    config: Config
    sessions: sessionmaker[Session]
    # The clock sign-in, sessions and links are judged by: tests move it instead of sleeping.
    clock: Callable[[], datetime] = field(default=_utc_now)


def console(app: Flask | None = None) -> Console:
    return (app or current_app).extensions[EXTENSION]


def hm_config() -> Config:
    """The daemon's configuration."""
    return console().config


def now() -> datetime:
    """The current time (UTC), by the console's clock."""
    return console().clock()


def db() -> Session:
    """The request's database session for reading, opened on first use and closed at teardown."""
    if "hm_db" not in g:
        g.hm_db = console().sessions()
    return g.hm_db


@contextmanager
def db_begin() -> Iterator[Session]:
    """A session in a transaction for writing: committed when the block ends, rolled back if it
    raises."""
    with console().sessions.begin() as session:
        yield session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("hm_db", None)
    if session is not None:
        session.close()
