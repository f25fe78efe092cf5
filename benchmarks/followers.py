"""Follower sync of an account with many followers, against a local X that answers like X API v2.

An account with 200,000 followers is synced in full once (the setup, timed too), then 500 new
followers arrive and the daily incremental sync runs, screening each new follower (the classifier
and the signals). Printed for each: requests to X, paid reads
(X charges each follower returned, once per UTC day), and seconds. Run from the repository:

    .venv/bin/python benchmarks/followers.py [--followers 200000] [--new 500] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch_database import fresh_postgres  # noqa: E402
from monitor import followers, sources  # noqa: E402
from monitor.classify import ClassifierCache  # noqa: E402
from monitor.config import load  # noqa: E402
from monitor.daemon import open_database  # noqa: E402
from monitor.pipeline import Pipeline  # noqa: E402
from tests.connectors.test_x_followers import FakeFollowers, x_user  # noqa: E402
from tests.http_server import LocalServer  # noqa: E402

SCHOOL_ID = "1456789012345678901"
CONFIG = """
[daemon]
data_dir = "data"
[[schools]]
id = "bench"
name = "Benchmark Academy"
[[schools.accounts]]
platform = "x"
account = "{account}"
kinds = ["followers"]
credentials = {{ bearer_token = "env:HM_BENCH_X_BEARER" }}
settings = {{ base_url = "{url}", max_full_sync_cost = 5000.0, monthly_budget = 50.0 }}
[[schools.recipients]]
role = "it"
urls = ["console://"]
"""


def timed_sync(pipeline: Pipeline, source_id: int, fake: FakeFollowers, label: str) -> None:
    asked_before = len(fake.asked)
    started = time.perf_counter()
    result = pipeline.poll(source_id, due_only=False)
    seconds = time.perf_counter() - started
    if result.error:
        raise SystemExit(f"{label}: {result.error}")
    outcome = result.followers
    print(f"{label:<40} requests {len(fake.asked) - asked_before + fake.lookups:>4}  "
          f"paid reads {outcome.reads:>7,}  new {len(outcome.new):>5}  "
          f"seconds {seconds:7.2f}")
    fake.lookups = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=200_000)
    parser.add_argument("--new", type=int, default=500)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL URL to run beside (a scratch database is made next to "
                             "it and dropped); SQLite by default")
    args = parser.parse_args()
    os.environ["HM_BENCH_X_BEARER"] = "AAAA-bench-bearer"
    server = LocalServer().start()
    fake = FakeFollowers(account=SCHOOL_ID).serve(server)
    fake.follow(*(x_user(n) for n in range(args.followers)))
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.database_url) as url:
        if url:
            os.environ["HALLMONITOR_DATABASE_URL"] = url
        path = Path(tmp) / "config.toml"
        path.write_text(CONFIG.format(account=SCHOOL_ID, url=fake.url), encoding="utf-8")
        config = load(path)
        _, sessions = open_database(config)
        with sessions.begin() as session:
            source_id = sources.sync(session, config)[0].id
        clock = [datetime(2026, 12, 1, 6, 0, tzinfo=UTC)]
        pipeline = Pipeline(config, sessions, ClassifierCache(config), "bench")
        pipeline.now = lambda: clock[0]
        print(f"account with {args.followers:,} followers, {args.new} new the next day "
              f"({'PostgreSQL' if url else 'SQLite'})")
        timed_sync(pipeline, source_id, fake, "first (full) sync")
        clock[0] += timedelta(days=1)
        fake.follow(*(x_user(args.followers + n) for n in range(args.new)))
        timed_sync(pipeline, source_id, fake, f"daily sync + screening, {args.new} new")
        clock[0] += timedelta(days=1)
        fake.follow(*(x_user(2 * args.followers + n) for n in range(args.new)))
        timed_sync(pipeline, source_id, fake, f"next daily sync + screening, {args.new} new")
        started = time.perf_counter()
        with sessions() as session:
            fresh = followers.new_followers(session, source_id, clock[0] - timedelta(hours=1))
        print(f"{'new_followers() for screening':<40} {len(fresh)} followers in "
              f"{time.perf_counter() - started:.3f} s; screened in the sync: "
              f"{sum(1 for f in fresh if f.screening)}")
        clock[0] += timedelta(days=1)
        timed_sync(pipeline, source_id, fake, "a day with none new")
    server.stop()


if __name__ == "__main__":
    main()
