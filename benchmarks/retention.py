"""How long the retention job takes on a busy school's database, and how long it makes the
daemon's own writes wait.

The database (filled with bulk inserts, not timed) holds five weeks of a busy school's comments,
each with its raw payload, its verdict and, for the flagged ones, an incident that was resolved.
The job then runs as of a year and a half later, so every rule has work: raw payloads, unflagged
texts, flagged items with their incidents. While it runs, a writer thread stands in for the
daemon, committing one small write every 20 ms, and the longest any of those waited is printed
beside the job's seconds: deleting in batches is what keeps it short.

    python benchmarks/retention.py [--items 20000] [--batch-size 500]
                                   [--database-url postgresql://user:pass@host/db]

SQLite always; PostgreSQL too when --database-url or HALLMONITOR_TEST_POSTGRES_URL names one (a
new database is made beside it, its role needs CREATEDB, and dropped afterwards).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.digest import NOW, fill, write_config  # noqa: E402
from benchmarks.scratch_database import fresh_postgres, load_on  # noqa: E402
from monitor import models, retention  # noqa: E402
from monitor.daemon import open_database  # noqa: E402

# Long after every comment, and after every incident's resolution plus the flagged period.
LATER = NOW + timedelta(days=550)
WRITE_EVERY = 0.02


class Writer(threading.Thread):
    """The daemon's side: one small committed write every WRITE_EVERY seconds, timing each."""

    def __init__(self, sessions) -> None:
        super().__init__(daemon=True)
        self.sessions = sessions
        self.stopped = threading.Event()
        self.longest = 0.0
        self.writes = 0

    def run(self) -> None:
        while not self.stopped.wait(WRITE_EVERY):
            started = time.perf_counter()
            with self.sessions.begin() as session:
                session.execute(update(models.School).values(name="School 00"))
            self.longest = max(self.longest, time.perf_counter() - started)
            self.writes += 1


def one_run(root: Path, database_url: str | None, items: int, batch_size: int) -> None:
    config_path = write_config(root, 1, trust=False)
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(text + f"\n[retention]\nbatch_size = {batch_size}\n", encoding="utf-8")
    config = load_on(config_path, database_url)
    engine, sessions = open_database(config)
    per_week = {weeks_back: items // 5 for weeks_back in range(5)}
    fill(config, sessions, per_week, random.Random(12))
    with sessions.begin() as session:
        session.execute(update(models.Item).values(raw={"id": "payload", "from": {"id": "1"}}))
        session.execute(update(models.Incident).values(status="resolved"))
    writer = Writer(sessions)
    writer.start()
    started = time.perf_counter()
    result = retention.apply(config, sessions, now=LATER, by="benchmark")
    seconds = time.perf_counter() - started
    writer.stopped.set()
    writer.join()
    removed = ", ".join(f"{kind} {count:,}" for kind, count in result.counts().items() if count)
    print(f"[{engine.dialect.name}] {items:,} comments, batches of {batch_size}: "
          f"{seconds:.1f} s ({removed}); the daemon's {writer.writes:,} writes meanwhile "
          f"waited at most {writer.longest * 1000:.0f} ms", flush=True)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="comments over five weeks")
    parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
    parser.add_argument("--database-url", default=os.environ.get(
        "HALLMONITOR_TEST_POSTGRES_URL"), help="a PostgreSQL database to run beside SQLite")
    args = parser.parse_args()
    places: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.database_url:
        places.append(("postgresql", args.database_url))
    for name, url in places:
        with tempfile.TemporaryDirectory() as scratch:
            database = fresh_postgres(url) if name == "postgresql" else nullcontext(None)
            with database as database_url:
                one_run(Path(scratch), database_url, args.items, args.batch_size)


if __name__ == "__main__":
    main()
