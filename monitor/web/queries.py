"""The database reads behind the console's pages.

Every query takes the schools the viewer may see (`None` for all of them) and filters by them in
SQL, so a school's records never reach another school's page, not even as a row to hide. Lists
are paged, and what a page shows about many rows (platforms, verdicts, feedback) is read with one
query per kind of thing, never one per row: the queue and the incident page stay quick with tens
of thousands of incidents.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import Any

from sqlalchemy import String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement, Select

from classifiers.base import CATEGORIES
from monitor import models, rules
from monitor.sources import state_of

PAGE_SIZE = 50
SEVERITIES = rules.SEVERITY_ORDER
# The queue shows what still needs someone unless asked for more.
STATUSES: dict[str, str] = {
    "active": "Not resolved",
    "open": "Open",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "all": "All",
}
# How far back "the author's earlier flagged items" look: the window the alerts count repeats in.
AUTHOR_WINDOW = timedelta(days=30)
AUTHOR_LIMIT = 50
THREAD_LIMIT = 100
# Severities that make an item "flagged" for the author's history: what was alerted on.
FLAGGED = ("urgent", "high", "normal")

Schools = Collection[str] | None


def _visible(column: ColumnElement[Any], schools: Schools) -> ColumnElement[bool] | None:
    """The condition that keeps rows of the visible schools; None when all are visible."""
    if schools is None:
        return None
    return column.in_(list(schools))


def _where_visible(query: Select, column: ColumnElement[Any], schools: Schools) -> Select:
    condition = _visible(column, schools)
    return query if condition is None else query.where(condition)


def readable_reasons(reasons: Mapping[str, Iterable[Any]] | None,
                     categories: Iterable[str] = ()) -> list[tuple[str, list[str]]]:
    """A verdict's reasons as (category, reasons) for the categories it was flagged for, in the
    categories' usual order, without the classifier's internal marks or repeats (the same
    cleaning as the alerts', `incidents.readable_reasons`)."""
    from monitor.incidents import readable_reasons as cleaned

    kept = cleaned(reasons)
    flagged = set(categories)
    return [(category, kept.get(category, [])) for category in CATEGORIES
            if category in flagged or (not flagged and category in kept)]


# --- the queue ------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueFilters:
    school: str = ""
    platform: str = ""
    category: str = ""
    harm: str = ""
    status: str = "active"
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> QueueFilters:
        """Filters from a query string; anything unknown is ignored rather than refused, so an
        old bookmark still opens the queue."""
        status = args.get("status", "active")
        category = args.get("category", "")
        try:
            page = max(1, int(args.get("page", "1")))
        except ValueError:
            page = 1
        return cls(school=args.get("school", "").strip(),
                   platform=args.get("platform", "").strip(),
                   category=category if category in CATEGORIES else "",
                   harm=args.get("harm", "").strip(),
                   status=status if status in STATUSES else "active",
                   page=page)

    def query_args(self, **changes: Any) -> dict[str, Any]:
        """The filters as query-string arguments (empty ones left out), for links to pages."""
        values = {"school": self.school, "platform": self.platform,
                  "category": self.category, "harm": self.harm, "status": self.status,
                  "page": self.page} | changes
        return {k: v for k, v in values.items()
                if v and not (k == "status" and v == "active") and not (k == "page" and v == 1)}


@dataclass(frozen=True)
class QueueRow:
    id: int
    school_id: str
    school_name: str
    timezone: str
    severity: str
    harm: str
    categories: tuple[str, ...]
    status: str
    item_count: int
    opened_at: datetime
    last_item_at: datetime
    acknowledged_by: str | None
    outcome: str | None
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.page_size))


def severity_rank(column: ColumnElement[Any]) -> ColumnElement[int]:
    return case({s: i for i, s in enumerate(SEVERITIES)}, value=column, else_=len(SEVERITIES))


def _queue_conditions(filters: QueueFilters, schools: Schools) -> list[ColumnElement[bool]]:
    incident = models.Incident
    conditions: list[ColumnElement[bool]] = []
    visible = _visible(incident.school_id, schools)
    if visible is not None:
        conditions.append(visible)
    if filters.school:
        conditions.append(incident.school_id == filters.school)
    if filters.status == "active":
        conditions.append(incident.status.in_(("open", "acknowledged")))
    elif filters.status != "all":
        conditions.append(incident.status == filters.status)
    if filters.harm:
        conditions.append(incident.harm == filters.harm)
    if filters.category:
        # Categories are a JSON list of fixed names without quotes: matching the quoted name in
        # its text works the same on SQLite and PostgreSQL.
        conditions.append(cast(incident.categories, String).like(f'%"{filters.category}"%'))
    if filters.platform:
        # Not a correlated EXISTS: SQLite would answer it, for every incident, by walking all
        # of the platform's items through the (platform, author) index (seconds on 10,000
        # incidents). As one uncorrelated list it reads incident_item once, items by id.
        conditions.append(incident.id.in_(
            select(models.IncidentItem.incident_id)
            .join(models.Item, models.Item.id == models.IncidentItem.item_id)
            .where(models.Item.platform == filters.platform)))
    return conditions


def queue(session: Session, schools: Schools, filters: QueueFilters,
          page_size: int = PAGE_SIZE) -> QueuePage:
    """One page of incidents, urgent first, then the most recent activity first; resolved ones
    (when shown) after all the others."""
    incident = models.Incident
    conditions = _queue_conditions(filters, schools)
    total = session.scalar(select(func.count()).select_from(incident).where(*conditions)) or 0
    pages = max(1, ceil(total / page_size))
    page = min(filters.page, pages)
    result = session.execute(
        select(incident, models.School.name, models.School.timezone)
        .join(models.School, models.School.id == incident.school_id)
        .where(*conditions)
        .order_by((incident.status == "resolved").asc(), severity_rank(incident.severity),
                  incident.last_item_at.desc(), incident.id.desc())
        .offset((page - 1) * page_size).limit(page_size)).all()
    platforms = incident_platforms(session, [row.id for row, _, _ in result])
    rows = [QueueRow(id=row.id, school_id=row.school_id, school_name=name,
                     timezone=timezone or "Europe/London", severity=row.severity,
                     harm=row.harm, categories=tuple(row.categories or ()),
                     status=row.status, item_count=row.item_count, opened_at=row.opened_at,
                     last_item_at=row.last_item_at, acknowledged_by=row.acknowledged_by,
                     outcome=row.outcome, platforms=platforms.get(row.id, ()))
            for row, name, timezone in result]
    return QueuePage(rows=rows, total=total, page=page, page_size=page_size)


def incident_platforms(session: Session, incident_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The platforms of each incident's items, in one query for a whole page."""
    if not incident_ids:
        return {}
    found: dict[int, set[str]] = {}
    for incident_id, platform in session.execute(
            select(models.IncidentItem.incident_id, models.Item.platform).distinct()
            .join(models.Item, models.Item.id == models.IncidentItem.item_id)
            .where(models.IncidentItem.incident_id.in_(list(incident_ids)))):
        found.setdefault(incident_id, set()).add(platform)
    return {k: tuple(sorted(v)) for k, v in found.items()}


def school_choices(session: Session, schools: Schools) -> list[tuple[str, str]]:
    """(id, name) of the schools the viewer may filter by."""
    query = _where_visible(select(models.School.id, models.School.name), models.School.id,
                           schools)
    return [(sid, name) for sid, name in session.execute(query.order_by(models.School.name))]


def platform_choices(session: Session, schools: Schools) -> list[str]:
    """The platforms the visible schools' sources read (a small table, unlike items)."""
    query = _where_visible(select(models.Source.item_platform).distinct(),
                           models.Source.school_id, schools)
    return sorted(p for p in session.scalars(query) if p)


# --- one incident ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemState:
    """Where an item stands on its platform, as far as the recorded successful actions tell:
    a failed attempt changed nothing, and only the last of hide and unhide counts."""

    hidden: bool = False
    deleted: bool = False
    author_blocked: bool = False

    @property
    def words(self) -> tuple[str, ...]:
        """What the item's card says about it, most final first."""
        return tuple(word for word, on in (("Deleted", self.deleted), ("Hidden", self.hidden),
                                           ("Author blocked", self.author_blocked)) if on)

    def refusal(self, action: str) -> str | None:
        """Why `action` would do nothing now (None when it still makes sense)."""
        if self.deleted and action in ("hide", "unhide", "delete"):
            return "it has already been deleted"
        if action == "hide" and self.hidden:
            return "it is already hidden"
        if action == "unhide" and not self.hidden:
            return "it is not hidden"
        if action == "block" and self.author_blocked:
            return "its author is already blocked"
        return None


def item_states(items: Iterable[models.Item],
                done: Iterable[models.Action]) -> dict[int, ItemState]:
    """Each item's state from the actions taken on these items, oldest first. A block is the
    author's, so it shows on every one of their items here."""
    return _states({i.id: (i.platform, i.author_id) if i.author_id else None for i in items},
                   done)


def _states(authors: Mapping[int, tuple[str, str] | None],
            done: Iterable[models.Action]) -> dict[int, ItemState]:
    hidden: dict[int, bool] = {}
    deleted: set[int] = set()
    blocked: set[tuple[str, str]] = set()
    for action in done:
        if not action.ok or action.item_id is None:
            continue
        if action.action in ("hide", "unhide"):
            hidden[action.item_id] = action.action == "hide"
        elif action.action == "delete":
            deleted.add(action.item_id)
        elif action.action == "block" and authors.get(action.item_id):
            blocked.add(authors[action.item_id])
    return {item_id: ItemState(hidden=hidden.get(item_id, False), deleted=item_id in deleted,
                               author_blocked=author is not None and author in blocked)
            for item_id, author in authors.items()}


def item_state(session: Session, item: models.Item) -> ItemState:
    """One item's state, for checking an action before it is taken: its own successful
    actions, and blocks recorded on any item by the same author."""
    author = (item.platform, item.author_id) if item.author_id else None
    same_author = [item.id]
    if author:
        same_author = list(session.scalars(select(models.Item.id).where(
            models.Item.platform == item.platform, models.Item.author_id == item.author_id)))
    done = session.scalars(
        select(models.Action)
        .where(models.Action.item_id.in_(same_author), models.Action.ok.is_(True),
               or_(models.Action.item_id == item.id, models.Action.action == "block"))
        .order_by(models.Action.created_at, models.Action.id))
    return _states(dict.fromkeys(same_author, author) | {item.id: author}, done)[item.id]


@dataclass
class ItemView:
    item: models.Item
    verdict: models.Verdict | None
    reasons: list[tuple[str, list[str]]]
    feedback: models.Feedback | None = None
    actions: tuple[str, ...] = ()
    no_actions_reason: str = ""
    state: ItemState = field(default_factory=ItemState)


@dataclass
class IncidentView:
    incident: models.Incident
    school_name: str
    timezone: str
    items: list[ItemView]
    thread: list[models.Item] = field(default_factory=list)
    earlier: list[ItemView] = field(default_factory=list)
    trail: list[models.Action] = field(default_factory=list)

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(sorted({view.item.platform for view in self.items}))

    def moderation_of(self, item_id: int) -> list[models.Action]:
        """What was done to one item on its platform (tried, whether or not it worked)."""
        return [a for a in self.trail if a.item_id == item_id and a.action in MODERATION]


def incident_school(session: Session, incident_id: int) -> str | None:
    """The school an incident belongs to, to check the viewer may see it before reading more."""
    return session.scalar(select(models.Incident.school_id)
                          .where(models.Incident.id == incident_id))


def school_timezone(session: Session, school_id: str | None) -> str:
    school = session.get(models.School, school_id) if school_id else None
    return (school.timezone if school else "") or "Europe/London"


def incident_view(session: Session, incident_id: int, *, private_notes: bool,
                  now: datetime | None = None) -> IncidentView | None:
    """Everything the incident page shows. Private notes are left out of the trail unless
    `private_notes`. The caller has checked the viewer may see the incident's school."""
    incident = session.get(models.Incident, incident_id)
    if incident is None:
        return None
    school = session.get(models.School, incident.school_id)
    items = _with_verdicts(session, session.scalars(
        select(models.Item)
        .join(models.IncidentItem, models.IncidentItem.item_id == models.Item.id)
        .where(models.IncidentItem.incident_id == incident_id)
        .order_by(models.Item.created_at, models.Item.id)).all())
    _attach_feedback(session, items)
    item_ids = [view.item.id for view in items]
    view = IncidentView(
        incident=incident, school_name=school.name if school else incident.school_id,
        timezone=(school.timezone if school else "") or "Europe/London", items=items,
        thread=thread_items(session, incident.school_id, [v.item for v in items]),
        earlier=authors_earlier(session, incident.school_id, [v.item for v in items],
                                now or datetime.now(UTC)),
        trail=trail(session, incident_id, item_ids, private_notes=private_notes))
    # From the trail already read: the item's own actions are all in it.
    states = item_states([v.item for v in items],
                         (a for a in view.trail if a.action in MODERATION))
    for item_view in items:
        item_view.state = states[item_view.item.id]
    return view


def _with_verdicts(session: Session, items: Sequence[models.Item]) -> list[ItemView]:
    if not items:
        return []
    verdicts = {v.item_id: v for v in session.scalars(
        select(models.Verdict).where(models.Verdict.item_id.in_([i.id for i in items])))}
    views = []
    for item in items:
        verdict = verdicts.get(item.id)
        reasons = readable_reasons(verdict.reasons, verdict.categories) if verdict else []
        views.append(ItemView(item=item, verdict=verdict, reasons=reasons))
    return views


def _attach_feedback(session: Session, views: list[ItemView]) -> None:
    """Each item's latest correction, if any."""
    if not views:
        return
    latest: dict[int, models.Feedback] = {}
    for feedback in session.scalars(
            select(models.Feedback)
            .where(models.Feedback.item_id.in_([v.item.id for v in views]))
            .order_by(models.Feedback.created_at, models.Feedback.id)):
        latest[feedback.item_id] = feedback
    for view in views:
        view.feedback = latest.get(view.item.id)


def _in_school(school_id: str) -> ColumnElement[bool]:
    """Items of this school, written so that the database does not pick the (school, created)
    index for it: an author's items are found through the (platform, author) index, a few
    rows, instead of walking the school's every item in time order (which SQLite prefers, for
    the ORDER BY and the date range, without statistics)."""
    return func.coalesce(models.Item.school_id, "") == school_id


def thread_items(session: Session, school_id: str, items: Sequence[models.Item],
                 limit: int = THREAD_LIMIT) -> list[models.Item]:
    """The other stored items of the incident's conversations, oldest first."""
    conversations = {(i.platform, i.conversation_id) for i in items if i.conversation_id}
    if not conversations:
        return []
    own = [i.id for i in items]
    matches = or_(*(and_(models.Item.platform == platform,
                         models.Item.conversation_id == conversation)
                    for platform, conversation in sorted(conversations)))
    # The newest `limit`, shown oldest first: on a long thread the recent part matters most.
    # Ordered through coalesce() so that the ordering does not draw SQLite to the (school,
    # created) index when an index on the conversation can find the thread's few rows.
    newest = func.coalesce(models.Item.created_at, models.Item.fetched_at)
    rows = session.scalars(
        select(models.Item)
        .where(models.Item.school_id == school_id, matches, models.Item.id.not_in(own))
        .order_by(newest.desc(), models.Item.id.desc()).limit(limit)).all()
    return sorted(rows, key=lambda i: (i.created_at, i.id))


def authors_earlier(session: Session, school_id: str, items: Sequence[models.Item],
                    now: datetime, limit: int = AUTHOR_LIMIT) -> list[ItemView]:
    """Other flagged items by the incident's authors in the last 30 days, newest first."""
    authors = {(i.platform, i.author_id) for i in items if i.author_id}
    if not authors:
        return []
    own = [i.id for i in items]
    by_author = or_(*(and_(models.Item.platform == platform, models.Item.author_id == author)
                      for platform, author in sorted(authors)))
    rows = session.scalars(
        select(models.Item)
        .join(models.Verdict, models.Verdict.item_id == models.Item.id)
        .where(_in_school(school_id), by_author, models.Item.id.not_in(own),
               models.Verdict.severity.in_(FLAGGED),
               models.Item.created_at >= now - AUTHOR_WINDOW)
        .order_by(models.Item.created_at.desc(), models.Item.id.desc()).limit(limit)).all()
    return _with_verdicts(session, rows)


# Actions carried out on a platform, as opposed to decisions and notes about an incident.
MODERATION = ("hide", "unhide", "delete", "block", "mute")
# Trail entries that hold what a member of staff wrote (DSL notes), for the DSL and head only.
PRIVATE_ACTIONS = ("note",)


def trail(session: Session, incident_id: int, item_ids: Sequence[int], *,
          private_notes: bool) -> list[models.Action]:
    """The incident's trail, oldest first: acknowledgements, resolutions, reopenings, notes,
    and the moderation actions and corrections on its items."""
    condition = models.Action.incident_id == incident_id
    if item_ids:
        condition = or_(condition, models.Action.item_id.in_(list(item_ids)))
    query = select(models.Action).where(condition)
    if not private_notes:
        query = query.where(models.Action.action.not_in(PRIVATE_ACTIONS))
    return list(session.scalars(query.order_by(models.Action.created_at, models.Action.id)))


def incidents_of(session: Session, item_ids: Sequence[int]) -> dict[int, int]:
    """The incident each of these items belongs to (the latest, if several)."""
    if not item_ids:
        return {}
    return dict(session.execute(
        select(models.IncidentItem.item_id, func.max(models.IncidentItem.incident_id))
        .where(models.IncidentItem.item_id.in_(list(item_ids)))
        .group_by(models.IncidentItem.item_id)).all())


def item_in_incident(session: Session, incident_id: int, item_id: int) -> models.Item | None:
    """The item, if it belongs to the incident: a form for one incident cannot act on another
    school's item by changing a number."""
    return session.scalar(
        select(models.Item)
        .join(models.IncidentItem, models.IncidentItem.item_id == models.Item.id)
        .where(models.IncidentItem.incident_id == incident_id, models.Item.id == item_id))


# --- sources ---------------------------------------------------------------------------------

@dataclass
class SourceRow:
    source: models.Source
    school_name: str
    timezone: str
    items: int
    last_poll: datetime | None
    monthly_cost: str

    @property
    def state(self) -> str:
        return state_of(self.source)


def source_rows(session: Session, schools: Schools) -> list[SourceRow]:
    from monitor import costs

    query = _where_visible(
        select(models.Source, models.School.name, models.School.timezone)
        .join(models.School, models.School.id == models.Source.school_id),
        models.Source.school_id, schools)
    found = session.execute(query.order_by(models.School.name, models.Source.key)).all()
    ids = [source.id for source, _, _ in found]
    if not ids:
        return []
    counts = dict(session.execute(
        select(models.Item.source_id, func.count()).where(models.Item.source_id.in_(ids))
        .group_by(models.Item.source_id)).all())
    polls = dict(session.execute(
        select(models.PollRun.source_id, func.max(models.PollRun.started_at))
        .where(models.PollRun.source_id.in_(ids)).group_by(models.PollRun.source_id)).all())
    estimates = costs.estimate(session, {s.id: s.platform for s, _, _ in found},
                               costs.connector_prices)
    return [SourceRow(source=s, school_name=name, timezone=tz or "Europe/London",
                      items=counts.get(s.id, 0),
                      last_poll=max((t for t in (polls.get(s.id), s.last_attempt_at) if t),
                                    default=None),
                      monthly_cost=estimates[s.id].monthly_text())
            for s, name, tz in found]


def source_school(session: Session, source_id: int) -> str | None:
    return session.scalar(select(models.Source.school_id).where(models.Source.id == source_id))


# --- the audit trail -------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditRow:
    action: models.Action
    school_id: str | None
    timezone: str


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    page: int
    # Whether older entries follow: the trail is long and only grows, so it is paged by "older"
    # and "newer" rather than counted on every view.
    has_older: bool


def audit(session: Session, schools: Schools, page: int, *, private_notes: bool,
          page_size: int = PAGE_SIZE) -> AuditPage:
    """The action log of the visible schools, newest first. An action belongs to the school of
    its item, or of its incident; one with neither is shown to those who see every school.
    Newest first by id: entries are written as they happen, and the primary key lets the
    database stop after one page instead of sorting the whole trail."""
    item = aliased(models.Item)
    incident = aliased(models.Incident)
    school = func.coalesce(item.school_id, incident.school_id)
    conditions: list[ColumnElement[bool]] = []
    if schools is not None:
        conditions.append(school.in_(list(schools)))
    if not private_notes:
        conditions.append(models.Action.action.not_in(PRIVATE_ACTIONS))
    page = max(1, page)
    result = session.execute(
        select(models.Action, school, models.School.timezone)
        .outerjoin(item, item.id == models.Action.item_id)
        .outerjoin(incident, incident.id == models.Action.incident_id)
        .outerjoin(models.School, models.School.id == school)
        .where(*conditions)
        .order_by(models.Action.id.desc())
        .offset((page - 1) * page_size).limit(page_size + 1)).all()
    rows = [AuditRow(action=a, school_id=sid, timezone=zone or "Europe/London")
            for a, sid, zone in result[:page_size]]
    return AuditPage(rows=rows, page=page, has_older=len(result) > page_size)


# --- staff accounts --------------------------------------------------------------------------

@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    role: str
    school_id: str | None
    school_name: str
    disabled: bool
    created_at: datetime
    last_sign_in_at: datetime | None


def staff_users(session: Session, schools: Schools) -> list[UserRow]:
    """Staff accounts of the visible schools (and trust-wide admins for those who see all);
    never their password hashes."""
    user = models.StaffUser
    query = (select(user.id, user.email, user.name, user.role, user.school_id,
                    models.School.name, user.disabled, user.created_at, user.last_sign_in_at)
             .outerjoin(models.School, models.School.id == user.school_id))
    query = _where_visible(query, user.school_id, schools)
    rows = session.execute(query.order_by(models.School.name, user.role, user.email)).all()
    return [UserRow(id=r[0], email=r[1], name=r[2], role=r[3], school_id=r[4],
                    school_name=r[5] or ("all schools" if r[4] is None else r[4]),
                    disabled=r[6], created_at=r[7], last_sign_in_at=r[8]) for r in rows]
