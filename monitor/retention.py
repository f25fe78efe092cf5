"""The retention policy: what was collected is kept no longer than its purpose needs.

Four rules, each a setting of `[retention]` (see docs/retention.md for why each period):

- raw payloads: `Item.raw` goes `raw_payload_days` after the item was fetched;
- unflagged items: `unflagged_text_days` after they were written, their text, author, permalink
  and raw payload go; the row stays (platform, kind, time, school, source, verdict), so the weekly
  digest's counts and four-week averages still add up. The school's own accounts keep their
  author fields: they are the school, not a person, and the digest leaves them out by them;
- flagged items: `flagged_days` after their incident was resolved (open and acknowledged
  incidents are kept: someone still has to deal with them), or after they were written when in
  no incident. The item goes with its verdict, corrections and incident links; the copies of its
  words in alerts are replaced by a neutral line (the rows and their dedupe keys stay: they are
  what stops a repeat); actions keep their trail without it; its evidence records lose their
  content through `monitor.evidence.chain.remove_content`, which keeps the chain verifiable;
- weekly reports kept in alerts (digests, IT's follower report) quote comments: after
  `flagged_days` their title, body and details go, the row stays.

An incident under evidence hold (`Incident.held_at`) and everything of it is exempt until the
hold is released; the next run after that applies the rules as if there had been no hold.

The job works in batches of `batch_size` rows, each in a transaction of its own, so the daemon's
own writes never wait long behind it on SQLite. A run that removed anything is recorded as a
`DataRemoval` row with counts per kind, never what was removed or whose it was; the row is
written with the first batch and brought up to date with each later one, so it is right even
when a run is stopped half way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, delete, exists, func, not_, null, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from monitor import alerts, models
from monitor.config import Config
from monitor.digest.content import OwnAccounts
from monitor.evidence import chain

# Who a run is recorded as when nobody ran it by hand.
BY = "retention job"
# What an alert's copy of removed words is replaced with.
REMOVED = "Removed under the retention policy"
REMOVED_BODY = ("The content of this message was removed under the retention policy. "
                "The record that it was sent is kept.")
# The word `chain.remove_content` records as the reason.
REASON = "retention"
# A batch looks for its rows among the next `batch_size * WINDOW` rows in id order.
WINDOW = 20


@dataclass
class RetentionResult:
    """What a run removed (or, dry, would remove), per kind; counts only."""

    raw_payloads: int = 0
    unflagged_texts: int = 0
    flagged_items: int = 0
    alert_copies: int = 0
    reports: int = 0
    evidence_contents: int = 0
    # Incidents under evidence hold that kept something a rule would otherwise have removed.
    held_incidents: int = 0
    dry_run: bool = False

    KINDS = ("raw_payloads", "unflagged_texts", "flagged_items", "alert_copies", "reports",
             "evidence_contents")

    def counts(self) -> dict[str, int]:
        return {kind: getattr(self, kind) for kind in (*self.KINDS, "held_incidents")}

    @property
    def removed(self) -> int:
        return sum(getattr(self, kind) for kind in self.KINDS)

    def add(self, other: dict[str, int]) -> None:
        for kind, n in other.items():
            setattr(self, kind, getattr(self, kind) + n)

    def summary(self) -> str:
        """One line of counts, for logs: never anything about what was removed."""
        parts = [f"{LABELS[kind]}: {getattr(self, kind)}" for kind in self.KINDS
                 if getattr(self, kind)]
        text = ", ".join(parts) if parts else "nothing due"
        if self.held_incidents:
            text += (f"; {self.held_incidents} incident{'s' if self.held_incidents != 1 else ''}"
                     " under evidence hold kept")
        return text


LABELS = {
    "raw_payloads": "raw payloads",
    "unflagged_texts": "unflagged items' texts and authors",
    "flagged_items": "flagged items",
    "alert_copies": "alerts' copies of removed items",
    "reports": "weekly reports' contents",
    "evidence_contents": "evidence records' contents",
    "held_incidents": "incidents under evidence hold kept",
}


# --- conditions, in SQL ---------------------------------------------------------------------------

def present(column: Any) -> ColumnElement[bool]:
    """A JSON column that holds something: neither SQL NULL nor JSON null (which is what the ORM
    writes for None)."""
    return and_(column.is_not(None), cast(column, String) != "null")


def _held_item() -> ColumnElement[bool]:
    """The item belongs to an incident under evidence hold."""
    return exists(select(1).select_from(models.IncidentItem)
                  .join(models.Incident, models.Incident.id == models.IncidentItem.incident_id)
                  .where(models.IncidentItem.item_id == models.Item.id,
                         models.Incident.held_at.is_not(None)))


def _in_incident() -> ColumnElement[bool]:
    return exists(select(1).where(models.IncidentItem.item_id == models.Item.id))


def flagged() -> ColumnElement[bool]:
    """The item mattered: its verdict has a category, it is in an incident, staff corrected it
    (a correction is a lesson for the school's model), or evidence was recorded of it (before
    it was hidden, say). Anything else is an unflagged item."""
    categorised = exists(select(1).where(
        models.Verdict.item_id == models.Item.id,
        cast(models.Verdict.categories, String).not_in(("[]", "null"))))
    corrected = exists(select(1).where(models.Feedback.item_id == models.Item.id))
    recorded = exists(select(1).where(models.EvidenceRecord.item_id == models.Item.id))
    return or_(categorised, _in_incident(), corrected, recorded)


def _incident_due(before: datetime) -> ColumnElement[bool]:
    """The incident is resolved, longer ago than `before`, and not under hold."""
    incident = models.Incident
    return and_(incident.status == "resolved", incident.resolved_at.is_not(None),
                incident.resolved_at < before, incident.held_at.is_(None))


def _kept_by_incident(before: datetime) -> ColumnElement[bool]:
    """An incident of the item still keeps it: open, acknowledged, resolved too recently, or
    under hold."""
    return exists(select(1).select_from(models.IncidentItem)
                  .join(models.Incident, models.Incident.id == models.IncidentItem.incident_id)
                  .where(models.IncidentItem.item_id == models.Item.id,
                         not_(_incident_due(before))))


# --- the passes -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Clock:
    now: datetime
    raw_before: datetime
    text_before: datetime
    flagged_before: datetime

    @classmethod
    def of(cls, config: Config, now: datetime) -> Clock:
        rules = config.settings.retention
        return cls(now, now - timedelta(days=rules.raw_payload_days),
                   now - timedelta(days=rules.unflagged_text_days),
                   now - timedelta(days=rules.flagged_days))


@dataclass(frozen=True)
class Pass:
    """One rule: the rows it applies to (`candidates`, a query of ids) and what it does to a
    batch of them, or, dry, what it would do."""

    name: str
    key: Any  # the id column the batches are taken in order of
    candidates: Callable[[Session], Any]
    apply: Callable[[Session, list[int]], dict[str, int]]
    count: Callable[[Session, list[int]], dict[str, int]]


def _passes(session: Session, clock: Clock) -> list[Pass]:
    school_ids = list(session.scalars(select(models.School.id).order_by(models.School.id)))
    passes = [Pass("raw payloads", models.Item.id, lambda s: _raw_due(clock),
                   lambda s, ids: {"raw_payloads": _clear_raw(s, ids)},
                   lambda s, ids: {"raw_payloads": len(ids)})]
    for school_id in school_ids:
        own = OwnAccounts.of(session, school_id)
        passes.append(Pass(
            f"unflagged texts of {school_id}", models.Item.id,
            lambda s, school_id=school_id, own=own: _unflagged_due(clock, school_id, own),
            lambda s, ids, own=own: _blank_unflagged(s, ids, own),
            lambda s, ids: {"unflagged_texts": len(ids),
                            "alert_copies": _count_alerts(s, models.Alert.item_id.in_(ids))}))
    passes += [
        Pass("flagged items", models.Item.id, lambda s: _flagged_due(clock),
             lambda s, ids: _remove_flagged(s, ids, clock.now),
             lambda s, ids: _count_flagged(s, ids)),
        Pass("resolved incidents", models.Incident.id, lambda s: _incidents_due(clock),
             lambda s, ids: _clear_incidents(s, ids, clock.now),
             lambda s, ids: _count_incidents(s, ids, clock)),
        Pass("evidence of nothing kept", models.EvidenceRecord.id,
             lambda s: _orphan_evidence_due(clock),
             lambda s, ids: {"evidence_contents": _remove_evidence(
                 s, models.EvidenceRecord.id.in_(ids), clock.now)},
             lambda s, ids: {"evidence_contents": len(ids)}),
        Pass("weekly reports", models.Alert.id, lambda s: _reports_due(clock),
             lambda s, ids: {"reports": _blank_alerts(s, models.Alert.id.in_(ids))},
             lambda s, ids: {"reports": len(ids)}),
    ]
    return passes


def _raw_due(clock: Clock):
    item = models.Item
    return select(item.id).where(present(item.raw), item.fetched_at < clock.raw_before,
                                 not_(_held_item()))


def _clear_raw(session: Session, ids: list[int]) -> int:
    return session.execute(update(models.Item).where(models.Item.id.in_(ids))
                           .values(raw=null())
                           .execution_options(synchronize_session=False)).rowcount


def _unflagged_due(clock: Clock, school_id: str, own: OwnAccounts):
    item = models.Item
    author_left = or_(item.author_id != "", item.author_handle != "", item.author_name != "")
    # A raw payload past its own period is the raw payloads' pass's, which runs first.
    raw_left = and_(present(item.raw), item.fetched_at >= clock.raw_before)
    # `school_id || ''` on purpose: compared bare, SQLite walks the school's date index for
    # every batch instead of the batch's id window (see `_batch`).
    return select(item.id).where(
        item.school_id + "" == school_id, item.created_at < clock.text_before,
        not_(flagged()), not_(_held_item()),
        or_(item.text != "", item.permalink != "", raw_left,
            and_(own.excluded(item), author_left)))


def _blank_unflagged(session: Session, ids: list[int], own: OwnAccounts) -> dict[str, int]:
    item = models.Item
    blanked = session.execute(update(item).where(item.id.in_(ids))
                              .values(text="", permalink="", raw=null())
                              .execution_options(synchronize_session=False)).rowcount
    # The school's own accounts keep their author fields: the digest leaves them out by these.
    session.execute(update(item).where(item.id.in_(ids), own.excluded(item))
                    .values(author_id="", author_handle="", author_name="")
                    .execution_options(synchronize_session=False))
    # An alert about an unflagged item (the watchlist's) quotes it: its copy goes too.
    copies = _blank_alerts(session, models.Alert.item_id.in_(ids))
    return {"unflagged_texts": blanked, "alert_copies": copies}


def _flagged_due(clock: Clock):
    item = models.Item
    return select(item.id).where(
        flagged(), not_(_kept_by_incident(clock.flagged_before)),
        or_(_in_incident(), item.created_at < clock.flagged_before))


def _remove_flagged(session: Session, ids: list[int], now: datetime) -> dict[str, int]:
    evidence = _remove_evidence(session, models.EvidenceRecord.item_id.in_(ids), now)
    copies = _blank_alerts(session, models.Alert.item_id.in_(ids))
    session.execute(update(models.Alert).where(models.Alert.item_id.in_(ids))
                    .values(item_id=None).execution_options(synchronize_session=False))
    session.execute(update(models.Action).where(models.Action.item_id.in_(ids))
                    .values(item_id=None).execution_options(synchronize_session=False))
    # The schema cascades these on both databases; deleting them here as well keeps the job
    # right on a database whose foreign keys are not enforced (SQLite without the pragma).
    for child in (models.Feedback, models.Verdict, models.IncidentItem):
        session.execute(delete(child).where(child.item_id.in_(ids))
                        .execution_options(synchronize_session=False))
    removed = session.execute(delete(models.Item).where(models.Item.id.in_(ids))
                              .execution_options(synchronize_session=False)).rowcount
    return {"flagged_items": removed, "alert_copies": copies, "evidence_contents": evidence}


def _count_flagged(session: Session, ids: list[int]) -> dict[str, int]:
    return {"flagged_items": len(ids),
            "alert_copies": _count_alerts(session, models.Alert.item_id.in_(ids)),
            "evidence_contents": _count_evidence(session,
                                                 models.EvidenceRecord.item_id.in_(ids))}


def _incidents_due(clock: Clock):
    """Resolved incidents past their period with something left to clear: alerts' copies of
    their comments (an escalation quotes the leading one), evidence of their steps, or a
    campaign key naming its author's account."""
    incident = models.Incident
    alert_left = exists(select(1).where(models.Alert.incident_id == incident.id,
                                        models.Alert.title != REMOVED,
                                        _not_held(models.Alert.item_id)))
    evidence_left = exists(select(1).where(models.EvidenceRecord.incident_id == incident.id,
                                           present(models.EvidenceRecord.content),
                                           _not_held(models.EvidenceRecord.item_id)))
    named = and_(incident.key.startswith(alerts.CAMPAIGN_PREFIX),
                 not_(incident.key.endswith(":-")))
    return select(incident.id).where(_incident_due(clock.flagged_before),
                                     or_(alert_left, evidence_left, named))


def _not_held(item_id: Any) -> ColumnElement[bool]:
    """Of no item (or an item of no incident) under hold: an item in two incidents, one of them
    held, keeps what is about it in the other too."""
    held = (select(models.IncidentItem.item_id)
            .join(models.Incident, models.Incident.id == models.IncidentItem.incident_id)
            .where(models.Incident.held_at.is_not(None)))
    return or_(item_id.is_(None), item_id.not_in(held))


def _clear_incidents(session: Session, ids: list[int], now: datetime) -> dict[str, int]:
    record, alert = models.EvidenceRecord, models.Alert
    evidence = _remove_evidence(
        session, and_(record.incident_id.in_(ids), _not_held(record.item_id)), now)
    copies = _blank_alerts(session, and_(alert.incident_id.in_(ids), _not_held(alert.item_id)))
    # "campaign:<platform>:<author id>" -> "campaign:<platform>:-": still a campaign, nobody's.
    for incident in session.scalars(select(models.Incident).where(
            models.Incident.id.in_(ids), models.Incident.key.startswith(alerts.CAMPAIGN_PREFIX))):
        prefix, platform = incident.key.split(":", 2)[:2]
        incident.key = f"{prefix}:{platform}:-"
    return {"alert_copies": copies, "evidence_contents": evidence}


def _count_incidents(session: Session, ids: list[int], clock: Clock) -> dict[str, int]:
    # What the flagged items' pass takes first is not counted again here.
    due = _flagged_due(clock)
    alert, record = models.Alert, models.EvidenceRecord
    return {"alert_copies": _count_alerts(session, and_(
                alert.incident_id.in_(ids), _not_held(alert.item_id),
                or_(alert.item_id.is_(None), alert.item_id.not_in(due)))),
            "evidence_contents": _count_evidence(session, and_(
                record.incident_id.in_(ids), _not_held(record.item_id),
                or_(record.item_id.is_(None), record.item_id.not_in(due))))}


def _orphan_evidence_due(clock: Clock):
    """Evidence of an item and incident both gone (removed, erased) and of no hold, recorded
    longer ago than the flagged period: nothing else would ever clear it."""
    record = models.EvidenceRecord
    no_item = or_(record.item_id.is_(None),
                  not_(exists(select(1).where(models.Item.id == record.item_id))))
    no_incident = or_(record.incident_id.is_(None),
                      not_(exists(select(1).where(models.Incident.id == record.incident_id))))
    return select(record.id).where(record.kind != chain.REMOVAL, present(record.content),
                                   record.recorded_at < clock.flagged_before, no_item,
                                   no_incident)


def _reports_due(clock: Clock):
    alert = models.Alert
    return select(alert.id).where(alert.kind.in_(alerts.REPORTS),
                                  alert.created_at < clock.flagged_before,
                                  alert.title != REMOVED)


def _blank_alerts(session: Session, which: ColumnElement[bool]) -> int:
    return session.execute(update(models.Alert).where(which, models.Alert.title != REMOVED)
                           .values(title=REMOVED, body=REMOVED_BODY, details=null())
                           .execution_options(synchronize_session=False)).rowcount


def _count_alerts(session: Session, which: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(models.Alert)
                          .where(which, models.Alert.title != REMOVED)) or 0


def _evidence_with_content(which: ColumnElement[bool]):
    record = models.EvidenceRecord
    return (select(record.school_id, record.seq)
            .where(which, record.kind != chain.REMOVAL, present(record.content)))


def _remove_evidence(session: Session, which: ColumnElement[bool], now: datetime) -> int:
    """Remove these records' contents, school by school, the one way evidence may be touched:
    the hashes stay and a removal entry says so."""
    by_school: dict[str, list[int]] = {}
    for school_id, seq in session.execute(_evidence_with_content(which)):
        by_school.setdefault(school_id, []).append(seq)
    return sum(chain.remove_content(session, school_id, seqs, REASON, now=now)
               for school_id, seqs in sorted(by_school.items()))


def _count_evidence(session: Session, which: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(
        _evidence_with_content(which).subquery())) or 0


def held_incidents(session: Session, clock: Clock) -> int:
    """Incidents under hold that keep something a rule would otherwise remove: resolved longer
    ago than the flagged period, or with an item whose raw payload is past its period."""
    incident = models.Incident
    raw_kept = exists(select(1).select_from(models.IncidentItem)
                      .join(models.Item, models.Item.id == models.IncidentItem.item_id)
                      .where(models.IncidentItem.incident_id == incident.id,
                             present(models.Item.raw),
                             models.Item.fetched_at < clock.raw_before))
    past = and_(incident.status == "resolved", incident.resolved_at < clock.flagged_before)
    return session.scalar(select(func.count()).select_from(incident).where(
        incident.held_at.is_not(None), or_(past, raw_kept))) or 0


# --- a run ----------------------------------------------------------------------------------------

class _Record:
    """The run's DataRemoval row: written with the first batch that removed anything, brought
    up to date with each later one, in the batch's own transaction."""

    def __init__(self, by: str, started_at: datetime) -> None:
        self.by, self.started_at = by, started_at
        self.id: int | None = None
        self._clock = time.monotonic()

    def write(self, session: Session, result: RetentionResult) -> None:
        finished = self.started_at + timedelta(seconds=time.monotonic() - self._clock)
        if self.id is None:
            row = models.DataRemoval(kind="retention", started_at=self.started_at,
                                     finished_at=finished, by=self.by, counts=result.counts())
            session.add(row)
            session.flush()
            self.id = row.id
        else:
            session.execute(update(models.DataRemoval).where(models.DataRemoval.id == self.id)
                            .values(finished_at=finished, counts=result.counts()))


def apply(config: Config, sessions: sessionmaker[Session], *, now: datetime | None = None,
          dry_run: bool = False, by: str = BY,
          stop: threading.Event | None = None) -> RetentionResult:
    """Apply the retention policy as of `now` (the current time unless given), in batches of
    `batch_size` rows, each committed on its own; `dry_run` counts what would go and changes
    nothing. `stop`, when set, ends the run between two batches (the daemon shutting down)."""
    now = now or datetime.now(UTC)
    clock = Clock.of(config, now)
    size = config.settings.retention.batch_size
    result = RetentionResult(dry_run=dry_run)
    record = _Record(by, now)
    with sessions() as session:
        result.held_incidents = held_incidents(session, clock)
        passes = _passes(session, clock)
    for step in passes:
        last = 0  # batches are taken in id order, so a row is never taken twice
        while stop is None or not stop.is_set():
            if dry_run:
                with sessions() as session:  # read only, closed without a commit
                    ids, looked_to = _batch(session, step, last, size)
                    if ids:
                        result.add(step.count(session, ids))
            else:
                with sessions.begin() as session:
                    ids, looked_to = _batch(session, step, last, size)
                    if ids:
                        counts = step.apply(session, ids)
                        result.add(counts)
                        if any(counts.values()):
                            record.write(session, result)
            if len(ids) == size:
                last = ids[-1]
            elif looked_to is None:
                break
            else:  # nothing more in this window: on to the next
                last = looked_to
    return result


def _batch(session: Session, step: Pass, after: int, size: int) -> tuple[list[int], int | None]:
    """The next ids (at most `size`) after `after` that the rule applies to, looking only at
    the next `size * WINDOW` rows in id order; and the last id looked at (None: the end of the
    table). Without that bound SQLite may walk an index (a school's items by date) from its
    start for every batch, which made a run over 100,000 items take minutes, not seconds."""
    looked_to = session.scalar(select(step.key).where(step.key > after).order_by(step.key)
                               .offset(size * WINDOW - 1).limit(1))
    query = step.candidates(session).where(step.key > after)
    if looked_to is not None:
        query = query.where(step.key <= looked_to)
    return list(session.scalars(query.order_by(step.key).limit(size))), looked_to


def log(session: Session, limit: int = 20,
        kinds: Sequence[str] = ("retention", "erasure")) -> list[models.DataRemoval]:
    """The latest data removals, newest first."""
    return list(session.scalars(select(models.DataRemoval)
                                .where(models.DataRemoval.kind.in_(kinds))
                                .order_by(models.DataRemoval.started_at.desc(),
                                          models.DataRemoval.id.desc())
                                .limit(limit)))
