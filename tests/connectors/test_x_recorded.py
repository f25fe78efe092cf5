"""The X connector against a real HTTP server on 127.0.0.1 (through the `base_url` setting), and
against tweepy's own recorded X API responses in ../shared when they are there."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import responses

from connectors.base import Author, Item, RetryableError, SourceSpec
from connectors.x import XConnector
from tests.conftest import SHARED_DIR, needs_shared
from tests.connectors.test_x import (
    BASE,
    BEARER,
    MENTIONS,
    NEWEST_ON_PAGE_1,
    OLDEST_SEEN,
    USER_KEYS,
    Recording,
    connector,
    mentions_world,
    recording,
    reply_with,
    source,
)
from tests.http_server import Route, answer

CASSETTES = SHARED_DIR / "fixtures" / "recorded" / "tweepy" / "decoded"
needs_cassettes = needs_shared(CASSETTES, "tweepy's recorded X API responses are")


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


# --- a real local X ---------------------------------------------------------------------------

def by_name(choose: Callable[[dict[str, str]], str]) -> Route:
    return lambda request: answer(recording(choose(request.query)))


def test_it_polls_a_real_local_server_through_base_url(local_server):
    server = local_server(routes={("GET", MENTIONS): by_name(mentions_world)})
    x = connector({"base_url": server.url})
    pages = list(x.fetch(source(), {"since_id": OLDEST_SEEN}))
    assert [len(page.items) for page in pages] == [3, 2]
    assert pages[-1].progress == {"since_id": NEWEST_ON_PAGE_1}
    first, second = server.requests
    assert first.path == MENTIONS and first.query["since_id"] == OLDEST_SEEN
    assert second.query["pagination_token"] == recording("mentions_page_1")["body"]["meta"][
        "next_token"]
    assert first.headers["Authorization"] == "Bearer AAAA-test-bearer"


def test_it_hides_a_reply_on_a_real_local_server_with_a_signed_request(local_server):
    hide = recording("hide_reply")
    path = urlsplit(hide["uri"]).path
    server = local_server(routes={("PUT", path): answer(hide)})
    x = connector({"base_url": server.url}, {**BEARER, **USER_KEYS})
    item = Item(path.split("/")[3], "mention", "", datetime.now(UTC),
                Author("1527700112233445566", "samr_1985"), parent_id="2122238238520393729")
    result = x.act("hide", item)
    assert result.ok, result.message
    (received,) = server.requests
    assert received.json() == {"hidden": True}
    assert received.headers["Authorization"].startswith("OAuth ")


def test_a_server_that_does_not_answer_in_time_is_retryable(local_server):
    server = local_server(routes={("GET", MENTIONS): answer(recording("mentions_page_1"))},
                          delay=5)
    x = connector({"base_url": server.url, "timeout": 1})
    started = datetime.now(UTC)
    with pytest.raises(RetryableError, match="did not answer in time"):
        list(x.fetch(source(), None))
    assert datetime.now(UTC) - started < timedelta(seconds=4)


def test_a_server_that_is_not_there_is_retryable(local_server):
    server = local_server()
    url = server.url
    server.stop()
    with pytest.raises(RetryableError, match="could not reach X"):
        list(connector({"base_url": url}).fetch(source(), None))


# --- tweepy's recorded X API responses (../shared) ----------------------------------------------

def cassette(name: str) -> Recording:
    return json.loads((CASSETTES / f"{name}.json").read_text(encoding="utf-8"))


def cassette_path(rec: Recording) -> str:
    return urlsplit(rec["uri"]).path


def serve_cassette(mock, rec: Recording) -> None:
    mock.add_callback(rec["method"], BASE + cassette_path(rec), callback=lambda _: reply_with(rec))


RECORDED_ACCOUNT = "783214"  # @Twitter, whose mentions tweepy recorded
TWEEPY_DEV = "1072250532645998596"  # the account tweepy's write tests ran as


USER_KEYS_AS_TWEEPY_DEV = {"consumer_key": "ck", "consumer_secret": "cs",
                           "access_token": f"{TWEEPY_DEV}-at", "access_token_secret": "ats"}


def recorded_connector(settings: dict | None = None, secrets: dict | None = None) -> XConnector:
    built = XConnector({"handle": "Twitter", "account": RECORDED_ACCOUNT,
                        "keywords": ["Tweepy"], **(settings or {})},
                       secrets or {**BEARER, **USER_KEYS_AS_TWEEPY_DEV})
    built.clock = lambda: 1665183000.0
    return built


def recorded_source(kind: str = "mentions") -> SourceSpec:
    return SourceSpec(1, "x", kind, RECORDED_ACCOUNT)


@pytest.mark.shared
@needs_cassettes
def test_recorded_mentions_become_items_with_times_from_their_ids(rsps):
    rec = cassette("test_client_get_users_mentions__0")
    serve_cassette(rsps, rec)
    pages = list(recorded_connector().fetch(recorded_source(), None))
    items = [item for page in pages for item in page.items]
    assert [item.external_id for item in items] == [t["id"] for t in rec["body"]["data"]]
    # These responses carry only id and text: no author, and the time read from the id.
    assert all(item.author.handle == "" and "/i/web/status/" in item.permalink for item in items)
    assert all(datetime(2022, 10, 7, tzinfo=UTC) < item.created_at < datetime(2022, 10, 9,
                                                                               tzinfo=UTC)
               for item in items)
    assert pages[-1].reads == len(items)
    assert pages[-1].progress == {"since_id": rec["body"]["meta"]["newest_id"]}


@pytest.mark.shared
@needs_cassettes
def test_recorded_search_posts_are_dated_as_their_text_says(rsps):
    # tweepy's test bot posted its own clock time as the text; the id must agree with it.
    rec = cassette("test_client_search_recent_tweets__0")
    serve_cassette(rsps, rec)
    items = [i for p in recorded_connector().fetch(recorded_source("search"), None)
             for i in p.items]
    assert len(items) == len(rec["body"]["data"])
    for item in items:
        stated = re.match(r"(\S+ \S+) tweepy", item.text).group(1)
        posted = datetime.fromisoformat(stated).replace(tzinfo=UTC)
        assert abs(item.created_at - posted) < timedelta(seconds=2)


@pytest.mark.shared
@needs_cassettes
def test_a_recorded_backlog_cut_short_saves_the_real_page_token(rsps):
    rec = cassette("test_client_get_users_mentions__0")
    serve_cassette(rsps, rec)
    x = recorded_connector({"max_pages": 1})
    (page,) = x.fetch(recorded_source(), {"since_id": "1578000000000000000"})
    assert page.last
    assert page.progress == {"since_id": "1578000000000000000",
                             "newest_id": rec["body"]["meta"]["newest_id"],
                             "oldest_id": rec["body"]["meta"]["oldest_id"],
                             "next_token": rec["body"]["meta"]["next_token"]}


@pytest.mark.shared
@needs_cassettes
def test_recorded_mentions_served_by_a_real_local_server(local_server):
    rec = cassette("test_client_get_users_mentions__0")
    server = local_server(routes={("GET", cassette_path(rec)): answer(rec)})
    pages = list(recorded_connector({"base_url": server.url}).fetch(recorded_source(), None))
    assert len([i for p in pages for i in p.items]) == len(rec["body"]["data"])
    assert server.requests[0].path == "/2/users/783214/mentions"


@pytest.mark.shared
@needs_cassettes
@pytest.mark.parametrize(("action", "name"), [
    ("hide", "test_client_hide_and_unhide_reply__0"),
    ("unhide", "test_client_hide_and_unhide_reply__1"),
])
def test_hide_and_unhide_send_what_x_received_in_the_recording(rsps, action, name):
    rec = cassette(name)
    serve_cassette(rsps, rec)
    tweet_id = cassette_path(rec).split("/")[3]
    item = Item(tweet_id, "reply", "", datetime.now(UTC), parent_id="1344794000000000000")
    result = recorded_connector().act(action, item)
    assert result.ok, result.message
    assert json.loads(rsps.calls[0].request.body) == json.loads(rec["request_body"])


@pytest.mark.shared
@needs_cassettes
def test_mute_sends_what_x_received_in_the_recording(rsps):
    rec = cassette("test_client_mute_get_muted_and_unmute__0")
    serve_cassette(rsps, rec)
    target = json.loads(rec["request_body"])["target_user_id"]
    item = Item("1", "mention", "", datetime.now(UTC), Author(target, "TwitterSupport"))
    result = recorded_connector().act("mute", item)
    assert result.ok, result.message
    assert rsps.calls[0].request.url == rec["uri"].replace("https://api.twitter.com", BASE)
    assert json.loads(rsps.calls[0].request.body) == {"target_user_id": target}


@pytest.mark.shared
@needs_cassettes
def test_check_against_the_recorded_user_lookups(rsps):
    serve_cassette(rsps, cassette("test_client_get_user__0"))
    serve_cassette(rsps, cassette("test_client_get_me__0"))
    # The lookup was recorded for @Twitter and /users/me as @TweepyDev: two accounts, which
    # check() must notice, since only the school's own account can hide replies to it.
    result = recorded_connector({"account": ""}).check()
    assert "works" in result.details[0] and "@Twitter, id 783214" in result.details[0]
    assert result.ok is False
    assert "belongs to @TweepyDev, not the school's account" in result.details[1]


@pytest.mark.shared
@needs_cassettes
def test_check_accepts_the_recorded_write_access_level(rsps):
    serve_cassette(rsps, cassette("test_client_get_me__0"))
    result = recorded_connector({"account": TWEEPY_DEV, "handle": "TweepyDev"},
                                USER_KEYS_AS_TWEEPY_DEV).check()
    assert result.ok, result.details
    assert "acting as @TweepyDev" in result.details[1]
