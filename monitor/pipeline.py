"""One poll of one source: claim it, fetch pages, and commit each page whole.

Per page, in one transaction: insert the new items (an item already stored is skipped by its
(platform, external_id) key), classify them, route them into alerts and deliveries, and record the
progress marker; the cursor is promoted only after the last page. A crash at any point therefore
loses nothing (the old cursor is still there) and tells nobody twice (the items are already there).
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from classifiers.base import Verdict
from connectors import ConnectorError, Page, SourceSpec, connector_class
from connectors.base import ConfigError, Connector
from monitor import alerts, backoff, models, rules
from monitor.classify import ClassifierCache
from monitor.config import Config

log = logging.getLogger(__name__)

# On a source's first poll, normal and low severity items older than this are not alerted.
BACKFILL_QUIET = timedelta(hours=48)

# Text a database could refuse (PostgreSQL rejects NUL) is made storable, never dropped.
_UNSTORABLE = {0: "\ufffd"}


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


def build_connector(config: Config, source: models.Source) -> Connector:
    school = config.find_school(source.school_id)
    account = next((a for a in school.accounts if a.platform == source.platform
                    and a.account == source.account), None) if school else None
    if account is None:
        raise ConfigError(f"{source.key} is no longer in the config")
    secrets = {name: config.secret(ref) for name, ref in account.credentials.items()}
    # The account id goes in too: check() probes the account without a source in hand.
    settings = {"account": account.account, **account.settings}
    return connector_class(source.platform)(settings, secrets)


def spec_of(source: models.Source) -> SourceSpec:
    return SourceSpec(source.id, source.platform, source.kind, source.account, source.settings)


class Pipeline:
    def __init__(self, config: Config, sessions: sessionmaker[Session],
                 classifiers: ClassifierCache, worker: str) -> None:
        self.config = config
        self.sessions = sessions
        self.classifiers = classifiers
        self.worker = worker

    # --- leasing ---------------------------------------------------------------------------

    def claim(self, source_id: int, now: datetime, *, due_only: bool = True) -> bool:
        """Compare-and-swap: take the source if nobody holds a live lease (and it is due).
        Nothing updated means another daemon got there first."""
        lease_until = now + timedelta(seconds=self.config.daemon.lease)
        conditions = [
            models.Source.id == source_id,
            models.Source.enabled.is_(True),
            models.Source.paused_reason.is_(None),
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

    # --- polling ---------------------------------------------------------------------------

    def poll(self, source_id: int, *, stop: threading.Event | None = None,
             due_only: bool = True) -> PollResult:
        started = now_utc()
        if not self.claim(source_id, started, due_only=due_only):
            return PollResult(source_id, claimed=False)
        result = PollResult(source_id)
        with self.sessions() as session:
            source = session.get(models.Source, source_id)
            cursor = source.cursor
            spec = spec_of(source)
        try:
            connector = build_connector(self.config, source)
            for page in connector.fetch(spec, cursor):
                self.store_page(source_id, page, result)
                if page.last:
                    result.completed = True
                # Stopping: the page in hand is committed; the rest waits for the next start.
                if stop is not None and stop.is_set() and not page.last:
                    break
        except ConnectorError as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            self._failed(source_id, exc, started, result)
            return result
        except Exception as exc:  # a bug or an unexpected library error: keep the daemon alive
            log.exception("poll of source %s failed", source_id)
            result.error = f"{type(exc).__name__}: {exc}"
            self._failed(source_id, exc, started, result)
            return result
        self._succeeded(source_id, started, result)
        return result

    def store_page(self, source_id: int, page: Page, result: PollResult) -> None:
        now = now_utc()
        with self.sessions.begin() as session:
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
                    if not verdict.categories or self._quiet(source, item, verdict, first_poll,
                                                             now):
                        continue
                    if alerts.route_item(session, self.config, school, item, verdict, now,
                                         history):
                        result.alerts += 1
            source.progress = page.progress
            if page.last:
                source.cursor = page.progress
            # Still working: keep the lease alive for the next page.
            source.lease_until = now + timedelta(seconds=self.config.daemon.lease)
        result.pages += 1
        result.reads += page.reads
        result.new_items += len(new_items)
        result.new_item_ids += [item.id for item in new_items]

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
                                   finished_at=now_utc(), pages=result.pages,
                                   new_items=result.new_items, reads=result.reads,
                                   error=result.error))

    def _succeeded(self, source_id: int, started: datetime, result: PollResult) -> None:
        now = now_utc()
        with self.sessions.begin() as session:
            source = session.get(models.Source, source_id)
            # Jitter keeps fifty sources from lining up on the same second.
            wait = source.poll_interval * random.uniform(0.9, 1.1)
            if not result.completed:  # stopped part-way: pick up again promptly
                wait = min(wait, 5.0)
            source.next_poll_at = now + timedelta(seconds=wait)
            source.last_success_at = now
            source.failure_count = 0
            source.last_error = None
            source.leased_by = source.lease_until = None
            self._record_run(session, source_id, started, result)

    def _failed(self, source_id: int, exc: Exception, started: datetime,
                result: PollResult) -> None:
        now = now_utc()
        permanent = getattr(exc, "permanent", False)
        with self.sessions.begin() as session:
            source = session.get(models.Source, source_id)
            source.failure_count += 1
            source.last_error = result.error
            wait = backoff.delay(source.failure_count, base=min(60.0, source.poll_interval),
                                 retry_after=getattr(exc, "retry_after", None))
            source.next_poll_at = now + timedelta(seconds=wait)
            source.leased_by = source.lease_until = None
            if permanent:
                source.paused_reason = result.error
                alerts.notify_it(
                    session, self.config, source.school_id,
                    f"source-paused:{source.id}:{started:%Y%m%dT%H%M%S}", "source_paused",
                    f"[ACTION NEEDED] Monitoring paused: {source.name or source.key}",
                    f"Hall Monitor stopped polling {source.key} because the platform said:\n"
                    f"  {exc}\n\nFix the credentials or settings, then run "
                    f"'hallmonitor sources --resume {source.id}' (or restart the daemon).",
                    now)
            self._record_run(session, source_id, started, result)
        log.warning("source %s failed (%s); next try in %.0fs", source_id, result.error, wait)
