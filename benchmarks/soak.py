"""Soak: one daemon process watching 200 sources on a local fake platform for ten minutes.

The fake (tests/faults/fake_platform.py, its own process) publishes comments, visitor posts,
mentions and replies at random on every source, some of them threats or abuse, with now and then
a pile-on of dozens of comments on one post; alerts go by email to a local mail server that takes
200 ms per message. Prints:

- poll lag: how long after an item was published it was stored (p50/p95), and how far apart
  two polls of one source were against their interval;
- alert latency: from the item's publication to the delivery of its alert (p50/p95);
- the daemon's resident memory and open file descriptors, sampled every 30 s (flat is good);
- requests per poll per source, by platform and kind (from the fake's request log).

    python benchmarks/soak.py [--minutes 10] [--poll-interval 30] [--rate 1]
                              [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from monitor import models  # noqa: E402
from tests.faults.harness import (  # noqa: E402
    Daemon,
    FakePlatform,
    MailServer,
    engine_for,
    missing_items,
    poll_spans,
    process_sample,
    upgrade_database,
    wait_until,
    write_setup,
)

# 40 Facebook Pages (comments, visitor posts), 40 Instagram accounts, 40 X accounts (mentions,
# replies): 200 sources.
WORLD = {"facebook": 40, "instagram": 40, "x": 40}
SAMPLE_EVERY = 30.0


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def p50_p95(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"p50 {percentile(values, 0.5):6.1f}s   p95 {percentile(values, 0.95):6.1f}s   "
            f"max {max(values):6.1f}s   (n={len(values)})")


def run(args: argparse.Namespace, directory: Path) -> None:
    fake = FakePlatform(directory, seed=args.seed, rate=args.rate, harmful=0.1, bursts=True,
                        duration=args.minutes * 60 + 60, **WORLD)
    mail = MailServer(0.2).start()
    samples: list[tuple[float, float, int]] = []
    try:
        setup = write_setup(directory, fake, mail, database_url=args.database_url,
                            lease="60s", poll_interval=f"{args.poll_interval:g}s",
                            facebook_max_pages=None)
        upgrade_database(setup)
        daemon = Daemon(setup, 0, directory).start()
        if not daemon.wait_ready(120):
            raise SystemExit(f"the daemon did not start:\n{daemon.output()[-3000:]}")
        started = time.monotonic()
        print(f"daemon {daemon.pid} watching 200 sources for {args.minutes:g} min", flush=True)
        while time.monotonic() - started < args.minutes * 60:
            if not daemon.alive():
                raise SystemExit(f"the daemon died:\n{daemon.output()[-3000:]}")
            rss, fds = process_sample(daemon.pid)
            samples.append((time.monotonic() - started, rss, fds))
            print(f"  {samples[-1][0]:5.0f}s  RSS {rss:6.1f} MB  open fds {fds}", flush=True)
            time.sleep(min(SAMPLE_EVERY, max(0.0, args.minutes * 60 - samples[-1][0])))
        rss, fds = process_sample(daemon.pid)
        samples.append((time.monotonic() - started, rss, fds))
        published = fake.freeze()
        engine = engine_for(setup.database_url)
        wait_until(lambda: not missing_items(engine, published), 120, 1.0)
        time.sleep(3)
        daemon.stop()
        report(args, setup, engine, published, fake.requests(), samples)
        engine.dispose()
    finally:
        fake.stop()
        mail.stop()


def report(args, setup, engine, published, entries, samples) -> None:
    # Items already there when the fake started are the first poll's backfill, not traffic.
    at = {(p["source"].split(":")[0], p["external_id"]): p["at"] for p in published
          if not p.get("history")}
    with engine.connect() as connection:
        items = connection.execute(select(models.Item.id, models.Item.platform,
                                          models.Item.external_id,
                                          models.Item.fetched_at)).all()
        sent = connection.execute(
            select(models.Alert.item_id, models.Delivery.sent_at)
            .join(models.Delivery, models.Delivery.alert_id == models.Alert.id)
            .where(models.Alert.kind == "item", models.Delivery.status == "sent")).all()
        runs = connection.execute(select(models.Source.platform, models.Source.kind,
                                         models.Source.account, models.PollRun.id)
                                  .join(models.PollRun,
                                        models.PollRun.source_id == models.Source.id)).all()
        undelivered = connection.execute(select(models.Delivery.id).where(
            models.Delivery.status != "sent")).all()
    published_at = {}
    lags = []
    for item_id, platform, external_id, fetched in items:
        when = at.get((platform, external_id))
        if when is not None:
            published_at[item_id] = when
            lags.append(fetched.timestamp() - when)
    latency = [sent_at.timestamp() - published_at[item_id] for item_id, sent_at in sent
               if item_id in published_at and isinstance(sent_at, datetime)]

    spans = poll_spans(entries, gap=min(5.0, args.poll_interval / 2))
    starts: dict[str, list[float]] = defaultdict(list)
    for span in spans:
        starts[span.source].append(span.start)
    lateness = []
    for times in starts.values():
        times.sort()
        lateness += [later - earlier - args.poll_interval
                     for earlier, later in zip(times, times[1:], strict=False)]
    requests = Counter(entry["source"] for entry in entries if entry.get("source"))
    polls = Counter(f"{platform}:{account}:{kind}" for platform, kind, account, _ in runs)
    per_kind_requests: Counter[str] = Counter()
    per_kind_polls: Counter[str] = Counter()
    for source, count in requests.items():
        platform, _account, kind = source.split(":")
        per_kind_requests[f"{platform} {kind}"] += count
        per_kind_polls[f"{platform} {kind}"] += polls.get(source, 0)

    print()
    print(f"published {len(at)} while running (and {len(published) - len(at)} before), "
          f"stored {len(lags)} of them; {len(undelivered)} deliveries not sent at the end")
    print(f"poll lag (published -> stored):        {p50_p95(lags)}")
    print(f"time between polls beyond the {args.poll_interval:g}s interval: {p50_p95(lateness)}")
    print(f"alert latency (published -> delivered): {p50_p95(latency)}")
    print("memory and file descriptors, every 30 s:")
    print("  " + "  ".join(f"{t:4.0f}s {rss:5.0f}MB/{fds}fd" for t, rss, fds in samples))
    first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
    print(f"  RSS {first[1]:.0f} MB at {first[0]:.0f}s -> {last[1]:.0f} MB at {last[0]:.0f}s; "
          f"open fds {first[2]} -> {last[2]}")
    print("requests per poll per source:")
    for kind in sorted(per_kind_requests):
        count, done = per_kind_requests[kind], per_kind_polls[kind]
        per_poll = count / done if done else float("nan")
        print(f"  {kind:22s} {per_poll:5.2f}  ({count} requests, {done} polls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--poll-interval", type=float, default=30.0,
                        help="seconds between polls of each source")
    parser.add_argument("--rate", type=float, default=1.0,
                        help="new items per source per minute, on average")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL database to use (default: SQLite in a temporary "
                             "folder); it is upgraded and written to")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
