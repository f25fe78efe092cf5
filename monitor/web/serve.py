"""Serving the console with waitress, in a thread beside the daemon or on its own.

    handle = start(config, sessions)   # listening on [web] host:port when it returns
    ...
    handle.stop()

A port that cannot be had (in use, not permitted) raises `CannotServe` with one line saying so.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from waitress import wasyncore
from waitress.server import create_server

from monitor import links
from monitor.config import Config

log = logging.getLogger(__name__)

# Worker threads answering requests: a school's staff, not the public.
THREADS = 8


class CannotServe(Exception):
    """The console cannot listen where the config says; the message is one line."""


@dataclass
class Handle:
    """A running console: where it listens, and how to stop it."""

    server: object
    thread: threading.Thread
    host: str
    port: int
    url: str

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening sockets and every open connection, and wait for the thread."""
        server: Any = self.server
        socket_map = server._map if hasattr(server, "_map") else server.map
        trigger = getattr(server, "trigger", None)
        if trigger is not None and self.thread.is_alive():
            # Closed from the server's own loop, which then finds nothing left and returns.
            # A request finishing just then may wake the loop, which runs the closing step
            # before the wake-up byte is written: the trigger is then closed already.
            with contextlib.suppress(OSError):
                trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
            self.thread.join(timeout)
        if socket_map:
            wasyncore.close_all(socket_map)
        server.task_dispatcher.shutdown(timeout=timeout)
        self.thread.join(timeout)


def start(config: Config, sessions: sessionmaker[Session], *, host: str | None = None,
          port: int | None = None) -> Handle:
    """Serve the console on `host`:`port` (default: the config's) in a daemon thread."""
    from monitor.web.app import create_app

    web = config.web
    host = host if host is not None else web.host
    port = port if port is not None else web.port
    app = create_app(config, sessions)
    try:
        server = create_server(
            app, host=host, port=port, threads=THREADS, ident="hallmonitor",
            # Without a proxy in front, nobody's X-Forwarded-* headers are believed; with one,
            # they reach the application, whose ProxyFix trusts exactly one hop.
            clear_untrusted_proxy_headers=not web.behind_proxy,
            # Staff forms are small; anything bigger is refused before it is read.
            max_request_body_size=1024 * 1024)
    except OSError as exc:
        raise CannotServe(_why(exc, host, port)) from None
    bound_host, bound_port = _bound(server, host, port)
    thread = threading.Thread(target=server.run, name="console", daemon=True)
    thread.start()
    url = links.console_url(config) if (host, port) == (web.host, web.port) \
        else f"http://{_url_host(bound_host)}:{bound_port}"
    log.info("staff console listening on %s:%s (%s)", _url_host(bound_host), bound_port, url)
    return Handle(server, thread, bound_host, bound_port, url)


def _bound(server: object, host: str, port: int) -> tuple[str, int]:
    effective = getattr(server, "effective_port", None)
    if effective is not None:
        return str(getattr(server, "effective_host", host)), int(effective)
    listening = getattr(server, "effective_listen", [(host, port)])
    return str(listening[0][0]), int(listening[0][1])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _why(exc: OSError, host: str, port: int) -> str:
    where = f"{_url_host(host)}:{port}"
    if exc.errno == errno.EADDRINUSE:
        reason = "the port is already in use (another console or program is listening there)"
    elif exc.errno == errno.EACCES:
        reason = "not permitted (ports below 1024 need privileges: use 8080 behind a proxy)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        reason = "this machine has no such address"
    else:
        reason = exc.strerror or str(exc)
    return f"cannot serve the staff console on {where}: {reason}; change [web] host/port"
