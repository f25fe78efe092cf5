"""An exported evidence report opened in real headless Chromium: no console errors, nothing wider
than the page, a screenshot written, and printed to PDF on A4 paper; the PDF is kept beside the
screenshots in test-screenshots/."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from monitor import incidents, models
from monitor.config import load
from monitor.daemon import Daemon, open_database
from monitor.evidence import record
from monitor.evidence.export import export_incident, verify_folder
from tests.browser import screenshot, screenshots_dir, scrolls_sideways, use_width
from tests.builders import write_config, write_replay

THREATS = ["I'll be waiting at the gates for that teacher, he'd better watch his back",
           "I know where Mr Hughes parks. Tell him to watch his back on Friday <script>x</script>"]
NOW = datetime.now(UTC)
# A4 in PostScript points (1/72 inch): 210 x 297 mm.
A4 = (595.28, 841.89)


@pytest.fixture
def report(database, tmp_path):
    """Two threats on one thread (one incident), the second hidden, the incident acknowledged,
    noted and resolved, then exported."""
    write_replay(tmp_path / "fb", THREATS)
    config = load(write_config(tmp_path, {"dsl": ["console://"], "head": ["console://"]},
                               extra_school='timezone = "Europe/London"'))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions.begin() as session:
        # What hiding through `hallmonitor action hide` keeps: the comment as it was, then
        # the step. (Doing it on a platform is the actions tests' business.)
        item = session.scalars(select(models.Item).where(models.Item.text == THREATS[1])).one()
        at = datetime.now(UTC)
        record.record_item(session, config, item, "before hide", now=at, incident_id=1)
        hide = models.Action(item_id=item.id, incident_id=1, action="hide",
                             actor="champion@oakfield.sch.uk", ok=True, created_at=at,
                             result="comment hidden on Facebook (via console)")
        session.add(hide)
        record.record_step(session, hide, "oakfield", now=at)
    incidents.acknowledge(sessions, 1, "dsl@oakfield.sch.uk")
    incidents.add_note(sessions, 1, "dsl@oakfield.sch.uk",
                       "Spoke to PC Ward (Thames Valley Police), reference 43/18822/26.")
    incidents.resolve(sessions, 1, "head@oakfield.sch.uk", "reported_to_police")
    out = tmp_path / f"incident-1-{database}"
    export_incident(config, sessions, 1, out, "head@oakfield.sch.uk",
                    now=NOW + timedelta(hours=1))
    assert verify_folder(out).ok
    return out, database


def severe_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]


def pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    """The width and height of each page of a PDF Chromium wrote (its page dictionaries are
    not compressed)."""
    sizes = []
    for match in re.finditer(rb"/Type\s*/Page\b(?!s)", pdf):
        box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]",
                        pdf[max(0, match.start() - 600):match.end() + 600])
        assert box is not None, "a page without a MediaBox"
        x0, y0, x1, y1 = (float(v) for v in box.groups())
        sizes.append((x1 - x0, y1 - y0))
    return sizes


def test_the_report_reads_cleanly_in_chromium_and_prints_on_a4(report, chromium):
    folder, database = report
    chromium.get((folder / "report.html").as_uri())
    assert chromium.title == "Evidence report: incident 1, Oakfield Primary School"
    assert severe_errors(chromium) == []
    assert not scrolls_sideways(chromium)
    # The comment's markup is shown as words, never run.
    assert "<script>x</script>" in chromium.find_element("tag name", "body").text
    assert chromium.execute_script("return document.scripts.length") == 0
    articles = chromium.find_elements("css selector", "article.item")
    assert len(articles) == 2
    links = [a.get_attribute("href") for a in chromium.find_elements("css selector", "a")]
    assert links and all(link.startswith("https://www.facebook.com/") for link in links)
    assert screenshot(chromium, f"evidence-report-{database}").stat().st_size > 10_000
    use_width(chromium, "phone")
    assert not scrolls_sideways(chromium)
    screenshot(chromium, f"evidence-report-{database}-phone")

    # Asked for US Letter, but the report's own @page rule wins: it is laid out for A4.
    printed = chromium.execute_cdp_cmd("Page.printToPDF", {
        "paperWidth": 8.5, "paperHeight": 11, "preferCSSPageSize": True,
        "printBackground": True})
    pdf = base64.b64decode(printed["data"])
    (screenshots_dir() / f"evidence-report-{database}.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    pages = pdf_pages(pdf)
    assert len(pages) >= 1
    for width, height in pages:
        assert abs(width - A4[0]) < 2 and abs(height - A4[1]) < 2, pages


def test_the_driver_prints_it_on_a4_paper(report, chromium):
    from selenium.webdriver.common.print_page_options import PrintOptions

    folder, database = report
    chromium.get((folder / "report.html").as_uri())
    options = PrintOptions()
    options.page_width, options.page_height = 21.0, 29.7  # centimetres
    pdf = base64.b64decode(chromium.print_page(options))
    (screenshots_dir() / f"evidence-report-{database}-a4-driver.pdf").write_bytes(pdf)
    pages = pdf_pages(pdf)
    assert 1 <= len(pages) <= 6
    assert all(abs(w - A4[0]) < 2 and abs(h - A4[1]) < 2 for w, h in pages), pages
