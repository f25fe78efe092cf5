"""The contract every platform connector keeps.

A connector turns a platform's API responses into plain `Item`s. It never touches the database or
the scheduler: it is handed the cursor it should resume from and yields `Page`s, each carrying the
progress marker to keep after that page. The daemon (monitor/pipeline.py) owns saving that state,
so a connector cannot get it wrong.

Cursor rules, the same for every connector:
- `fetch(source, cursor)` starts from `cursor` (None on the first poll).
- Each `Page.progress` is what the connector would resume from if the poll ended after that page.
- The daemon promotes the progress of the page marked `last=True` to the saved cursor. For APIs
  that return newest first, an interrupted poll therefore restarts from the old cursor and the
  duplicates it re-reads are dropped by (platform, external_id).
"""

from __future__ import annotations

import abc
import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

# Kinds of things a source polls, and kinds of items it yields.
SOURCE_KINDS = ("comments", "mentions", "replies", "search", "visitor_posts", "tags", "ratings",
                "followers")
ITEM_KINDS = ("comment", "reply", "mention", "post", "review", "tag")
ACTIONS = ("hide", "unhide", "delete", "block", "mute")
# What a connector that cannot list followers says (Facebook Pages and Instagram give apps
# no follower list at all).
FOLLOWERS_REFUSAL = ("{title} does not give apps the list of an account's followers, so Hall "
                     "Monitor cannot sync them. The watchlist still matches the people who "
                     "comment on or tag the school's account there.")
# What a connector that cannot look an account up by its handle says.
LOOKUP_REFUSAL = ("{title} does not let apps look an account up by its handle, so Hall Monitor "
                  "keeps the handle and records the account's id the first time that handle is "
                  "seen.")


class ConnectorError(Exception):
    """Something went wrong talking to a platform.

    `permanent` says whether trying again unchanged can help: a permanent error pauses the source
    until someone fixes it; a transient one is retried with backoff.
    """

    permanent: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryableError(ConnectorError):
    """Rate limit, 5xx, timeout, connection reset: try again later (after `retry_after` seconds
    when the platform said how long)."""


class AuthError(ConnectorError):
    """Token expired, revoked or lacking a permission: the source is paused, IT told once."""

    permanent = True


class ConfigError(ConnectorError):
    """The source's settings cannot work (unknown account, bad URL, missing setting)."""

    permanent = True


class PayloadError(ConnectorError):
    """The platform answered with something we cannot read. Retried: it is usually a glitch."""


@dataclass(frozen=True, slots=True)
class Author:
    id: str = ""
    handle: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    """One comment, reply, mention or post, as the platform gave it, normalised."""

    external_id: str
    kind: str
    text: str
    created_at: datetime  # timezone-aware, UTC
    author: Author = Author()
    permalink: str = ""
    parent_id: str = ""  # the post or comment this answers
    conversation_id: str = ""  # the thread it belongs to (post id, tweet conversation id)
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Page:
    items: list[Item]
    progress: dict[str, Any]
    last: bool = False
    # How many posts and users this page cost to read (pay-per-read platforms).
    reads: int = 0
    # What those reads were, as "post:<id>" and "user:<id>": a pay-per-read API charges each
    # resource once per UTC day, so the daemon records them to estimate cost truthfully.
    charged: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FollowerRecord:
    """One account that follows the school's account, as the platform described it, normalised.
    `id` is the platform's own id for the account: it stays the same when the handle changes.
    What the platform did not say is None."""

    id: str
    handle: str
    name: str = ""
    bio: str = ""
    created_at: datetime | None = None  # when the follower's account was made, UTC
    posts: int | None = None
    following: int | None = None
    default_image: bool | None = None  # still the platform's default profile picture


@dataclass(slots=True)
class FollowerPage:
    """One page of an account's followers, newest follower first.

    `next_token` starts the page after this one (None on the last page), so an interrupted full
    sync carries on where it stopped. `reads` and `charged` are what the page cost to read on a
    pay-per-read platform, as for `Page`."""

    followers: list[FollowerRecord]
    next_token: str | None
    reads: int = 0
    charged: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What a connector is told about the thing it polls; settings are the source's own table."""

    id: int
    platform: str
    kind: str
    account: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    # Before a source's first successful poll: when the daemon first tried to poll it. A source
    # whose first polls failed must still read everything published since then.
    watching_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    message: str
    details: tuple[str, ...] = ()


class Connector(abc.ABC):
    """Base class for platform connectors.

    Subclasses declare `platform`, the source `kinds` they can poll, the moderation actions each
    kind of item allows (`supports`, with `refusals` saying why not for the others) and the
    credential names they need, then implement `fetch`, `check` and a `do_<action>` method for
    each action they support.
    """

    platform: ClassVar[str]
    # How people know the platform, in messages ("Facebook", "X").
    title: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]]
    # What each kind of item this connector yields allows, e.g. {"comment": ("hide", "delete")}.
    # Declare only what `act` really carries out: the console and alerts offer exactly these.
    supports: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # Why an action is not offered, in words a member of staff can act on (what to do instead).
    # Keyed by (action, item kind), by item kind or by action, looked up in that order.
    refusals: ClassVar[Mapping[str | tuple[str, str], str]] = {}
    # Every action some kind of item allows; derived from `supports`, never declared.
    actions: ClassVar[tuple[str, ...]] = ()
    # Names of the secrets this connector can use, e.g. ("access_token",) ...
    credentials: ClassVar[tuple[str, ...]] = ()
    # ... and those it cannot work without: the config check names any that are missing.
    required_credentials: ClassVar[tuple[str, ...]] = ()
    # What one read costs, in US dollars, by resource kind ("post", "user"), on pay-per-read
    # APIs; a resource is charged once per UTC day however often it is read (`Page.charged`).
    read_prices: ClassVar[Mapping[str, float]] = {}
    # Why this platform cannot list an account's followers, in words for IT; None for a
    # connector that implements `fetch_followers` (it then polls the "followers" kind).
    followers_refusal: ClassVar[str | None] = None
    # The most followers one page can hold, for a connector that lists them.
    followers_page_max: ClassVar[int] = 0
    # Why this platform cannot look an account up by its handle; None for a connector that
    # implements `lookup_account`.
    lookup_refusal: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if (cls.fetch_followers is Connector.fetch_followers
                and "followers_refusal" not in cls.__dict__):
            cls.followers_refusal = FOLLOWERS_REFUSAL.format(title=cls.title or cls.platform)
        if (cls.lookup_account is Connector.lookup_account
                and "lookup_refusal" not in cls.__dict__):
            cls.lookup_refusal = LOOKUP_REFUSAL.format(title=cls.title or cls.platform)
        # A typo in a declaration would silently offer nothing (or something unknown): refuse
        # it when the class is defined, not when a DSL presses the button.
        for kind, actions in cls.supports.items():
            unknown = [a for a in actions if a not in ACTIONS]
            if kind not in ITEM_KINDS or unknown:
                raise TypeError(f"{cls.__name__}.supports: unknown item kind or action in "
                                f"{kind!r}: {actions!r}")
            missing = [a for a in actions if not callable(getattr(cls, f"do_{a}", None))]
            if missing:
                raise TypeError(f"{cls.__name__} declares {', '.join(missing)} on {kind} "
                                f"without a do_ method for it")
        cls.actions = tuple(a for a in ACTIONS
                            if any(a in actions for actions in cls.supports.values()))

    @classmethod
    def supported_actions(cls, item_kind: str) -> tuple[str, ...]:
        """The moderation actions this platform allows on a kind of item, in the order hide,
        unhide, delete, block, mute."""
        allowed = cls.supports.get(item_kind, ())
        return tuple(action for action in ACTIONS if action in allowed)

    @classmethod
    def unsupported_reason(cls, action: str, item_kind: str) -> str | None:
        """Why `action` cannot be done to a kind of item here; None when it can."""
        if action not in ACTIONS:
            return f"'{action}' is not a moderation action (they are: {', '.join(ACTIONS)})"
        if action in cls.supported_actions(item_kind):
            return None
        for key in ((action, item_kind), item_kind, action):
            if key in cls.refusals:
                return cls.refusals[key]
        return f"{cls.title or cls.platform} cannot {action} a {item_kind} from here"

    @classmethod
    def refusal(cls, action: str, item: Item) -> str | None:
        """Why `action` cannot be done to this item, judged from what was stored about it (no
        network); None when it can be tried. Connectors add what depends on the item itself,
        such as an author the platform did not name."""
        return cls.unsupported_reason(action, item.kind)

    @classmethod
    def offered_actions(cls, item: Item) -> tuple[str, ...]:
        """The actions worth offering on this item: supported for its kind and not refused."""
        return tuple(action for action in cls.supported_actions(item.kind)
                     if cls.refusal(action, item) is None)

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        self.settings = dict(settings)
        self.secrets = dict(secrets)

    @abc.abstractmethod
    def fetch(self, source: SourceSpec, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        """Yield pages of new items after `cursor`; the final page has `last=True`."""

    @abc.abstractmethod
    def check(self) -> CheckResult:
        """A cheap probe: are the credentials valid and the permissions present?"""

    def fetch_followers(self, source: SourceSpec, *, page_token: str | None = None,
                        size: int | None = None) -> FollowerPage:
        """One page of the account's followers, newest follower first, starting at `page_token`
        (None: the newest) and holding at most `size` (None: `followers_page_max`).

        One page per call, so the caller decides whether to read on: a sync stops at the page
        that reaches followers it already knows, or before a page its budget cannot pay for,
        and what lies below is never read (nor paid for)."""
        raise ConfigError(self.followers_refusal or f"{self.title} cannot list followers")

    def follower_count(self, source: SourceSpec) -> int:
        """How many followers the account has now, as the platform counts them (to estimate
        what a full sync reads before it starts)."""
        raise ConfigError(self.followers_refusal or f"{self.title} cannot list followers")

    def lookup_account(self, handle: str) -> Author | None:
        """The account that has this handle now (its platform id, current handle and name), or
        None when the platform says there is no such account. Raises a `ConnectorError` when
        the question could not be answered (network, credentials)."""
        raise ConfigError(self.lookup_refusal or f"{self.title} cannot look accounts up")

    def act(self, action: str, item: Item) -> ActionResult:
        """Carry out a moderation action on an item this connector fetched. An action the
        platform does not allow on it is refused with the reason, before anything is sent."""
        reason = self.refusal(action, item)
        if reason is not None:
            return ActionResult(False, reason)
        return getattr(self, f"do_{action}")(item)


def checked_base_url(url: str) -> str:
    """An API base URL we may send a token to: https anywhere, plain http only to this machine
    (a local server replaying recordings). Returned without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url.rstrip("/")
    raise ConfigError(f"refusing API base URL {url!r}: use https (plain http only to localhost)")
