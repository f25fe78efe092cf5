"""Response times of the staff console with a busy trust's history in the database.

Builds a database of 10,000 incidents (each with its comments, their verdicts, an alert, and the
trail of who acknowledged and resolved it) across a few schools, starts the real console
(`hallmonitor web`, its own process, as staff would reach it), signs in as a trust admin and
times the queue page and one incident page, 200 requests each, printing median and p95.

    python benchmarks/console.py [--incidents 10000] [--requests 200]
                                 [--database-url postgresql://user:pass@host/db]

SQLite always; PostgreSQL too when --database-url or HALLMONITOR_TEST_POSTGRES_URL names one (a
new database is made beside it, its role needs CREATEDB, and dropped afterwards).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch_database import fresh_postgres  # noqa: E402
from monitor import models, sources, users  # noqa: E402
from monitor.config import load  # noqa: E402
from monitor.daemon import open_database  # noqa: E402

SCHOOLS = [("oakfield", "Oakfield Primary School"), ("riverside", "Riverside Academy"),
           ("hillcrest", "Hillcrest Infants"), ("meadow", "Meadow Lane Junior School")]
PASSWORD = "benchmark-orchard-lantern-42"
ADMIN = "admin@trust.example"
# (harm, severity, categories, texts)
KINDS = [
    ("hostility", "high", ["abusive"], ["you are all useless idiots running this school",
                                        "the head covers up bullying, disgraceful"]),
    ("threat", "urgent", ["threat"], ["I'll be waiting at the gates for that teacher"]),
    ("safeguarding", "urgent", ["safeguarding"],
     ["my friend says her stepdad hits her and she's scared to go home"]),
    ("personal_data", "high", ["personal_data"], ["Ring me on 07700 900123 about the coat"]),
]
# Most of a year's incidents are long resolved; some are waiting for someone.
STATUSES = ["resolved"] * 60 + ["acknowledged"] * 15 + ["open"] * 25
OUTCOMES = ["hidden", "deleted", "blocked", "reported_to_platform", "no_action"]

CONFIG = """
[daemon]
data_dir = "data"
[web]
enabled = true
host = "127.0.0.1"
port = {port}
{schools}
"""
SCHOOL = """
[[schools]]
id = "{id}"
name = "{name}"
[[schools.accounts]]
platform = "replay"
account = "{account}"
kinds = ["comments"]
settings = {{ path = "replay", as_platform = "facebook" }}
[[schools.recipients]]
role = "dsl"
urls = ["console://"]
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(root: Path, port: int) -> Path:
    (root / "replay").mkdir(exist_ok=True)
    schools = "".join(SCHOOL.format(id=school, name=name, account=1000 + n)
                      for n, (school, name) in enumerate(SCHOOLS))
    path = root / "config.toml"
    path.write_text(CONFIG.format(port=port, schools=schools), encoding="utf-8")
    return path


def build(config_path: Path, count: int, rng: random.Random) -> int:
    """Fill the database with `count` incidents in bulk inserts; returns an open incident's id."""
    config = load(config_path)
    engine, sessions = open_database(config)
    start = datetime.now(UTC) - timedelta(days=365)
    items, verdicts, incidents, links, alerts, actions = [], [], [], [], [], []
    with sessions.begin() as session:
        sources.sync(session, config)
        source_of = {s.school_id: s.id for s in session.query(models.Source)}
        session.add(models.StaffUser(email=ADMIN, name="Trust Admin", role="admin",
                                     password_hash=users.hash_password(PASSWORD)))
    item_id = 0
    for number in range(1, count + 1):
        school = SCHOOLS[number % len(SCHOOLS)][0]
        harm, severity, categories, texts = KINDS[rng.randrange(len(KINDS))]
        at = start + timedelta(minutes=52 * number)
        status = rng.choice(STATUSES)
        first = item_id + 1
        for offset in range(rng.randint(1, 3)):
            item_id += 1
            created = at + timedelta(minutes=offset)
            items.append({
                "id": item_id, "platform": "facebook", "external_id": f"{number}_{item_id}",
                "source_id": source_of[school], "school_id": school, "kind": "comment",
                "author_id": str(5000 + rng.randrange(3000)), "author_name": "A Parent",
                "text": f"{rng.choice(texts)} #{item_id}", "created_at": created,
                "fetched_at": created, "permalink": f"https://www.facebook.com/1/posts/{number}",
                "parent_id": f"1_{number}", "conversation_id": f"1_{number}"})
            verdicts.append({
                "item_id": item_id, "model_version": "benchmark", "severity": severity,
                "scores": {c: 0.9 for c in categories}, "categories": categories,
                "reasons": {c: ["seen in the text"] for c in categories}, "created_at": created})
            links.append({"incident_id": number, "item_id": item_id})
        last = at + timedelta(minutes=item_id - first)
        acknowledged = status != "open"
        incidents.append({
            "id": number, "school_id": school, "key": f"{harm}:1_{number}", "status": status,
            "severity": severity, "categories": categories, "item_count": item_id - first + 1,
            "opened_at": at, "last_item_at": last, "harm": harm,
            "acknowledged_by": "dsl@school.example" if acknowledged else None,
            "acknowledged_at": at + timedelta(hours=1) if acknowledged else None,
            "resolved_at": at + timedelta(hours=5) if status == "resolved" else None,
            "resolved_by": "dsl@school.example" if status == "resolved" else None,
            "outcome": rng.choice(OUTCOMES) if status == "resolved" else None})
        alerts.append({
            "dedupe_key": f"incident:{number}", "school_id": school, "kind": "item",
            "severity": severity, "item_id": first, "incident_id": number,
            "categories": categories, "title": f"[{severity.upper()}] {harm}", "body": harm,
            "created_at": at})
        if acknowledged:
            actions.append({"incident_id": number, "action": "acknowledge", "ok": True,
                            "actor": "dsl@school.example", "result": "acknowledged",
                            "created_at": at + timedelta(hours=1)})
        if status == "resolved":
            actions.append({"incident_id": number, "action": "resolve", "ok": True,
                            "actor": "dsl@school.example", "result": "resolved",
                            "created_at": at + timedelta(hours=5)})
    with sessions.begin() as session:
        for model, rows in ((models.Item, items), (models.Verdict, verdicts),
                            (models.Incident, incidents), (models.IncidentItem, links),
                            (models.Alert, alerts), (models.Action, actions)):
            for chunk in range(0, len(rows), 5000):
                session.execute(insert(model), rows[chunk:chunk + 5000])
        if engine.dialect.name == "postgresql":  # ids were given: move the sequences past them
            for table in ("item", "incident"):
                session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
    engine.dispose()
    return next(row["id"] for row in reversed(incidents) if row["status"] == "open")


@contextmanager
def console(config_path: Path, env: dict[str, str], port: int) -> Iterator[str]:
    """`hallmonitor web` in its own process, until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "web", "--config", str(config_path)],
        cwd=config_path.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/sign-in", timeout=2)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode(errors="replace") if process.stderr \
                        else ""
                    raise SystemExit(f"the console did not start: {error.strip()[-500:]}") \
                        from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) \
        or re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    if not found:
        raise SystemExit("the sign-in page has no CSRF token field")
    return found.group(1)


def sign_in(url: str) -> requests.Session:
    client = requests.Session()
    page = client.get(url + "/sign-in", timeout=30)
    answer = client.post(url + "/sign-in", timeout=30, data={
        "csrf_token": csrf_token(page.text), "email": ADMIN, "password": PASSWORD})
    if client.get(url + "/", timeout=30, allow_redirects=False).status_code != 200:
        raise SystemExit(f"could not sign in (the sign-in page answered {answer.status_code})")
    return client


@dataclass
class Timing:
    page: str
    median_ms: float
    p95_ms: float
    size_kb: float


def time_page(client: requests.Session, url: str, page: str, count: int) -> Timing:
    client.get(url, timeout=60)  # warm: templates compiled, connections open
    seconds, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        answer = client.get(url, timeout=60)
        seconds.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise SystemExit(f"{page} answered {answer.status_code}")
        size = len(answer.content)
    p95 = statistics.quantiles(seconds, n=20)[-1]
    return Timing(page, statistics.median(seconds) * 1000, p95 * 1000, size / 1024)


def run(label: str, database_url: str | None, args: argparse.Namespace) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ}
        env.pop("HALLMONITOR_DATABASE_URL", None)
        if database_url:
            env["HALLMONITOR_DATABASE_URL"] = database_url
            os.environ["HALLMONITOR_DATABASE_URL"] = database_url
        else:
            os.environ.pop("HALLMONITOR_DATABASE_URL", None)
        port = free_port()
        config_path = write_config(Path(tmp), port)
        started = time.perf_counter()
        incident = build(config_path, args.incidents, random.Random(0))
        built = time.perf_counter() - started
        print(f"{label}: {args.incidents:,} incidents written in {built:.1f} s", file=sys.stderr)
        with console(config_path, env, port) as url:
            client = sign_in(url)
            return [(label, time_page(client, url + "/", "queue", args.requests)),
                    (label, time_page(client, f"{url}/incidents/{incident}", "incident",
                                      args.requests))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("HALLMONITOR_TEST_POSTGRES_URL"),
                        help="also run on PostgreSQL: a new database is made beside this one")
    args = parser.parse_args()
    print(f"{args.incidents:,} incidents, {args.requests} requests per page, one client")
    print(f"{'database':<11} {'page':<9} {'median':>9} {'p95':>9} {'size':>8}", flush=True)
    show(run("SQLite", None, args))
    if args.database_url:
        with fresh_postgres(args.database_url) as url:
            show(run("PostgreSQL", url, args))


def show(rows: list[tuple[str, Timing]]) -> None:
    for label, timing in rows:
        print(f"{label:<11} {timing.page:<9} {timing.median_ms:>7.1f}ms {timing.p95_ms:>7.1f}ms "
              f"{timing.size_kb:>6.0f}kB", flush=True)


if __name__ == "__main__":
    main()
