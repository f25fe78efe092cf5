"""A fixed database for the weekly digest: Oakfield's week of Monday 16 November 2026 and the
four weeks before it, written row by row so that every count the digest gives is known.

The week (UTC here, to keep the arithmetic plain; the school's own week boundaries are computed
elsewhere):
- Facebook: 6 praise comments about the nativity play (naming a pupil, a teacher, a parent and
  the school), 4 complaints about the lunch menu, 3 questions (one answered by the school's
  Page in its thread, one answered only by another parent, one asked too recently to judge),
  1 media enquiry (the school replied and recorded it), 1 threat, 2 safeguarding comments,
  1 abusive one, and 2 with no category (another parent's answer, and one whose text retention
  has removed): 20 comments, plus the Page's own 2 replies, which are not counted.
- X: 3 praise posts as in every week, 2 questions (one answered by the school's handle), and the
  school's own reply: 5 counted.
- Incidents: a threat (acknowledged after 12 minutes, reported to the police), a safeguarding
  concern nobody has acknowledged (by the threat's author too), an abusive comment (hidden);
  from before: a hostility incident still acknowledged but not resolved, a safeguarding concern
  still unacknowledged, and two resolved ones that the digest leaves out.
- Sources: the Facebook Page failed 2 of its 3 polls, Instagram was paused for an expired token,
  X read 200 paid posts over two days.

Each earlier week: Facebook 10 (4 praise, 2 complaints about the car park, 2 questions, 2 with
no category), X 5 praise; and the earlier incidents' items (abusive 3 weeks back, abusive and two
safeguarding 2 weeks back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from monitor import models
from monitor.config import Config, load
from monitor.daemon import open_database
from tests.builders import PAGE_ID, write_config

SCHOOL = "oakfield"
START = datetime(2026, 11, 16, tzinfo=UTC)
END = START + timedelta(days=7)
EARLIER = [(START - timedelta(days=7 * n), END - timedelta(days=7 * n)) for n in (1, 2, 3, 4)]
# When the digest is built: Monday morning after the week.
NOW = END + timedelta(hours=7, minutes=30)
X_ACCOUNT = "1500000001"
X_HANDLE = "OakfieldPS"
INSTAGRAM_ACCOUNT = "17841400000000"

PUPIL = "Ava Thompson"
TEACHER = "Priya Patel"  # the champion, named in the config
PARENT = "Gemma Whitfield"

NATIVITY = [
    "Ava Thompson was brilliant in the nativity play! Thank you Miss Patel and everyone at "
    "Oakfield",
    "What a nativity play, Ava Thompson stole the show. The Whitfield family loved it",
    "The nativity play was magical, well done Ava and Mrs Patel",
    "Loved the nativity play this afternoon, Whitfield grandparents in tears",
    "Best nativity play ever, so proud of Ava Thompson",
    "Nativity play tickets were worth every penny, Whitfield household says thank you Oakfield",
]
LUNCH = [
    "The new lunch menu is awful",
    "Kids hate the lunch menu at Oakfield",
    "Lunch menu portions are tiny, my son comes home starving",
    "Car park is a nightmare at pickup and the lunch menu is worse",
]
EVERY_WEEK_PRAISE = "Thank you for a lovely afternoon, the children were wonderful"
EVERY_WEEK_COMPLAINT = "The car park is a nightmare at pickup again"


@dataclass
class Built:
    config: Config
    sessions: sessionmaker[Session]
    ids: dict[str, int] = field(default_factory=dict)  # names below -> row ids


class _Writer:
    def __init__(self, session: Session, built: Built, sources: dict[str, models.Source]):
        self.session, self.built, self.sources = session, built, sources
        self.serial = 0

    def item(self, source: str, at: datetime, text: str, categories: list[str], *,
             author: str = "Parent", author_id: str | None = None, handle: str = "",
             conversation: str = "", parent: str = "", name: str | None = None,
             severity: str | None = None) -> models.Item:
        self.serial += 1
        row = self.sources[source]
        item = models.Item(
            platform=row.item_platform, external_id=f"{source}-{self.serial}",
            source_id=row.id, school_id=SCHOOL, kind="comment",
            author_id=author_id or f"user-{author.lower().replace(' ', '-')}",
            author_handle=handle, author_name=author, text=text, created_at=at,
            permalink=f"https://{row.item_platform}.example/{self.serial}",
            conversation_id=conversation, parent_id=parent)
        self.session.add(item)
        self.session.flush()
        if categories is not None:
            self.session.add(models.Verdict(item_id=item.id, model_version="test",
                                            categories=categories, severity=severity,
                                            scores={c: 0.9 for c in categories}))
        if name:
            self.built.ids[name] = item.id
        return item

    def incident(self, name: str, harm: str, severity: str, categories: list[str],
                 items: list[models.Item], opened: datetime, status: str = "open", *,
                 acknowledged: tuple[str, timedelta] | None = None,
                 resolved: tuple[str, timedelta, str] | None = None) -> models.Incident:
        row = models.Incident(school_id=SCHOOL, key=f"{harm}:{name}", status=status,
                              severity=severity, categories=categories, harm=harm,
                              item_count=len(items), opened_at=opened, last_item_at=opened)
        if acknowledged:
            row.acknowledged_by, row.acknowledged_at = acknowledged[0], opened + acknowledged[1]
        if resolved:
            row.resolved_by, row.outcome = resolved[0], resolved[2]
            row.resolved_at = opened + resolved[1]
        self.session.add(row)
        self.session.flush()
        for item in items:
            self.session.add(models.IncidentItem(incident_id=row.id, item_id=item.id))
        if acknowledged:
            self.session.add(models.Action(incident_id=row.id, action="acknowledge",
                                           actor=acknowledged[0], ok=True,
                                           created_at=row.acknowledged_at))
        if resolved:
            self.session.add(models.Action(incident_id=row.id, action="resolve",
                                           actor=resolved[0], ok=True,
                                           created_at=row.resolved_at, result=resolved[2]))
        self.built.ids[name] = row.id
        return row


def name_key(directory: Path) -> str:
    """The `[daemon]` line giving the key pupil names are hashed with (a file beside the
    config), which a school with a pupil-name list needs."""
    key = directory / "name.key"
    key.write_text("a-test-key-for-the-digest-0123456789", encoding="utf-8")
    return f'name_key = "file:{key}"'


def write_school_config(directory: Path) -> Path:
    """Oakfield's config: a Facebook Page, a pupil-name list, and named recipients."""
    pupils = directory / "pupils.csv"
    pupils.write_text(f"name\n{PUPIL}\nNoah Williams\n", encoding="utf-8")
    path = write_config(directory, {"digital_champion": ["console://"], "dsl": ["console://"],
                                    "head": ["console://"]},
                        daemon=name_key(directory), extra_school=f'pupil_names = "{pupils}"')
    text = path.read_text(encoding="utf-8").replace(
        'role = "digital_champion"\n', f'role = "digital_champion"\nname = "{TEACHER}"\n')
    path.write_text(text, encoding="utf-8")
    return path


def build(directory: Path) -> Built:
    config = load(write_school_config(directory))
    _, sessions = open_database(config)
    built = Built(config, sessions)
    with sessions.begin() as session:
        session.add(models.School(id=SCHOOL, name="Oakfield Primary School"))
        sources = _sources(session)
        writer = _Writer(session, built, sources)
        for week_start, _ in EARLIER:
            _earlier_week(writer, week_start)
        _earlier_incidents(writer)
        _the_week(writer)
        _health(session, sources)
    return built


def _sources(session: Session) -> dict[str, models.Source]:
    rows = {
        "fb": models.Source(key=f"{SCHOOL}/facebook/{PAGE_ID}/comments", school_id=SCHOOL,
                            platform="facebook", item_platform="facebook", kind="comments",
                            account=PAGE_ID, name="Oakfield Facebook"),
        "x": models.Source(key=f"{SCHOOL}/x/{X_ACCOUNT}/replies", school_id=SCHOOL,
                           platform="x", item_platform="x", kind="replies", account=X_ACCOUNT,
                           settings={"handle": X_HANDLE}, name="Oakfield on X"),
        "ig": models.Source(key=f"{SCHOOL}/instagram/{INSTAGRAM_ACCOUNT}/comments",
                            school_id=SCHOOL, platform="instagram", item_platform="instagram",
                            kind="comments", account=INSTAGRAM_ACCOUNT,
                            name="Oakfield Instagram",
                            paused_at=START + timedelta(days=3, hours=9),
                            paused_reason="the access token has expired",
                            last_error="OAuthException: Error validating access token"),
    }
    session.add_all(rows.values())
    session.flush()
    return rows


def _earlier_week(w: _Writer, start: datetime) -> None:
    day = timedelta(days=1)
    for n in range(4):
        w.item("fb", start + day * n + timedelta(hours=10), EVERY_WEEK_PRAISE, ["praise"],
               author=f"Earlier Parent {n}")
    for n in range(2):
        w.item("fb", start + day * n + timedelta(hours=15), EVERY_WEEK_COMPLAINT,
               ["disparaging"])
        w.item("fb", start + day * n + timedelta(hours=16), "When is the next INSET day?",
               ["question"])
        w.item("fb", start + day * n + timedelta(hours=17), "Seen on the way in", [])
    for n in range(5):
        w.item("x", start + day * n + timedelta(hours=11), EVERY_WEEK_PRAISE, ["praise"])


def _earlier_incidents(w: _Writer) -> None:
    three, two = EARLIER[2][0], EARLIER[1][0]
    abusive = w.item("fb", three + timedelta(days=2), "you lot are clowns", ["abusive"],
                     author="Rude Person")
    w.incident("still_acknowledged", "hostility", "high", ["abusive"], [abusive],
               three + timedelta(days=2), "acknowledged",
               acknowledged=("champion@oakfield.example", timedelta(hours=2)))
    abusive = w.item("fb", two + timedelta(days=1), "idiots, the lot of you", ["abusive"])
    w.incident("old_resolved", "hostility", "high", ["abusive"], [abusive],
               two + timedelta(days=1), "resolved",
               resolved=("champion@oakfield.example", timedelta(hours=1), "hidden"))
    concern = w.item("fb", two + timedelta(days=2), "a concern, dealt with", ["safeguarding"])
    w.incident("old_safeguarding_resolved", "safeguarding", "urgent", ["safeguarding"],
               [concern], two + timedelta(days=2), "resolved",
               resolved=("dsl@oakfield.example", timedelta(hours=1), "referred_to_lado"))
    concern = w.item("fb", two + timedelta(days=3), "a concern nobody has seen",
                     ["safeguarding"], author="Worried Neighbour")
    w.incident("old_unacknowledged", "safeguarding", "urgent", ["safeguarding"], [concern],
               two + timedelta(days=3))


def _the_week(w: _Writer) -> None:
    at = START + timedelta(hours=9)
    hour, day = timedelta(hours=1), timedelta(days=1)
    authors = [PARENT, "Tom Baker", "Sunita Rao", "Gemma Whitfield", "Li Wei", "Omar Haddad"]
    for n, (text, author) in enumerate(zip(NATIVITY, authors, strict=True)):
        w.item("fb", at + n * hour, text, ["praise"], author=author, name=f"nativity{n}")
    for n in range(3):
        w.item("x", at + day + n * hour, EVERY_WEEK_PRAISE, ["praise"])
    for n, text in enumerate(LUNCH):
        w.item("fb", at + 2 * day + n * hour, text, ["disparaging"], name=f"lunch{n}")

    # Questions: answered by the Page in its thread; answered only by another parent; asked too
    # recently to judge; on X, answered by the school's handle; on X, unanswered.
    w.item("fb", at + day, "What time does the nativity start?", ["question"],
           conversation="post-1", name="q_answered")
    w.item("fb", at + day + 2 * hour, "It starts at 2pm", [], author="Oakfield Primary",
           author_id=PAGE_ID, conversation="post-1")
    w.item("fb", at + 2 * day, "Is there a uniform sale this term?", ["question"],
           author="Hannah Cole", conversation="post-2", name="q_unanswered")
    w.item("fb", at + 2 * day + hour, "I think so", [], author="Another Parent",
           conversation="post-2", name="parent_reply")
    w.item("fb", END - 6 * hour, "Is school open tomorrow?", ["question"],
           conversation="post-3", name="q_recent")
    question = w.item("x", at + 3 * day, "@OakfieldPS when do applications close?",
                      ["question"], author="Dev Patel", handle="devp", conversation="x-1")
    w.item("x", at + 3 * day + hour, "@devp 15 January", [], author="Oakfield",
           author_id="someone-else-id", handle="oakfieldps", conversation="x-1",
           parent=question.external_id)
    w.item("x", at + 4 * day, "@OakfieldPS are clubs running next week?", ["question"],
           author="Sam Jones", handle="samj", conversation="x-2", name="q_x_unanswered")

    media = w.item("fb", at + 3 * day, "I'm a reporter at the Gazette: could the head comment "
                   "on the new lunch menu?", ["media"], author="Rita Reporter",
                   conversation="post-4", name="media")
    w.item("fb", at + 3 * day + 3 * hour, "Please email the office", [],
           author="Oakfield Primary", author_id=PAGE_ID, conversation="post-4")
    w.session.add(models.Action(item_id=media.id, action="reply_needed",
                                actor="head@oakfield.example", ok=True,
                                created_at=at + 3 * day + 2 * hour))

    threat = w.item("fb", at + 4 * day, "I'll be waiting at the gates for that teacher",
                    ["threat"], author="Angry Parent", author_id="angry-1",
                    severity="urgent", name="threat_item")
    w.incident("threat", "threat", "urgent", ["threat"], [threat], at + 4 * day, "resolved",
               acknowledged=("dsl@oakfield.example", timedelta(minutes=12)),
               resolved=("dsl@oakfield.example", timedelta(hours=3), "reported_to_police"))
    concern = [w.item("fb", at + 5 * day, "her stepdad hits her, she is scared to go home",
                      ["safeguarding"], author="Angry Parent", author_id="angry-1",
                      severity="urgent"),
               w.item("fb", at + 5 * day + hour, "same here, he hits her", ["safeguarding"],
                      author="Someone Else", severity="urgent")]
    w.incident("safeguarding", "safeguarding", "urgent", ["safeguarding"], concern,
               at + 5 * day)
    abusive = w.item("fb", at + 5 * day + 2 * hour, "you are all useless", ["abusive"],
                     author="Rude Person")
    w.incident("abusive", "hostility", "high", ["abusive"], [abusive], at + 5 * day + 2 * hour,
               "resolved", acknowledged=("champion@oakfield.example", timedelta(minutes=30)),
               resolved=("champion@oakfield.example", timedelta(minutes=40), "hidden"))
    # Retention has removed this one's words already: it still counts.
    w.item("fb", at + 6 * day, "", [], name="blanked")


def _health(session: Session, sources: dict[str, models.Source]) -> None:
    fb, x = sources["fb"].id, sources["x"].id
    minute = timedelta(minutes=1)
    for n, error in enumerate([None, "HTTP 500 from graph.facebook.com",
                               "HTTP 503 from graph.facebook.com"]):
        at = START + timedelta(days=n + 1)
        session.add(models.PollRun(source_id=fb, started_at=at, finished_at=at + minute,
                                   error=error))
    # X: a first poll (its backlog) and two days of steady polls that read 200 paid posts.
    session.add(models.PollRun(source_id=x, started_at=END - timedelta(days=4),
                               finished_at=END - timedelta(days=4), backfill=True))
    for at in (END - timedelta(days=3), END - timedelta(days=1)):
        session.add(models.PollRun(source_id=x, started_at=at, finished_at=at))
    for day in (END - timedelta(days=3), END - timedelta(days=2)):
        session.add_all(models.PaidRead(platform="x", resource=f"post:{day.day}-{n}",
                                        day=day.strftime("%Y-%m-%d"), source_id=x)
                        for n in range(100))


def build_quiet(directory: Path) -> Built:
    """A quiet week at Oakfield: three thank-yous on Facebook, a Page that polled without
    fault, and nothing else at all."""
    config = load(write_school_config(directory))
    _, sessions = open_database(config)
    built = Built(config, sessions)
    with sessions.begin() as session:
        session.add(models.School(id=SCHOOL, name="Oakfield Primary School"))
        sources = _sources(session)
        sources["ig"].paused_at = sources["ig"].paused_reason = None
        session.delete(sources["x"])
        writer = _Writer(session, built, sources)
        for n in range(3):
            writer.item("fb", START + timedelta(days=n, hours=10), EVERY_WEEK_PRAISE,
                        ["praise"])
        session.add(models.PollRun(source_id=sources["fb"].id, started_at=START,
                                   finished_at=START + timedelta(minutes=1)))
    return built
