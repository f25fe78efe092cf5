"""X (Twitter) through the real `tweepy.Client`, API v2.

Sources of one school account:
- "mentions": posts mentioning the account (GET /2/users/:id/mentions). Replies to the school's
  posts are mentions too, since X puts the replied-to handle in them.
- "replies": replies addressed to the school (recent search `to:<handle> is:reply`).
- "search": posts naming the school or its hashtags (recent search on `keywords`), no retweets.

X charges per post and per user read, so every poll is incremental: the cursor holds
`since_id`, the newest post id seen, and X never returns that post or older ones again. Until a
post has been seen at all, the cursor holds `start_time` instead: the moment the source started
watching (less a margin), so that nothing published after a source was added is skipped, even
when its first poll found nothing.

X answers newest first, so while a poll is paging down towards the old `since_id`, each page's
progress keeps that lower bound plus the page token, the newest id so far and the oldest id read
(`oldest_id`); only a completed poll moves `since_id` forward. A poll that stops at `max_pages`
with pages left saves where it stopped, and the next poll carries on from there. A poll that was
interrupted (a crash, a shutdown, an error) is handed its last saved progress as `resume` in the
cursor, and carries on from that page instead of paying again for the pages it already read.
When X no longer accepts a saved page token, reading below `oldest_id` (`until_id`) gets the same
remaining posts.

The very first poll (no cursor) reads one page of `first_poll_limit` posts and starts from
there: a school adding its account is not charged for everything ever said about it. Before it
asks X anything, it hands the daemon an empty page whose progress is the moment it started
watching (less the margin), so a first poll that fails or is killed before its answer is stored
is resumed from that moment: the next attempt reads everything since, not only the newest few.
When the daemon says a source's first polls failed (`watching_since`, the first attempt) and no
such moment was saved, the poll reads everything since that attempt.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors import formats
from connectors.base import (
    ActionResult,
    AuthError,
    Author,
    CheckResult,
    ConfigError,
    Connector,
    ConnectorError,
    FollowerPage,
    FollowerRecord,
    Item,
    Page,
    PayloadError,
    SourceSpec,
    checked_base_url,
)
from connectors.x_client import (
    DEFAULT_BASE_URL,
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    XClient,
    x_errors,
)

log = logging.getLogger(__name__)

USER_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")

# What we ask X for on every read, so that each post comes with its author, thread, parent and
# time (formats.x_page turns these into Item fields).
TWEET_FIELDS = ["author_id", "created_at", "conversation_id", "referenced_tweets",
                "in_reply_to_user_id"]
EXPANSIONS = ["author_id"]
USER_FIELDS = ["username", "name"]

# What a follower sync asks X about each follower: what screening needs (bio, account age,
# posts, follows, whether the picture is still the default one). id, name and username come
# anyway.
FOLLOWER_FIELDS = ["created_at", "description", "public_metrics", "profile_image_url"]
# What X allows as a username: the lookup asks X only about handles that could be one.
USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
# The problem X names, in the "errors" of a 200 answer, for a username no account has (or one
# whose account is suspended or deactivated): either way there is no id to be had.
NOT_FOUND_PROBLEM = "resource-not-found"
# X gives at most 1000 followers a page; fewer requests for the same (paid) reads.
FOLLOWERS_PAGE = 1000
# X's default profile pictures live under this path.
DEFAULT_IMAGE = "default_profile_images"

# Recent search reaches back seven days and refuses a since_id older than that. Keep a margin.
RECENT_SEARCH_WINDOW = 7 * 24 * 3600 - 3600
# Self-serve (pay-per-use) recent search accepts queries up to 512 characters.
MAX_QUERY_LENGTH = 512
# An empty first poll starts watching this long before it ran: posts X had not yet indexed, or
# stamped by a clock a little behind ours, are still read. Nothing older was there to read.
WATCH_MARGIN = 10 * 60
# X refuses a start_time less than 10 seconds old.
MIN_START_AGE = 30
# A saved position that is not a real X post id cannot be trusted: without a time of its own to
# go back to, the poll re-reads this far back (the most recent search can reach). Posts already
# stored are not stored again.
REREAD = RECENT_SEARCH_WINDOW
# X post ids are snowflakes: milliseconds since this epoch in the top bits, from November 2010.
SNOWFLAKE_EPOCH_MS = 1288834974657
FIRST_SNOWFLAKE = 29_700_859_247
# An id whose time is further ahead of our clock than this is no post id X ever made.
FUTURE_SLACK = 24 * 3600

# What each kind of item allows. X lets the school's account hide and unhide replies in
# conversations it started (PUT /2/tweets/:id/hidden) and mute anyone (POST
# /2/users/:id/muting); a mention is often such a reply (X lists replies to the school among its
# mentions), and one that is not is refused item by item (see `XConnector.refusal`).
MODERATION = ("hide", "unhide", "mute")
SUPPORTS = {"mention": MODERATION, "reply": MODERATION}
BLOCK_REFUSAL = ("X's API does not offer blocking to ordinary apps (X withdrew the endpoint). "
                 "Block {who} from the X app or website: open their profile, the ... menu, Block.")
REFUSALS = {
    "block": BLOCK_REFUSAL.format(who="them"),
    "delete": "X lets an account delete only its own posts. Hide the reply instead, or report "
              "the post from the X app.",
}


@dataclass(frozen=True, slots=True)
class XSettings:
    """A source's settings, checked once when the connector is built."""

    handle: str  # without the @
    keywords: tuple[str, ...]
    account: str  # the numeric user id, used by check()
    base_url: str
    max_pages: int  # pages per poll; a longer backlog carries on at the next poll
    page_size: int  # posts per page after the first poll
    first_poll_limit: int  # posts read by the very first poll
    timeout: float  # seconds to wait for X's next bytes before giving up (and retrying later)
    deadline: float  # seconds one whole request may take, however X drips its answer

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> XSettings:
        keywords = settings.get("keywords", ())
        if isinstance(keywords, str):
            keywords = (keywords,)
        if not isinstance(keywords, list | tuple) or not all(
                isinstance(k, str) for k in keywords):
            raise ConfigError("X setting 'keywords' must be a list of words or phrases")
        return cls(
            handle=str(settings.get("handle", "")).strip().lstrip("@"),
            keywords=tuple(k.strip() for k in keywords if k.strip()),
            account=str(settings.get("account", "") or ""),
            base_url=checked_base_url(str(settings.get("base_url", DEFAULT_BASE_URL))),
            max_pages=_integer(settings, "max_pages", 5, 1, 100),
            page_size=_integer(settings, "page_size", 100, 5, 100),
            first_poll_limit=_integer(settings, "first_poll_limit", 10, 5, 100),
            timeout=_seconds(settings, "timeout", DEFAULT_TIMEOUT),
            deadline=_seconds(settings, "deadline", DEFAULT_DEADLINE),
        )


def _integer(settings: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"X setting '{name}' must be a whole number from {low} to {high}")
    return value


def _seconds(settings: Mapping[str, Any], name: str, default: float) -> float:
    value = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 300:
        raise ConfigError(f"X setting '{name}' must be a number of seconds from 1 to 300")
    return float(value)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How one source kind reads: which tweepy method, with what, and its API's quirks."""

    method: str  # an XClient method name
    arguments: Mapping[str, Any]  # the account id, or the search query
    token_param: str  # mentions page with pagination_token, search with next_token
    min_results: int  # the smallest max_results the endpoint accepts
    item_kind: str
    window: float | None = None  # seconds back a since_id may reach (recent search)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a poll starts: the saved cursor, or the progress of an interrupted poll, read back.

    The lower bound of the posts to read is `since_id`, or `start_time` while no post has been
    seen. Part-way down a backlog there is also the page token to carry on with, the upper bound
    (`until_id`) of the query that token belongs to, and the newest and oldest ids read so far.
    """

    since_id: str | None = None
    start_time: str | None = None
    until_id: str | None = None
    newest_id: str | None = None
    oldest_id: str | None = None
    next_token: str | None = None

    @classmethod
    def from_cursor(cls, cursor: Mapping[str, Any] | None) -> Position:
        cursor = cursor if isinstance(cursor, Mapping) else {}
        return cls(**{f.name: str(cursor[f.name]) if cursor.get(f.name) else None
                      for f in fields(cls)})

    @property
    def first_poll(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    @property
    def bounds(self) -> dict[str, str]:
        """The query's own limits, to send with every page of it."""
        return {key: value for key, value in (("since_id", self.since_id),
                                              ("start_time", self.start_time),
                                              ("until_id", self.until_id)) if value}

    def progress(self, newest: str | None, oldest: str | None, token: str) -> dict[str, Any]:
        """Where to carry on after a page that has `token` for the next one."""
        marker: dict[str, Any] = {**self.bounds, "next_token": token}
        if newest:
            marker["newest_id"] = newest
        if oldest:
            marker["oldest_id"] = oldest
        return marker

    def finished(self, newest: str | None) -> dict[str, Any]:
        """The cursor after reading everything down to the lower bound."""
        if newest:
            return {"since_id": newest}
        return {"start_time": self.start_time} if self.start_time else {}


def starting_point(cursor: Mapping[str, Any] | None) -> Position:
    """The saved cursor, or the progress of the poll it names as interrupted.

    The daemon passes `{**saved_cursor, "resume": saved_progress}` when the last poll did not
    finish: that progress says which pages were already read (and paid for).
    """
    cursor = cursor if isinstance(cursor, Mapping) else {}
    resume = cursor.get("resume")
    if isinstance(resume, Mapping):
        interrupted = Position.from_cursor(resume)
        if not interrupted.first_poll:
            return interrupted
    return Position.from_cursor(cursor)


def post_id_time(value: str, now: float) -> datetime | None:
    """When the post with this id was made, or None when it cannot be an X post id: not all
    digits, before snowflakes, beyond 64 bits, or from the future."""
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    if not FIRST_SNOWFLAKE <= number < 2 ** 63:
        return None
    made = datetime.fromtimestamp(((number >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, tz=UTC)
    return made if made.timestamp() <= now + FUTURE_SLACK else None


def parse_start_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def x_time(moment: float) -> str:
    """A time as X's start_time wants it: UTC, to the second."""
    return datetime.fromtimestamp(int(moment), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _within_window(start: Position, earliest: float) -> Position:
    """`start` for recent search, which refuses a since_id or start_time older than it reaches.

    Everything search can still return is newer than such a bound, so reading from the edge of
    its window re-reads nothing that could be read. The query changes, so a saved page token is
    dropped; reading below the oldest post already read carries on instead.
    """
    edge = x_time(earliest)
    # Run after _without_bad_values: a since_id here is a real post id.
    if start.since_id and formats.x_id_time(start.since_id).timestamp() < earliest:
        return replace(start, since_id=None, start_time=edge, next_token=None, until_id=None,
                       newest_id=start.newest_id or start.since_id)
    if not start.since_id and start.start_time and \
            parse_start_time(start.start_time) < parse_start_time(edge):
        return replace(start, start_time=edge, next_token=None, until_id=None)
    return start


# Cursors already warned about, so that a bad one is reported once even if polls keep failing
# before they get past it: (source id, the value dropped).
_warned: set[tuple[int, str]] = set()


def search_query(kind: str, settings: XSettings) -> str:
    """The recent-search query for a "replies" or "search" source."""
    handle = settings.handle
    if kind == "replies":
        if not handle:
            raise ConfigError("an X 'replies' source needs the 'handle' setting")
        # The school's own answers in its threads are not worth paying for.
        query = f"to:{handle} is:reply -from:{handle}"
    else:
        if not settings.keywords:
            raise ConfigError("an X 'search' source needs 'keywords' (the school's names and "
                              "hashtags)")
        terms = " OR ".join(_search_term(k) for k in settings.keywords)
        query = f"({terms}) -is:retweet" + (f" -from:{handle}" if handle else "")
    if len(query) > MAX_QUERY_LENGTH:
        raise ConfigError(f"the X search query is {len(query)} characters; X accepts "
                          f"{MAX_QUERY_LENGTH}: use fewer or shorter keywords")
    return query


def _search_term(keyword: str) -> str:
    # Hashtags, @handles and single words go as they are; a phrase is quoted so X matches the
    # exact phrase ("Oakfield Primary"), not each word anywhere in the post.
    if re.fullmatch(r"[#@]?\w+", keyword):
        return keyword
    return '"' + keyword.replace('"', "") + '"'


class NotChecked(Exception):
    """check() could not get an answer from X that says anything about the credentials."""


class XConnector(Connector):
    platform: ClassVar[str] = "x"
    title: ClassVar[str] = "X"
    kinds: ClassVar[tuple[str, ...]] = ("mentions", "replies", "search", "followers")
    supports: ClassVar[Mapping[str, tuple[str, ...]]] = SUPPORTS
    refusals: ClassVar[Mapping[str | tuple[str, str], str]] = REFUSALS
    # Reading needs bearer_token (or the four user-context keys); hiding and muting need the
    # four user-context keys (OAuth 1.0a). No single one is required: a missing one switches
    # off what depends on it, fetch() refuses only when nothing at all can read, and check()
    # says in words which is which.
    credentials: ClassVar[tuple[str, ...]] = ("bearer_token", *USER_KEYS)
    required_credentials: ClassVar[tuple[str, ...]] = ()
    # Pay-per-use prices, USD per resource read: "Posts: Read $0.005", "User: Read $0.010"
    # (X API pricing, docs.x.com/x-api/getting-started/pricing, 2026). X does not charge again
    # for a resource it already returned the same UTC day; each page lists what it returned in
    # `Page.charged` so the daemon can count that truthfully.
    read_prices: ClassVar[Mapping[str, float]] = {"post": 0.005, "user": 0.010}
    followers_page_max: ClassVar[int] = FOLLOWERS_PAGE

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        super().__init__(settings, secrets)
        self.config = XSettings.from_mapping(self.settings)
        present = {name: value for name, value in self.secrets.items() if value}
        self.bearer_token = present.get("bearer_token")
        self.missing_user_keys = tuple(name for name in USER_KEYS if name not in present)
        self.client = XClient(
            base_url=self.config.base_url,
            timeout=self.config.timeout,
            deadline=self.config.deadline,
            bearer_token=self.bearer_token,
            **{name: present.get(name) for name in USER_KEYS},
        )
        self.clock = time.time  # replaced in tests

    @property
    def can_act(self) -> bool:
        return not self.missing_user_keys

    # --- reading ----------------------------------------------------------------------------

    def fetch(self, source: SourceSpec, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        endpoint = self.endpoint(source)
        if not self.bearer_token and not self.can_act:
            raise ConfigError("no X credentials: set bearer_token (or the four user-context "
                              "keys) for this account")
        now = self.clock()
        start = starting_point(cursor)
        if start.first_poll:
            start = self._first_start(source, cursor, now)
        yield from self._pages(endpoint, self._usable(source, endpoint, start, now), now)

    @staticmethod
    def _first_start(source: SourceSpec, cursor: Mapping[str, Any] | None,
                     now: float) -> Position:
        """Where a poll with no saved position starts."""
        if cursor is not None and "resume" not in cursor:
            # A cursor saved empty: an earlier empty first poll that recorded no start. Nothing
            # was there when it ran, so reading back a bounded time skips nothing since.
            return Position(start_time=x_time(now - REREAD))
        if source.watching_since is not None:
            # Earlier first polls failed without leaving their start behind (see _pages): read
            # everything since the first of them, not only the newest few.
            return Position(start_time=x_time(source.watching_since.timestamp() - WATCH_MARGIN))
        return Position()

    def endpoint(self, source: SourceSpec) -> Endpoint:
        if source.kind == "mentions":
            if not source.account:
                raise ConfigError("an X 'mentions' source needs the account's numeric user id")
            return Endpoint("get_users_mentions", {"id": source.account}, "pagination_token",
                            5, "mention")
        if source.kind in ("replies", "search"):
            arguments = {"query": search_query(source.kind, self.config), "sort_order": "recency"}
            item_kind = "reply" if source.kind == "replies" else "mention"
            return Endpoint("search_recent_tweets", arguments, "next_token", 10, item_kind,
                            window=RECENT_SEARCH_WINDOW)
        if source.kind == "followers":
            raise ConfigError("an X 'followers' source is read by the follower sync "
                              "(monitor/followers.py), not as posts")
        raise ConfigError(f"X cannot poll '{source.kind}' (it polls {', '.join(self.kinds)})")

    # --- followers ----------------------------------------------------------------------------

    def fetch_followers(self, source: SourceSpec, *, page_token: str | None = None,
                        size: int | None = None) -> FollowerPage:
        """One page of GET /2/users/:id/followers, newest follower first. Every follower
        returned is a paid user read ("user:<id>"), charged once per UTC day."""
        self._need_reading("followers")
        if not source.account:
            raise ConfigError("an X 'followers' source needs the account's numeric user id")
        size = min(max(size or FOLLOWERS_PAGE, 1), FOLLOWERS_PAGE)
        body = self._followers_page(source.account, page_token, size)
        data = body.get("data")
        users = [user for user in data if isinstance(user, Mapping) and user.get("id")] \
            if isinstance(data, list) else []
        meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}
        token = str(meta["next_token"]) if meta.get("next_token") else None
        charged = tuple(dict.fromkeys(f"user:{user['id']}" for user in users))
        return FollowerPage([_follower(user) for user in users], token, reads=len(charged),
                            charged=charged)

    def _followers_page(self, account: str, token: str | None,
                        size: int) -> Mapping[str, Any]:
        with x_errors("reading the account's followers", self.clock):
            body = self.client.get_users_followers(
                account, max_results=size, pagination_token=token,
                user_fields=FOLLOWER_FIELDS, user_auth=not self.bearer_token)
        if not isinstance(body, Mapping):
            raise PayloadError("X answered with something other than a JSON object")
        return body

    def follower_count(self, source: SourceSpec) -> int:
        """The account's follower count from X's user lookup (public_metrics)."""
        self._need_reading("followers")
        with x_errors("looking up the school's follower count", self.clock):
            body = self.client.get_user(id=source.account, user_fields=["public_metrics"],
                                        user_auth=not self.bearer_token)
        metrics = _user(body).get("public_metrics")
        count = metrics.get("followers_count") if isinstance(metrics, Mapping) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise PayloadError("X's user answer has no follower count in it")
        return count

    # --- accounts by handle -------------------------------------------------------------------

    def lookup_account(self, handle: str) -> Author | None:
        """GET /2/users/by/username/:username: the account's id, current handle and name, or
        None when X has no such user (X answers 200 with an "errors" list, not a 404). One paid
        user read when found."""
        self._need_reading("accounts")
        username = handle.strip().lstrip("@")
        if not USERNAME.fullmatch(username):
            return None  # X would refuse the request; no account can have this handle
        with x_errors(f"looking up @{username}", self.clock):
            body = self.client.get_user(username=username, user_auth=not self.bearer_token)
        if not isinstance(body, Mapping):
            raise PayloadError("X answered with something other than a JSON object")
        data = body.get("data")
        if isinstance(data, Mapping) and data.get("id"):
            return Author(id=str(data["id"]), handle=str(data.get("username") or username),
                          name=str(data.get("name") or ""))
        errors = body.get("errors")
        if _not_found(errors):
            return None
        first = errors[0] if isinstance(errors, list) and errors else None
        detail = first.get("detail") or first.get("title") if isinstance(first, Mapping) \
            else None
        raise PayloadError(f"X gave no user for @{username}: {detail}" if detail
                           else "X's user answer has no user in it")

    def _need_reading(self, what: str) -> None:
        if not self.bearer_token and not self.can_act:
            raise ConfigError(f"no X credentials to read {what}: set bearer_token (or the four "
                              "user-context keys) for this account")

    # --- where a poll starts ------------------------------------------------------------------

    def _usable(self, source: SourceSpec, endpoint: Endpoint, start: Position,
                now: float) -> Position:
        """`start` with whatever X would refuse repaired, so that no saved position can make a
        source fail for ever."""
        start = self._without_bad_values(source, start, now)
        if endpoint.window is not None:
            start = _within_window(start, now - endpoint.window)
        if start.start_time is not None:
            # X refuses a start_time in the future or under 10 seconds old (a clock put back).
            latest = x_time(now - MIN_START_AGE)
            if parse_start_time(start.start_time) > parse_start_time(latest):
                start = replace(start, start_time=latest)
        return start

    def _without_bad_values(self, source: SourceSpec, start: Position, now: float) -> Position:
        dropped = {key: value for key in ("since_id", "until_id", "newest_id", "oldest_id")
                   if (value := getattr(start, key)) and post_id_time(value, now) is None}
        if start.start_time:
            moment = parse_start_time(start.start_time)
            if moment is None:
                dropped["start_time"] = start.start_time
            else:  # X takes whole seconds in UTC, and nothing else
                start = replace(start, start_time=x_time(moment.timestamp()))
        if not dropped:
            return start
        repaired = replace(start, **dict.fromkeys(dropped))
        if "since_id" in dropped or "start_time" in dropped:
            # The lower bound is gone, and with it the query any saved page token belongs to:
            # read again from the cursor's own start time, or a bounded time back.
            repaired = replace(repaired, next_token=None, until_id=None, oldest_id=None,
                               start_time=repaired.start_time or x_time(now - REREAD))
        elif "oldest_id" in dropped or "until_id" in dropped:
            repaired = replace(repaired, next_token=None, until_id=None, oldest_id=None)
        self._warn_once(source, dropped, repaired)
        return repaired

    def _warn_once(self, source: SourceSpec, dropped: Mapping[str, str],
                   repaired: Position) -> None:
        key = (source.id, repr(sorted(dropped.items())))
        if key in _warned:
            return
        _warned.add(key)
        what = ", ".join(f"{name} {value[:40]!r}" for name, value in dropped.items())
        since = (f"posts since {repaired.start_time}" if repaired.start_time and
                 not repaired.since_id else "from the rest of the saved position")
        log.warning("X source %s (%s): the saved position has %s, which is not a valid X post id "
                    "or time; dropped it and reading %s instead (posts already stored are not "
                    "stored twice)", source.id, source.kind, what, since)

    # --- reading pages ------------------------------------------------------------------------

    def _pages(self, endpoint: Endpoint, start: Position, now: float) -> Iterator[Page]:
        first_poll = start.first_poll
        budget = 1 if first_poll else self.config.max_pages
        size = self.config.first_poll_limit if first_poll else self.config.page_size
        size = max(endpoint.min_results, size)
        # A poll that finds nothing new must still hand back the since_id it started from.
        newest, oldest = start.newest_id or start.since_id, start.oldest_id
        seen_tokens = {start.next_token} if start.next_token else set()
        if first_poll:
            # Before asking X anything, save when this source started watching. A first poll
            # that fails, or whose daemon is killed before it stores X's answer, leaves that
            # behind, and the next attempt reads everything since then rather than only the
            # newest few: what arrived in between was published after the source was added.
            yield Page([], {"start_time": x_time(now - WATCH_MARGIN)})
        query, body = self._first_body(endpoint, start, size)
        while True:
            items, meta = formats.x_page(body, kind=endpoint.item_kind)
            newest = _newest(newest, items, meta)
            oldest = _oldest(oldest, items, meta)
            charged = _charged(body)
            budget -= 1
            token = _next_token(meta, seen_tokens)
            if token is not None and budget > 0:
                yield Page(items, query.progress(newest, oldest, token), reads=len(charged),
                           charged=charged)
                body = self._read(endpoint, query, token, size)
                continue
            # The last page of this poll. The poll is complete when X has no older page, or on a
            # first poll, which leaves the history unread on purpose; otherwise the next poll
            # carries on from this page token.
            if token is None or first_poll:
                progress = query.finished(newest)
                if not progress:
                    # A first poll that found nothing: start watching from now, not from
                    # "no cursor", or the next poll would be a first poll again and read only
                    # the newest few of what arrived meanwhile.
                    progress = {"start_time": x_time(now - WATCH_MARGIN)}
            else:
                progress = query.progress(newest, oldest, token)
            yield Page(items, progress, last=True, reads=len(charged), charged=charged)
            return

    def _first_body(self, endpoint: Endpoint, start: Position,
                    size: int) -> tuple[Position, Mapping[str, Any]]:
        """The first page of this poll, and the query (bounds) the rest of it pages through."""
        query = start
        if start.next_token is None and start.oldest_id:
            # Part-way down a backlog without a page token: read below what was read.
            query = replace(start, until_id=start.oldest_id)
        if query.next_token is None:
            return query, self._read(endpoint, query, None, size)
        try:
            return query, self._read(endpoint, query, query.next_token, size)
        except ConfigError:
            pass
        # X no longer honours the saved page token (they do not last for ever). Everything
        # older than the oldest post already read is what that token would have given.
        query = replace(start, next_token=None, until_id=start.oldest_id or start.until_id)
        return query, self._read(endpoint, query, None, size)

    def _read(self, endpoint: Endpoint, query: Position, token: str | None,
              size: int) -> Mapping[str, Any]:
        params: dict[str, Any] = {
            **endpoint.arguments,
            "max_results": size,
            "tweet_fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user_fields": USER_FIELDS,
            # X takes since_id over start_time; only one of them is ever set.
            "since_id": query.since_id,
            "start_time": None if query.since_id else query.start_time,
            "until_id": query.until_id,
            endpoint.token_param: token,
            # Read with the app's bearer token; schools that gave only user-context keys read
            # as their own account instead.
            "user_auth": not self.bearer_token,
        }
        with x_errors(f"reading {endpoint.method.replace('_', ' ')}", self.clock):
            body = getattr(self.client, endpoint.method)(**params)
        if not isinstance(body, Mapping):
            raise PayloadError("X answered with something other than a JSON object")
        return body

    # --- health -----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        try:
            reading = self._check_reading()
            acting = self._check_acting()
        except NotChecked as exc:
            # X was not reached (or would not answer yet): nothing is known about the
            # credentials, and saying they are wrong would send IT after the wrong problem.
            return CheckResult(False, f"{exc}; the credentials were not checked", (
                f"{exc}. This is not a problem with the credentials: check the network, or "
                "X's status, and try again.",))
        details = tuple(line for _, line in (reading, acting))
        ok = reading[0] and acting[0] is not False
        summary = "X: reading works" if reading[0] else "X: reading does NOT work"
        if acting[0]:
            summary += "; hiding replies and muting work"
        elif acting[0] is None:
            summary += "; hiding replies and muting are switched off"
        else:
            summary += "; hiding replies and muting do NOT work"
        return CheckResult(ok, summary, details)

    def _check_reading(self) -> tuple[bool, str]:
        if not self.bearer_token:
            if self.can_act:
                return True, ("Reading mentions, replies and search: uses the user-context keys "
                              "(no bearer token set); see the line below for whether they work.")
            return False, ("Reading mentions, replies and search: no credentials. Set "
                           "bearer_token (from the X Developer Console, 'Keys and tokens').")
        lookup = ({"id": self.config.account} if self.config.account
                  else {"username": self.config.handle} if self.config.handle else None)
        if lookup is None:
            return False, ("Reading: cannot be checked without the account id or handle in "
                           "the source settings.")
        try:
            with x_errors("looking up the school's account", self.clock):
                body = self.client.get_user(**lookup, user_fields=USER_FIELDS)
            user = _user(body)
        except (AuthError, ConfigError) as exc:
            return False, f"Reading mentions, replies and search: NOT working. {exc}"
        except ConnectorError as exc:
            raise NotChecked(str(exc)) from exc
        return True, ("Reading mentions, replies and search: works (the bearer token is "
                      f"accepted; account @{user.get('username')}, id {user.get('id')}).")

    def _check_acting(self) -> tuple[bool | None, str]:
        if not self.can_act:
            return None, ("Hiding replies and muting: switched off, these keys are not set: "
                          f"{', '.join(self.missing_user_keys)}. Reading is not affected.")
        try:
            with x_errors("looking up the account that hides replies and mutes", self.clock):
                response = self.client.request("GET", "/2/users/me", user_auth=True)
                level = response.headers.get("x-access-level", "")
                body = response.json()
            user = _user(body)
        except (AuthError, ConfigError) as exc:
            return False, f"Hiding replies and muting: NOT working. {exc}"
        except ConnectorError as exc:
            raise NotChecked(str(exc)) from exc
        who = f"@{user.get('username')}"
        if not self._is_school(user):
            return False, (f"Hiding replies and muting: the access token belongs to {who}, not "
                           "the school's account; X lets only the school's own account hide "
                           "replies to it. Generate the access token while logged in as the "
                           "school's account.")
        if level and "write" not in level:
            return False, (f"Hiding replies and muting: the access token for {who} is "
                           "read-only. Set the app's permissions to 'Read and write', then "
                           "regenerate the access token and secret.")
        return True, f"Hiding replies and muting: works (acting as {who})."

    def _is_school(self, user: Mapping[str, Any]) -> bool:
        """Whether an X user is the school's account, by id when we know it, else by handle."""
        if self.config.account:
            return str(user.get("id")) == self.config.account
        if self.config.handle:
            return str(user.get("username", "")).lower() == self.config.handle.lower()
        return True

    # --- moderation -------------------------------------------------------------------------

    @classmethod
    def refusal(cls, action: str, item: Item) -> str | None:
        if action == "block":
            who = f"@{item.author.handle}" if item.author.handle else "them"
            return BLOCK_REFUSAL.format(who=who)
        reason = super().refusal(action, item)
        if reason is None and action in ("hide", "unhide") and not item.parent_id:
            return (f"X can {action} only replies to the school's posts, and post "
                    f"{item.external_id} is not a reply: mute its author, or report it from "
                    "the X app.")
        if reason is None and action == "mute" and not item.author.id:
            return f"Post {item.external_id} has no author id to mute."
        return reason

    def do_hide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, hidden=True)

    def do_unhide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, hidden=False)

    def _set_hidden(self, item: Item, *, hidden: bool) -> ActionResult:
        verb = "hide" if hidden else "unhide"
        if refusal := self._cannot_act(verb):
            return refusal
        try:
            with x_errors(f"trying to {verb} post {item.external_id}", self.clock):
                method = self.client.hide_reply if hidden else self.client.unhide_reply
                body = method(item.external_id, user_auth=True)
        except ConnectorError as exc:
            return ActionResult(False, f"Could not {verb} post {item.external_id}: {exc}")
        if _confirmed(body, "hidden") is not hidden:
            return ActionResult(False, f"X did not confirm the {verb} of post "
                                       f"{item.external_id}; check it in the X app.")
        if hidden:
            return ActionResult(True, f"Reply {item.external_id}{_by(item)} is hidden: X now "
                                      "shows it only under 'View hidden replies'.")
        return ActionResult(True, f"Reply {item.external_id}{_by(item)} is visible again.")

    def do_mute(self, item: Item) -> ActionResult:
        if refusal := self._cannot_act("mute"):
            return refusal
        who = f"@{item.author.handle}" if item.author.handle else f"user {item.author.id}"
        try:
            with x_errors(f"trying to mute {who}", self.clock):
                body = self.client.mute(item.author.id, user_auth=True)
        except ConnectorError as exc:
            return ActionResult(False, f"Could not mute {who}: {exc}")
        if _confirmed(body, "muting") is not True:
            return ActionResult(False, f"X did not confirm muting {who}; check it in the X app.")
        return ActionResult(True, f"{who} is muted: the school's account no longer sees their "
                                  "posts or notifications. They are not told, and others still "
                                  "see their replies: hide those one by one.")

    def _cannot_act(self, verb: str) -> ActionResult | None:
        if self.can_act:
            return None
        return ActionResult(False, f"Cannot {verb} on X: the user-context keys are not set "
                                   f"(missing: {', '.join(self.missing_user_keys)}). See "
                                   "docs/platforms/x.md.")


# --- small helpers ------------------------------------------------------------------------------

def _newest(current: str | None, items: list[Item], meta: Mapping[str, Any]) -> str | None:
    """The largest post id seen so far. Ids are compared as numbers: as strings, "99" > "100"."""
    candidates = [item.external_id for item in items]
    if meta.get("newest_id"):
        candidates.append(str(meta["newest_id"]))
    if current:
        candidates.append(current)
    if not candidates:
        return None
    return max(candidates, key=formats.x_id_number)


def _next_token(meta: Mapping[str, Any], seen: set[str]) -> str | None:
    token = meta.get("next_token")
    if not token:
        return None
    token = str(token)
    if token in seen:
        # A page token handed back twice would loop for ever, paying for every lap.
        raise PayloadError(f"X returned the page token {token!r} twice; stopping this poll")
    seen.add(token)
    return token


def _oldest(current: str | None, items: list[Item], meta: Mapping[str, Any]) -> str | None:
    """The smallest post id read so far in this poll: below it lies what is still unread."""
    candidates = [item.external_id for item in items]
    if meta.get("oldest_id"):
        candidates.append(str(meta["oldest_id"]))
    if current:
        candidates.append(current)
    if not candidates:
        return None
    return min(candidates, key=formats.x_id_number)


def _charged(body: Mapping[str, Any]) -> tuple[str, ...]:
    """What X charges for in this page: every post ("post:<id>", the referenced posts it
    includes too) and every user ("user:<id>", the authors in includes.users), each once."""
    includes = body.get("includes") if isinstance(body.get("includes"), Mapping) else {}
    charged: dict[str, None] = {}
    for kind, values in (("post", body.get("data")), ("post", includes.get("tweets")),
                         ("user", includes.get("users"))):
        for value in values if isinstance(values, list) else ():
            if isinstance(value, Mapping) and value.get("id"):
                charged[f"{kind}:{value['id']}"] = None
    return tuple(charged)


def _follower(user: Mapping[str, Any]) -> FollowerRecord:
    """An X user object (with FOLLOWER_FIELDS) as a follower record."""
    metrics = user.get("public_metrics") if isinstance(user.get("public_metrics"), Mapping) \
        else {}
    image = user.get("profile_image_url")
    created = user.get("created_at")
    return FollowerRecord(
        id=str(user["id"]), handle=str(user.get("username") or ""),
        name=str(user.get("name") or ""), bio=str(user.get("description") or ""),
        created_at=_time_or_none(created),
        posts=_count(metrics.get("tweet_count")), following=_count(metrics.get("following_count")),
        default_image=DEFAULT_IMAGE in image if isinstance(image, str) else None)


def _time_or_none(value: Any) -> datetime | None:
    # An odd date on one follower is no reason to lose the whole page.
    try:
        return formats.parse_time(value)
    except PayloadError:
        return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _user(body: Any) -> Mapping[str, Any]:
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping) or not data.get("id"):
        raise PayloadError("X's user answer has no user in it")
    return data


def _not_found(errors: Any) -> bool:
    """Whether X's "errors" list says the user asked for does not exist."""
    return isinstance(errors, list) and any(
        isinstance(error, Mapping)
        and str(error.get("type", "")).rsplit("/", 1)[-1] == NOT_FOUND_PROBLEM
        for error in errors)


def _confirmed(body: Any, field: str) -> Any:
    data = body.get("data") if isinstance(body, Mapping) else None
    return data.get(field) if isinstance(data, Mapping) else None


def _by(item: Item) -> str:
    return f" by @{item.author.handle}" if item.author.handle else ""
