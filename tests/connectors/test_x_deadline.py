"""Every X request has a total deadline: a server that drips its answer one byte at a time,
never pausing long enough for the per-read timeout, still cannot hold a poll past it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from connectors.base import ConfigError, RetryableError
from tests.connectors.test_x import connector, recording, source


class DripServer:
    """Answers every request on 127.0.0.1 with 200 and a JSON body sent one byte every
    `interval` seconds; gives up after `limit` seconds per connection, or when stopped."""

    def __init__(self, body: bytes, interval: float = 0.1, limit: float = 20.0) -> None:
        self.body, self.interval, self.limit = body, interval, limit
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.bytes_sent = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
                    b"Content-Length: " + str(len(self.body)).encode() + b"\r\n\r\n")
            ends = time.monotonic() + self.limit
            try:
                conn.sendall(head)
                for byte in self.body:
                    if self.stopped.is_set() or time.monotonic() > ends:
                        return
                    conn.sendall(bytes([byte]))
                    self.bytes_sent += 1
                    time.sleep(self.interval)
            except OSError:  # the client hung up: what the deadline is for
                return

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def dripping() -> Iterator[DripServer]:
    body = recording("mentions_page_1")["body"]
    server = DripServer(json.dumps(body).encode())
    yield server
    server.stop()


def test_a_dripped_answer_fails_the_poll_within_its_deadline(dripping):
    # Each byte comes well within the 5 s per-read timeout: only a total deadline stops it.
    x = connector({"base_url": dripping.url, "timeout": 5, "deadline": 1})
    started = time.monotonic()
    with pytest.raises(RetryableError) as raised:
        list(x.fetch(source(), None))
    took = time.monotonic() - started
    assert took < 2.5, f"the poll took {took:.1f}s with a 1s deadline"
    assert "could not reach X" in str(raised.value) and "within 1s" in str(raised.value)
    assert 0 < dripping.bytes_sent < len(dripping.body)


def test_the_deadline_defaults_to_a_minute():
    assert connector().config.deadline == 60


@pytest.mark.parametrize("deadline", [0, -1, "soon", True, 10_000])
def test_an_unusable_deadline_is_a_config_error(deadline):
    with pytest.raises(ConfigError, match="deadline"):
        connector({"deadline": deadline})
