"""A trust of two schools for the console tests: a real SQLite database with staff of every role,
incidents of every kind of harm with their items and verdicts, and Oakfield's Facebook Page
pointed at a local fake of the Graph API that records what it is asked to do.

`console` serves the console from that database on a free local port, as `hallmonitor web`
would, for a browser or a plain HTTP client."""

from __future__ import annotations

import functools
import json
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor import models, sources
from monitor.config import Config, load
from monitor.daemon import open_database
from tests.conftest import free_port
from tests.http_server import LocalServer, json_answer

PAGE_ID = "104857392011"
GRAPH_VERSION = "v21.0"
PASSWORD = "plum-orchard-lantern-42"
NOW = datetime.now(UTC).replace(microsecond=0)

# name -> (email, full name, role, school); "admin" is the trust's, with no school.
STAFF: dict[str, tuple[str, str, str, str | None]] = {
    "admin": ("admin@trust.example", "Alex Moreno", "admin", None),
    "dsl": ("dsl@oakfield.example", "Dana Lewis", "dsl", "oakfield"),
    "head": ("head@oakfield.example", "Hari Patel", "head", "oakfield"),
    "champion": ("champion@oakfield.example", "Chris Owen", "digital_champion", "oakfield"),
    "it": ("it@oakfield.example", "Ivy Tran", "it", "oakfield"),
    "riverside_dsl": ("dsl@riverside.example", "Rosa Diaz", "dsl", "riverside"),
}

# Shown on pages, so it must come out as text, never as markup.
HOSTILE_MARKUP = '<img src=x onerror="document.title=\'owned\'"><b>useless</b> lot'


@dataclass(frozen=True)
class Comment:
    external_id: str
    text: str
    author: str
    minutes_ago: int


@dataclass(frozen=True)
class Case:
    """An incident as the pipeline would have left it: its harm, severity and items."""

    school: str
    harm: str
    severity: str
    categories: tuple[str, ...]
    comments: tuple[Comment, ...]
    reasons: dict[str, list[str]]


CASES: dict[str, Case] = {
    "disclosure": Case("oakfield", "safeguarding", "urgent", ("safeguarding",), (
        Comment("822001_9001", "my friend says her stepdad hits her and she's scared to go home",
                "Parent 2", 50),), {"safeguarding": ["scared to go home", "hits her"]}),
    "threat": Case("oakfield", "threat", "urgent", ("threat",), (
        Comment("822001_9002", "I'll be waiting at the gates for that teacher, he'd better "
                "watch his back", "Parent 3", 40),), {"threat": ["watch his back"]}),
    "pile_on": Case("oakfield", "hostility", "high", ("abusive",), (
        Comment("822001_9003", "you are all useless, the whole staff", "Priya Shah", 30),
        Comment("822001_9004", HOSTILE_MARKUP, "Parent 5", 20)),
        {"abusive": ["useless"]}),
    "riverside": Case("riverside", "hostility", "high", ("abusive",), (
        Comment("733001_7001", "Riverside teachers are clueless idiots", "Parent 9", 10),),
        {"abusive": ["clueless idiots"]}),
}


@dataclass
class FakeGraph:
    """The Graph API's moderation endpoints on a local server: hides are answered
    `{"success": true}` and kept."""

    server: LocalServer
    hidden: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for case in CASES.values():
            for comment in case.comments:
                self.server.route("POST", f"/{GRAPH_VERSION}/{comment.external_id}",
                                  self._answer(comment.external_id))
                self.server.route("DELETE", f"/{GRAPH_VERSION}/{comment.external_id}",
                                  json_answer({"success": True}))

    def _answer(self, external_id: str):
        def answer(request):
            if request.form().get("is_hidden") == "true":
                self.hidden.append(external_id)
            return json_answer({"success": True})
        return answer


@dataclass
class World:
    root: Path
    config: Config
    sessions: sessionmaker[Session]
    graph: FakeGraph
    incidents: dict[str, int]
    items: dict[str, int]
    users: dict[str, int]

    def email(self, who: str) -> str:
        return STAFF[who][0]

    def name(self, who: str) -> str:
        return STAFF[who][1]

    def incident(self, name: str) -> models.Incident:
        with self.sessions() as session:
            return session.get(models.Incident, self.incidents[name])

    def actions(self, **where) -> list[models.Action]:
        with self.sessions() as session:
            query = session.query(models.Action).filter_by(**where).order_by(models.Action.id)
            return list(query)

    def feedback(self, item: str) -> list[models.Feedback]:
        with self.sessions() as session:
            return list(session.query(models.Feedback).filter_by(item_id=self.items[item]))


def write_config(root: Path, graph_url: str, port: int) -> Path:
    (root / "page-token").write_text("EAAGfakepagetoken", encoding="utf-8")
    (root / "replay").mkdir(exist_ok=True)
    text = textwrap.dedent(f"""\
        [daemon]
        data_dir = "data"

        [web]
        enabled = true
        host = "127.0.0.1"
        port = {port}

        [[schools]]
        id = "oakfield"
        name = "Oakfield Primary School"
        timezone = "Europe/London"

        [[schools.accounts]]
        platform = "facebook"
        account = "{PAGE_ID}"
        kinds = ["comments", "visitor_posts"]
        settings = {{ base_url = "{graph_url}", api_version = "{GRAPH_VERSION}" }}
        credentials = {{ page_access_token = "file:{root / 'page-token'}" }}

        [[schools.recipients]]
        role = "dsl"
        urls = ["console://"]

        [[schools]]
        id = "riverside"
        name = "Riverside Academy"

        [[schools.accounts]]
        platform = "replay"
        account = "733001"
        kinds = ["comments"]
        settings = {{ path = "replay", as_platform = "facebook" }}

        [[schools.recipients]]
        role = "dsl"
        urls = ["console://"]
        """)
    path = root / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@functools.cache
def password_hash(password: str) -> str:
    """argon2 is slow on purpose (about a second here): hashed once per run, not per test."""
    from monitor import users

    return users.hash_password(password)


def add_staff(session: Session) -> dict[str, int]:
    ids = {}
    hashed = password_hash(PASSWORD)
    for name, (email, full_name, role, school) in STAFF.items():
        user = models.StaffUser(email=email, name=full_name, role=role, school_id=school,
                                password_hash=hashed)
        session.add(user)
        session.flush()
        ids[name] = user.id
    return ids


def add_case(session: Session, source: models.Source, name: str, case: Case,
             items: dict[str, int]) -> int:
    rows = []
    for number, comment in enumerate(case.comments):
        at = NOW - timedelta(minutes=comment.minutes_ago)
        post = comment.external_id.split("_")[0]
        row = models.Item(
            platform="facebook", external_id=comment.external_id, source_id=source.id,
            school_id=case.school, kind="comment", author_id=str(5550100 + len(items)),
            author_name=comment.author, text=comment.text, created_at=at, fetched_at=at,
            permalink=f"https://www.facebook.com/{PAGE_ID}/posts/{post}?comment_id="
                      f"{comment.external_id}",
            parent_id=f"{PAGE_ID}_{post}", conversation_id=f"{PAGE_ID}_{post}")
        session.add(row)
        session.flush()
        session.add(models.Verdict(
            item_id=row.id, model_version="test", scores={c: 0.93 for c in case.categories},
            categories=list(case.categories), reasons=case.reasons, severity=case.severity,
            created_at=at))
        items[name if len(case.comments) == 1 else f"{name}_{number}"] = row.id
        rows.append(row)
    incident = models.Incident(
        school_id=case.school, key=f"{case.harm}:{rows[0].conversation_id}", status="open",
        severity=case.severity, categories=list(case.categories), item_count=len(rows),
        opened_at=rows[0].created_at, last_item_at=rows[-1].created_at, harm=case.harm)
    session.add(incident)
    session.flush()
    for row in rows:
        session.add(models.IncidentItem(incident_id=incident.id, item_id=row.id))
    return incident.id


def set_source_health(session: Session) -> None:
    """Oakfield's comments polled a few minutes ago; its visitor posts paused by a refused token
    (what the sources page is for)."""
    for source in session.query(models.Source).filter_by(school_id="oakfield"):
        source.last_attempt_at = source.last_success_at = NOW - timedelta(minutes=4)
        session.add(models.PollRun(source_id=source.id, started_at=NOW - timedelta(minutes=4),
                                   finished_at=NOW - timedelta(minutes=4), pages=1,
                                   new_items=3, reads=1))
        if source.kind == "visitor_posts":
            source.last_success_at = NOW - timedelta(days=2)
            source.paused_reason = ("Facebook refused the Page access token: it has expired "
                                    "(error 190)")
            source.paused_at = NOW - timedelta(days=1)
            source.last_error = source.paused_reason


def build_world(root: Path, graph: FakeGraph, port: int | None = None) -> World:
    config = load(write_config(root, graph.server.url, port or free_port()))
    _engine, sessions = open_database(config)
    incidents: dict[str, int] = {}
    items: dict[str, int] = {}
    with sessions.begin() as session:
        sources.sync(session, config)
        by_school = {s.school_id: s for s in session.query(models.Source)
                     if s.kind == "comments"}
        set_source_health(session)
        for name, case in CASES.items():
            incidents[name] = add_case(session, by_school[case.school], name, case, items)
        users = add_staff(session)
    return World(root, config, sessions, graph, incidents, items, users)


@pytest.fixture
def world(tmp_path: Path, local_server: Callable[..., LocalServer]) -> World:
    return build_world(tmp_path, FakeGraph(local_server()))


@pytest.fixture
def console(world: World) -> Iterator[str]:
    """The console serving `world` on 127.0.0.1; its base URL."""
    from monitor.web.serve import start

    handle = start(world.config, world.sessions)
    try:
        yield f"http://127.0.0.1:{world.config.web.port}"
    finally:
        handle.stop()


def dump(value) -> str:  # for failure messages that show what a page held
    return json.dumps(value, indent=1, default=str)
