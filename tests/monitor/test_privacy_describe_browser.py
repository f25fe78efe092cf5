"""The DPIA description as HTML (`hallmonitor privacy describe --format html`) opened in real
headless Chromium: no console errors, nothing fetched from anywhere, no script, readable at a
desktop's and a phone's width, printable on A4; screenshots in test-screenshots/."""

from __future__ import annotations

import base64
import re

import pytest

from monitor.config import load
from monitor.privacy.describe import describe
from tests.browser import screenshot, scrolls_sideways, use_width
from tests.monitor.test_privacy_describe import NOW, oakfield  # noqa: F401 (a fixture)


def severe_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_description_reads_as_a_document_in_a_real_browser(oakfield, chromium,  # noqa: F811
                                                               tmp_path, width):
    page = tmp_path / "dpia.html"
    page.write_text(describe(load(oakfield), "html", now=NOW), encoding="utf-8")
    use_width(chromium, width)
    chromium.get(page.as_uri())
    assert chromium.title == "Hall Monitor: description of the processing"
    assert severe_errors(chromium) == []
    # Standalone: nothing loaded but the page itself, and no script in it.
    assert chromium.execute_script(
        "return performance.getEntriesByType('resource').length") == 0
    assert chromium.execute_script("return document.scripts.length") == 0
    assert not scrolls_sideways(chromium)
    body = chromium.find_element("tag name", "body").text
    for heading in ("1. The controller", "2. Which accounts are watched, and which are not",
                    "7. How long it is kept", "10. Safeguards"):
        assert heading in body
    assert "Oakfield Primary School Page, id 555000111" in body
    headers = chromium.execute_script(
        "return Array.from(document.querySelectorAll('th'), th => th.textContent)")
    assert {"Platform", "What is read", "Kept for", "Through"} <= set(headers)
    screenshot(chromium, "privacy-describe" if width == "desktop" else "privacy-describe-phone")


def test_the_description_prints_on_a4_pages(oakfield, chromium, tmp_path):  # noqa: F811
    page = tmp_path / "dpia.html"
    page.write_text(describe(load(oakfield), "html", now=NOW), encoding="utf-8")
    chromium.get(page.as_uri())
    pdf = base64.b64decode(chromium.execute_cdp_cmd(
        "Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})["data"])
    assert pdf.startswith(b"%PDF")
    # A4 is 595 x 842 points; the page size comes from the document's own @page rule.
    boxes = {tuple(round(float(n)) for n in box.split())
             for box in re.findall(rb"/MediaBox ?\[([^\]]*)\]", pdf)}
    assert boxes == {(0, 0, 595, 842)}
    pages = len(re.findall(rb"/Type ?/Page[^s]", pdf))
    assert 2 <= pages <= 12
