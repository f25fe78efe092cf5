"""A real browser for the tests: Debian's headless Chromium driven by Selenium through Debian's
chromedriver. Registered for the whole suite in tests/conftest.py: the `chromium` fixture, and
`screenshot()`, `use_width()` and `scrolls_sideways()` for the tests that take it.

Selenium is always handed the driver's path, so Selenium Manager never runs (it would try to
download a browser, and there is no network). Where Chromium or its driver is absent the tests
that take `chromium` skip, saying so; they carry the `browser` marker, and with
HALLMONITOR_REQUIRE_BROWSER=1 (CI) that skip is a failure."""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[1]
# The widths the console is read at: a phone (an alert opened at 7 a.m.) and a desktop.
WIDTHS: dict[str, tuple[int, int]] = {"phone": (390, 844), "desktop": (1280, 900)}


def chromium_paths() -> tuple[str | None, str | None]:
    """Debian's browser and driver, or the ones HALLMONITOR_CHROMIUM / HALLMONITOR_CHROMEDRIVER
    name."""
    browser = os.environ.get("HALLMONITOR_CHROMIUM") or shutil.which("chromium") \
        or _existing("/usr/bin/chromium")
    driver = os.environ.get("HALLMONITOR_CHROMEDRIVER") or shutil.which("chromedriver") \
        or _existing("/usr/bin/chromedriver")
    return browser, driver


def _existing(path: str) -> str | None:
    return path if Path(path).is_file() else None


def missing_browser() -> str | None:
    """Why no browser test can run here, or None when one can."""
    browser, driver = chromium_paths()
    if not (browser and Path(browser).is_file() and driver and Path(driver).is_file()):
        return ("Chromium and its driver are needed for the browser tests: "
                "apt-get install chromium chromium-driver")
    return None


def screenshots_dir() -> Path:
    folder = Path(os.environ.get("HALLMONITOR_SCREENSHOTS") or REPO / "test-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def use_width(driver, width: str) -> None:
    """Show pages as a phone ("phone": 390x844, touch, mobile viewport rules) or a desktop
    ("desktop": 1280x900) would; exact CSS pixels, whatever the headless window's frame."""
    driver.hallmonitor_width = width
    _emulate(driver, width, WIDTHS[width][1])
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": width == "phone"})


def _emulate(driver, width: str, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTHS[width][0], "height": height, "deviceScaleFactor": 1,
        "mobile": width == "phone"})


def screenshot(driver, name: str, full_page: bool = True) -> Path:
    """Write the page as `<name>.png` in the screenshots folder (test-screenshots/ at the
    repository root, or $HALLMONITOR_SCREENSHOTS) and return its path. `full_page` takes the
    whole page, not only what fits on the screen."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
    path = screenshots_dir() / f"{safe}.png"
    width = getattr(driver, "hallmonitor_width", "desktop")
    screen_height = WIDTHS[width][1]
    WebDriverWait(driver, 15).until(
        lambda d: d.execute_script("return document.readyState") == "complete")
    # A screen as tall as the page, rather than Chromium's capture beyond the viewport, which
    # fails now and then on a page that has just loaded.
    height = screen_height
    if full_page:
        height = max(screen_height, min(16000, driver.execute_script(
            "return document.documentElement.scrollHeight")))
        _emulate(driver, width, height)
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        if height != screen_height:
            _emulate(driver, width, screen_height)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def scrolls_sideways(driver) -> bool:
    """Whether the page is wider than the screen (a phone reader would have to scroll across)."""
    return driver.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth")


def start_chromium(width: str = "desktop"):
    """A new headless Chromium with a profile of its own (no cookies from another test)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    browser, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--disable-extensions", "--no-first-run",
                     "--disable-background-networking", "--hide-scrollbars",
                     "--lang=en-GB", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    use_width(driver, width)
    return driver


@pytest.fixture
def chromium() -> Iterator:
    """A headless Chromium at desktop width (see `use_width` for the phone)."""
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


def pytest_collection_modifyitems(items) -> None:
    # A test that takes the browser is a browser test, so the rule that a required browser
    # may not skip reaches it without anyone remembering the marker.
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
