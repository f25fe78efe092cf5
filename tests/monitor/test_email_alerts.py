"""Alerts as the people they are for receive them: emails through a real SMTP server, parsed with
the `email` package; webhooks through a real local HTTP server; one email shown in a real browser
at phone and desktop widths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select, update

from connectors.replay import ReplayConnector
from monitor import incidents, models, notify
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"
MARKUP = ' <img src=x onerror=alert(1)> <a href="https://evil.example/go">click here</a>'
CONSOLE = "https://hm.oakfield.example"

pytestmark = pytest.mark.usefixtures("database")


class Page(HTMLParser):
    """An HTML document's tags, link targets and visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")

    def handle_data(self, data):
        self.text.append(data)

    @property
    def visible(self) -> str:
        return "".join(self.text)


def school(tmp_path, recipients, texts=(THREAT,), *, console=True, batch_interval="2s"):
    write_replay(tmp_path / "fb", list(texts))
    path = write_config(tmp_path, recipients, batch_interval=batch_interval)
    if console:
        path.write_text(path.read_text() + f'\n[web]\nenabled = true\npublic_url = "{CONSOLE}"\n')
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    return config, sessions


def parts(message) -> tuple[str, str]:
    """The plain-text and HTML parts of a multipart/alternative email."""
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return plain, html


def test_an_urgent_email_has_html_and_a_plain_text_part_that_keeps_every_line(tmp_path,
                                                                                smtp_inbox):
    config, sessions = school(tmp_path, {"dsl": [smtp_inbox.url("dsl@school.example")]},
                              texts=(THREAT + MARKUP,))
    assert notify.deliver_due(config, sessions, "test").sent == 1
    [message] = smtp_inbox.messages
    assert message["Subject"] == "[URGENT] Threat - Oakfield Primary School - Facebook"
    plain, html = parts(message)

    lines = plain.splitlines()
    assert lines[0] == "For: designated safeguarding lead"
    assert lines[1] == f'What: "{THREAT + MARKUP}"'  # the comment, as written, as text
    assert lines[2] == "Who: Parent 1 — comment on Facebook"
    assert lines[3].startswith("When: ") and lines[3].endswith("(GMT)")
    assert lines[4].startswith("Where: https://www.facebook.com/")
    assert "Why it was flagged:" in lines
    steps = lines[lines.index("What to do next:") + 1:]
    assert steps[0] == "  1. If anyone is in danger now, call 999."
    assert f"Incident #1: {CONSOLE}/incidents/1" in lines
    [ack] = [line for line in lines if line.startswith("Acknowledge (opens a confirmation page)")]
    assert f"{CONSOLE}/ack/" in ack
    assert lines[-1] == "Ref: item:1"

    page = Page(html)
    assert html.startswith("<!DOCTYPE html>") and "table" in page.tags
    # The commenter's markup arrives as text: no image to load, no link of theirs to follow.
    assert "img" not in page.tags
    assert not any("evil.example" in href for href in page.hrefs)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert MARKUP.strip() in page.visible
    assert f"{CONSOLE}/incidents/1" in page.hrefs
    assert any(href.startswith(f"{CONSOLE}/ack/") for href in page.hrefs)
    assert "For: designated safeguarding lead" in page.visible
    assert "Acknowledge (opens a confirmation page)" in page.visible


def test_without_the_console_the_email_gives_the_commands_instead(tmp_path, smtp_inbox):
    config, sessions = school(tmp_path, {"dsl": [smtp_inbox.url()]}, console=False)
    notify.deliver_due(config, sessions, "test")
    plain, html = parts(smtp_inbox.messages[0])
    assert "To acknowledge: hallmonitor incidents ack 1" in plain.splitlines()
    assert "/ack/" not in plain and "/incidents/" not in plain
    assert "hallmonitor incidents ack 1" in html
    # The replay connector moderates nothing, so no action is offered.
    assert "hallmonitor action" not in plain and "Actions" not in plain


def test_offered_actions_are_those_the_source_connector_supports(tmp_path, smtp_inbox,
                                                                 monkeypatch):
    monkeypatch.setattr(ReplayConnector, "supports", {"comment": ("hide", "block")})
    config, sessions = school(tmp_path, {"dsl": [smtp_inbox.url()]}, console=False)
    notify.deliver_due(config, sessions, "test")
    plain, html = parts(smtp_inbox.messages[0])
    lines = plain.splitlines()
    assert lines[lines.index("Actions:") + 1:][:2] == ["  - hallmonitor action hide 1",
                                                       "  - hallmonitor action block 1"]
    assert "delete" not in plain and "mute" not in plain
    assert "hallmonitor action block 1" in html


def test_with_the_console_actions_link_to_the_item_on_its_incident_page(tmp_path, smtp_inbox,
                                                                        monkeypatch):
    monkeypatch.setattr(ReplayConnector, "supports", {"comment": ("hide",)})
    config, sessions = school(tmp_path, {"dsl": [smtp_inbox.url()]})
    notify.deliver_due(config, sessions, "test")
    plain, html = parts(smtp_inbox.messages[0])
    assert f"  - Hide it: {CONSOLE}/incidents/1#item-1" in plain.splitlines()
    assert f"{CONSOLE}/incidents/1#item-1" in Page(html).hrefs


def test_a_digest_email_is_html_with_every_alert_and_a_text_part_with_its_lines(tmp_path,
                                                                                 smtp_inbox):
    texts = ["what time is pick up on friday?", "is the school trip still on?",
             "Jack won't be in today, he's got a temperature"]
    config, sessions = school(tmp_path, {"digital_champion": [smtp_inbox.url()]}, texts,
                              batch_interval="1h")
    later = datetime.now(UTC) + timedelta(seconds=3601)
    assert notify.deliver_due(config, sessions, "test", now=later).sent == 3
    [message] = smtp_inbox.messages
    assert message["Subject"] == ("[DIGEST] 3 comments to look at - Oakfield Primary School - "
                                  "Absence, Question")
    plain, html = parts(message)
    lines = plain.splitlines()
    assert lines[0] == "For: digital champion"
    assert sum(line.startswith("What: ") for line in lines) == 3
    # The absence (normal) comes before the questions (low).
    assert lines[2] == "1. [NORMAL] Absence - Oakfield Primary School - Facebook"
    page = Page(html)
    for text in texts:
        assert f'What: "{text}"' in lines
        assert text in page.visible
    assert "[LOW] Question - Oakfield Primary School - Facebook" in page.visible
    assert "[NORMAL] Absence - Oakfield Primary School - Facebook" in page.visible


def test_a_possible_repeat_is_marked_in_the_subject_and_both_parts(tmp_path, smtp_inbox):
    config, sessions = school(tmp_path, {"dsl": [smtp_inbox.url()]})
    with sessions.begin() as session:
        session.execute(update(models.Delivery).values(possible_repeat=True))
    notify.deliver_due(config, sessions, "test")
    [message] = smtp_inbox.messages
    assert message["Subject"].endswith("(possible repeat)")
    plain, html = parts(message)
    assert plain.startswith("(possible repeat) An earlier send")
    assert "(possible repeat) An earlier send" in Page(html).visible


def test_an_alert_written_before_details_were_kept_sends_as_it_did(tmp_path, smtp_inbox):
    config, sessions = school(tmp_path, {"dsl": [smtp_inbox.url()]})
    with sessions.begin() as session:
        alert = session.scalars(select(models.Alert)).one()
        alert.details = None
        alert.body = "What: an old alert\nRef: item:1"
    notify.deliver_due(config, sessions, "test")
    [message] = smtp_inbox.messages
    assert message.get_content_type() == "text/plain"
    assert message.get_content().splitlines() == ["What: an old alert", "Ref: item:1"]


def test_a_webhook_gets_text_and_a_markdown_destination_gets_inert_markdown(tmp_path, webhook):
    comment = THREAT + " ![x](https://evil.example/p.png) [click](https://evil.example/go)"
    config, sessions = school(tmp_path, {"dsl": [webhook.url()],
                                         "head": [webhook.url() + "?format=markdown"]},
                              texts=(comment,))
    assert notify.deliver_due(config, sessions, "test").sent == 2
    by_role = {}
    for payload in webhook.received:
        by_role[payload["message"].split("\n", 1)[0]] = payload
    text = by_role["For: designated safeguarding lead"]["message"]
    assert f'What: "{comment}"' in text.splitlines()
    markdown = by_role["**For:** headteacher"]["message"]
    assert f"**What was seen:**\n\n```\n{comment}\n```" in markdown
    assert f"[Open it in the console](<{CONSOLE}/incidents/1>)" in markdown
    assert "1. If anyone is in danger now, call 999." in markdown.splitlines()
    # Rendered as markdown, the comment's image and link stay text.
    from markdown import markdown as render

    html = render(markdown, extensions=["fenced_code"])
    page = Page(html)
    assert "img" not in page.tags
    assert not any("evil.example" in href for href in page.hrefs)


def test_an_escalation_reminder_repeats_the_comment_the_link_and_how_long_it_waited(tmp_path,
                                                                                      smtp_inbox):
    config, sessions = school(tmp_path, {"dsl": [smtp_inbox.url("dsl@school.example")],
                                         "head": [smtp_inbox.url("head@school.example")]})
    notify.deliver_due(config, sessions, "test")
    smtp_inbox.messages.clear()
    later = datetime.now(UTC) + timedelta(minutes=47, seconds=30)
    assert incidents.escalate_due(config, sessions, later) == 1
    notify.deliver_due(config, sessions, "test", now=later)
    assert len(smtp_inbox.messages) == 2
    for message in smtp_inbox.messages:
        assert message["Subject"] == ("[URGENT] Threat - Oakfield Primary School - Facebook - "
                                      "NOT YET ACKNOWLEDGED (waiting 47 minutes)")
        plain, html = parts(message)
        lines = plain.splitlines()
        assert f'What: "{THREAT}"' in lines
        assert f"Incident #1: {CONSOLE}/incidents/1" in lines
        assert any(line.startswith("Not yet acknowledged: an urgent alert went out 47 minutes")
                   for line in lines)
        assert any(line.startswith("Acknowledge (opens a confirmation page): ") for line in lines)
        assert THREAT.replace("'", "&#x27;") in html
        assert f"{CONSOLE}/incidents/1" in Page(html).hrefs


def test_a_received_email_reads_well_in_a_browser_at_phone_and_desktop_widths(
        tmp_path, smtp_inbox, chromium):
    from tests.browser import screenshot, scrolls_sideways, use_width

    long_comment = (THREAT + MARKUP + " and another thing, this school has gone downhill since "
                    "the new head arrived and nobody listens to parents any more")
    config, sessions = school(tmp_path, {"dsl": [smtp_inbox.url()], "head": [smtp_inbox.url()]},
                              texts=(long_comment,))
    notify.deliver_due(config, sessions, "test")
    _, html = parts(smtp_inbox.messages[0])
    page = tmp_path / "email.html"
    page.write_text(html, encoding="utf-8")
    for width in ("phone", "desktop"):
        use_width(chromium, width)
        chromium.get(page.as_uri())
        assert chromium.title == "[URGENT] Threat - Oakfield Primary School - Facebook"
        assert not scrolls_sideways(chromium)
        # Nothing of the comment ran: its image tag and link are text on the page.
        assert chromium.execute_script("return document.images.length") == 0
        body = chromium.find_element("tag name", "body").text
        assert "<img src=x onerror=alert(1)>" in body
        assert "For: designated safeguarding lead, headteacher" in body
        screenshot(chromium, f"email-urgent-{width}")
