"""Engine, sessions and schema upgrades.

SQLite (the default) runs in WAL mode so the CLI can read while the daemon writes, with a busy
timeout instead of immediate 'database is locked' errors. PostgreSQL needs nothing special.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import DatabaseError, DatabaseUnreachable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Seconds to wait for a PostgreSQL server that does not answer, instead of the OS's minutes.
CONNECT_TIMEOUT = 10


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError("the database URL is not valid (e.g. sqlite:///path/to/file)") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    connect_args = {} if "connect_timeout" in parsed.query else {
        "connect_timeout": CONNECT_TIMEOUT}
    try:
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"the driver for {parsed.get_backend_name()} is not installed ({exc.name}); "
            "for PostgreSQL: pip install 'hallmonitor[postgres]'"
        ) from None


def shown_url(url: URL | str) -> str:
    """Where the database is, for people: driver, user, host, port and name; never the
    password, not even masked."""
    parsed = make_url(url) if isinstance(url, str) else url
    shown = URL.create(parsed.get_backend_name(), username=parsed.username, host=parsed.host,
                       port=parsed.port, database=parsed.database)
    return shown.render_as_string(hide_password=False)


def error_reason(exc: BaseException, url: URL | str | None = None) -> str:
    """One line saying why a database operation failed, from the driver's (often multi-line)
    text: "connection refused", "password authentication failed for user \"hm\""."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    # psycopg lists one line per address tried under a heading ending in a colon.
    line = next((line for line in lines if not line.endswith(":")), "")
    line = line.split("connection failed: ")[-1]
    line = re.sub(r'^connection to server (at|on) "[^"]*"(, port \d+)? failed: ', "", line)
    line = re.sub(r"^(FATAL|ERROR):\s+", "", line)
    line = re.sub(r"\[Errno -?\d+\] ", "", line)
    password = (make_url(url) if isinstance(url, str) else url).password if url else None
    if password:
        line = line.replace(str(password), "***")
    return (line[:1].lower() + line[1:]) if line else type(original).__name__


@contextmanager
def connected(engine: Engine, *, begin: bool = False) -> Iterator[Connection]:
    """A connection, or `DatabaseUnreachable` in one line when none can be made. Only making
    the connection is translated: errors from the work done on it are the caller's."""
    try:
        connection = engine.connect()
    except DBAPIError as exc:
        verb = "open" if engine.dialect.name == "sqlite" else "connect to"
        raise DatabaseUnreachable(f"cannot {verb} the database at {shown_url(engine.url)}: "
                                  f"{error_reason(exc, engine.url)}") from None
    with connection:
        if begin:
            with connection.begin():
                yield connection
        else:
            yield connection


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is already there)."""
    config = _alembic_config()
    with connected(engine) as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Python's sqlite3 commits before every CREATE or ALTER on its own, so a daemon
            # killed while creating its database would leave half a schema that no later start
            # could finish. Taking transaction control from the driver and opening one here
            # makes the whole upgrade one transaction: all of it, or none.
            raw = connection.connection.dbapi_connection
            raw.isolation_level = None
        try:
            with connection.begin():
                if sqlite:
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            if sqlite:
                raw.isolation_level = ""  # the driver's usual handling, for the pool's next user


def is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with connected(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision() == head
