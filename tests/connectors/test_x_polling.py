"""X polls over time against a real local server that answers like X API v2: an empty first
poll, a poll interrupted part-way down a backlog and resumed, saved positions X would refuse, and
how many requests each kind of poll makes. The server keeps a timeline of posts and honours
since_id, until_id, start_time, max_results and its own page tokens, and refuses what X refuses
(ids that are not post ids, start times in the future or, for recent search, older than seven
days)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from connectors.base import Page, RetryableError, SourceSpec
from connectors.x import XConnector
from tests.connectors.test_x import BEARER, MENTIONS, SCHOOL_ID, SEARCH, SETTINGS
from tests.http_server import Answer, LocalServer, Request, json_answer

SNOWFLAKE_EPOCH_MS = 1288834974657
DAY = 24 * 3600
# 2026-11-17T07:12Z, when the school adds its account.
ADDED = 1794999880.0


def snowflake(at: float, sequence: int) -> str:
    """An X post id made at `at` (epoch seconds), as X makes them."""
    return str(((int(at * 1000) - SNOWFLAKE_EPOCH_MS) << 22) | sequence)


def x_time(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def invalid(parameter: str, value: str) -> Answer:
    """X's 400 for a query parameter it cannot use."""
    return json_answer({
        "errors": [{"parameters": {parameter: [value]},
                    "message": f"Invalid '{parameter}':'{value}'."}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }, status=400)


@dataclass
class FakeX:
    """A mentions timeline and recent search over one set of posts, served over HTTP."""

    now: float = ADDED
    url: str = ""
    posts: list[dict] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)  # page token -> ids below this
    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    down: bool = False  # answers 503 to everything

    def post(self, count: int = 1, *, after: float = 60.0) -> list[str]:
        """`count` new posts, the clock moved on `after` seconds for each."""
        made = []
        for _ in range(count):
            self.now += after
            post_id = snowflake(self.now, len(self.posts))
            author = str(1000 + len(self.posts) % 7)
            self.posts.append({"id": post_id, "text": f"@OakfieldPrimary post {len(self.posts)}",
                               "author_id": author, "created_at": x_time(self.now),
                               "conversation_id": post_id})
            made.append(post_id)
        return made

    def serve(self, server: LocalServer) -> FakeX:
        server.route("GET", MENTIONS, lambda request: self.answer("mentions", request))
        server.route("GET", SEARCH, lambda request: self.answer("search", request))
        self.url = server.url
        return self

    def requests(self, kind: str | None = None) -> list[dict[str, str]]:
        return [query for asked, query in self.asked if kind in (None, asked)]

    def answer(self, kind: str, request: Request) -> Answer:
        query = request.query
        self.asked.append((kind, query))
        if self.down:
            return json_answer({"title": "Service Unavailable", "status": 503}, status=503)
        if refusal := self.refusal(kind, query):
            return refusal
        posts = sorted(self.posts, key=lambda p: int(p["id"]), reverse=True)
        if "since_id" in query:
            posts = [p for p in posts if int(p["id"]) > int(query["since_id"])]
        elif "start_time" in query:
            start = datetime.fromisoformat(query["start_time"])
            posts = [p for p in posts if datetime.fromisoformat(p["created_at"]) >= start]
        if "until_id" in query:
            posts = [p for p in posts if int(p["id"]) < int(query["until_id"])]
        token = query.get("pagination_token") or query.get("next_token")
        if token:
            posts = [p for p in posts if int(p["id"]) < self.tokens[token]]
        size = int(query.get("max_results", "10"))
        page, rest = posts[:size], posts[size:]
        if not page:
            return json_answer({"meta": {"result_count": 0}})
        meta = {"result_count": len(page), "newest_id": page[0]["id"],
                "oldest_id": page[-1]["id"]}
        if rest:
            meta["next_token"] = f"tok{len(self.tokens) + 1:04d}b7q2z9"
            self.tokens[meta["next_token"]] = int(page[-1]["id"])
        authors = sorted({p["author_id"] for p in page})
        return json_answer({"data": page, "meta": meta, "includes": {"users": [
            {"id": a, "username": f"parent{a}", "name": f"Parent {a}"} for a in authors]}})

    def refusal(self, kind: str, query: dict[str, str]) -> Answer | None:
        for key in ("since_id", "until_id"):
            value = query.get(key)
            if value is not None and not (value.isdigit() and int(value) < 2 ** 63):
                return invalid(key, value)
        oldest_allowed = self.now - 7 * DAY
        if kind == "search" and "since_id" in query:
            made = ((int(query["since_id"]) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000
            if made < oldest_allowed:
                return invalid("since_id", query["since_id"])
        if "start_time" in query:
            start = datetime.fromisoformat(query["start_time"]).timestamp()
            if start > self.now - 10 or (kind == "search" and start < oldest_allowed):
                return invalid("start_time", query["start_time"])
        token = query.get("pagination_token") or query.get("next_token")
        if token is not None and token not in self.tokens:
            return invalid("pagination_token" if kind == "mentions" else "next_token", token)
        return None


@pytest.fixture
def x_world(local_server: Callable[..., LocalServer]) -> FakeX:
    return FakeX().serve(local_server())


def connect(fake: FakeX, **settings) -> XConnector:
    x = XConnector({**SETTINGS, "base_url": fake.url, **settings}, BEARER)
    x.clock = lambda: fake.now
    return x


# Each source its own id: a bad cursor is reported once per source.
_source_ids = itertools.count(100)


def source(kind: str = "mentions") -> SourceSpec:
    return SourceSpec(next(_source_ids), "x", kind, SCHOOL_ID, SETTINGS)


@dataclass
class Daemon:
    """What the daemon does with a source's pages: store each page's items (once), keep each
    page's progress, and promote the last page's progress to the cursor."""

    x: XConnector
    source: SourceSpec
    cursor: dict | None = None
    progress: dict | None = None
    stored: list[str] = field(default_factory=list)

    def poll(self, *, stop_after: int | None = None) -> list[Page]:
        cursor = self.cursor
        if self.progress is not None and self.progress != self.cursor:
            cursor = {**(self.cursor or {}), "resume": self.progress}
        pages = []
        for page in self.x.fetch(self.source, cursor):
            pages.append(page)
            self.store(page)
            if stop_after is not None and len(pages) == stop_after and not page.last:
                break
        return pages

    def store(self, page: Page) -> None:
        self.stored += [item.external_id for item in page.items
                        if item.external_id not in self.stored]
        self.progress = page.progress
        if page.last:
            self.cursor = page.progress

    def killed_first_poll(self) -> None:
        """A first poll killed after X answered with posts, before the daemon stored them."""
        for page in self.x.fetch(self.source, None):
            if page.items:
                return
            self.store(page)


def items(pages: list[Page]) -> list[str]:
    return [item.external_id for page in pages for item in page.items]


# --- an empty first poll ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["mentions", "replies", "search"])
def test_posts_arriving_after_an_empty_first_poll_are_all_read(x_world, kind):
    daemon = Daemon(connect(x_world, page_size=10), source(kind))
    assert items(daemon.poll()) == []
    assert daemon.cursor, "an empty first poll must still say where the source started"
    arrived = x_world.post(25)
    pages = daemon.poll()
    assert sorted(items(pages)) == sorted(arrived)
    assert daemon.cursor == {"since_id": max(arrived, key=int)}
    assert items(daemon.poll()) == []


def test_an_empty_first_poll_records_when_it_started_watching(x_world):
    daemon = Daemon(connect(x_world), source())
    daemon.poll()
    started = datetime.fromisoformat(daemon.cursor["start_time"]).timestamp()
    # A margin before the poll: posts X had not indexed yet, or stamped a little early, count.
    assert ADDED - 15 * 60 <= started <= ADDED - 60
    x_world.now += 300
    daemon.poll()
    sent = x_world.requests()[1]
    assert sent["start_time"] == daemon.cursor["start_time"] and "since_id" not in sent


def test_quiet_polls_after_an_empty_first_poll_keep_the_same_starting_time(x_world):
    daemon = Daemon(connect(x_world), source())
    daemon.poll()
    first = daemon.cursor
    for _ in range(3):
        x_world.now += 3600
        daemon.poll()
    assert daemon.cursor == first
    late = x_world.post(1, after=60)
    assert items(daemon.poll()) == late


def test_a_search_source_quiet_for_more_than_a_week_still_polls(x_world):
    daemon = Daemon(connect(x_world), source("search"))
    daemon.poll()
    x_world.now += 9 * DAY
    arrived = x_world.post(3)
    assert sorted(items(daemon.poll())) == sorted(arrived)
    assert daemon.cursor == {"since_id": max(arrived, key=int)}


# --- an interrupted poll resumes where it stopped -------------------------------------------------

def backlog(fake: FakeX, posts: int = 40) -> tuple[Daemon, list[str]]:
    """A source that has seen one post, then `posts` more arrive: four pages of ten."""
    seen = fake.post(1)
    daemon = Daemon(connect(fake, page_size=10), source(), cursor={"since_id": seen[0]},
                    progress={"since_id": seen[0]})
    return daemon, fake.post(posts)


def test_a_poll_stopped_after_page_2_of_4_resumes_with_pages_3_and_4_only(x_world):
    daemon, arrived = backlog(x_world)
    saved = daemon.cursor
    first = daemon.poll(stop_after=2)
    assert len(first) == 2 and len(x_world.requests()) == 2
    # An unfinished poll does not move the cursor; its progress says what was read.
    assert daemon.cursor == saved and daemon.progress == first[-1].progress
    meanwhile = x_world.post(3)

    resumed = daemon.poll()
    assert len(x_world.requests()) == 4, "only pages 3 and 4 may be asked for again"
    third, fourth = x_world.requests()[2:]
    assert third["pagination_token"] == first[-1].progress["next_token"]
    assert fourth["pagination_token"] == resumed[0].progress["next_token"]
    assert third["since_id"] == fourth["since_id"] == saved["since_id"]
    assert [len(page.items) for page in resumed] == [10, 10]
    assert not set(items(first)) & set(items(resumed))
    assert sorted(items(first) + items(resumed)) == sorted(arrived)
    assert daemon.cursor == {"since_id": max(arrived, key=int)}

    # What arrived while the backlog was read comes with the next poll, in one request.
    assert sorted(items(daemon.poll())) == sorted(meanwhile)
    assert len(x_world.requests()) == 5
    assert sorted(daemon.stored) == sorted(arrived + meanwhile)
    assert len(daemon.stored) == len(set(daemon.stored))


def test_a_resumed_poll_whose_page_token_expired_reads_below_the_oldest_post_read(x_world):
    daemon, arrived = backlog(x_world)
    first = daemon.poll(stop_after=2)
    x_world.tokens.clear()  # X forgot the page token
    resumed = daemon.poll()
    refused, *rest = x_world.requests()[2:]
    assert "pagination_token" in refused
    assert rest[0]["until_id"] == first[-1].progress["oldest_id"]
    assert rest[0]["since_id"] == first[-1].progress["since_id"]
    assert len(rest) == 2
    assert not set(items(first)) & set(items(resumed))
    assert sorted(items(first) + items(resumed)) == sorted(arrived)
    assert daemon.cursor == {"since_id": max(arrived, key=int)}


def test_a_resumed_poll_interrupted_again_carries_on_from_the_later_page(x_world):
    daemon, arrived = backlog(x_world)
    daemon.poll(stop_after=1)
    daemon.poll(stop_after=1)
    daemon.poll()
    assert len(x_world.requests()) == 4
    assert sorted(daemon.stored) == sorted(arrived)


@pytest.mark.parametrize("marker", ["not a progress", {}, None, {"unknown": 1}])
def test_a_resume_marker_that_says_nothing_starts_from_the_cursor(x_world, marker):
    seen = x_world.post(1)
    arrived = x_world.post(3)
    pages = list(connect(x_world).fetch(source(), {"since_id": seen[0], "resume": marker}))
    assert sorted(items(pages)) == sorted(arrived)
    assert x_world.requests()[0]["since_id"] == seen[0]


# --- saved positions X would refuse ---------------------------------------------------------------

BAD_SINCE_IDS = {
    "not digits": "12ab34",
    "beyond 64 bits": "99999999999999999999999",
    "older than snowflakes": "12345",
    "from the future": snowflake(ADDED + 400 * DAY, 0),
}


@pytest.mark.parametrize("kind", ["replies", "search", "mentions"])
@pytest.mark.parametrize("bad", BAD_SINCE_IDS.values(), ids=BAD_SINCE_IDS.keys())
def test_a_saved_since_id_that_is_not_a_post_id_is_dropped_and_said_once(x_world, caplog, kind,
                                                                       bad):
    caplog.set_level(logging.WARNING, logger="connectors.x")
    x_world.now -= 3 * DAY
    earlier = x_world.post(2, after=DAY)
    recent = x_world.post(2)
    x = connect(x_world)
    src = source(kind)
    pages = list(x.fetch(src, {"since_id": bad}))
    # Read again from a bounded time back: nothing published meanwhile is skipped.
    assert set(earlier + recent) <= set(items(pages))
    assert "since_id" not in x_world.requests()[0]
    assert pages[-1].progress == {"since_id": max(recent, key=int)}
    # A poll that fails before saving sees the same cursor again: it is not reported again.
    list(x.fetch(src, {"since_id": bad}))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert f"X source {src.id} ({kind})" in message and repr(bad[:40]) in message
    assert "dropped it and reading posts since" in message
    # The repaired cursor is used from then on, without any more warnings.
    list(x.fetch(src, pages[-1].progress))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_bad_since_id_falls_back_to_the_start_time_in_the_cursor(x_world, caplog):
    caplog.set_level(logging.WARNING, logger="connectors.x")
    start = "2026-11-17T06:00:00Z"
    arrived = x_world.post(2)
    pages = list(connect(x_world).fetch(source("search"),
                                        {"since_id": "garbage", "start_time": start}))
    assert x_world.requests()[0]["start_time"] == start
    assert sorted(items(pages)) == sorted(arrived)
    assert "since 2026-11-17T06:00:00Z" in caplog.text


def test_a_saved_page_token_with_a_bad_lower_bound_is_not_sent(x_world, caplog):
    caplog.set_level(logging.WARNING, logger="connectors.x")
    arrived = x_world.post(2)
    cursor = {"since_id": "x1", "newest_id": arrived[0], "next_token": "tok9999",
              "oldest_id": "bad"}
    pages = list(connect(x_world).fetch(source("replies"), cursor))
    sent = x_world.requests()[0]
    assert "next_token" not in sent and "until_id" not in sent
    assert sorted(items(pages)) == sorted(arrived)


def test_an_unreadable_start_time_is_replaced_by_a_bounded_reread(x_world):
    arrived = x_world.post(2)
    pages = list(connect(x_world).fetch(source("search"), {"start_time": "last tuesday"}))
    assert sorted(items(pages)) == sorted(arrived)


# --- requests per poll ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["mentions", "replies", "search"])
def test_a_quiet_poll_makes_one_request(x_world, kind):
    daemon = Daemon(connect(x_world), source(kind))
    daemon.poll()  # the first poll: one request, whatever it finds
    assert len(x_world.requests()) == 1
    daemon.poll()  # nothing new since: one request
    assert len(x_world.requests()) == 2
    x_world.post(3)
    daemon.poll()
    daemon.poll()  # quiet again, now from a since_id
    assert len(x_world.requests()) == 4


@pytest.mark.parametrize("kind", ["mentions", "search"])
def test_a_busy_poll_makes_one_request_per_page_and_no_more_than_max_pages(x_world, kind):
    seen = x_world.post(1)
    x_world.post(35)
    daemon = Daemon(connect(x_world, page_size=10, max_pages=3), source(kind),
                    cursor={"since_id": seen[0]})
    assert len(daemon.poll()) == 3 and len(x_world.requests()) == 3
    assert len(daemon.poll()) == 1 and len(x_world.requests()) == 4
    assert len(daemon.stored) == 35


def test_the_connector_sends_nothing_but_the_timeline_reads(x_world):
    daemon = Daemon(connect(x_world), source())
    daemon.poll()
    x_world.post(2)
    daemon.poll()
    assert {kind for kind, _ in x_world.asked} == {"mentions"}
    assert len(x_world.requests()) == 2


def test_a_cursor_saved_empty_reads_back_a_week_instead_of_starting_over(x_world):
    # What an empty first poll used to save: the next poll must not read only the newest few.
    x_world.now -= 2 * DAY
    arrived = x_world.post(25, after=3600)
    pages = list(connect(x_world, page_size=10).fetch(source(), {}))
    assert sorted(items(pages)) == sorted(arrived)
    assert "start_time" in x_world.requests()[0]


def test_a_start_time_with_fractions_or_an_offset_is_sent_as_x_wants_it(x_world):
    list(connect(x_world).fetch(source("search"), {"start_time": "2026-11-17T08:00:00.250+01:00"}))
    assert x_world.requests()[0]["start_time"] == "2026-11-17T07:00:00Z"


def test_a_first_poll_handed_an_empty_resume_marker_is_still_a_first_poll(x_world):
    # The daemon adds "resume" to a missing cursor too: {"resume": progress}.
    x_world.post(30)
    pages = list(connect(x_world).fetch(source(), {"resume": {}}))
    assert len(items(pages)) == 10 and len(x_world.requests()) == 1


# --- a first poll that comes late ---------------------------------------------------------------

@pytest.mark.parametrize("kind", ["mentions", "replies", "search"])
def test_a_first_poll_after_failed_attempts_reads_everything_since_the_first_attempt(x_world,
                                                                                      kind):
    # The first attempt fails at once (X answers 503 to everything), and 25 posts arrive
    # before an attempt succeeds.
    daemon = Daemon(connect(x_world, page_size=10), source(kind))
    x_world.down = True
    with pytest.raises(RetryableError):
        daemon.poll()
    x_world.down = False
    arrived = x_world.post(25)
    daemon.poll()
    assert sorted(daemon.stored) == sorted(arrived)
    assert daemon.cursor == {"since_id": max(arrived, key=int)}
    started = datetime.fromisoformat(x_world.requests()[1]["start_time"]).timestamp()
    assert ADDED - 15 * 60 <= started <= ADDED


@pytest.mark.parametrize("kind", ["mentions", "replies", "search"])
def test_a_first_poll_told_when_the_first_attempt_was_reads_everything_since(x_world, kind):
    # Earlier attempts failed without saving where they started; the daemon says when the first
    # of them began.
    late = SourceSpec(next(_source_ids), "x", kind, SCHOOL_ID, SETTINGS,
                      watching_since=datetime.fromtimestamp(ADDED, tz=UTC))
    arrived = x_world.post(25)
    daemon = Daemon(connect(x_world, page_size=10), late)
    daemon.poll()
    assert sorted(daemon.stored) == sorted(arrived)
    assert daemon.cursor == {"since_id": max(arrived, key=int)}
    started = datetime.fromisoformat(x_world.requests()[0]["start_time"]).timestamp()
    assert ADDED - 15 * 60 <= started <= ADDED


def test_a_true_first_poll_still_reads_only_the_newest_few(x_world):
    # Nothing was watching before: what was said before the school added its account is not
    # paid for.
    x_world.post(30)
    pages = list(connect(x_world).fetch(source(), None))
    assert len(items(pages)) == 10 and len(x_world.requests()) == 1


@pytest.mark.parametrize("kind", ["mentions", "replies", "search"])
def test_a_first_poll_killed_before_it_stored_what_it_read_is_followed_by_one_that_skips_nothing(
        x_world, kind):
    # The daemon is killed between X's answer and storing it, so no failure is recorded; more
    # than a first poll's worth of posts arrives before the next attempt.
    daemon = Daemon(connect(x_world, page_size=10), source(kind))
    before = x_world.post(3)
    daemon.killed_first_poll()
    assert daemon.cursor is None
    arrived = x_world.post(25)
    daemon.poll()
    assert sorted(daemon.stored) == sorted(before + arrived)
    assert daemon.cursor == {"since_id": max(arrived, key=int)}
