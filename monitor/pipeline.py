"""One poll of one source: claim it, fetch pages, and commit each page whole.

Per page, in one transaction: insert the new items (an item already stored is skipped by its
(platform, external_id) key), classify them, route them into alerts and deliveries, and record the
progress marker; the cursor is promoted only after the last page. A crash at any point therefore
loses nothing (the old cursor is still there) and tells nobody twice (the items are already there).

A poll holds its source by a lease, renewed on a timer while it runs and only while this worker
still holds it; a page is committed only by the lease's holder, and only the holder releases it.
A daemon that dies is therefore taken over one lease later, and a slow poll never is.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from classifiers.base import Verdict
from connectors import ConnectorError, Page, SourceSpec, connector_class
from connectors.base import (
    AuthError,
    ConfigError,
    Connector,
    FollowerPage,
    PayloadError,
    RetryableError,
)
from monitor import alerts, backoff, followers, models, rules, screening, watchlist
from monitor import sources as sources_module
from monitor.classify import ClassifierCache
from monitor.config import Config

log = logging.getLogger(__name__)

# On a source's first poll, normal and low severity items older than this are not alerted.
BACKFILL_QUIET = timedelta(hours=48)
# On a first poll, what a watchlisted account wrote longer ago than this is not alerted.
WATCHED_BACKLOG_QUIET = timedelta(days=1)

# Text a database could refuse (PostgreSQL rejects NUL) is made storable, never dropped.
_UNSTORABLE = {0: "\ufffd"}

# A failure of our own (classifier, database, a bug), not the platform's, is recorded with this
# prefix; this many in a row tell IT at once: waiting hours would only lose more of the day.
INTERNAL = "internal error: "
INTERNAL_NOTICE_AFTER = 3


@dataclass
class PollResult:
    source_id: int
    claimed: bool = True
    pages: int = 0
    new_items: int = 0
    reads: int = 0
    alerts: int = 0
    completed: bool = False
    error: str | None = None
    new_item_ids: list[int] = field(default_factory=list)
    # Why the source was not polled, when it was not: "busy (held by another daemon)",
    # "paused: <reason>", "disabled" or "not due".
    not_claimed: str | None = None
    # The source's first poll (it had no cursor): it reads the backlog.
    backfill: bool = False
    # A `followers` source's sync: what it found (new followers are not items).
    followers: followers.SyncOutcome | None = None
    # When the poll began: its batched alerts share the batch this falls in, however many
    # pages it reads, so a poll's questions go in one message.
    started: datetime | None = None


class LeaseLost(Exception):
    """Another worker holds the source now: stop without committing anything more."""


class DatabaseFault(Exception):
    """The database cannot take writes (read-only, full, locked, unreachable): not the source's
    fault, so nothing is recorded against it; what was read is read again later."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


_FAULTS = (
    ("read-only", ("readonly database", "read-only", "read only")),
    ("full", ("disk is full", "no space left", "could not extend file", "disk full")),
    ("locked", ("database is locked", "database table is locked")),
    ("unavailable", ("connection refused", "could not connect", "server closed the connection",
                     "connection is closed", "unable to open database file")),
)


def database_fault(exc: BaseException) -> str | None:
    """What kind of database fault this is ("read-only", "full", "locked", "unavailable"), or
    None for an error of another kind (a bug, a constraint)."""
    if not isinstance(exc, DBAPIError):
        return None
    text = str(exc.orig if exc.orig is not None else exc).lower()
    for kind, phrases in _FAULTS:
        if any(phrase in text for phrase in phrases):
            return kind
    return None


def now_utc() -> datetime:
    return datetime.now(UTC)


def clean_text(text: str) -> str:
    return text.translate(_UNSTORABLE)


def _clean_json(value):
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    return value


def find_account(config: Config, source: models.Source):
    school = config.find_school(source.school_id)
    return next((a for a in school.accounts if a.platform == source.platform
                 and a.account == source.account), None) if school else None


def build_connector(config: Config, source: models.Source) -> Connector:
    account = find_account(config, source)
    if account is None:
        raise ConfigError(f"{source.key} is no longer in the config")
    secrets = {name: config.secret(ref) for name, ref in account.credentials.items()}
    # The account id goes in too: check() probes the account without a source in hand.
    settings = {"account": account.account, **account.settings}
    return connector_class(source.platform)(settings, secrets)


def spec_of(source: models.Source, session: Session | None = None) -> SourceSpec:
    watching_since = None
    if source.cursor is None and session is not None:
        # Its first poll attempt, if an earlier one failed; None on a true first poll.
        watching_since = session.scalar(select(func.min(models.PollRun.started_at))
                                        .where(models.PollRun.source_id == source.id))
    return SourceSpec(source.id, source.platform, source.kind, source.account, source.settings,
                      watching_since=watching_since)


def start_cursor(cursor: dict | None, progress: dict | None) -> dict | None:
    """Where to fetch from: the cursor, with the saved progress as "resume" when the last poll
    did not finish (a pay-per-read connector then skips the pages it has already paid for;
    the others ignore it)."""
    if progress is None or progress == cursor:
        return cursor
    return {**(cursor or {}), "resume": progress}


class _Heartbeat:
    """Renews a poll's lease every lease/3 seconds while it runs, only while this worker still
    holds it; `lost` is set the moment another worker is found holding it."""

    def __init__(self, pipeline: Pipeline, source_id: int) -> None:
        self.pipeline = pipeline
        self.source_id = source_id
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"lease:{source_id}")

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        interval = self.pipeline.config.daemon.lease / 3
        while not self._done.wait(interval):
            try:
                held = self.pipeline.renew(self.source_id)
            except DBAPIError as exc:  # the page commit will meet the same fault and say so
                log.debug("could not renew the lease of source %s: %s", self.source_id, exc)
                continue
            if not held:
                self.lost.set()
                return


class Pipeline:
    def __init__(self, config: Config, sessions: sessionmaker[Session],
                 classifiers: ClassifierCache, worker: str) -> None:
        self.config = config
        self.sessions = sessions
        self.classifiers = classifiers
        self.worker = worker
        # The clock for schedules, leases and failure notices: tests move it forward.
        self.now: Callable[[], datetime] = now_utc

    # --- leasing ---------------------------------------------------------------------------

    def _lease_until(self) -> datetime:
        return self.now() + timedelta(seconds=self.config.daemon.lease)

    def claim(self, source_id: int, now: datetime, *, due_only: bool = True) -> bool:
        """Compare-and-swap: take the source if nobody holds a live lease (and it is due).
        Nothing updated means another daemon got there first."""
        lease_until = now + timedelta(seconds=self.config.daemon.lease)
        conditions = [
            models.Source.id == source_id,
            models.Source.enabled.is_(True),
            or_(models.Source.paused_reason.is_(None),
                # A follower sync held back by its monthly budget runs again in the next month.
                and_(models.Source.paused_reason.like(f"{followers.BUDGET_PAUSE}%"),
                     models.Source.next_poll_at <= now)),
            or_(models.Source.lease_until.is_(None), models.Source.lease_until < now),
        ]
        if due_only:
            conditions.append(models.Source.next_poll_at <= now)
        with self.sessions.begin() as session:
            result = session.execute(
                update(models.Source).where(*conditions)
                .values(leased_by=self.worker, lease_until=lease_until, last_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def why_not_claimed(self, source_id: int, now: datetime) -> str:
        with self.sessions() as session:
            source = session.get(models.Source, source_id)
            if source is None or not source.enabled:
                return "disabled"
            if source.paused_reason:
                return f"paused: {source.paused_reason}"
            if source.lease_until is not None and source.lease_until >= now:
                if source.leased_by == self.worker:
                    return "busy (being polled by this daemon)"
                return "busy (held by another daemon)"
            return "not due"

    def _hold(self, session: Session, source_id: int, **values) -> bool:
        """Update the source only if this worker holds its lease; False if it does not. As the
        first write of a transaction it also keeps anyone else from taking the lease until
        the transaction ends."""
        result = session.execute(
            update(models.Source)
            .where(models.Source.id == source_id, models.Source.leased_by == self.worker)
            .values(**values).execution_options(synchronize_session=False))
        return result.rowcount == 1

    def renew(self, source_id: int) -> bool:
        with self.sessions.begin() as session:
            return self._hold(session, source_id, lease_until=self._lease_until())

    # --- polling ---------------------------------------------------------------------------

    def poll(self, source_id: int, *, stop: threading.Event | None = None,
             due_only: bool = True,
             follower_request: followers.SyncRequest | None = None) -> PollResult:
        """Poll one source. Raises `DatabaseFault` when the database cannot take writes: the
        source is not to blame, and its pages are read again once the fault clears.
        `follower_request` is what the command line asked of a follower sync (full, approved)."""
        try:
            return self._poll(source_id, stop, due_only, follower_request)
        except DBAPIError as exc:
            kind = database_fault(exc)
            if kind is None:
                raise
            raise DatabaseFault(kind, " ".join(str(exc.orig).split())) from None

    def _poll(self, source_id: int, stop: threading.Event | None, due_only: bool,
              follower_request: followers.SyncRequest | None = None) -> PollResult:
        started = self.now()
        if not self.claim(source_id, started, due_only=due_only):
            return PollResult(source_id, claimed=False,
                              not_claimed=self.why_not_claimed(source_id, started))
        with self.sessions() as session:
            source = session.get(models.Source, source_id)
            cursor = source.cursor
            begin = start_cursor(cursor, source.progress)
            spec = spec_of(source, session)
        result = PollResult(source_id, backfill=cursor is None, started=started)
        try:
            with _Heartbeat(self, source_id) as heartbeat:
                connector = build_connector(self.config, source)
                if source.kind == followers.KIND:
                    self._sync_followers(source_id, connector, spec, result, heartbeat, stop,
                                         follower_request)
                    pages = iter(())
                else:
                    pages = connector.fetch(spec, begin)
                for page in pages:
                    if heartbeat.lost.is_set():
                        raise LeaseLost
                    self.store_page(source_id, page, result)
                    if page.last:
                        result.completed = True
                    # Stopping: the page in hand is committed; the rest waits for the next start.
                    if stop is not None and stop.is_set() and not page.last:
                        break
        except LeaseLost:
            result.error = "stopped: another daemon took the source over"
            log.warning("source %s: lease lost mid-poll; stopped without committing more",
                        source_id)
            self._record_lost(source_id, started, result)
            return result
        except ConnectorError as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            self._failed(source_id, exc, started, result)
            return result
        except DBAPIError as exc:
            if database_fault(exc):
                raise
            self._internal_failure(source_id, exc, started, result)
            return result
        except Exception as exc:  # a bug or an unexpected library error: keep the daemon alive
            self._internal_failure(source_id, exc, started, result)
            return result
        self._succeeded(source_id, started, result)
        return result

    def store_page(self, source_id: int, page: Page, result: PollResult) -> None:
        now = self.now()
        with self.sessions.begin() as session:
            # Only the lease's holder commits a page, and holding it here keeps it held until
            # the commit.
            if not self._hold(session, source_id, lease_until=self._lease_until()):
                raise LeaseLost
            source = session.get(models.Source, source_id)
            school = self.config.school(source.school_id)
            new_items = self._insert_new(session, source, page)
            if new_items:
                classifier = self.classifiers.for_school(school, session)
                verdicts = classifier.predict([item.text for item in new_items])
                session.execute(insert(models.Verdict), [{
                    "item_id": item.id, "model_version": verdict.model_version,
                    "scores": dict(verdict.scores), "categories": list(verdict.categories),
                    "reasons": {k: list(v) for k, v in verdict.reasons.items()},
                    "severity": rules.severity_of(verdict.categories), "created_at": now,
                } for item, verdict in zip(new_items, verdicts, strict=True)])
                history = alerts.serious_history(
                    session, source.item_platform,
                    {i.author_id for i, v in zip(new_items, verdicts, strict=True)
                     if v.categories and i.author_id},
                    min(item.created_at for item in new_items))
                first_poll = source.cursor is None
                for item, verdict in zip(new_items, verdicts, strict=True):
                    watched = self._watched_author(session, source, item, first_poll, now)
                    if not verdict.categories or self._quiet(source, item, verdict, first_poll,
                                                             now):
                        continue
                    if alerts.route_item(session, self.config, school, item, verdict, now,
                                         history, watch_note=watchlist.watch_note(watched),
                                         batch_from=result.started):
                        result.alerts += 1
            self._record_charged(session, source, page, result.backfill, now)
            source.progress = page.progress
            if page.last:
                source.cursor = page.progress
        result.pages += 1
        result.reads += page.reads
        result.new_items += len(new_items)
        result.new_item_ids += [item.id for item in new_items]

    def _watched_author(self, session: Session, source: models.Source, item: models.Item,
                        first_poll: bool, now: datetime) -> list[models.WatchlistEntry]:
        """The watchlist entries the item's author matches; IT (and the champion) are told
        when a watchlisted account comments, mentions or tags, except about a first poll's
        backlog older than a day, which is history rather than news."""
        if item.author_id and item.author_id == source.account:
            return []  # the school's own posts and replies
        watched = watchlist.matches(session, source.school_id, item.platform, item.author_id,
                                    item.author_handle, item.author_name, now)
        event = watchlist.event_for(item.kind)
        backlog = first_poll and item.created_at < now - WATCHED_BACKLOG_QUIET
        if watched and event is not None and not backlog:
            watchlist.alert_watched(session, self.config, source.school_id, event,
                                    item.platform, item.author_id, item.author_handle,
                                    item.author_name, watched, now, item_id=item.id)
        return watched

    # --- follower sources ------------------------------------------------------------------

    def _sync_followers(self, source_id: int, connector: Connector, spec: SourceSpec,
                        result: PollResult, heartbeat: _Heartbeat,
                        stop: threading.Event | None,
                        request: followers.SyncRequest | None) -> None:
        """A follower sync (monitor/followers.py), a page at a time, each page committed with
        its place under the lease, as `store_page` does for items."""
        if connector.followers_refusal:
            raise ConfigError(connector.followers_refusal)
        with self.sessions() as session:
            source = session.get(models.Source, source_id)
            settings = followers.settings_of(source)  # a clear ConfigError when wrong
            plan = followers.plan_sync(source, request, self.now(), connector.followers_page_max)
        outcome = result.followers = followers.SyncOutcome(plan.mode)
        if plan.needs_approval:
            outcome.estimate = plan.estimate = followers.estimate_full_sync(connector, spec)
            if reason := followers.refusal(plan.estimate, settings, spec.account):
                raise followers.FullSyncRefused(reason)
        token, seen = plan.page_token, set()
        while True:
            size = followers.page_size(plan, outcome.pages, connector.followers_page_max)
            if plan.mode == "incremental":
                size = self._follower_budget(source_id, connector, size, outcome)
                if not size:
                    return
            try:
                page = connector.fetch_followers(spec, page_token=token, size=size)
            except ConfigError:
                if token is None or token != plan.page_token:
                    raise
                # A saved page token the platform no longer takes: from the newest again.
                token = plan.page_token = None
                page = connector.fetch_followers(spec, size=size)
            except RetryableError as exc:
                if not outcome.pages or exc.retry_after is None:
                    raise
                # X allows 15 follower pages per 15 minutes: a big full sync meets the limit
                # part-way. Its pages so far are kept; it carries on when X allows, which is
                # not a failure to tell IT about.
                outcome.wait = exc.retry_after
                return
            if heartbeat.lost.is_set():
                raise LeaseLost
            if page.next_token is not None and (page.next_token in seen
                                                or page.next_token == token):
                # A page token handed back twice would loop for ever, paying for every lap.
                raise PayloadError(f"{connector.title} returned the follower page token "
                                   f"{page.next_token!r} twice; stopping this sync")
            if self._store_followers(source_id, plan, page, result):
                result.completed = True
                return
            seen.add(page.next_token)
            token = page.next_token
            if stop is not None and stop.is_set():  # the page in hand is committed
                return

    def _follower_budget(self, source_id: int, connector: Connector, size: int,
                         outcome: followers.SyncOutcome) -> int:
        """The next page's size within this month's follower budget; 0 when the budget is
        spent, and then the source is paused (and IT told, once a month)."""
        now = self.now()
        with self.sessions.begin() as session:
            if not self._hold(session, source_id, lease_until=self._lease_until()):
                raise LeaseLost
            followers.clear_budget_pause(session, source_id)
            source = session.get(models.Source, source_id)
            size, reason = followers.affordable(session, source, connector.read_prices, size,
                                                now)
            if reason is not None:
                followers.pause_for_budget(session, self.config, source, reason, now)
                outcome.paused = reason
        return size

    def _store_followers(self, source_id: int, plan: followers.SyncPlan, page: FollowerPage,
                         result: PollResult) -> bool:
        """Commit one page of followers, what it cost and where the sync is; True when the
        sync is complete (the last page, or an incremental sync reached known followers)."""
        now = self.now()
        outcome = result.followers
        with self.sessions.begin() as session:
            if not self._hold(session, source_id, lease_until=self._lease_until()):
                raise LeaseLost
            source = session.get(models.Source, source_id)
            before = {event: len(ids) for event, ids in self._follower_events(outcome).items()}
            reached_known = followers.store_page(session, source, plan, page, outcome, now)
            # A full sync is a one-off, kept out of the monthly budget and the cost estimate.
            self._record_charged(session, source, Page([], {}, charged=page.charged),
                                 plan.mode == "full", now)
            done = reached_known or page.next_token is None
            if done and plan.mode == "full":
                followers.finish_full_sync(session, source, plan, outcome, now)
            # This page's follows, re-follows and unfollows, told with the page that found them.
            result.alerts += followers.tell_watched(
                session, self.config, source,
                {event: ids[before[event]:]
                 for event, ids in self._follower_events(outcome).items()}, now)
            if done:
                source.cursor = source.progress = followers.cursor_after(source, plan, outcome,
                                                                         now)
            else:
                source.progress = followers.progress_after(source, plan, page.next_token)
        outcome.pages += 1
        outcome.reads += page.reads
        outcome.reached_known = reached_known
        result.pages += 1
        result.reads += page.reads
        if len(outcome.new) > before["follow"]:
            self._screen_followers(source_id, now)
        return done

    @staticmethod
    def _follower_events(outcome: followers.SyncOutcome) -> dict[str, list[int]]:
        return {"follow": outcome.new, "refollow": outcome.refollowed,
                "unfollow": outcome.unfollowed}

    def _screen_followers(self, source_id: int, first_seen: datetime) -> None:
        """Screen the followers a page found new (first seen at `first_seen`) for IT's report,
        in a transaction of their own: followers already stored are kept if screening fails,
        and show in the report as not screened yet."""
        try:
            with self.sessions.begin() as session:
                screening.screen_new(session, self.config, source_id, first_seen, self.now(),
                                     classifiers=self.classifiers)
        except Exception as exc:  # screening is for a report: the sync itself has succeeded
            if database_fault(exc):
                raise
            log.debug("screening the new followers of source %s failed", source_id,
                      exc_info=True)
            log.error("source %s: could not screen its new followers (%s); they show in the "
                      "follower report as not screened", source_id, type(exc).__name__)

    @staticmethod
    def _record_charged(session: Session, source: models.Source, page: Page, backfill: bool,
                        now: datetime) -> None:
        """What a pay-per-read platform charged for this page: each resource once per UTC day,
        whoever read it first, so the cost estimate counts what was really billed."""
        if not page.charged:
            return
        day = now.astimezone(UTC).date().isoformat()
        rows = [{"platform": source.platform, "resource": resource, "day": day,
                 "source_id": source.id, "backfill": backfill}
                for resource in dict.fromkeys(page.charged)]
        dialect = session.get_bind().dialect.name
        insert_ = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
        session.execute(insert_(models.PaidRead).on_conflict_do_nothing(
            index_elements=["platform", "resource", "day"]), rows)

    @staticmethod
    def _quiet(source: models.Source, item: models.Item, verdict: Verdict, first_poll: bool,
               now: datetime) -> bool:
        """Items that are stored and classified but told to nobody."""
        # The school's own replies: its office number is not a leak, its answers not complaints.
        if item.author_id and item.author_id == source.account:
            return True
        # A newly added account's history: old questions and grumbles are not news, but a
        # threat, a disclosure or abuse still on the page is.
        severity = rules.severity_of(verdict.categories)
        return (first_poll and severity in ("normal", "low")
                and item.created_at < now - BACKFILL_QUIET)

    def _insert_new(self, session: Session, source: models.Source,
                    page: Page) -> list[models.Item]:
        if not page.items:
            return []
        rows, seen = [], set()
        for item in page.items:
            if item.external_id in seen:
                continue
            seen.add(item.external_id)
            rows.append({
                "platform": source.item_platform, "external_id": item.external_id,
                "source_id": source.id, "school_id": source.school_id, "kind": item.kind,
                "author_id": clean_text(item.author.id), "author_handle":
                clean_text(item.author.handle), "author_name": clean_text(item.author.name),
                "text": clean_text(item.text), "created_at": item.created_at,
                "fetched_at": now_utc(), "permalink": clean_text(item.permalink),
                "parent_id": item.parent_id, "conversation_id": item.conversation_id,
                "raw": _clean_json(dict(item.raw)) if self.config.settings.retention
                .raw_payload_days else None,
            })
        dialect = session.get_bind().dialect.name
        insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
        # One cached statement run over all rows: a multi-row VALUES would be compiled anew for
        # every page.
        statement = (insert(models.Item)
                     .on_conflict_do_nothing(index_elements=["platform", "external_id"])
                     .returning(models.Item.id))
        ids = list(session.scalars(statement, rows))
        if not ids:
            return []
        return list(session.scalars(
            select(models.Item).where(models.Item.id.in_(ids)).order_by(models.Item.id)))

    # --- outcome ---------------------------------------------------------------------------

    def _record_run(self, session: Session, source_id: int, started: datetime,
                    result: PollResult) -> None:
        session.add(models.PollRun(source_id=source_id, started_at=started,
                                   finished_at=self.now(), pages=result.pages,
                                   new_items=result.new_items, reads=result.reads,
                                   error=result.error, backfill=result.backfill))

    def _record_lost(self, source_id: int, started: datetime, result: PollResult) -> None:
        with self.sessions.begin() as session:
            self._record_run(session, source_id, started, result)

    def _release(self, session: Session, source_id: int) -> models.Source | None:
        """Release this worker's lease and return the source, or None (leaving the source alone)
        when another worker holds it now."""
        if not self._hold(session, source_id, leased_by=None, lease_until=None):
            log.warning("source %s: another daemon holds it now; leaving its state alone",
                        source_id)
            return None
        return session.get(models.Source, source_id)

    def _succeeded(self, source_id: int, started: datetime, result: PollResult) -> None:
        now = self.now()
        with self.sessions.begin() as session:
            source = self._release(session, source_id)
            if source is not None:
                interval = (followers.settings_of(source).interval
                            if source.kind == followers.KIND else source.poll_interval)
                # Jitter keeps fifty sources from lining up on the same second.
                wait = interval * random.uniform(0.9, 1.1)
                if not result.completed:  # stopped part-way: pick up again promptly
                    wait = min(wait, 5.0)
                if result.followers and result.followers.wait is not None:
                    wait = result.followers.wait  # when the platform's rate limit allows
                # A follower sync paused for its budget waits for the next month instead.
                if not (result.followers and result.followers.paused):
                    source.next_poll_at = now + timedelta(seconds=wait)
                source.last_success_at = now
                if source.failure_notified:
                    self._tell_recovered(session, source, now)
                if source.failing_since is not None:
                    log.info("source %s recovered after failing since %s", source_id,
                             f"{source.failing_since:%Y-%m-%d %H:%M} UTC")
                source.failure_count = 0
                source.last_error = None
                source.failing_since = None
                source.failure_notified = False
            self._record_run(session, source_id, started, result)

    def _internal_failure(self, source_id: int, exc: Exception, started: datetime,
                          result: PollResult) -> None:
        # The traceback is for whoever debugs it; the log gets one line per episode (below).
        log.debug("poll of source %s failed", source_id, exc_info=True)
        detail = " ".join(str(exc).split())[:500]
        result.error = f"{INTERNAL}{type(exc).__name__}: {detail}"
        self._failed(source_id, exc, started, result)

    def _failed(self, source_id: int, exc: Exception, started: datetime,
                result: PollResult) -> None:
        now = self.now()
        internal = result.error is not None and result.error.startswith(INTERNAL)
        with self.sessions.begin() as session:
            source = self._release(session, source_id)
            if source is None:
                self._record_run(session, source_id, started, result)
                return
            same_episode = bool(source.failure_count and source.last_error
                                and source.last_error.startswith(INTERNAL) == internal)
            source.failure_count += 1
            source.last_error = result.error
            wait = backoff.delay(source.failure_count, base=min(60.0, source.poll_interval),
                                 retry_after=getattr(exc, "retry_after", None))
            source.next_poll_at = now + timedelta(seconds=wait)
            if source.failing_since is None:
                source.failing_since = started
            if isinstance(exc, AuthError):
                self._pause_credential(session, source, exc, result, now)
            elif getattr(exc, "permanent", False):
                self._pause_alone(session, source, exc, result, started, now)
            elif not source.failure_notified and self._failing_too_long(session, source,
                                                                        internal, now):
                self._tell_failing(session, source, internal, now)
                source.failure_notified = True
            self._record_run(session, source_id, started, result)
        if internal:
            if not same_episode:
                log.error("source %s: %s (retrying with backoff; logged once until it "
                          "recovers, details at debug level)", source_id, result.error)
        else:
            log.warning("source %s failed (%s); next try in %.0fs", source_id, result.error,
                        wait)

    def _failing_too_long(self, session: Session, source: models.Source, internal: bool,
                          now: datetime) -> bool:
        if now - source.failing_since >= timedelta(seconds=self.config.daemon.failure_notice_after):
            return True
        if not internal:
            return False
        earlier = list(session.scalars(
            select(models.PollRun.error).where(models.PollRun.source_id == source.id)
            .order_by(models.PollRun.id.desc()).limit(INTERNAL_NOTICE_AFTER - 1)))
        return (len(earlier) == INTERNAL_NOTICE_AFTER - 1
                and all(error and error.startswith(INTERNAL) for error in earlier))

    def _tell_failing(self, session: Session, source: models.Source, internal: bool,
                      now: datetime) -> None:
        since = f"{source.failing_since:%Y-%m-%d %H:%M} UTC"
        if internal:
            body = (f"Hall Monitor has failed to process what it reads from {source.key} "
                    f"{source.failure_count} times in a row since {since}. The fault is in "
                    "Hall Monitor or its database, not the platform:\n"
                    f"  {source.last_error}\n\n"
                    "Nothing already read is lost: the source keeps its place and is read "
                    "again once the fault is fixed. Check the daemon's log and the database; "
                    "restarting the daemon often clears it. You will be told when it recovers.")
        else:
            body = (f"Hall Monitor has been unable to poll {source.key} since {since} "
                    f"({source.failure_count} failed polls). The last error was:\n"
                    f"  {source.last_error}\n\n"
                    "It keeps retrying with backoff, and nothing is lost while it does, but "
                    "nothing new from this source is being checked. Check the network and the "
                    "platform's status. You will be told when it recovers.")
        alerts.notify_it(
            session, self.config, source.school_id,
            f"source-failing:{source.id}:{source.failing_since:%Y%m%dT%H%M%S}", "source_failing",
            f"[ACTION NEEDED] Monitoring failing: {source.name or source.key}", body, now)

    def _tell_recovered(self, session: Session, source: models.Source, now: datetime) -> None:
        alerts.notify_it(
            session, self.config, source.school_id,
            f"source-recovered:{source.id}:{source.failing_since:%Y%m%dT%H%M%S}",
            "source_recovered", f"Monitoring recovered: {source.name or source.key}",
            f"{source.key} is being polled again: it had failed since "
            f"{source.failing_since:%Y-%m-%d %H:%M} UTC ({source.failure_count} failed polls) "
            f"and succeeded at {now:%Y-%m-%d %H:%M} UTC. What was published meanwhile is being "
            "read now.", now)

    def _pause_alone(self, session: Session, source: models.Source, exc: Exception,
                     result: PollResult, started: datetime, now: datetime) -> None:
        source.paused_reason = result.error
        source.paused_at = now
        alerts.notify_it(
            session, self.config, source.school_id,
            f"source-paused:{source.id}:{started:%Y%m%dT%H%M%S}", "source_paused",
            f"[ACTION NEEDED] Monitoring paused: {source.name or source.key}",
            f"Hall Monitor stopped polling {source.key} because:\n  {exc}\n\n"
            f"Fix the settings, then run 'hallmonitor sources --resume {source.id}'.", now)

    def _pause_credential(self, session: Session, source: models.Source, exc: Exception,
                          result: PollResult, now: datetime) -> None:
        """Pause every source that polls with the refused credential at once, and tell IT once,
        naming them all: one expired token must not mean one notice per source."""
        if source.paused_reason:  # paused already, with the others, by a poll that failed first
            return
        account = find_account(self.config, source)
        fingerprint = (sources_module.credential_fingerprint(self.config, account)
                       if account else None)
        keys = {sources_module.source_key(school, holder, kind)
                for school, holder in sources_module.credential_holders(
                    self.config, source.school_id, source.account, source.platform)
                for kind in holder.kinds}
        others = list(session.scalars(
            select(models.Source).where(models.Source.key.in_(keys),
                                        models.Source.id != source.id,
                                        models.Source.enabled.is_(True),
                                        models.Source.paused_reason.is_(None))
            .order_by(models.Source.id)
            # A row another worker is writing now is left to it (its poll meets the same
            # refusal): two workers pausing each other's sources must not deadlock.
            .with_for_update(skip_locked=True)))
        for row in [source, *others]:
            row.paused_reason = (result.error if row is source else
                                 f"{result.error} (refused for source {source.id}, which uses "
                                 "the same credentials)")
            row.paused_at = now
            row.paused_fingerprint = fingerprint
        paused = [source, *others]
        title = (f"[ACTION NEEDED] Monitoring paused: {source.platform} credentials refused "
                 f"({len(paused)} source{'s' if len(paused) != 1 else ''})")
        body = self._credential_notice(account, exc, paused, fingerprint is not None)
        # One notice per set of IT recipients: schools sharing a token and an IT manager get one.
        told: set[tuple[str, ...]] = set()
        for school_id in dict.fromkeys(row.school_id for row in paused):
            school = self.config.find_school(school_id)
            if school is None:
                continue
            who = tuple(sorted(d.destination for d in rules.destinations(school, ["it"])))
            if who in told:
                continue
            told.add(who)
            alerts.notify_it(session, self.config, school_id,
                             f"credential-paused:{source.id}:{now:%Y%m%dT%H%M%S}:{school_id}",
                             "source_paused", title, body, now)

    @staticmethod
    def _credential_notice(account, exc: Exception, paused: list[models.Source],
                           restart_resumes: bool) -> str:
        names = "\n".join(f"  - {row.name or row.key} ({row.key}, id {row.id})" for row in paused)
        refs = ", ".join(sorted(account.credentials.values())) if account else ""
        ids = " ".join(str(row.id) for row in paused)
        lines = [f"Hall Monitor stopped polling {len(paused)} source"
                 f"{'s' if len(paused) != 1 else ''} because the platform refused the "
                 f"credentials they share:\n  {exc}\n", "Stopped:", names, ""]
        if restart_resumes:
            lines.append(f"To resume: put a valid credential where the config points "
                         f"({refs}) and restart the daemon: sources whose credentials have "
                         "changed resume by themselves when it starts. A restart with the same "
                         "credentials keeps them paused. Or, once the credential is fixed, run "
                         f"'hallmonitor sources --resume ID' for each of: {ids}.")
        else:
            lines.append("To resume: fix the credentials, then run 'hallmonitor sources --resume "
                         f"ID' for each of: {ids}.")
        return "\n".join(lines)
