"""No credential reaches a log, at any level: the daemon run with -v against a local X API that
is read with OAuth 1.0a (whose libraries log keys and tokens at DEBUG), and the filter itself."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from monitor.cli import common
from tests.http_server import json_answer

X_USER = "1456789012345678901"
SECRETS = {
    "X_CONSUMER_KEY": "ck-Zq7wP2mXv9LrT4sB",
    "X_CONSUMER_SECRET": "cs-8HdKe3NfQa1YuV6pGtRz",
    "X_ACCESS_TOKEN": "1456789012345678901-AtW5nJc0LsQ",
    "X_ACCESS_SECRET": "as-Uo4MbX7yHe2KdPf9Wq",
}


def mentions_answer(_request) -> tuple[int, dict[str, str], bytes]:
    at = (datetime.now(UTC) - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return json_answer({
        "data": [{"id": "2122588081222729730", "text": "@OakfieldPrimary see you at the fair",
                  "author_id": "42", "created_at": at,
                  "conversation_id": "2122588081222729730"}],
        "includes": {"users": [{"id": "42", "name": "A Parent", "username": "aparent"}]},
        "meta": {"newest_id": "2122588081222729730", "oldest_id": "2122588081222729730",
                 "result_count": 1}})


def write_config(tmp_path, base_url: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[daemon]
data_dir = "data"
[[schools]]
id = "oakfield"
name = "Oakfield Primary School"
[[schools.accounts]]
platform = "x"
account = "{X_USER}"
kinds = ["mentions"]
poll_interval = "1s"
settings = {{ base_url = "{base_url}", handle = "OakfieldPrimary" }}
[schools.accounts.credentials]
consumer_key = "env:X_CONSUMER_KEY"
consumer_secret = "env:X_CONSUMER_SECRET"
access_token = "env:X_ACCESS_TOKEN"
access_token_secret = "env:X_ACCESS_SECRET"
[[schools.recipients]]
role = "dsl"
urls = ["console://"]
""")
    return str(path)


def test_the_daemon_run_verbose_logs_no_credential(local_server, tmp_path):
    api = local_server()
    api.route("GET", f"/2/users/{X_USER}/mentions", mentions_answer)
    config = write_config(tmp_path, api.url)
    env = {**os.environ, **SECRETS, "PYTHONUNBUFFERED": "1"}
    env.pop("HALLMONITOR_DATABASE_URL", None)
    daemon = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-v", "--config", config],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        # Two polls: the second is signed with the saved since_id as well.
        while len(api.asked("GET", f"/2/users/{X_USER}/mentions")) < 2:
            assert daemon.poll() is None, daemon.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the daemon did not poll X within 30 s"
            time.sleep(0.1)
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=15)
    finally:
        daemon.kill()
    # The keys were used (OAuth 1.0a signed the reads) ...
    authorization = api.asked("GET", f"/2/users/{X_USER}/mentions")[0].headers["Authorization"]
    assert quote(SECRETS["X_CONSUMER_KEY"], safe="") in authorization
    assert "source 1: 1 new" in err
    # ... and no credential, as written or URL-encoded, appears in anything it printed.
    for name, value in SECRETS.items():
        for shown in {value, quote(value, safe="")}:
            assert shown not in err, f"{name} appears in the log"
            assert shown not in out, f"{name} appears on stdout"


@pytest.fixture
def log_stream():
    """A root handler set up the way `setup_logging` does, writing to a buffer."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    common.setup_logging(True, secrets=["hunter2-secret-value", "pa/ss word+1", "short"])
    yield stream
    root.setLevel(before[0])
    root.handlers = before[1]


def test_a_secret_in_message_arguments_is_redacted(log_stream):
    logging.getLogger("some.library").debug("Authorization: OAuth oauth_token=%s, %r",
                                            "hunter2-secret-value", {"key": "pa/ss word+1"})
    text = log_stream.getvalue()
    assert "hunter2-secret-value" not in text and "pa/ss word+1" not in text
    assert "Authorization: OAuth oauth_token=[redacted]" in text


def test_a_url_encoded_secret_is_redacted(log_stream):
    logging.getLogger("oauthlib.oauth1").warning("signature base string: GET&url&oauth_token%3D"
                                                 + quote(quote("pa/ss word+1", safe=""), safe=""))
    logging.getLogger("requests").warning("GET /?token=%s", quote("pa/ss word+1", safe=""))
    text = log_stream.getvalue()
    assert quote("pa/ss word+1", safe="") not in text
    assert text.count("[redacted]") == 2


def test_a_secret_in_an_exception_is_redacted(log_stream):
    try:
        raise ConnectionError("could not connect with token hunter2-secret-value")
    except ConnectionError:
        logging.getLogger("monitor.pipeline").exception("poll failed")
    text = log_stream.getvalue()
    assert "Traceback" in text and "ConnectionError" in text
    assert "hunter2-secret-value" not in text


def test_short_values_are_not_redacted_so_ordinary_text_survives(log_stream):
    logging.getLogger("monitor").info("a short note about shortbread")
    assert "a short note about shortbread" in log_stream.getvalue()


def test_oauth_libraries_stay_quiet_even_when_verbose(log_stream):
    for name in ("oauthlib", "requests_oauthlib", "urllib3"):
        assert not logging.getLogger(f"{name}.anything").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("monitor.pipeline").isEnabledFor(logging.DEBUG)


def test_the_config_knows_every_secret_it_resolved(tmp_path, monkeypatch):
    monkeypatch.setenv("FB_TOKEN", "EAAB-page-token-value")
    monkeypatch.setenv("HOOK", "discord://1234567890/AbCdEfGhIjKlMnOpQrStUvWx")
    monkeypatch.setenv("BOT", "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001")
    monkeypatch.setenv("MAIL", "mailtos://it:mail-pass-77@smtp.example.org/?to=it-manager@oakfield.sch.uk")
    monkeypatch.setenv("HALLMONITOR_DATABASE_URL", "postgresql://hm:db-password-9@localhost/hm")
    path = tmp_path / "config.toml"
    path.write_text("""
[[schools]]
id = "oakfield"
name = "Oakfield"
[[schools.accounts]]
platform = "facebook"
account = "104857392011"
kinds = ["comments"]
credentials = { page_access_token = "env:FB_TOKEN" }
[[schools.recipients]]
role = "dsl"
urls = ["env:HOOK", "env:BOT", "env:MAIL"]
""")
    found = common.config_secrets(common.load_config(str(path), False))
    assert {"EAAB-page-token-value", "discord://1234567890/AbCdEfGhIjKlMnOpQrStUvWx",
            "AbCdEfGhIjKlMnOpQrStUvWx", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "mail-pass-77", "db-password-9"} <= found
    # Who is told and where the mail server is are not secrets, and stay readable.
    assert not {"smtp.example.org", "it-manager@oakfield.sch.uk", "localhost"} & found
