"""What the Facebook and Instagram connectors share: the Graph API client, its errors, its paging,
and the `since` watermark both use as a cursor.

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

log = logging.getLogger(__name__)

# v21.0 is retired on 21 January 2027; v25.0 (February 2026) is supported until July 2028.
DEFAULT_API_VERSION = "v25.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_PAGES = 10
DEFAULT_LOOKBACK_DAYS = 14
PAGE_SIZE = 50
# Graph can show a comment a little after its created_time; re-reading this much behind the
# newest item seen (and dropping what was already read) means such a comment is not missed.
OVERLAP_SECONDS = 300

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
    """One page of a Graph listing; `more` says the listing went on beyond it."""

    objects: list[Any]
    more: bool


class GraphClient:
    """Calls through the SDK with every failure turned into a `connectors.base` error."""

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str], *,
                 label: str, token_name: str = "page_access_token") -> None:
        token = secrets.get(token_name, "")
        if not token:
            raise ConfigError(f"{label} needs the credential '{token_name}'")
        self.label = label
        self.secrets = dict(secrets)
        self.api = GraphAPI(
            token,
            version=settings.get("api_version", DEFAULT_API_VERSION),
            base_url=str(settings.get("base_url", DEFAULT_BASE_URL)),
            timeout=positive_number(settings, "timeout", DEFAULT_TIMEOUT),
            app_secret=secrets.get("app_secret", ""),
        )

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
        except requests.Timeout:
            raise RetryableError(f"{self.label} did not answer within {self.api.timeout:g}s "
                                 "(timed out)") from None
        except requests.ConnectionError:
            # Never the exception's text: it carries the URL, and the URL carries the token.
            raise RetryableError(f"could not connect to {self.api.base_url}") from None
        except requests.RequestException as exc:
            raise RetryableError(f"request to {self.api.base_url} failed "
                                 f"({type(exc).__name__})") from None

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

    def walk(self, node: str, edge: str, params: Mapping[str, Any], *,
             max_pages: int) -> Iterator[GraphPage]:
        """The pages of GET /{node}/{edge}, following `paging.cursors.after` or `paging.next`.

        Stops after `max_pages`, or if Graph hands back a cursor it gave before (it has been
        known to loop); either way the last page yielded then has `more=True`.
        """
        args = dict(params)
        given: set[str] = set()
        for number in range(1, max_pages + 1):
            body = self._call(self.api.get_connections, node, edge, **args)
            objects, after = formats.graph_page(body)
            following = _next_args(body, after, params)
            yield GraphPage(objects, more=following is not None)
            if following is None:
                return
            marker = after or json.dumps(sorted(following.items()))
            if marker in given:
                log.warning("%s/%s: Graph repeated a paging cursor; stopping there", node, edge)
                return
            given.add(marker)
            args = following
            if number == max_pages:
                log.warning("%s/%s: stopped after max_pages=%d pages", node, edge, max_pages)


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


@dataclass
class Watermark:
    """The cursor of a Graph source: `since` (Unix seconds), the created time of the newest item
    read, and `seen`, the ids read within OVERLAP_SECONDS of it with their times.

    A poll asks for items from `floor` (since minus the overlap) and drops those in `seen`, so it
    neither misses a late-indexed item nor yields one twice.
    """

    since: int
    seen: dict[str, int] = field(default_factory=dict)
    read: dict[str, int] = field(default_factory=dict)
    held: int | None = None

    @classmethod
    def from_cursor(cls, cursor: Mapping[str, Any] | None, *, first_since: int) -> Watermark:
        cursor = cursor if isinstance(cursor, Mapping) else {}
        since = cursor.get("since")
        if not _finite(since):
            if cursor:
                log.warning("ignoring unreadable cursor %r; starting afresh", dict(cursor))
            return cls(since=first_since)
        seen = cursor.get("seen") if isinstance(cursor.get("seen"), Mapping) else {}
        return cls(since=int(since), seen={
            str(key): int(value) for key, value in seen.items() if _finite(value)
        })

    @property
    def floor(self) -> int:
        return self.since - OVERLAP_SECONDS

    def start(self) -> dict[str, Any]:
        """The cursor this poll started from: progress of every page but the last."""
        return {"since": self.since, "seen": dict(self.seen)}

    def fresh(self, items: Iterable[Item]) -> list[Item]:
        """The items not read before, now counted as read."""
        out = []
        for item in items:
            when = unix(item.created_at)
            key = item.external_id
            if when < self.floor or key in self.seen or key in self.read:
                continue
            self.read[key] = when
            out.append(item)
        return out

    def older_than_floor(self, items: Iterable[Item]) -> bool:
        return any(unix(item.created_at) < self.floor for item in items)

    def hold(self, when: int) -> None:
        """Keep `since` at or below `when`: an oldest-first listing was cut off there."""
        self.held = when if self.held is None else min(self.held, when)

    def cursor(self) -> dict[str, Any]:
        """The cursor after this poll: the final page's progress."""
        newest = max([self.since, *self.read.values()])
        if self.held is not None:
            newest = max(self.since, min(newest, self.held))
        known = {**self.seen, **self.read}
        return {"since": newest, "seen": {
            key: when for key, when in sorted(known.items()) if when >= newest - OVERLAP_SECONDS
        }}


def first_since(now: datetime, lookback_days: float) -> int:
    return unix(now) - int(lookback_days * 86400)


def marked_pages(batches: Iterable[list[Item]], mark: Watermark) -> Iterator[Page]:
    """Pages of the non-empty batches; every page keeps the old cursor except the last, which
    carries the new one (so an interrupted poll starts again from the old one)."""
    held: list[Item] | None = None
    for items in batches:
        if not items:
            continue
        if held is not None:
            yield Page(held, progress=mark.start(), last=False)
        held = items
    yield Page(held or [], progress=mark.cursor(), last=True)


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
    except ConnectorError as exc:
        log.info("debug_token refused (%s); trying /me/permissions", exc)
    try:
        body = client._call(client.api.request, client._path("me", "permissions"))
        rows = body.get("data") if isinstance(body, Mapping) else None
        if isinstance(rows, list):
            return TokenInfo(scopes=frozenset(
                str(row.get("permission")) for row in rows
                if isinstance(row, Mapping) and row.get("status") == "granted"))
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


def confirmed(call: Callable[[], Any], done: str, label: str) -> ActionResult:
    """Carry out a moderation call and report it done only if Graph says `success: true`."""
    try:
        answer = call()
    except ConnectorError as exc:
        return ActionResult(False, f"{label} refused: {exc}")
    if isinstance(answer, Mapping) and answer.get("success") is True:
        return ActionResult(True, done)
    return ActionResult(False, f"{label} did not confirm it: {answer!r}")
