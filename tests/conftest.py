"""Shared fixtures: real local servers for alerts and platform APIs (the HTTP ones,
`local_server` and `webhook`, from tests/http_server.py), a real browser (`chromium`, from
tests/browser.py), and the rule for tests that need ../shared."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

pytest_plugins = ["tests.http_server", "tests.browser"]

SHARED_DIR = Path(os.environ.get("HALLMONITOR_SHARED_DIR")
                  or Path(__file__).resolve().parents[2] / "shared")
# In CI these are set: a test that skips for want of ../shared, PostgreSQL or a browser has
# failed.
REQUIRED = {
    "shared": os.environ.get("HALLMONITOR_REQUIRE_SHARED") == "1",
    "postgres": os.environ.get("HALLMONITOR_REQUIRE_POSTGRES") == "1",
    "browser": os.environ.get("HALLMONITOR_REQUIRE_BROWSER") == "1",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and any(required and item.get_closest_marker(marker)
                              for marker, required in REQUIRED.items()):
        report.outcome = "failed"
        report.longrepr = f"required in this run, but skipped: {report.longrepr}"


@pytest.fixture(autouse=True)
def _no_secrets_from_earlier_tests():
    """The log redaction remembers every secret a config revealed, for the life of the process;
    in the suite that would let one test's secrets rewrite another's log lines."""
    from monitor.cli.common import forget_secrets

    forget_secrets()
    yield


class needs_shared:  # noqa: N801 (used like the pytest marks it bundles)
    """For tests that read `path` under ../shared: skipped, with the reason, where it is absent
    (a user's clone); a failure where it is required (CI). Decorate a test with it, or set a
    module's `pytestmark = needs_shared(...).marks`."""

    def __init__(self, path: Path, what: str) -> None:
        self.marks = [pytest.mark.shared, pytest.mark.skipif(not path.exists(), reason=(
            f"{what} not at {path}: put ../shared beside the repository or set "
            "HALLMONITOR_SHARED_DIR"))]

    def __call__(self, test):
        for mark in self.marks:
            test = mark(test)
        return test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class SMTPInbox:
    """A real SMTP server on 127.0.0.1 that keeps what it receives. `refuse` makes it answer
    the next N messages with a temporary failure, as a busy mail server would."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = 0
        self.refused = 0
        self.port = free_port()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            return "451 4.3.0 Mail server temporarily unavailable"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def url(self, to: str = "dsl@school.example") -> str:
        return (f"mailto://127.0.0.1:{self.port}?from=hallmonitor@school.example&to={to}"
                "&mode=insecure")

    @staticmethod
    def text(message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def smtp_inbox() -> Iterator[SMTPInbox]:
    inbox = SMTPInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
