"""The digests' previews (what `digest preview --out` writes: the email's HTML with its chart
inlined) opened in real headless Chromium, at a phone's width and a desktop's: no console
errors, the chart loaded, no sideways scrolling; screenshots in test-screenshots/."""

from __future__ import annotations

import pytest

from monitor.digest import build
from tests import digest_builder as week
from tests.browser import screenshot, scrolls_sideways, use_width
from tests.digest_builder import NOW, SCHOOL

LABEL = "2026-W47"


@pytest.fixture(scope="module")
def previews(tmp_path_factory):
    """The head's digest and the DSL's summary for the built week, rendered once (SQLite)."""
    directory = tmp_path_factory.mktemp("digest")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        patch.delenv("HALLMONITOR_DATABASE_URL", raising=False)
        built = week.build(directory)
        with built.sessions() as session:
            head = build.build_digest(session, built.config, "head", SCHOOL, LABEL, now=NOW)
            dsl = build.build_digest(session, built.config, "dsl", SCHOOL, LABEL, now=NOW)
    return directory, {"head": head, "dsl": dsl}


def severe_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]


def open_preview(driver, directory, name: str, html: str) -> None:
    page = directory / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    driver.get(page.as_uri())


def images_loaded(driver) -> list[int]:
    """Each image's natural width: 0 for one that did not load."""
    return driver.execute_script(
        "return Array.from(document.images, i => i.complete ? i.naturalWidth : 0)")


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_heads_digest_shows_its_chart_without_errors_at_both_widths(
        previews, chromium, width):
    directory, rendered = previews
    digest = rendered["head"]
    use_width(chromium, width)
    open_preview(chromium, directory, f"head-{width}", digest.preview_html())
    assert chromium.title == digest.title
    assert severe_errors(chromium) == []
    (chart_width,) = images_loaded(chromium)
    assert chart_width == 1200  # drawn at twice the 600 px it is shown at
    shown = chromium.execute_script("return document.images[0].getBoundingClientRect().width")
    assert shown <= 600
    assert not scrolls_sideways(chromium)
    body = chromium.find_element("tag name", "body").text
    assert "Monday 16 to Sunday 22 November 2026" in body
    for heading in ("Incidents that needed action", "Media enquiries",
                    "Questions left unanswered", "Connectors and cost"):
        assert heading in body
    screenshot(chromium, "digest-head" if width == "desktop" else "digest-head-phone")


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_dsl_summary_reads_without_errors_at_both_widths(previews, chromium, width):
    directory, rendered = previews
    digest = rendered["dsl"]
    use_width(chromium, width)
    open_preview(chromium, directory, f"dsl-{width}", digest.preview_html())
    assert severe_errors(chromium) == []
    assert not scrolls_sideways(chromium)
    body = chromium.find_element("tag name", "body").text
    assert "NOT YET ACKNOWLEDGED" in body
    assert "Authors seen in more than one incident" in body
    screenshot(chromium, "digest-dsl" if width == "desktop" else "digest-dsl-phone")


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_trusts_roll_up_shows_its_table_and_small_multiples_at_both_widths(
        tmp_path, monkeypatch, chromium, width):
    from tests import trust_builder

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HALLMONITOR_DATABASE_URL", raising=False)
    built = trust_builder.build(tmp_path)
    with built.sessions() as session:
        digest = build.build_digest(session, built.config, "trust", None, LABEL, now=NOW)
    use_width(chromium, width)
    open_preview(chromium, tmp_path, f"trust-{width}", digest.preview_html())
    assert severe_errors(chromium) == []
    (chart_width,) = images_loaded(chromium)
    assert chart_width == 1200
    assert not scrolls_sideways(chromium)
    body = chromium.find_element("tag name", "body").text
    assert body.index("Needs attention first") < body.index("Schools")
    assert "Harbour International School" in body
    screenshot(chromium, "digest-trust" if width == "desktop" else "digest-trust-phone")
