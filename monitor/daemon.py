"""The daemon: APScheduler 3.x as an in-process timer over state kept in the database.

One job per source ticks at the source's interval (capped, with jitter); the source row decides
whether a poll is really due and who holds it (lease), so several daemons can share a PostgreSQL
database. One job sends due deliveries, one queues the weekly digests that are due (every few
minutes, and once at start: the outbox's dedupe key keeps it to one per school and week), one
applies the retention policy.

On Ctrl-C or SIGTERM the daemon stops taking work, lets each running poll commit the page in hand,
and exits within a few seconds.

A database that cannot take writes is not a job's failure: a read-only one stops the daemon with
one line (nothing it reads could be kept), a full or locked one is logged once per episode and the
daemon carries on, reading again what it could not store, once the fault clears.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from classifiers import UnavailableError
from monitor import alerts, db, follower_report, incidents, models, notify, retention, sources
from monitor.classify import ClassifierCache
from monitor.config import Config
from monitor.digest import send as digest_send
from monitor.pipeline import DatabaseFault, Pipeline, PollResult, database_fault

log = logging.getLogger(__name__)

# A due source is noticed within this many seconds, however long its interval.
MAX_TICK = 15.0
# Running polls get this long to commit their page after a stop is asked for.
STOP_GRACE = 8.0
# A database that is full or locked at start is tried again this often until it clears.
RETRY_START = 5.0
# How often the digest job looks for weekly digests that are due: one is late by at most this.
DIGEST_CHECK = timedelta(minutes=5)
# Its first look, soon after start (after the first polls have begun).
DIGEST_FIRST_CHECK = timedelta(seconds=10)


class CannotStart(Exception):
    """The daemon must not start; the message is one line saying why and what to do."""


def load_classifiers(cache: ClassifierCache) -> dict[str, str]:
    """Load every school's classifier now, before anything is polled.

    Without its model file or its sentence encoder the classifier misses far more threats, so
    that raises `CannotStart` unless the config says `allow_degraded`. Returns, for each school
    whose classifier runs degraded, what is missing (empty when all is well)."""
    degraded: dict[str, str] = {}
    for school in cache.config.schools:
        try:
            classifier = cache.for_school(school)
        except UnavailableError as error:
            reason = " ".join(str(error).split())
            raise CannotStart(f"{reason} (set allow_degraded = true in [classifier] to run "
                              "without it, with weaker threat detection)") from None
        missing = getattr(classifier, "degraded", None)
        if missing:
            degraded[school.id] = missing
    return degraded


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_orphaned_claims(session: Session) -> int:
    """Leases and claims held by processes of this host that no longer exist (a daemon that was
    killed) are released at once, rather than waiting for them to expire."""
    host = socket.gethostname()
    released = 0
    for model, holder, until in ((models.Source, "leased_by", "lease_until"),
                                 (models.Delivery, "claimed_by", "claimed_until")):
        column = getattr(model, holder)
        for row in session.scalars(select(model).where(column.like(f"{host}:%"))):
            pid = getattr(row, holder).split(":")[1]
            if pid.isdigit() and not _process_alive(int(pid)):
                setattr(row, holder, None)
                setattr(row, until, None)
                released += 1
    return released


def database_place(config: Config) -> str:
    """Where the database is, for a message: the file of an SQLite database, or the URL of a
    server database with its password masked."""
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


FAULT_TEXT = {
    "full": "the disk is full",
    "locked": "it is locked by another writer",
    "unavailable": "it cannot be reached",
}


def open_database(config: Config, *, upgrade: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    engine = db.make_engine(config.database_url)
    if upgrade:
        db.upgrade(engine)
    return engine, db.session_factory(engine)


class Daemon:
    def __init__(self, config: Config, sessions: sessionmaker[Session],
                 worker: str | None = None, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.sessions = sessions
        self.worker = worker or worker_id()
        # The time as the digest job sees it (tests give a clock of their own).
        self.clock = clock or (lambda: datetime.now(UTC))
        # Digest keys decided without queueing (a holiday week, no recipient): not weighed
        # again, nor logged again, every few minutes until the week is over.
        self._digests_settled: set[str] = set()
        self.classifiers = ClassifierCache(config)
        self.pipeline = Pipeline(config, sessions, self.classifiers, self.worker)
        self.stop = threading.Event()
        self.scheduler: BackgroundScheduler | None = None
        self._active = 0
        self._active_lock = threading.Lock()
        # School id -> what its classifier lacks, once loaded (None before).
        self.degraded: dict[str, str] | None = None
        self._told_it = False
        # Set when the daemon must stop for good (a read-only database): the one line to show.
        self.fatal: str | None = None
        # The database fault being lived through ("full", "locked", ...): logged once.
        self._fault: str | None = None
        self._fault_lock = threading.Lock()

    def prepare(self) -> None:
        """Load every school's classifier before the first poll, so a missing model or encoder
        stops the daemon at start (`CannotStart`) rather than weakening every verdict quietly.
        Running degraded, because the config allows it, is logged here and told to IT once the
        schools are in the database (`_tell_it_if_degraded`)."""
        if self.degraded is not None:
            return
        degraded = load_classifiers(self.classifiers)
        by_problem: dict[str, list[str]] = {}
        for school_id, missing in degraded.items():
            by_problem.setdefault(missing, []).append(school_id)
        for missing, school_ids in by_problem.items():
            log.warning("running degraded (allow_degraded = true) for %s: %s; threat detection "
                        "is weaker until this is fixed", ", ".join(school_ids), missing)
        self.degraded = degraded

    def _tell_it_if_degraded(self) -> None:
        """Tell each school's IT, at most once per start, that its classifier runs degraded."""
        if self._told_it or not self.degraded:
            return
        now = datetime.now(UTC)
        host = socket.gethostname()
        with self.sessions.begin() as session:
            for school_id, missing in self.degraded.items():
                # Once a day per host and problem at most: a daemon restarted in a loop, or
                # `poll --once` from cron, must not bury IT in the same notice.
                digest = hashlib.sha256(missing.encode()).hexdigest()[:12]
                alerts.notify_it(
                    session, self.config, school_id,
                    f"classifier-degraded:{school_id}:{host}:{now:%Y-%m-%d}:{digest}",
                    "classifier_degraded",
                    "[ACTION NEEDED] Threat detection is running degraded",
                    f"Hall Monitor on {host} started without part of its classifier:\n"
                    f"  {missing}\n\n"
                    "It is running only because allow_degraded = true in [classifier]. It "
                    "misses more threats and safeguarding concerns than usual until this is "
                    "fixed; its verdicts are marked \"+degraded\". Fix the installation, then "
                    "restart the daemon ('hallmonitor check-config' says what is missing).",
                    now)
        self._told_it = True

    # --- one-shot operations (also used by `hallmonitor poll --once`) ------------------------

    def sync_sources(self) -> list[models.Source]:
        with self.sessions.begin() as session:
            release_orphaned_claims(session)
            return sources.sync(session, self.config)

    def poll_once(self, source_ids: list[int] | None = None) -> list[PollResult]:
        """Poll every enabled source (or those named) now, whatever their schedule."""
        self.prepare()
        try:
            rows = self.sync_sources()
            self._tell_it_if_degraded()
        except DBAPIError as exc:
            kind = database_fault(exc)
            if kind is None:
                raise
            raise DatabaseFault(kind, " ".join(str(exc.orig).split())) from None
        chosen = [s.id for s in rows if source_ids is None or s.id in source_ids]
        return [self.pipeline.poll(source_id, stop=self.stop, due_only=False)
                for source_id in chosen]

    def deliver_once(self) -> notify.DeliveryStats:
        return notify.deliver_due(self.config, self.sessions, self.worker)

    def escalate(self) -> int:
        return incidents.escalate_due(self.config, self.sessions)

    def send_digests(self) -> list[digest_send.Enqueued]:
        """Queue the weekly digests that are due and not queued yet (see
        `monitor.digest.send.digests_due`); the delivery job sends them."""
        with self.sessions.begin() as session:
            decided = digest_send.digests_due(session, self.config, self.clock(),
                                              settled=self._digests_settled)
        # IT's follower report goes on the digest day too, once per source and week.
        with self.sessions.begin() as session:
            for report in follower_report.enqueue_follower_reports(session, self.config,
                                                                   self.clock()):
                log.info("queued IT's follower report: %s", report.title)
        for result in decided:
            self._digests_settled.add(result.key)
            if result:
                count = len(result.destinations)
                log.info("queued %s: %d destination%s", result.who, count,
                         "" if count == 1 else "s")
            elif result.status == "failed":
                log.error("could not send %s: %s", result.who, result.reason)
            elif result.status == "no_recipient":
                log.warning("not sending %s: %s", result.who, result.reason)
            else:
                log.info("not sending %s: %s", result.who, result.reason)
        return decided

    def apply_retention(self) -> retention.RetentionResult:
        """The retention policy, as of the daemon's clock; the counts are logged, never what
        was removed."""
        result = retention.apply(self.config, self.sessions, now=self.clock(), stop=self.stop)
        if result.removed:
            log.info("retention removed %s", result.summary())
        else:
            log.info("retention: %s", result.summary())
        return result

    # --- the scheduled daemon ------------------------------------------------------------------

    def _guarded(self, job, *args) -> None:
        if self.stop.is_set():
            return
        with self._active_lock:
            self._active += 1
        try:
            job(*args)
        except DatabaseFault as fault:
            self.on_database_fault(fault.kind, fault.detail)
        except DBAPIError as exc:
            kind = database_fault(exc)
            if kind is None:
                log.exception("job %s failed", getattr(job, "__name__", job))
            else:
                self.on_database_fault(kind, " ".join(str(exc.orig).split()))
        except Exception:  # one failing job must never stop the others
            log.exception("job %s failed", getattr(job, "__name__", job))
        finally:
            with self._active_lock:
                self._active -= 1

    def on_database_fault(self, kind: str, detail: str) -> None:
        """A read-only database stops the daemon; any other fault is logged once per episode
        and the daemon carries on: what it could not store is read again later."""
        place = database_place(self.config)
        if kind == "read-only":
            if self.fatal is None:
                self.fatal = f"cannot write to the database at {place}: it is read-only"
            self.stop.set()
            return
        with self._fault_lock:
            if self._fault == kind:
                log.debug("database still %s: %s", kind, detail)
                return
            self._fault = kind
        log.error("cannot write to the database at %s: %s (%s); nothing read is lost: polling "
                  "carries on where it left off once this clears", place,
                  FAULT_TEXT.get(kind, kind), detail)

    def _database_ok(self) -> None:
        with self._fault_lock:
            cleared, self._fault = self._fault, None
        if cleared:
            log.info("the database at %s takes writes again; carrying on",
                     database_place(self.config))

    def _poll_job(self, source_id: int) -> None:
        result = self.pipeline.poll(source_id, stop=self.stop)
        if result.claimed:  # the claim was a write: the database takes them
            self._database_ok()
        # Failures are logged by the pipeline (once per episode for our own); here, what came in.
        if result.claimed and result.new_items:
            log.info("source %s: %d new, %d alerts", source_id, result.new_items, result.alerts)

    def start(self) -> None:
        # The classifiers are loaded now, not on the first poll, so a missing model or encoder
        # fails at start.
        self.prepare()
        rows = self.sync_sources()
        self._tell_it_if_degraded()
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 30},
            timezone=UTC,
        )
        now = datetime.now(UTC)
        for source in rows:
            tick = min(source.poll_interval, MAX_TICK)
            scheduler.add_job(self._guarded, "interval", args=(self._poll_job, source.id),
                              seconds=tick, jitter=tick / 10, next_run_time=now,
                              id=f"poll:{source.id}", name=source.key)
        delivery = self.config.daemon.delivery_interval
        scheduler.add_job(self._guarded, "interval", args=(self.deliver_once,),
                          seconds=delivery, next_run_time=now + timedelta(seconds=1),
                          id="deliver", name="deliveries")
        scheduler.add_job(self._guarded, "interval", args=(self.escalate,), seconds=60,
                          next_run_time=now + timedelta(seconds=5), id="escalate",
                          name="escalation of unacknowledged urgent incidents")
        scheduler.add_job(self._guarded, "interval", args=(self.send_digests,),
                          seconds=DIGEST_CHECK.total_seconds(),
                          next_run_time=now + DIGEST_FIRST_CHECK, id="digests",
                          name="weekly digests")
        scheduler.add_job(self._guarded, "interval", args=(self.apply_retention,), hours=24,
                          next_run_time=now + timedelta(minutes=1), id="retention",
                          name="retention")
        scheduler.start()
        self.scheduler = scheduler
        log.info("watching %d sources for %d schools", len(rows), len(self.config.schools))

    def shutdown(self) -> bool:
        """Stop taking work and wait for running jobs; True if they all finished in time."""
        self.stop.set()
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:
            with self._active_lock:
                if self._active == 0:
                    break
            time.sleep(0.05)
        with self._active_lock:
            finished = self._active == 0
        # A slow send still running in its own thread records its outcome when it ends; cut
        # off, it would be resent later as a possible repeat.
        finished = notify.wait_for_sends(max(0.0, deadline - time.monotonic())) and finished
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=finished)
        return finished

    def run_forever(self) -> int:
        def ask_to_stop(signum, _frame) -> None:
            log.info("received %s: finishing the page in hand", signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGINT, ask_to_stop)
        signal.signal(signal.SIGTERM, ask_to_stop)
        while True:
            try:
                self.start()
                break
            except DBAPIError as exc:
                kind = database_fault(exc)
                if kind is None:
                    raise
                self.on_database_fault(kind, " ".join(str(exc.orig).split()))
                if self.fatal is not None:
                    return 1
                # Full or locked: said once; start as soon as it clears.
                if self.stop.wait(RETRY_START):
                    return 0
        self._database_ok()
        while not self.stop.wait(0.5):
            pass
        if not self.shutdown():
            # A poll is stuck in a network call: its open transaction is simply rolled back.
            log.warning("a job did not finish within %.0fs; exiting anyway", STOP_GRACE)
            logging.shutdown()
            if self.fatal is not None:
                sys.stderr.write(f"hallmonitor: {self.fatal}\n")
            os._exit(0 if self.fatal is None else 1)
        if self.fatal is not None:
            return 1
        log.info("stopped")
        return 0
