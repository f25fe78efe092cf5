"""The staff console in a real browser: headless Chromium against the console served on a local
port."""

from __future__ import annotations

import struct

from tests.browser import WIDTHS, screenshot, scrolls_sideways, use_width


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def test_the_browser_shows_a_local_page_at_phone_and_desktop_widths(chromium, local_server):
    page = (b"<!doctype html><meta name=viewport content='width=device-width'>"
            b"<title>Queue</title><h1>Open incidents</h1>")
    server = local_server(routes={("GET", "/"): (200, {"Content-Type": "text/html"}, page)})
    for width in ("phone", "desktop"):
        use_width(chromium, width)
        chromium.get(server.url + "/")
        assert chromium.find_element("css selector", "h1").text == "Open incidents"
        assert not scrolls_sideways(chromium)
        shot = screenshot(chromium, f"browser-check-{width}")
        assert png_size(shot.read_bytes())[0] == WIDTHS[width][0]
