"""Bursts, interrupted polls and requests per poll, for Facebook and Instagram: the real
facebook-sdk client against a real local HTTP server that answers as the Graph API does, in its
JSON format and with its paging (cursors in `paging.cursors` and `paging.next` for comments and
Instagram, `until` and `__paging_token` for visitor posts), and counts every request it gets.

Also holds `FakeGraph`, the stand-in for Graph the other test_graph_* modules use.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from connectors.base import Connector, Item, Page, SourceSpec
from connectors.facebook import FacebookConnector
from connectors.graph import DEFAULT_API_VERSION
from connectors.instagram import InstagramConnector
from tests.http_server import LocalServer, Request, json_answer

TOKEN = "EAAGm0PX4ZCpsBAPageToken"
PAGE = "104857392011"
ACCOUNT = "17841400008460056"
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
V = f"/{DEFAULT_API_VERSION}"
GRAPH = f"https://graph.facebook.com/{DEFAULT_API_VERSION}"


def stamp(moment: datetime) -> str:
    """A time as Graph writes it: 2026-11-17T08:58:00+0000."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def cursor_for(object_id: str) -> str:
    # Graph's cursors are opaque base64 that point at an item; so are these.
    return base64.urlsafe_b64encode(f"cursor:{object_id}".encode()).decode().rstrip("=")


def object_at(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    return base64.urlsafe_b64decode(padded).decode().removeprefix("cursor:")


@dataclass
class Thing:
    """A post, comment, visitor post or Instagram media in the fake Graph."""

    id: str
    at: datetime
    body: dict[str, Any]
    children: list[Thing] = field(default_factory=list)


class FakeGraph:
    """A Facebook Page and an Instagram account behind a real local server."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.posts: dict[str, Thing] = {}
        self.visitor_posts: list[Thing] = []
        self.media: dict[str, Thing] = {}
        self.without_updated_time: set[str] = set()
        # Instagram comments already in their post's comments_count but not yet listed.
        self.unshown: set[str] = set()
        self.counter = 9000
        server.route("GET", f"{V}/{PAGE}/feed", self.feed)
        server.route("GET", f"{V}/{PAGE}/visitor_posts", self.visitors)
        server.route("GET", f"{V}/{ACCOUNT}/media", self.media_list)

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    # --- building the world -----------------------------------------------------------------

    def post(self, at: datetime, *, updated_time: bool = True) -> str:
        post_id = f"{PAGE}_{self.next_id()}"
        self.posts[post_id] = Thing(post_id, at, {"id": post_id, "created_time": stamp(at)})
        if not updated_time:
            self.without_updated_time.add(post_id)
        self.server.route("GET", f"{V}/{post_id}/comments",
                          lambda request, post_id=post_id: self.comments(request, post_id))
        return post_id

    def comment(self, post_id: str, at: datetime, text: str = "a comment") -> str:
        comment_id = f"{post_id.split('_')[1]}_{self.next_id()}"
        number = self.counter
        self.posts[post_id].children.append(Thing(comment_id, at, {
            "id": comment_id, "message": text, "created_time": stamp(at),
            "from": {"id": str(5550000 + number % 997), "name": f"Parent {number % 997}"},
            "permalink_url": f"https://www.facebook.com/{PAGE}/posts/{post_id.split('_')[1]}/"
                             f"?comment_id={comment_id.split('_')[1]}",
            "is_hidden": False}))
        return comment_id

    def visitor_post(self, at: datetime, text: str = "a visitor post") -> str:
        post_id = f"{PAGE}_{self.next_id()}"
        self.visitor_posts.append(Thing(post_id, at, {
            "id": post_id, "message": text, "created_time": stamp(at),
            "from": {"id": str(7770000 + self.counter % 991), "name": "A Visitor"},
            "permalink_url": f"https://www.facebook.com/{post_id}"}))
        return post_id

    def ig_media(self, at: datetime) -> str:
        media_id = str(18000000000000000 + self.next_id())
        self.media[media_id] = Thing(media_id, at, {
            "id": media_id, "caption": "Sports day!", "timestamp": stamp(at),
            "permalink": f"https://www.instagram.com/p/C{self.counter}/"})
        self.server.route("GET", f"{V}/{media_id}/comments",
                          lambda request, media_id=media_id: self.ig_comments(request, media_id))
        return media_id

    def ig_comment(self, media_id: str, at: datetime, text: str = "so proud") -> str:
        comment_id = str(17890000000000000 + self.next_id())
        self.media[media_id].children.append(Thing(comment_id, at, {
            "id": comment_id, "text": text, "timestamp": stamp(at),
            "username": f"parent_{self.counter % 983}",
            "from": {"id": str(17841401000000000 + self.counter % 983),
                     "username": f"parent_{self.counter % 983}"}}))
        return comment_id

    # --- answering ----------------------------------------------------------------------------

    def asked(self) -> list[str]:
        return [request.path for request in self.server.requests]

    def feed(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        since = int(request.query.get("since", 0))
        posts = sorted((p for p in self.posts.values() if p.at.timestamp() >= since),
                       key=lambda p: p.at, reverse=True)
        rows = []
        for post in posts:
            row = dict(post.body, permalink_url=f"https://www.facebook.com/{post.id}")
            if post.id not in self.without_updated_time:
                row["updated_time"] = stamp(max([post.at, *(c.at for c in post.children)]))
            rows.append(row)
        return self.cursor_page(request, f"{PAGE}/feed", rows)

    def comments(self, request: Request, post_id: str) -> tuple[int, dict[str, str], bytes]:
        if post_id not in self.posts:
            return graph_error(f"Unsupported get request. Object with ID '{post_id}' does not "
                               "exist, cannot be loaded due to missing permissions, or does "
                               "not support this operation.")
        assert request.query.get("filter") == "stream"
        assert request.query.get("order") == "chronological"
        since = int(request.query.get("since", 0))
        rows = [c.body for c in sorted(self.posts[post_id].children, key=lambda c: c.at)
                if c.at.timestamp() >= since]
        return self.cursor_page(request, f"{post_id}/comments", rows)

    def ig_comments(self, request: Request, media_id: str) -> tuple[int, dict[str, str], bytes]:
        rows = [c.body for c in sorted(self.media[media_id].children, key=lambda c: c.at,
                                       reverse=True) if c.id not in self.unshown]
        return self.cursor_page(request, f"{media_id}/comments", rows)

    def media_list(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        rows = [dict(m.body, comments_count=len(m.children))
                for m in sorted(self.media.values(), key=lambda m: m.at, reverse=True)]
        return self.cursor_page(request, f"{ACCOUNT}/media", rows)

    def cursor_page(self, request: Request, edge: str,
                    rows: list[dict[str, Any]]) -> tuple[int, dict[str, str], bytes]:
        """One page of `rows` after the request's `after` cursor, paged as Graph pages by
        cursor: `paging.cursors` on every page with data, `paging.next` only when more."""
        limit = int(request.query.get("limit", 25))
        start = 0
        if "after" in request.query:
            ids = [row["id"] for row in rows]
            if object_at(request.query["after"]) not in ids:
                # The item the cursor points at is gone: Graph no longer reads the cursor.
                return graph_error("Invalid cursor: the after parameter is not valid")
            start = ids.index(object_at(request.query["after"])) + 1
        chunk = rows[start:start + limit]
        body: dict[str, Any] = {"data": chunk}
        if chunk:
            body["paging"] = {"cursors": {"before": cursor_for(chunk[0]["id"]),
                                          "after": cursor_for(chunk[-1]["id"])}}
            if start + limit < len(rows):
                query = {key: value for key, value in request.query.items()
                         if key not in ("access_token", "appsecret_proof", "after")}
                query |= {"access_token": "PAGE_TOKEN", "after": cursor_for(chunk[-1]["id"])}
                body["paging"]["next"] = f"{GRAPH}/{edge}?{urlencode(query)}"
        return json_answer(body)

    def visitors(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """Newest first, paged by time as Graph pages posts: `next` carries `until` and a
        `__paging_token` that says where exactly the page ended."""
        since = int(request.query.get("since", 0))
        rows = sorted((p for p in self.visitor_posts if p.at.timestamp() >= since),
                      key=lambda p: (p.at, p.id), reverse=True)
        if "__paging_token" in request.query:
            last = object_at(request.query["__paging_token"].removeprefix("enc_"))
            until = int(request.query["until"])
            ids = [row.id for row in rows]
            rows = [row for row in rows[ids.index(last) + 1:] if row.at.timestamp() <= until]
        limit = int(request.query.get("limit", 25))
        chunk = rows[:limit]
        body: dict[str, Any] = {"data": [row.body for row in chunk]}
        if chunk:
            base = {key: value for key, value in request.query.items()
                    if key not in ("access_token", "until", "__paging_token", "since")}
            token = "enc_" + cursor_for(chunk[-1].id)
            previous = base | {"since": str(int(chunk[0].at.timestamp())),
                               "__paging_token": "enc_" + cursor_for(chunk[0].id),
                               "__previous": "1", "access_token": "PAGE_TOKEN"}
            body["paging"] = {"previous": f"{GRAPH}/{PAGE}/visitor_posts?{urlencode(previous)}"}
            if len(rows) > limit:
                following = base | {"since": request.query.get("since", ""),
                                    "until": str(int(chunk[-1].at.timestamp())),
                                    "__paging_token": token, "access_token": "PAGE_TOKEN"}
                body["paging"]["next"] = f"{GRAPH}/{PAGE}/visitor_posts?{urlencode(following)}"
        return json_answer(body)


def graph_error(message: str) -> tuple[int, dict[str, str], bytes]:
    return json_answer({"error": {"message": message, "type": "GraphMethodException",
                                  "code": 100, "fbtrace_id": "AbCdEf123"}}, status=400)


@pytest.fixture
def fake(local_server: Callable[..., LocalServer]) -> FakeGraph:
    return FakeGraph(local_server())


def facebook(fake: FakeGraph, **settings: Any) -> FacebookConnector:
    built = FacebookConnector({"base_url": fake.server.url, **settings},
                              {"page_access_token": TOKEN})
    built.now = lambda: NOW
    return built


def instagram(fake: FakeGraph, **settings: Any) -> InstagramConnector:
    built = InstagramConnector({"base_url": fake.server.url, **settings},
                               {"page_access_token": TOKEN})
    built.now = lambda: NOW
    return built


@dataclass
class Daemon:
    """What monitor/pipeline.py keeps for a source: the progress of every page it stored and
    the cursor (the last page's progress), and the start it gives the next poll."""

    connector: Connector
    source: SourceSpec
    cursor: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    stored: list[str] = field(default_factory=list)

    def start(self, *, from_progress: bool = True) -> Mapping[str, Any] | None:
        if not from_progress or self.progress is None or self.progress == self.cursor:
            return self.cursor
        return {**(self.cursor or {}), "resume": self.progress}

    def poll(self, *, stop_after: int | None = None, from_progress: bool = True) -> list[Item]:
        """One poll, stopped (as a shutdown stops it) after `stop_after` pages if given."""
        items: list[Item] = []
        pages: Iterator[Page] = self.connector.fetch(self.source,
                                                     self.start(from_progress=from_progress))
        for number, page in enumerate(pages, start=1):
            items += page.items
            self.progress = page.progress
            if page.last:
                self.cursor = page.progress
            if stop_after is not None and number >= stop_after and not page.last:
                break
        self.stored += [item.external_id for item in items]
        return items


def burst(start: datetime, count: int, seconds: float) -> Iterator[datetime]:
    """`count` moments spread over `seconds` from `start`: many share a second."""
    for number in range(count):
        yield start + timedelta(seconds=seconds * number / count)


# --- Facebook comments ------------------------------------------------------------------------

def test_a_comment_burst_on_one_post_is_read_once_each_and_every_poll_makes_progress(fake):
    post = fake.post(NOW - timedelta(days=1))
    written = [fake.comment(post, at) for at in burst(NOW - timedelta(minutes=12), 1300, 120)]
    daemon = Daemon(facebook(fake, max_pages=3), SourceSpec(1, "facebook", "comments", PAGE))
    per_poll = []
    while len(set(daemon.stored)) < 1300 and len(per_poll) < 30:
        asked_before = len(fake.server.requests)
        per_poll.append(len(daemon.poll()))
        # The feed, then at most max_pages pages of the post's comments.
        assert len(fake.server.requests) - asked_before <= 1 + 3
    assert sorted(daemon.stored) == sorted(written)  # each exactly once
    assert all(count > 0 for count in per_poll)
    assert len(per_poll) == 9  # 150 a poll
    asked_before = len(fake.server.requests)
    assert daemon.poll() == []
    assert fake.asked()[asked_before:] == [f"{V}/{PAGE}/feed"]
    # The pile-on goes on: the next comments are read at once, without reading the burst again.
    later = [fake.comment(post, NOW - timedelta(minutes=8)),
             fake.comment(post, NOW - timedelta(minutes=1))]
    asked_before = len(fake.server.requests)
    assert [item.external_id for item in daemon.poll()] == later
    assert fake.asked()[asked_before:] == [f"{V}/{PAGE}/feed", f"{V}/{post}/comments"]


@pytest.mark.parametrize("from_progress", [True, False], ids=["from-progress", "from-cursor"])
def test_an_interrupted_burst_poll_loses_nothing(fake, from_progress):
    post, other = fake.post(NOW - timedelta(days=1)), fake.post(NOW - timedelta(days=2))
    written = [fake.comment(post, at) for at in burst(NOW - timedelta(minutes=12), 1300, 120)]
    daemon = Daemon(facebook(fake, max_pages=3), SourceSpec(1, "facebook", "comments", PAGE))
    for number in range(60):
        if number == 4:  # more arrive while the burst is being read, on both posts
            written += [fake.comment(post, NOW - timedelta(minutes=5) + timedelta(seconds=n))
                        for n in range(7)]
            written += [fake.comment(other, NOW - timedelta(minutes=4))]
        # Stopped after one, two or three pages; every third poll runs to its end.
        daemon.poll(stop_after=None if number % 3 == 2 else number % 3 + 1,
                    from_progress=from_progress)
        if set(daemon.stored) == set(written):
            break
    assert set(daemon.stored) == set(written)
    if from_progress:
        assert len(daemon.stored) == len(written)  # and none twice


def test_a_post_without_updated_time_still_has_its_new_comments_read(fake):
    post = fake.post(NOW - timedelta(days=3), updated_time=False)
    first = fake.comment(post, NOW - timedelta(hours=2))
    daemon = Daemon(facebook(fake), SourceSpec(1, "facebook", "comments", PAGE))
    assert [item.external_id for item in daemon.poll()] == [first]
    later = fake.comment(post, NOW - timedelta(minutes=1))
    assert [item.external_id for item in daemon.poll()] == [later]
    assert daemon.poll() == []


def test_a_quiet_facebook_poll_is_one_request_and_a_busy_one_one_per_busy_post(fake):
    posts = [fake.post(NOW - timedelta(days=day)) for day in (1, 2, 3, 5)]
    for number, post in enumerate(posts):
        fake.comment(post, NOW - timedelta(hours=1, minutes=number))
        fake.comment(post, NOW - timedelta(minutes=20 + number))
    daemon = Daemon(facebook(fake), SourceSpec(1, "facebook", "comments", PAGE))
    assert len(daemon.poll()) == 8
    for _ in range(3):
        asked_before = len(fake.server.requests)
        assert daemon.poll() == []
        assert fake.asked()[asked_before:] == [f"{V}/{PAGE}/feed"]
    # Steady traffic: new comments on two of the four posts.
    new = [fake.comment(posts[0], NOW - timedelta(minutes=2)),
           fake.comment(posts[2], NOW - timedelta(minutes=1))]
    asked_before = len(fake.server.requests)
    assert sorted(item.external_id for item in daemon.poll()) == sorted(new)
    assert sorted(fake.asked()[asked_before:]) == sorted([
        f"{V}/{PAGE}/feed", f"{V}/{posts[0]}/comments", f"{V}/{posts[2]}/comments"])


# --- Facebook visitor posts (newest first) ----------------------------------------------------

def test_a_visitor_post_burst_is_read_once_each_oldest_included(fake):
    written = [fake.visitor_post(at) for at in burst(NOW - timedelta(minutes=15), 1200, 600)]
    daemon = Daemon(facebook(fake, max_pages=2), SourceSpec(1, "facebook", "visitor_posts", PAGE))
    per_poll = []
    while len(set(daemon.stored)) < len(written) and len(per_poll) < 40:
        if len(per_poll) == 3:  # new ones arrive part-way: read at once, not after the backlog
            fresh = [fake.visitor_post(NOW - timedelta(seconds=30 - n)) for n in range(3)]
            written += fresh
            got = [item.external_id for item in daemon.poll()]
            assert set(fresh) <= set(got)
            per_poll.append(len(got))
            continue
        per_poll.append(len(daemon.poll()))
    assert sorted(daemon.stored) == sorted(written)
    assert all(count > 0 for count in per_poll)
    asked_before = len(fake.server.requests)
    assert daemon.poll() == []
    assert fake.asked()[asked_before:] == [f"{V}/{PAGE}/visitor_posts"]


@pytest.mark.parametrize("from_progress", [True, False], ids=["from-progress", "from-cursor"])
def test_an_interrupted_visitor_post_burst_loses_nothing(fake, from_progress):
    written = [fake.visitor_post(at) for at in burst(NOW - timedelta(minutes=15), 1200, 600)]
    daemon = Daemon(facebook(fake, max_pages=2), SourceSpec(1, "facebook", "visitor_posts", PAGE))
    for number in range(80):
        if number == 5:
            written += [fake.visitor_post(NOW - timedelta(seconds=20))]
        daemon.poll(stop_after=None if number % 3 == 2 else number % 3 + 1,
                    from_progress=from_progress)
        if set(daemon.stored) == set(written):
            break
    assert set(daemon.stored) == set(written)
    if from_progress:
        assert len(daemon.stored) == len(written)


# --- Instagram comments -----------------------------------------------------------------------

def test_an_instagram_comment_burst_is_read_once_each_and_every_poll_makes_progress(fake):
    media = fake.ig_media(NOW - timedelta(days=1))
    written = [fake.ig_comment(media, at)
               for at in burst(NOW - timedelta(minutes=12), 1300, 120)]
    daemon = Daemon(instagram(fake, max_pages=3), SourceSpec(2, "instagram", "comments", ACCOUNT))
    per_poll = []
    while len(set(daemon.stored)) < 1300 and len(per_poll) < 30:
        per_poll.append(len(daemon.poll()))
    assert sorted(daemon.stored) == sorted(written)
    assert all(count > 0 for count in per_poll) and len(per_poll) == 9
    asked_before = len(fake.server.requests)
    assert daemon.poll() == []
    assert fake.asked()[asked_before:] == [f"{V}/{ACCOUNT}/media"]


@pytest.mark.parametrize("from_progress", [True, False], ids=["from-progress", "from-cursor"])
def test_an_interrupted_instagram_burst_loses_nothing(fake, from_progress):
    media = fake.ig_media(NOW - timedelta(days=1))
    written = [fake.ig_comment(media, at)
               for at in burst(NOW - timedelta(minutes=12), 1300, 120)]
    daemon = Daemon(instagram(fake, max_pages=3), SourceSpec(2, "instagram", "comments", ACCOUNT))
    for number in range(80):
        if number == 4:  # new comments come in at the top while the burst is part-read
            written += [fake.ig_comment(media, NOW - timedelta(minutes=3)) for _ in range(4)]
        daemon.poll(stop_after=None if number % 3 == 2 else number % 3 + 1,
                    from_progress=from_progress)
        if set(daemon.stored) == set(written):
            break
    assert set(daemon.stored) == set(written)
    if from_progress:
        assert len(daemon.stored) == len(written)


def test_a_quiet_instagram_poll_is_one_request(fake):
    media = [fake.ig_media(NOW - timedelta(days=day)) for day in (1, 2, 4)]
    for number, one in enumerate(media):
        fake.ig_comment(one, NOW - timedelta(hours=2, minutes=number))
    daemon = Daemon(instagram(fake), SourceSpec(2, "instagram", "comments", ACCOUNT))
    assert len(daemon.poll()) == 3
    asked_before = len(fake.server.requests)
    assert daemon.poll() == []
    assert fake.asked()[asked_before:] == [f"{V}/{ACCOUNT}/media"]
    new = fake.ig_comment(media[1], NOW - timedelta(minutes=1))
    asked_before = len(fake.server.requests)
    assert [item.external_id for item in daemon.poll()] == [new]
    assert fake.asked()[asked_before:] == [f"{V}/{ACCOUNT}/media", f"{V}/{media[1]}/comments"]


# --- saved paging cursors that Graph no longer takes -------------------------------------------

def test_a_saved_cursor_graph_refuses_is_read_again_from_its_start_losing_nothing(fake):
    post = fake.post(NOW - timedelta(days=1))
    written = [fake.comment(post, at) for at in burst(NOW - timedelta(minutes=12), 400, 120)]
    daemon = Daemon(facebook(fake, max_pages=2), SourceSpec(1, "facebook", "comments", PAGE))
    daemon.poll()
    # The comment the saved cursor points at is deleted before the next poll.
    cut_at = object_at(daemon.cursor["open"][post]["page"]["after"])
    fake.posts[post].children = [c for c in fake.posts[post].children if c.id != cut_at]
    written.remove(cut_at)
    for _ in range(10):
        daemon.poll()
    assert sorted(set(daemon.stored) - {cut_at}) == sorted(written)
    assert len(daemon.stored) == len(set(daemon.stored))  # none twice


def test_a_post_deleted_part_way_through_its_burst_does_not_stop_the_source(fake):
    post, other = fake.post(NOW - timedelta(days=1)), fake.post(NOW - timedelta(days=2))
    for at in burst(NOW - timedelta(minutes=12), 300, 120):
        fake.comment(post, at)
    daemon = Daemon(facebook(fake, max_pages=2), SourceSpec(1, "facebook", "comments", PAGE))
    daemon.poll()
    del fake.posts[post]
    later = fake.comment(other, NOW - timedelta(minutes=1))
    assert [item.external_id for item in daemon.poll()] == [later]
    assert "open" not in daemon.cursor
