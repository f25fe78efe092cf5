"""Daemon tests run on SQLite, and on PostgreSQL too where one is available (CI starts one)."""

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get("HALLMONITOR_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, monkeypatch):
    """Which database the test's config uses; for PostgreSQL an empty schema each time."""
    if request.param == "sqlite":
        monkeypatch.delenv("HALLMONITOR_DATABASE_URL", raising=False)
        return "sqlite"
    if not POSTGRES_URL:
        pytest.skip("set HALLMONITOR_TEST_POSTGRES_URL to a scratch PostgreSQL database "
                    "to run these tests on PostgreSQL too (.ci/run does)")
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            # A session an earlier test left open in a transaction would otherwise make this
            # wait for ever, and the whole run with it.
            connection.execute(text("SET LOCAL lock_timeout = '30s'"))
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    except OperationalError as exc:
        pytest.fail("could not empty the PostgreSQL schema: a session of an earlier test still "
                    f"holds a transaction open (never closed?): {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    monkeypatch.setenv("HALLMONITOR_DATABASE_URL", POSTGRES_URL)
    return "postgresql"
