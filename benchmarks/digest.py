"""How long the weekly digests take to build, and how much memory they need.

Two cases, each in its own scratch database filled with bulk inserts (not timed):
- a school with 100,000 comments in the week (and as many in each of the four weeks before, so
  the comparison and the phrase analysis have the same work as in a real busy month): the head's
  digest, built and rendered with its chart, as the daemon would send it;
- a trust of 50 schools with 2,000 comments a week each: the trust's roll-up with its small
  multiples.

For each it prints the seconds taken, the peak memory the build allocated (Python's own
allocations, from tracemalloc) and the peak resident size of the fresh process that built it.

    python benchmarks/digest.py [--items 100000] [--earlier-items N] [--schools 50]
                                [--per-school 2000] [--database-url postgresql://user:pass@host/db]

SQLite always; PostgreSQL too when --database-url or HALLMONITOR_TEST_POSTGRES_URL names one (a
new database is made beside it, its role needs CREATEDB, and dropped afterwards).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch_database import fresh_postgres, load_on  # noqa: E402
from monitor import models, sources  # noqa: E402
from monitor.config import Config, load  # noqa: E402
from monitor.daemon import open_database  # noqa: E402

WEEK = "2026-W47"
WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)  # London is on UTC in November
WEEK_SECONDS = 7 * 24 * 3600
NOW = WEEK_START + timedelta(days=7, hours=7, minutes=30)

# (share of the week's comments, categories, severity, texts to draw words from)
MIX = [
    (0.66, [], None, ["see you at pickup", "what time does the disco start tonight",
                      "lovely photos of the class trip", "is the car park open on saturday"]),
    (0.10, ["praise"], "low", ["the nativity play was wonderful, thank you teachers",
                               "brilliant sports day, well organised and so much fun",
                               "the new library looks amazing, well done everyone"]),
    (0.07, ["question"], "low", ["does anyone know when the trip letters go out?",
                                 "what time is parents evening on thursday?"]),
    (0.06, ["disparaging"], "normal", ["the lunch menu is a disgrace and the portions tiny",
                                       "the car park is chaos every single morning",
                                       "homework policy is a joke this year"]),
    (0.05, ["spam"], "low", ["buy followers cheap at example dot com",
                             "crypto giveaway click the link in bio"]),
    (0.03, ["abusive"], "high", ["the head is a useless idiot", "these teachers are clowns"]),
    (0.015, ["personal_data"], "high", ["ring me on 07700 900123 about the coat"]),
    (0.0005, ["media"], "normal", ["journalist at the gazette, could the school comment?"]),
    (0.005, ["threat"], "urgent", ["I'll be waiting at the gates for that teacher"]),
    (0.005, ["safeguarding"], "urgent", ["my friend says her stepdad hits her at home"]),
]
EXTRA_WORDS = ["today", "again", "really", "honestly", "year six", "reception", "the office",
               "this week", "at last", "as usual", "the staff", "the children", "parents"]
PLATFORMS = [("facebook", 0.6), ("instagram", 0.25), ("x", 0.15)]
MIX_WEIGHTS = [row[0] for row in MIX]
PLATFORM_WEIGHTS = [share for _, share in PLATFORMS]

CONFIG_HEAD = """
[daemon]
data_dir = "data"
{trust}
"""
SCHOOL = """
[[schools]]
id = "{id}"
name = "{name}"
{accounts}
[[schools.recipients]]
role = "head"
urls = ["console://"]
[[schools.recipients]]
role = "dsl"
urls = ["console://"]
"""
ACCOUNT = """
[[schools.accounts]]
platform = "replay"
account = "{account}"
kinds = ["comments"]
settings = {{ path = "replay", as_platform = "{platform}" }}
"""
TRUST = """
[trust]
name = "Benchmark Learning Trust"
recipients = [{ name = "Chief executive", urls = ["console://"] }]
"""


@dataclass
class Measured:
    seconds: float
    peak_mb: float
    rss_mb: float


def write_config(root: Path, schools: int, *, trust: bool) -> Path:
    (root / "replay").mkdir(exist_ok=True)
    blocks = []
    for number in range(schools):
        accounts = "".join(ACCOUNT.format(account=10_000 + number * 10 + n, platform=platform)
                           for n, (platform, _) in enumerate(PLATFORMS))
        blocks.append(SCHOOL.format(id=f"school{number:02d}", name=f"School {number:02d}",
                                    accounts=accounts))
    path = root / "config.toml"
    path.write_text(CONFIG_HEAD.format(trust=TRUST if trust else "") + "".join(blocks),
                    encoding="utf-8")
    return path


def fill(config: Config, sessions, per_week: dict[int, int], rng: random.Random) -> None:
    """Comments for every school: `per_week[n]` in the week n weeks before the digest's (0 is
    the digest's week), with verdicts, and an incident for each flagged comment of the week."""
    with sessions.begin() as session:
        sources.sync(session, config)
        source_of = {(s.school_id, s.item_platform): s.id for s in session.query(models.Source)}
    item_id = incident_id = 0
    for school in config.schools:
        items, verdicts, incidents, links = [], [], [], []
        for weeks_back, count in per_week.items():
            start = WEEK_START - timedelta(weeks=weeks_back)
            for _ in range(count):
                item_id += 1
                _, categories, severity, texts = rng.choices(MIX, weights=MIX_WEIGHTS)[0]
                platform = rng.choices(PLATFORMS, weights=PLATFORM_WEIGHTS)[0][0]
                created = start + timedelta(seconds=rng.randrange(WEEK_SECONDS))
                words = f"{rng.choice(texts)} {rng.choice(EXTRA_WORDS)}"
                items.append({
                    "id": item_id, "platform": platform, "external_id": f"b{item_id}",
                    "source_id": source_of[(school.id, platform)], "school_id": school.id,
                    "kind": "comment", "author_id": str(5000 + rng.randrange(20_000)),
                    "author_name": "A Parent", "author_handle": "", "text": words,
                    "created_at": created, "fetched_at": created,
                    "permalink": f"https://{platform}.example/{item_id}",
                    "parent_id": f"post-{item_id // 40}",
                    "conversation_id": f"post-{item_id // 40}"})
                verdicts.append({
                    "item_id": item_id, "model_version": "benchmark", "severity": severity,
                    "scores": {c: 0.9 for c in categories}, "categories": categories,
                    "reasons": {c: ["seen in the text"] for c in categories},
                    "created_at": created})
                if weeks_back == 0 and severity in ("urgent", "high"):
                    incident_id += 1
                    harm = {"threat": "threat", "safeguarding": "safeguarding",
                            "personal_data": "personal_data"}.get(categories[0], "hostility")
                    resolved = rng.random() < 0.7
                    incidents.append({
                        "id": incident_id, "school_id": school.id,
                        "key": f"{harm}:b{incident_id}", "harm": harm, "severity": severity,
                        "status": "resolved" if resolved else "open",
                        "categories": categories, "item_count": 1, "opened_at": created,
                        "last_item_at": created,
                        "acknowledged_by": "dsl@school.example" if resolved else None,
                        "acknowledged_at": created + timedelta(minutes=20) if resolved else None,
                        "resolved_at": created + timedelta(hours=3) if resolved else None,
                        "resolved_by": "dsl@school.example" if resolved else None,
                        "outcome": "hidden" if resolved else None})
                    links.append({"incident_id": incident_id, "item_id": item_id})
        with sessions.begin() as session:
            for model, rows in ((models.Item, items), (models.Verdict, verdicts),
                                (models.Incident, incidents), (models.IncidentItem, links)):
                for chunk in range(0, len(rows), 5000):
                    session.execute(insert(model), rows[chunk:chunk + 5000])
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            for table in ("item", "incident"):
                session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"))


def measure(work: Callable[[], object]) -> tuple[Measured, object]:
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Measured(seconds, peak / 2**20, peak_resident_mb()), result


def peak_resident_mb() -> float:
    """This process's peak resident size. Linux's VmHWM belongs to the process's memory since
    its last exec; getrusage's maxrss would carry over the size of the process it was forked
    from (here the one that filled the database)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def build_in_this_process(config_path: str, database_url: str | None, kind: str,
                          school_id: str | None) -> tuple[Measured, int]:
    """Run in a fresh interpreter (see `one_case`): build once to warm up (imports,
    matplotlib's font cache, the database's own caches), then measure a second build."""
    from monitor.digest.build import build_digest

    if database_url:
        os.environ["HALLMONITOR_DATABASE_URL"] = database_url
    config = load(Path(config_path))
    engine, sessions = open_database(config)

    def build() -> object:
        with sessions() as session:
            return build_digest(session, config, kind, school_id, WEEK, now=NOW)

    build()
    measured, rendered = measure(build)
    engine.dispose()
    return measured, len(rendered.html) + sum(len(a.data) for a in rendered.attachments)


def one_case(label: str, root: Path, database_url: str | None, *, schools: int, trust: bool,
             per_week: dict[int, int], kind: str, school_id: str | None) -> None:
    config_path = write_config(root, schools, trust=trust)
    config = load_on(config_path, database_url)
    engine, sessions = open_database(config)
    started = time.perf_counter()
    fill(config, sessions, per_week, random.Random(47))
    filled = time.perf_counter() - started
    dialect = engine.dialect.name
    engine.dispose()
    # Built in a fresh interpreter, so that its peak resident size is the build's own and not
    # the bulk insert's that filled the database.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        measured, size = pool.apply(build_in_this_process,
                                    (str(config_path), database_url, kind, school_id))
    total = sum(per_week.values()) * schools
    print(f"{label} [{dialect}]: {measured.seconds:.2f} s, peak {measured.peak_mb:.0f} MB "
          f"allocated, peak {measured.rss_mb:.0f} MB resident ({total:,} comments in the "
          f"database, filled in {filled:.0f} s; message {size / 1024:.0f} KB)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000,
                        help="comments in the busy school's week")
    parser.add_argument("--earlier-items", type=int, default=None,
                        help="comments in each of the four weeks before (default: --items)")
    parser.add_argument("--schools", type=int, default=50, help="schools in the trust")
    parser.add_argument("--per-school", type=int, default=2000,
                        help="comments a week at each of the trust's schools")
    parser.add_argument("--database-url", default=os.environ.get(
        "HALLMONITOR_TEST_POSTGRES_URL"), help="a PostgreSQL database to run beside SQLite")
    args = parser.parse_args()
    earlier = args.items if args.earlier_items is None else args.earlier_items
    busy = {0: args.items, **{n: earlier for n in (1, 2, 3, 4)}}
    trust = {n: args.per_school for n in (0, 1, 2, 3, 4)}
    places: list[tuple[str, object]] = [("sqlite", None)]
    if args.database_url:
        places.append(("postgresql", args.database_url))
    for name, url in places:
        for label, kwargs in (
                (f"head's digest, one school with {args.items:,} comments in the week",
                 {"schools": 1, "trust": False, "per_week": busy, "kind": "head",
                  "school_id": "school00"}),
                (f"trust roll-up, {args.schools} schools with {args.per_school:,} comments "
                 "a week each", {"schools": args.schools, "trust": True, "per_week": trust,
                                 "kind": "trust", "school_id": None})):
            with tempfile.TemporaryDirectory() as scratch:
                database = fresh_postgres(url) if name == "postgresql" else nullcontext(None)
                with database as database_url:
                    one_case(label, Path(scratch), database_url, **kwargs)


if __name__ == "__main__":
    main()
