"""What is held about one person (`find`): named by a platform id or a handle (with or without
@, any case). Whatever is found under that name is widened to the account behind it: once an id
is known, every item written under it counts, whatever handle it carried then.

The subject access answer is written from it by `monitor.privacy.access_request`, and an erasure
works from it in `monitor.privacy.erasure`.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from monitor import incidents as incidents_module
from monitor import message, models
from monitor.config import Config
from monitor.evidence import chain

# What replaces an erased @mention of the person in someone else's text.
ERASED_MENTION = "@[removed]"
# An id shorter than this is not looked for inside longer text (only as a whole value): short
# numbers turn up everywhere (item numbers, counts) and would blank unrelated alerts.
MIN_ID_IN_TEXT = 5
# How much of a comment (flattened, case folded) is looked for in a report that may quote it.
QUOTE = 30
SHORTEST_QUOTE = 12
# The @handles a reply starts with on X: a report quoting the comment may leave them out.
LEADING_MENTIONS = re.compile(r"^\s*(?:@\w+\s+)+")

class PrivacyError(ValueError):
    """A request that cannot be answered as given, in one line."""


# --- who -----------------------------------------------------------------------------------------

def clean(who: str) -> str:
    return who.strip().lstrip("@").strip()


@dataclass
class Account:
    """One account on one platform that the name given leads to."""

    platform: str
    ids: set[str] = field(default_factory=set)
    handles: set[str] = field(default_factory=set)  # lower-cased, without @
    names: set[str] = field(default_factory=set)

    def label(self) -> str:
        handles = ", ".join(f"@{h}" for h in sorted(self.handles)) or "no handle"
        ids = ", ".join(sorted(self.ids)) or "no id"
        names = f" ({', '.join(sorted(self.names))})" if self.names else ""
        return f"{message.PLATFORM_NAMES.get(self.platform, self.platform)}: {handles}; " \
               f"id {ids}{names}"


class Matcher:
    """Whether stored text names the person: their id or handle as a word, a name or id as a
    whole value, or a quotation of something they wrote."""

    def __init__(self, accounts: Iterable[Account], texts: Iterable[str]) -> None:
        accounts = list(accounts)
        self.ids = {i for a in accounts for i in a.ids if i}
        self.handles = {h for a in accounts for h in a.handles if h}
        self.names = {n.casefold() for a in accounts for n in a.names if n}
        words = [re.escape(h) for h in self.handles]
        words += [re.escape(i) for i in self.ids if len(i) >= MIN_ID_IN_TEXT]
        self.word = (re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", re.IGNORECASE)
                     if words else None)
        # In someone else's comment only an @mention or a profile address is taken for them.
        self.mention = (re.compile(r"(?:@|/)(?:" + "|".join(map(re.escape, self.handles))
                                   + r")(?!\w)", re.IGNORECASE) if self.handles else None)
        quotes = (_flat(LEADING_MENTIONS.sub("", t))[:QUOTE] for t in texts)
        self.quotes = {q for q in quotes if len(q) >= SHORTEST_QUOTE}

    def names_them(self, *values: Any) -> bool:
        for value in values:
            for text in strings(value):
                if self._in(text):
                    return True
        return False

    def _in(self, text: str) -> bool:
        whole = text.strip().lstrip("@").casefold()
        if whole in self.ids or whole in self.handles or whole in self.names:
            return True
        plain = _plain(text)
        if self.word is not None and self.word.search(plain):
            return True
        flat = _flat(plain)
        return any(quote in flat for quote in self.quotes)

    def mentioned_in(self, text: str) -> bool:
        return self.mention is not None and self.mention.search(_plain(text)) is not None

    def redact(self, value: Any) -> Any:
        """`value` (text or a JSON payload) with every @mention of them replaced."""
        if self.mention is None:
            return value
        if isinstance(value, str):
            return self.mention.sub(ERASED_MENTION, value)
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        return value


def strings(value: Any) -> Iterator[str]:
    """Every string in a value, JSON payloads walked (keys too); numbers as written."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict) and {"data", "content_type"} <= value.keys():
        # A stored attachment (`notify.Attachment.stored`): a text file is read, an image is
        # not (its base64 would match short handles by chance).
        yield str(value.get("name", ""))
        if str(value["content_type"]).startswith(("text/", "application/json")):
            try:
                yield base64.b64decode(str(value["data"])).decode("utf-8", "replace")
            except binascii.Error:
                yield str(value["data"])
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from strings(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from strings(inner)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def _plain(text: str) -> str:
    """Stored HTML and markdown as the words they show: entities and escapes undone."""
    return re.sub(r"\\(.)", r"\1", html.unescape(text))


def _flat(text: str) -> str:
    return " ".join(text.split()).casefold()


# --- what is held --------------------------------------------------------------------------------

@dataclass
class HeldItem:
    id: int
    school_id: str
    platform: str
    external_id: str
    kind: str
    text: str
    author: dict[str, str]
    created_at: datetime
    fetched_at: datetime
    permalink: str
    raw: dict[str, Any] | None
    verdict: dict[str, Any] | None
    incident_ids: list[int]
    feedback: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    told: list[str]  # roles
    held_by_incident: int | None  # an incident under hold it belongs to


@dataclass
class Mention:
    """Someone else's item that @mentions them."""

    id: int
    school_id: str
    platform: str
    created_at: datetime
    text: str
    held_by_incident: int | None


@dataclass
class HeldIncident:
    id: int
    school_id: str
    status: str
    harm: str
    severity: str
    opened_at: datetime
    resolved_at: datetime | None
    outcome: str | None
    held_at: datetime | None
    held_by: str | None
    hold_reason: str | None

    @property
    def held(self) -> bool:
        return self.held_at is not None


@dataclass
class HeldAlert:
    id: int
    school_id: str | None
    kind: str
    severity: str
    created_at: datetime
    title: str
    why: str  # "about their item" or "mentions them"
    item_id: int | None
    incident_id: int | None
    told: list[dict[str, Any]]  # roles and status per delivery, never the address
    held_by_incident: int | None


@dataclass
class HeldEvidence:
    school_id: str
    seq: int
    kind: str
    recorded_at: datetime
    incident_id: int | None
    item_id: int | None
    removed: bool
    held_by_incident: int | None


@dataclass
class HeldFollower:
    id: int
    platform: str
    account_id: str
    handle: str
    name: str
    bio: str
    school_account: str
    first_seen_at: datetime
    followed_at: datetime | None
    unfollowed_at: datetime | None
    screening: dict[str, Any] | None
    events: list[dict[str, Any]]


@dataclass
class HeldWatch:
    id: int
    school_id: str | None
    platform: str | None
    account_id: str | None
    handle: str | None
    reason: str
    added_at: datetime
    expires_at: datetime | None
    removed_at: datetime | None
    active: bool


@dataclass
class Holdings:
    who: str
    platform: str | None
    accounts: list[Account]
    items: list[HeldItem] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    incidents: list[HeldIncident] = field(default_factory=list)
    alerts: list[HeldAlert] = field(default_factory=list)
    evidence: list[HeldEvidence] = field(default_factory=list)
    followers: list[HeldFollower] = field(default_factory=list)
    watchlist: list[HeldWatch] = field(default_factory=list)
    retention: dict[str, int] = field(default_factory=dict)
    timezones: dict[str, str] = field(default_factory=dict)  # school id -> its timezone
    found_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def found(self) -> bool:
        return bool(self.accounts)

    @property
    def platforms(self) -> list[str]:
        return sorted({a.platform for a in self.accounts})

    @property
    def ambiguous(self) -> bool:
        """The name leads to accounts on several platforms: probably not one person."""
        return len(self.platforms) > 1

    @property
    def held_incidents(self) -> list[HeldIncident]:
        return [i for i in self.incidents if i.held]

    def counts(self) -> dict[str, int]:
        return {"items": len(self.items), "mentions": len(self.mentions),
                "incidents": len(self.incidents), "alerts": len(self.alerts),
                "evidence": len(self.evidence), "followers": len(self.followers),
                "watchlist": len(self.watchlist)}


def _accounts(session: Session, key: str, platform: str | None) -> list[Account]:
    """The accounts the name leads to, from items, followers, the watchlist and evidence."""
    lower = key.lower()
    found: dict[str, Account] = {}

    def note(p: str | None, account_id: str | None, handle: str | None,
             name: str | None = None) -> None:
        if not p or (platform and p != platform):
            return
        account = found.setdefault(p, Account(p))
        if account_id:
            account.ids.add(str(account_id))
        if handle and handle.lstrip("@"):
            account.handles.add(handle.lstrip("@").lower())
        if name:
            account.names.add(name)

    item, follower, entry = models.Item, models.Follower, models.WatchlistEntry
    for p, i, h, n in session.execute(
            select(item.platform, item.author_id, item.author_handle, item.author_name).distinct()
            .where(or_(item.author_id == key, func.lower(item.author_handle) == lower))):
        note(p, i, h, n)
    for p, i, h, n in session.execute(
            select(follower.platform, follower.account_id, follower.handle, follower.name)
            .where(or_(follower.account_id == key, func.lower(follower.handle) == lower))):
        note(p, i, h, n)
    for p, i, h in session.execute(
            select(entry.platform, entry.account_id, entry.handle)
            .where(or_(entry.account_id == key, func.lower(entry.handle) == lower))):
        note(p, i, h)
    for record in _item_evidence(session):
        author = _evidence_author(record)
        if author and (author.get("id") == key or author.get("handle", "").lower() == lower):
            note(record.content["item"].get("platform"), author.get("id"), author.get("handle"),
                 author.get("name"))
    # Widen each account to every id and handle it was seen with (a handle changed since).
    for account in found.values():
        for i, h, n in session.execute(
                select(item.author_id, item.author_handle, item.author_name).distinct()
                .where(item.platform == account.platform,
                       _is(account, item.author_id, item.author_handle))):
            note(account.platform, i, h, n)
    for account in found.values():
        account.ids.discard("")
    return [found[p] for p in sorted(found)]


def _is(account: Account, id_column: Any, handle_column: Any) -> ColumnElement[bool]:
    """A row's id or handle columns are the account's. Only what is known is compared: an
    account without a handle must not match every row whose handle is empty."""
    parts = []
    if account.ids:
        parts.append(id_column.in_(sorted(account.ids)))
    if account.handles:
        parts.append(func.lower(handle_column).in_(sorted(account.handles)))
    return or_(*parts) if parts else false()


def _item_evidence(session: Session) -> Iterator[models.EvidenceRecord]:
    """Evidence entries that still hold an item's content. Evidence is kept only for serious
    items, so reading them all is a small table's worth; a JSON query would differ per
    database."""
    yield from session.scalars(
        select(models.EvidenceRecord)
        .where(models.EvidenceRecord.content.is_not(None))
        .order_by(models.EvidenceRecord.school_id, models.EvidenceRecord.seq)
        .execution_options(yield_per=500))


def _evidence_author(record: models.EvidenceRecord) -> dict[str, str] | None:
    content = record.content or {}
    item = content.get("item") if isinstance(content, dict) else None
    author = item.get("author") if isinstance(item, dict) else None
    if not isinstance(author, dict):
        return None
    return {k: str(author.get(k) or "") for k in ("id", "handle", "name")}


def _their_items(session: Session, accounts: list[Account]) -> list[models.Item]:
    item = models.Item
    clauses = [(item.platform == a.platform) & _is(a, item.author_id, item.author_handle)
               for a in accounts]
    if not clauses:
        return []
    return list(session.scalars(select(item).where(or_(*clauses))
                                .order_by(item.created_at, item.id)))


def find(session: Session, config: Config, who: str, platform: str | None = None) -> Holdings:
    """Everything held about the person `who` names (a platform id or a handle), on `platform`
    or on any."""
    key = clean(who)
    if not key:
        raise PrivacyError("say whose data: a handle (with or without @) or a platform id")
    holdings = Holdings(who=key, platform=platform, accounts=_accounts(session, key, platform),
                        retention=config.settings.retention.model_dump(),
                        timezones={s.id: config.school_timezone(s) for s in config.schools})
    if not holdings.found:
        return holdings
    items = _their_items(session, holdings.accounts)
    matcher = Matcher(holdings.accounts, [i.text for i in items])
    item_ids = [i.id for i in items]
    membership = _memberships(session, item_ids)
    mentions = _mentions(session, matcher, set(item_ids), holdings.accounts)
    membership.update(_memberships(session, [m.id for m in mentions]))
    incident_ids = sorted({i for ids in membership.values() for i in ids})
    holdings.incidents = _incidents(session, incident_ids)
    held = {i.id for i in holdings.incidents if i.held}
    held_items = _holders(membership, held)
    holdings.alerts = _alerts(session, matcher, set(item_ids), held, held_items)
    told = _roles_told(holdings.alerts)
    holdings.items = [_held_item(session, i, membership.get(i.id, []), told.get(i.id, []), held)
                      for i in items]
    holdings.mentions = [Mention(m.id, m.school_id, m.platform, m.created_at, m.text,
                                 _holder(membership.get(m.id, []), held)) for m in mentions]
    holdings.evidence = _evidence(session, matcher, set(item_ids), holdings.accounts, held,
                                  held_items)
    holdings.followers = _followers(session, holdings.accounts)
    holdings.watchlist = _watchlist(session, holdings.accounts, holdings.found_at)
    return holdings


def _memberships(session: Session, item_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for item_id, incident_id in session.execute(
            select(models.IncidentItem.item_id, models.IncidentItem.incident_id)
            .where(models.IncidentItem.item_id.in_(item_ids or [-1]))
            .order_by(models.IncidentItem.incident_id)):
        found.setdefault(item_id, []).append(incident_id)
    return found


def _holder(incident_ids: Iterable[int], held: set[int]) -> int | None:
    return next((i for i in incident_ids if i in held), None)


def _holders(membership: dict[int, list[int]], held: set[int]) -> dict[int, int]:
    """Item id -> the held incident it belongs to, for items under hold."""
    return {item_id: holder for item_id, ids in membership.items()
            if (holder := _holder(ids, held)) is not None}


def _mentions(session: Session, matcher: Matcher, own: set[int],
              accounts: list[Account]) -> list[models.Item]:
    """Other people's items that @mention them (only where they have a handle)."""
    if matcher.mention is None:
        return []
    found = []
    platforms = [a.platform for a in accounts if a.handles]
    likes = [models.Item.text.ilike(f"%{h}%") for h in matcher.handles]
    for row in session.scalars(select(models.Item)
                               .where(models.Item.platform.in_(platforms), or_(*likes))
                               .order_by(models.Item.created_at, models.Item.id)):
        if row.id not in own and matcher.mentioned_in(row.text):
            found.append(row)
    return found


def _incidents(session: Session, incident_ids: list[int]) -> list[HeldIncident]:
    rows = session.scalars(select(models.Incident)
                           .where(models.Incident.id.in_(incident_ids or [-1]))
                           .order_by(models.Incident.id))
    return [HeldIncident(r.id, r.school_id, r.status, r.harm, r.severity, r.opened_at,
                         r.resolved_at, r.outcome, r.held_at, r.held_by, r.hold_reason)
            for r in rows]


def _alerts(session: Session, matcher: Matcher, item_ids: set[int], held: set[int],
            held_items: dict[int, int]) -> list[HeldAlert]:
    """Alerts about their items, and any other alert (a digest, a report, a pile-on update, a
    watchlist alert) whose stored copy names or quotes them."""
    found = []
    alert = models.Alert
    rows = session.execute(
        select(alert.id, alert.school_id, alert.kind, alert.severity, alert.created_at,
               alert.title, alert.body, alert.details, alert.item_id, alert.incident_id,
               alert.dedupe_key)
        .order_by(alert.id).execution_options(yield_per=500))
    for row in rows:
        if row.item_id in item_ids:
            why = "about their item"
        elif matcher.names_them(row.title, row.body, row.details, row.dedupe_key):
            why = "mentions them"
        else:
            continue
        holder = (row.incident_id if row.incident_id in held
                  else held_items.get(row.item_id or -1))
        found.append(HeldAlert(row.id, row.school_id, row.kind, row.severity, row.created_at,
                               row.title, why, row.item_id, row.incident_id, [], holder))
    by_id = {a.id: a for a in found}
    for alert_id, roles, status, sent_at in session.execute(
            select(models.Delivery.alert_id, models.Delivery.roles, models.Delivery.status,
                   models.Delivery.sent_at)
            .where(models.Delivery.alert_id.in_(list(by_id) or [-1]))
            .order_by(models.Delivery.id)):
        by_id[alert_id].told.append({"roles": list(roles or []), "status": status,
                                     "sent_at": sent_at})
    return found


def _roles_told(alerts: list[HeldAlert]) -> dict[int, list[str]]:
    told: dict[int, set[str]] = {}
    for alert in alerts:
        if alert.item_id is None:
            continue
        for delivery in alert.told:
            told.setdefault(alert.item_id, set()).update(delivery["roles"])
    return {item_id: sorted(roles) for item_id, roles in told.items()}


def _held_item(session: Session, row: models.Item, incident_ids: list[int], told: list[str],
               held: set[int]) -> HeldItem:
    verdict = row.verdict
    verdict_part = None
    if verdict is not None:
        verdict_part = {
            "categories": list(verdict.categories or []), "severity": verdict.severity,
            "reasons": incidents_module.readable_reasons(verdict.reasons, verdict.scores),
            "model_version": verdict.model_version, "classified_at": verdict.created_at}
    feedback = [{"categories": list(f.categories or []), "not_a_problem": f.not_a_problem,
                 "at": f.created_at}
                for f in session.scalars(select(models.Feedback)
                                         .where(models.Feedback.item_id == row.id)
                                         .order_by(models.Feedback.id))]
    actions = [{"action": a.action, "at": a.created_at, "ok": a.ok, "result": a.result}
               for a in session.scalars(select(models.Action)
                                        .where(models.Action.item_id == row.id)
                                        .order_by(models.Action.created_at, models.Action.id))]
    return HeldItem(row.id, row.school_id, row.platform, row.external_id, row.kind, row.text,
                    {"id": row.author_id, "handle": row.author_handle, "name": row.author_name},
                    row.created_at, row.fetched_at, row.permalink, row.raw, verdict_part,
                    list(incident_ids), feedback, actions, told, _holder(incident_ids, held))


def _evidence(session: Session, matcher: Matcher, item_ids: set[int], accounts: list[Account],
              held: set[int], held_items: dict[int, int]) -> list[HeldEvidence]:
    """Evidence entries about their items (by item or by the author recorded in them), or whose
    content names them; entries already emptied are listed when they were about their items."""
    found = []
    for record in session.scalars(select(models.EvidenceRecord)
                                  .order_by(models.EvidenceRecord.school_id,
                                            models.EvidenceRecord.seq)
                                  .execution_options(yield_per=500)):
        if record.kind == chain.REMOVAL:
            continue
        about = record.item_id in item_ids or _written_by(record, accounts)
        if not about and (record.content is None or not matcher.names_them(record.content)):
            continue
        holder = (record.incident_id if record.incident_id in held
                  else held_items.get(record.item_id or -1))
        found.append(HeldEvidence(record.school_id, record.seq, record.kind, record.recorded_at,
                                  record.incident_id, record.item_id, record.content is None,
                                  holder))
    return found


def _written_by(record: models.EvidenceRecord, accounts: list[Account]) -> bool:
    author = _evidence_author(record)
    if author is None:
        return False
    platform = (record.content or {}).get("item", {}).get("platform")
    return any(a.platform == platform and (author["id"] in a.ids
                                           or author["handle"].lower() in a.handles)
               for a in accounts)


def _follower_rows(session: Session, accounts: list[Account]) -> list[models.Follower]:
    f = models.Follower
    clauses = [(f.platform == a.platform)
               & _is(a, f.account_id, f.handle)
               for a in accounts]
    return list(session.scalars(select(f).where(or_(*clauses)).order_by(f.id))) if clauses \
        else []


def _followers(session: Session, accounts: list[Account]) -> list[HeldFollower]:
    found = []
    for row in _follower_rows(session, accounts):
        source = session.get(models.Source, row.source_id)
        events = [{"kind": e.kind, "at": e.at, "detail": e.detail}
                  for e in session.scalars(select(models.FollowerEvent)
                                           .where(models.FollowerEvent.follower_id == row.id)
                                           .order_by(models.FollowerEvent.at))]
        found.append(HeldFollower(row.id, row.platform, row.account_id, row.handle, row.name,
                                  row.bio, source.name or source.account if source else "",
                                  row.first_seen_at, row.followed_at, row.unfollowed_at,
                                  row.screening, events))
    return found


def _watch_rows(session: Session, accounts: list[Account]) -> list[models.WatchlistEntry]:
    w = models.WatchlistEntry
    clauses = [(w.platform == a.platform)
               & _is(a, w.account_id, w.handle)
               for a in accounts]
    return list(session.scalars(select(w).where(or_(*clauses)).order_by(w.id))) if clauses \
        else []


def _active(entry: models.WatchlistEntry, now: datetime) -> bool:
    return entry.removed_at is None and (entry.expires_at is None or entry.expires_at > now)


def _watchlist(session: Session, accounts: list[Account], now: datetime) -> list[HeldWatch]:
    return [HeldWatch(e.id, e.school_id, e.platform, e.account_id, e.handle, e.reason,
                      e.added_at, e.expires_at, e.removed_at, _active(e, now))
            for e in _watch_rows(session, accounts)]


def ambiguity(holdings: Holdings) -> str:
    """Why a name found on several platforms cannot be acted on without --platform."""
    return (f"the name matches accounts on {len(holdings.platforms)} platforms "
            f"({', '.join(holdings.platforms)}): give --platform to say which")
