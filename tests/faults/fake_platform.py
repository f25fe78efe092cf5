"""A fake of the X API v2 and the Graph API (Facebook Pages, Instagram), as its own process.

    python -m tests.faults.fake_platform --port 8701 [--port 8702 ...] --log requests.jsonl \
        --facebook 2 --instagram 1 --x 1 --seed 7 --rate 30

It answers the endpoints our connectors call, in each platform's own format and paging, and
publishes new comments, visitor posts, mentions and replies over time (seeded, so a run can be
repeated), some of them threats, disclosures or abuse so that alerts result.

Each source starts publishing when it is first asked about, so every item it publishes was
published after the source was added: a daemon must store every one. Every platform request is
written to the log (when, which port it came in on, the client's port, which source it was for),
so a test can check that no source was polled by two daemons at once. Each daemon is given its
own port (a "door") for that.

Control endpoints, for the test that drives it (never a platform path):
- GET  /_fake/published: every item published so far, with its source and time;
- POST /_fake/freeze: publish nothing more, stop injecting faults; answers as /_fake/published;
- POST /_fake/faults?error_rate=&slow_rate=&slow_seconds=&same_second=: change the injected
  faults.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import random
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

# X ids are snowflakes: milliseconds since this epoch in the top bits.
SNOWFLAKE_EPOCH_MS = 1288834974657

ORDINARY = [
    "Lovely photos from sports day, well done everyone",
    "Thank you Mrs Ahmed for all your help this term",
    "my daughter loved the trip to the farm",
    "Great result for the under 11s at the weekend",
    "The harvest festival display looks amazing",
    "Well done to the choir, beautiful singing tonight",
]
QUESTIONS = [
    "what time does the christmas fair start on saturday?",
    "does anyone know if the uniform shop is open tomorrow",
    "can we still pay for dinners on the app?",
]
# Each of these should raise an urgent or high alert.
HARMFUL = [
    "I'll be waiting at the gates for that teacher, he'd better watch his back",
    "my friend says her stepdad hits her and she's scared to go home",
    "you are all useless c*nts",
    "I know where that teacher lives and I'm going to make him pay",
    "Ring me on 07700 900123 about the lost coat",
]


@dataclass(frozen=True)
class Account:
    """One account of the fake world and the source kinds a daemon polls on it."""

    platform: str
    account: str
    kinds: tuple[str, ...]
    handle: str = ""
    name: str = ""


def layout(facebook: int, instagram: int, x: int) -> list[Account]:
    """The accounts of a world of this size: the same ids on every run, so a config can be
    written for it without asking the fake."""
    accounts = [Account("facebook", f"10485739{n:05d}", ("comments", "visitor_posts"),
                        name=f"Page {n}") for n in range(1, facebook + 1)]
    accounts += [Account("instagram", f"178414{n:011d}", ("comments",), name=f"Insta {n}")
                 for n in range(1, instagram + 1)]
    accounts += [Account("x", f"{1_400_000_000 + n}", ("mentions", "replies"),
                         handle=f"oakfield{n}", name=f"X {n}") for n in range(1, x + 1)]
    return accounts


def source_name(platform: str, account: str, kind: str) -> str:
    return f"{platform}:{account}:{kind}"


@dataclass
class Published:
    """An item as the platform holds it; `body` is its JSON in the platform's format."""

    external_id: str
    source: str
    at: float  # Unix seconds, when it was published
    text: str
    body: dict[str, Any]
    container: str = ""  # the post or media it sits under
    history: bool = False  # there before the fake started, not published while it ran


@dataclass
class Event:
    offset: float  # seconds after the source was first asked about
    text: str
    reply: bool = False
    new_post: bool = False
    pinned: bool = False  # on the newest post, as a pile-on is


@dataclass
class SourceState:
    name: str
    account: Account
    kind: str
    events: list[Event]
    activated: float | None = None
    next_event: int = 0


def _graph_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _x_time(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parsed_x_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _uncursor(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


class World:
    """Everything the fake platforms hold, behind one lock."""

    def __init__(self, accounts: list[Account], *, seed: int, rate: float, duration: float,
                 harmful: float, bursts: bool, burst_at: tuple[float, ...] = (),
                 burst_size: int = 120) -> None:
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.frozen_at: float | None = None
        self.items: list[Published] = []
        self.by_id: dict[str, Published] = {}
        self.posts: dict[str, list[dict[str, Any]]] = {}  # account -> its posts/media
        self.post_owner: dict[str, str] = {}  # post or media id -> account
        self.comments: dict[str, list[Published]] = {}  # post or media id -> comments
        self.listings: dict[str, list[Published]] = {}  # source -> newest-first items
        self.handles = {a.handle.lower(): a for a in accounts if a.handle}
        self.sequence = 0
        self.starting = True
        self.sources: dict[str, SourceState] = {}
        started = time.time()
        for account in accounts:
            for kind in account.kinds:
                name = source_name(account.platform, account.account, kind)
                events = self._schedule(rate, duration, harmful, bursts)
                if account.platform == "facebook" and kind == "comments":
                    events = sorted(events + self._pile_on(burst_at, burst_size),
                                    key=lambda event: event.offset)
                self.sources[name] = SourceState(name, account, kind, events)
                self.listings[name] = []
            if account.platform in ("facebook", "instagram"):
                self.posts[account.account] = []
                for age in (86400.0, 7200.0):  # two recent posts, each with older comments
                    post = self._new_post(account, started - age)
                    for minutes in (50, 30, 10):
                        self._comment(account, post["id"], started - minutes * 60 - age / 100,
                                      self.rng.choice(ORDINARY + QUESTIONS), reply_to=None)
        self.starting = False

    def _schedule(self, rate: float, duration: float, harmful: float,
                  bursts: bool) -> list[Event]:
        """Items arrive at random (Poisson, `rate` per minute); now and then a burst of hostile
        comments piles onto one post within a minute, as on a viral post."""
        events: list[Event] = []
        at = 0.0
        while rate > 0:
            at += self.rng.expovariate(rate / 60.0)
            if at > duration:
                break
            pool = HARMFUL if self.rng.random() < harmful else ORDINARY + QUESTIONS
            events.append(Event(at, self.rng.choice(pool), reply=self.rng.random() < 0.2,
                                new_post=self.rng.random() < 0.05))
            if bursts and self.rng.random() < 0.01:
                for n in range(self.rng.randint(30, 80)):
                    text = HARMFUL[2] if n % 3 == 0 else self.rng.choice(ORDINARY)
                    events.append(Event(at + n * 0.5, text))
        events.sort(key=lambda event: event.offset)
        return events

    def _pile_on(self, starts: tuple[float, ...], size: int) -> list[Event]:
        """`size` comments on one post within about twenty seconds from each start: more than a
        poll's page budget when `size` is large."""
        return [Event(start + n * 20.0 / size, HARMFUL[2] if n % 4 == 0
                      else self.rng.choice(ORDINARY), pinned=True)
                for start in starts for n in range(size)]

    # --- publishing ------------------------------------------------------------------------

    def _next_id(self) -> int:
        self.sequence += 1
        return self.sequence

    def _new_post(self, account: Account, at: float) -> dict[str, Any]:
        number = self._next_id()
        if account.platform == "facebook":
            post = {"id": f"{account.account}_{number}", "message": f"School news {number}",
                    "created_time": _graph_time(at), "updated_time": _graph_time(at),
                    "permalink_url": f"https://www.facebook.com/{account.account}/posts/{number}",
                    "_at": at, "_updated": at}
        else:
            post = {"id": f"179{number:014d}", "caption": f"School photo {number}",
                    "timestamp": _graph_time(at), "comments_count": 0,
                    "permalink": f"https://www.instagram.com/p/FAKE{number}/", "_at": at}
        self.posts[account.account].insert(0, post)
        self.post_owner[post["id"]] = account.account
        self.comments[post["id"]] = []
        return post

    def _author(self) -> tuple[str, str]:
        n = self.rng.randrange(1, 400)
        return str(5_000_000 + n), f"Parent {n}"

    def _comment(self, account: Account, post_id: str, at: float, text: str,
                 reply_to: Published | None) -> Published:
        number = self._next_id()
        author_id, author = self._author()
        source = source_name(account.platform, account.account, "comments")
        if account.platform == "facebook":
            comment_id = f"{post_id.split('_')[1]}_{number}"
            body: dict[str, Any] = {
                "id": comment_id, "message": text, "created_time": _graph_time(at),
                "from": {"id": author_id, "name": author}, "is_hidden": False,
                "permalink_url": f"https://www.facebook.com/{post_id}?comment_id={number}"}
            if reply_to is not None:
                body["parent"] = {"id": reply_to.external_id}
        else:
            comment_id = f"180{number:014d}"
            body = {"id": comment_id, "text": text, "timestamp": _graph_time(at),
                    "username": f"parent{author_id[-3:]}",
                    "from": {"id": author_id, "username": f"parent{author_id[-3:]}"},
                    "hidden": False}
        item = Published(comment_id, source, at, text, body, container=post_id)
        self.comments[post_id].append(item)
        self._keep(item)
        post = next(p for p in self.posts[account.account] if p["id"] == post_id)
        if account.platform == "facebook":
            post["_updated"] = max(post["_updated"], at)
            post["updated_time"] = _graph_time(post["_updated"])
        else:
            post["comments_count"] += 1
        return item

    def _keep(self, item: Published) -> None:
        item.history = self.starting
        self.items.append(item)
        self.by_id[item.external_id] = item

    def _listed(self, state: SourceState, at: float, text: str, reply: bool) -> Published:
        account = state.account
        author_id, author = self._author()
        if account.platform == "facebook":  # a visitor post
            number = self._next_id()
            post_id = f"{account.account}_{number}"
            body = {"id": post_id, "message": text, "created_time": _graph_time(at),
                    "from": {"id": author_id, "name": author},
                    "permalink_url": f"https://www.facebook.com/{account.account}/posts/{number}"}
            item = Published(post_id, state.name, at, text, body)
        else:  # an X mention or reply
            snowflake = ((int(at * 1000) - SNOWFLAKE_EPOCH_MS) << 22) | (self._next_id() & 0x3FFFFF)
            tweet_id = str(snowflake)
            handle = f"parent{author_id[-3:]}"
            text = f"@{account.handle} {text}"
            conversation = str(((int(at * 1000) - 86_400_000 - SNOWFLAKE_EPOCH_MS) << 22) | 7)
            body = {"id": tweet_id, "text": text, "author_id": author_id,
                    "created_at": _x_time(at), "conversation_id": tweet_id,
                    "_user": {"id": author_id, "username": handle, "name": author}}
            if state.kind == "replies" or reply:
                body["conversation_id"] = conversation
                body["in_reply_to_user_id"] = account.account
                body["referenced_tweets"] = [{"type": "replied_to", "id": conversation}]
            item = Published(tweet_id, state.name, at, text, body)
        self.listings[state.name].insert(0, item)
        self._keep(item)
        return item

    def advance(self, now: float) -> None:
        """Publish every event that is due by `now` (caller holds the lock)."""
        limit = now if self.frozen_at is None else min(now, self.frozen_at)
        for state in self.sources.values():
            if state.activated is None:
                continue
            while state.next_event < len(state.events):
                event = state.events[state.next_event]
                at = state.activated + event.offset
                if at > limit:
                    break
                state.next_event += 1
                self._publish(state, event, at)

    def _publish(self, state: SourceState, event: Event, at: float) -> None:
        account = state.account
        if state.kind != "comments":
            self._listed(state, at, event.text, event.reply)
            return
        posts = self.posts[account.account]
        if event.new_post:
            self._new_post(account, at)
        pick = 0 if event.pinned else int(self.rng.random() ** 2 * 3)
        post = posts[min(len(posts) - 1, pick)]
        earlier = self.comments[post["id"]]
        reply_to = None
        if account.platform == "facebook" and event.reply and earlier:
            reply_to = self.rng.choice([c for c in earlier if "parent" not in c.body] or earlier)
        self._comment(account, post["id"], at, event.text, reply_to)

    def activate(self, source: str | None, now: float) -> None:
        state = self.sources.get(source or "")
        if state is not None and state.activated is None:
            state.activated = now

    def published(self) -> list[dict[str, Any]]:
        return [{"external_id": i.external_id, "source": i.source, "at": i.at, "text": i.text,
                 "history": i.history} for i in self.items]


# --- answering ----------------------------------------------------------------------------------

Answer = tuple[int, dict[str, Any]]


def _graph_error(status: int, code: int, message: str, transient: bool = False) -> Answer:
    return status, {"error": {"message": message, "type": "OAuthException", "code": code,
                              "is_transient": transient, "fbtrace_id": "FAKEtrace"}}


def _public(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if not key.startswith("_")}


def _graph_listing(objects: list[dict[str, Any]], query: dict[str, str], path: str) -> Answer:
    """One page of a Graph listing, with Graph's cursor paging: `after` names the last object
    handed out, so a page is stable while new objects arrive."""
    limit = max(1, min(100, int(query.get("limit") or 25)))
    start = 0
    after = _uncursor(query.get("after", ""))
    if after:
        ids = [str(o.get("id")) for o in objects]
        start = ids.index(after) + 1 if after in ids else len(objects)
    chunk = objects[start:start + limit]
    body: dict[str, Any] = {"data": [_public(o) for o in chunk]}
    if chunk:
        body["paging"] = {"cursors": {"before": _cursor(str(chunk[0]["id"])),
                                      "after": _cursor(str(chunk[-1]["id"]))}}
        if start + limit < len(objects):
            following = {k: v for k, v in query.items()
                         if k not in ("access_token", "appsecret_proof", "after")}
            following["after"] = body["paging"]["cursors"]["after"]
            body["paging"]["next"] = f"https://graph.facebook.com{path}?{urlencode(following)}"
    return 200, body


def _window(at: float, query: dict[str, str]) -> bool:
    since, until = query.get("since"), query.get("until")
    if since and re.fullmatch(r"\d+", since) and at < int(since):
        return False
    return not (until and re.fullmatch(r"\d+", until) and at > int(until))


class Platform:
    """Routes a request to the Graph or X answer, and says which source it was for."""

    def __init__(self, world: World) -> None:
        self.world = world

    def source_of(self, path: str, query: dict[str, str]) -> str | None:
        world = self.world
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["2"]:
            if len(parts) == 4 and parts[1] == "users" and parts[3] == "mentions":
                return source_name("x", parts[2], "mentions")
            if parts[1:] == ["tweets", "search", "recent"]:
                match = re.search(r"to:(\w+)", query.get("query", ""))
                account = world.handles.get(match.group(1).lower()) if match else None
                return source_name("x", account.account, "replies") if account else None
            return None
        if parts and re.fullmatch(r"v\d+\.\d+", parts[0]):
            parts = parts[1:]
        if len(parts) != 2:
            return None
        node, edge = parts
        owner = world.post_owner.get(node)
        if edge == "comments" and owner is not None:
            platform = "facebook" if "_" in node else "instagram"
            return source_name(platform, owner, "comments")
        if edge in ("feed", "media"):
            return source_name("facebook" if edge == "feed" else "instagram", node, "comments")
        if edge == "visitor_posts":
            return source_name("facebook", node, "visitor_posts")
        return None

    def answer(self, method: str, path: str, query: dict[str, str],
               headers: dict[str, str]) -> Answer:
        world = self.world
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["2"]:
            if not headers.get("authorization"):
                return 401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                             "detail": "Unauthorized"}
            return self._x(parts, query)
        if parts and re.fullmatch(r"v\d+\.\d+", parts[0]):
            parts = parts[1:]
        if not query.get("access_token"):
            return _graph_error(400, 190, "An active access token must be used")
        if parts == ["me"]:
            account = next(iter(world.posts), "0")
            return 200, {"id": account, "name": "Oakfield Primary School"}
        if len(parts) == 2:
            return self._graph_edge(parts[0], parts[1], query, path)
        return _graph_error(400, 100, f"Unsupported get request: {path}")

    def _graph_edge(self, node: str, edge: str, query: dict[str, str], path: str) -> Answer:
        world = self.world
        if edge in ("feed", "media") and node in world.posts:
            posts = [p for p in world.posts[node] if _window(p["_at"], query)]
            return _graph_listing(posts, query, path)
        if edge == "comments" and node in world.comments:
            comments = world.comments[node]
            if query.get("filter") == "toplevel":
                comments = [c for c in comments if "parent" not in c.body]
            comments = [c for c in comments if _window(c.at, query)]
            if "_" in node:  # Facebook: oldest first unless asked otherwise
                ordered = sorted(comments, key=lambda c: (c.at, c.external_id),
                                 reverse=query.get("order") == "reverse_chronological")
            else:  # Instagram lists comments newest first
                ordered = sorted(comments, key=lambda c: (c.at, c.external_id), reverse=True)
            return _graph_listing([c.body for c in ordered], query, path)
        if edge == "visitor_posts" and node in world.posts:
            listed = world.listings[source_name("facebook", node, "visitor_posts")]
            return _graph_listing([i.body for i in listed if _window(i.at, query)], query, path)
        if edge in ("tagged", "ratings", "tags", "replies"):
            return 200, {"data": []}
        return _graph_error(400, 100, f"Unsupported get request: /{node}/{edge}")

    def _x(self, parts: list[str], query: dict[str, str]) -> Answer:
        world = self.world
        if parts[1:3] == ["users", "me"] or (len(parts) == 3 and parts[1] == "users"):
            account = next((a for a in world.handles.values()
                            if len(parts) == 2 or a.account == parts[2]), None)
            if account is None:
                return 404, {"title": "Not Found Error", "detail": "no such user"}
            return 200, {"data": {"id": account.account, "username": account.handle,
                                  "name": account.name}}
        source = self.source_of("/" + "/".join(parts), query)
        if source is None or source not in world.listings:
            return 400, {"title": "Invalid Request", "detail": "unknown query", "status": 400}
        listed = world.listings[source]  # newest first
        since_id = int(query.get("since_id") or 0)
        token = query.get("pagination_token") or query.get("next_token") or ""
        below = int(token[1:]) if token[:1] == "p" and token[1:].isdigit() else None
        until_id = int(query.get("until_id") or 0) or None
        # As X does: since_id wins over start_time; both bounds are exclusive of the id given.
        start = None if since_id else query.get("start_time")
        size = max(5, min(100, int(query.get("max_results") or 10)))
        chosen = [i for i in listed if int(i.external_id) > since_id
                  and (below is None or int(i.external_id) < below)
                  and (until_id is None or int(i.external_id) < until_id)
                  and (start is None or _parsed_x_time(i.body["created_at"])
                       >= _parsed_x_time(start))]
        page = chosen[:size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if not page:
            return 200, {"meta": meta}
        meta.update(newest_id=page[0].external_id, oldest_id=page[-1].external_id)
        if len(chosen) > size:
            meta["next_token"] = f"p{page[-1].external_id}"
        users = {i.body["_user"]["id"]: i.body["_user"] for i in page}
        return 200, {"data": [_public(i.body) for i in page],
                     "includes": {"users": list(users.values())}, "meta": meta}


# --- the server ---------------------------------------------------------------------------------

@dataclass
class Faults:
    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    # Comment pairs to publish within one wall-clock second of a Facebook poll: one just
    # before its feed is read, one just after the post's comments are read. Graph's
    # updated_time counts whole seconds, so the post looks unchanged since that read.
    same_second: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    pending: dict[str, float] = field(default_factory=dict)  # post id -> its second


class Server:
    def __init__(self, world: World, faults: Faults, log_path: str) -> None:
        self.world = world
        self.platform = Platform(world)
        self.faults = faults
        self.log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (lives as long)
        self.log_lock = threading.Lock()
        self.servers: list[ThreadingHTTPServer] = []

    def log(self, entry: dict[str, Any]) -> None:
        with self.log_lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()

    def control(self, method: str, path: str, query: dict[str, str]) -> Answer:
        world = self.world
        with world.lock:
            if path == "/_fake/freeze" and method == "POST":
                world.advance(time.time())
                world.frozen_at = time.time()
                self.faults.error_rate = self.faults.slow_rate = 0.0
                self.faults.same_second = 0
                self.faults.pending.clear()
            elif path == "/_fake/faults" and method == "POST":
                for name in ("error_rate", "slow_rate", "slow_seconds"):
                    if name in query:
                        setattr(self.faults, name, float(query[name]))
                if "same_second" in query:
                    self.faults.same_second = int(query["same_second"])
                return 200, {"ok": True}
            elif path != "/_fake/published":
                return 404, {"error": "no such control"}
            world.advance(time.time())
            return 200, {"items": world.published(), "frozen": world.frozen_at is not None}

    def handle(self, method: str, path: str, query: dict[str, str],
               headers: dict[str, str]) -> Answer:
        if path.startswith("/_fake/"):
            return self.control(method, path, query)
        faults = self.faults
        with self.world.lock:
            source = self.platform.source_of(path, query)
            self.world.activate(source, time.time())
            self.world.advance(time.time())
            roll, slow = faults.rng.random(), faults.rng.random()
        if slow < faults.slow_rate:
            time.sleep(faults.slow_seconds)
        if roll < faults.error_rate:
            if path.startswith("/2/"):
                return 503, {"title": "Service Unavailable", "status": 503,
                             "detail": "Service Unavailable"}
            return _graph_error(500, 2, "Service temporarily unavailable", transient=True)
        with self.world.lock:
            self._before_answer(path)
            answer = self.platform.answer(method, path, query, headers)
            self._after_answer(path)
            return answer

    def _before_answer(self, path: str) -> None:
        """For `same_second`: a comment on the page's newest post just before its feed is read,
        early enough in the second for the rest of the poll to fit in it (caller holds the
        lock)."""
        parts = [p for p in path.split("/") if p][-2:]
        world, faults, now = self.world, self.faults, time.time()
        if (faults.same_second <= 0 or len(parts) != 2 or parts[1] != "feed"
                or parts[0] not in world.posts or now % 1.0 > 0.5):
            return
        account = next(s.account for s in world.sources.values()
                       if s.account.account == parts[0])
        post = world.posts[parts[0]][0]
        world._comment(account, post["id"], now, world.rng.choice(ORDINARY), reply_to=None)
        faults.pending[post["id"]] = math.floor(now)

    def _after_answer(self, path: str) -> None:
        """For `same_second`: once that post's comments have been answered, another comment
        in the same second (caller holds the lock)."""
        parts = [p for p in path.split("/") if p][-2:]
        world, faults, now = self.world, self.faults, time.time()
        if len(parts) != 2 or parts[1] != "comments" or parts[0] not in faults.pending:
            return
        second = faults.pending.pop(parts[0])
        if math.floor(now + 0.01) != second:
            return  # the second is over: try again on a later poll
        owner = world.post_owner[parts[0]]
        account = next(s.account for s in world.sources.values()
                       if s.account.account == owner)
        world._comment(account, parts[0], now + 0.005, world.rng.choice(ORDINARY),
                       reply_to=None)
        faults.same_second -= 1

    def serve(self, ports: list[int]) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the platforms do

            def respond(self) -> None:
                started = time.time()
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = self.rfile.read(length).decode() if length else ""
                query = dict(parse_qsl(parts.query))
                query.update(parse_qsl(form))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    status, body = owner.handle(self.command, parts.path, query, headers)
                except Exception as exc:  # a bug in the fake must show, not hang the client
                    status, body = 500, {"error": {"message": f"fake failed: {exc!r}",
                                                   "code": 1}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if not parts.path.startswith("/_fake/"):
                    owner.log({
                        "t0": started, "t1": time.time(), "door": self.server.server_address[1],
                        "peer": self.client_address[1], "method": self.command,
                        "path": parts.path, "status": status,
                        "source": owner.platform.source_of(parts.path, query),
                        # What a poll asked for; never the token.
                        "params": {k: v for k, v in query.items() if k in (
                            "since", "after", "limit", "order", "since_id", "max_results",
                            "pagination_token", "next_token", "start_time", "until_id")},
                        "count": len(body.get("data") or []) if isinstance(body, dict) else 0,
                    })

            do_GET = do_POST = do_DELETE = respond

            def log_message(self, *args: Any) -> None:
                pass

        for port in ports:
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            server.daemon_threads = True
            self.servers.append(server)
            threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A fake of the X and Graph APIs.")
    parser.add_argument("--port", type=int, action="append", required=True,
                        help="a port to listen on, on 127.0.0.1 (repeat: one per daemon)")
    parser.add_argument("--log", required=True, help="where to append the request log (JSONL)")
    parser.add_argument("--facebook", type=int, default=1, help="Facebook Pages")
    parser.add_argument("--instagram", type=int, default=1, help="Instagram accounts")
    parser.add_argument("--x", type=int, default=1, help="X accounts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=6.0,
                        help="new items per source per minute, on average")
    parser.add_argument("--harmful", type=float, default=0.2,
                        help="the share of new items that are threats, disclosures or abuse")
    parser.add_argument("--duration", type=float, default=600.0,
                        help="seconds of traffic per source, from its first request")
    parser.add_argument("--bursts", action="store_true",
                        help="now and then, dozens of comments on one post within a minute")
    parser.add_argument("--burst-at", type=float, action="append", default=[],
                        help="seconds after its first request when each Facebook comments "
                             "source gets a pile-on of --burst-size comments on one post")
    parser.add_argument("--burst-size", type=int, default=120)
    parser.add_argument("--error-rate", type=float, default=0.0,
                        help="share of requests answered with a 5xx")
    parser.add_argument("--slow-rate", type=float, default=0.0,
                        help="share of requests held back --slow-seconds")
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=3600.0,
                        help="exit after this long whatever happens")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    world = World(layout(args.facebook, args.instagram, args.x), seed=args.seed,
                  rate=args.rate, duration=args.duration, harmful=args.harmful,
                  bursts=args.bursts, burst_at=tuple(args.burst_at),
                  burst_size=args.burst_size)
    faults = Faults(error_rate=args.error_rate, slow_rate=args.slow_rate,
                    slow_seconds=args.slow_seconds, rng=random.Random(args.seed + 1))
    server = Server(world, faults, args.log)
    server.serve(args.port)
    print(f"ready on {', '.join(map(str, args.port))}", flush=True)
    deadline = time.monotonic() + args.max_seconds
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    sys.exit(0)


def iter_log(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


if __name__ == "__main__":
    main()
