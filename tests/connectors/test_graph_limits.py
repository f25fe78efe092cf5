"""Time limits and health checks of the Graph connectors against real local servers: a total
deadline per request however slowly a server drips its answer, and check() telling a network
failure from a token that does not work."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.base import ConfigError, RetryableError, SourceSpec
from connectors.facebook import FacebookConnector
from connectors.instagram import InstagramConnector
from tests.connectors.test_graph import recording
from tests.connectors.test_graph_bursts import ACCOUNT, NOW, PAGE, TOKEN, V
from tests.http_server import LocalServer, answer, json_answer

Built = FacebookConnector | InstagramConnector


class Dripper:
    """A server that answers every request with a JSON body sent one byte at a time, `pause`
    seconds apart: each read waits less than a timeout, the whole answer far longer. It speaks
    HTTP/1.1 with keep-alive, as Graph does (`close=True`: it closes after each answer)."""

    def __init__(self, pause: float, body: bytes = b'{"data": []}' + b" " * 60, *,
                 close: bool = False) -> None:
        self.stop = threading.Event()
        dripper = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0" if close else "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for byte in body:
                        if dripper.stop.wait(pause):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except OSError:
                    return  # the client gave up: so do we

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dripper() -> Iterator[Dripper]:
    server = Dripper(pause=0.1)  # 72 bytes: about 7 s in all, each byte well within a timeout
    yield server
    server.close()


def connector(kind: type[Built], base_url: str, **settings: Any) -> Built:
    built = kind({"base_url": base_url, **settings}, {"page_access_token": TOKEN})
    built.now = lambda: NOW
    return built


@pytest.mark.parametrize(("kind", "account"), [(FacebookConnector, PAGE),
                                               (InstagramConnector, ACCOUNT)])
def test_a_server_dripping_its_answer_fails_the_poll_within_the_deadline(dripper, kind,
                                                                         account):
    built = connector(kind, dripper.url, timeout=2, deadline=1)
    started = time.monotonic()
    with pytest.raises(RetryableError, match="no complete answer within 1s"):
        list(built.fetch(SourceSpec(1, built.platform, "comments", account), None))
    assert time.monotonic() - started < 2.5


def test_a_sources_own_deadline_applies_to_its_polls(dripper):
    built = connector(FacebookConnector, dripper.url, timeout=2)  # the default: 60 s
    started = time.monotonic()
    with pytest.raises(RetryableError, match="within 0.5s"):
        list(built.fetch(SourceSpec(1, "facebook", "comments", PAGE, {"deadline": 0.5}), None))
    assert time.monotonic() - started < 2


def test_a_server_that_closes_after_dripping_is_cut_off_at_the_deadline_too():
    server = Dripper(pause=0.1, body=b'{"data": []}' + b" " * 20, close=True)  # 3 s in all
    try:
        built = connector(FacebookConnector, server.url, timeout=2, deadline=1)
        started = time.monotonic()
        with pytest.raises(RetryableError, match="within 1s"):
            list(built.fetch(SourceSpec(1, "facebook", "comments", PAGE), None))
        assert time.monotonic() - started < 2.5
    finally:
        server.close()


@pytest.mark.parametrize("deadline", [0, -1, "1m", float("inf"), True])
def test_a_deadline_that_cannot_work_is_a_config_error(deadline):
    with pytest.raises(ConfigError, match="deadline"):
        FacebookConnector({"deadline": deadline}, {"page_access_token": TOKEN})
    with pytest.raises(ConfigError, match="deadline"):
        InstagramConnector({"deadline": deadline}, {"page_access_token": TOKEN})


# --- check(): the network is not the token ------------------------------------------------------

def closed_port() -> str:
    """The address of a port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


KINDS = [(FacebookConnector, "Facebook"), (InstagramConnector, "Instagram")]


@pytest.mark.parametrize(("kind", "label"), KINDS)
def test_check_with_connection_refused_says_it_could_not_reach(kind, label):
    result = connector(kind, closed_port()).check()
    assert not result.ok
    assert result.message.startswith(f"could not reach {label}: ")
    assert "token" not in result.message and TOKEN not in result.message


@pytest.mark.parametrize(("kind", "label"), KINDS)
def test_check_with_a_server_too_slow_says_it_could_not_reach(
        local_server: Callable[..., LocalServer], kind, label):
    server = local_server(delay=2.0)
    result = connector(kind, server.url, timeout=0.2).check()
    assert result.message.startswith(f"could not reach {label}: ")
    assert "timed out" in result.message


@pytest.mark.parametrize(("kind", "label"), KINDS)
def test_check_with_a_server_error_part_way_says_it_could_not_reach(
        local_server: Callable[..., LocalServer], kind, label):
    server = local_server()
    platform = label.lower()
    server.route("GET", f"{V}/me", json_answer(recording(platform, "me.json")))
    server.route("GET", f"{V}/debug_token",
                 answer(recording("facebook", "errors/bad_gateway_502.json")))
    result = connector(kind, server.url).check()
    assert not result.ok and result.message.startswith(f"could not reach {label}: ")
    assert "502" in result.message


@pytest.mark.parametrize(("kind", "label"), KINDS)
def test_check_blames_the_token_only_for_an_auth_error(
        local_server: Callable[..., LocalServer], kind, label):
    server = local_server()
    server.route("GET", f"{V}/me", answer(recording("facebook", "errors/token_expired_190.json")))
    result = connector(kind, server.url).check()
    assert not result.ok and result.message.startswith(f"{label} token does not work: ")
    assert "expired" in result.message
