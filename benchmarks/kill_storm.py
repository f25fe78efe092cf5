"""kill -9 storm: daemons killed at random moments of a run, restarted at once, then checked.

Runs `hallmonitor run` daemons against the local fake platform (a few 5xx answers, a pile-on of
120 comments on one post) with a mail server that takes 250 ms per message, kills one with
SIGKILL every second or two (a quarter of the kills land during start-up), and when the storm is
over lets them catch up and checks: no published item lost, no item or alert duplicated, every
alert delivered, no email received twice unless marked as a possible repeat, and (SQLite)
`PRAGMA integrity_check`.

    python benchmarks/kill_storm.py [--kills 60] [--daemons 1] [--database-url postgresql://...]

With --database-url the daemons share that PostgreSQL database (it must be empty: a new one is
best, `createdb hm_storm`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.harness import kill_storm  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--daemons", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true",
                        help="keep the run's folder (configs, logs, request log) and print it")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="hm-storm-") if args.keep else None
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(tmp or scratch)
        storm = kill_storm(directory, kills=args.kills, daemons=args.daemons,
                           database_url=args.database_url, seed=args.seed,
                           log=lambda line: print(line, flush=True))
    result = storm.outcome
    print()
    print(f"{storm.kills} kills ({storm.in_startup} during start-up), {storm.lives} daemon "
          f"lives, {storm.seconds:.0f}s")
    print(result.summary())
    checks = [
        ("no published item lost", result.missing),
        ("no item stored twice", result.duplicate_items),
        ("no alert written twice", result.duplicate_alerts),
        ("every alert delivered", result.undelivered + result.not_received),
        ("no email received twice unless marked", result.received_twice),
    ]
    failed = False
    for name, problems in checks:
        print(f"  {'ok  ' if not problems else 'FAIL'} {name}"
              + (f": {len(problems)}, e.g. {problems[:3]}" if problems else ""))
        failed = failed or bool(problems)
    print(f"  {'ok  ' if result.integrity == 'ok' else 'FAIL'} integrity: {result.integrity}")
    if tmp:
        print(f"run folder: {tmp}")
    raise SystemExit(1 if failed or result.integrity != "ok" else 0)


if __name__ == "__main__":
    main()
