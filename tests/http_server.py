"""A real HTTP server on 127.0.0.1 that answers from a table of routes and remembers what it was
asked: the stand-in for a platform's API, or for a webhook receiver."""

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


@dataclass
class LocalServer:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

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
                route = local.routes.get((self.command, parts.path))
                if route is None:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, b"no route"
                else:
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
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def local_server() -> Iterator[Callable[[], LocalServer]]:
    """`local_server()` starts one more server; all are stopped after the test."""
    started: list[LocalServer] = []

    def start() -> LocalServer:
        started.append(LocalServer().start())
        return started[-1]

    yield start
    for server in started:
        server.stop()
