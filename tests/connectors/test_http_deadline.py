"""A request's deadline covers the whole request, however slowly the server drips its answer and
whether or not it keeps the connection open."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from connectors.http import DeadlineExceeded, deadline_session


class Dripper:
    """A server that sends its whole answer one byte at a time, `pause` seconds apart."""

    def __init__(self, pause: float, *, close: bool) -> None:
        body = b"x" * 60
        connection = b"close" if close else b"keep-alive"
        self.answer = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n"
                       % (len(body), connection)) + body
        self.pause = pause
        self.closing = close
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def _answer(self, client: socket.socket) -> None:
        # A keep-alive connection answers every request sent on it.
        with client:
            while client.recv(65536):
                for byte in self.answer:
                    try:
                        client.sendall(bytes([byte]))
                    except OSError:
                        return
                    time.sleep(self.pause)
                if self.closing:
                    return

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "closing"])
def test_a_dripping_answer_is_cut_off_at_the_deadline(close):
    server = Dripper(0.05, close=close)  # about 6 s in all, each byte well within the timeout
    try:
        session = deadline_session(0.5)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="within 0.5s"):
            session.get(server.url, timeout=5)
        assert time.monotonic() - started < 1.5
    finally:
        server.close()


def test_an_answer_within_the_deadline_arrives_whole_and_the_connection_is_reused():
    server = Dripper(0.0, close=False)
    try:
        session = deadline_session(5)
        for _ in range(3):
            response = session.get(server.url, timeout=5)
            assert response.content == b"x" * 60
    finally:
        server.close()


def test_a_deadline_exceeded_is_a_timeout_to_callers_that_know_only_requests():
    import requests

    assert issubclass(DeadlineExceeded, requests.Timeout)
