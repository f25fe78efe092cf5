"""Follower sync: who follows a school's account, kept by platform id, with what they did and when.

A `followers` source is polled like any other (the scheduler, its lease and its cursor), daily by
default, but reads followers instead of posts: `Pipeline` runs the loop, page by page, and this
module decides what each page means and what a sync may spend.

- A full sync reads every follower. It is the first sync of a source, or one asked for on the
  command line (`hallmonitor followers sync --account ID --full`). Everyone it reads is marked
  seen; a follower it did not reach has unfollowed. It needs approval first, because every
  follower read is paid for: `--yes`, or an estimate within the account's `max_full_sync_cost`.
- An incremental sync (the daily one) reads from the newest follower down and stops at the page
  that reaches followers already known: X lists followers newest first, so the rest are known.
  It cannot see unfollows (only a full sync can), and it runs within the account's
  `monthly_budget`: before a page that could take this month's spend over it, the source pauses
  and IT is told once. It resumes by itself when the next month starts.

The platform id is the key: a follower whose handle or name changed is the same follower, and
the change is an event of its own. A follower seen again after unfollowing has re-followed.

The cursor (saved by the pipeline when a sync completes) holds when the last sync and the last
full sync finished and how many new followers the last sync found; the progress of a sync in
hand holds its page token, so an interrupted full sync carries on where it stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from connectors.base import ConfigError, Connector, FollowerPage, FollowerRecord, SourceSpec
from monitor import alerts, costs, models, watchlist
from monitor.config import Config

KIND = "followers"
EVENT_KINDS = ("follow", "unfollow", "refollow", "handle_change", "name_change")
DEFAULT_INTERVAL = 24 * 3600.0
# Unless the account says otherwise: a month of daily syncs of a school's account finding a
# handful of new followers a day costs a few dollars on X.
DEFAULT_MONTHLY_BUDGET = 10.0
# The paused_reason of a source held back by its monthly budget starts with this: the pipeline
# lets such a source run again once its next poll (the next month) is due.
BUDGET_PAUSE = "monthly follower budget reached"
# An incremental sync's first page; each next one is twice as large. A page of 1000 followers
# costs $10 on X, and a day's new followers rarely fill one: read this way, a sync costs at
# most about twice what was new, plus this, in a few requests (X allows 15 per 15 minutes).
FIRST_PAGE_MIN = 20
SETTINGS_KEYS = ("max_full_sync_cost", "monthly_budget", "follower_sync_interval")


class FullSyncRefused(ConfigError):
    """A full sync was not approved: the source pauses until someone approves it."""


# --- settings -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FollowerSettings:
    """What an account's `settings` say about its follower sync."""

    max_full_sync_cost: float | None  # US dollars a full sync may cost without --yes
    monthly_budget: float  # US dollars the incremental syncs may cost in a calendar month
    interval: float  # seconds between syncs

    @classmethod
    def from_mapping(cls, settings: Any) -> FollowerSettings:
        settings = settings if isinstance(settings, dict) else {}
        return cls(_dollars(settings, "max_full_sync_cost", None),
                   _dollars(settings, "monthly_budget", DEFAULT_MONTHLY_BUDGET),
                   _interval(settings.get("follower_sync_interval", DEFAULT_INTERVAL)))


def _dollars(settings: dict, name: str, default: float | None) -> float | None:
    value = settings.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 \
            or not math.isfinite(value):
        raise ConfigError(f"follower setting '{name}' must be an amount in US dollars, 0 or "
                          f"more (e.g. {name} = 5.0), not {value!r}")
    return float(value)


def _interval(value: Any) -> float:
    from monitor.config import _duration  # the config's one reading of "1d", "12h", 3600

    try:
        seconds = _duration(value)
    except ValueError:
        seconds = 0.0
    if seconds < 3600:
        raise ConfigError("follower setting 'follower_sync_interval' must be a duration of an "
                          f"hour or more, such as \"1d\" or \"12h\", not {value!r}")
    return seconds


def settings_of(source: models.Source) -> FollowerSettings:
    return FollowerSettings.from_mapping(source.settings)


# --- planning -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SyncRequest:
    """What the command line asked of one sync; the daemon's own syncs ask nothing."""

    full: bool = False
    approved: bool = False  # --yes, or an estimate the caller checked against the allowance


@dataclass(frozen=True, slots=True)
class FullSyncEstimate:
    followers: int
    price: float  # US dollars per follower read

    @property
    def cost(self) -> float:
        return self.followers * self.price

    def text(self) -> str:
        return (f"{self.followers:,} followers: a full sync reads every one, an estimated "
                f"${self.cost:,.2f} at ${self.price:.3f} a follower (each charged once per UTC "
                "day)")


@dataclass(slots=True)
class SyncPlan:
    mode: str  # "full" or "incremental"
    started_at: datetime
    page_token: str | None = None
    first_page: int | None = None
    needs_approval: bool = False
    estimate: FullSyncEstimate | None = None
    # An incremental sync stops at followers known before this date: the start of the sync, or
    # of the interrupted one it completes, whose own new followers must not stop it early.
    known_before: datetime | None = None


def plan_sync(source: models.Source, request: SyncRequest | None, now: datetime,
              page_max: int) -> SyncPlan:
    """Where this sync starts: an interrupted full sync carries on from its page token; the
    first sync, or one asked to, is full; any other is incremental."""
    request = request or SyncRequest()
    progress, cursor = source.progress or {}, source.cursor or {}
    if progress.get("mode") == "full" and progress.get("token") and progress != cursor \
            and not request.full:
        # Approved when it began; the followers it already read keep their mark.
        return SyncPlan("full", _time(progress.get("started_at")) or now, progress["token"])
    if request.full or source.cursor is None:
        return SyncPlan("full", now, needs_approval=not request.approved)
    first_page = min(page_max, FIRST_PAGE_MIN)
    if progress.get("mode") == "incremental" and progress != cursor:
        # An incremental sync that stopped part-way (paused, interrupted) carries on from its
        # page token; should the platform no longer take it, from the newest again, reading
        # past the followers it found down to those known before it began.
        began = min(now, _time(progress.get("started_at")) or now)
        return SyncPlan("incremental", began, progress.get("token") or None,
                        first_page=first_page, known_before=began)
    return SyncPlan("incremental", now, first_page=first_page, known_before=now)


def estimate_full_sync(connector: Connector, spec: SourceSpec) -> FullSyncEstimate:
    """How many followers a full sync would read (the platform's count) and what it costs."""
    price = costs.resource_price("user:", connector.read_prices)
    return FullSyncEstimate(connector.follower_count(spec), price)


def refusal(estimate: FullSyncEstimate, settings: FollowerSettings,
            account: str) -> str | None:
    """Why a full sync may not run without --yes; None when the allowance covers it."""
    allowance = settings.max_full_sync_cost
    if allowance is not None and estimate.cost <= allowance:
        return None
    over = ("no max_full_sync_cost is set for this account" if allowance is None else
            f"over this account's max_full_sync_cost of ${allowance:,.2f}")
    return (f"a full follower sync needs approval: {estimate.text()}, {over}. Run "
            f"'hallmonitor followers sync --account {account} --full --yes', or raise "
            "max_full_sync_cost in the account's settings")


# --- money --------------------------------------------------------------------------------------

def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


def month_spend(session: Session, source_id: int, prices: costs.Prices, now: datetime) -> float:
    """What this source's incremental syncs have cost this calendar month (UTC), from the paid
    reads recorded for it: a follower another source read first that day cost it nothing."""
    rows = session.execute(
        select(models.PaidRead.resource, func.count()).where(
            models.PaidRead.source_id == source_id, models.PaidRead.backfill.is_(False),
            models.PaidRead.day >= month_start(now).strftime("%Y-%m-%d"))
        .group_by(models.PaidRead.resource))
    return sum(costs.resource_price(resource, prices) * count for resource, count in rows)


def affordable(session: Session, source: models.Source, prices: costs.Prices, size: int,
               now: datetime) -> tuple[int, str | None]:
    """How many followers the next page may hold within the account's monthly budget (at most
    `size`), and, when it cannot hold even one, the reason to pause."""
    budget = settings_of(source).monthly_budget
    spent = month_spend(session, source.id, prices, now)
    price = costs.resource_price("user:", prices)
    if price <= 0:
        return size, None
    # Rounded first, so that cents added up in floating point do not lose a follower.
    left = math.floor(round((budget - spent) / price, 6))
    if left >= 1:
        return min(size, left), None
    return 0, (f"{BUDGET_PAUSE}: the follower sync has cost ${spent:,.2f} this month, its "
               f"whole ${budget:,.2f} monthly_budget")


def page_size(plan: SyncPlan, pages_read: int, page_max: int) -> int:
    """How many followers to ask for next. A full sync reads the largest pages; an incremental
    one starts small and doubles, so the page that reaches known followers, whose known part
    is paid for too, is never much larger than what was new."""
    if plan.mode == "full" or plan.first_page is None:
        return page_max
    return min(page_max, plan.first_page * 2 ** pages_read)


def pause_for_budget(session: Session, config: Config, source: models.Source, reason: str,
                     now: datetime) -> None:
    """Hold the source until the next month and tell IT, once a month."""
    resumes = next_month(now)
    source.paused_reason = reason
    source.paused_at = now
    source.next_poll_at = resumes
    alerts.notify_it(
        session, config, source.school_id, f"followers-budget:{source.id}:{now:%Y-%m}",
        "source_paused", f"Follower sync paused for the month: {source.name or source.key}",
        f"Hall Monitor stopped syncing the followers of {source.key}: {reason}.\n\n"
        f"It starts again by itself on {resumes:%Y-%m-%d} (UTC). New followers until then are "
        "found by that sync. To carry on sooner, raise monthly_budget in the account's "
        f"settings and run 'hallmonitor sources --resume {source.id}'.", now)


# --- storing a page -----------------------------------------------------------------------------

@dataclass(slots=True)
class SyncOutcome:
    """What one sync found; `new` and `refollowed` are follower row ids."""

    mode: str = "incremental"
    estimate: FullSyncEstimate | None = None
    pages: int = 0
    reads: int = 0
    new: list[int] = field(default_factory=list)
    refollowed: list[int] = field(default_factory=list)
    unfollowed: list[int] = field(default_factory=list)
    renamed: list[int] = field(default_factory=list)
    reached_known: bool = False
    paused: str | None = None
    # Seconds until the platform's rate limit lets a sync cut short by it carry on.
    wait: float | None = None


def store_page(session: Session, source: models.Source, plan: SyncPlan, page: FollowerPage,
               outcome: SyncOutcome, now: datetime) -> bool:
    """Record one page's followers, with their events; True when an incremental sync can stop
    here: the page reached known followers and nothing after the first of them is new."""
    records = list({record.id: record for record in page.followers}.values())
    stored = {row.account_id: row for row in session.scalars(
        select(models.Follower).where(models.Follower.source_id == source.id,
                                      models.Follower.account_id.in_([r.id for r in records])))}
    first_sync = source.cursor is None
    following_known = [False] * len(records)
    fresh = [_new_follower(source, record, now, first_sync)
             for record in records if record.id not in stored]
    if fresh:
        # One statement for the page's new followers: a first sync of a big account is 200
        # pages of 1000.
        ids = list(session.scalars(insert(models.Follower).returning(models.Follower.id,
                                                                     sort_by_parameter_order=True),
                                   fresh))
        if not first_sync:
            session.execute(insert(models.FollowerEvent), [
                {"follower_id": follower_id, "kind": "follow", "at": now, "detail": None}
                for follower_id in ids])
            outcome.new += ids
    for index, record in enumerate(records):
        row = stored.get(record.id)
        if row is None:
            continue
        if row.unfollowed_at is not None:
            row.unfollowed_at = None
            row.followed_at = now
            _event(session, row, "refollow", now)
            outcome.refollowed.append(row.id)
        else:
            following_known[index] = (plan.known_before is None
                                      or row.first_seen_at < plan.known_before)
        if _update(session, row, record, now):
            outcome.renamed.append(row.id)
    if plan.mode != "incremental" or True not in following_known:
        return False
    # X lists followers by when they followed. One who re-followed moves to the top, above
    # followers who are new to us: read on past a known follower with new ones below it.
    return all(following_known[following_known.index(True):])


def _new_follower(source: models.Source, record: FollowerRecord, now: datetime,
                  first_sync: bool) -> dict[str, Any]:
    # On the first sync nobody is new: when they followed is not known, and telling IT about
    # every follower the account ever had is no news.
    return {"source_id": source.id, "platform": source.item_platform,
            "account_id": record.id[:64], "handle": record.handle[:100],
            "name": record.name[:200], "bio": record.bio, "profile": _profile(record),
            "first_seen_at": now, "followed_at": None if first_sync else now,
            "unfollowed_at": None, "last_seen_at": now, "screening": None}


def _update(session: Session, row: models.Follower, record: FollowerRecord,
            now: datetime) -> bool:
    """Bring a known follower up to date; True when the handle or name changed."""
    changed = False
    for attribute, kind, value, limit in (("handle", "handle_change", record.handle, 100),
                                          ("name", "name_change", record.name, 200)):
        value = value[:limit]
        if value and value != getattr(row, attribute):
            _event(session, row, kind, now, {"from": getattr(row, attribute), "to": value})
            setattr(row, attribute, value)
            changed = True
    row.bio = record.bio
    row.profile = _profile(record)
    row.last_seen_at = now
    return changed


def _profile(record: FollowerRecord) -> dict[str, Any]:
    return {"created_at": record.created_at.isoformat() if record.created_at else None,
            "posts": record.posts, "following": record.following,
            "default_image": record.default_image}


def _event(session: Session, row: models.Follower, kind: str, at: datetime,
           detail: dict[str, Any] | None = None) -> None:
    session.add(models.FollowerEvent(follower_id=row.id, kind=kind, at=at, detail=detail))


def finish_full_sync(session: Session, source: models.Source, plan: SyncPlan,
                     outcome: SyncOutcome, now: datetime) -> None:
    """After the last page of a full sync: whoever it did not see since it began has
    unfollowed."""
    gone = list(session.scalars(
        select(models.Follower).where(
            models.Follower.source_id == source.id, models.Follower.unfollowed_at.is_(None),
            (models.Follower.last_seen_at < plan.started_at)
            | models.Follower.last_seen_at.is_(None))))
    for row in gone:
        row.unfollowed_at = now
        _event(session, row, "unfollow", now)
        outcome.unfollowed.append(row.id)


def cursor_after(source: models.Source, plan: SyncPlan, outcome: SyncOutcome,
                 now: datetime) -> dict[str, Any]:
    """The cursor a completed sync leaves."""
    cursor = dict(source.cursor or {})
    cursor.update({"synced_at": now.isoformat(), "last_new": len(outcome.new)})
    if plan.mode == "full":
        cursor["full_synced_at"] = now.isoformat()
    return cursor


def progress_after(source: models.Source, plan: SyncPlan, token: str | None) -> dict[str, Any]:
    """Where an interrupted sync carries on: a full one from its page token."""
    return {**(source.cursor or {}), "mode": plan.mode, "token": token,
            "started_at": plan.started_at.isoformat()}


def _time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def clear_budget_pause(session: Session, source_id: int) -> None:
    """A source held back by last month's budget runs again: its pause is over."""
    session.execute(update(models.Source).where(
        models.Source.id == source_id, models.Source.paused_reason.like(f"{BUDGET_PAUSE}%"))
        .values(paused_reason=None, paused_at=None))


# --- the watchlist ------------------------------------------------------------------------------

def tell_watched(session: Session, config: Config, source: models.Source,
                 events: dict[str, list[int]], now: datetime) -> int:
    """Alert IT about each follow, re-follow and unfollow (`events`: event -> follower row ids)
    by an account on the watchlist; how many alerts were raised. A handle entry whose id is not
    known yet learns it here, as it does from an item."""
    wanted = [follower_id for ids in events.values() for follower_id in ids]
    if not wanted:
        return 0
    rows = {row.id: row for row in session.scalars(
        select(models.Follower).where(models.Follower.id.in_(wanted)))}
    told = 0
    for event, ids in events.items():
        for follower_id in ids:
            row = rows[follower_id]
            watched = watchlist.matches(session, source.school_id, row.platform, row.account_id,
                                        row.handle, row.name, now)
            if watched and watchlist.alert_watched(session, config, source.school_id, event,
                                                   row.platform, row.account_id, row.handle,
                                                   row.name, watched, now):
                told += 1
    return told


# --- reading --------------------------------------------------------------------------------

def new_followers(session: Session, source_id: int, since: datetime) -> list[models.Follower]:
    """Followers of the source who followed (or re-followed) since `since`, oldest first: what
    the screening step looks at. The first sync's followers are not among them."""
    first = (select(models.FollowerEvent.follower_id, func.min(models.FollowerEvent.at)
                    .label("at"))
             .where(models.FollowerEvent.kind.in_(("follow", "refollow")),
                    models.FollowerEvent.at >= since)
             .group_by(models.FollowerEvent.follower_id).subquery())
    return list(session.scalars(
        select(models.Follower).join(first, first.c.follower_id == models.Follower.id)
        .where(models.Follower.source_id == source_id)
        .order_by(first.c.at, models.Follower.id)))


def list_followers(session: Session, source_id: int, *,
                   new_since: datetime | None = None) -> list[models.Follower]:
    """The source's followers now, newest first by when they were seen following; with
    `new_since`, only those who followed or re-followed since then."""
    if new_since is not None:
        return list(reversed(new_followers(session, source_id, new_since)))
    query = select(models.Follower).where(models.Follower.source_id == source_id,
                                          models.Follower.unfollowed_at.is_(None))
    return list(session.scalars(query.order_by(
        func.coalesce(models.Follower.followed_at, models.Follower.first_seen_at).desc(),
        models.Follower.id.desc())))
