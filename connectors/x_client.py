"""The tweepy side of the X connector: a `tweepy.Client` pointed at our base URL, and the one
place where tweepy's and requests' exceptions become our typed errors.

tweepy 4.x writes its API host as a literal inside `BaseClient.request` ("https://api.twitter.com"
+ route); there is no attribute to override. So the client keeps tweepy's request code untouched
and gets a session that moves every request onto `base_url`. OAuth 1.0a signatures are computed
when requests prepares the request, after the move, so they sign the URL actually called. The
session also gives every request a total deadline (`connectors.http.deadline_session`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy

from connectors.base import (
    AuthError,
    ConfigError,
    ConnectorError,
    PayloadError,
    RetryableError,
)
from connectors.http import DeadlineExceeded, deadline_session

DEFAULT_BASE_URL = "https://api.x.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 60.0

# These libraries write credentials into their DEBUG messages: tweepy every request's headers
# (the bearer token), requests-oauthlib the OAuth client (consumer key and access token), oauthlib
# the parameters it signs (the same two). A daemon run with debug logging must not put school
# credentials into its log files, so their DEBUG is switched off here, where the X client is
# loaded; nothing they say at INFO or above carries a secret. A level set higher elsewhere is kept.
SECRET_LOGGERS = ("tweepy.client", "requests_oauthlib", "oauthlib")


def _silence_debug(names: tuple[str, ...]) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:  # NOTSET (0) inherits DEBUG from a verbose root
            logger.setLevel(logging.INFO)


_silence_debug(SECRET_LOGGERS)


class RebasedSession(requests.Session):
    """A session that sends every request to `base_url` (keeping path and query) and never
    waits forever: tweepy passes no timeout, and requests' default is none at all."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url if isinstance(url, str) else url.decode())
        moved = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, moved, *args, **kwargs)


class XClient(tweepy.Client):
    """`tweepy.Client` (API v2) answering as plain dicts, talking to `base_url`.

    Never `wait_on_rate_limit`: that sleeps inside the poll and holds the whole job; a 429
    becomes a `RetryableError` and the scheduler comes back after the reset instead.
    """

    def __init__(self, *, base_url: str = DEFAULT_BASE_URL, timeout: float = DEFAULT_TIMEOUT,
                 deadline: float = DEFAULT_DEADLINE, **credentials: str | None) -> None:
        super().__init__(**credentials, return_type=dict, wait_on_rate_limit=False)
        # `timeout` bounds each wait for the next bytes; `deadline` the whole request, so a
        # server dripping its answer cannot hold the poll (and its lease) for minutes.
        self.session = deadline_session(deadline, RebasedSession(base_url, timeout))


# --- errors ---------------------------------------------------------------------------------------

# HTTP status -> (our error, what it means for the school). 5xx is handled apart.
_STATUS: dict[int, tuple[type[ConnectorError], str]] = {
    400: (ConfigError, "X rejected the request as invalid (check the handle and search keywords)"),
    401: (AuthError, "X refused the credentials: the token is expired, revoked or mistyped"),
    402: (AuthError, "the X developer account has run out of API credits: add credits in the "
                     "X Developer Console"),
    403: (AuthError, "X refused access"),
    404: (ConfigError, "X does not know this account or post (deleted, or a wrong id)"),
    429: (RetryableError, "X's rate limit was reached"),
}

# X "problem" types behind a 403, and what to do about each.
_FORBIDDEN: dict[str, str] = {
    "client-forbidden": "the X app is not attached to a Project with API access: in the X "
                        "Developer Console, attach the app to a project (pay-per-use)",
    "oauth1-permissions": "the app's permissions are 'Read' only: set them to 'Read and write' "
                          "in the app's user authentication settings, then regenerate the "
                          "access token and secret",
    "unsupported-authentication": "this needs the user-context keys (consumer key and secret, "
                                  "access token and secret), not the bearer token alone",
}


def _problem(response: requests.Response | None) -> Mapping[str, Any]:
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _forbidden_reason(response: requests.Response | None) -> str:
    problem = _problem(response)
    kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
    reason = str(problem.get("reason", ""))
    for key in (kind, reason):
        if key in _FORBIDDEN:
            return _FORBIDDEN[key]
    if reason == "client-not-enrolled":
        return _FORBIDDEN["client-forbidden"]
    detail = problem.get("detail") or problem.get("title")
    return f"X refused access: {detail}" if detail else "X refused access"


def _retry_after(exc: tweepy.TooManyRequests, now: float) -> float | None:
    # tweepy reads x-rate-limit-reset (epoch seconds) for us; the scheduler wants a delay.
    if exc.reset_time is None:
        return None
    return max(1.0, exc.reset_time - now)


def translate(exc: Exception, doing: str, now: float) -> ConnectorError:
    """The typed error for anything tweepy or requests raised while `doing` something.

    Every failure to get an answer at all (refused, dropped, timed out, a server error) says
    "could not reach X", so nobody goes looking for a credential problem that is not there.
    """
    if isinstance(exc, tweepy.HTTPException):
        status = exc.response.status_code
        if status >= 500:
            return RetryableError(f"{UNREACHABLE}: server error ({status}) while {doing}")
        error, meaning = _STATUS.get(status, (ConfigError, f"X answered {status}"))
        if status == 403:
            meaning = _forbidden_reason(exc.response)
        retry_after = _retry_after(exc, now) if isinstance(exc, tweepy.TooManyRequests) else None
        return error(f"{meaning} (while {doing}; {_first_line(exc)})", retry_after=retry_after)
    if isinstance(exc, ValueError):
        # requests.JSONDecodeError is both a ValueError and a RequestException: the answer
        # arrived but was not JSON, which is the platform's glitch, not the network's.
        return PayloadError(f"X sent a response that is not JSON while {doing}")
    if isinstance(exc, DeadlineExceeded):
        return RetryableError(f"{UNREACHABLE}: {exc} while {doing}")
    if isinstance(exc, requests.Timeout):
        return RetryableError(f"{UNREACHABLE}: X did not answer in time while {doing}")
    if isinstance(exc, requests.RequestException):
        return RetryableError(f"{UNREACHABLE}: {_network_reason(exc)} while {doing}")
    return PayloadError(f"unexpected answer from X while {doing}: {exc}")


# The start of every message about X not answering at all (see `translate`).
UNREACHABLE = "could not reach X"

# What the exception text of a failed connection means, in words (first match wins).
_NETWORK_REASONS = (
    ("refused", "the connection was refused"),
    ("name or service not known", "the server's name could not be resolved"),
    ("name resolution", "the server's name could not be resolved"),
    ("getaddrinfo", "the server's name could not be resolved"),
    ("certificate", "its TLS certificate was not accepted"),
    ("ssl", "the TLS connection failed"),
    ("reset", "the connection was dropped"),
    ("aborted", "the connection was dropped"),
    ("disconnected", "the connection was dropped"),
    ("timed out", "X did not answer in time"),
)


def unreachable(exc: ConnectorError) -> bool:
    """Whether an error means X was never reached (so nothing about the credentials is known)."""
    return str(exc).startswith(UNREACHABLE)


def _network_reason(exc: requests.RequestException) -> str:
    text = str(exc).lower()
    for clue, reason in _NETWORK_REASONS:
        if clue in text:
            return reason
    return type(exc).__name__


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def x_errors(doing: str, clock: Callable[[], float] = time.time) -> Iterator[None]:
    """Wrap calls into tweepy: whatever escapes is one of our typed errors.

    TypeError, AttributeError and KeyError are included because tweepy raises them itself when
    X's answer has an unexpected shape (an error body that is a list, say). Only tweepy runs
    inside this block, never our own parsing, so no bug of ours is hidden by it.
    """
    try:
        yield
    except ConnectorError:
        raise
    except (tweepy.TweepyException, requests.RequestException, ValueError, TypeError,
            AttributeError, KeyError) as exc:
        raise translate(exc, doing, clock()) from exc
