"""HTTP sessions whose requests have a total deadline, not just a timeout per socket read.

requests' `timeout` bounds each wait for the next bytes, so a server that answers one byte every
two seconds can hold a request (and the poll, and its lease) for as long as it likes. A
`deadline_session` gives every request a whole-request limit: a watchdog shuts the request's
socket when the limit passes, and the request fails with `requests.Timeout` saying so.

The socket is found by noting, per thread, the socket each connection opens or each pool hands
out; that is the only reliable handle on a request in flight, since requests opens and reuses
connections itself.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# Per thread, the slot where the current request notes the socket it is using (a slot,
# not the socket itself, so the watchdog's own thread can read it).
_current = threading.local()


def _note_socket(sock: Any) -> None:
    slot = getattr(_current, "slot", None)
    if slot is not None and sock is not None:
        slot["sock"] = sock


# The socket is noted when it is made (a new connection) or handed out (a reused one), not read
# from the connection later: http.client forgets it as soon as a closing response starts.
class _NotingHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _note_socket(self.sock)


class _NotingHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _note_socket(self.sock)


class _NotingHTTPPool(HTTPConnectionPool):
    ConnectionCls = _NotingHTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _note_socket(conn.sock)
        return conn


class _NotingHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _NotingHTTPSConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _note_socket(conn.sock)
        return conn


class DeadlineExceeded(requests.Timeout):
    """The whole request took longer than its deadline."""


class DeadlineAdapter(HTTPAdapter):
    def __init__(self, deadline: float, **kwargs: Any) -> None:
        self.deadline = deadline
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _NotingHTTPPool,
                                                   "https": _NotingHTTPSPool}

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             **kwargs: Any) -> requests.Response:
        expired = threading.Event()
        slot: dict[str, Any] = {}
        _current.slot = slot

        def cut_off() -> None:
            expired.set()
            sock = slot.get("sock")
            if sock is not None:
                # Linux keeps delivering data to a socket shut for reading, so the read that is
                # waiting ends when its next byte comes, and every read after it times out.
                try:
                    sock.settimeout(0.001)
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        watchdog = threading.Timer(self.deadline, cut_off)
        watchdog.daemon = True
        watchdog.start()
        try:
            # The body is read here, inside the deadline, unless the caller streams it.
            response = super().send(request, stream=stream, **kwargs)
            if not stream:
                _ = response.content
            if expired.is_set():
                # A body cut short by the watchdog can read as complete: never trust it.
                response.close()
                raise DeadlineExceeded(f"no complete answer within {self.deadline:g}s")
            return response
        except DeadlineExceeded:
            raise
        except Exception:
            # A socket shut under a half-read body surfaces as whatever the parser made of it.
            if expired.is_set():
                raise DeadlineExceeded(
                    f"no complete answer within {self.deadline:g}s") from None
            raise
        finally:
            watchdog.cancel()
            _current.slot = None


def deadline_session(deadline: float, session: requests.Session | None = None
                     ) -> requests.Session:
    """`session` (or a new one) with every http(s) request limited to `deadline` seconds in
    all: connecting, sending, and reading the whole answer."""
    session = session or requests.Session()
    adapter = DeadlineAdapter(deadline)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
