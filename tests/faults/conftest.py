"""Fault tests run real processes: daemons, the fake platform, a mail server. PostgreSQL runs
get a fresh database each, made from HALLMONITOR_TEST_POSTGRES_URL (its role may create
databases) and dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("HALLMONITOR_TEST_POSTGRES_URL")


def _admin(url: str):
    import psycopg

    return psycopg.connect(make_url(url).set(drivername="postgresql")
                           .render_as_string(hide_password=False), autocommit=True)


@pytest.fixture
def postgres_url(request) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    if not POSTGRES_URL:
        pytest.skip("set HALLMONITOR_TEST_POSTGRES_URL to a PostgreSQL database whose role may "
                    "create databases, to run the fault tests on PostgreSQL (.ci/run does)")
    name = f"hm_faults_{uuid.uuid4().hex[:12]}"
    with _admin(POSTGRES_URL) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin(POSTGRES_URL) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
