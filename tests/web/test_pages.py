"""The console's pages through Flask's test client, on a real database: a trust of two schools
with staff of every role (tests/web/conftest.py), signed in with their passwords."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import select

from monitor import models
from tests.web.conftest import CASES, HOSTILE_MARKUP, PASSWORD, STAFF

CSS = Path(__file__).resolve().parents[2] / "monitor" / "web" / "static" / "console.css"


@pytest.fixture
def app(world):
    from monitor.web.app import create_app

    app = create_app(world.config, world.sessions)
    app.testing = True
    return app


class Staff:
    """A test client signed in as one member of staff, posting forms with their CSRF token."""

    def __init__(self, app, email: str) -> None:
        self.client = app.test_client()
        page = self.client.get("/sign-in")
        answer = self.client.post("/sign-in", data={
            "email": email, "password": PASSWORD, "csrf_token": token_in(page.text)})
        assert answer.status_code in (302, 303), answer.text

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, *, follow: bool = False):
        form = dict(data or {})
        form.setdefault("csrf_token", token_in(self.client.get("/audit").text))
        return self.client.post(path, data=form, follow_redirects=follow)


def token_in(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def staff(app, world):
    signed_in: dict[str, Staff] = {}

    def as_(who: str) -> Staff:
        if who not in signed_in:
            signed_in[who] = Staff(app, STAFF[who][0])
        return signed_in[who]

    return as_


def incident_links(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/incidents/(\d+)"', page)]


def every_comment_text() -> list[str]:
    return [c.text for case in CASES.values() for c in case.comments]


# --- the queue -----------------------------------------------------------------------------

def test_the_queue_shows_urgent_incidents_first_then_the_newest(staff, world):
    page = staff("dsl").get("/")
    assert page.status_code == 200
    assert incident_links(page.text) == [world.incidents["threat"],
                                         world.incidents["disclosure"],
                                         world.incidents["pile_on"]]
    # Severity is written, not only coloured; each row says where and how many.
    assert ">Urgent</span>" in page.text and ">High</span>" in page.text
    assert "Facebook" in page.text


def test_the_queue_filters_by_harm_category_status_and_platform(staff, world):
    dsl = staff("dsl")
    assert incident_links(dsl.get("/?harm=threat").text) == [world.incidents["threat"]]
    assert incident_links(dsl.get("/?category=abusive").text) == [world.incidents["pile_on"]]
    assert incident_links(dsl.get("/?platform=instagram").text) == []
    assert len(incident_links(dsl.get("/?platform=facebook").text)) == 3
    assert incident_links(dsl.get("/?status=resolved").text) == []
    # Every filter is a labelled control.
    page = dsl.get("/").text
    for name in ("status", "harm", "category", "platform"):
        assert f'<label for="f-{name}">' in page and f'id="f-{name}" name="{name}"' in page


def test_resolved_incidents_are_behind_the_status_filter(staff, world):
    dsl = staff("dsl")
    pile_on = world.incidents["pile_on"]
    dsl.post(f"/incidents/{pile_on}/resolve", {"outcome": "hidden"})
    assert pile_on not in incident_links(dsl.get("/").text)
    resolved = dsl.get("/?status=resolved").text
    assert incident_links(resolved) == [pile_on]
    assert "Hidden" in resolved


def test_the_queue_pages_keep_their_filters(staff, world):
    with world.sessions.begin() as session:
        for n in range(55):
            at = datetime.now(UTC) - timedelta(days=2, minutes=n)
            session.add(models.Incident(
                school_id="oakfield", key=f"old:{n}", severity="normal", harm="hostility",
                categories=["disparaging"], item_count=1, opened_at=at, last_item_at=at))
    dsl = staff("dsl")
    first = dsl.get("/?harm=hostility").text
    assert len(incident_links(first)) == 50 and "Page 1 of 2" in first
    [following] = re.findall(r'href="([^"]+)" rel="next"', first)
    assert "harm=hostility" in following and "page=2" in following
    second = dsl.get(html.unescape(following)).text
    assert len(incident_links(second)) == 6 and "Page 2 of 2" in second
    assert world.incidents["pile_on"] in incident_links(first)  # high before normal


def test_a_trust_admin_sees_and_filters_every_school(staff, world):
    admin = staff("admin")
    page = admin.get("/").text
    assert set(incident_links(page)) == set(world.incidents.values())
    assert '<label for="f-school">School</label>' in page
    assert incident_links(admin.get("/?school=riverside").text) == [world.incidents["riverside"]]


def test_the_filters_fold_under_a_summary_that_is_open_only_while_a_filter_is_in_use(staff):
    dsl = staff("dsl")
    plain = dsl.get("/").text
    # Folded on a phone (console.css opens it on a wide screen), so incidents come first.
    assert '<details class="filter-box">' in plain
    assert "<summary>Filter incidents</summary>" in plain
    assert plain.index('<details class="filter-box">') < plain.index('id="f-status"') \
        < plain.index("</details>")
    for filtered in ("/?harm=threat", "/?status=all", "/?category=abusive&page=2"):
        page = dsl.get(filtered).text
        assert '<details class="filter-box" open>' in page, filtered
        assert "Filter incidents <span class=\"in-use\">(filtered)</span>" in page
    assert '<details class="filter-box">' in dsl.get("/?page=1").text  # a page is no filter


def test_the_queue_names_a_harm_once_and_only_categories_that_add_to_it(staff, world):
    page = staff("dsl").get("/").text
    labels = re.findall(r'<td data-label="Harm">([^<]*)</td>', page)
    # Threat and safeguarding incidents' only category is their harm: not "Threat: Threat".
    assert sorted(labels) == ["Hostility: Abusive", "Safeguarding", "Threat"]
    # The same on the incident page: its heading names the harm.
    threat = staff("dsl").get(f"/incidents/{world.incidents['threat']}").text
    assert f"<h1>Incident #{world.incidents['threat']}: Threat</h1>" in threat
    assert "<dt>Categories</dt>" not in threat
    pile_on = staff("dsl").get(f"/incidents/{world.incidents['pile_on']}").text
    assert "<dt>Categories</dt><dd>Abusive</dd>" in pile_on


# --- who sees what -------------------------------------------------------------------------

def test_another_schools_incident_is_refused_and_absent_from_the_queue(staff, world):
    dsl = staff("dsl")
    riverside = world.incidents["riverside"]
    assert riverside not in incident_links(dsl.get("/").text)
    # Asking for the other school by name shows only their own school's incidents.
    assert riverside not in incident_links(dsl.get("/?school=riverside").text)
    refused = dsl.get(f"/incidents/{riverside}")
    assert refused.status_code == 403
    assert "Riverside teachers are clueless idiots" not in refused.text
    # A number with no incident behind it is refused the same way: nothing to probe.
    assert dsl.get("/incidents/99999").status_code == 403
    # And nothing can be done to it either.
    answer = dsl.post(f"/incidents/{riverside}/acknowledge")
    assert answer.status_code == 403
    assert world.incident("riverside").status == "open"
    assert not world.actions(incident_id=riverside)


def test_an_item_of_another_incident_cannot_be_acted_on_through_this_one(staff, world):
    dsl = staff("dsl")
    answer = dsl.post(f"/incidents/{world.incidents['threat']}/items/"
                      f"{world.items['riverside']}/feedback", {"kind": "not_a_problem"})
    assert answer.status_code == 403
    assert world.feedback("riverside") == []


def test_it_never_sees_comment_text(staff, world):
    it = staff("it")
    dsl = staff("dsl")
    dsl.post(f"/incidents/{world.incidents['disclosure']}/notes",
             {"text": "Spoke to the child's teacher; following up today"})
    dsl.post(f"/incidents/{world.incidents['threat']}/items/{world.items['threat']}/feedback",
             {"kind": "categories", "category": ["threat", "abusive"]})
    home = it.get("/")
    assert home.status_code in (302, 303) and home.headers["Location"].endswith("/sources")
    for incident_id in world.incidents.values():
        assert it.get(f"/incidents/{incident_id}").status_code == 403
    pages = {path: it.get(path) for path in ("/sources", "/audit", "/users")}
    for path, page in pages.items():
        assert page.status_code == 200, path
        for text in [*every_comment_text(), "Spoke to the child"]:
            assert text not in page.text and str(escape(text)) not in page.text, (path, text)
    assert "Feedback" in pages["/audit"].text  # the audit trail itself is there


def test_dsl_notes_are_for_the_dsl_and_head_only(staff, world):
    disclosure = world.incidents["disclosure"]
    note = "Mum called back, social care informed at 9:40"
    answer = staff("dsl").post(f"/incidents/{disclosure}/notes", {"text": note}, follow=True)
    assert "Note added." in answer.text and note in answer.text
    assert note in staff("head").get(f"/incidents/{disclosure}").text
    champion = staff("champion")
    page = champion.get(f"/incidents/{disclosure}")
    # The champion sees that the safeguarding incident exists, and can hide its comment...
    assert page.status_code == 200
    assert "Safeguarding" in page.text and 'value="hide"' in page.text
    # ...but not the DSL's notes, here or in the audit trail, and cannot add any.
    assert note not in page.text and "Add a private note" not in page.text
    assert note not in champion.get("/audit").text
    assert champion.post(f"/incidents/{disclosure}/notes", {"text": "x"}).status_code == 403
    assert [a.result for a in world.actions(action="note")] == [note]


def test_sources_and_users_are_for_it_head_and_admins(staff):
    for who in ("champion", "dsl"):
        assert staff(who).get("/sources").status_code == 403
        assert staff(who).get("/users").status_code == 403
    for who in ("it", "head", "admin"):
        assert staff(who).get("/sources").status_code == 200
        assert staff(who).get("/users").status_code == 200


def test_the_users_page_lists_the_schools_staff_without_password_hashes(staff, world):
    page = staff("it").get("/users").text
    for who in ("dsl", "head", "champion", "it"):
        assert STAFF[who][0] in page
    assert "dsl@riverside.example" not in page and "admin@trust.example" not in page
    assert "$argon2" not in page
    assert "dsl@riverside.example" in staff("admin").get("/users").text


# --- dealing with an incident --------------------------------------------------------------

def test_acknowledge_resolve_and_reopen_change_the_incident_and_its_trail(staff, world):
    dsl = staff("dsl")
    threat = world.incidents["threat"]
    answer = dsl.post(f"/incidents/{threat}/acknowledge")
    assert answer.status_code == 303 and answer.headers["Location"].endswith(
        f"/incidents/{threat}")
    page = dsl.get(f"/incidents/{threat}").text
    assert f"Incident #{threat} acknowledged." in page
    assert world.incident("threat").status == "acknowledged"
    assert world.incident("threat").acknowledged_by == STAFF["dsl"][0]

    # A second acknowledgement adds to the trail.
    staff("head").post(f"/incidents/{threat}/acknowledge")
    dsl.post(f"/incidents/{threat}/resolve", {"outcome": "reported_to_police",
                                               "note": "Crime reference 4471"})
    resolved = world.incident("threat")
    assert (resolved.status, resolved.outcome, resolved.resolved_by) == (
        "resolved", "reported_to_police", STAFF["dsl"][0])
    dsl.post(f"/incidents/{threat}/reopen")
    assert world.incident("threat").status == "open"
    assert [(a.action, a.actor) for a in world.actions(incident_id=threat)] == [
        ("acknowledge", STAFF["dsl"][0]), ("acknowledge", STAFF["head"][0]),
        ("resolve", STAFF["dsl"][0]), ("note", STAFF["dsl"][0]), ("reopen", STAFF["dsl"][0])]
    trail = dsl.get(f"/incidents/{threat}").text
    for shown in ("Acknowledged", "Resolved", "Reopened", "Crime reference 4471",
                  "reported to the police"):
        assert shown in trail


def test_resolving_needs_a_known_outcome(staff, world):
    dsl = staff("dsl")
    threat = world.incidents["threat"]
    answer = dsl.post(f"/incidents/{threat}/resolve", {"outcome": "vanished"}, follow=True)
    assert "Choose an outcome" in answer.text
    assert world.incident("threat").status == "open"
    # The outcomes offered are the labelled list from monitor.incidents.
    page = dsl.get(f"/incidents/{threat}").text
    assert '<label for="outcome">Outcome</label>' in page
    assert '<option value="referred_to_lado">Referred to the LADO</option>' in page


def test_only_the_platforms_supported_actions_are_offered(staff, world):
    dsl = staff("dsl")
    page = dsl.get(f"/incidents/{world.incidents['threat']}").text
    offered = re.findall(r'name="action" value="(\w+)"', page)
    assert offered and "mute" not in offered  # Facebook Pages cannot mute anyone
    assert set(offered) <= {"hide", "unhide", "delete", "block"}


def test_an_unsupported_action_is_refused_and_nothing_is_recorded(staff, world):
    dsl = staff("dsl")
    threat, item = world.incidents["threat"], world.items["threat"]
    answer = dsl.post(f"/incidents/{threat}/items/{item}/action", {"action": "mute"},
                      follow=True)
    assert "Mute author is not available here, so nothing was done" in answer.text
    assert "Facebook Pages cannot mute people" in answer.text
    assert world.actions(item_id=item) == []


def test_a_supported_action_reaches_the_platform_and_the_trail(staff, world):
    champion = staff("champion")
    disclosure, item = world.incidents["disclosure"], world.items["disclosure"]
    answer = champion.post(f"/incidents/{disclosure}/items/{item}/action", {"action": "hide"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"#item-{item}")
    assert world.graph.hidden == [CASES["disclosure"].comments[0].external_id]
    [record] = world.actions(item_id=item)
    assert (record.action, record.actor, record.ok, record.incident_id) == (
        "hide", STAFF["champion"][0], True, disclosure)
    assert "Hide: done." in champion.get(f"/incidents/{disclosure}").text


def test_an_item_with_no_actions_says_why(staff, world):
    page = staff("riverside_dsl").get(f"/incidents/{world.incidents['riverside']}").text
    assert 'name="action"' not in page
    assert "No moderation action is offered" in page
    assert "nothing on a platform to act on" in page


def test_not_a_problem_and_wrong_category_are_stored_for_the_classifier(staff, world):
    champion = staff("champion")
    pile_on = world.incidents["pile_on"]
    first, second = world.items["pile_on_0"], world.items["pile_on_1"]
    answer = champion.post(f"/incidents/{pile_on}/items/{first}/feedback",
                           {"kind": "not_a_problem"}, follow=True)
    assert "recorded as not a problem" in answer.text
    champion.post(f"/incidents/{pile_on}/items/{second}/feedback",
                  {"kind": "categories", "category": ["disparaging", "hateful"]})
    [not_a_problem] = world.feedback("pile_on_0")
    [recategorised] = world.feedback("pile_on_1")
    assert (not_a_problem.not_a_problem, not_a_problem.categories,
            not_a_problem.corrected_by) == (True, [], STAFF["champion"][0])
    assert (recategorised.not_a_problem, recategorised.categories) == (
        False, ["hateful", "disparaging"])
    assert "Feedback from champion@oakfield.example: not a problem" in champion.get(
        f"/incidents/{pile_on}").text
    # Choosing nothing is a clear message, not a correction.
    answer = champion.post(f"/incidents/{pile_on}/items/{first}/feedback",
                           {"kind": "categories"}, follow=True)
    assert "Choose the categories" in answer.text
    assert len(world.feedback("pile_on_0")) == 1


def test_platform_text_is_escaped_and_only_web_links_are_links(staff, world):
    script = '<script>document.title="owned"</script>'
    with world.sessions.begin() as session:
        item = session.get(models.Item, world.items["pile_on_0"])
        item.text = f"hello {script}"
        item.author_name = '<b onmouseover="x()">Mal</b>'
        item.permalink = "javascript:alert(1)"
    page = staff("dsl").get(f"/incidents/{world.incidents['pile_on']}").text
    assert script not in page and str(escape(script)) in page
    assert HOSTILE_MARKUP not in page and "&lt;img src=x onerror=" in page
    assert '<b onmouseover' not in page and "&lt;b onmouseover" in page
    assert "javascript:alert" not in page
    assert 'rel="noopener noreferrer"' in page  # the other item's link is a real one
    assert "<script" not in page


def test_the_incident_page_shows_the_thread_and_the_authors_other_flagged_items(staff, world):
    with world.sessions.begin() as session:
        threat = session.get(models.Item, world.items["threat"])
        session.add(models.Item(
            platform="facebook", external_id="822001_9100", source_id=threat.source_id,
            school_id="oakfield", kind="comment", author_id="7770001", author_name="Bystander",
            text="Has anyone told the school about this?", created_at=threat.created_at,
            permalink="", conversation_id=threat.conversation_id))
        earlier = models.Item(
            platform="facebook", external_id="811000_1", source_id=threat.source_id,
            school_id="oakfield", kind="comment", author_id=threat.author_id,
            author_name=threat.author_name, text="that teacher should be sacked",
            created_at=threat.created_at - timedelta(days=3), permalink="",
            conversation_id="811000")
        session.add(earlier)
        session.flush()
        session.add(models.Verdict(item_id=earlier.id, model_version="test",
                                   categories=["disparaging"], severity="normal",
                                   reasons={"disparaging": ["should be sacked"]},
                                   created_at=datetime.now(UTC)))
    page = staff("dsl").get(f"/incidents/{world.incidents['threat']}").text
    assert "Has anyone told the school about this?" in page
    assert "that teacher should be sacked" in page
    # Readable reasons for the incident's own item.
    assert "watch his back" in page


def test_the_incident_page_shows_what_was_said_before_the_forms(staff, world):
    page = staff("dsl").get(f"/incidents/{world.incidents['pile_on']}").text
    said = page.index("you are all useless, the whole staff")
    # A DSL reading on a phone meets the comments first, then how to deal with them.
    assert page.index('id="items-h"') < said < page.index('id="decide-h"') \
        < page.index('id="outcome"') < page.index('id="notes-h"')


def offered(page: str, incident: int, item: int) -> list[str]:
    """The moderation buttons one item's form offers."""
    form = re.search(rf'action="/incidents/{incident}/items/{item}/action".*?</form>', page,
                     re.S)
    return re.findall(r'name="action" value="(\w+)"', form.group(0)) if form else []


def item_card(page: str, item: int) -> str:
    return re.search(rf'<article class="item panel" id="item-{item}".*?</article>', page,
                     re.S).group(0)


def test_an_item_offers_unhide_only_while_its_last_successful_hide_or_unhide_was_a_hide(
        staff, world):
    dsl = staff("dsl")
    threat, item = world.incidents["threat"], world.items["threat"]
    page = dsl.get(f"/incidents/{threat}").text
    assert offered(page, threat, item) == ["hide", "delete", "block"]
    assert 'class="item-state"' not in item_card(page, item)

    dsl.post(f"/incidents/{threat}/items/{item}/action", {"action": "hide"})
    # An unhide that failed on Facebook changed nothing: the item is still hidden.
    with world.sessions.begin() as session:
        session.add(models.Action(item_id=item, incident_id=threat, action="unhide",
                                  actor=STAFF["dsl"][0], ok=False, result="Facebook said no"))
    page = dsl.get(f"/incidents/{threat}").text
    assert offered(page, threat, item) == ["unhide", "delete", "block"]
    assert "Hidden on Facebook" in item_card(page, item)

    dsl.post(f"/incidents/{threat}/items/{item}/action", {"action": "unhide"})
    page = dsl.get(f"/incidents/{threat}").text
    assert offered(page, threat, item) == ["hide", "delete", "block"]
    assert "Hidden on Facebook" not in item_card(page, item)


def test_a_second_hide_is_refused_and_never_reaches_facebook(staff, world):
    dsl = staff("dsl")
    threat, item = world.incidents["threat"], world.items["threat"]
    dsl.post(f"/incidents/{threat}/items/{item}/action", {"action": "hide"})
    again = dsl.post(f"/incidents/{threat}/items/{item}/action", {"action": "hide"},
                     follow=True)
    assert "Hide: nothing was done, because it is already hidden." in again.text
    assert world.graph.hidden == [CASES["threat"].comments[0].external_id]
    assert len(world.actions(item_id=item)) == 1


def test_delete_and_block_ask_first_and_only_the_confirmed_post_acts(staff, world):
    dsl = staff("dsl")
    threat, item = world.incidents["threat"], world.items["threat"]
    path = f"/incidents/{threat}/items/{item}/action"

    asked = dsl.post(path, {"action": "delete"})
    assert asked.status_code == 200
    assert "Delete this comment on Facebook?" in asked.text
    assert "This cannot be undone" in asked.text and "Have you recorded it?" in asked.text
    assert "time, date and place" in asked.text
    assert "watch his back" in asked.text  # the comment itself, to be sure which one
    assert '<input type="hidden" name="confirm" value="delete">' in asked.text
    assert f'action="{path}"' in asked.text and 'name="csrf_token"' in asked.text

    blocking = dsl.post(path, {"action": "block"})
    assert "Block Parent 3 on Facebook?" in blocking.text
    assert '<input type="hidden" name="confirm" value="block">' in blocking.text
    # Confirming one action never carries out another.
    assert dsl.post(path, {"action": "delete", "confirm": "block"}).status_code == 200
    assert world.actions(item_id=item) == []

    done = dsl.post(path, {"action": "delete", "confirm": "delete"})
    assert done.status_code == 303
    [record] = world.actions(item_id=item)
    assert (record.action, record.ok, record.actor) == ("delete", True, STAFF["dsl"][0])
    page = dsl.get(f"/incidents/{threat}").text
    assert "Deleted on Facebook" in item_card(page, item)
    assert offered(page, threat, item) == ["block"]  # nothing left to hide or delete


def test_hide_stays_a_single_step(staff, world):
    dsl = staff("dsl")
    threat, item = world.incidents["threat"], world.items["threat"]
    answer = dsl.post(f"/incidents/{threat}/items/{item}/action", {"action": "hide"})
    assert answer.status_code == 303
    assert [a.action for a in world.actions(item_id=item)] == ["hide"]


def test_the_acknowledge_link_page_writes_the_incident_as_the_console_does(app, world):
    from urllib.parse import urlsplit

    from monitor import links

    with world.sessions.begin() as session:
        url = links.ack_url(world.config, session, world.incidents["threat"])
    page = app.test_client().get(urlsplit(url).path).text
    assert '<span class="sev sev-urgent">Urgent</span>' in page
    assert '<span class="status status-open">Open</span>' in page
    opened = re.search(r"<dt>First seen</dt><dd><time datetime=\"[^\"]+\">([^<]+)</time>", page)
    assert opened and re.fullmatch(r"[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d "
                                   r"(GMT|BST)", opened.group(1)), page
    assert "<dt>What</dt><dd>Threat</dd>" in page  # not "Threat (threat)"
    assert '<dl class="facts incident-summary">' in page


# --- sources -------------------------------------------------------------------------------

def test_a_paused_source_shows_its_reason_and_can_be_resumed(staff, world):
    with world.sessions.begin() as session:
        source = session.scalars(select(models.Source)
                                 .where(models.Source.school_id == "oakfield")
                                 .order_by(models.Source.id)).first()
        source.paused_reason = "AuthError: the Page access token has expired"
        source.paused_at = datetime.now(UTC)
        source.failure_count = 4
        source_id = source.id
    it = staff("it")
    page = it.get("/sources").text
    assert "Paused" in page and "the Page access token has expired" in page
    assert "Est. cost a month" in page
    answer = it.post(f"/sources/{source_id}/resume", follow=True)
    assert "resumed" in answer.text
    with world.sessions() as session:
        source = session.get(models.Source, source_id)
        assert (source.paused_reason, source.failure_count) == (None, 0)


def test_another_schools_source_cannot_be_resumed(staff, world):
    with world.sessions.begin() as session:
        source = session.scalars(select(models.Source)
                                 .where(models.Source.school_id == "riverside")).one()
        source.paused_reason = "AuthError: expired"
        source_id = source.id
    it = staff("it")
    assert "Riverside" not in it.get("/sources").text
    assert it.post(f"/sources/{source_id}/resume").status_code == 403
    with world.sessions() as session:
        assert session.get(models.Source, source_id).paused_reason == "AuthError: expired"


# --- the audit trail -----------------------------------------------------------------------

def test_the_audit_trail_shows_only_the_viewers_schools(staff, world):
    staff("riverside_dsl").post(f"/incidents/{world.incidents['riverside']}/acknowledge")
    staff("dsl").post(f"/incidents/{world.incidents['threat']}/acknowledge")
    oakfield = staff("dsl").get("/audit").text
    assert STAFF["dsl"][0] in oakfield and STAFF["riverside_dsl"][0] not in oakfield
    everyone = staff("admin").get("/audit").text
    assert STAFF["dsl"][0] in everyone and STAFF["riverside_dsl"][0] in everyone


TEMPLATES = CSS.parents[1] / "templates"
PAGES = ("queue.html", "incident.html", "sources.html", "audit.html", "users.html",
         "_macros.html")


def test_every_form_that_posts_carries_a_csrf_token_and_nothing_is_marked_safe():
    for name in PAGES:
        text = re.sub(r"{#.*?#}", "", (TEMPLATES / name).read_text(), flags=re.S)
        forms = re.findall(r'<form method="post".*?</form>', text, re.S)
        assert all("ui.csrf()" in form for form in forms), name
        assert "|safe" not in text.replace(" ", "") and "<script" not in text, name
        assert "style=" not in text, name  # the CSP allows the stylesheet only


# --- looks ---------------------------------------------------------------------------------

def _luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# (text, background) pairs the stylesheet puts together.
TEXT_ON = [("text", "bg"), ("text", "panel"), ("muted", "bg"), ("muted", "panel"),
           ("muted", "low-bg"), ("link", "bg"), ("link", "panel"), ("link-visited", "bg"),
           ("link-visited", "panel"), ("primary-text", "primary"), ("primary", "bg"),
           ("urgent-text", "urgent-bg"), ("urgent-bg", "bg"), ("high-text", "high-bg"),
           ("normal-text", "normal-bg"), ("low-text", "low-bg"), ("ok-text", "ok-bg"),
           ("error-text", "error-bg"), ("private-text", "private-bg")]


def test_the_stylesheets_colours_meet_wcag_aa():
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", CSS.read_text()))
    for text, background in TEXT_ON:
        ratio = contrast(colours[text], colours[background])
        assert ratio >= 4.5, f"{text} on {background}: {ratio:.2f}:1"


def test_the_dsl_puts_an_incident_under_evidence_hold_and_releases_it(staff, world):
    disclosure = world.incidents["disclosure"]
    dsl = staff("dsl")
    page = dsl.post(f"/incidents/{disclosure}/hold", {"reason": "Police reference 4471"},
                    follow=True).text
    assert "is under evidence hold" in page and "Police reference 4471" in page
    held = world.incident("disclosure")
    assert held.held_by == STAFF["dsl"][0] and held.hold_reason == "Police reference 4471"
    assert "Release the hold" in staff("head").get(f"/incidents/{disclosure}").text
    dsl.post(f"/incidents/{disclosure}/release")
    assert world.incident("disclosure").held_at is None
    assert [a.action for a in world.actions(incident_id=disclosure)
            if a.action in ("hold", "release")] == ["hold", "release"]


def test_a_digital_champion_can_neither_hold_nor_release(staff, world):
    disclosure = world.incidents["disclosure"]
    champion = staff("champion")
    assert "Put under evidence hold" not in champion.get(f"/incidents/{disclosure}").text
    assert champion.post(f"/incidents/{disclosure}/hold").status_code == 403
    assert champion.post(f"/incidents/{disclosure}/release").status_code == 403
    assert world.incident("disclosure").held_at is None
