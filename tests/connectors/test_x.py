"""The X connector reading through the real tweepy.Client, with HTTP answered by `responses`
from recordings in tests/fixtures/x (never the live API)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from connectors.base import (
    AuthError,
    ConfigError,
    ConnectorError,
    PayloadError,
    RetryableError,
    SourceSpec,
)
from connectors.x import XConnector
from tests.connectors.contract import ConnectorContract

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x"
BASE = "https://api.x.com"
SCHOOL_ID = "1456789012345678901"
MENTIONS = f"/2/users/{SCHOOL_ID}/mentions"
SEARCH = "/2/tweets/search/recent"
PAGE_TOKEN = "7140dibdnow9c7btw4243pz7vv2s8m5rdkfx0l3o5oc5p"
OLDEST_SEEN = "2122000000000000000"  # a since_id older than every recorded mention
NEWEST_ON_PAGE_1 = "2122588081222729730"
NEWER = "2122963244938313732"
OLDEST_ON_PAGE_1 = "2122415665968201729"
# 2026-11-17T07:12Z: a moment just after the recorded mentions, for rate-limit arithmetic.
NOW = 1794999880.0
SETTINGS = {"handle": "OakfieldPrimary", "account": SCHOOL_ID,
            "keywords": ["Oakfield Primary", "#OakfieldPrimary"]}
BEARER = {"bearer_token": "AAAA-test-bearer"}
USER_KEYS = {"consumer_key": "ck", "consumer_secret": "cs",
             "access_token": f"{SCHOOL_ID}-at", "access_token_secret": "ats"}

Recording = dict[str, Any]
Chooser = Callable[[dict[str, str]], str]


def recording(name: str) -> Recording:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def reply_with(rec: Recording) -> tuple[int, dict[str, str], str]:
    """A recording as `responses` wants it: status, headers, body text."""
    text = rec["body_text"] if "body_text" in rec else json.dumps(rec["body"])
    return rec["status"], dict(rec.get("headers", {})), text


def query(request: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query))


def serve(rsps: responses.RequestsMock, method: str, path: str, choose: str | Chooser,
          base: str = BASE) -> None:
    """Answer `method path` with a recording, picked by name or by the request's query."""
    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        name = choose(query(request)) if callable(choose) else choose
        return reply_with(recording(name))

    rsps.add_callback(method, base + path, callback=callback)


def mentions_world(params: dict[str, str]) -> str:
    """The recorded mentions timeline, answering like X: since_id and page tokens honoured."""
    since = int(params.get("since_id", "0"))
    if since >= int(NEWER):
        return "mentions_empty"
    if since >= int(NEWEST_ON_PAGE_1):
        return "mentions_newer"
    if params.get("pagination_token") == PAGE_TOKEN:
        return "mentions_page_2"
    return "mentions_page_1"


def connector(settings: dict | None = None, secrets: dict | None = None) -> XConnector:
    built = XConnector({**SETTINGS, **(settings or {})},
                       BEARER if secrets is None else secrets)
    built.clock = lambda: NOW
    return built


def source(kind: str = "mentions") -> SourceSpec:
    return SourceSpec(7, "x", kind, SCHOOL_ID, SETTINGS)


def ids(pages) -> list[str]:
    return [item.external_id for page in pages for item in page.items]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


class TestXContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _recorded_x(self, rsps):
        serve(rsps, "GET", MENTIONS, mentions_world)

    def build(self):
        return connector(), source()


# --- polling and cursors --------------------------------------------------------------------------

def test_a_first_poll_reads_one_page_and_starts_from_its_newest_post(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    marker, *pages = connector().fetch(source(), None)
    # First, before any request, where the source started watching (see test_x_polling).
    assert marker.items == [] and not marker.last and set(marker.progress) == {"start_time"}
    assert len(pages) == 1 and pages[0].last
    assert len(ids(pages)) == 3
    assert pages[0].progress == {"since_id": NEWEST_ON_PAGE_1}
    # The older page X offered is not read: a new school is not charged for its history.
    assert len(rsps.calls) == 1
    assert "pagination_token" not in query(rsps.calls[0].request)


def test_the_first_poll_asks_for_a_small_page_with_author_thread_and_time(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    list(connector().fetch(source(), None))
    sent = query(rsps.calls[0].request)
    assert sent["max_results"] == "10"
    assert "since_id" not in sent
    assert set(sent["tweet.fields"].split(",")) >= {
        "author_id", "created_at", "conversation_id", "referenced_tweets", "in_reply_to_user_id"}
    assert sent["expansions"] == "author_id"
    assert set(sent["user.fields"].split(",")) == {"username", "name"}


def test_first_poll_limit_sets_the_size_of_the_first_page(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    list(connector({"first_poll_limit": 40}).fetch(source(), None))
    assert query(rsps.calls[0].request)["max_results"] == "40"


def test_items_carry_author_thread_parent_permalink_and_time(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    items = [item for page in connector().fetch(source(), None) for item in page.items]
    snow = items[0]
    assert snow.kind == "mention"
    assert snow.text == "@OakfieldPrimary is school open today with the snow?"
    assert snow.created_at == datetime(2026, 11, 17, 7, 10, 9, tzinfo=UTC)
    assert (snow.author.id, snow.author.handle, snow.author.name) == (
        "1623344556677889900", "lee_w_bridge", "Lee")
    assert snow.parent_id == snow.conversation_id == "2122238238520393729"
    assert snow.permalink == f"https://x.com/lee_w_bridge/status/{snow.external_id}"
    reporter = items[1]
    assert reporter.parent_id == "" and reporter.conversation_id == reporter.external_id


def test_a_later_poll_pages_down_to_the_saved_since_id(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    pages = list(connector().fetch(source(), {"since_id": OLDEST_SEEN}))
    assert [len(page.items) for page in pages] == [3, 2]
    assert [page.last for page in pages] == [False, True]
    # Until the last page is stored, resuming must start from the old since_id.
    assert pages[0].progress == {"since_id": OLDEST_SEEN, "newest_id": NEWEST_ON_PAGE_1,
                                 "oldest_id": OLDEST_ON_PAGE_1, "next_token": PAGE_TOKEN}
    assert pages[1].progress == {"since_id": NEWEST_ON_PAGE_1}
    first, second = (query(call.request) for call in rsps.calls)
    assert first["since_id"] == second["since_id"] == OLDEST_SEEN
    assert first["max_results"] == "100"
    assert second["pagination_token"] == PAGE_TOKEN


def test_the_next_poll_sends_since_id_and_reads_nothing_twice(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    x = connector()
    first = list(x.fetch(source(), {"since_id": OLDEST_SEEN}))
    second = list(x.fetch(source(), first[-1].progress))
    third = list(x.fetch(source(), second[-1].progress))
    assert query(rsps.calls[-2].request)["since_id"] == NEWEST_ON_PAGE_1
    assert ids(second) == [NEWER]
    assert not set(ids(first)) & set(ids(second))
    assert ids(third) == []
    assert third[-1].last and third[-1].progress == {"since_id": NEWER}


def test_a_poll_that_reaches_max_pages_carries_on_at_the_next_poll(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    x = connector({"max_pages": 1})
    first = list(x.fetch(source(), {"since_id": OLDEST_SEEN}))
    assert len(first) == 1 and first[0].last
    assert first[0].progress == {"since_id": OLDEST_SEEN, "newest_id": NEWEST_ON_PAGE_1,
                                 "oldest_id": OLDEST_ON_PAGE_1, "next_token": PAGE_TOKEN}
    second = list(x.fetch(source(), first[0].progress))
    assert query(rsps.calls[1].request)["pagination_token"] == PAGE_TOKEN
    assert query(rsps.calls[1].request)["since_id"] == OLDEST_SEEN
    assert len(ids(second)) == 2 and not set(ids(first)) & set(ids(second))
    assert second[-1].progress == {"since_id": NEWEST_ON_PAGE_1}


def test_a_saved_page_token_x_no_longer_accepts_restarts_from_since_id(rsps):
    def expired_token(params):
        if params.get("pagination_token") == "stale":
            return "error_400_invalid_query"
        return mentions_world(params)

    serve(rsps, "GET", MENTIONS, expired_token)
    cursor = {"since_id": OLDEST_SEEN, "newest_id": NEWEST_ON_PAGE_1, "next_token": "stale"}
    pages = list(connector().fetch(source(), cursor))
    assert len(ids(pages)) == 5
    assert pages[-1].progress == {"since_id": NEWEST_ON_PAGE_1}


def test_a_page_token_handed_back_twice_stops_the_poll(rsps):
    serve(rsps, "GET", MENTIONS, "mentions_page_1")
    with pytest.raises(PayloadError, match="twice"):
        list(connector().fetch(source(), {"since_id": OLDEST_SEEN}))
    assert len(rsps.calls) == 2


def test_a_poll_with_nothing_new_keeps_its_cursor(rsps):
    serve(rsps, "GET", MENTIONS, "mentions_empty")
    pages = list(connector().fetch(source(), {"since_id": NEWER}))
    assert len(pages) == 1 and pages[0].last
    assert pages[0].items == [] and pages[0].reads == 0
    assert pages[0].progress == {"since_id": NEWER}


def test_each_page_lists_the_posts_and_users_it_read_and_counts_them(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    pages = list(connector().fetch(source(), {"since_id": OLDEST_SEEN}))
    first = recording("mentions_page_1")["body"]
    assert pages[0].charged == (*(f"post:{t['id']}" for t in first["data"]),
                                *(f"user:{u['id']}" for u in first["includes"]["users"]))
    assert [page.reads for page in pages] == [3 + 3, 2 + 2]
    assert [page.reads for page in pages] == [len(page.charged) for page in pages]


def test_a_user_who_wrote_twice_on_one_page_is_charged_once_on_it(rsps):
    body = {"data": [{"id": "2122588081222729730", "text": "a", "author_id": "11"},
                     {"id": "2122588081222729731", "text": "b", "author_id": "11"}],
            "includes": {"users": [{"id": "11", "username": "a", "name": "A"},
                                   {"id": "11", "username": "a", "name": "A"}]},
            "meta": {"result_count": 2}}
    rsps.add("GET", BASE + MENTIONS, json=body)
    _, page = connector().fetch(source(), None)
    assert page.charged == ("post:2122588081222729730", "post:2122588081222729731", "user:11")
    assert page.reads == 3


def test_x_prices_posts_and_users_apart_and_has_no_single_price():
    assert XConnector.read_prices == {"post": 0.005, "user": 0.010}


def test_ids_are_compared_as_numbers_not_text(rsps):
    body = {"data": [{"id": "999", "text": "old style", "created_at": "2026-11-17T07:00:00.000Z"},
                     {"id": "1000", "text": "newer", "created_at": "2026-11-17T07:01:00.000Z"}],
            "meta": {"result_count": 2}}
    rsps.add("GET", BASE + MENTIONS, json=body)
    pages = list(connector().fetch(source(), None))
    assert pages[-1].progress == {"since_id": "1000"}


# --- missing and malformed data -------------------------------------------------------------------

def test_posts_missing_optional_fields_still_become_items(rsps):
    serve(rsps, "GET", MENTIONS, "mentions_missing_fields")
    suspended, bare = [item for page in connector().fetch(source(), None) for item in page.items]
    # The author was suspended: X keeps the post but drops the user, so there is no handle.
    assert suspended.author.id == "1700000000000000001" and suspended.author.handle == ""
    assert suspended.permalink == f"https://x.com/i/web/status/{suspended.external_id}"
    # Only id and text: the time comes from the id itself (X ids carry it to the millisecond).
    assert bare.created_at == datetime(2026, 11, 17, 9, 30, 15, tzinfo=UTC)
    assert bare.author.id == "" and bare.conversation_id == bare.external_id


def test_an_unreadable_created_at_is_a_payload_error(rsps):
    body = {"data": [{"id": "2122588081222729730", "text": "hi", "created_at": "yesterday"}]}
    rsps.add("GET", BASE + MENTIONS, json=body)
    with pytest.raises(PayloadError, match="timestamp"):
        list(connector().fetch(source(), None))


def test_a_post_without_time_or_snowflake_id_is_a_payload_error(rsps):
    rsps.add("GET", BASE + MENTIONS, json={"data": [{"id": "12345", "text": "ancient"}]})
    with pytest.raises(PayloadError, match="no created_at"):
        list(connector().fetch(source(), None))


@pytest.mark.parametrize("body", [
    [{"id": "1"}],
    {"data": {"id": "2122588081222729730"}},
    {"data": [{"id": "2122588081222729730", "text": "x", "referenced_tweets": 7}]},
    {"data": [{"text": "no id"}]},
])
def test_an_unexpected_shape_is_a_payload_error(rsps, body):
    rsps.add("GET", BASE + MENTIONS, json=body)
    with pytest.raises(PayloadError):
        list(connector().fetch(source(), None))


def test_malformed_json_is_a_payload_error(rsps):
    serve(rsps, "GET", MENTIONS, "mentions_not_json")
    with pytest.raises(PayloadError, match="not JSON"):
        list(connector().fetch(source(), None))


# --- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "error", "words"), [
    ("error_429_too_many_requests", RetryableError, "rate limit"),
    ("error_503_service_unavailable", RetryableError, "server error (503)"),
    ("error_401_unauthorized", AuthError, "expired, revoked or mistyped"),
    ("error_402_credits_depleted", AuthError, "run out of API credits"),
    ("error_403_client_forbidden", AuthError, "attach the app to a project"),
    ("error_403_oauth1_permissions", AuthError, "'Read and write'"),
    ("error_400_invalid_query", ConfigError, "rejected the request"),
    (requests.ConnectTimeout("connect timed out"), RetryableError, "did not answer in time"),
    (requests.ReadTimeout("read timed out"), RetryableError, "did not answer in time"),
    (requests.ConnectionError("connection reset by peer"), RetryableError, "could not reach X"),
])
def test_failures_become_typed_errors(rsps, answer, error, words):
    if isinstance(answer, Exception):
        rsps.add("GET", BASE + MENTIONS, body=answer)
    else:
        serve(rsps, "GET", MENTIONS, answer)
    with pytest.raises(error) as raised:
        list(connector().fetch(source(), None))
    assert words in str(raised.value)
    assert isinstance(raised.value, ConnectorError)


def test_a_rate_limit_says_when_to_come_back(rsps):
    serve(rsps, "GET", MENTIONS, "error_429_too_many_requests")
    with pytest.raises(RetryableError) as raised:
        list(connector().fetch(source(), None))
    # x-rate-limit-reset is 1795000000; "now" is 120 seconds before it.
    assert raised.value.retry_after == 120


def test_a_rate_limit_without_a_reset_header_leaves_the_delay_to_the_backoff(rsps):
    rsps.add("GET", BASE + MENTIONS, status=429, json={"title": "Too Many Requests"})
    with pytest.raises(RetryableError) as raised:
        list(connector().fetch(source(), None))
    assert raised.value.retry_after is None


def test_a_rate_limit_never_sleeps_inside_the_poll(rsps, monkeypatch):
    import tweepy.client

    def no_sleeping(seconds):
        raise AssertionError(f"slept {seconds}s inside a poll")

    monkeypatch.setattr(tweepy.client.time, "sleep", no_sleeping)
    serve(rsps, "GET", MENTIONS, "error_429_too_many_requests")
    with pytest.raises(RetryableError):
        list(connector().fetch(source(), None))


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_retryable(rsps, status):
    rsps.add("GET", BASE + MENTIONS, status=status, body="<html>upstream error</html>")
    with pytest.raises(RetryableError, match=f"server error \\({status}\\)"):
        list(connector().fetch(source(), None))


def test_an_error_body_that_is_not_an_object_is_still_a_typed_error(rsps):
    rsps.add("GET", BASE + MENTIONS, status=401, json=["unexpected"])
    with pytest.raises(ConnectorError):
        list(connector().fetch(source(), None))


def test_an_unknown_account_is_a_config_error(rsps):
    rsps.add("GET", BASE + MENTIONS, status=404, json={"title": "Not Found Error"})
    with pytest.raises(ConfigError, match="does not know"):
        list(connector().fetch(source(), None))


# --- replies and search ---------------------------------------------------------------------------

def test_replies_are_searched_as_replies_to_the_school_not_by_it(rsps):
    serve(rsps, "GET", SEARCH, "replies_page")
    pages = list(connector().fetch(source("replies"), None))
    sent = query(rsps.calls[0].request)
    assert sent["query"] == "to:OakfieldPrimary is:reply -from:OakfieldPrimary"
    assert sent["sort_order"] == "recency"
    items = [item for page in pages for item in page.items]
    assert {item.kind for item in items} == {"reply"}
    assert {item.parent_id for item in items} == {"2122238238520393729"}
    assert pages[-1].progress == {"since_id": items[0].external_id}


def test_search_quotes_phrases_and_leaves_out_retweets_and_the_school(rsps):
    serve(rsps, "GET", SEARCH, "search_page")
    pages = list(connector().fetch(source("search"), None))
    assert query(rsps.calls[0].request)["query"] == (
        '("Oakfield Primary" OR #OakfieldPrimary) -is:retweet -from:OakfieldPrimary')
    assert {item.kind for page in pages for item in page.items} == {"mention"}


def test_search_sends_since_id_on_later_polls(rsps):
    serve(rsps, "GET", SEARCH, "search_page")
    list(connector().fetch(source("search"), {"since_id": "2122600000000000000"}))
    sent = query(rsps.calls[0].request)
    assert sent["since_id"] == "2122600000000000000" and "next_token" not in sent


def test_search_pages_with_next_token(rsps):
    first = recording("search_page")
    first["body"]["meta"]["next_token"] = "b26v89c19zqg8o3fo7gesq314yb9l2l4ptqy8mb3afl3h"

    def callback(request):
        if query(request).get("next_token") == first["body"]["meta"]["next_token"]:
            return reply_with(recording("replies_page"))
        return reply_with(first)

    rsps.add_callback("GET", BASE + SEARCH, callback=callback)
    pages = list(connector().fetch(source("search"), {"since_id": "2122000000000000000"}))
    assert [len(page.items) for page in pages] == [2, 2]
    assert "pagination_token" not in query(rsps.calls[1].request)
    assert pages[-1].progress == {"since_id": first["body"]["meta"]["newest_id"]}


def test_a_week_old_since_id_is_dropped_because_recent_search_refuses_it(rsps):
    serve(rsps, "GET", SEARCH, "search_page")
    x = connector()
    x.clock = lambda: datetime(2026, 11, 30, tzinfo=UTC).timestamp()
    pages = list(x.fetch(source("search"), {"since_id": OLDEST_SEEN}))
    assert "since_id" not in query(rsps.calls[0].request)
    newest = recording("search_page")["body"]["meta"]["newest_id"]
    assert pages[-1].progress == {"since_id": newest}


def test_a_week_old_since_id_is_kept_for_mentions(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    x = connector()
    x.clock = lambda: datetime(2026, 11, 30, tzinfo=UTC).timestamp()
    list(x.fetch(source(), {"since_id": OLDEST_SEEN}))
    assert query(rsps.calls[0].request)["since_id"] == OLDEST_SEEN


# --- settings and credentials ---------------------------------------------------------------------

@pytest.mark.parametrize(("settings", "words"), [
    ({"base_url": "http://api.x.com"}, "refusing"),
    ({"max_pages": 0}, "max_pages"),
    ({"max_pages": 2.5}, "max_pages"),
    ({"page_size": 500}, "page_size"),
    ({"keywords": [1, 2]}, "keywords"),
    ({"timeout": "soon"}, "timeout"),
])
def test_unusable_settings_are_config_errors(settings, words):
    with pytest.raises(ConfigError, match=words):
        connector(settings)


@pytest.mark.parametrize(("kind", "settings", "words"), [
    ("replies", {"handle": ""}, "handle"),
    ("search", {"keywords": []}, "keywords"),
    ("search", {"keywords": ["Oakfield Primary School"] * 30}, "512"),
    ("comments", {}, "cannot poll"),
])
def test_a_source_its_settings_cannot_serve_is_a_config_error(kind, settings, words):
    with pytest.raises(ConfigError, match=words):
        list(connector(settings).fetch(source(kind), None))


def test_without_any_credentials_fetch_is_a_config_error():
    with pytest.raises(ConfigError, match="no X credentials"):
        list(connector(secrets={}).fetch(source(), None))


def test_it_reads_with_the_bearer_token(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    list(connector().fetch(source(), None))
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer AAAA-test-bearer"


def test_without_a_bearer_token_it_reads_as_the_school_with_user_context(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world)
    list(connector(secrets=USER_KEYS).fetch(source(), None))
    auth = rsps.calls[0].request.headers["Authorization"]
    assert auth.startswith("OAuth ") and 'oauth_consumer_key="ck"' in auth


def test_it_talks_to_the_configured_base_url(rsps):
    serve(rsps, "GET", MENTIONS, mentions_world, base="https://x-mirror.example.org/api")
    x = connector({"base_url": "https://x-mirror.example.org/api/"})
    assert len(ids(x.fetch(source(), None))) == 3
    assert rsps.calls[0].request.url.startswith("https://x-mirror.example.org/api/2/users/")


def test_debug_logging_does_not_write_the_token(rsps, caplog):
    caplog.set_level(logging.DEBUG)
    serve(rsps, "GET", MENTIONS, mentions_world)
    list(connector().fetch(source(), None))
    assert "AAAA-test-bearer" not in caplog.text
