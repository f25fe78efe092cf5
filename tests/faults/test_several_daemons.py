"""Two and three daemons on one PostgreSQL database against one fake platform, each reaching it
through a port of its own, so the platform's request log says who polled what and when."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from monitor import models
from tests.faults.harness import (
    Daemon,
    FakePlatform,
    MailServer,
    concurrent_polls,
    engine_for,
    outcome,
    settle,
    upgrade_database,
    wait_until,
    write_setup,
)

pytestmark = pytest.mark.postgres

LEASE = 4.0  # seconds; the test config's lease
POLL_TICK = 1.0  # the test config's poll interval


def leased_by(url: str, pid: int) -> list[str]:
    """The sources a daemon process holds a live lease on, as the fake names them."""
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(models.Source.platform, models.Source.account, models.Source.kind)
                .where(models.Source.leased_by.like(f"%:{pid}:%"),
                       models.Source.lease_until.is_not(None))).all()
    finally:
        engine.dispose()
    return [f"{platform}:{account}:{kind}" for platform, account, kind in rows]


def takeover_seconds(entries: list[dict], source: str, killed_at: float,
                     victim_port: int) -> float | None:
    after = [e["t0"] for e in entries
             if e.get("source") == source and e["t0"] > killed_at and e["door"] != victim_port]
    return min(after) - killed_at if after else None


@pytest.mark.parametrize("count", [2, 3])
def test_daemons_sharing_postgresql_never_poll_a_source_at_once_and_take_over_a_dead_ones(
        tmp_path, postgres_url, count):
    # Some answers take 1.5 s, so a poll of several pages outlives its 4 s lease unless the
    # lease is renewed while it runs.
    fake = FakePlatform(tmp_path, doors=count, facebook=2, instagram=1, x=1, seed=20 + count,
                        rate=20, harmful=0.15, slow_rate=0.12, slow_seconds=1.5,
                        burst_at=(4.0,), burst_size=120)
    mail = MailServer(0.2).start()
    try:
        setup = write_setup(tmp_path, fake, mail, database_url=postgres_url,
                            lease=f"{LEASE:g}s", poll_interval=f"{POLL_TICK:g}s")
        upgrade_database(setup)
        # Started together on one database: none may fall over another's rows.
        daemons = [Daemon(setup, door, tmp_path) for door in range(count)]
        for daemon in daemons:
            daemon.start()
        for daemon in daemons:
            assert daemon.wait_ready(), daemon.output()[-3000:]
        time.sleep(4)
        assert all(daemon.alive() for daemon in daemons), [d.output()[-2000:] for d in daemons]

        victim = daemons[-1]
        holding: list[str] = []
        wait_until(lambda: bool(holding.extend(leased_by(postgres_url, victim.pid)) or holding),
                   15.0, 0.02)
        killed_at = time.time()
        victim.kill9()
        assert holding, "the daemon to kill never held a lease"
        time.sleep(LEASE + 3 * POLL_TICK)
        survivors = daemons[:-1]
        assert all(daemon.alive() for daemon in survivors)
        published = settle(fake, setup, survivors, timeout=60.0)
        entries = fake.requests()
        result = outcome(setup, published, mail)
    finally:
        fake.stop()
        mail.stop()

    victim_port = fake.ports[victim.door]
    taken = {source: takeover_seconds(entries, source, killed_at, victim_port)
             for source in holding}
    print(f"{count} daemons: {result.summary()}")
    for source, seconds in taken.items():
        shown = "never" if seconds is None else f"{seconds:.1f}s"
        print(f"  {source} held by the killed daemon, polled by another after {shown} "
              f"(lease {LEASE:g}s)")
    assert concurrent_polls(entries) == []
    assert result.problems() == {}
    # One lease, then the next tick of a survivor (with some slack for a busy machine).
    assert all(seconds is not None and seconds <= LEASE + 2 * POLL_TICK + 3.0
               for seconds in taken.values()), taken
