"""IT's watchlist: accounts and name patterns the trust is concerned about, and the alerts raised
when one of them follows, unfollows, re-follows, mentions, comments on or tags a school's account.

An entry matches in one of three ways:

- by platform id: the account, whatever it calls itself now or later;
- by handle, until the platform id behind it is known. Where the platform looks accounts up by
  handle (X), `add` and `import_csv` given a `HandleResolver` ask it through one of the school's
  configured accounts and store the id and current handle at once; where it does not, or the
  question cannot be answered then, the first item or follower seen with that handle fills in
  the id. Either way, from then on the id is what matches (a handle later given up and taken by
  someone else does not);
- by a pattern on the handle or the display name: whole words, case and accents ignored,
  leetspeak undone, by the classifier's own keyword matcher (`classifiers.rules`), so "hater"
  matches "H4TER" and "Häter" but "oak" does not match "Oakley".

An entry belongs to one school or (school None) to the whole trust; it may expire, and past its
expiry it no longer matches. Removing one only marks it removed, so the record of who was watched,
why, by whom and until when stays.

`matches()` is called for every item and follower: each school's active entries are read once per
transaction (one pipeline page, one follower sync) and kept on the session; adding or removing an
entry through this module drops that copy, and a change made by another process is seen by the
next transaction.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from classifiers.rules import compile_words, word_forms
from classifiers.text import Folder, plain
from connectors import REGISTRY, ConnectorError, connector_class
from connectors.base import Author, Connector
from monitor import message, models, rules
from monitor.config import Account, Config, School
from monitor.users import ensure_school_row

# Platforms whose accounts can be watched: every connector's, except the replay connector, whose
# items carry the platform they were recorded on.
PLATFORMS = tuple(sorted(p for p in REGISTRY if p != "replay"))
EVENTS = ("follow", "unfollow", "refollow", "mention", "comment", "tag")
# Events about something the account wrote or did to the school's page: the digital champion, who
# moderates the page, is told as well as IT.
CHAMPION_EVENTS = ("mention", "comment", "tag")
EVENT_WORDS = {"follow": "followed", "unfollow": "unfollowed", "refollow": "followed again",
               "mention": "mentioned the school", "comment": "commented",
               "tag": "tagged the school"}
# What each kind of item is, as a watchlist event. A post found by search names the school.
ITEM_EVENTS = {"comment": "comment", "reply": "comment", "review": "comment", "post": "mention",
               "mention": "mention", "tag": "tag"}
ALERT_KIND = "watchlist"
CSV_HEADER = ("platform", "account_id", "handle", "pattern", "reason", "school", "expires",
              "added_by")
# The longest values the table holds.
_LIMITS = {"account_id": 64, "handle": 100, "pattern": 200, "added_by": 200}
_CACHE = "hallmonitor.watchlist"


class WatchlistError(ValueError):
    """Input the watchlist cannot take, in one line a person can act on."""


class ImportProblems(WatchlistError):
    """Bad rows in an import file, one line each ("line 4: ..."); nothing was imported."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(f"{len(problems)} bad row{'s' if len(problems) != 1 else ''}")
        self.problems = list(problems)


# --- the entries --------------------------------------------------------------------------------

def clean_handle(handle: str) -> str:
    """A handle as stored and compared: without the leading @ people type, and spaces."""
    return handle.strip().lstrip("@").strip()


def state(entry: models.WatchlistEntry, now: datetime) -> str:
    """active, expired or removed."""
    if entry.removed_at is not None:
        return "removed"
    if entry.expires_at is not None and entry.expires_at <= now:
        return "expired"
    return "active"


def describe_match(entry: models.WatchlistEntry) -> str:
    """What the entry matches, in a few words: `id 12345 (@name)`, `@name`, `pattern "hater"`."""
    if entry.pattern is not None:
        return f'pattern "{entry.pattern}"'
    if entry.account_id:
        return f"id {entry.account_id}" + (f" (@{entry.handle})" if entry.handle else "")
    return f"@{entry.handle} (id not yet seen)"


def _checked(config: Config, *, platform: str | None, account_id: str | None,
             handle: str | None, pattern: str | None, reason: str, school_id: str | None,
             added_by: str, expires_at: datetime | None, now: datetime) -> dict:
    """The entry's fields, cleaned, or a `WatchlistError` saying what is wrong."""
    platform = (platform or "").strip().lower() or None
    account_id = (account_id or "").strip() or None
    handle = clean_handle(handle or "") or None
    pattern = " ".join((pattern or "").split()) or None
    reason = (reason or "").strip()
    added_by = (added_by or "").strip()
    if not reason:
        raise WatchlistError("a reason is required: say why the account is a concern")
    if not added_by:
        raise WatchlistError("who is adding it is required")
    if pattern is not None and (account_id or handle):
        raise WatchlistError("give an account (id or handle) or a pattern, not both")
    if pattern is None and not (account_id or handle):
        raise WatchlistError("nothing to match: give an account id, a handle or a pattern")
    if platform is not None and platform not in PLATFORMS:
        raise WatchlistError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    if platform is None and pattern is None:
        raise WatchlistError(f"an account needs its platform ({', '.join(PLATFORMS)})")
    if pattern is not None and not re.search(r"[a-z0-9]", plain(pattern)):
        raise WatchlistError(f"pattern {pattern!r} has no letters or digits to match")
    if handle is not None and re.search(r"\s", handle):
        raise WatchlistError(f"handle {handle!r} has a space in it: give the handle, not the "
                             "name (a name is matched with --pattern)")
    for name, value in (("account_id", account_id), ("handle", handle), ("pattern", pattern),
                        ("added_by", added_by)):
        if value is not None and len(value) > _LIMITS[name]:
            raise WatchlistError(f"{name.replace('_', ' ')} is longer than {_LIMITS[name]} "
                                 "characters")
    if school_id is not None and config.find_school(school_id) is None:
        raise WatchlistError(f"unknown school {school_id!r} (the config has "
                             f"{', '.join(s.id for s in config.schools)})")
    if expires_at is not None and expires_at <= now:
        raise WatchlistError("the expiry is in the past")
    return {"platform": platform, "account_id": account_id, "handle": handle,
            "pattern": pattern, "reason": reason, "school_id": school_id,
            "added_by": added_by, "expires_at": expires_at}


def _same_as(session: Session, fields: dict, now: datetime) -> models.WatchlistEntry | None:
    """An active entry watching the same thing for the same school, if there is one."""
    model = models.WatchlistEntry
    query = select(model).where(model.removed_at.is_(None),
                                or_(model.expires_at.is_(None), model.expires_at > now))
    for name in ("school_id", "platform"):
        column = getattr(model, name)
        query = query.where(column.is_(None) if fields[name] is None else column == fields[name])
    wanted = _identity(fields)
    return next((entry for entry in session.scalars(query.order_by(model.id))
                 if _identity(_fields_of(entry)) == wanted), None)


def _fields_of(entry: models.WatchlistEntry) -> dict:
    return {"school_id": entry.school_id, "platform": entry.platform,
            "account_id": entry.account_id, "handle": entry.handle, "pattern": entry.pattern}


def add(session: Session, config: Config, *, reason: str, added_by: str,
        platform: str | None = None, account_id: str | None = None, handle: str | None = None,
        pattern: str | None = None, school_id: str | None = None,
        expires_at: datetime | None = None, now: datetime | None = None,
        resolver: HandleResolver | None = None, keep_unresolved: bool = False
        ) -> models.WatchlistEntry:
    """Watch an account (by platform id, or by handle until its id is known) or a pattern, for
    a school or (school_id None) the whole trust. With a `resolver`, a handle without an id is
    looked up on its platform first (see `HandleResolver.resolve`). Raises `WatchlistError` for
    bad input, a handle the platform says nobody has (unless `keep_unresolved`), or when the
    same thing is already watched for the same school."""
    now = now or datetime.now(UTC)
    fields = _checked(config, platform=platform, account_id=account_id, handle=handle,
                      pattern=pattern, reason=reason, school_id=school_id, added_by=added_by,
                      expires_at=expires_at, now=now)
    # What is already watched as typed is refused before the platform is asked (a paid read
    # on X), and what the handle turns out to be is checked again once it is known.
    existing = _same_as(session, fields, now)
    if existing is None and resolver is not None:
        fields = resolver.resolve(fields, keep_unresolved=keep_unresolved)
        existing = _same_as(session, fields, now)
    if existing is not None:
        raise WatchlistError(f"already on the watchlist as entry #{existing.id} "
                             f"({describe_match(existing)})")
    return _insert(session, config, fields, now)


# --- handles looked up on their platform ----------------------------------------------------------

@dataclass(frozen=True)
class HandleLookup:
    """What asking a platform about a handle gave: the account (`found`), that no account has
    the handle (`unknown`), or why the question could not be asked or answered (`why_not`)."""

    platform: str
    handle: str
    found: Author | None = None
    unknown: bool = False
    why_not: str = ""

    def line(self) -> str:
        """One line for the person adding the entry."""
        if self.found is not None:
            return f"resolved @{self.handle} to id {self.found.id}"
        if self.unknown:
            return f"{_platform_name(self.platform)} has no account @{self.handle}"
        return (f"note: @{self.handle} could not be looked up ({self.why_not}); its id will be "
                "filled in the first time the handle is seen")


def _unknown_message(lookup: HandleLookup) -> str:
    return (f"{lookup.line()}: check the spelling (the handle, not the display name), or add "
            "it with --keep-unresolved to wait for the handle to be seen")


def _lookup_account(config: Config, platform: str,
                    school_id: str | None) -> tuple[School, Account] | None:
    """The account a handle is looked up through: the first enabled account of that platform
    of the entry's school, or of any school for a trust-wide entry; None when there is none."""
    schools = [config.school(school_id)] if school_id is not None else config.schools
    return next(((school, account) for school in schools for account in school.accounts
                 if account.platform == platform and account.enabled), None)


def _built(config: Config, school_id: str, account: Account) -> Connector:
    # The daemon's own factory, so the secrets and settings are read exactly as for a poll.
    from monitor.pipeline import build_connector

    source = models.Source(school_id=school_id, platform=account.platform,
                           account=account.account, kind=account.kinds[0],
                           key=f"{school_id}/{account.platform}/{account.account}")
    return build_connector(config, source)


@dataclass
class HandleResolver:
    """Looks handles up on their platform through a configured account, one connector per
    platform and school, and keeps every answer (`lookups`) for the person adding entries."""

    config: Config
    lookups: list[HandleLookup] = field(default_factory=list, init=False)
    # One connector (or why there is none) per platform and school, built on first use.
    _connectors: dict[tuple[str, str], Connector | str] = field(default_factory=dict,
                                                               init=False, repr=False)

    def look_up(self, platform: str, handle: str, school_id: str | None) -> HandleLookup:
        refused = connector_class(platform).lookup_refusal is not None
        connector = (f"{_platform_name(platform)} does not let apps look accounts up by handle"
                     if refused else self._connector(platform, school_id))
        if isinstance(connector, str):
            found = HandleLookup(platform, handle, why_not=connector)
        else:
            try:
                account = connector.lookup_account(handle)
                found = HandleLookup(platform, handle, found=account, unknown=account is None)
            except ConnectorError as error:
                found = HandleLookup(platform, handle, why_not=_one_line(str(error)))
        self.lookups.append(found)
        return found

    def _connector(self, platform: str, school_id: str | None) -> Connector | str:
        """A connector to ask, or why there is none, in words."""
        chosen = _lookup_account(self.config, platform, school_id)
        if chosen is None:
            where = ("any school of the trust" if school_id is None
                     else self.config.school_name(school_id))
            return f"no {_platform_name(platform)} account is configured for {where}"
        school, account = chosen
        key = (platform, school.id)
        if key not in self._connectors:
            try:
                self._connectors[key] = _built(self.config, school.id, account)
            except (ConnectorError, KeyError) as error:
                self._connectors[key] = (f"the {_platform_name(platform)} account "
                                         f"{account.account} cannot be used: "
                                         f"{_one_line(str(error))}")
        return self._connectors[key]

    def resolve(self, fields: dict, *, keep_unresolved: bool) -> dict:
        """Checked entry fields with the id and current handle filled in when a handle without
        an id was found on its platform. A handle the platform says nobody has is refused
        (`WatchlistError`) unless `keep_unresolved`; a lookup that could not be done leaves the
        entry by handle (the lookup's line says so)."""
        if fields["pattern"] is not None or fields["account_id"] or not fields["handle"]:
            return fields
        lookup = self.look_up(fields["platform"], fields["handle"], fields["school_id"])
        if lookup.unknown and not keep_unresolved:
            raise WatchlistError(_unknown_message(lookup))
        if lookup.found is None or len(lookup.found.id) > _LIMITS["account_id"]:
            return fields
        return {**fields, "account_id": lookup.found.id,
                "handle": lookup.found.handle[:_LIMITS["handle"]] or fields["handle"]}


def _platform_name(platform: str) -> str:
    return message.PLATFORM_NAMES.get(platform, platform)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _insert(session: Session, config: Config, fields: dict,
            now: datetime) -> models.WatchlistEntry:
    if fields["school_id"] is not None:
        ensure_school_row(session, config, fields["school_id"])
    entry = models.WatchlistEntry(**fields, added_at=now)
    session.add(entry)
    session.flush()
    forget(session)
    return entry


def remove(session: Session, entry_id: int, removed_by: str,
           now: datetime | None = None) -> models.WatchlistEntry:
    """Stop watching: the entry is marked removed (by whom, when) and kept for the record."""
    entry = session.get(models.WatchlistEntry, entry_id)
    if entry is None:
        raise WatchlistError(f"no watchlist entry #{entry_id}")
    if entry.removed_at is not None:
        raise WatchlistError(f"entry #{entry_id} was already removed by {entry.removed_by} "
                             f"on {_day(entry.removed_at)}")
    if not removed_by.strip():
        raise WatchlistError("who is removing it is required")
    entry.removed_at = now or datetime.now(UTC)
    entry.removed_by = removed_by.strip()[:_LIMITS["added_by"]]
    forget(session)
    return entry


def entries(session: Session, now: datetime, *, school_id: str | None = None,
            states: Iterable[str] = ("active",)) -> list[models.WatchlistEntry]:
    """Entries in these states (active, expired, removed), oldest first; with `school_id`, the
    ones that apply to that school: its own and the trust's."""
    model = models.WatchlistEntry
    query = select(model).order_by(model.id)
    if school_id is not None:
        query = query.where(or_(model.school_id == school_id, model.school_id.is_(None)))
    wanted = set(states)
    # Most calls want the active entries only: the removed and expired ones stay in the database.
    if "removed" not in wanted:
        query = query.where(model.removed_at.is_(None))
    if "expired" not in wanted:
        query = query.where(or_(model.expires_at.is_(None), model.expires_at > now))
    return [entry for entry in session.scalars(query) if state(entry, now) in wanted]


def forget(session: Session) -> None:
    """Drop the session's copy of the active entries (they changed)."""
    session.info.pop(_CACHE, None)


# --- matching -----------------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SEPARATORS = re.compile(r"[_.\-]+")
_TRAILING_DIGITS = re.compile(r"(?<=[A-Za-z])\d+\b")


def _handle_views(handle: str) -> list[str]:
    """A handle as words: "Oak_H4ter99" is read as "Oak H4ter99" and as "Oak H4ter", since
    handles join words with underscores, dots or capitals and often end in a number."""
    words = _SEPARATORS.sub(" ", _CAMEL.sub(" ", clean_handle(handle)))
    trimmed = _TRAILING_DIGITS.sub("", words)
    return [words] if trimmed == words else [words, trimmed]


class _Patterns:
    """The pattern entries, each compiled as the classifier compiles a school's keyword: the
    text made plain (case, accents), disguises undone for the patterns' words (leetspeak, masks,
    stretching) and the pattern matched as a whole word or phrase, with its plural."""

    def __init__(self, pattern_entries: Sequence[models.WatchlistEntry]) -> None:
        terms = {entry.id: " ".join(plain(entry.pattern).split()) for entry in pattern_entries}
        self.folder = Folder([form for term in terms.values() for form in word_forms([term])])
        self.compiled = [(entry, compile_words(word_forms([terms[entry.id]])))
                         for entry in pattern_entries]

    def matching(self, platform: str, handle: str, name: str) -> list[models.WatchlistEntry]:
        if not self.compiled:
            return []
        texts = [self.folder.fold(plain(view)) for view in _handle_views(handle) if view]
        if name.strip():
            texts.append(self.folder.fold(plain(name)))
        return [entry for entry, regex in self.compiled
                if entry.platform in (None, platform) and any(regex.search(t) for t in texts)]


@dataclass
class Watchlist:
    """One school's active entries (its own and the trust's), indexed for matching in memory."""

    by_id: dict[tuple[str, str], list[models.WatchlistEntry]]
    by_handle: dict[tuple[str, str], list[models.WatchlistEntry]]
    patterns: _Patterns

    @classmethod
    def load(cls, session: Session, school_id: str, now: datetime) -> Watchlist:
        by_id: dict[tuple[str, str], list[models.WatchlistEntry]] = {}
        by_handle: dict[tuple[str, str], list[models.WatchlistEntry]] = {}
        pattern_entries = []
        for entry in entries(session, now, school_id=school_id):
            if entry.pattern is not None:
                pattern_entries.append(entry)
            elif entry.account_id:
                by_id.setdefault((entry.platform, entry.account_id), []).append(entry)
            elif entry.handle:
                by_handle.setdefault((entry.platform, entry.handle.lower()), []).append(entry)
        return cls(by_id, by_handle, _Patterns(pattern_entries))

    def matches(self, platform: str, account_id: str, handle: str, name: str,
                now: datetime) -> list[models.WatchlistEntry]:
        """Entries matching this account: by id first, then by handle (entries whose id is not
        known yet; the id seen here is recorded on them), then patterns. Each entry once."""
        found = list(self.by_id.get((platform, account_id), ())) if account_id else []
        handle = clean_handle(handle or "")
        if handle:
            waiting = self.by_handle.get((platform, handle.lower()), [])
            found += waiting
            if account_id and waiting and len(account_id) <= _LIMITS["account_id"]:
                # From now on this account is watched by its id, whatever its handle becomes.
                for entry in waiting:
                    entry.account_id = account_id
                self.by_id.setdefault((platform, account_id), []).extend(waiting)
                del self.by_handle[(platform, handle.lower())]
        found += self.patterns.matching(platform, handle, name or "")
        unique = {entry.id: entry for entry in found if state(entry, now) == "active"}
        return list(unique.values())


def active_for(session: Session, school_id: str, now: datetime) -> Watchlist:
    """The school's watchlist, read once per transaction and kept on the session."""
    cache = session.info.setdefault(_CACHE, {})
    held = cache.get(school_id)
    transaction = session.get_transaction()
    if held is not None and transaction is not None and held[0] is transaction:
        return held[1]
    watchlist = Watchlist.load(session, school_id, now)
    cache[school_id] = (session.get_transaction(), watchlist)
    return watchlist


def matches(session: Session, school_id: str, platform: str, account_id: str | None,
            handle: str | None, name: str | None, now: datetime) -> list[models.WatchlistEntry]:
    """The active watchlist entries (the school's and the trust's) that this account matches:
    id matches first, then handle matches, then patterns on the handle or display name. A
    handle match on an entry without an id records the id on it, in the caller's transaction."""
    return active_for(session, school_id, now).matches(platform, account_id or "", handle or "",
                                                       name or "", now)


def event_for(item_kind: str) -> str | None:
    """The watchlist event an item of this kind is (comment, mention, tag), if any."""
    return ITEM_EVENTS.get(item_kind)


# --- telling people -----------------------------------------------------------------------------

def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"


def watch_note(watched: Sequence[models.WatchlistEntry]) -> str:
    """One line for the alert about the item itself: why its author is watched."""
    why = "; ".join(f"{entry.reason} (added by {entry.added_by} on {_day(entry.added_at)})"
                    for entry in watched)
    return f"The author is on the watchlist: {why}" if why else ""


def _who(account_id: str | None, handle: str | None, name: str | None, platform: str) -> str:
    handle = clean_handle(handle or "")
    who = name or (f"@{handle}" if handle else "an account")
    if name and handle and handle != name:
        who += f" (@{handle})"
    if account_id:
        who += f", {platform} id {account_id}"
    return who


def _entry_line(entry: models.WatchlistEntry, config: Config) -> str:
    scope = ("the whole trust" if entry.school_id is None
             else config.school_name(entry.school_id))
    line = (f"  - {entry.reason} (added by {entry.added_by} on {_day(entry.added_at)}; "
            f"entry #{entry.id}, {describe_match(entry)}, for {scope}")
    if entry.expires_at is not None:
        line += f", until {_day(entry.expires_at)}"
    return line + ")"


NEXT_STEPS = {
    "follow": ("Look at the account's profile and posts.",
               "If it should not follow the school, block it from the school's account."),
    "refollow": ("It followed before, stopped, and is back: look at the account's profile and "
                 "posts.",
                 "If it should not follow the school, block it from the school's account."),
    "unfollow": ("Nothing needs doing now: it no longer follows the school's account. A "
                 "re-follow will be alerted too.",),
    "comment": ("Read it where it was posted (link above).",
                "If it is hostile, screenshot it first, then hide it and block the author, as "
                "the social media policy says.",),
}
NEXT_STEPS["mention"] = NEXT_STEPS["tag"] = NEXT_STEPS["comment"]


def _title(event: str, roles: Sequence[str], school_name: str, platform: str) -> str:
    audience = "IT" if list(roles) == ["it"] else "IT and the digital champion"
    return (f"[For {audience}] Watchlisted account {EVENT_WORDS[event]} - {school_name} - "
            f"{platform}")


def dedupe_key(entry: models.WatchlistEntry, event: str, platform: str, account: str,
               item_id: int | None, now: datetime) -> str:
    """One alert per event: per item for what the account wrote, per UTC day for follows (a
    sync run again the same day finds the same follow)."""
    when = f"item:{item_id}" if item_id is not None else now.astimezone(UTC).strftime("%Y-%m-%d")
    return f"watchlist:{entry.id}:{event}:{platform}:{account}:{when}"[:300]


def alert_watched(session: Session, config: Config, school_id: str, event: str, platform: str,
                  account_id: str | None, handle: str | None, name: str | None,
                  watched: Sequence[models.WatchlistEntry], now: datetime,
                  item_id: int | None = None) -> models.Alert | None:
    """Tell the school's IT contacts (and the digital champion, for a mention, comment or tag)
    that a watchlisted account did something, once per event. None when nothing matched or this
    event was already told."""
    if not watched:
        return None
    if event not in EVENTS:
        raise ValueError(f"unknown watchlist event {event!r} (known: {', '.join(EVENTS)})")
    school = config.school(school_id)
    roles = ["it", "digital_champion"] if event in CHAMPION_EVENTS else ["it"]
    shown_platform = message.PLATFORM_NAMES.get(platform, platform)
    account = account_id or clean_handle(handle or "") or (name or "")
    key = dedupe_key(watched[0], event, platform, account, item_id, now)
    if session.scalar(select(models.Alert.id).where(models.Alert.dedupe_key == key)):
        return None
    item = session.get(models.Item, item_id) if item_id is not None else None
    title = _title(event, roles, school.name, shown_platform)
    body = _body(config, school_id, event, shown_platform, account_id, handle, name, watched,
                 item, now, key)
    alert = models.Alert(dedupe_key=key, school_id=school_id, kind=ALERT_KIND, severity="high",
                         item_id=item_id, categories=[], title=title, body=body, created_at=now)
    try:
        # A savepoint: another daemon telling the same event at the same moment wins, and the
        # caller's transaction (a pipeline page) goes on.
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        return None
    first_try = rules.send_at(config, school, "high", now)
    for target in rules.destinations(school, roles):
        session.add(models.Delivery(alert_id=alert.id, destination=target.destination,
                                    roles=list(target.roles), next_attempt_at=first_try))
    return alert


def _body(config: Config, school_id: str, event: str, platform: str, account_id: str | None,
          handle: str | None, name: str | None, watched: Sequence[models.WatchlistEntry],
          item: models.Item | None, now: datetime, key: str) -> str:
    timezone = config.school_timezone(config.school(school_id))
    when = (item.created_at if item is not None else now).astimezone(ZoneInfo(timezone))
    lines = [f"Who: {_who(account_id, handle, name, platform)}",
             f"What: {EVENT_WORDS[event]} on {platform}"
             + (f" ({item.kind})" if item is not None else ""),
             f"When: {when:%a %d %b %Y %H:%M} ({when.tzname()})"]
    if item is not None:
        lines.append(f"Said: \"{message.excerpt(item.text) or '(no text)'}\"")
        lines.append(f"Where: {item.permalink or f'(no link: {platform} id {item.external_id})'}")
    lines.append("Why the account is on the watchlist:")
    lines += [_entry_line(entry, config) for entry in watched]
    lines.append("What to do next:")
    steps = [*NEXT_STEPS[event],
             "If the account is no longer a concern: "
             + "; ".join(f"hallmonitor watchlist remove {entry.id}" for entry in watched)]
    lines += [f"  {n}. {step}" for n, step in enumerate(steps, 1)]
    lines.append(f"Ref: {key}")
    return "\n".join(lines)


# --- expiry dates -------------------------------------------------------------------------------

def parse_expiry(value: str, now: datetime, timezone: str) -> datetime | None:
    """`--expires`: a number of days from now, a date (the entry holds to the end of that day
    in `timezone`), or a date and time in ISO 8601 (UTC unless it says otherwise); empty for
    none."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        days = int(value)
        if not 0 < days <= 36_500:
            raise WatchlistError(f"expiry {value!r}: give a number of days from 1")
        return now + timedelta(days=days)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))
            return end.astimezone(UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise WatchlistError(f"expiry {value!r} is not a date (YYYY-MM-DD), a date and time "
                             "or a number of days") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


# --- CSV import and export ----------------------------------------------------------------------

def export_csv(session: Session, now: datetime, *, school_id: str | None = None) -> str:
    """The active entries as CSV with `CSV_HEADER`; `import_csv` reads it back as it was."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for entry in entries(session, now, school_id=school_id):
        writer.writerow([entry.platform or "", entry.account_id or "", entry.handle or "",
                         entry.pattern or "", entry.reason, entry.school_id or "",
                         entry.expires_at.isoformat() if entry.expires_at else "",
                         entry.added_by])
    return out.getvalue()


@dataclass
class Imported:
    added: list[models.WatchlistEntry]
    unchanged: int  # rows already on the watchlist, left as they are


def import_csv(session: Session, config: Config, text: str, *, added_by: str,
               now: datetime | None = None, resolver: HandleResolver | None = None,
               keep_unresolved: bool = False) -> Imported:
    """Add the rows of a CSV file (`CSV_HEADER`, columns in any order). Every row is checked
    first: if any is bad, `ImportProblems` names each bad line and nothing is added. With a
    `resolver`, rows with a handle and no id are then looked up on their platform, and a handle
    the platform says nobody has is a bad row too (unless `keep_unresolved`). A row already on
    the watchlist is left as it is, so an exported file can be edited and imported again.
    `added_by` is used for rows that do not say who added them."""
    now = now or datetime.now(UTC)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = [column.strip().lower() for column in next(reader, [])]
    if sorted(header) != sorted(CSV_HEADER):
        raise ImportProblems([f"line 1: the header must be {','.join(CSV_HEADER)} (in any "
                              f"order), not {','.join(header) or 'empty'}"])
    problems: list[str] = []
    wanted: list[tuple[int, dict]] = []
    seen: dict[tuple, int] = {}
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(f"line {start}: {len(row)} columns, the header has {len(header)}")
            continue
        values = dict(zip(header, (cell.strip() for cell in row), strict=True))
        try:
            fields = _row_fields(config, values, added_by, now)
        except WatchlistError as error:
            problems.append(f"line {start}: {error}")
            continue
        same = _identity(fields)
        if same in seen:
            problems.append(f"line {start}: the same entry as line {seen[same]}")
            continue
        seen[same] = start
        wanted.append((start, fields))
    if problems:
        raise ImportProblems(problems)
    if resolver is not None:
        wanted = _resolved_rows(session, wanted, resolver, keep_unresolved, now)
    added, unchanged = [], 0
    for _, fields in wanted:
        if _same_as(session, fields, now) is not None:
            unchanged += 1
        else:
            added.append(_insert(session, config, fields, now))
    return Imported(added, unchanged)


def _resolved_rows(session: Session, wanted: list[tuple[int, dict]], resolver: HandleResolver,
                   keep_unresolved: bool, now: datetime) -> list[tuple[int, dict]]:
    """The checked rows with their handles looked up (not those already on the watchlist as
    they are: a file exported and imported again costs no lookups); `ImportProblems` for
    handles nobody has and for rows that turn out to be the same account."""
    problems: list[str] = []
    resolved: list[tuple[int, dict]] = []
    seen: dict[tuple, int] = {}
    for line, fields in wanted:
        try:
            if _same_as(session, fields, now) is None:
                fields = resolver.resolve(fields, keep_unresolved=keep_unresolved)
        except WatchlistError as error:
            problems.append(f"line {line}: {error}")
            continue
        same = _identity(fields)
        if same in seen:
            problems.append(f"line {line}: the same account as line {seen[same]}")
            continue
        seen[same] = line
        resolved.append((line, fields))
    if problems:
        raise ImportProblems(problems)
    return resolved


def _row_fields(config: Config, values: dict[str, str], added_by: str, now: datetime) -> dict:
    school_id = values["school"] or None
    if school_id is not None and config.find_school(school_id) is None:
        raise WatchlistError(f"unknown school {school_id!r} (the config has "
                             f"{', '.join(s.id for s in config.schools)}; empty for the "
                             "whole trust)")
    timezone = (config.school_timezone(config.school(school_id)) if school_id
                else config.daemon.timezone)
    expires_at = parse_expiry(values["expires"], now, timezone)
    return _checked(config, platform=values["platform"], account_id=values["account_id"],
                    handle=values["handle"], pattern=values["pattern"], reason=values["reason"],
                    school_id=school_id, added_by=values["added_by"] or added_by,
                    expires_at=expires_at, now=now)


def _identity(fields: dict) -> tuple:
    match = (("pattern", plain(fields["pattern"])) if fields["pattern"] is not None
             else ("id", fields["account_id"]) if fields["account_id"]
             else ("handle", fields["handle"].lower()))
    return fields["school_id"], fields["platform"], match
