"""X (Twitter) through the real `tweepy.Client`, API v2.

Sources of one school account:
- "mentions": posts mentioning the account (GET /2/users/:id/mentions). Replies to the school's
  posts are mentions too, since X puts the replied-to handle in them.
- "replies": replies addressed to the school (recent search `to:<handle> is:reply`).
- "search": posts naming the school or its hashtags (recent search on `keywords`), no retweets.

X charges per post and per user read, so every poll is incremental: the cursor holds
`since_id`, the newest post id seen, and X never returns that post or older ones again. X answers
newest first, so while a poll is paging down towards the old `since_id`, each page's progress
keeps that old `since_id` (plus the page token and the newest id so far); only a completed
poll moves `since_id` forward. A poll that stops at `max_pages` with pages left saves where it
stopped, and the next poll carries on from there instead of re-reading the newest pages.

The very first poll (no cursor) reads one page of `first_poll_limit` posts and starts from
there: a school adding its account is not charged for everything ever said about it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from connectors import formats
from connectors.base import (
    ActionResult,
    CheckResult,
    ConfigError,
    Connector,
    ConnectorError,
    Item,
    Page,
    PayloadError,
    SourceSpec,
    checked_base_url,
)
from connectors.x_client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, XClient, x_errors

USER_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")

# What we ask X for on every read, so that each post comes with its author, thread, parent and
# time (formats.x_page turns these into Item fields).
TWEET_FIELDS = ["author_id", "created_at", "conversation_id", "referenced_tweets",
                "in_reply_to_user_id"]
EXPANSIONS = ["author_id"]
USER_FIELDS = ["username", "name"]

# Recent search reaches back seven days and refuses a since_id older than that. Keep a margin.
RECENT_SEARCH_WINDOW = 7 * 24 * 3600 - 3600
# Self-serve (pay-per-use) recent search accepts queries up to 512 characters.
MAX_QUERY_LENGTH = 512

REFUSED = {
    "block": "X's API does not offer blocking to ordinary apps (X withdrew the endpoint). "
             "Block {who} from the X app or website: open their profile, the ... menu, Block.",
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
    timeout: float  # seconds to wait for X before giving up (and retrying later)

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
    """Where a poll starts: the saved cursor, read back."""

    since_id: str | None = None
    newest_id: str | None = None  # only while a poll is part-way down a backlog
    next_token: str | None = None

    @classmethod
    def from_cursor(cls, cursor: Mapping[str, Any] | None) -> Position:
        cursor = cursor or {}
        return cls(*(str(cursor[key]) if cursor.get(key) else None
                     for key in ("since_id", "newest_id", "next_token")))

    @property
    def first_poll(self) -> bool:
        return self.since_id is None and self.newest_id is None and self.next_token is None


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


class XConnector(Connector):
    platform: ClassVar[str] = "x"
    kinds: ClassVar[tuple[str, ...]] = ("mentions", "replies", "search")
    actions: ClassVar[tuple[str, ...]] = ("hide", "unhide", "mute")
    # Reading needs bearer_token (or the four user-context keys); hiding and muting need the
    # four user-context keys (OAuth 1.0a). No single one is required: a missing one switches
    # off what depends on it, fetch() refuses only when nothing at all can read, and check()
    # says in words which is which.
    credentials: ClassVar[tuple[str, ...]] = ("bearer_token", *USER_KEYS)
    required_credentials: ClassVar[tuple[str, ...]] = ()
    # Pay-per-use price of one post read, USD: "Posts: Read $0.005 per resource" (X API
    # pricing, docs.x.com/x-api/getting-started/pricing, 2026). User reads (the authors that
    # come with each page) cost $0.010 each, so an estimate from this figure is a little low.
    # X does not charge again for a resource it already returned the same UTC day.
    cost_per_read: ClassVar[float] = 0.005

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        super().__init__(settings, secrets)
        self.config = XSettings.from_mapping(self.settings)
        present = {name: value for name, value in self.secrets.items() if value}
        self.bearer_token = present.get("bearer_token")
        self.missing_user_keys = tuple(name for name in USER_KEYS if name not in present)
        self.client = XClient(
            base_url=self.config.base_url,
            timeout=self.config.timeout,
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
        yield from self._pages(endpoint, self._usable(Position.from_cursor(cursor), endpoint))

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
        raise ConfigError(f"X cannot poll '{source.kind}' (it polls {', '.join(self.kinds)})")

    def _usable(self, start: Position, endpoint: Endpoint) -> Position:
        # A source that heard nothing for a week keeps an old since_id, which recent search then
        # refuses. Everything search can still return is newer than it, so dropping it re-reads
        # nothing (unless a backlog was half-read; X does not charge twice the same day).
        if endpoint.window is None or start.since_id is None:
            return start
        if formats.x_id_time(start.since_id).timestamp() > self.clock() - endpoint.window:
            return start
        return Position(newest_id=start.newest_id or start.since_id)

    def _pages(self, endpoint: Endpoint, start: Position) -> Iterator[Page]:
        first_poll = start.first_poll
        budget = 1 if first_poll else self.config.max_pages
        size = self.config.first_poll_limit if first_poll else self.config.page_size
        size = max(endpoint.min_results, size)
        # A poll that finds nothing new must still hand back the since_id it started from.
        newest, token = start.newest_id or start.since_id, start.next_token
        seen_tokens = {token} if token else set()
        body = self._first_body(endpoint, start, size)
        while True:
            items, meta = formats.x_page(body, kind=endpoint.item_kind)
            newest = _newest(newest, items, meta)
            budget -= 1
            token = _next_token(meta, seen_tokens)
            if token is not None and budget > 0:
                yield Page(items, _resume(start.since_id, newest, token), reads=_reads(body))
                body = self._read(endpoint, start.since_id, token, size)
                continue
            # The last page of this poll. The poll is complete when X has no older page, or on a
            # first poll, which leaves the history unread on purpose; otherwise the next poll
            # carries on from this page token.
            if token is None or first_poll:
                progress = {"since_id": newest} if newest else {}
            else:
                progress = _resume(start.since_id, newest, token)
            yield Page(items, progress, last=True, reads=_reads(body))
            return

    def _first_body(self, endpoint: Endpoint, start: Position, size: int) -> Mapping[str, Any]:
        try:
            return self._read(endpoint, start.since_id, start.next_token, size)
        except ConfigError:
            if start.next_token is None:
                raise
        # X no longer honours the page token saved by the last poll (they do not last for ever):
        # start the backlog again from since_id. Posts re-read the same day are not re-charged.
        return self._read(endpoint, start.since_id, None, size)

    def _read(self, endpoint: Endpoint, since_id: str | None, token: str | None,
              size: int) -> Mapping[str, Any]:
        params: dict[str, Any] = {
            **endpoint.arguments,
            "max_results": size,
            "tweet_fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user_fields": USER_FIELDS,
            "since_id": since_id,
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
        reading = self._check_reading()
        acting = self._check_acting()
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
            with x_errors("checking the bearer token", self.clock):
                body = self.client.get_user(**lookup, user_fields=USER_FIELDS)
            user = _user(body)
        except ConnectorError as exc:
            return False, f"Reading mentions, replies and search: NOT working. {exc}"
        return True, ("Reading mentions, replies and search: works (the bearer token is "
                      f"accepted; account @{user.get('username')}, id {user.get('id')}).")

    def _check_acting(self) -> tuple[bool | None, str]:
        if not self.can_act:
            return None, ("Hiding replies and muting: switched off, these keys are not set: "
                          f"{', '.join(self.missing_user_keys)}. Reading is not affected.")
        try:
            with x_errors("checking the user-context keys", self.clock):
                response = self.client.request("GET", "/2/users/me", user_auth=True)
                level = response.headers.get("x-access-level", "")
                user = _user(response.json())
        except ConnectorError as exc:
            return False, f"Hiding replies and muting: NOT working. {exc}"
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

    def act(self, action: str, item: Item) -> ActionResult:
        if action in REFUSED:
            who = f"@{item.author.handle}" if item.author.handle else "the author"
            return ActionResult(False, REFUSED[action].format(who=who))
        return super().act(action, item)

    def do_hide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, hidden=True)

    def do_unhide(self, item: Item) -> ActionResult:
        return self._set_hidden(item, hidden=False)

    def _set_hidden(self, item: Item, *, hidden: bool) -> ActionResult:
        verb = "hide" if hidden else "unhide"
        if refusal := self._cannot_act(verb):
            return refusal
        if not item.parent_id:
            return ActionResult(False, f"X can {verb} only replies, and post {item.external_id} "
                                       "is not a reply.")
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
        if not item.author.id:
            return ActionResult(False, f"Post {item.external_id} has no author id to mute.")
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


def _resume(since_id: str | None, newest: str | None, token: str) -> dict[str, Any]:
    progress: dict[str, Any] = {"next_token": token}
    if since_id:
        progress["since_id"] = since_id
    if newest:
        progress["newest_id"] = newest
    return progress


def _reads(body: Mapping[str, Any]) -> int:
    """Posts and users this page returned: what pay-per-use charges for."""
    includes = body.get("includes") if isinstance(body.get("includes"), Mapping) else {}
    counted = [body.get("data"), includes.get("users"), includes.get("tweets")]
    return sum(len(value) for value in counted if isinstance(value, list))


def _user(body: Any) -> Mapping[str, Any]:
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping) or not data.get("id"):
        raise PayloadError("X's user answer has no user in it")
    return data


def _confirmed(body: Any, field: str) -> Any:
    data = body.get("data") if isinstance(body, Mapping) else None
    return data.get(field) if isinstance(data, Mapping) else None


def _by(item: Item) -> str:
    return f" by @{item.author.handle}" if item.author.handle else ""
