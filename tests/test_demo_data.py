"""The built-in demo week (monitor/demo), played through the real replay connector.

The demo is what a school sees first, so these tests hold it to what it promises: a believable
week of comments and mentions on three platforms, in each platform's own format, with a pile-on,
a repeat offender, every category of the design, and a README that says which item is meant to
be flagged as what.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors import formats
from connectors.base import Item, SourceSpec
from connectors.replay import ReplayConnector

DEMO = Path(__file__).resolve().parents[1] / "monitor" / "demo"
KINDS = {"facebook": "comments", "instagram": "comments", "x": "mentions"}
WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)
WEEK_END = WEEK_START + timedelta(days=7)
CATEGORIES = ("threat", "safeguarding", "hateful", "abusive", "personal_data", "disparaging",
              "media", "absence", "question", "praise", "spam")
HOSTILE = {"threat", "hateful", "abusive", "disparaging"}


def replay(platform: str) -> list[list[Item]]:
    connector = ReplayConnector({"path": str(DEMO / platform), "as_platform": platform}, {})
    source = SourceSpec(1, "replay", KINDS[platform], platform)
    pages = list(connector.fetch(source, None))
    assert pages[-1].last
    return [page.items for page in pages]


def readme_section(title: str) -> list[str]:
    text = (DEMO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None].splitlines()


@pytest.fixture(scope="module")
def pages() -> dict[str, list[list[Item]]]:
    return {platform: replay(platform) for platform in KINDS}


@pytest.fixture(scope="module")
def items(pages) -> list[tuple[str, Item]]:
    return [(platform, item) for platform, ps in pages.items() for page in ps for item in page]


@pytest.fixture(scope="module")
def labels() -> dict[tuple[str, str], str]:
    """(platform, external_id) -> intended (first) category, from the README's table."""
    row = re.compile(r"^\| `(?P<id>[0-9_]+)` \| (?P<platform>facebook|instagram|x) \| "
                     r"(?P<category>[a-z_]+)(?: \+ [a-z_]+)* \|")
    found = {}
    for line in readme_section("Flagged items"):
        if match := row.match(line):
            key = (match["platform"], match["id"])
            assert key not in found, f"{key} labelled twice"
            found[key] = match["category"]
    return found


def raw_pages(platform: str) -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((DEMO / platform).glob("*.json"))]


def test_the_demo_holds_a_week_of_items_on_all_three_platforms(pages, items):
    assert len(items) >= 80
    for platform, ps in pages.items():
        assert 6 <= len(ps) <= 10, f"{platform}: {len(ps)} files"
        assert sum(len(page) for page in ps) >= 20, platform
        assert all(ps), f"{platform}: a file without items"


def test_every_item_is_unique_per_platform(items):
    keys = Counter((platform, item.external_id) for platform, item in items)
    assert [key for key, n in keys.items() if n > 1] == []


def test_every_item_has_text_an_author_and_an_aware_time_within_the_week(items):
    for platform, item in items:
        assert item.text.strip(), (platform, item.external_id)
        assert item.author.id and (item.author.name or item.author.handle), item.external_id
        assert item.created_at.tzinfo is not None
        assert item.created_at.utcoffset() == timedelta(0)
        assert WEEK_START <= item.created_at < WEEK_END, (platform, item.external_id)


def test_ids_look_like_the_platforms_own(pages):
    for item in (i for page in pages["facebook"] for i in page):
        post, comment = item.external_id.split("_")
        assert post.isdigit() and comment.isdigit()
        assert item.conversation_id == f"104857392011_{post}"
        assert item.permalink.startswith("https://www.facebook.com/104857392011/posts/")
    for item in (i for page in pages["instagram"] for i in page):
        assert item.external_id.isdigit() and len(item.external_id) >= 17
        assert item.permalink.startswith("https://www.instagram.com/p/")
    for item in (i for page in pages["x"] for i in page):
        assert item.external_id.isdigit() and len(item.external_id) == 19
        assert item.author.handle and "@oakfieldprimary" in item.text.lower()


def test_files_play_back_oldest_first(pages):
    for platform, ps in pages.items():
        for n, (older, newer) in enumerate(zip(ps, ps[1:], strict=False), start=1):
            assert max(i.created_at for i in older) <= min(i.created_at for i in newer), (
                f"{platform} file {n:03d} has items newer than file {n + 1:03d}")


def test_every_file_but_the_last_points_to_a_next_page():
    for platform in ("facebook", "instagram"):
        afters = [formats.graph_page(body)[1] for body in raw_pages(platform)]
        assert all(afters[:-1]) and afters[-1] is None, platform
    bodies = raw_pages("x")
    assert all("next_token" in body["meta"] for body in bodies[:-1])
    assert "next_token" not in bodies[-1]["meta"]
    for body in bodies:
        ids = [tweet["id"] for tweet in body["data"]]
        assert body["meta"]["result_count"] == len(ids)
        assert body["meta"]["newest_id"] == ids[0] and body["meta"]["oldest_id"] == ids[-1]
        authors = {user["id"] for user in body["includes"]["users"]}
        assert {tweet["author_id"] for tweet in body["data"]} <= authors


def test_replies_answer_an_item_in_the_same_thread(pages):
    for platform in ("facebook", "instagram"):
        found = {i.external_id: i for page in pages[platform] for i in page}
        replies = [i for i in found.values() if i.kind == "reply"]
        assert replies, platform
        for reply in replies:
            parent = found[reply.parent_id]
            assert parent.conversation_id == reply.conversation_id
            assert parent.created_at < reply.created_at
    x_replies = [i for page in pages["x"] for i in page if i.parent_id]
    assert x_replies
    assert all(i.parent_id == i.conversation_id for i in x_replies)


def test_a_pile_on_thread_draws_many_people_within_an_hour(items, labels):
    threads = defaultdict(list)
    for platform, item in items:
        threads[(platform, item.conversation_id)].append(item)
    best: list[Item] = []
    for thread in threads.values():
        thread.sort(key=lambda i: i.created_at)
        for n, first in enumerate(thread):
            window = [i for i in thread[n:]
                      if i.created_at - first.created_at <= timedelta(hours=1)]
            if len(window) > len(best):
                best = window
    assert len(best) >= 8
    assert len({i.author.id for i in best}) >= 8
    platform = next(p for p, i in items if i is best[0])
    hostile = [labels.get((platform, i.external_id)) for i in best]
    assert sum(category in HOSTILE for category in hostile) >= 8
    assert "threat" in hostile and "abusive" in hostile and "disparaging" in hostile


def test_a_repeat_offender_attacks_several_posts_and_shows_up_elsewhere(items, labels):
    posts_by_author = defaultdict(set)
    names = {}
    for platform, item in items:
        if platform == "facebook" and labels.get((platform, item.external_id)) in HOSTILE:
            posts_by_author[item.author.id].add(item.conversation_id)
            names[item.author.id] = item.author.name
    offender, posts = max(posts_by_author.items(), key=lambda kv: len(kv[1]))
    assert len(posts) >= 4
    elsewhere = [item for platform, item in items
                 if platform != "facebook" and item.author.name == names[offender]]
    assert elsewhere, f"{names[offender]} appears only on Facebook"


def test_the_readme_labels_real_items_in_every_category(items, labels):
    known = {(platform, item.external_id) for platform, item in items}
    assert set(labels) <= known, sorted(set(labels) - known)
    per_category = Counter(labels.values())
    assert set(per_category) <= set(CATEGORIES)
    for category in CATEGORIES:
        assert per_category[category] >= 3, category
    for platform in KINDS:
        assert any(p == platform for p, _ in labels), platform


def test_most_items_are_harmless_and_the_hard_negatives_are_not_flagged(items, labels):
    harmless = [key for key in ((p, i.external_id) for p, i in items)
                if labels.get(key) in (None, "praise")]
    assert len(harmless) / len(items) >= 0.5
    row = re.compile(r"^\| `(?P<id>[0-9_]+)` \| (?P<platform>facebook|instagram|x) \| .* \| "
                     r"(?P<forbidden>[a-z_, ]+) \|$")
    hard = [match for line in readme_section("Hard negatives") if (match := row.match(line))]
    assert len(hard) >= 10
    known = {(platform, item.external_id) for platform, item in items}
    for match in hard:
        key = (match["platform"], match["id"])
        assert key in known
        forbidden = {name.strip() for name in match["forbidden"].split(",")}
        assert forbidden <= set(CATEGORIES)
        assert labels.get(key) not in forbidden
