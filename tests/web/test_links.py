"""One-time links: signing in by a link (emailed through a real local SMTP server) and
acknowledging an incident from an alert. Opening a link changes nothing; only the POST from its
confirmation page acts, once; expired, reused, tampered and wrong-purpose links are refused."""

from __future__ import annotations

import http.cookiejar
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from monitor import links, models
from monitor.cli.common import open_db
from monitor.cli.run import _start_console
from monitor.config import Config
from tests.conftest import free_port, wait_for
from tests.web.conftest import STAFF
from tests.web.test_auth import Clock, csrf_token, sign_in, signed_in


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(world, clock):
    from monitor.web.app import create_app

    return create_app(world.config, world.sessions, clock=clock)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def ack_link(world, name: str) -> str:
    with world.sessions.begin() as session:
        return path_of(links.ack_url(world.config, session, world.incidents[name]))


def sign_in_link(world, who: str) -> str:
    with world.sessions.begin() as session:
        return path_of(links.sign_in_url(world.config, session, world.users[who]))


def made_earlier(app, purpose: str, subject: int, seconds_ago: float,
                 monkeypatch: pytest.MonkeyPatch) -> str:
    """A genuine token signed `seconds_ago` (itsdangerous stamps tokens with the wall clock)."""
    real = TimestampSigner.get_timestamp
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp",
                      lambda self: int(real(self) - seconds_ago))
        return links.make_token(app.secret_key, purpose, subject)


def confirm(client, path: str):
    """Open a link's confirmation page and press its button."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_token(page.text)})


def trail(world, incident: str) -> list[models.Action]:
    return world.actions(incident_id=world.incidents[incident])


def spent_links(world) -> int:
    with world.sessions() as session:
        return session.scalar(select(func.count()).select_from(models.UsedLink))


# --- sign-in links -----------------------------------------------------------------------------

def test_opening_a_sign_in_link_only_asks_and_its_button_signs_in(app, world):
    client = app.test_client()
    path = sign_in_link(world, "dsl")
    page = client.get(path)
    assert page.status_code == 200 and STAFF["dsl"][0] in page.text
    assert not signed_in(client) and spent_links(world) == 0
    answer = client.post(path, data={"csrf_token": csrf_token(page.text)})
    assert answer.status_code == 303
    assert signed_in(client)


def test_a_sign_in_link_works_once(app, world):
    path = sign_in_link(world, "head")
    assert confirm(app.test_client(), path).status_code == 303
    again = app.test_client()
    page = again.get(path)
    assert page.status_code == 400 and "already been used" in page.text
    token = csrf_token(again.get("/sign-in").text)
    assert again.post(path, data={"csrf_token": token}).status_code == 400
    assert not signed_in(again)


def test_an_expired_sign_in_link_is_refused(app, world, monkeypatch):
    ttl = world.config.web.sign_in_link_ttl
    token = made_earlier(app, links.SIGN_IN, world.users["dsl"], ttl + 5, monkeypatch)
    client = app.test_client()
    page = client.get(f"/sign-in/{token}")
    assert page.status_code == 400 and "expired" in page.text
    assert "Ask for a new link" in page.text
    fresh = made_earlier(app, links.SIGN_IN, world.users["dsl"], ttl - 60, monkeypatch)
    assert confirm(client, f"/sign-in/{fresh}").status_code == 303


def test_a_tampered_sign_in_link_is_refused(app, world):
    path = sign_in_link(world, "dsl")
    client = app.test_client()
    assert client.get(path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")).status_code \
        == 400
    # Another account's id put into a genuine link breaks its signature.
    other = path.replace(path.split("/")[-1].split(".")[0], "eyJzIjoxLCJuIjoieCJ9")
    assert client.get(other).status_code == 400


def test_a_sign_in_link_of_an_account_disabled_since_is_refused(app, world):
    from monitor import users

    path = sign_in_link(world, "champion")
    client = app.test_client()
    page = client.get(path)
    with world.sessions.begin() as session:
        users.disable(session, STAFF["champion"][0])
    answer = client.post(path, data={"csrf_token": csrf_token(page.text)})
    assert answer.status_code == 400 and not signed_in(client)


def test_an_acknowledge_link_does_not_sign_anyone_in(app, world):
    client = app.test_client()
    ack_token = ack_link(world, "threat").rsplit("/", 1)[1]
    assert client.get(f"/sign-in/{ack_token}").status_code == 400
    token = csrf_token(client.get("/sign-in").text)
    assert client.post(f"/sign-in/{ack_token}", data={"csrf_token": token}).status_code == 400
    assert not signed_in(client)


# --- sign-in links by email --------------------------------------------------------------------

@pytest.fixture
def mailing_app(world, clock, smtp_inbox):
    from monitor.web.app import create_app

    web = world.config.web.model_copy(update={"mail_url": smtp_inbox.url("ignored@x.example")})
    settings = world.config.settings.model_copy(update={"web": web})
    config = Config(settings, world.config.path, world.config.secrets, world.config.database_url)
    return create_app(config, world.sessions, clock=clock)


def ask_for_link(client, email: str):
    page = client.get("/sign-in/email")
    return client.post("/sign-in/email", data={"email": email,
                                               "csrf_token": csrf_token(page.text)})


def test_a_sign_in_link_is_emailed_to_the_account_and_signs_it_in(mailing_app, smtp_inbox):
    client = mailing_app.test_client()
    assert "Email me a sign-in link" in client.get("/sign-in").text
    answer = ask_for_link(client, "DSL@oakfield.example")
    assert answer.status_code == 200 and "a sign-in link is on its way" in answer.text
    assert wait_for(lambda: smtp_inbox.messages, timeout=10)
    message = smtp_inbox.messages[0]
    assert message["To"] == STAFF["dsl"][0]
    body = smtp_inbox.text(message)
    url = re.search(r"http://\S+/sign-in/\S+", body).group(0)
    assert url.startswith(f"http://127.0.0.1:{mailing_app.extensions['hallmonitor'].config.web.port}/")
    phone = mailing_app.test_client()
    assert confirm(phone, path_of(url)).status_code == 303
    assert signed_in(phone)


def test_asking_for_a_link_for_an_unknown_address_looks_the_same_and_sends_nothing(
        mailing_app, smtp_inbox):
    known = ask_for_link(mailing_app.test_client(), STAFF["head"][0])
    unknown = ask_for_link(mailing_app.test_client(), "stranger@elsewhere.example")
    assert unknown.status_code == known.status_code == 200
    assert re.sub(r'value="[^"]*"', "", unknown.text) == re.sub(r'value="[^"]*"', "", known.text)
    assert wait_for(lambda: len(smtp_inbox.messages) == 1, timeout=10)
    assert [m["To"] for m in smtp_inbox.messages] == [STAFF["head"][0]]


def test_without_a_mail_url_the_console_offers_passwords_only(app):
    client = app.test_client()
    assert "/sign-in/email" not in client.get("/sign-in").text
    assert "not set up" in client.get("/sign-in/email").text


# --- acknowledging from an alert ---------------------------------------------------------------

def test_opening_an_acknowledge_link_shows_the_incident_and_changes_nothing(app, world):
    client = app.test_client()
    path = ack_link(world, "disclosure")
    for _ in range(3):  # a mail scanner opens it, then the DSL, then again
        page = client.get(path)
        assert page.status_code == 200
    assert "<dt>School</dt><dd>Oakfield Primary School</dd>" in page.text
    assert "<dt>What</dt><dd>Safeguarding concern</dd>" in page.text
    assert '<span class="sev sev-urgent">Urgent</span>' in page.text
    assert "<dt>Comments</dt><dd>1</dd>" in page.text
    assert '<span class="status status-open">Open</span>' in page.text
    assert re.search(r"<dt>First seen</dt><dd><time datetime=\"[^\"]+\">[A-Z][a-z]{2} \d{1,2} "
                     r"[A-Z][a-z]{2} \d{4}, \d\d:\d\d (GMT|BST)</time>", page.text)
    for case_text in ("stepdad", "scared to go home"):  # no comment text on this page
        assert case_text not in page.text
    assert world.incident("disclosure").status == "open"
    assert trail(world, "disclosure") == [] and spent_links(world) == 0


def test_the_button_acknowledges_that_incident_only_and_records_it(app, world, clock):
    client = app.test_client()
    answer = confirm(client, ack_link(world, "threat"))
    assert answer.status_code == 200 and "Acknowledged" in answer.text
    threat = world.incident("threat")
    assert threat.status == "acknowledged"
    assert threat.acknowledged_at.replace(tzinfo=UTC) == clock.at.replace(microsecond=0) or \
        abs((threat.acknowledged_at.replace(tzinfo=UTC) - clock.at).total_seconds()) < 1
    (action,) = trail(world, "threat")
    assert action.action == "acknowledge" and "alert link" in action.result
    assert "Oakfield Primary School" in action.actor
    for other in ("disclosure", "pile_on", "riverside"):
        assert world.incident(other).status == "open" and trail(world, other) == []
    assert not signed_in(client)  # acknowledging signs nobody in


def test_an_acknowledge_link_works_once(app, world):
    path = ack_link(world, "pile_on")
    assert confirm(app.test_client(), path).status_code == 200
    again = app.test_client()
    page = again.get(path)
    assert page.status_code == 400 and "already been used" in page.text
    token = csrf_token(again.get("/sign-in").text)
    assert again.post(path, data={"csrf_token": token}).status_code == 400
    assert len(trail(world, "pile_on")) == 1


def test_two_presses_of_one_confirmation_page_acknowledge_once(app, world):
    client = app.test_client()
    path = ack_link(world, "pile_on")
    token = csrf_token(client.get(path).text)
    assert client.post(path, data={"csrf_token": token}).status_code == 200
    assert client.post(path, data={"csrf_token": token}).status_code == 400
    assert len(trail(world, "pile_on")) == 1


def test_an_expired_acknowledge_link_is_refused_and_changes_nothing(app, world, monkeypatch):
    token = made_earlier(app, links.ACKNOWLEDGE, world.incidents["threat"],
                         world.config.web.ack_link_ttl + 5, monkeypatch)
    client = app.test_client()
    page = client.get(f"/ack/{token}")
    assert page.status_code == 400 and "expired" in page.text
    form = {"csrf_token": csrf_token(client.get("/sign-in").text)}
    post = client.post(f"/ack/{token}", data=form)
    assert post.status_code == 400
    assert world.incident("threat").status == "open" and trail(world, "threat") == []


def test_a_sign_in_token_used_as_an_acknowledge_token_is_refused(app, world):
    # Same id as the incident, so only the purpose tells them apart.
    incident_id = world.incidents["threat"]
    with world.sessions.begin() as session:
        token = links.sign_in_url(world.config, session, incident_id).rsplit("/", 1)[1]
    client = app.test_client()
    page = client.get(f"/ack/{token}")
    assert page.status_code == 400 and "not valid" in page.text
    form = {"csrf_token": csrf_token(client.get("/sign-in").text)}
    assert client.post(f"/ack/{token}", data=form).status_code == 400
    assert world.incident("threat").status == "open"


def test_an_acknowledge_link_posted_without_its_csrf_token_is_refused(app, world):
    client = app.test_client()
    path = ack_link(world, "threat")
    client.get(path)
    assert client.post(path).status_code == 400
    assert world.incident("threat").status == "open" and spent_links(world) == 0


def test_a_signed_in_member_of_staff_acknowledging_from_the_link_is_named(app, world):
    client = app.test_client()
    sign_in(client, STAFF["dsl"][0])
    confirm(client, ack_link(world, "disclosure"))
    (action,) = trail(world, "disclosure")
    assert action.actor == STAFF["dsl"][0]
    assert world.incident("disclosure").acknowledged_by == STAFF["dsl"][0]


def test_staff_of_another_school_acknowledging_from_a_link_are_not_named(app, world):
    client = app.test_client()
    sign_in(client, STAFF["riverside_dsl"][0])
    confirm(client, ack_link(world, "threat"))
    (action,) = trail(world, "threat")
    assert STAFF["riverside_dsl"][0] not in action.actor


def test_a_resolved_incident_is_not_acknowledged_and_its_link_stays_unspent(app, world):
    from monitor import incidents

    with world.sessions.begin() as session:
        incident = session.get(models.Incident, world.incidents["threat"])
        incidents.record_resolution(session, incident, "head", datetime.now(UTC), "no_action")
    client = app.test_client()
    answer = confirm(client, ack_link(world, "threat"))
    assert answer.status_code == 409 and "already resolved" in answer.text
    assert world.incident("threat").status == "resolved"
    assert spent_links(world) == 0


def test_an_acknowledge_link_for_an_incident_that_does_not_exist_is_refused(app, world):
    with world.sessions.begin() as session:
        path = path_of(links.ack_url(world.config, session, 999999))
    assert app.test_client().get(path).status_code == 404


def test_the_mail_url_may_be_a_reference_to_a_secret(world, clock, smtp_inbox, monkeypatch):
    from monitor.config import parse
    from monitor.web.app import create_app

    monkeypatch.setenv("HM_TEST_MAIL_URL", smtp_inbox.url())
    text = world.config.path.read_text(encoding="utf-8")
    config = parse(text.replace("[web]", '[web]\nmail_url = "env:HM_TEST_MAIL_URL"', 1),
                   path=world.config.path)
    assert config.web.mail_url == "env:HM_TEST_MAIL_URL"
    config = Config(config.settings, config.path, config.secrets, world.config.database_url)
    app = create_app(config, world.sessions, clock=clock)
    assert ask_for_link(app.test_client(), STAFF["it"][0]).status_code == 200
    assert wait_for(lambda: smtp_inbox.messages, timeout=10)
    assert smtp_inbox.messages[0]["To"] == STAFF["it"][0]


# --- the demo's sign-in link -------------------------------------------------------------------

def _demo_config(tmp_path, port: int) -> Config:
    from monitor.config import demo_config

    config = demo_config(tmp_path / "demo-data")
    settings = config.settings.model_copy(update={
        "web": config.web.model_copy(update={"port": port})})
    return Config(settings, config.path, config.secrets, config.database_url)


def test_run_demo_prints_a_one_time_link_that_signs_in_the_demo_admin(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.delenv("HALLMONITOR_DATABASE_URL", raising=False)
    config = _demo_config(tmp_path, free_port())
    sessions = open_db(config)
    handle = _start_console(config, sessions)
    assert handle is not None
    try:
        err = capsys.readouterr().err
        link = re.search(r"http://127\.0\.0\.1:\d+/sign-in/\S+", err).group(0)
        assert f"Staff console: http://127.0.0.1:{config.web.port}" in err
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = browser.open(link, timeout=10).read().decode()
        assert "demo-admin@" in page
        form = urllib.parse.urlencode({"csrf_token": csrf_token(page)}).encode()
        queue = browser.open(link, data=form, timeout=10)
        assert queue.status == 200 and "Signed in as" in queue.read().decode()
        with pytest.raises(urllib.error.HTTPError) as reused:
            browser.open(link, timeout=10)
        assert reused.value.code == 400
    finally:
        handle.stop()
    # Started again, it prints a new link for the same account.
    handle = _start_console(config, sessions)
    handle.stop()
    with sessions() as session:
        admins = list(session.scalars(select(models.StaffUser)))
    assert [(a.role, a.school_id, a.password_hash) for a in admins] == [("admin", None, None)]


def test_run_carries_on_without_the_console_when_its_port_is_taken(tmp_path, caplog,
                                                                    monkeypatch):

    monkeypatch.delenv("HALLMONITOR_DATABASE_URL", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _demo_config(tmp_path, taken.getsockname()[1])
        with caplog.at_level("ERROR"):
            assert _start_console(config, open_db(config)) is None
    assert "already in use" in caplog.text and "carries on without it" in caplog.text
