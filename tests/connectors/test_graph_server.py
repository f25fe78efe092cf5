"""Facebook and Instagram against a real HTTP server on 127.0.0.1 that replays our recordings,
reached through the `base_url` setting: real sockets, real headers, real timeouts."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import Item, RetryableError, SourceSpec
from connectors.facebook import FacebookConnector
from connectors.graph import DEFAULT_API_VERSION
from connectors.instagram import InstagramConnector
from tests.connectors.test_graph import TOKEN, recording
from tests.http_server import NOT_FOUND, LocalServer, Request, Route, answer, json_answer

PAGE = "104857392011"
ACCOUNT = "17841400008460056"
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
V = f"/{DEFAULT_API_VERSION}"


@pytest.fixture
def graph(local_server: Callable[..., LocalServer]) -> LocalServer:
    return local_server()


def pages(platform: str, by_cursor: dict[str | None, str]) -> Route:
    """Recorded pages of one edge, chosen by the request's `after` cursor (None: the first)."""
    answers = {after: json_answer(recording(platform, name)) for after, name in by_cursor.items()}
    return lambda request: answers.get(request.query.get("after"), NOT_FOUND)


def sent(request: Request) -> dict[str, str]:
    """What a request sent, in its query and form together."""
    return request.query | request.form()


def facebook(graph: LocalServer, **settings: Any) -> FacebookConnector:
    built = FacebookConnector({"base_url": graph.url, **settings},
                              {"page_access_token": TOKEN})
    built.now = lambda: NOW
    return built


def serve_page(graph: LocalServer) -> None:
    fb = "facebook"
    graph.route("GET", f"{V}/{PAGE}/feed", pages(fb, {
        None: "feed_p1.json", "QVFIUnB0ZA1ZAhN0ZAXRy": "feed_p2.json"}))
    graph.route("GET", f"{V}/{PAGE}_822001/comments", pages(fb, {
        None: "comments_822001_p1.json",
        "WTI5dGJXVnVkRjlqZAFhKemIzSTZANVEF4": "comments_822001_p2.json"}))
    graph.route("GET", f"{V}/{PAGE}_821950/comments", pages(fb, {None: "comments_821950.json"}))
    graph.route("GET", f"{V}/{PAGE}_821800/comments", pages(fb, {None: "comments_821800.json"}))


def test_a_facebook_poll_through_a_real_local_server(graph):
    serve_page(graph)
    fetched = list(facebook(graph).fetch(SourceSpec(1, "facebook", "comments", PAGE), None))
    assert [i.external_id for p in fetched for i in p.items] == [
        "822001_9001", "822001_9003", "822001_9004", "822001_9005", "822001_9006",
        "821950_7001", "821800_6001"]
    assert fetched[-1].last
    paths = [request.path for request in graph.requests]
    assert all(path.startswith(V) for path in paths)
    assert all(sent(request)["access_token"] == TOKEN for request in graph.requests)
    # The next-page links in the recordings name graph.facebook.com; we stayed on our server.
    assert paths.count(f"{V}/{PAGE}/feed") == 2


def test_instagram_tags_through_a_real_local_server(graph):
    graph.route("GET", f"{V}/{ACCOUNT}/tags", json_answer(recording("instagram", "tags.json")))
    connector = InstagramConnector({"base_url": graph.url}, {"page_access_token": TOKEN})
    connector.now = lambda: NOW
    fetched = list(connector.fetch(SourceSpec(2, "instagram", "tags", ACCOUNT), None))
    assert [i.external_id for p in fetched for i in p.items] == ["18044455566677788"]


def test_rate_limit_headers_reach_us_over_a_real_socket(graph):
    graph.route("GET", f"{V}/{PAGE}/feed",
                answer(recording("facebook", "errors/page_buc_80001.json")))
    with pytest.raises(RetryableError) as caught:
        list(facebook(graph).fetch(SourceSpec(1, "facebook", "comments", PAGE), None))
    assert caught.value.retry_after == 19 * 60


def test_an_html_error_page_from_a_real_server_is_retryable(graph):
    graph.route("GET", f"{V}/{PAGE}/feed",
                answer(recording("facebook", "errors/bad_gateway_502.json")))
    with pytest.raises(RetryableError, match="502"):
        list(facebook(graph).fetch(SourceSpec(1, "facebook", "comments", PAGE), None))


def test_a_server_slower_than_the_timeout_is_retryable(graph):
    serve_page(graph)
    graph.delay = 1.0
    started = time.monotonic()
    with pytest.raises(RetryableError, match="timed out"):
        list(facebook(graph, timeout=0.2).fetch(
            SourceSpec(1, "facebook", "comments", PAGE), None))
    assert time.monotonic() - started < 5


def test_hide_through_a_real_local_server_sends_a_form(graph):
    graph.route("POST", f"{V}/822001_9003", json_answer({"success": True}))
    result = facebook(graph).act("hide", Item("822001_9003", "comment", "x", NOW))
    assert result.ok
    assert [(r.method, r.path, sent(r)) for r in graph.requests] == [
        ("POST", f"{V}/822001_9003", {"is_hidden": "true", "access_token": TOKEN})]
