"""kill -9 at random points of a run, with a mail server that takes 250 ms per message: nothing
published is lost, nothing is stored or alerted twice, every alert is delivered, no email arrives
twice unless it says it may be a repeat, and the SQLite file is intact."""

from __future__ import annotations

import pytest

from tests.faults.harness import kill_storm


def test_a_kill_9_storm_on_sqlite_loses_nothing_and_sends_nothing_twice(tmp_path):
    storm = kill_storm(tmp_path, kills=15, daemons=1, seed=11, log=print)
    print(f"SQLite: {storm.kills} kills ({storm.in_startup} during start-up) in "
          f"{storm.seconds:.0f}s: {storm.outcome.summary()}")
    assert storm.outcome.problems() == {}
    assert storm.outcome.integrity == "ok"
    # The storm saw real traffic: a pile-on, alerts, deliveries.
    assert storm.outcome.published > 50 and storm.outcome.alerts > 5


@pytest.mark.postgres
def test_a_kill_9_storm_on_postgresql_with_two_daemons_loses_nothing_and_sends_nothing_twice(
        tmp_path, postgres_url):
    storm = kill_storm(tmp_path, kills=15, daemons=2, database_url=postgres_url, seed=12,
                       log=print)
    print(f"PostgreSQL: {storm.kills} kills ({storm.in_startup} during start-up) in "
          f"{storm.seconds:.0f}s: {storm.outcome.summary()}")
    assert storm.outcome.problems() == {}
    # The storm saw real traffic: a pile-on, alerts, deliveries.
    assert storm.outcome.published > 50 and storm.outcome.alerts > 5
