"""An erasure request carried out: everything `find` found about one person is removed, except
what the school must keep.

What an erasure keeps, and why:

- everything belonging to an incident under evidence hold (`Incident.held_at`): the hold exists
  because the school may need it as evidence (police, LADO, a tribunal), which UK GDPR art. 17(3)
  exempts. It is named in the result, with who holds it, since when and why, so the DPO can
  explain it and erase it once the hold is released;
- active watchlist entries naming the person, unless asked (`include_watchlist`): they are IT's
  safeguarding record of an account of concern, kept for as long as the concern lasts (also an
  art. 17(3) exemption, and a decision the DPO takes, not the tool). They are named in the result.
  Entries no longer active (removed or expired) have no purpose left and are erased;
- the evidence chain's hashes: content goes through `chain.remove_content`, the only way
  anything touches evidence, so the chain still verifies and says that an erasure happened.

That an erasure happened is recorded as a `DataRemoval` row with counts only: never the id, the
handle or the text. Nothing logged names the person either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor import models
from monitor.config import Config
from monitor.evidence import chain
from monitor.privacy.holdings import (
    Account,
    HeldWatch,
    Holdings,
    Matcher,
    PrivacyError,
    ambiguity,
    find,
)

log = logging.getLogger(__name__)

ERASED = "erasure"
# What an alert that quoted an erased person says instead, in every field.
ERASED_TITLE = "Removed after an erasure request"
ERASED_TEXT = ("The content of this message was removed after an erasure request under UK GDPR. "
               "That it was sent, when and to whom (by role) is kept.")
ERASED_RESULT = "(removed after an erasure request)"

# --- erasure -------------------------------------------------------------------------------------

@dataclass
class KeptIncident:
    """An incident under evidence hold whose records of the person were kept."""

    incident_id: int
    held_by: str
    held_since: datetime
    reason: str
    items: int
    evidence: int


@dataclass
class ErasureResult:
    found: bool
    counts: dict[str, int] = field(default_factory=dict)
    kept: list[KeptIncident] = field(default_factory=list)
    watchlist_kept: list[HeldWatch] = field(default_factory=list)
    removal_id: int | None = None


def erase(sessions: sessionmaker[Session], config: Config, who: str,
          platform: str | None = None, *, actor: str, now: datetime | None = None,
          include_watchlist: bool = False) -> ErasureResult:
    """Erase what is held about the person, in one transaction, except what belongs to an
    incident under evidence hold and (unless `include_watchlist`) active watchlist entries; both
    are named in the result. Records that an erasure happened, with counts only."""
    now = now or datetime.now(UTC)
    with sessions.begin() as session:
        holdings = find(session, config, who, platform)
        if not holdings.found:
            return ErasureResult(found=False)
        if holdings.ambiguous:
            raise PrivacyError(ambiguity(holdings))
        result = _erase(session, holdings, actor, now, include_watchlist)
    log.info("erasure %s by %s: %s", result.removal_id, actor,
             ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    return result


def _erase(session: Session, holdings: Holdings, actor: str, now: datetime,
           include_watchlist: bool) -> ErasureResult:
    counts: dict[str, int] = {}
    accounts = holdings.accounts
    items = [i for i in holdings.items if i.held_by_incident is None]
    erased_ids = [i.id for i in items]
    matcher = Matcher(accounts, [i.text for i in holdings.items])
    counts["evidence"] = _erase_evidence(session, holdings, now)
    counts["alerts"] = _blank_alerts(session, holdings, matcher, erased_ids)
    counts["actions"] = _clear_actions(session, matcher, erased_ids, holdings)
    counts["incidents"] = _update_incidents(session, holdings, erased_ids)
    counts["mentions"] = _redact_mentions(session, matcher, holdings)
    counts["corrections"] = _delete_where(session, models.Feedback, models.Feedback.item_id,
                                          erased_ids)
    counts["verdicts"] = _delete_where(session, models.Verdict, models.Verdict.item_id,
                                       erased_ids)
    _delete_where(session, models.IncidentItem, models.IncidentItem.item_id, erased_ids)
    counts["items"] = _delete_where(session, models.Item, models.Item.id, erased_ids)
    follower_ids = [f.id for f in holdings.followers]
    counts["follower_events"] = _delete_where(session, models.FollowerEvent,
                                              models.FollowerEvent.follower_id, follower_ids)
    counts["followers"] = _delete_where(session, models.Follower, models.Follower.id,
                                        follower_ids)
    counts["paid_reads"] = _forget_paid_reads(session, accounts)
    gone = [w.id for w in holdings.watchlist if include_watchlist or not w.active]
    counts["watchlist"] = _delete_where(session, models.WatchlistEntry, models.WatchlistEntry.id,
                                        gone)
    removal = models.DataRemoval(kind=ERASED, started_at=now, finished_at=datetime.now(UTC),
                                 by=actor, counts=dict(counts))
    session.add(removal)
    session.flush()
    return ErasureResult(found=True, counts=counts, kept=_kept(holdings),
                         watchlist_kept=[w for w in holdings.watchlist if w.id not in gone],
                         removal_id=removal.id)


def _delete_where(session: Session, model: type[models.Base], column: Any,
                  ids: list[int]) -> int:
    if not ids:
        return 0
    return session.execute(delete(model).where(column.in_(ids))
                           .execution_options(synchronize_session=False)).rowcount


def _erase_evidence(session: Session, holdings: Holdings, now: datetime) -> int:
    """Empty the evidence entries about them, school by school, through the chain's own removal
    (which keeps the hashes and says so in a new entry)."""
    by_school: dict[str, list[int]] = {}
    for record in holdings.evidence:
        if record.held_by_incident is None and not record.removed:
            by_school.setdefault(record.school_id, []).append(record.seq)
    return sum(chain.remove_content(session, school_id, seqs, ERASED, now=now)
               for school_id, seqs in sorted(by_school.items()))


def _blank_alerts(session: Session, holdings: Holdings, matcher: Matcher,
                  erased_ids: list[int]) -> int:
    """Alerts keep that they were sent, when and to which roles; what they said about the
    person goes. A key naming them (a watchlist alert's) is replaced, keeping it unique."""
    erased = set(erased_ids)
    blanked = 0
    for held in holdings.alerts:
        if held.held_by_incident is not None:
            continue
        alert = session.get(models.Alert, held.id)
        if alert is None:
            continue
        alert.title, alert.body, alert.details = ERASED_TITLE, ERASED_TEXT, None
        if alert.item_id in erased:
            alert.item_id = None
        if matcher.names_them(alert.dedupe_key):
            alert.dedupe_key = f"erased:{alert.id}"
        blanked += 1
    session.flush()
    return blanked


def _clear_actions(session: Session, matcher: Matcher, erased_ids: list[int],
                   holdings: Holdings) -> int:
    """The audit trail keeps what was done and when; the link to the erased item goes, and a
    result or note that names them is replaced."""
    held = {i.id for i in holdings.held_incidents}
    if erased_ids:
        session.execute(update(models.Action).where(models.Action.item_id.in_(erased_ids))
                        .values(item_id=None).execution_options(synchronize_session=False))
    incident_ids = [i.id for i in holdings.incidents if i.id not in held]
    changed = 0
    for action in session.scalars(select(models.Action).where(or_(
            models.Action.incident_id.in_(incident_ids or [-1]),
            models.Action.item_id.is_(None)))):
        if action.incident_id in held or not matcher.names_them(action.result):
            continue
        action.result = ERASED_RESULT
        changed += 1
    return changed


def _update_incidents(session: Session, holdings: Holdings, erased_ids: list[int]) -> int:
    """Incidents not under hold lose the erased items from their count; a key naming the
    author (a campaign's) is replaced, so no new comment joins it by that key."""
    erased = set(erased_ids)
    per_incident: dict[int, int] = {}
    for item in holdings.items:
        if item.id in erased:
            for incident_id in item.incident_ids:
                per_incident[incident_id] = per_incident.get(incident_id, 0) + 1
    ids = {i for account in holdings.accounts for i in account.ids}
    for incident_id, removed in per_incident.items():
        incident = session.get(models.Incident, incident_id)
        if incident is None:
            continue
        incident.item_count = max(0, incident.item_count - removed)
        if any(incident.key.endswith(f":{i}") for i in ids):
            incident.key = f"erased:{incident.id}"
    return len(per_incident)


def _redact_mentions(session: Session, matcher: Matcher, holdings: Holdings) -> int:
    """Other people's items keep what they said, with the @mention of them taken out."""
    changed = 0
    for mention in holdings.mentions:
        if mention.held_by_incident is not None:
            continue
        item = session.get(models.Item, mention.id)
        if item is None:
            continue
        item.text = matcher.redact(item.text)
        if item.raw is not None:
            item.raw = matcher.redact(item.raw)
        changed += 1
    return changed


def _forget_paid_reads(session: Session, accounts: list[Account]) -> int:
    """A paid read of their profile stays counted (it was paid for), under a name that is no
    longer their id."""
    changed = 0
    for account in accounts:
        resources = [f"user:{i}" for i in account.ids]
        for row in session.scalars(select(models.PaidRead).where(
                models.PaidRead.platform == account.platform,
                models.PaidRead.resource.in_(resources or [""]))):
            row.resource = f"user:erased-{row.id}"
            changed += 1
    return changed


def _kept(holdings: Holdings) -> list[KeptIncident]:
    kept = []
    for incident in holdings.held_incidents:
        items = sum(1 for i in holdings.items if i.held_by_incident == incident.id)
        items += sum(1 for m in holdings.mentions if m.held_by_incident == incident.id)
        evidence = sum(1 for e in holdings.evidence if e.held_by_incident == incident.id)
        kept.append(KeptIncident(incident.id, incident.held_by or "", incident.held_at,
                                 incident.hold_reason or "", items, evidence))
    return kept
