"""The X connector's follower pages: the real tweepy client against a real local server answering
with recordings in X API v2's exact format (tweepy's own in ../shared where present, ours in
tests/fixtures/x/followers), and `FakeFollowers`, a local X that keeps a follower list and pages
through it as X does (newest first, page tokens, max_results, only the user fields asked for).
Facebook Pages and Instagram refuse, saying why."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import AuthError, ConfigError, RetryableError, SourceSpec
from connectors.facebook import FacebookConnector
from connectors.instagram import InstagramConnector
from connectors.x import FOLLOWER_FIELDS, XConnector
from tests.conftest import SHARED_DIR, needs_shared
from tests.connectors.test_x import BEARER, SCHOOL_ID, recording
from tests.http_server import Answer, LocalServer, Request, answer, json_answer

RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "x" / "followers"
CASSETTE = (SHARED_DIR / "fixtures" / "recorded" / "tweepy" / "decoded"
            / "test_client_get_users_followers__0.json")
needs_cassette = needs_shared(CASSETTE, "tweepy's recorded follower page is")
FOLLOWERS = f"/2/users/{SCHOOL_ID}/followers"
LOOKUP = f"/2/users/{SCHOOL_ID}"


def followers_recording(name: str) -> dict:
    return json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))


def x_user(number: int, handle: str | None = None, *, name: str | None = None,
           bio: str = "", created: str = "2020-01-01T00:00:00.000Z", posts: int = 10,
           following: int = 100, default_image: bool = False) -> dict:
    """A follower as X API v2 describes one, with every field a follower sync asks for."""
    user_id = str(1_700_000_000_000_000_000 + number)
    image = ("https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
             if default_image else f"https://pbs.twimg.com/profile_images/{number}/p_normal.jpg")
    return {"id": user_id, "name": name or f"Follower {number}",
            "username": handle or f"follower_{number}", "created_at": created,
            "description": bio, "profile_image_url": image,
            "public_metrics": {"followers_count": 5, "following_count": following,
                               "tweet_count": posts, "listed_count": 0, "like_count": 0}}


@dataclass
class FakeFollowers:
    """A local X holding one account's followers, newest first, served over HTTP like X API v2:
    GET /2/users/:id/followers (max_results, pagination_token, user.fields honoured) and
    GET /2/users/:id (public_metrics.followers_count)."""

    account: str = SCHOOL_ID
    followers: list[dict] = field(default_factory=list)  # newest first
    asked: list[dict[str, str]] = field(default_factory=list)
    lookups: int = 0
    # Follower pages X answers before its rate limit (15 per 15 minutes) answers 429.
    pages_allowed: int | None = None
    url: str = ""
    _position: dict[str, int] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)  # token -> id of the last one given

    def serve(self, server: LocalServer) -> FakeFollowers:
        server.route("GET", f"/2/users/{self.account}/followers", self.page)
        server.route("GET", f"/2/users/{self.account}", self.lookup)
        self.url = server.url
        return self

    def follow(self, *users: dict) -> None:
        """New followers, the last given the newest (X lists by when they followed)."""
        ids = {user["id"] for user in users}
        self.followers = [*reversed(users), *(f for f in self.followers if f["id"] not in ids)]
        self._position = {}

    def unfollow(self, user_id: str) -> None:
        self.followers = [f for f in self.followers if f["id"] != user_id]
        self._position = {}

    def rename(self, user_id: str, handle: str) -> None:
        for follower in self.followers:
            if follower["id"] == user_id:
                follower["username"] = handle

    def page(self, request: Request) -> Answer:
        query = request.query
        self.asked.append(query)
        if self.pages_allowed is not None and len(self.asked) > self.pages_allowed:
            return json_answer({"title": "Too Many Requests", "detail": "Too Many Requests",
                                "type": "about:blank", "status": 429}, status=429, headers={
                "x-rate-limit-limit": "15", "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(time.time()) + 900)})
        if not self._position:
            self._position = {f["id"]: n for n, f in enumerate(self.followers)}
        size = int(query.get("max_results", "100"))
        if not 1 <= size <= 1000:
            return json_answer({"title": "Invalid Request", "type":
                                "https://api.twitter.com/2/problems/invalid-request",
                                "detail": "max_results must be 1 to 1000"}, status=400)
        start = 0
        if token := query.get("pagination_token"):
            start = self._position.get(self._tokens[token], -1) + 1
        wanted = {"id", "name", "username",
                  *(query.get("user.fields", "").split(",") if query.get("user.fields") else ())}
        chunk = self.followers[start:start + size]
        meta: dict = {"result_count": len(chunk)}
        if start + size < len(self.followers) and chunk:
            token = f"{len(self._tokens) + 1:04d}VH1DB1HEZZZ"
            self._tokens[token] = chunk[-1]["id"]
            meta["next_token"] = token
        if start:
            meta["previous_token"] = "77QP8FL0BO0H6ZZZ"
        if not chunk:
            return json_answer({"meta": meta})
        return json_answer({"data": [{k: v for k, v in f.items() if k in wanted} for f in chunk],
                            "meta": meta})

    def lookup(self, request: Request) -> Answer:
        self.lookups += 1
        return json_answer({"data": {"id": self.account, "name": "Oakfield Primary School",
                                     "username": "OakfieldPrimary", "public_metrics": {
                                         "followers_count": len(self.followers),
                                         "following_count": 120, "tweet_count": 2310,
                                         "listed_count": 14, "like_count": 860}}})


def x(url: str) -> XConnector:
    return XConnector({"account": SCHOOL_ID, "handle": "OakfieldPrimary", "base_url": url},
                      BEARER)


def spec(account: str = SCHOOL_ID) -> SourceSpec:
    return SourceSpec(9, "x", "followers", account, {})


# --- recordings ---------------------------------------------------------------------------

def recorded_pages(request: Request) -> Answer:
    name = "page_2" if request.query.get("pagination_token") == "N3VJ9VH1DB1HEZZZ" else "page_1"
    return answer(followers_recording(name))


def test_a_page_of_followers_comes_normalised_with_what_screening_needs(local_server):
    server = local_server(routes={("GET", FOLLOWERS): recorded_pages})
    page = x(server.url).fetch_followers(spec())
    (asked,) = server.requests
    assert asked.query["max_results"] == "1000" and "pagination_token" not in asked.query
    assert asked.query["user.fields"].split(",") == FOLLOWER_FIELDS
    assert asked.headers["Authorization"] == "Bearer AAAA-test-bearer"
    newest, sarah, _ = page.followers
    assert (newest.handle, newest.posts, newest.default_image, newest.bio) == (
        "user8812734501", 0, True, "")
    assert newest.created_at == datetime(2026, 11, 29, 22, 15, 31, tzinfo=UTC)
    assert (sarah.id, sarah.handle, sarah.name) == ("1861234567890123401", "sarah_r_parent",
                                                    "Sarah R")
    assert (sarah.bio, sarah.following, sarah.default_image) == (
        "Mum of two, Oakfield PTA. Runner.", 311, False)
    assert page.next_token == "N3VJ9VH1DB1HEZZZ"
    assert page.reads == 3 and page.charged == tuple(f"user:{f.id}" for f in page.followers)


def test_the_next_page_is_read_with_the_page_token_and_the_last_has_none(local_server):
    server = local_server(routes={("GET", FOLLOWERS): recorded_pages})
    connector = x(server.url)
    last = connector.fetch_followers(spec(), page_token="N3VJ9VH1DB1HEZZZ")
    assert server.requests[0].query["pagination_token"] == "N3VJ9VH1DB1HEZZZ"
    assert [f.handle for f in last.followers] == ["LeedsLibraries", "grandad_pete"]
    assert last.next_token is None


def test_a_smaller_first_page_is_asked_for_when_few_new_followers_are_expected(local_server):
    server = local_server(routes={("GET", FOLLOWERS): answer(followers_recording("empty"))})
    page = x(server.url).fetch_followers(spec(), size=40)
    assert server.requests[0].query["max_results"] == "40"
    assert page.followers == [] and page.next_token is None and page.reads == 0


def test_the_follower_count_comes_from_the_user_lookup(local_server):
    server = local_server(routes={("GET", LOOKUP): answer(
        followers_recording("school_public_metrics"))})
    assert x(server.url).follower_count(spec()) == 5
    assert server.requests[0].query["user.fields"] == "public_metrics"


@needs_cassette
def test_tweepys_recorded_follower_page_reads(local_server):
    cassette = json.loads(CASSETTE.read_text(encoding="utf-8"))
    server = local_server(routes={("GET", "/2/users/783214/followers"): answer(cassette)})
    page = x(server.url).fetch_followers(spec("783214"))
    recorded = cassette["body"]["data"]
    assert [f.id for f in page.followers] == [u["id"] for u in recorded]
    assert [f.handle for f in page.followers] == [u["username"] for u in recorded]
    assert page.followers[0].name == "Za’mari"
    # The recording has no user fields: what X did not say stays unknown, not zero.
    assert page.followers[0].posts is None and page.followers[0].default_image is None
    assert page.next_token == cassette["body"]["meta"]["next_token"]
    assert page.reads == len(recorded)


@pytest.mark.parametrize(("name", "error"), [("error_401_unauthorized", AuthError),
                                             ("error_429_too_many_requests", RetryableError)])
def test_x_refusing_a_follower_page_is_a_typed_error(local_server, name, error):
    server = local_server(routes={("GET", FOLLOWERS): answer(recording(name))})
    with pytest.raises(error):
        x(server.url).fetch_followers(spec())


def test_no_credentials_is_refused_before_anything_is_sent(local_server):
    server = local_server(routes={})
    connector = XConnector({"account": SCHOOL_ID, "base_url": server.url}, {})
    with pytest.raises(ConfigError, match="no X credentials to read followers"):
        connector.fetch_followers(spec())
    assert server.requests == []


# --- the fake against the real client ------------------------------------------------------

def test_the_fake_pages_newest_first_with_tokens(local_server):
    fake = FakeFollowers().serve(local_server())
    fake.follow(*(x_user(n) for n in range(5)))
    connector = x(fake.url)
    first = connector.fetch_followers(spec(), size=2)
    second = connector.fetch_followers(spec(), page_token=first.next_token, size=2)
    third = connector.fetch_followers(spec(), page_token=second.next_token, size=2)
    handles = [f.handle for page in (first, second, third) for f in page.followers]
    assert handles == [f"follower_{n}" for n in (4, 3, 2, 1, 0)]
    assert third.next_token is None


# --- platforms that do not give followers ----------------------------------------------------

@pytest.mark.parametrize(("cls", "title"), [(FacebookConnector, "Facebook"),
                                            (InstagramConnector, "Instagram")])
def test_facebook_and_instagram_say_plainly_they_cannot_list_followers(cls, title):
    assert "followers" not in cls.kinds
    refusal = cls.followers_refusal
    assert refusal.startswith(f"{title} does not give apps the list of an account's followers")
    assert "comment on or tag" in refusal
    connector = cls.__new__(cls)  # no settings needed to be refused
    connector.settings, connector.secrets = {}, {}
    with pytest.raises(ConfigError, match=f"^{title} does not give apps"):
        connector.fetch_followers(spec())


def test_x_lists_followers():
    assert XConnector.followers_refusal is None and "followers" in XConnector.kinds
