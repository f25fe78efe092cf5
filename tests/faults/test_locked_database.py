"""Another program holds the SQLite database's write lock for longer than the daemon's busy
timeout: the daemon says so plainly, loses nothing, and carries on when the lock is released."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from tests.faults.harness import (
    Daemon,
    FakePlatform,
    MailServer,
    outcome,
    settle,
    write_setup,
)

HOLD_SECONDS = 13.0  # longer than the daemon's 10 s busy timeout, so its writes fail


def test_a_database_locked_by_another_writer_is_reported_lost_nothing_and_recovered(tmp_path):
    fake = FakePlatform(tmp_path, facebook=1, instagram=1, x=1, seed=41, rate=30, harmful=0.25)
    mail = MailServer(0.2).start()
    try:
        setup = write_setup(tmp_path, fake, mail)
        daemon = Daemon(setup, 0, tmp_path).start()
        assert daemon.wait_ready(), daemon.output()[-3000:]
        time.sleep(2)
        locker = sqlite3.connect(Path(setup.database_url[len("sqlite:///"):]),
                                 isolation_level=None, timeout=30)
        locker.execute("BEGIN EXCLUSIVE")
        time.sleep(HOLD_SECONDS)
        locker.execute("COMMIT")
        locker.close()
        released_at = time.time()
        assert daemon.alive(), daemon.output()[-3000:]
        published = settle(fake, setup, [daemon], timeout=45.0)
        result = outcome(setup, published, mail)
    finally:
        fake.stop()
        mail.stop()
    log = daemon.output()
    told = [line for line in log.splitlines() if re.search(r"\b(locked|busy)\b", line, re.I)]
    print(f"{result.summary()}; {len(told)} lines about the lock:")
    print("\n".join(told[:10]))
    assert told, "nothing in the log says the database was locked"
    assert "Traceback" not in log, log[-3000:]
    # Once per episode, not once per job and second.
    assert len(told) <= 10, told
    assert result.problems() == {}
    assert max(p["at"] for p in published) > released_at - HOLD_SECONDS  # published meanwhile
