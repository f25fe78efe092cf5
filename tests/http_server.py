"""A real HTTP server on 127.0.0.1 that answers from a table of routes and remembers what it was
asked: the stand-in for a platform's API, or for a webhook receiver. Registered for the whole
suite in tests/conftest.py: the `local_server` and `webhook` fixtures."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

Answer = tuple[int, dict[str, str], bytes]
Route = Answer | Callable[["Request"], Answer]
NOT_FOUND: Answer = (404, {"Content-Type": "text/plain"}, b"no route")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode())) if self.body else {}

    def json(self) -> Any:
        return json.loads(self.body)


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}, \
        json.dumps(body).encode()


def answer(recorded: dict[str, Any]) -> Answer:
    """A recorded interaction as an answer: its status, headers and body, the body sent as it
    is when it is text (or given as `body_text`), as JSON otherwise."""
    body = recorded["body_text"] if "body_text" in recorded else recorded["body"]
    text = body if isinstance(body, str) else json.dumps(body)
    return recorded["status"], dict(recorded.get("headers", {})), text.encode()


@dataclass
class LocalServer:
    """`delay` holds every answer back that many seconds (for timeouts), or until `stop()`."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path: str, answer: Route) -> None:
        self.routes[(method, path)] = answer

    def asked(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]

    def start(self) -> LocalServer:
        local = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, parts.path, dict(parse_qsl(parts.query)),
                                  dict(self.headers), self.rfile.read(length) if length else b"")
                local.requests.append(request)
                if local.delay:
                    local.release.wait(local.delay)
                route = local.routes.get((self.command, parts.path), NOT_FOUND)
                status, headers, body = route(request) if callable(route) else route
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = answer

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Webhook:
    """A receiver for Apprise's json:// URLs: answers POSTs to /hook with the statuses in
    `statuses`, then 200, and keeps the JSON bodies of the 200 ones in `received`."""

    server: LocalServer
    statuses: list[int] = field(default_factory=list)
    received: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.route("POST", "/hook", self.receive)

    def receive(self, request: Request) -> Answer:
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.received.append(request.json())
        return status, {}, b""

    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.port}/hook"


@pytest.fixture
def local_server() -> Iterator[Callable[..., LocalServer]]:
    """`local_server(routes=..., delay=...)` starts one more server; all are stopped after the
    test."""
    started: list[LocalServer] = []

    def start(**settings: Any) -> LocalServer:
        started.append(LocalServer(**settings).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def webhook(local_server: Callable[..., LocalServer]) -> Webhook:
    return Webhook(local_server())
