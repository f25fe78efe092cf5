"""The weekly digests in the console: the list of recent weeks, a digest shown as it was sent in
a frame of its own, who may read which, and weeks that are wrong or not over yet.

The console's trust of two schools (tests/web/conftest.py), with a [trust] table, and Oakfield's
week 2026-W47 and the four before it from tests/digest_builder.py in the same database."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import links, models
from monitor.config import load
from monitor.web.app import CONTENT_SECURITY_POLICY
from tests import digest_builder
from tests.browser import WIDTHS, screenshot, scrolls_sideways, use_width
from tests.http_server import LocalServer
from tests.monitor.conftest import database  # noqa: F401 (the SQLite/PostgreSQL fixture)
from tests.web.conftest import STAFF, FakeGraph, World, build_world
from tests.web.test_console_browser import readability_problems, sign_in
from tests.web.test_pages import Staff

WEEK = "2026-W47"
# The Wednesday after the week: its digests went out on Monday, the next week's are not due.
CLOCK = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TRUST = """
[trust]
name = "Oak Learning Trust"

[[trust.recipients]]
name = "Chief executive"
urls = ["console://"]
"""
PNG = b"\x89PNG\r\n\x1a\n"


def add_digest_weeks(session: Session) -> None:
    """digest_builder's Oakfield weeks, on the console's own Facebook source and an X account."""
    facebook = session.scalars(select(models.Source).where(
        models.Source.school_id == "oakfield", models.Source.kind == "comments")).one()
    x = models.Source(key=f"oakfield/x/{digest_builder.X_ACCOUNT}/replies", school_id="oakfield",
                      platform="x", item_platform="x", kind="replies",
                      account=digest_builder.X_ACCOUNT,
                      settings={"handle": digest_builder.X_HANDLE}, name="Oakfield on X")
    session.add(x)
    session.flush()
    sources = {"fb": facebook, "x": x}
    writer = digest_builder._Writer(session, digest_builder.Built(None, None), sources)
    for week_start, _ in digest_builder.EARLIER:
        digest_builder._earlier_week(writer, week_start)
    digest_builder._earlier_incidents(writer)
    digest_builder._the_week(writer)
    digest_builder._health(session, sources)


@pytest.fixture
def world(tmp_path: Path, local_server: Callable[..., LocalServer]) -> World:
    """The console's world (and so its `console`), with a trust and Oakfield's digest weeks."""
    built = build_world(tmp_path, FakeGraph(local_server()))
    path = tmp_path / "config.toml"
    path.write_text(path.read_text(encoding="utf-8") + TRUST, encoding="utf-8")
    built.config = load(path)
    with built.sessions.begin() as session:
        add_digest_weeks(session)
    return built


@pytest.fixture
def app(world: World):
    from monitor.web.app import create_app

    app = create_app(world.config, world.sessions, clock=lambda: CLOCK)
    app.testing = True
    return app


@pytest.fixture
def staff(app) -> Callable[[str], Staff]:
    signed_in: dict[str, Staff] = {}

    def as_(who: str) -> Staff:
        if who not in signed_in:
            signed_in[who] = Staff(app, STAFF[who][0])
        return signed_in[who]

    return as_


def frame_src(page: str) -> str:
    found = re.search(r'<iframe class="digest-frame" src="([^"]+)"', page)
    assert found, "no digest frame on the page"
    return found.group(1).replace("&amp;", "&")


def image_srcs(html: str) -> list[str]:
    return [src.replace("&amp;", "&") for src in re.findall(r'<img[^>]* src="([^"]+)"', html)]


def csp(answer) -> dict[str, str]:
    policy = answer.headers["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


# --- the head's digest ---------------------------------------------------------------------

def test_a_head_reads_the_weeks_digest_in_a_frame_with_its_chart_from_the_console(staff):
    head = staff("head")
    page = head.get(f"/digest/oakfield/{WEEK}")
    assert page.status_code == 200
    assert "Oakfield Primary School, week 2026-W47: 16 to 22 November 2026" in page.text
    # The console's page keeps the console's own strict policy.
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert 'sandbox="allow-same-origin' in page.text and "allow-scripts" not in page.text

    frame = head.get(frame_src(page.text))
    assert frame.status_code == 200 and frame.mimetype == "text/html"
    policy = csp(frame)
    assert policy["default-src"] == "default-src 'none'"
    assert policy["img-src"] == "img-src 'self'"
    assert policy["frame-ancestors"] == "frame-ancestors 'self'"
    assert "script-src" not in policy and policy["sandbox"].startswith("sandbox")
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "cid:" not in frame.text, "the email's inline images must point at the console"
    assert '<base target="_top">' in frame.text

    images = image_srcs(frame.text)
    assert images and all(src.startswith(f"/digest/oakfield/{WEEK}/images/") for src in images)
    chart = head.get(images[0])
    assert chart.status_code == 200 and chart.mimetype == "image/png"
    assert chart.data.startswith(PNG)
    assert csp(chart)["default-src"] == "default-src 'none'"


@pytest.mark.parametrize(("kind", "school"), [("head", "oakfield"), ("dsl", "oakfield"),
                                              ("trust", None)])
def test_the_links_in_sent_digests_and_alerts_open_these_pages(staff, world, kind, school):
    address = urlsplit(links.digest_url(world.config, school, WEEK, kind))
    page = staff("admin").get(address.path + (f"?{address.query}" if address.query else ""))
    assert page.status_code == 200 and "digest-frame" in page.text


def test_a_dsl_reads_the_safeguarding_summary_without_the_heads_digest(staff):
    dsl = staff("dsl")
    page = dsl.get(f"/digest/oakfield/{WEEK}?kind=dsl")
    assert "DSL&#39;s safeguarding summary" in page.text
    assert "Head" not in page.text.split("<main")[1]  # no link to a digest they may not read
    frame = dsl.get(frame_src(page.text))
    assert frame.status_code == 200
    assert "her stepdad hits her" in frame.text  # the week's safeguarding concern
    assert "nativity" not in frame.text.lower()  # praise is the head's digest's, not the DSL's


def test_a_trust_admin_reads_the_trusts_roll_up_with_its_charts(staff):
    admin = staff("admin")
    page = admin.get(f"/digest/trust/{WEEK}")
    assert page.status_code == 200 and "Oak Learning Trust, week 2026-W47" in page.text
    assert 'action="/digest/trust"' in page.text
    frame = admin.get(frame_src(page.text))
    assert frame.status_code == 200 and "cid:" not in frame.text
    assert "Oakfield Primary School" in frame.text and "Riverside Academy" in frame.text
    assert image_srcs(frame.text), "the roll-up's chart per school"
    for src in image_srcs(frame.text):
        assert src.startswith(f"/digest/trust/{WEEK}/images/")
        assert admin.get(src).data.startswith(PNG)


def test_the_weeks_on_either_side_are_linked_and_the_latest_has_no_next_week(staff):
    page = staff("head").get(f"/digest/oakfield/{WEEK}").text
    assert 'href="/digest/oakfield/2026-W46" rel="prev"' in page
    assert 'rel="next"' not in page  # 2026-W48's digest is not due until Monday
    earlier = staff("head").get("/digest/oakfield/2026-W45?kind=dsl").text
    assert 'href="/digest/oakfield/2026-W46?kind=dsl" rel="next"' in earlier
    assert 'href="/digest/oakfield/2026-W44?kind=dsl" rel="prev"' in earlier


def test_a_sent_digest_is_shown_exactly_as_it_was_queued(database, staff, world):  # noqa: F811
    # `database` comes first, so the world is built on SQLite and again on PostgreSQL when a
    # scratch one is given: the outbox is read in SQL of this page's own.
    from monitor.digest.send import dedupe_key
    from monitor.notify import Attachment

    chart = Attachment("volume-chart.png", "image/png", PNG + b"as sent", "volume-chart.png")
    with world.sessions.begin() as session:
        alert = models.Alert(
            dedupe_key=dedupe_key("head", "oakfield", WEEK), school_id="oakfield",
            kind="digest", severity="normal", title="Oakfield's week", body="as sent",
            created_at=datetime(2026, 11, 23, 7, 30, tzinfo=UTC),
            details={"digest": {"kind": "head", "week": WEEK, "markdown": "as sent",
                                "html": '<html><head></head><body><p>The words as sent</p>'
                                        '<img src="cid:volume-chart.png" alt=""></body></html>',
                                "attachments": [chart.stored()]}})
        session.add(alert)
        session.flush()
        session.add(models.Delivery(alert_id=alert.id, destination="console://", status="sent",
                                    sent_at=datetime(2026, 11, 23, 7, 31, tzinfo=UTC)))
    head = staff("head")
    page = head.get(f"/digest/oakfield/{WEEK}")
    assert "Sent Mon 23 Nov 2026, 07:31 GMT." in page.text
    frame = head.get(frame_src(page.text))
    assert "The words as sent" in frame.text
    [src] = image_srcs(frame.text)
    assert head.get(src).data == PNG + b"as sent"
    # The DSL's summary was never queued: it is built from the records, and says so.
    summary = head.get(f"/digest/oakfield/{WEEK}?kind=dsl")
    assert "No digest went out for this week" in summary.text
    # The list says which went out.
    listed = head.get("/digest").text
    assert re.search(r'href="/digest/oakfield/2026-W47">Head\'s digest<span '
                     r'class="visually-hidden">[^<]*</span></a>', listed.replace("&#39;", "'"))
    assert re.search(r'href="/digest/oakfield/2026-W47\?kind=dsl">DSL summary<span '
                     r'class="visually-hidden">[^<]*</span> <span class="not-sent">',
                     listed)


# --- who may read which --------------------------------------------------------------------

HEAD_DIGEST = f"/digest/oakfield/{WEEK}"
DSL_SUMMARY = f"/digest/oakfield/{WEEK}?kind=dsl"
TRUST_ROLLUP = f"/digest/trust/{WEEK}"


@pytest.mark.parametrize(("who", "path", "status"), [
    ("head", HEAD_DIGEST, 200), ("head", DSL_SUMMARY, 200), ("head", TRUST_ROLLUP, 403),
    ("admin", HEAD_DIGEST, 200), ("admin", DSL_SUMMARY, 200), ("admin", TRUST_ROLLUP, 200),
    ("dsl", HEAD_DIGEST, 403), ("dsl", DSL_SUMMARY, 200), ("dsl", TRUST_ROLLUP, 403),
    ("champion", HEAD_DIGEST, 403), ("champion", DSL_SUMMARY, 403),
    ("champion", TRUST_ROLLUP, 403), ("champion", "/digest", 403),
    ("it", HEAD_DIGEST, 403), ("it", DSL_SUMMARY, 403), ("it", TRUST_ROLLUP, 403),
    ("it", "/digest", 403),
    # Staff read their own school's only; an unknown school is refused the same way.
    ("riverside_dsl", DSL_SUMMARY, 403),
    ("riverside_dsl", f"/digest/riverside/{WEEK}?kind=dsl", 200),
    ("head", f"/digest/riverside/{WEEK}", 403), ("head", f"/digest/nowhere/{WEEK}", 403),
    ("admin", f"/digest/riverside/{WEEK}", 200), ("admin", f"/digest/nowhere/{WEEK}", 404),
])
def test_each_digest_is_shown_only_to_those_who_read_it(staff, who, path, status):
    answer = staff(who).get(path)
    assert answer.status_code == status, f"{who} {path}"
    if status == 403:
        assert "Not available to you" in answer.text


@pytest.mark.parametrize("who", ["it", "champion", "dsl", "riverside_dsl"])
def test_the_head_digests_frame_and_images_are_refused_to_those_who_may_not_read_it(staff, who):
    # IT must never see comment text, and the head's digest quotes comments: not even by
    # guessing the frame's or an image's address.
    for path in (f"/digest/oakfield/{WEEK}/email",
                 f"/digest/oakfield/{WEEK}/images/volume-chart.png"):
        answer = staff(who).get(path)
        assert answer.status_code == 403, f"{who} {path}"
        assert "cid:" not in answer.text and "nativity" not in answer.text.lower()


def test_signed_out_visitors_are_sent_to_sign_in(app):
    answer = app.test_client().get(f"/digest/oakfield/{WEEK}/email")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/sign-in")


@pytest.mark.parametrize(("who", "linked"), [
    ("head", True), ("dsl", True), ("admin", True), ("champion", False), ("it", False)])
def test_the_navigation_links_to_the_digests_for_those_who_read_them(staff, who, linked):
    page = staff(who).get("/audit").text
    assert ('href="/digest"' in page) is linked


# --- the list ------------------------------------------------------------------------------

def weeks_listed(page: str) -> list[str]:
    return re.findall(r"<strong>(\d{4}-W\d\d)</strong>", page)


def test_a_head_sees_eight_weeks_of_their_schools_digests_newest_first(staff):
    page = staff("head").get("/digest")
    assert page.status_code == 200
    assert weeks_listed(page.text) == [f"2026-W{n}" for n in range(47, 39, -1)]
    assert 'href="/digest/oakfield/2026-W47"' in page.text
    assert 'href="/digest/oakfield/2026-W47?kind=dsl"' in page.text
    assert "Riverside" not in page.text and "/digest/trust/" not in page.text
    assert 'href="/digest" aria-current="page"' in page.text


def test_a_dsl_is_listed_only_the_safeguarding_summaries(staff):
    page = staff("dsl").get("/digest").text
    assert 'href="/digest/oakfield/2026-W47?kind=dsl"' in page
    assert 'href="/digest/oakfield/2026-W47"' not in page


def test_a_trust_admin_sees_every_school_and_the_trusts_roll_up(staff):
    page = staff("admin").get("/digest").text
    assert "Oakfield Primary School" in page and "Riverside Academy" in page
    assert 'href="/digest/riverside/2026-W47"' in page
    assert 'href="/digest/trust/2026-W47"' in page and "Oak Learning Trust" in page


# --- weeks that are wrong or not over ------------------------------------------------------

@pytest.mark.parametrize(("path", "says"), [
    ("/digest/oakfield/banana", "is not a week such as"),
    ("/digest/oakfield/2025-W53", "2025 has only 52 ISO weeks"),
    ("/digest/oakfield?week=2026-W99", "ISO weeks run from W01 to W52 or W53"),
    ("/digest/oakfield?week=" + "9" * 200, "That is not a week."),
    (f"/digest/oakfield/{WEEK}?kind=everything", "There is no digest of that kind"),
])
def test_a_bad_week_gets_a_plain_message_not_a_traceback(staff, path, says):
    answer = staff("head").get(path)
    assert answer.status_code == 400
    assert says in answer.text.replace("&#34;", '"').replace("&#39;", "'")
    assert "Traceback" not in answer.text and "9" * 50 not in answer.text


def test_the_week_chooser_goes_to_the_chosen_weeks_digest(staff):
    head = staff("head")
    chosen = head.get("/digest/oakfield?week=2026-W45&kind=dsl")
    assert chosen.status_code == 302
    assert chosen.headers["Location"] == "/digest/oakfield/2026-W45?kind=dsl"
    assert head.get("/digest/oakfield").headers["Location"] == f"/digest/oakfield/{WEEK}"
    assert head.get("/digest/oakfield/2026w45").headers["Location"] == "/digest/oakfield/2026-W45"
    page = head.get(f"/digest/oakfield/{WEEK}?kind=dsl").text
    assert 'action="/digest/oakfield"' in page and 'name="kind" value="dsl"' in page
    assert 'type="week" id="week" name="week" value="2026-W47"' in page


def test_a_week_not_over_says_its_digest_is_not_ready_yet(staff):
    head = staff("head")
    page = head.get("/digest/oakfield/2026-W48")
    assert page.status_code == 200
    assert "is not ready yet: it goes out on Mon 30 Nov 2026, 07:30 GMT" in page.text
    assert "<iframe" not in page.text
    assert head.get("/digest/oakfield/2026-W48/email").status_code == 404
    assert head.get("/digest/oakfield/2026-W48/images/volume-chart.png").status_code == 404


# --- in a browser --------------------------------------------------------------------------

def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def test_a_head_reads_the_digest_in_the_console_at_desktop_and_phone_widths(
        chromium, console: str):
    sign_in(chromium, console, STAFF["head"][0])
    for width, name in (("desktop", "console-digest"), ("phone", "console-digest-phone")):
        use_width(chromium, width)
        chromium.get(f"{console}/digest/oakfield/{WEEK}")
        frame = chromium.find_element(By.CSS_SELECTOR, "iframe.digest-frame")
        chromium.switch_to.frame(frame)
        # The chart, served by the console, loaded inside the sandboxed frame.
        WebDriverWait(chromium, 15).until(lambda d: d.execute_script(
            "const i = document.querySelector('img');"
            "return i !== null && i.complete && i.naturalWidth > 0"))
        assert "2026" in chromium.find_element(By.TAG_NAME, "body").text
        if width == "desktop":  # the phone's shows the top of the digest, this one its chart
            chromium.execute_script(
                "const top = document.querySelector('img').getBoundingClientRect().top;"
                "window.scrollTo(0, window.scrollY + top - 80)")
        chromium.switch_to.default_content()
        assert readability_problems(chromium) == []
        shot = screenshot(chromium, name)
        assert png_size(shot.read_bytes())[0] == WIDTHS[width][0]
        if width == "phone":
            assert not scrolls_sideways(chromium), "the digest page is wider than a phone"
    # The list of weeks, as a phone shows it.
    chromium.get(f"{console}/digest")
    screenshot(chromium, "console-digests-phone")
    assert not scrolls_sideways(chromium), "the list of digests is wider than a phone"
    assert readability_problems(chromium) == []
    # (The console has no icon: the browser's own request for one is not this page's doing.)
    errors = [entry["message"] for entry in chromium.get_log("browser")
              if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]]
    assert errors == [], errors



def test_a_trust_admin_reads_the_roll_up_on_a_phone(chromium, console: str):
    sign_in(chromium, console, STAFF["admin"][0])
    use_width(chromium, "phone")
    chromium.get(f"{console}/digest/trust/{WEEK}")
    chromium.switch_to.frame(chromium.find_element(By.CSS_SELECTOR, "iframe.digest-frame"))
    WebDriverWait(chromium, 15).until(lambda d: d.execute_script(
        "const images = [...document.images];"
        "return images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0)"))
    chromium.switch_to.default_content()
    screenshot(chromium, "console-digest-trust-phone")
    assert not scrolls_sideways(chromium)
    errors = [entry["message"] for entry in chromium.get_log("browser")
              if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]]
    assert errors == [], errors
