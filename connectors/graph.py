"""What the Facebook and Instagram connectors share: the Graph API client, its errors, its paging,
and the cursor both keep (`Watermark`).

Both platforms are reached through facebook-sdk's `facebook.GraphAPI`. Its quirks stay in here:

- It refuses any Graph version newer than 3.1 at construction, so `GraphAPI` is built with the
  SDK's default and then given the version we mean (every path the SDK builds uses `.version`).
- It sends every request to the module-level `FACEBOOK_GRAPH_URL`. `GraphAPI.request` is
  overridden to use this client's own `base_url`, so two connectors in one process can talk to
  two different servers and nothing global is ever changed.
- It ignores the HTTP status, trusts the Content-Type (Graph has answered JSON as
  `text/javascript`), crashes on a missing Content-Type and drops the response headers, where
  Meta says how long a rate limit lasts. The override keeps the last response, reads the body as
  JSON whatever its type, and turns a 5xx or an unreadable body into our own errors.

Every request has a total deadline (`deadline`, 60 s by default), not only a timeout per socket
read: a server dripping its answer cannot hold a poll for longer (connectors/http.py).

Errors leave this module only as `connectors.base` errors: see `graph_error`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import facebook
import requests

from connectors import formats
from connectors.base import (
    ActionResult,
    AuthError,
    CheckResult,
    ConfigError,
    ConnectorError,
    Item,
    Page,
    PayloadError,
    RetryableError,
    checked_base_url,
)
from connectors.http import DeadlineExceeded, deadline_session

log = logging.getLogger(__name__)

# v21.0 is retired on 21 January 2027; v25.0 (February 2026) is supported until July 2028.
DEFAULT_API_VERSION = "v25.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_TIMEOUT = 30.0
# Seconds one whole request may take, connecting and reading included.
DEFAULT_DEADLINE = 60.0
DEFAULT_MAX_PAGES = 10
DEFAULT_LOOKBACK_DAYS = 14
PAGE_SIZE = 50
# Graph can show a comment a little after its created_time; re-reading this much behind the
# newest item seen (and dropping what was already read) means such a comment is not missed.
OVERLAP_SECONDS = 300
# Graph's times count whole seconds, and a comment can show a moment after its created_time. A
# post's comments read less than this long after its updated_time may lack one stamped with that
# same time, which moves nothing when it shows: such a post is read again on the next poll, until
# a read began this long after its updated_time (see `settled`).
SETTLE_SECONDS = 10

# Headers in which Meta reports usage; the business use case one says, in minutes, when a
# throttled token may call again (`estimated_time_to_regain_access`).
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage")

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
TOKEN_CODES = frozenset({102, 190})
BAD_REQUEST_CODES = frozenset({100, 803})
TRANSIENT_CODES = frozenset({1, 2})

# Why a token dies (code 190's subcode), in words for the person who has to make a new one.
TOKEN_SUBCODES = {
    458: "the app was removed from the account that made the token",
    459: "the account that made the token is locked until its owner logs in to Facebook",
    460: "the password of the account that made the token was changed",
    463: "the token has expired",
    464: "the account that made the token is not confirmed",
    467: "the token is no longer valid (its owner logged out, or a newer token replaced it)",
    492: "the person who made the token no longer has a role on the Page",
}

# What each permission lets Hall Monitor do, for check() reports and permission errors.
PERMISSIONS = {
    "pages_show_list": "find the school's Page among those you manage",
    "pages_read_engagement": "read the Page's posts and the comments on them",
    "pages_read_user_content": "read what parents and the public write on the Page (comments "
                               "with their authors, visitor posts, tags and reviews)",
    "pages_manage_engagement": "hide, unhide and delete comments",
    "pages_manage_posts": "remove posts that visitors leave on the Page",
    "instagram_basic": "read the Instagram account and its posts",
    "instagram_manage_comments": "read, hide and delete comments on the Instagram posts",
    "business_management": "reach a Page owned through a Meta business portfolio",
}

_PERMISSION_NAME = re.compile(
    r"\b((?:pages|instagram|business|read|publish|manage|ads)_[a-z_]*[a-z])\b")
_FEATURE_NAME = re.compile(r"'([A-Z][A-Za-z ]+)' feature")
_VERSION = re.compile(r"^v?(\d{1,2})\.(\d)$")


def api_version(value: Any) -> str:
    """'v25.0' from 'v25.0', '25.0' or 25.0; anything else is a ConfigError."""
    match = _VERSION.match(str(value).strip())
    if not match:
        raise ConfigError(f"api_version {value!r} is not a Graph API version such as "
                          f"{DEFAULT_API_VERSION!r}")
    return f"v{match[1]}.{match[2]}"


def _finite(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def positive_number(settings: Mapping[str, Any], name: str, default: float) -> float:
    value = settings.get(name, default)
    if not _finite(value) or value <= 0:
        raise ConfigError(f"setting {name!r} must be a positive number, not {value!r}")
    return float(value)


def poll_limits(settings: Mapping[str, Any]) -> tuple[float, int]:
    """(lookback_days, max_pages) from a source's settings, checked."""
    return (positive_number(settings, "lookback_days", DEFAULT_LOOKBACK_DAYS),
            int(positive_number(settings, "max_pages", DEFAULT_MAX_PAGES)))


# --- the SDK client -----------------------------------------------------------------------------

class GraphAPI(facebook.GraphAPI):
    """facebook-sdk's client with a current Graph version, our own base URL, and its responses
    (status and headers) kept for error handling."""

    def __init__(self, access_token: str, *, version: str, base_url: str,
                 timeout: float = DEFAULT_TIMEOUT, app_secret: str = "",
                 session: requests.Session | None = None) -> None:
        # Built with the SDK's default version: it would refuse anything past 3.1.
        super().__init__(access_token=access_token, timeout=timeout, session=session)
        self.version = api_version(version)
        self.base_url = checked_base_url(base_url)
        self.app_secret = app_secret
        self.last_response: requests.Response | None = None

    def _auth(self) -> dict[str, str]:
        auth = {"access_token": self.access_token}
        if self.app_secret:
            # Apps set to "require app secret" refuse calls without this proof of the secret.
            auth["appsecret_proof"] = hmac.new(
                self.app_secret.encode(), self.access_token.encode(), hashlib.sha256).hexdigest()
        return auth

    def request(self, path: str, args: Mapping[str, Any] | None = None,
                post_args: Mapping[str, Any] | None = None, files: Any = None,
                method: str | None = None) -> Any:
        """The SDK's request, sent to `base_url`; raises `facebook.GraphAPIError` for a Graph
        error body as the SDK does, `RetryableError`/`PayloadError` for what the SDK misreads."""
        params = dict(args or {})
        data = dict(post_args) if post_args is not None else None
        if data is not None:
            method = "POST"
        # As the SDK does: the token goes with the form of a POST, in the query otherwise.
        if "access_token" not in (data if data is not None else params):
            (data if data is not None else params).update(self._auth())
        response = self.session.request(
            method or "GET", f"{self.base_url}/{path.lstrip('/')}", params=params, data=data,
            files=files, timeout=self.timeout, proxies=self.proxies)
        self.last_response = response
        body = _decoded(response)
        if isinstance(body, Mapping) and body.get("error"):
            raise facebook.GraphAPIError(dict(body))
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"Graph API answered HTTP {response.status_code}",
                                 retry_after=usage_retry_after(response.headers))
        if response.status_code >= 400:
            raise PayloadError(f"Graph API answered HTTP {response.status_code} without an error")
        return body


def _decoded(response: requests.Response) -> Any:
    status = response.status_code
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        pass
    kind = response.headers.get("Content-Type", "no content type").split(";")[0]
    what = "an empty body" if not response.content else f"a body that is not JSON ({kind})"
    if status >= 500 or status == 429:
        raise RetryableError(f"Graph API answered HTTP {status} with {what}",
                             retry_after=usage_retry_after(response.headers))
    raise PayloadError(f"Graph API answered HTTP {status} with {what}")


# --- errors -------------------------------------------------------------------------------------

def usage_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds until a throttled token may call again, from Meta's usage headers (the
    `estimated_time_to_regain_access` they give in minutes) or a Retry-After header."""
    waits: list[float] = []
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            waits += [minutes * 60.0 for minutes in _regain_minutes(json.loads(raw))]
        except ValueError:
            log.debug("unreadable %s header: %r", name, raw)
    retry_after = headers.get("Retry-After", "")
    if retry_after.strip().isdigit():
        waits.append(float(retry_after))
    waits = [wait for wait in waits if wait > 0]
    return max(waits) if waits else None


def _regain_minutes(value: Any) -> Iterator[float]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "estimated_time_to_regain_access" and isinstance(inner, int | float):
                yield float(inner)
            else:
                yield from _regain_minutes(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _regain_minutes(inner)


def permissions_named(message: str) -> list[str]:
    """Permission and feature names a Graph error message mentions, in order, once each."""
    names = _PERMISSION_NAME.findall(message) + [f"the '{feature}' feature"
                                                 for feature in _FEATURE_NAME.findall(message)]
    return list(dict.fromkeys(names))


def explain_permission(name: str) -> str:
    purpose = PERMISSIONS.get(name)
    return f"{name} (needed to {purpose})" if purpose else name


def graph_error(exc: facebook.GraphAPIError, headers: Mapping[str, str], *,
                label: str = "Meta") -> ConnectorError:
    """Our error for a Graph API error body, by its code."""
    error = exc.result.get("error") if isinstance(exc.result, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else -1
    subcode = error.get("error_subcode")
    message = str(error.get("message") or exc)
    said = f"{message} (code {code}{f', subcode {subcode}' if subcode else ''})"
    if code in TOKEN_CODES:
        why = TOKEN_SUBCODES.get(subcode, "the token was revoked or is no longer valid")
        return AuthError(f"{label} access token expired or revoked: {why}. Make a new Page "
                         f"access token and update the credential. {label} said: {said}")
    if code in RATE_LIMIT_CODES or 80000 <= code <= 80099:
        return RetryableError(f"{label} rate limit reached: {said}",
                              retry_after=usage_retry_after(headers))
    if code == 10 or 200 <= code <= 299:
        named = permissions_named(message)
        lacking = (", ".join(explain_permission(name) for name in named)
                   if named else "a permission it needs")
        return AuthError(f"the {label} token lacks {lacking}. Grant it to the app and make a "
                         f"new Page access token. {label} said: {said}")
    if code in BAD_REQUEST_CODES:
        named = permissions_named(message)
        hint = (f" If the account id is right, the token may lack "
                f"{', '.join(explain_permission(name) for name in named)}." if named else "")
        return ConfigError(f"{label} refused the request: check the account id and settings."
                           f"{hint} {label} said: {said}")
    if code in TRANSIENT_CODES or error.get("is_transient"):
        return RetryableError(f"{label} had a temporary problem: {said}",
                              retry_after=usage_retry_after(headers))
    return ConnectorError(f"{label} Graph API error: {said}")


# --- our client ---------------------------------------------------------------------------------

@dataclass(slots=True)
class GraphPage:
    """One page of a Graph listing. `resume` is the query that reads on after it (the `after`
    cursor, or `until` and `__paging_token` for time-paged edges), None on the last page;
    `more` says the listing went on beyond it."""

    objects: list[Any]
    more: bool
    resume: dict[str, str] | None = None


class GraphClient:
    """Calls through the SDK with every failure turned into a `connectors.base` error."""

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str], *,
                 label: str, token_name: str = "page_access_token") -> None:
        token = secrets.get(token_name, "")
        if not token:
            raise ConfigError(f"{label} needs the credential '{token_name}'")
        self.label = label
        self.secrets = dict(secrets)
        self.deadline = positive_number(settings, "deadline", DEFAULT_DEADLINE)
        self.session = deadline_session(self.deadline)
        self.api = GraphAPI(
            token,
            version=settings.get("api_version", DEFAULT_API_VERSION),
            base_url=str(settings.get("base_url", DEFAULT_BASE_URL)),
            timeout=positive_number(settings, "timeout", DEFAULT_TIMEOUT),
            app_secret=secrets.get("app_secret", ""),
            session=self.session,
        )
        # The account's own, which a source's settings may override for its polls.
        self.limits = (self.api.timeout, self.deadline)

    def use_limits(self, settings: Mapping[str, Any]) -> None:
        """Apply a source's own `timeout` and `deadline`, where it sets them."""
        self.api.timeout = positive_number(settings, "timeout", self.limits[0])
        deadline = positive_number(settings, "deadline", self.limits[1])
        if deadline != self.deadline:
            self.deadline = deadline
            deadline_session(deadline, self.session)

    def _path(self, *parts: str) -> str:
        return "/".join([self.api.version, *parts])

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.api.last_response = None
        try:
            return fn(*args, **kwargs)
        except ConnectorError:
            raise
        except facebook.GraphAPIError as exc:
            response = self.api.last_response
            headers = response.headers if response is not None else {}
            raise graph_error(exc, headers, label=self.label) from None
        except DeadlineExceeded:
            raise RetryableError(f"{self.label} sent no complete answer within "
                                 f"{self.deadline:g}s (timed out)") from None
        except requests.Timeout:
            raise RetryableError(f"{self.label} did not answer within {self.api.timeout:g}s "
                                 "(timed out)") from None
        except requests.ConnectionError:
            # Never the exception's text: it carries the URL, and the URL carries the token.
            raise RetryableError(f"could not connect to {self.api.base_url}") from None
        except requests.RequestException as exc:
            raise RetryableError(f"request to {self.api.base_url} failed "
                                 f"({type(exc).__name__})") from None

    def answered_at(self) -> int | None:
        """When Graph sent its last answer, by its own clock (the `Date` header, Unix seconds),
        or None when it did not say."""
        response = self.api.last_response
        stamp = response.headers.get("Date") if response is not None else None
        try:
            moment = parsedate_to_datetime(stamp) if stamp else None
        except (TypeError, ValueError):
            return None
        return unix(moment if moment.tzinfo else moment.replace(tzinfo=UTC)) if moment else None

    def get(self, node: str, **params: Any) -> Mapping[str, Any]:
        body = self._call(self.api.get_object, node, **params)
        if not isinstance(body, Mapping):
            raise PayloadError(f"{self.label} answered {node} with something not a JSON object")
        return body

    def post(self, node: str, **data: Any) -> Any:
        """POST /{node} (hide, unhide): the SDK's request with form data."""
        return self._call(self.api.request, self._path(node), post_args=data)

    def post_edge(self, node: str, edge: str, **data: Any) -> Any:
        return self._call(self.api.put_object, node, edge, **data)

    def delete(self, node: str) -> Any:
        return self._call(self.api.delete_object, node)

    def walk(self, node: str, edge: str, params: Mapping[str, Any], *, max_pages: int,
             start: Mapping[str, str] | None = None) -> Iterator[GraphPage]:
        """The pages of GET /{node}/{edge}, following `paging.cursors.after` or `paging.next`,
        from the first page or from `start` (a page's `resume` from an earlier walk).

        Stops after `max_pages` (the last page yielded then has `more=True` and a `resume`), or
        if Graph hands back a cursor it gave before (it has been known to loop): that page is
        then treated as the last, since following the loop would never end.
        """
        args = {**params, **(start or {})}
        given: set[str] = set()
        for number in range(1, max_pages + 1):
            body = self._call(self.api.get_connections, node, edge, **args)
            objects, after = formats.graph_page(body)
            following = _next_args(body, after, params)
            marker = (after or json.dumps(sorted(following.items()))) if following else ""
            if marker and marker in given:
                log.warning("%s/%s: Graph repeated a paging cursor; stopping there", node, edge)
                following = None
            given.add(marker)
            yield GraphPage(objects, more=following is not None,
                            resume=_changed(following, params) if following else None)
            if following is None:
                return
            args = following
            if number == max_pages:
                log.info("%s/%s: stopped after max_pages=%d pages; the rest is read next time",
                         node, edge, max_pages)


def _changed(following: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, str]:
    """The part of a next-page query that differs from the first page's: what to keep to read
    on from there later."""
    return {key: str(value) for key, value in following.items()
            if key not in params or str(params[key]) != str(value)}


def _next_args(body: Mapping[str, Any], after: str | None,
               params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The query of the next page, or None on the last one.

    Built from `paging.next` but sent to our own base URL, as the SDK's get_all_connections does:
    the token Graph echoes there is dropped (ours is added again) and the host is never used.
    """
    paging = body.get("paging")
    following = paging.get("next") if isinstance(paging, Mapping) else None
    if not isinstance(following, str) or not following:
        return None
    query = {key: value for key, value in parse_qsl(urlsplit(following).query)
             if key not in ("access_token", "appsecret_proof")}
    args = {**params, **query}
    if after:
        args["after"] = after
    return args


# --- cursors ------------------------------------------------------------------------------------

def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def settled(changed_at: int, read_at: int) -> bool:
    """Whether a read that began at `read_at` saw everything stamped up to `changed_at`: it began
    at least SETTLE_SECONDS later, so nothing Graph stamps with that time can still appear."""
    return read_at >= changed_at + SETTLE_SECONDS


@dataclass
class Stream:
    """A listing read part-way: what it was asked from and where it stopped.

    `since` is the watermark when the read began: items older than `since - OVERLAP_SECONDS`
    are not new to it (and for edges that take `since`, that is the `since` it asks with).
    `page` is the query of the next page (`after`, or `until` and `__paging_token`). `mark`
    is, on Instagram, the post's comments_count when the read began; on Facebook, the created
    time of the newest comment read on it so far.
    """

    node: str
    since: int
    page: dict[str, str] = field(default_factory=dict)
    mark: Any = None

    @property
    def floor(self) -> int:
        return self.since - OVERLAP_SECONDS

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "since": self.since, "page": dict(self.page)}
        if self.mark is not None:
            out["mark"] = self.mark
        return out

    @classmethod
    def from_json(cls, value: Any) -> Stream | None:
        if not isinstance(value, Mapping) or not _finite(value.get("since")):
            return None
        page = value.get("page")
        if not isinstance(value.get("node"), str) or not isinstance(page, Mapping):
            return None
        return cls(value["node"], int(value["since"]),
                   {str(k): str(v) for k, v in page.items()}, value.get("mark"))


@dataclass
class Watermark:
    """The cursor of a Graph source.

    - `since`: the created time (Unix seconds) of the newest item read. A read asks for items
      from `floor` (since minus OVERLAP_SECONDS), so an item Graph shows a little late is not
      missed, and drops those in `seen`, so none is yielded twice.
    - `seen`: the ids read near `since` (and, while a stream is open, near its `since`).
    - `posts`: per post, what it looked like when its comments were last read to the end
      (Facebook: its updated_time; Instagram: its comments_count). A post that has not changed
      is not read again, so a quiet poll costs only the listing of posts. A Facebook post is
      entered only once a read began SETTLE_SECONDS after its updated_time (`settled`): a
      comment in the same second as the read moves nothing, so until then it is read again. An
      Instagram post whose count rose while its read found nothing new holds
      `{"count": n, "read_again": true}`, which equals no count: it is read once more.
    - `long`: per post whose comments last took more than one page to read (a burst), the
      created time of the newest one read. Its next read starts there rather than at `floor`,
      so a burst is not read through again to find the few comments after it.
    - `open`: streams cut off by `max_pages`, keyed by post (comments) or by listing segment,
      each with the paging query to read on from. They are finished on later polls, whatever
      the watermark has moved to meanwhile, so a burst of any size is read once, a part each
      poll, and nothing is skipped.

    Every page's progress is a cursor to resume from: `snapshot()` keeps `since` where the poll
    began but knows every item read so far (so none is yielded again), every post finished and
    where each cut-off stream stopped. Only the last page's `cursor()` moves `since`.
    """

    since: int
    seen: dict[str, int] = field(default_factory=dict)
    posts: dict[str, Any] = field(default_factory=dict)
    long: dict[str, int] = field(default_factory=dict)
    open: dict[str, Stream] = field(default_factory=dict)
    read: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: Mapping[str, Any] | None, *, first_since: int) -> Watermark:
        """The cursor to start from: the saved progress of an interrupted poll (`resume`,
        which the daemon adds) when it is readable, else the cursor itself."""
        cursor = cursor if isinstance(cursor, Mapping) else {}
        resume = cursor.get("resume")
        if isinstance(resume, Mapping) and _finite(resume.get("since")):
            cursor = resume
        since = cursor.get("since")
        if not _finite(since):
            if cursor:
                log.warning("ignoring unreadable cursor %r; starting afresh", dict(cursor))
            return cls(since=first_since)
        return cls(since=int(since), seen=_times(cursor.get("seen")),
                   posts=dict(cursor["posts"]) if isinstance(cursor.get("posts"), Mapping)
                   else {},
                   long=_times(cursor.get("long")),
                   open=_streams(cursor.get("open")))

    @property
    def floor(self) -> int:
        return self.since - OVERLAP_SECONDS

    def newest(self) -> int:
        return max([self.since, *self.read.values()])

    def known(self, item: Item) -> bool:
        return item.external_id in self.seen or item.external_id in self.read

    def fresh(self, items: Iterable[Item], floor: int | None = None) -> list[Item]:
        """The items not read before and not older than `floor` (the watermark's own unless
        given), now counted as read."""
        floor = self.floor if floor is None else floor
        out = []
        for item in items:
            when = unix(item.created_at)
            if when < floor or self.known(item):
                continue
            self.read[item.external_id] = when
            out.append(item)
        return out

    def cut(self, stream: Stream, key: str | None = None) -> None:
        """Remember a stream cut off part-way, to read on from `stream.page` next time."""
        self.open[key or stream.node] = stream

    def close(self, key: str) -> None:
        self.open.pop(key, None)

    def new_key(self, node: str) -> str:
        """A key for one more open stream on `node` (a listing may have several)."""
        number = 1
        while f"{node}#{number}" in self.open:
            number += 1
        return f"{node}#{number}"

    def streams_of(self, node: str) -> list[tuple[str, Stream]]:
        return [(key, stream) for key, stream in self.open.items() if stream.node == node]

    def snapshot(self) -> dict[str, Any]:
        """The progress of a page that is not the last: resume here and lose nothing."""
        return self._json(self.since, {**self.seen, **self.read})

    def cursor(self) -> dict[str, Any]:
        """The cursor after this poll: the final page's progress."""
        newest = self.newest()
        keep_from = min([newest, *(s.since for s in self.open.values())]) - OVERLAP_SECONDS
        known = {**self.seen, **self.read}
        return self._json(newest, {key: when for key, when in known.items()
                                   if when >= keep_from})

    def _json(self, since: int, seen: Mapping[str, int]) -> dict[str, Any]:
        out: dict[str, Any] = {"since": since, "seen": dict(sorted(seen.items()))}
        if self.posts:
            out["posts"] = dict(sorted(self.posts.items()))
        if self.long:
            out["long"] = dict(sorted(self.long.items()))
        if self.open:
            out["open"] = {key: stream.to_json() for key, stream in self.open.items()}
        return out


def _times(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(key): int(when) for key, when in value.items() if _finite(when)}


def _streams(value: Any) -> dict[str, Stream]:
    if not isinstance(value, Mapping):
        return {}
    streams = {str(key): Stream.from_json(stream) for key, stream in value.items()}
    return {key: stream for key, stream in streams.items() if stream is not None}


def first_since(now: datetime, lookback_days: float) -> int:
    return unix(now) - int(lookback_days * 86400)


def marked_pages(batches: Iterable[list[Item]], mark: Watermark) -> Iterator[Page]:
    """Pages of the non-empty batches. Each page's progress is taken when its batch is read
    (`snapshot`); the last carries the new cursor."""
    held: tuple[list[Item], dict[str, Any]] | None = None
    for items in batches:
        if not items:
            continue
        progress = mark.snapshot()
        if held is not None:
            yield Page(held[0], progress=held[1], last=False)
        held = (items, progress)
    yield Page(held[0] if held else [], progress=mark.cursor(), last=True)


def read_stream(client: GraphClient, stream: Stream, edge: str, params: Mapping[str, Any], *,
                max_pages: int, gone_ok: bool = False) -> Iterator[GraphPage]:
    """The pages of a stream, from where it stopped (`stream.page`) or from its start.

    Graph may refuse a paging query it gave long ago (the item it points at was deleted): the
    stream is then read again from its start, and what was read before is dropped as seen.
    With `gone_ok`, a post that no longer exists ends its stream instead of failing the poll.
    """
    start = stream.page or None
    try:
        pages = client.walk(stream.node, edge, params, max_pages=max_pages, start=start)
        first = next(pages, None)
    except ConfigError as exc:
        if start is None:
            if gone_ok:
                log.warning("%s: no longer readable (%s); its unread part is dropped",
                            stream.node, exc)
                return
            raise
        log.warning("%s/%s: Graph refused the saved paging cursor (%s); reading it again "
                    "from its start", stream.node, edge, exc)
        stream.page = {}
        yield from read_stream(client, stream, edge, params, max_pages=max_pages,
                               gone_ok=gone_ok)
        return
    if first is None:
        return
    yield first
    yield from pages


def newest_first(client: GraphClient, mark: Watermark, node: str, edge: str,
                 params: Mapping[str, Any], parse: Callable[[Any], Item], *, max_pages: int,
                 asks_since: bool = True) -> Iterator[list[Item]]:
    """A newest-first listing of `node`: what is new at the top, then any older part a burst
    left unread on earlier polls.

    Each stream is read down to its floor, or to a page of items all read before (what lies
    below was read then), or until `max_pages` cuts it off, and then kept in `mark` to carry on
    from. Edges that take `since` (`asks_since`) are asked from the stream's floor.
    """
    backlog = mark.streams_of(node)
    streams = [(mark.new_key(node), Stream(node, mark.since)), *backlog]
    for key, stream in streams:
        query = {**params, "since": stream.floor} if asks_since else params
        for page in read_stream(client, stream, edge, query, max_pages=max_pages):
            items = [parse(obj) for obj in page.objects]
            reached = (any(unix(item.created_at) < stream.floor for item in items)
                       or bool(items) and all(mark.known(item) for item in items))
            if page.resume is not None and not reached:
                mark.cut(Stream(stream.node, stream.since, page.resume), key)
            else:
                mark.close(key)
            yield mark.fresh(items, stream.floor)
            if reached:
                break


# --- check() ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What /debug_token says of a token; `scopes` is None when Meta would not say."""

    scopes: frozenset[str] | None
    kind: str = ""
    expires_at: int | None = None
    data_access_expires_at: int | None = None


def token_info(client: GraphClient) -> TokenInfo:
    """The token's granted permissions and expiry, from /debug_token, else /me/permissions."""
    secrets = client.secrets
    args: dict[str, Any] = {"input_token": client.api.access_token}
    if secrets.get("app_id") and secrets.get("app_secret"):
        # An app token may debug any of the app's tokens; a token debugging itself may not
        # always be allowed.
        args["access_token"] = f"{secrets['app_id']}|{secrets['app_secret']}"
    try:
        body = client._call(client.api.request, client._path("debug_token"), args)
        data = body.get("data") if isinstance(body, Mapping) else None
        if isinstance(data, Mapping) and isinstance(data.get("scopes"), list):
            return TokenInfo(
                scopes=frozenset(str(scope) for scope in data["scopes"]),
                kind=str(data.get("type", "")),
                expires_at=_int_or_none(data.get("expires_at")),
                data_access_expires_at=_int_or_none(data.get("data_access_expires_at")),
            )
    except RetryableError:
        raise  # not a refusal: the check cannot go on
    except ConnectorError as exc:
        log.info("debug_token refused (%s); trying /me/permissions", exc)
    try:
        body = client._call(client.api.request, client._path("me", "permissions"))
        rows = body.get("data") if isinstance(body, Mapping) else None
        if isinstance(rows, list):
            return TokenInfo(scopes=frozenset(
                str(row.get("permission")) for row in rows
                if isinstance(row, Mapping) and row.get("status") == "granted"))
    except RetryableError:
        raise
    except ConnectorError as exc:
        log.info("/me/permissions refused (%s)", exc)
    return TokenInfo(scopes=None)


def _int_or_none(value: Any) -> int | None:
    return int(value) if _finite(value) else None


def token_notes(info: TokenInfo, now: datetime) -> list[str]:
    """Plain-words remarks on the token's kind and lifetime."""
    notes = []
    if info.kind and info.kind.upper() != "PAGE":
        notes.append(f"this is a {info.kind.lower()} token, not a Page token: it acts as one "
                     "person and usually expires; make a Page access token instead")
    if info.expires_at == 0:
        notes.append("the token does not expire")
    elif info.expires_at:
        day = datetime.fromtimestamp(info.expires_at, UTC).date().isoformat()
        notes.append(f"the token expires on {day}: replace it with a Page token that does not "
                     "expire before then")
    if info.data_access_expires_at and info.data_access_expires_at > unix(now):
        day = datetime.fromtimestamp(info.data_access_expires_at, UTC).date().isoformat()
        notes.append(f"Meta stops data access on {day} unless the Page admin who made the "
                     "token renews it by logging in to the app")
    return notes


def permission_report(label: str, who: str, client: GraphClient, now: datetime,
                      read: tuple[str, ...], moderate: tuple[str, ...]) -> CheckResult:
    """check()'s answer: which permissions are missing and what that stops, in plain words."""
    info = token_info(client)
    notes = token_notes(info, now)
    if info.scopes is None:
        return CheckResult(True, f"{label}: connected as {who}; {label} would not list the "
                                 "token's permissions, so they were not checked",
                           tuple(notes))
    missing_read = [name for name in read if name not in info.scopes]
    missing_moderation = [name for name in moderate
                          if name not in info.scopes and name not in missing_read]
    details = tuple(
        [f"missing {explain_permission(name)}" for name in missing_read + missing_moderation]
        + notes)
    if missing_read:
        return CheckResult(False, f"{label}: connected as {who}, but the token lacks "
                                  f"{len(missing_read)} permission(s) needed to read it: "
                                  f"{', '.join(missing_read)}", details)
    if missing_moderation:
        return CheckResult(False, f"{label}: connected as {who}; reading works, but hiding and "
                                  f"deleting will fail until these are granted: "
                                  f"{', '.join(missing_moderation)}", details)
    return CheckResult(True, f"{label}: connected as {who}; all permissions granted", details)


def unreachable_or_refused(label: str, exc: ConnectorError) -> CheckResult:
    """check()'s answer when a call failed: only an AuthError blames the token."""
    if isinstance(exc, AuthError):
        return CheckResult(False, f"{label} token does not work: {exc}")
    if isinstance(exc, RetryableError):
        return CheckResult(False, f"could not reach {label}: {exc}")
    return CheckResult(False, f"{label} check failed: {exc}")


def confirmed(call: Callable[[], Any], done: str, label: str) -> ActionResult:
    """Carry out a moderation call and report it done only if Graph says `success: true`."""
    try:
        answer = call()
    except ConnectorError as exc:
        return ActionResult(False, f"{label} refused: {exc}")
    if isinstance(answer, Mapping) and answer.get("success") is True:
        return ActionResult(True, done)
    return ActionResult(False, f"{label} did not confirm it: {answer!r}")
