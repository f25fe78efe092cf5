"""Throughput of the whole pipeline on SQLite or PostgreSQL: store, classify, route, outbox.

Writes N synthetic comments as recorded Graph API pages, polls them through the replay connector
with the real daemon code, and prints items per second and peak memory.

    python benchmarks/pipeline.py [--items 20000] [--page-size 100]
                                  [--database-url postgresql://user:pass@host/db]

With --database-url the run uses a new database made beside the one named (its role needs
CREATEDB), dropped afterwards, so the figures are those of an empty database as on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch_database import fresh_postgres  # noqa: E402
from monitor import models  # noqa: E402
from monitor.config import parse  # noqa: E402
from monitor.daemon import Daemon, open_database  # noqa: E402

ORDINARY = [
    "Lovely photos from sports day, well done everyone",
    "what time does the christmas fair start on saturday?",
    "Is there after school club on the INSET day?",
    "Thank you Mrs Ahmed for all your help this term",
    "my daughter loved the trip to the farm",
    "can we still pay for dinners on the app?",
    "Great result for the under 11s at the weekend",
    "does anyone know if the uniform shop is open tomorrow",
]
FLAGGED = [
    "you are all useless idiots running this school",
    "the head covers up bullying, disgraceful",
    "I'll be waiting at the gates for that teacher",
    "Ring me on 07700 900123 about the coat",
    "Jack won't be in today, he's got a temperature",
    "WIN a free iPad, click the link in my bio",
]

CONFIG = """
[daemon]
data_dir = "data"
[[schools]]
id = "bench"
name = "Benchmark Academy"
[[schools.accounts]]
platform = "replay"
account = "1"
kinds = ["comments"]
settings = {{ path = "{folder}", as_platform = "facebook" }}
[[schools.recipients]]
role = "digital_champion"
urls = ["console://"]
[[schools.recipients]]
role = "dsl"
urls = ["console://"]
[[schools.recipients]]
role = "head"
urls = ["console://"]
"""


def write_pages(folder: Path, count: int, page_size: int, rng: random.Random) -> None:
    folder.mkdir(parents=True)
    start = datetime(2026, 11, 16, tzinfo=UTC)
    for page_number, first in enumerate(range(0, count, page_size), start=1):
        comments = []
        for n in range(first, min(first + page_size, count)):
            pool = FLAGGED if rng.random() < 0.1 else ORDINARY
            comments.append({
                "id": f"{n // 20}_{n}",
                "message": f"{rng.choice(pool)} #{n}",
                "created_time": (start + timedelta(seconds=30 * n)).strftime(
                    "%Y-%m-%dT%H:%M:%S+0000"),
                "from": {"id": str(1000 + rng.randrange(5000)), "name": "A Parent"},
                "permalink_url": f"https://www.facebook.com/1/posts/{n}",
            })
        (folder / f"{page_number:06d}.json").write_text(json.dumps({"data": comments}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--database-url", default=None,
                        help="run on PostgreSQL: a new database is made beside this one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.database_url) as url:
        if url:
            os.environ["HALLMONITOR_DATABASE_URL"] = url
        else:
            os.environ.pop("HALLMONITOR_DATABASE_URL", None)
        root = Path(tmp)
        write_pages(root / "pages", args.items, args.page_size, random.Random(0))
        config = parse(CONFIG.format(folder=root / "pages"), path=root / "config.toml")
        engine, sessions = open_database(config)
        daemon = Daemon(config, sessions)
        daemon.sync_sources()
        for school in config.schools:  # load the model outside the timed part
            daemon.classifiers.for_school(school)
        started = time.perf_counter()
        [result] = daemon.poll_once()
        elapsed = time.perf_counter() - started
        if result.error:
            raise SystemExit(f"poll failed: {result.error}")
        with sessions() as session:
            stored = session.scalar(select(func.count()).select_from(models.Item))
            alerts = session.scalar(select(func.count()).select_from(models.Alert))
            deliveries = session.scalar(select(func.count()).select_from(models.Delivery))
        engine.dispose()  # before the database is dropped
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database:       {'PostgreSQL' if args.database_url else 'SQLite'}")
    print(f"items:          {stored} in {result.pages} pages of {args.page_size}")
    print(f"alerts written: {alerts} ({deliveries} deliveries)")
    print(f"elapsed:        {elapsed:.2f} s")
    print(f"throughput:     {stored / elapsed:,.0f} items/s (store, classify, route, outbox)")
    print(f"peak memory:    {peak_mb:.0f} MB RSS")


if __name__ == "__main__":
    main()
