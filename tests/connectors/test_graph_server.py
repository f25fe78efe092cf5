"""Facebook and Instagram against a real HTTP server on 127.0.0.1 that replays our recordings,
reached through the `base_url` setting: real sockets, real headers, real timeouts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from connectors.base import Item, RetryableError, SourceSpec
from connectors.facebook import FacebookConnector
from connectors.graph import DEFAULT_API_VERSION
from connectors.instagram import InstagramConnector
from tests.connectors.test_graph import TOKEN, recording

PAGE = "104857392011"
ACCOUNT = "17841400008460056"
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
V = f"/{DEFAULT_API_VERSION}"

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class LocalGraph:
    """Routes (method, path, `after` cursor or None) to recorded answers; keeps what it was
    asked."""

    port: int = 0
    routes: dict[tuple[str, str, str | None], Answer] = field(default_factory=dict)
    asked: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def body(self, method: str, path: str, body: Any, *, after: str | None = None) -> None:
        self.routes[(method, path, after)] = (
            200, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(body).encode())

    def interaction(self, method: str, path: str, recorded: dict[str, Any]) -> None:
        raw = recorded["body"]
        text = raw if isinstance(raw, str) else json.dumps(raw)
        self.routes[(method, path, None)] = (recorded["status"], recorded["headers"],
                                             text.encode())


@pytest.fixture
def local_graph() -> Iterator[LocalGraph]:
    graph = LocalGraph()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                query.update(parse_qsl(self.rfile.read(length).decode()))
            graph.asked.append((self.command, parts.path, query))
            time.sleep(graph.delay)
            status, headers, body = graph.routes.get(
                (self.command, parts.path, query.get("after")),
                (404, {"Content-Type": "text/plain"}, b"no such recording"))
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer  # noqa: N815 (http.server's names)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    graph.port = server.server_address[1]
    # A short poll interval: shutdown() waits up to one interval.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield graph
    finally:
        server.shutdown()
        server.server_close()


def facebook(graph: LocalGraph, **settings: Any) -> FacebookConnector:
    built = FacebookConnector({"base_url": graph.base_url, **settings},
                              {"page_access_token": TOKEN})
    built.now = lambda: NOW
    return built


def serve_page(graph: LocalGraph) -> None:
    fb = "facebook"
    graph.body("GET", f"{V}/{PAGE}/feed", recording(fb, "feed_p1.json"))
    graph.body("GET", f"{V}/{PAGE}/feed", recording(fb, "feed_p2.json"),
               after="QVFIUnB0ZA1ZAhN0ZAXRy")
    graph.body("GET", f"{V}/{PAGE}_822001/comments", recording(fb, "comments_822001_p1.json"))
    graph.body("GET", f"{V}/{PAGE}_822001/comments", recording(fb, "comments_822001_p2.json"),
               after="WTI5dGJXVnVkRjlqZAFhKemIzSTZANVEF4")
    graph.body("GET", f"{V}/{PAGE}_821950/comments", recording(fb, "comments_821950.json"))
    graph.body("GET", f"{V}/{PAGE}_821800/comments", recording(fb, "comments_821800.json"))


def test_a_facebook_poll_through_a_real_local_server(local_graph):
    serve_page(local_graph)
    pages = list(facebook(local_graph).fetch(SourceSpec(1, "facebook", "comments", PAGE), None))
    assert [i.external_id for p in pages for i in p.items] == [
        "822001_9001", "822001_9003", "822001_9004", "822001_9005", "822001_9006",
        "821950_7001", "821800_6001"]
    assert pages[-1].last
    paths = [path for _, path, _ in local_graph.asked]
    assert all(path.startswith(V) for path in paths)
    assert all(query["access_token"] == TOKEN for _, _, query in local_graph.asked)
    # The next-page links in the recordings name graph.facebook.com; we stayed on our server.
    assert paths.count(f"{V}/{PAGE}/feed") == 2


def test_instagram_tags_through_a_real_local_server(local_graph):
    local_graph.body("GET", f"{V}/{ACCOUNT}/tags", recording("instagram", "tags.json"))
    connector = InstagramConnector({"base_url": local_graph.base_url},
                                   {"page_access_token": TOKEN})
    connector.now = lambda: NOW
    pages = list(connector.fetch(SourceSpec(2, "instagram", "tags", ACCOUNT), None))
    assert [i.external_id for p in pages for i in p.items] == ["18044455566677788"]


def test_rate_limit_headers_reach_us_over_a_real_socket(local_graph):
    local_graph.interaction("GET", f"{V}/{PAGE}/feed",
                            recording("facebook", "errors/page_buc_80001.json"))
    with pytest.raises(RetryableError) as caught:
        list(facebook(local_graph).fetch(SourceSpec(1, "facebook", "comments", PAGE), None))
    assert caught.value.retry_after == 19 * 60


def test_an_html_error_page_from_a_real_server_is_retryable(local_graph):
    local_graph.interaction("GET", f"{V}/{PAGE}/feed",
                            recording("facebook", "errors/bad_gateway_502.json"))
    with pytest.raises(RetryableError, match="502"):
        list(facebook(local_graph).fetch(SourceSpec(1, "facebook", "comments", PAGE), None))


def test_a_server_slower_than_the_timeout_is_retryable(local_graph):
    serve_page(local_graph)
    local_graph.delay = 1.0
    started = time.monotonic()
    with pytest.raises(RetryableError, match="timed out"):
        list(facebook(local_graph, timeout=0.2).fetch(
            SourceSpec(1, "facebook", "comments", PAGE), None))
    assert time.monotonic() - started < 5


def test_hide_through_a_real_local_server_sends_a_form(local_graph):
    local_graph.body("POST", f"{V}/822001_9003", {"success": True})
    result = facebook(local_graph).act("hide", Item("822001_9003", "comment", "x", NOW))
    assert result.ok
    assert local_graph.asked == [("POST", f"{V}/822001_9003",
                                  {"is_hidden": "true", "access_token": TOKEN})]
