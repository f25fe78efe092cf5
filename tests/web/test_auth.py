"""Signing in and out of the console, sessions, CSRF, rate limiting, security headers, and
serving it (Flask's test client on the real database of tests/web/conftest.py; a real waitress
server where the test says so)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import models, users
from monitor.cli import main
from tests.conftest import free_port, wait_for
from tests.web.conftest import PASSWORD, STAFF

REPO = Path(__file__).resolve().parents[2]


class Clock:
    """The console's clock, moved by the test instead of sleeping."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(world, clock):
    from monitor.web.app import create_app

    return create_app(world.config, world.sessions, clock=clock)


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, email: str, password: str = PASSWORD, *, next_: str = "", **kwargs):
    token = csrf_token(client.get("/sign-in").text)
    return client.post("/sign-in", data={"email": email, "password": password, "next": next_,
                                         "csrf_token": token}, **kwargs)


def signed_in(client) -> bool:
    """Whether the client's session is a signed-in one: the queue answers instead of sending it
    to the sign-in page."""
    return client.get("/").status_code == 200


def post_form(client, path: str, data: dict | None = None, *, token_from: str = "/sign-in",
              **kwargs):
    """POST with the CSRF token of the client's session."""
    form = {"csrf_token": csrf_token(client.get(token_from).text), **(data or {})}
    return client.post(path, data=form, **kwargs)


# --- signing in ----------------------------------------------------------------------------

def test_signing_in_with_the_right_password_opens_the_console(app):
    client = app.test_client()
    assert client.get("/").status_code == 302
    answer = sign_in(client, STAFF["dsl"][0])
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "Signed in as" in page.text and "Oakfield Primary School" in page.text


def test_an_email_is_matched_whatever_its_case_and_spaces(app):
    client = app.test_client()
    assert sign_in(client, "  DSL@Oakfield.Example ").status_code == 303
    assert signed_in(client)


@pytest.mark.parametrize("email, password", [
    ("dsl@oakfield.example", "not-the-password-at-all"),
    ("nobody@oakfield.example", PASSWORD),
    ("dsl@oakfield.example", ""),
])
def test_a_wrong_password_or_unknown_address_is_refused_in_the_same_words(app, email, password):
    client = app.test_client()
    answer = sign_in(client, email, password)
    assert answer.status_code == 401
    assert "do not match an account" in answer.text
    assert not signed_in(client)


def test_a_disabled_account_cannot_sign_in_and_its_open_session_ends(app, world):
    client, other = app.test_client(), app.test_client()
    assert sign_in(client, STAFF["champion"][0]).status_code == 303
    with world.sessions.begin() as session:
        users.disable(session, STAFF["champion"][0])
    assert not signed_in(client)
    assert sign_in(other, STAFF["champion"][0]).status_code == 401
    assert not signed_in(other)


def test_a_session_of_an_account_reset_since_is_refused(app, world):
    client = app.test_client()
    assert sign_in(client, STAFF["head"][0]).status_code == 303
    assert signed_in(client)
    with world.sessions.begin() as session:
        users.reset(session, STAFF["head"][0])
    answer = client.get("/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/sign-in")


def test_a_session_ends_after_it_has_been_idle_too_long_but_not_while_in_use(app, world, clock):
    client = app.test_client()
    sign_in(client, STAFF["dsl"][0])
    idle = world.config.web.session_idle
    for _ in range(3):  # used every so often: it lasts longer than the idle limit in total
        clock.advance(seconds=idle * 0.6)
        assert signed_in(client)
    clock.advance(seconds=idle + 1)
    assert not signed_in(client)


def test_signing_out_ends_the_session(app):
    client = app.test_client()
    sign_in(client, STAFF["dsl"][0])
    answer = post_form(client, "/sign-out", token_from="/")
    assert answer.status_code == 303
    assert not signed_in(client)


def test_after_signing_in_it_goes_back_where_it_was_asked_for_but_never_off_site(app, world):
    client = app.test_client()
    wanted = f"/incidents/{world.incidents['threat']}"
    answer = client.get(wanted)
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/sign-in?next=%2Fincidents%2F{wanted.split('/')[-1]}"
    assert sign_in(client, STAFF["dsl"][0], next_=wanted).headers["Location"] == wanted
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example",
                      "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)"):
        other = app.test_client()
        assert sign_in(other, STAFF["dsl"][0], next_=elsewhere).headers["Location"] == "/"


def test_the_session_cookie_holds_no_password_and_is_signed(app):
    client = app.test_client()
    sign_in(client, STAFF["dsl"][0])
    cookie = client.get_cookie("hallmonitor_session")
    assert cookie is not None and PASSWORD not in cookie.value
    # A cookie edited by hand (another user's id) is not believed.
    client.set_cookie("hallmonitor_session", cookie.value[:-4] + "AAAA")
    assert not signed_in(client)


# --- CSRF --------------------------------------------------------------------------------------

def test_a_post_without_the_csrf_token_is_refused(app, world):
    client = app.test_client()
    refused = client.post("/sign-in", data={"email": STAFF["dsl"][0], "password": PASSWORD})
    assert refused.status_code == 400
    assert "Please try again" in refused.text
    assert not signed_in(client)
    sign_in(client, STAFF["dsl"][0])
    assert client.post("/sign-out").status_code == 400
    assert signed_in(client)
    forged = client.post("/sign-out", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and signed_in(client)


def test_a_csrf_token_of_another_session_is_refused(app):
    mine, theirs = app.test_client(), app.test_client()
    sign_in(mine, STAFF["dsl"][0])
    their_token = csrf_token(theirs.get("/sign-in").text)
    assert mine.post("/sign-out", data={"csrf_token": their_token}).status_code == 400
    assert signed_in(mine)


# --- rate limiting -----------------------------------------------------------------------------

def test_failed_sign_ins_from_one_address_are_limited_with_a_readable_page(app):
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, STAFF["dsl"][0], "wrong-password-here").status_code == 401
    limited = sign_in(client, STAFF["dsl"][0])  # even the right password, for now
    assert limited.status_code == 429
    assert "Too many attempts" in limited.text
    assert limited.headers["Content-Security-Policy"]
    assert not signed_in(client)
    # Another address is not held up by this one's attempts.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert sign_in(elsewhere, STAFF["head"][0]).status_code == 303


def test_failed_sign_ins_for_one_email_are_limited_whatever_address_they_come_from(app):
    for number in range(5):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{number + 1}"
        assert sign_in(client, STAFF["head"][0], "guess-number-" + str(number)).status_code \
            == 401
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.99"
    assert sign_in(client, STAFF["head"][0], "one-more-guess").status_code == 429
    assert sign_in(client, STAFF["dsl"][0]).status_code == 303  # other accounts are unaffected


def test_successful_sign_ins_are_not_counted(app):
    for _ in range(8):
        client = app.test_client()
        assert sign_in(client, STAFF["dsl"][0]).status_code == 303


# --- headers and cookies -----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/sign-in", "/healthz", "/no-such-page", "/ack/not-a-token",
                                  "/static/console.css"])
def test_every_response_carries_the_security_headers(app, path):
    answer = app.test_client().get(path)
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "no-referrer"


def test_the_404_page_is_a_page_with_the_layout(app):
    answer = app.test_client().get("/no-such-page")
    assert answer.status_code == 404
    assert "Page not found" in answer.text and 'name="viewport"' in answer.text


def test_the_session_cookie_is_httponly_and_lax_and_secure_only_over_https(app):
    plain = app.test_client()
    sign_in(plain, STAFF["dsl"][0])
    cookie = plain.get_cookie("hallmonitor_session")
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    secure = app.test_client()
    page = secure.get("/sign-in", base_url="https://console.example")
    set_cookie = page.headers["Set-Cookie"]
    assert "Secure" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert page.headers["Strict-Transport-Security"]


def _behind_proxy(world, clock):
    from monitor.config import Config
    from monitor.web.app import create_app

    settings = world.config.settings.model_copy(update={
        "web": world.config.web.model_copy(update={"behind_proxy": True})})
    config = Config(settings, world.config.path, world.config.secrets, world.config.database_url)
    return create_app(config, world.sessions, clock=clock)


def test_behind_a_proxy_its_forwarded_scheme_makes_cookies_secure(world, clock, app):
    proxied = _behind_proxy(world, clock).test_client()
    page = proxied.get("/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in page.headers["Set-Cookie"]
    # Without behind_proxy, a client cannot claim https for itself.
    direct = app.test_client().get("/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in direct.headers["Set-Cookie"]


def test_behind_a_proxy_rate_limits_count_the_forwarded_client(world, clock):
    app = _behind_proxy(world, clock)
    for _ in range(5):
        client = app.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.5"
        sign_in(client, f"nobody{_}@oakfield.example", "wrong-password-here")
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.5"
    assert sign_in(client, STAFF["dsl"][0]).status_code == 429
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.6"
    assert sign_in(client, STAFF["dsl"][0]).status_code == 303


def test_healthz_answers_without_signing_in(app):
    answer = app.test_client().get("/healthz")
    assert (answer.status_code, answer.text) == (200, "ok\n")


def test_sign_in_is_recorded_on_the_account(app, world):
    sign_in(app.test_client(), STAFF["dsl"][0])
    with world.sessions() as session:
        user = session.get(models.StaffUser, world.users["dsl"])
        assert user.last_sign_in_at is not None


# --- serving -----------------------------------------------------------------------------------

def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def test_the_console_is_served_in_a_thread_and_stops(world):
    from monitor.web.serve import start

    port = free_port()
    handle = start(world.config, world.sessions, port=port)
    try:
        assert _get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        status, page = _get(f"http://127.0.0.1:{port}/sign-in")
        assert status == 200 and 'name="password"' in page
    finally:
        handle.stop()
    assert not handle.thread.is_alive()
    assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 0
    again = start(world.config, world.sessions, port=port)  # the port is free again
    again.stop()


def test_hallmonitor_web_serves_the_console_until_interrupted(world):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HALLMONITOR_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "web", "--config", str(world.root / "config.toml"),
         "--port", str(port)], cwd=world.root, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
                        or process.poll() is not None, timeout=30)
        assert _get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in err and "stopped" in err
    assert "Traceback" not in err


def test_hallmonitor_web_on_a_port_in_use_says_so_in_one_line(world, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as info:
            main(["web", "--config", str(world.root / "config.toml"), "--port", str(port)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "already in use" in err
    assert len(err.strip().splitlines()) == 1, err


# --- settings ----------------------------------------------------------------------------------

@pytest.mark.parametrize("web, key, shown", [
    ('mail_url = "mailtos://hallmonitor:hunter2-secret@smtp.example"', "web.mail_url",
     "holds a password"),
    ('mail_url = "https://example.com/hook"', "web.mail_url", "email URL"),
    ('sign_in_limit = "lots"', "web.sign_in_limit", "not a limit"),
])
def test_console_settings_that_cannot_work_are_refused_by_name(tmp_path, web, key, shown):
    from monitor.config import parse
    from monitor.errors import ConfigError
    from tests.builders import write_config, write_replay

    write_replay(tmp_path / "fb", ["hello"])
    text = write_config(tmp_path).read_text() + f"\n[web]\n{web}\n"
    with pytest.raises(ConfigError) as info:
        parse(text, path=tmp_path / "config.toml")
    (problem,) = info.value.problems
    assert problem.startswith(f"{key}:") and shown in problem
    assert "hunter2" not in problem


def test_a_mail_url_reference_and_a_limit_are_accepted(tmp_path, monkeypatch):
    from monitor.config import parse
    from tests.builders import write_config, write_replay

    monkeypatch.setenv("HM_MAIL_URL", "mailtos://mail.example?from=hm@school.example")
    write_replay(tmp_path / "fb", ["hello"])
    text = write_config(tmp_path).read_text() + (
        '\n[web]\nmail_url = "env:HM_MAIL_URL"\nsign_in_limit = "3 per minute"\n')
    web = parse(text, path=tmp_path / "config.toml").web
    assert (web.mail_url, web.sign_in_limit) == ("env:HM_MAIL_URL", "3 per minute")


def test_the_sign_in_limit_is_the_configured_one(world, clock):
    from monitor.config import Config
    from monitor.web.app import create_app

    settings = world.config.settings.model_copy(update={
        "web": world.config.web.model_copy(update={"sign_in_limit": "2 per minute"})})
    config = Config(settings, world.config.path, world.config.secrets, world.config.database_url)
    client = create_app(config, world.sessions, clock=clock).test_client()
    assert [sign_in(client, STAFF["it"][0], "wrong-password-here").status_code
            for _ in range(3)] == [401, 401, 429]
