"""A daemon killed at any moment of its very first start, while it creates its SQLite database,
starts normally the next time (as systemd's Restart=on-failure would start it)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from tests.faults.harness import Daemon, FakePlatform, MailServer, wait_until, write_setup

# After the database file appears: the schema is being created within the first few hundred ms.
KILL_AFTER = (0.0, 0.02, 0.05, 0.08, 0.12, 0.2)


def test_a_daemon_killed_while_creating_its_database_starts_the_next_time(tmp_path):
    fake = FakePlatform(tmp_path, facebook=1, instagram=0, x=0, seed=61, rate=0)
    mail = MailServer(0.1).start()
    failures = []
    try:
        setup = write_setup(tmp_path, fake, mail)
        database = Path(setup.database_url[len("sqlite:///"):])
        for attempt, delay in enumerate(KILL_AFTER):
            shutil.rmtree(database.parent, ignore_errors=True)
            first = Daemon(setup, 0, tmp_path, name=f"first{attempt}").start()
            wait_until(database.exists, 60.0, 0.002)
            time.sleep(delay)
            first.kill9()
            again = Daemon(setup, 0, tmp_path, name=f"again{attempt}").start()
            if not again.wait_ready():
                failures.append(f"killed {delay:.2f}s after the file appeared: "
                                f"{again.output().strip()[-300:]}")
            again.stop()
    finally:
        fake.stop()
        mail.stop()
    assert failures == []
