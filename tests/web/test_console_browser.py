"""The staff console in a real browser: headless Chromium against the console served on a local
port from a real SQLite database, acting on a local fake of Facebook's Graph API. Each test
leaves screenshots at phone and desktop widths in test-screenshots/ (or $HALLMONITOR_SCREENSHOTS)
for a person to look at."""

from __future__ import annotations

import re
import struct

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from monitor import links, models
from tests.browser import WIDTHS, screenshot, scrolls_sideways, use_width
from tests.conftest import wait_for
from tests.web.conftest import HOSTILE_MARKUP, PASSWORD, World


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def at_both_widths(driver, url: str, name: str) -> None:
    """Open `url` as a phone and as a desktop would, screenshot each, and check that a phone
    reader never has to scroll sideways."""
    for width in ("phone", "desktop"):
        use_width(driver, width)
        driver.get(url)
        shot = screenshot(driver, f"console-{name}-{width}")
        assert png_size(shot.read_bytes())[0] == WIDTHS[width][0]
        if width == "phone":
            assert not scrolls_sideways(driver), f"{name} is wider than a phone's screen"


def loaded(driver) -> None:
    WebDriverWait(driver, 15).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def left_page(page):
    """A wait condition: the browser has moved on from the page whose <html> element is `page`.
    Mid-navigation chromedriver sometimes answers a question about the old page with an
    "unhandled inspector error" instead of "stale element": then the page itself is asked
    whether it is still the one marked before leaving it."""
    def moved_on(driver) -> bool:
        try:
            page.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException:
            try:
                return driver.execute_script("return window.hmLeaving !== true")
            except WebDriverException:
                return False  # still between pages: ask again
    return moved_on


def mark_leaving(driver):
    """The current page's <html>, with the page marked so that `left_page` can tell it apart."""
    driver.execute_script("window.hmLeaving = true")
    return driver.find_element(By.TAG_NAME, "html")


def submit(driver, button) -> None:
    """Press a form's button (or link) and wait for the page it leads to. `button` may be a
    function that finds it. After a change of width chromedriver's own click can lose track
    of the page's nodes ("does not belong to the document"); then the element is found again
    and clicked from the page itself, as a person's tap would."""
    loaded(driver)
    page = mark_leaving(driver)
    element = button() if callable(button) else button
    try:
        element.click()
    except WebDriverException as error:
        if "belong to the document" not in str(error):
            raise
        element = button() if callable(button) else element
        driver.execute_script("arguments[0].click();", element)
    WebDriverWait(driver, 15).until(left_page(page))
    loaded(driver)


def flash(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, ".flash").text


def sign_in(driver, console: str, email: str, password: str = PASSWORD) -> None:
    """Sign in from the keyboard alone, as a screen-reader or keyboard user would."""
    driver.get(console + "/sign-in")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "password"
    page = mark_leaving(driver)
    driver.switch_to.active_element.send_keys(password + Keys.ENTER)
    WebDriverWait(driver, 15).until(left_page(page))


def item_button(driver, item_id: int, text: str):
    return driver.find_element(
        By.XPATH, f"//article[@id='item-{item_id}']//button[normalize-space()='{text}']")


# Every piece of text whose contrast with what is behind it falls short of WCAG AA (4.5:1, or 3:1
# for large text), and every form control without a label. Backgrounds are followed up the
# tree until one is opaque; semi-transparent colours are blended onto what is behind them.
AUDIT_PAGE = """
function rgba(text) {
  const v = text.match(/[\\d.]+/g).map(Number);
  return {r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1};
}
function blend(top, under) {
  const a = top.a + under.a * (1 - top.a);
  const mix = k => (top[k] * top.a + under[k] * under.a * (1 - top.a)) / (a || 1);
  return {r: mix("r"), g: mix("g"), b: mix("b"), a: a};
}
function background(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c.a > 0) layers.push(c);
    if (c.a >= 1) break;
  }
  let colour = {r: 255, g: 255, b: 255, a: 1};
  for (const layer of layers.reverse()) colour = blend(layer, colour);
  return colour;
}
function luminance(c) {
  const lin = v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
}
const problems = [];
for (const el of document.querySelectorAll("body *")) {
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  if (!own || box.width === 0 || box.height === 0 || style.visibility === "hidden") continue;
  if (el.closest(".visually-hidden, .skip-link")) continue;
  const bg = background(el);
  const fg = blend(rgba(style.color), bg);
  const [hi, lo] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
  const ratio = (hi + 0.05) / (lo + 0.05);
  const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) problems.push(el.tagName.toLowerCase() + "." + el.className + " '" +
    el.textContent.trim().slice(0, 30) + "' " + ratio.toFixed(2) + ":1 (" + style.color +
    " on " + JSON.stringify(bg) + ")");
}
for (const control of document.querySelectorAll("input, select, textarea")) {
  if (control.type === "hidden") continue;
  const labelled = (control.id && document.querySelector("label[for='" + control.id + "']")) ||
    control.closest("label") || control.getAttribute("aria-label") ||
    control.getAttribute("aria-labelledby");
  if (!labelled) problems.push("unlabelled " + control.tagName.toLowerCase() + " " +
    (control.name || control.id));
}
return problems;
"""


def readability_problems(driver) -> list[str]:
    return driver.execute_script(AUDIT_PAGE)


def shown(driver, css: str) -> bool:
    """Whether the element is laid out and seen, as the browser itself judges it (Selenium's own
    check takes anything inside a closed <details> for hidden, whatever the stylesheet says)."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); const box = e.getBoundingClientRect();"
        "return e.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true})"
        " && box.width > 0 && box.height > 0;", css)


def bottom_of(driver, css: str) -> float:
    """Where the first element matching `css` ends, in CSS pixels from the top of the page."""
    return driver.execute_script(
        "const box = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return box.bottom + window.scrollY;", css)


# Every choice of a filter that is wider than the room its select gives it (the text would be
# cut off under the arrow).
CUT_OFF_CHOICES = """
const measure = document.createElement("canvas").getContext("2d");
const cut = [];
for (const select of document.querySelectorAll("form.filters select")) {
  const style = getComputedStyle(select);
  measure.font = style.font;
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  for (const option of select.options) {
    const width = measure.measureText(option.text).width;
    if (width > room + 1) cut.push(select.name + ": '" + option.text + "' needs " +
      Math.ceil(width) + "px of " + Math.floor(room) + "px");
  }
}
return cut;
"""


def test_the_browser_shows_a_local_page_at_phone_and_desktop_widths(chromium, local_server):
    page = (b"<!doctype html><meta name=viewport content='width=device-width'>"
            b"<title>Queue</title><h1>Open incidents</h1>")
    server = local_server(routes={("GET", "/"): (200, {"Content-Type": "text/html"}, page)})
    at_both_widths(chromium, server.url + "/", "browser-check")
    assert chromium.find_element(By.CSS_SELECTOR, "h1").text == "Open incidents"
    assert readability_problems(chromium) == []


def test_the_readability_check_finds_faint_text_and_unlabelled_controls(chromium, local_server):
    page = (b"<!doctype html><style>p{color:#aaa} .ok{color:#333}</style>"
            b"<p>faint words</p><p class=ok>clear words</p>"
            b"<label for=e>Email</label><input id=e><input name=nameless>")
    server = local_server(routes={("GET", "/"): (200, {"Content-Type": "text/html"}, page)})
    chromium.get(server.url + "/")
    problems = readability_problems(chromium)
    assert len(problems) == 2, problems
    assert "'faint words' 2.32:1" in problems[0] and problems[1] == "unlabelled input nameless"


def test_a_dsl_signs_in_acknowledges_hides_a_comment_and_marks_one_not_a_problem(
        chromium, console: str, world: World):
    pile_on = world.incidents["pile_on"]
    chromium.get(console + f"/incidents/{pile_on}")
    assert "/sign-in" in chromium.current_url  # nobody sees an incident without signing in
    at_both_widths(chromium, console + "/sign-in", "sign-in")

    sign_in(chromium, console, world.email("dsl"))
    assert chromium.find_element(By.TAG_NAME, "h1").text == "Incidents"
    assert world.name("dsl") in chromium.find_element(By.CSS_SELECTOR, ".who").text
    rows = [a.get_attribute("href").rsplit("/", 1)[-1] for a in chromium.find_elements(
        By.CSS_SELECTOR, "table.queue tbody th a")]
    oakfield = [world.incidents[name] for name in ("disclosure", "threat", "pile_on")]
    # Urgent first (the disclosure and the threat), then the high one; never Riverside's.
    assert sorted(map(int, rows[:2])) == sorted(oakfield[:2]) and rows[2:] == [str(pile_on)]
    at_both_widths(chromium, console + "/", "queue")
    # On a desktop the filters are simply there, and no choice is cut off by its select's arrow.
    assert shown(chromium, "#f-status")
    assert not shown(chromium, ".filter-box summary")
    assert chromium.execute_script(CUT_OFF_CHOICES) == []
    # On a phone they fold under "Filter incidents", so the first incident is on the first
    # screen; the summary opens them.
    use_width(chromium, "phone")
    chromium.get(console + "/")
    assert not shown(chromium, "#f-status")
    assert bottom_of(chromium, "table.queue tbody tr") <= WIDTHS["phone"][1]
    chromium.find_element(By.CSS_SELECTOR, ".filter-box summary").click()
    assert shown(chromium, "#f-status")
    screenshot(chromium, "console-queue-filters-open-phone")
    assert not scrolls_sideways(chromium)
    Select(chromium.find_element(By.ID, "f-harm")).select_by_value("hostility")
    submit(chromium, lambda: chromium.find_element(By.XPATH, "//button[normalize-space()='Show']"))
    assert shown(chromium, "#f-harm")  # a filter in use stays open
    assert "(filtered)" in chromium.find_element(By.CSS_SELECTOR, ".filter-box summary").text
    # The comment comes before the forms: a DSL reads what was said on the first screen.
    chromium.get(console + f"/incidents/{pile_on}")
    assert bottom_of(chromium, "article.item blockquote.text") <= WIDTHS["phone"][1]
    use_width(chromium, "desktop")
    chromium.get(console + "/")

    submit(chromium, lambda: chromium.find_element(By.CSS_SELECTOR,
                                                   f"a[href='/incidents/{pile_on}']"))
    assert chromium.find_element(By.TAG_NAME, "h1").text.startswith(f"Incident #{pile_on}")
    texts = [e.text for e in chromium.find_elements(By.CSS_SELECTOR, "article.item")]
    assert any("you are all useless, the whole staff" in t for t in texts)
    # A commenter's markup is shown as the text it is, never run or rendered.
    assert any(HOSTILE_MARKUP in t for t in texts)
    assert "owned" not in chromium.title
    assert not chromium.find_elements(By.CSS_SELECTOR, "article.item img")

    submit(chromium,
           lambda: chromium.find_element(By.XPATH, "//button[normalize-space()='Acknowledge']"))
    assert "acknowledged" in flash(chromium)
    incident = world.incident("pile_on")
    assert incident.status == "acknowledged"
    assert incident.acknowledged_by == world.email("dsl")

    first, second = world.items["pile_on_0"], world.items["pile_on_1"]
    submit(chromium, item_button(chromium, first, "Hide"))
    assert "done" in flash(chromium).lower()
    assert world.graph.hidden == ["822001_9003"]  # Facebook was asked to hide that comment
    [hide] = world.actions(action="hide")
    assert (hide.ok, hide.item_id, hide.actor) == (True, first, world.email("dsl"))
    # Now hidden: the card says so, and offers Unhide instead of Hide.
    card = chromium.find_element(By.ID, f"item-{first}")
    assert "Hidden on Facebook" in card.find_element(By.CSS_SELECTOR, ".item-state").text
    assert item_button(chromium, first, "Unhide")
    assert not card.find_elements(By.XPATH, ".//button[normalize-space()='Hide']")

    submit(chromium, item_button(chromium, second, "Not a problem"))
    [correction] = world.feedback("pile_on_1")
    assert correction.not_a_problem and correction.corrected_by == world.email("dsl")
    assert world.graph.hidden == ["822001_9003"]  # feedback touches nothing on Facebook

    # Deleting asks first, on a page of its own, and only its own button deletes.
    use_width(chromium, "phone")
    chromium.get(console + f"/incidents/{pile_on}")
    submit(chromium, lambda: item_button(chromium, second, "Delete"))
    assert chromium.find_element(By.TAG_NAME, "h1").text == "Delete this comment on Facebook?"
    page = chromium.find_element(By.TAG_NAME, "main").text
    assert "cannot be undone" in page and "Have you recorded it?" in page
    assert world.actions(action="delete") == []
    screenshot(chromium, "console-confirm-delete-phone")
    assert not scrolls_sideways(chromium)
    use_width(chromium, "desktop")
    screenshot(chromium, "console-confirm-delete-desktop")
    assert readability_problems(chromium) == []
    submit(chromium, lambda: chromium.find_element(By.CSS_SELECTOR, "button.danger"))
    [delete] = world.actions(action="delete")
    assert (delete.ok, delete.item_id) == (True, second)
    card = chromium.find_element(By.ID, f"item-{second}")
    assert "Deleted on Facebook" in card.find_element(By.CSS_SELECTOR, ".item-state").text
    assert not card.find_elements(By.XPATH, ".//button[normalize-space()='Delete']")

    at_both_widths(chromium, console + f"/incidents/{pile_on}", "incident")


def test_a_dsl_resolves_with_an_outcome_and_reopens(chromium, console: str, world: World):
    threat = world.incidents["threat"]
    sign_in(chromium, console, world.email("dsl"))
    chromium.get(console + f"/incidents/{threat}")
    Select(chromium.find_element(By.ID, "outcome")).select_by_value("reported_to_police")
    submit(chromium, chromium.find_element(By.XPATH, "//button[normalize-space()='Resolve']"))
    incident = world.incident("threat")
    assert (incident.status, incident.outcome) == ("resolved", "reported_to_police")
    assert incident.resolved_by == world.email("dsl")

    submit(chromium, chromium.find_element(By.XPATH, "//button[normalize-space()='Reopen']"))
    incident = world.incident("threat")
    assert incident.status != "resolved" and incident.outcome is None
    assert [a.action for a in world.actions(incident_id=threat)][-2:] == ["resolve", "reopen"]
    at_both_widths(chromium, console + "/audit", "audit")
    assert "resolved: reported to the police" in chromium.find_element(By.TAG_NAME, "main").text


def test_an_alert_link_shows_a_confirmation_page_and_acknowledges_only_when_pressed(
        chromium, console: str, world: World):
    disclosure = world.incidents["disclosure"]
    with world.sessions.begin() as session:
        link = links.ack_url(world.config, session, disclosure)
    # Opened as a phone would, twice, as a mail scanner and then the DSL do: nothing changes.
    at_both_widths(chromium, link, "ack-confirmation")
    assert chromium.find_element(By.TAG_NAME, "h1").text == "Acknowledge this incident?"
    summary = chromium.find_element(By.CSS_SELECTOR, "dl.incident-summary").text.splitlines()
    assert summary[summary.index("Comments") + 1] == "1"  # how many, in words a person reads
    # The page is for whoever holds the link, signed in or not: no comment text on it.
    assert "stepdad" not in chromium.page_source
    assert world.incident("disclosure").status == "open"
    assert world.actions(incident_id=disclosure) == []

    submit(chromium, chromium.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    screenshot(chromium, "console-ack-done-desktop")
    incident = world.incident("disclosure")
    assert incident.status == "acknowledged"
    assert "alert link" in incident.acknowledged_by

    chromium.get(link)  # the same link again: spent
    assert "already been used" in chromium.find_element(By.TAG_NAME, "main").text
    assert len(world.actions(incident_id=disclosure, action="acknowledge")) == 1


def test_it_sees_the_sources_page_with_the_paused_source_and_its_reason(
        chromium, console: str, world: World):
    sign_in(chromium, console, world.email("it"))
    at_both_widths(chromium, console + "/sources", "sources")
    page = chromium.find_element(By.TAG_NAME, "main").text
    assert "Paused" in page and "refused the Page access token: it has expired" in page
    assert "Riverside" not in page  # another school's sources are not Oakfield IT's business


def test_a_champion_sees_a_safeguarding_incident_can_hide_it_but_not_read_the_dsls_note(
        chromium, console: str, world: World):
    disclosure = world.incidents["disclosure"]
    sign_in(chromium, console, world.email("dsl"))
    chromium.get(console + f"/incidents/{disclosure}")
    chromium.find_element(By.ID, "note-text").send_keys("Spoke to the family liaison officer")
    submit(chromium, chromium.find_element(By.XPATH, "//button[normalize-space()='Add note']"))
    assert "Spoke to the family liaison officer" in chromium.page_source
    chromium.delete_all_cookies()

    sign_in(chromium, console, world.email("champion"))
    at_both_widths(chromium, console + f"/incidents/{disclosure}", "incident-champion")
    assert "Spoke to the family liaison officer" not in chromium.page_source
    submit(chromium, item_button(chromium, world.items["disclosure"], "Hide"))
    assert world.graph.hidden == ["822001_9001"]
    with world.sessions() as session:
        assert session.query(models.Action).filter_by(action="hide", ok=True).count() == 1


def test_every_page_has_aa_contrast_and_labelled_controls_at_both_widths(
        chromium, console: str, world: World):
    with world.sessions.begin() as session:
        ack = links.ack_url(world.config, session, world.incidents["threat"])
    pages = {"signed out": [console + "/sign-in", ack],
             "dsl": [console + "/", console + f"/incidents/{world.incidents['pile_on']}",
                     console + "/audit"],
             "it": [console + "/sources", console + "/users"]}
    problems = []
    for who, urls in pages.items():
        chromium.delete_all_cookies()
        if who != "signed out":
            sign_in(chromium, console, world.email(who))
        for url in urls:
            for width in ("phone", "desktop"):
                use_width(chromium, width)
                chromium.get(url)
                problems += [f"{url.removeprefix(console)} ({width}): {p}"
                             for p in readability_problems(chromium)]
    assert problems == []


def test_a_member_of_staff_signs_in_with_a_link_sent_to_their_email(
        chromium, world: World, smtp_inbox):
    from monitor.config import Config
    from monitor.web.serve import start

    web = world.config.web.model_copy(update={"mail_url": smtp_inbox.url("nobody@x.example")})
    config = Config(world.config.settings.model_copy(update={"web": web}), world.config.path,
                    world.config.secrets, world.config.database_url)
    handle = start(config, world.sessions)
    try:
        console = f"http://127.0.0.1:{web.port}"
        chromium.get(console + "/sign-in")
        chromium.find_element(By.LINK_TEXT, "Email me a sign-in link instead").click()
        chromium.find_element(By.ID, "email").send_keys(world.email("head"))
        submit(chromium, chromium.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        assert "on its way" in chromium.find_element(By.TAG_NAME, "main").text
        assert wait_for(lambda: smtp_inbox.messages, timeout=10)
        [message] = smtp_inbox.messages
        assert message["To"] == world.email("head")
        link = re.search(r"http://\S+/sign-in/\S+", smtp_inbox.text(message)).group(0)

        at_both_widths(chromium, link, "sign-in-link")  # opening it signs nobody in
        assert chromium.find_element(By.TAG_NAME, "h1").text == "Sign in to Hall Monitor"
        submit(chromium, chromium.find_element(By.CSS_SELECTOR, "main button[type=submit]"))
        assert world.name("head") in chromium.find_element(By.CSS_SELECTOR, ".who").text
        chromium.delete_all_cookies()
        chromium.get(link)  # and it works once
        assert "already been used" in chromium.find_element(By.TAG_NAME, "main").text
    finally:
        handle.stop()
