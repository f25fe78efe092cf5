"""Who may do what in the console, over real HTTP to the served console (a browser adds nothing
here): another school's incident and IT are refused with 403 and Facebook is never asked, a
forged form is refused, alert links do nothing when opened and work once and not after they
expire, sign-in attempts are limited, and no comment text reaches a URL or a log line."""

from __future__ import annotations

import logging
import re
import time

import pytest
import requests
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from monitor import links, models
from tests.web.conftest import PASSWORD, World

COMMENT = "you are all useless, the whole staff"


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def signed_in(console: str, world: World, who: str) -> requests.Session:
    client = requests.Session()
    form = client.get(console + "/sign-in", timeout=10)
    answer = client.post(console + "/sign-in", timeout=10, allow_redirects=False, data={
        "csrf_token": csrf_token(form.text), "email": world.email(who), "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    return client


def post_form(client: requests.Session, console: str, page: str, target: str,
              **fields: str) -> requests.Response:
    """Post a form the way its page does: with the CSRF token the page carries."""
    token = csrf_token(client.get(console + page, timeout=10).text)
    return client.post(console + target, data={"csrf_token": token, **fields}, timeout=10,
                       allow_redirects=False)


def test_staff_of_another_school_get_403_for_an_incident_and_cannot_hide_its_comments(
        console: str, world: World):
    pile_on, item = world.incidents["pile_on"], world.items["pile_on_0"]
    client = signed_in(console, world, "riverside_dsl")
    page = client.get(f"{console}/incidents/{pile_on}", timeout=10)
    assert page.status_code == 403 and COMMENT not in page.text
    queue = client.get(console + "/?status=all", timeout=10).text
    assert f'href="/incidents/{pile_on}"' not in queue and "Oakfield" not in queue
    # A token from a page this user may see, on a form for a comment they may not.
    token = csrf_token(client.get(console + "/", timeout=10).text)
    refused = client.post(f"{console}/incidents/{pile_on}/items/{item}/action", timeout=10,
                          data={"csrf_token": token, "action": "hide"}, allow_redirects=False)
    assert refused.status_code == 403
    assert world.graph.server.requests == [] and world.actions() == []


def test_it_sees_no_comment_text_and_cannot_moderate(console: str, world: World):
    pile_on, item = world.incidents["pile_on"], world.items["pile_on_0"]
    client = signed_in(console, world, "it")
    page = client.get(f"{console}/incidents/{pile_on}", timeout=10)
    assert page.status_code == 403 and COMMENT not in page.text
    token = csrf_token(client.get(console + "/sources", timeout=10).text)
    for action, data in ((f"items/{item}/action", {"action": "hide"}), ("acknowledge", {})):
        answer = client.post(f"{console}/incidents/{pile_on}/{action}", timeout=10,
                             data={"csrf_token": token, **data}, allow_redirects=False)
        assert answer.status_code == 403, action
    assert world.graph.server.requests == [] and world.incident("pile_on").status == "open"


def test_a_champion_gets_403_for_the_sources_and_a_dsls_note_form(console: str, world: World):
    disclosure = world.incidents["disclosure"]
    client = signed_in(console, world, "champion")
    assert client.get(console + "/sources", timeout=10).status_code == 403
    answer = post_form(client, console, f"/incidents/{disclosure}",
                       f"/incidents/{disclosure}/notes", text="the champion's own words")
    assert answer.status_code == 403
    assert world.actions(incident_id=disclosure) == []


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_a_hide_without_the_pages_csrf_token_is_refused_and_never_reaches_facebook(
        console: str, world: World, token: str | None):
    pile_on, item = world.incidents["pile_on"], world.items["pile_on_0"]
    client = signed_in(console, world, "dsl")
    data = {"action": "hide", **({"csrf_token": token} if token else {})}
    answer = client.post(f"{console}/incidents/{pile_on}/items/{item}/action", data=data,
                         timeout=10, allow_redirects=False)
    assert answer.status_code == 400
    assert world.graph.server.requests == [] and world.actions() == []
    # The same press with the page's token works: the refusal was the token's doing.
    done = post_form(client, console, f"/incidents/{pile_on}",
                     f"/incidents/{pile_on}/items/{item}/action", action="hide")
    assert done.status_code == 303 and world.graph.hidden == ["822001_9003"]


def ack_link(world: World, incident: str) -> str:
    with world.sessions.begin() as session:
        return links.ack_url(world.config, session, world.incidents[incident])


def press_confirm(client: requests.Session, link: str) -> requests.Response:
    page = client.get(link, timeout=10)
    assert page.status_code == 200, page.text
    return client.post(link, data={"csrf_token": csrf_token(page.text)}, timeout=10)


def test_opening_an_acknowledge_link_any_number_of_times_changes_nothing(
        console: str, world: World):
    link = ack_link(world, "threat")
    for _ in range(3):  # a mail scanner, a link preview, the DSL
        page = requests.get(link, timeout=10)
        assert page.status_code == 200 and "Acknowledge this incident?" in page.text
        assert requests.head(link, timeout=10).status_code in (200, 405)
    assert world.incident("threat").status == "open"
    with world.sessions() as session:
        assert session.query(models.UsedLink).count() == 0
    assert world.actions() == []


def test_an_acknowledge_link_works_once(console: str, world: World):
    link = ack_link(world, "threat")
    assert press_confirm(requests.Session(), link).status_code == 200
    assert world.incident("threat").status == "acknowledged"
    again = requests.Session()
    opened = again.get(link, timeout=10)
    assert opened.status_code == 400 and "already been used" in opened.text
    assert len(world.actions(action="acknowledge")) == 1


def test_an_expired_acknowledge_link_is_refused_and_changes_nothing(console: str, world: World):
    class TwoDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * 86400

    with world.sessions.begin() as session:
        key = links.signing_key(world.config, session)
    token = URLSafeTimedSerializer(key, salt=f"hallmonitor-{links.ACKNOWLEDGE}",
                                   signer=TwoDaysAgo).dumps(
        {"s": world.incidents["threat"], "n": "expired-link"})
    opened = requests.get(f"{console}/ack/{token}", timeout=10)
    assert opened.status_code == 400 and "expired" in opened.text
    assert world.incident("threat").status == "open" and world.actions() == []


def test_sign_in_attempts_are_limited_with_a_429_page(console: str, world: World):
    client = requests.Session()
    token = csrf_token(client.get(console + "/sign-in", timeout=10).text)
    statuses = [client.post(console + "/sign-in", timeout=10, allow_redirects=False, data={
        "csrf_token": token, "email": world.email("dsl"), "password": f"guess-{n}"}).status_code
        for n in range(6)]
    assert statuses == [401] * 5 + [429]
    # Even the right password waits now: a guesser cannot tell which attempt would have worked.
    right = client.post(console + "/sign-in", timeout=10, allow_redirects=False, data={
        "csrf_token": token, "email": world.email("dsl"), "password": PASSWORD})
    assert right.status_code == 429 and "Too many attempts" in right.text


def test_no_comment_text_in_any_link_or_log_line(console: str, world: World, caplog):
    caplog.set_level(logging.DEBUG)
    pile_on, item = world.incidents["pile_on"], world.items["pile_on_0"]
    client = signed_in(console, world, "dsl")
    page = client.get(f"{console}/incidents/{pile_on}", timeout=10).text
    post_form(client, console, f"/incidents/{pile_on}",
              f"/incidents/{pile_on}/items/{item}/action", action="hide")
    post_form(client, console, f"/incidents/{pile_on}",
              f"/incidents/{pile_on}/items/{item}/feedback", kind="not_a_problem")
    assert world.graph.hidden == ["822001_9003"]
    words = ("useless", "whole staff", "onerror")
    addresses = re.findall(r'(?:href|action|src)="([^"]*)"', page)
    assert addresses and not [a for a in addresses if any(w in a for w in words)]
    logged = [record.getMessage() for record in caplog.records]
    assert not [line for line in logged if any(w in line for w in words)]
