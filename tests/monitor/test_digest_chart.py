"""The digest's volume chart as a reader gets it: a PNG of the size an email shows sharply, the
same bytes for the same week, its two series told apart in greyscale, and its numbers in words;
and a trust's fifty schools as small multiples, drawn in a few seconds."""

from __future__ import annotations

import io
import time

from PIL import Image

from monitor.digest.chart import (
    AVERAGE_STYLE,
    THIS_WEEK_STYLE,
    Volumes,
    chart_alt_text,
    chart_pixels,
    small_multiples,
    small_multiples_pixels,
    volume_chart,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WEEK = Volumes(platforms={"Facebook": (214, 180.5), "Instagram": (41, 38.0), "X": (20, 22.0)},
               categories={"praise": (30, 25.0), "complaint": (12, 14.5), "threat": (1, 0.25)})


def grey(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("L")


def test_the_chart_is_a_png_twice_the_width_an_email_shows():
    png = volume_chart(WEEK)
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.verify()
    assert image.size == chart_pixels(WEEK)
    assert image.size[0] == 1200
    # More rows make a taller chart, never a wider one.
    more = Volumes({**WEEK.platforms, "TikTok": (3, 1.0), "YouTube": (2, 2.0)}, WEEK.categories)
    assert chart_pixels(more)[0] == 1200 and chart_pixels(more)[1] > image.size[1]
    assert Image.open(io.BytesIO(volume_chart(more))).size == chart_pixels(more)


def test_the_same_week_gives_the_same_bytes_and_no_date_or_software_in_the_png():
    first = volume_chart(WEEK)
    assert volume_chart(Volumes(dict(WEEK.platforms), dict(WEEK.categories))) == first
    info = Image.open(io.BytesIO(first)).info
    assert not {"Software", "Creation Time", "date:create"} & set(info)
    assert volume_chart(Volumes({"Facebook": (215, 180.5)}, {})) != first


def test_this_week_and_the_average_are_told_apart_in_greyscale():
    """A single bar of each series, larger than anything else drawn, printed in grey: this
    week's bar is solid and dark, the average's is mostly white crossed by black hatching."""
    one = Volumes({"Facebook": (100, 100.0)}, {})
    image = grey(volume_chart(one))
    width, height = image.size
    pixels = image.load()

    def bar_rows(predicate) -> list[int]:
        # Rows where most of the plot's width (from 30% to 75% across) satisfies the predicate.
        xs = range(int(width * 0.3), int(width * 0.75))
        return [y for y in range(height)
                if sum(predicate(pixels[x, y]) for x in xs) > 0.95 * len(xs)]

    dark_rows = bar_rows(lambda v: v < 90)
    assert len(dark_rows) > 20, "this week's bar is a solid dark band"
    # The average's bar: neither solid dark nor plain white, every row of it mixes both (the
    # hatching), for as many rows as this week's bar is tall.
    xs = range(int(width * 0.3), int(width * 0.75))
    hatched = [y for y in range(height)
               if 0.1 < sum(pixels[x, y] < 128 for x in xs) / len(xs) < 0.5]
    assert len(hatched) > 0.8 * len(dark_rows), "the average's bar is hatched"
    assert set(hatched).isdisjoint(dark_rows)
    # The styles say the same: different fills, and a hatch only on the average.
    assert THIS_WEEK_STYLE["color"] != AVERAGE_STYLE["color"]
    assert AVERAGE_STYLE.get("hatch") and not THIS_WEEK_STYLE.get("hatch")


def test_the_alt_text_says_every_number_the_chart_shows():
    text = chart_alt_text(WEEK)
    assert text.startswith("Comments this week against the weekly average of the previous "
                           "four weeks.")
    assert "By platform: Facebook 214 (average 180.5); Instagram 41 (average 38); " \
           "X 20 (average 22)." in text
    assert "By category: praise 30 (average 25); complaint 12 (average 14.5)" in text
    assert "threat 1 (average 0.3)" in text  # 0.25 rounded as people round
    assert chart_alt_text(Volumes({}, {})).endswith(
        "No comments this week or in the four weeks before.")


def test_a_week_with_no_comments_still_draws_a_chart_that_says_so():
    empty = Volumes({}, {})
    png = volume_chart(empty)
    assert Image.open(io.BytesIO(png)).size == chart_pixels(empty)
    only_platforms = Volumes({"Facebook": (3, 0.0)}, {})
    assert Image.open(io.BytesIO(volume_chart(only_platforms))).size == \
        chart_pixels(only_platforms)


def test_fifty_schools_render_as_small_multiples_in_a_few_seconds():
    schools = {f"School {n:02d} of the Oak Trust": Volumes(
        {"Facebook": (10 * n, 9.5 * n), "X": (n % 7, 3.0)}, {"praise": (n, 1.0)})
        for n in range(50)}
    started = time.perf_counter()
    png = small_multiples(schools)
    assert time.perf_counter() - started < 5
    image = Image.open(io.BytesIO(png))
    assert image.size == small_multiples_pixels(schools)
    assert image.size[0] == 1200 and image.size[1] > image.size[0]  # ten rows of five
    assert small_multiples(schools) == png
    # Both series are drawn: dark solid bars and hatched ones.
    histogram = grey(png).histogram()
    assert sum(histogram[40:80]) > 1000 and histogram[255] > sum(histogram[:255])
