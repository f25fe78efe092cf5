"""A scratch PostgreSQL database for a benchmark run: created beside the one a URL names, dropped
afterwards, so a benchmark never touches real data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from monitor.config import Config


@contextmanager
def fresh_postgres(url: str | None) -> Iterator[str | None]:
    """A new empty database beside the one `url` names, dropped afterwards (None: SQLite)."""
    if not url:
        yield None
        return
    import psycopg

    given = make_url(url)
    if given.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a postgresql:// URL (SQLite is the default)")
    admin = given.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"hm_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SystemExit(f"cannot create a scratch database: {reason}") from None
    try:
        yield given.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load_on(config_path: Path, database_url: str | None) -> Config:
    """The config at `config_path`, on `database_url` (None: its own SQLite), leaving the
    process's environment as it was."""
    from monitor.config import load

    if database_url:
        os.environ["HALLMONITOR_DATABASE_URL"] = database_url
    try:
        return load(config_path)
    finally:
        os.environ.pop("HALLMONITOR_DATABASE_URL", None)
