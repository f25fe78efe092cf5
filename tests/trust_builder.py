"""A fixed database for the trust's roll-up: three schools in week 2026-W47, each with known
counts, on top of tests/digest_builder.py's Oakfield (whose week and four before are described
there).

- Oakfield Primary School (Europe/London), as in digest_builder: 25 comments against a usual 16;
  3 incidents opened this week (2 urgent, 1 high); 3 still open at the end of it (2 urgent,
  1 high); 2 questions unanswered; its Facebook Page's last poll failed and Instagram is paused.
- Elmwood Academy (Europe/London), a quiet school: 3 thank-yous a week, every week; nothing
  else; its Page polled without fault.
- Harbour International School (America/New_York, UTC-5 in November: its week runs from Monday
  05:00 UTC to the next Monday 05:00 UTC): 30 comments against a usual 10 (two of them on its
  Sunday evening, already Monday in London; and one on the Sunday evening before, already this
  week in London, which is its previous week); 4 questions nobody answered; an abusive comment
  still open (high) and a complaint resolved (normal) opened this week, and one resolved
  incident opened on that earlier Sunday evening, which is not this week's. Counted in London's
  week it would have 29 comments and 2 normal incidents.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from monitor import models
from monitor.config import load
from tests import digest_builder
from tests.digest_builder import START, Built

WEEK = "2026-W47"
TRUST = "Oak Learning Trust"
ELMWOOD = "elmwood"
HARBOUR = "harbour"
NEW_YORK = ZoneInfo("America/New_York")
# Harbour's week, Monday to Monday in New York.
HARBOUR_START = datetime(2026, 11, 16, tzinfo=NEW_YORK)
HARBOUR_END = HARBOUR_START + timedelta(days=7)

MORE_SCHOOLS = f"""
[trust]
name = "{TRUST}"

[[trust.recipients]]
name = "Chief executive"
urls = ["console://"]

[[schools]]
id = "{ELMWOOD}"
name = "Elmwood Academy"

[[schools.accounts]]
platform = "replay"
account = "2000"
kinds = ["comments"]
settings = {{ path = "elmwood", as_platform = "facebook" }}

[[schools]]
id = "{HARBOUR}"
name = "Harbour International School"
timezone = "America/New_York"

[[schools.accounts]]
platform = "replay"
account = "3000"
kinds = ["comments"]
settings = {{ path = "harbour", as_platform = "facebook" }}
"""


def build(directory: Path) -> Built:
    """Oakfield as digest_builder makes it, then the trust's config and its other two schools
    in the same database."""
    oakfield = digest_builder.build(directory)
    path = directory / "config.toml"
    path.write_text(path.read_text(encoding="utf-8") + MORE_SCHOOLS, encoding="utf-8")
    built = Built(load(path), oakfield.sessions, oakfield.ids)
    with built.sessions.begin() as session:
        _elmwood(_School(session, ELMWOOD, "Elmwood Academy", "Europe/London", "2000"))
        _harbour(_School(session, HARBOUR, "Harbour International School", "America/New_York",
                         "3000"), built)
    return built


class _School:
    """A school with one Facebook Page, and its comments and incidents."""

    def __init__(self, session: Session, school_id: str, name: str, timezone: str,
                 page: str) -> None:
        self.session, self.id, self.serial = session, school_id, 0
        session.add(models.School(id=school_id, name=name, timezone=timezone))
        self.source = models.Source(key=f"{school_id}/facebook/{page}/comments",
                                    school_id=school_id, platform="facebook",
                                    item_platform="facebook", kind="comments", account=page)
        session.add(self.source)
        session.flush()

    def item(self, at: datetime, categories: list[str], text: str = "a comment"
             ) -> models.Item:
        self.serial += 1
        item = models.Item(platform="facebook", external_id=f"{self.id}-{self.serial}",
                           source_id=self.source.id, school_id=self.id, kind="comment",
                           author_id=f"{self.id}-parent-{self.serial}",
                           author_name=f"Parent {self.serial}", text=text, created_at=at,
                           permalink=f"https://facebook.example/{self.id}/{self.serial}",
                           conversation_id=f"{self.id}-post-{self.serial}")
        self.session.add(item)
        self.session.flush()
        self.session.add(models.Verdict(item_id=item.id, model_version="test",
                                        categories=categories))
        return item

    def incident(self, item: models.Item, harm: str, severity: str, *,
                 resolved_after: timedelta | None = None) -> models.Incident:
        row = models.Incident(school_id=self.id, key=f"{harm}:{item.external_id}",
                              severity=severity, categories=[], harm=harm, item_count=1,
                              opened_at=item.created_at, last_item_at=item.created_at,
                              status="open")
        if resolved_after is not None:
            row.status, row.outcome, row.resolved_by = "resolved", "hidden", "champion"
            row.resolved_at = row.acknowledged_at = item.created_at + resolved_after
        self.session.add(row)
        self.session.flush()
        self.session.add(models.IncidentItem(incident_id=row.id, item_id=item.id))
        return row

    def polled(self, at: datetime, error: str | None = None) -> None:
        self.session.add(models.PollRun(source_id=self.source.id, started_at=at,
                                        finished_at=at + timedelta(minutes=1), error=error))


def _elmwood(school: _School) -> None:
    for weeks_back in range(5):
        start = START - timedelta(weeks=weeks_back)
        for n in range(3):
            school.item(start + timedelta(days=n, hours=10), ["praise"], "thank you")
    school.polled(START + timedelta(days=2))


def _harbour(school: _School, built: Built) -> None:
    day, hour = timedelta(days=1), timedelta(hours=1)
    # The four weeks before: 10 a week (9 on the Tuesday, and one on the Sunday evening before
    # this week, 21:00 in New York, which is Monday 02:00 in London).
    for weeks_back in range(1, 5):
        tuesday = HARBOUR_START - timedelta(weeks=weeks_back) + day + 12 * hour
        for n in range(10 if weeks_back > 1 else 9):
            school.item(tuesday + n * hour, [])
    late_sunday = school.item(HARBOUR_START - 3 * hour, ["disparaging"], "too late for this")
    school.incident(late_sunday, "hostility", "normal", resolved_after=hour)
    # This week: 30, one of them on its Sunday evening (Monday 03:00 in London).
    tuesday = HARBOUR_START + day + 9 * hour
    for n in range(22):
        school.item(tuesday + n * 10 * timedelta(minutes=1), [])
    for n in range(4):
        school.item(tuesday + n * hour, ["question"], "when is the open evening?")
    abusive = school.item(tuesday + 2 * day, ["abusive"], "you are all clowns")
    built.ids["harbour_abusive"] = school.incident(abusive, "hostility", "high").id
    complaint = school.item(tuesday + 3 * day, ["disparaging"], "the buses are always late")
    school.incident(complaint, "hostility", "normal", resolved_after=2 * hour)
    for n in (2, 3):
        school.item(HARBOUR_END - n * hour, [], "see you tomorrow")
    school.polled(HARBOUR_START + 2 * day)
