"""What the head's weekly digest and the DSL's weekly summary say, as data: no rendering, no
sending. Each section is None (or empty) when it has nothing to say, so a renderer leaves it out.

Counts come from item and verdict rows, grouped in SQL, never from text: retention may have
blanked or removed texts since, and a busy week is a hundred thousand rows. Texts are read only
where they are shown (excerpts, examples) or for the praise and complaint phrases.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy import String, and_, cast, exists, func, or_, select, true
from sqlalchemy.orm import Session

from monitor import costs, incidents, models, rules
from monitor.config import Config
from monitor.digest import phrases

log = logging.getLogger(__name__)

Week = tuple[datetime, datetime]
# A question is unanswered if the school has not replied this long after it was asked.
ANSWER_WITHIN = timedelta(hours=48)
EXCERPT = 140
EXAMPLES = 2
URGENT_HARMS = incidents.URGENT_HARMS
FLAGGED = ("urgent", "high", "normal")


# --- the sections -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class IncidentLine:
    id: int
    severity: str
    harm: str
    status: str  # open, acknowledged, resolved
    categories: tuple[str, ...]
    excerpt: str  # the first item's words, shortened; "" once retention removed them
    permalink: str
    platform: str
    item_count: int
    opened_at: datetime
    acknowledged_by: str | None
    time_to_acknowledge: timedelta | None
    outcome: str | None  # as people read it ("hidden", "referred to the LADO")
    resolved_by: str | None

    @property
    def still_open(self) -> bool:
        return self.status != "resolved"


@dataclass(frozen=True, slots=True)
class MediaEnquiry:
    item_id: int
    platform: str
    author: str
    excerpt: str
    permalink: str
    created_at: datetime
    replied: bool  # the school's own account answered in that thread
    actions: tuple[str, ...]  # "hide by amy@school", from the trail
    outcome: str | None  # its incident's outcome, where it belonged to one


@dataclass(frozen=True, slots=True)
class Volume:
    name: str  # a platform or a category
    this_week: int
    average: float  # over the earlier weeks


@dataclass(frozen=True, slots=True)
class Volumes:
    platforms: tuple[Volume, ...]
    categories: tuple[Volume, ...]


@dataclass(frozen=True, slots=True)
class Example:
    item_id: int
    text: str
    author: str
    permalink: str


@dataclass(frozen=True, slots=True)
class Standout:
    phrase: str
    count: int
    earlier: int
    z: float
    examples: tuple[Example, ...]


@dataclass(frozen=True, slots=True)
class Feelings:
    praise: tuple[Standout, ...]
    complaints: tuple[Standout, ...]


@dataclass(frozen=True, slots=True)
class Question:
    item_id: int
    platform: str
    author: str
    excerpt: str
    permalink: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SourceHealth:
    source_id: int
    platform: str
    account: str
    name: str
    paused: bool
    paused_reason: str | None
    polls: int
    failed_polls: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class PlatformCost:
    platform: str
    monthly: float | None  # US dollars a month; None until enough has been observed

    def monthly_text(self) -> str:
        return costs.NOT_ENOUGH_DATA if self.monthly is None else f"${self.monthly:.2f}"


@dataclass(frozen=True, slots=True)
class Health:
    sources: tuple[SourceHealth, ...]  # failing or paused this week
    costs: tuple[PlatformCost, ...]  # platforms that charge for reads


@dataclass(frozen=True, slots=True)
class HeadDigest:
    school_id: str
    school_name: str
    start: datetime
    end: datetime
    total: int  # comments and mentions this week, the school's own posts left out
    # Items this week of normal severity or above (all but praise, questions, spam and the
    # unflagged): a holiday week with none of these sends no digest.
    flagged: int
    needed_action: int
    threats: int
    headline: str
    incidents: tuple[IncidentLine, ...]
    media: tuple[MediaEnquiry, ...]
    volumes: Volumes | None
    feelings: Feelings | None
    unanswered: tuple[Question, ...]
    health: Health | None
    # The school's followers this week, where it syncs them: `follower_report.follower_counts`
    # ("new", "lost", "of_concern") and "platforms", the platforms synced. None otherwise.
    followers: dict | None = None


@dataclass(frozen=True, slots=True)
class RepeatAuthor:
    platform: str
    author_id: str
    handle: str
    name: str
    incident_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DslSummary:
    school_id: str
    school_name: str
    start: datetime
    end: datetime
    incidents: tuple[IncidentLine, ...]
    unacknowledged: tuple[int, ...]  # incident ids nobody has acknowledged yet
    repeat_authors: tuple[RepeatAuthor, ...]


# --- building -----------------------------------------------------------------------------------

def head_digest(session: Session, config: Config, school_id: str, start: datetime,
                end: datetime, earlier: Sequence[Week], *, now: datetime | None = None
                ) -> HeadDigest:
    """The head's digest for the week [start, end). `earlier` are the weeks to compare with
    (usually the four before). `now` is when it is built: questions younger than 48 hours then
    are not yet counted as unanswered."""
    now = now or end
    own = OwnAccounts.of(session, school_id)
    lines = _incident_lines(session, _needing_action(school_id, start, end))
    platforms, categories, flagged = week_counts(session, school_id, start, end, own)
    earlier_counts = [week_counts(session, school_id, s, e, own)[:2] for s, e in earlier]
    total = sum(platforms.values())
    threats = sum(1 for line in lines if line.harm == "threat" and line.opened_at >= start)
    volumes = compare(platforms, categories, earlier_counts) if total or any(
        sum(p.values()) for p, _ in earlier_counts) else None
    return HeadDigest(
        school_id=school_id, school_name=config.school_name(school_id), start=start, end=end,
        total=total, flagged=flagged, needed_action=len(lines), threats=threats,
        headline=headline(total, lines, threats),
        incidents=tuple(lines),
        media=tuple(_media(session, school_id, start, end, own)),
        volumes=volumes,
        feelings=_feelings(session, config, school_id, start, end, earlier, own),
        unanswered=tuple(unanswered(session, school_id, start, end, now, own)),
        health=_health(session, school_id, start, end),
        followers=_followers(session, school_id, start, end))


def _followers(session: Session, school_id: str, start: datetime, end: datetime) -> dict | None:
    """This week's follower counts, for a school that syncs its followers."""
    from monitor.follower_report import FOLLOWERS, follower_counts

    platforms = list(session.scalars(
        select(models.Source.platform).distinct()
        .where(models.Source.school_id == school_id, models.Source.kind == FOLLOWERS)
        .order_by(models.Source.platform)))
    if not platforms:
        return None
    return {**follower_counts(session, school_id, start, end), "platforms": platforms}


def dsl_summary(session: Session, config: Config, school_id: str, start: datetime,
                end: datetime) -> DslSummary:
    """Every safeguarding and threat incident opened in the week [start, end), and any opened
    before that nobody has acknowledged yet; and the authors seen in more than one of them."""
    inc = models.Incident
    urgent = or_(inc.harm.in_(URGENT_HARMS), and_(inc.harm == incidents.HOSTILITY,
                                                  inc.severity == "urgent"))
    query = select(inc).where(
        inc.school_id == school_id, urgent, inc.opened_at < end,
        or_(inc.opened_at >= start, and_(inc.acknowledged_at.is_(None), inc.status == "open")))
    lines = _incident_lines(session, query)
    return DslSummary(
        school_id=school_id, school_name=config.school_name(school_id), start=start, end=end,
        incidents=tuple(lines),
        unacknowledged=tuple(line.id for line in lines if line.acknowledged_by is None
                             and line.status == "open"),
        repeat_authors=tuple(_repeat_authors(session, [line.id for line in lines])))


def headline(total: int, lines: Sequence[IncidentLine], threats: int) -> str:
    """One sentence: how the week was, its size, what needed action, threats."""
    still_open = sum(1 for line in lines if line.still_open)
    urgent = any(line.harm in URGENT_HARMS for line in lines if line.still_open)
    if not lines:
        mood = "A quiet week"
    elif still_open and urgent:
        mood = "A week that needs your attention"
    else:
        mood = "A quiet week" if len(lines) <= 3 and not threats else "A busy week"
    parts = [plural(total, "comment"), f"{len(lines) or 'none'} needed action",
             "no threats" if not threats else plural(threats, "threat")]
    if still_open:
        parts.insert(2, f"{still_open} still open")
    return f"{mood}: {', '.join(parts[:-1])} and {parts[-1]}"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# --- the school's own account -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OwnAccounts:
    """How the school's own posts are recognised: the connectors store the author's platform
    id, which is the source's account (a Page id, an X user id), and X sources name the
    account's handle in their settings."""

    ids: tuple[str, ...]
    handles: tuple[str, ...]

    @classmethod
    def of(cls, session: Session, school_id: str) -> OwnAccounts:
        ids, handles = set(), set()
        for account, settings in session.execute(
                select(models.Source.account, models.Source.settings)
                .where(models.Source.school_id == school_id)):
            ids.add(str(account))
            handle = str((settings or {}).get("handle") or "").strip().lstrip("@")
            if handle:
                handles.add(handle.lower())
        return cls(tuple(sorted(ids)), tuple(sorted(handles)))

    def match(self, item):  # an Item or an alias of it
        conditions = [item.author_id.in_(self.ids)] if self.ids else []
        if self.handles:
            conditions.append(func.lower(item.author_handle).in_(self.handles))
        return or_(*conditions) if conditions else None

    def excluded(self, item):
        found = self.match(item)
        return true() if found is None else ~found


# --- incidents ----------------------------------------------------------------------------------

def _needing_action(school_id: str, start: datetime, end: datetime):
    inc = models.Incident
    return select(inc).where(inc.school_id == school_id, inc.opened_at < end,
                             or_(inc.opened_at >= start, inc.status != "resolved"))


def _incident_lines(session: Session, query) -> list[IncidentLine]:
    rows = list(session.scalars(query))
    if not rows:
        return []
    first = incidents.leading_items(session, rows)
    lines = []
    for row in rows:
        item = first.get(row.id)
        ack = (row.acknowledged_at - row.opened_at if row.acknowledged_at is not None
               else None)
        lines.append(IncidentLine(
            id=row.id, severity=row.severity, harm=row.harm, status=row.status,
            categories=tuple(rules.by_severity(row.categories or [])),
            excerpt=excerpt(item.text) if item else "",
            permalink=item.permalink if item else "", platform=item.platform if item else "",
            item_count=row.item_count, opened_at=row.opened_at,
            acknowledged_by=row.acknowledged_by, time_to_acknowledge=ack,
            outcome=incidents.OUTCOMES.get(row.outcome or "", row.outcome),
            resolved_by=row.resolved_by))
    order = rules.SEVERITY_ORDER
    lines.sort(key=lambda line: (not line.still_open, order.index(line.severity)
                                 if line.severity in order else len(order), line.opened_at,
                                 line.id))
    return lines


def _repeat_authors(session: Session, incident_ids: list[int]) -> list[RepeatAuthor]:
    if not incident_ids:
        return []
    item, link = models.Item, models.IncidentItem
    seen: dict[tuple[str, str], set[int]] = defaultdict(set)
    names: dict[tuple[str, str], tuple[str, str]] = {}
    for platform, author_id, handle, name, incident_id in session.execute(
            select(item.platform, item.author_id, item.author_handle, item.author_name,
                   link.incident_id)
            .join(link, link.item_id == item.id)
            .where(link.incident_id.in_(incident_ids), item.author_id != "")):
        seen[(platform, author_id)].add(incident_id)
        names[(platform, author_id)] = (handle, name)
    return [RepeatAuthor(platform, author_id, *names[(platform, author_id)],
                         tuple(sorted(ids)))
            for (platform, author_id), ids in sorted(seen.items()) if len(ids) > 1]


# --- media enquiries ----------------------------------------------------------------------------

def _has_category(category: str):
    """The item has a verdict with this category. Categories are a JSON list, whose text holds
    each as "name" with the quotes. A correlated EXISTS, not a join: PostgreSQL estimates the
    LIKE at a handful of rows and would otherwise drive the query from a scan of every verdict
    of the trust; OFFSET 0 keeps it from being turned back into a join."""
    verdict = models.Verdict
    return exists(select(1).where(verdict.item_id == models.Item.id,
                                  cast(verdict.categories, String).like(f'%"{category}"%'))
                  .offset(0))


def _media(session: Session, school_id: str, start: datetime, end: datetime,
           own: OwnAccounts) -> list[MediaEnquiry]:
    item = models.Item
    rows = list(session.scalars(
        select(item)
        .where(item.school_id == school_id, item.created_at >= start, item.created_at < end,
               _has_category("media"), own.excluded(item))
        .order_by(item.created_at, item.id)))
    if not rows:
        return []
    ids = [row.id for row in rows]
    actions: dict[int, list[str]] = defaultdict(list)
    for item_id, action, actor in session.execute(
            select(models.Action.item_id, models.Action.action, models.Action.actor)
            .where(models.Action.item_id.in_(ids), models.Action.ok.is_(True))
            .order_by(models.Action.created_at, models.Action.id)):
        actions[item_id].append(f"{action} by {actor}")
    outcomes = dict(session.execute(
        select(models.IncidentItem.item_id, models.Incident.outcome)
        .join(models.Incident, models.Incident.id == models.IncidentItem.incident_id)
        .where(models.IncidentItem.item_id.in_(ids))).all())
    replies = _Replies.since(session, school_id, start, own)
    return [MediaEnquiry(
        item_id=row.id, platform=row.platform, author=_author(row.author_name,
                                                              row.author_handle),
        excerpt=excerpt(row.text), permalink=row.permalink, created_at=row.created_at,
        replied=replies.answered(row), actions=tuple(actions.get(row.id, ())),
        outcome=incidents.OUTCOMES.get(outcomes.get(row.id) or "", outcomes.get(row.id)))
        for row in rows]


# --- volumes ------------------------------------------------------------------------------------

def week_counts(session: Session, school_id: str, start: datetime, end: datetime,
             own: OwnAccounts) -> tuple[Counter[str], Counter[str], int]:
    """Items per platform and per category in [start, end), and how many were flagged. Grouped
    in SQL by platform and by the verdict's category list as text: a week has few distinct
    lists, however many items."""
    item, verdict = models.Item, models.Verdict
    listed = cast(verdict.categories, String)
    platforms: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    flagged = 0
    for platform, category_list, n in session.execute(
            select(item.platform, listed, func.count())
            .outerjoin(verdict, verdict.item_id == item.id)
            .where(item.school_id == school_id, item.created_at >= start,
                   item.created_at < end, own.excluded(item))
            .group_by(item.platform, listed)):
        platforms[platform] += n
        found = _parsed(category_list)
        for category in found or ["none"]:
            categories[category] += n
        if rules.severity_of(found) in FLAGGED:
            flagged += n
    return platforms, categories, flagged


def _parsed(listed: str | None) -> list[str]:
    if not listed:
        return []
    try:
        value = json.loads(listed)
    except ValueError:
        return []
    return [str(c) for c in value] if isinstance(value, list) else []


def compare(platforms: Counter[str], categories: Counter[str],
             earlier: list[tuple[Counter[str], Counter[str]]]) -> Volumes:
    weeks = max(len(earlier), 1)

    def rows(now: Counter[str], before: list[Counter[str]], order: Iterable[str]) -> tuple:
        names = set(now) | {name for week in before for name in week}
        ranked = [n for n in order if n in names] + sorted(names - set(order))
        return tuple(Volume(n, now.get(n, 0), round(sum(w.get(n, 0) for w in before) / weeks, 2))
                     for n in ranked)

    by_size = [n for n, _ in platforms.most_common()]
    return Volumes(platforms=rows(platforms, [p for p, _ in earlier], by_size),
                   categories=rows(categories, [c for _, c in earlier],
                                   [*rules.SEVERITY, "none"]))


# --- praise and complaints ----------------------------------------------------------------------

def _feelings(session: Session, config: Config, school_id: str, start: datetime, end: datetime,
              earlier: Sequence[Week], own: OwnAccounts) -> Feelings | None:
    removed = _names(session, config, school_id, start, end, earlier)
    praise = _standouts(session, school_id, "praise", start, end, earlier, own, removed)
    complaints = _standouts(session, school_id, "disparaging", start, end, earlier, own,
                            removed)
    return Feelings(tuple(praise), tuple(complaints)) if praise or complaints else None


def _texts(session: Session, school_id: str, category: str, weeks: Sequence[Week],
           own: OwnAccounts):
    item = models.Item
    when = or_(*(and_(item.created_at >= s, item.created_at < e) for s, e in weeks))
    return session.execute(
        select(item.id, item.text, item.author_name, item.author_handle, item.permalink)
        .where(item.school_id == school_id, when, _has_category(category),
               own.excluded(item), item.text != "")
        .order_by(item.created_at, item.id)
        .execution_options(yield_per=2000))


def _standouts(session: Session, school_id: str, category: str, start: datetime,
               end: datetime, earlier: Sequence[Week], own: OwnAccounts,
               removed: frozenset[str]) -> list[Standout]:
    week_rows = list(_texts(session, school_id, category, [(start, end)], own))
    if not week_rows:
        return []
    week = phrases.count((row.text for row in week_rows), removed)
    before = (phrases.count((row.text for row in _texts(session, school_id, category, earlier,
                                                        own)), removed)
              if earlier else Counter())
    found = phrases.stand_out(week, before)
    return [Standout(p.text, p.count, p.earlier, p.z, tuple(_examples(week_rows, p.text)))
            for p in found]


def _examples(rows, phrase: str) -> list[Example]:
    """The first comments of the week that say the phrase (read only until enough are found)."""
    saying = (row for row in rows if phrases.contains(row.text, phrase))
    return [Example(row.id, excerpt(row.text, 280), _author(row.author_name, row.author_handle),
                    row.permalink) for row in islice(saying, EXAMPLES)]


def _names(session: Session, config: Config, school_id: str, start: datetime, end: datetime,
           earlier: Sequence[Week]) -> frozenset[str]:
    """Every name the phrases must not show: the school's, its staff's (recipients in the
    config, console accounts), its pupils' (the pupil-name list) and the authors' of the
    comments being compared."""
    school = config.find_school(school_id)
    names: list[str] = [config.school_name(school_id)]
    if school is not None:
        names += [recipient.name for recipient in school.recipients]
    names += session.scalars(select(models.StaffUser.name)
                             .where(models.StaffUser.school_id == school_id))
    first = min([start, *(s for s, _ in earlier)])
    if school is not None:
        names += _pupil_names(session, config, school, first, end)
    item = models.Item
    for name, handle in session.execute(
            select(item.author_name, item.author_handle).distinct()
            .where(item.school_id == school_id, item.created_at >= first,
                   item.created_at < end)):
        names += [name, handle]
    # Words of the school's name that say what kind of place it is stay sayable.
    generic = {"school", "primary", "academy", "college", "infant", "junior", "high", "the",
               "of", "st", "church"}
    return phrases.name_words(names) - generic


def _pupil_names(session: Session, config: Config, school, first: datetime,
                 end: datetime) -> list[str]:
    """The words of the period's comments that are words of the school's pupil names. The list
    is held only as keyed digests, so each distinct word said is hashed and looked up."""
    from classifiers.names import NameListError
    from monitor.name_lists import pupil_names_for

    try:
        pupils = pupil_names_for(session, config, school, store=False)
    except NameListError as exc:  # the pipeline logs it too; the digest still goes out
        log.warning("school %s: the digest's phrases cannot leave out pupil names: %s",
                    school.id, exc)
        return []
    if not pupils:
        return []
    item = models.Item
    said: set[str] = set()
    for text in session.scalars(
            select(item.text).where(item.school_id == school.id, item.created_at >= first,
                                    item.created_at < end, item.text != "")
            .execution_options(yield_per=2000)):
        said.update(phrases.tokens(text))
    return [word for word in said if pupils.is_name_word(word)]


# --- unanswered questions -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Replies:
    """The school's own posts since a moment, by thread. The school answers a few dozen times a
    week: read once and matched here, rather than a correlated search of every item per
    question (a busy week has thousands of questions)."""

    by_conversation: dict[str, list[datetime]]
    by_parent: dict[str, list[datetime]]

    @classmethod
    def since(cls, session: Session, school_id: str, moment: datetime,
              own: OwnAccounts) -> _Replies:
        by_conversation: dict[str, list[datetime]] = defaultdict(list)
        by_parent: dict[str, list[datetime]] = defaultdict(list)
        mine = own.match(models.Item)
        if mine is not None:
            item = models.Item
            for conversation, parent, at in session.execute(
                    select(item.conversation_id, item.parent_id, item.created_at)
                    .where(item.school_id == school_id, item.created_at >= moment, mine)):
                if conversation:
                    by_conversation[conversation].append(at)
                if parent:
                    by_parent[parent].append(at)
        return cls(by_conversation, by_parent)

    def answered(self, item) -> bool:  # an Item, or a row with its thread's columns
        """A reply from the school's own account in the item's thread after it was posted."""
        times = (self.by_conversation.get(item.conversation_id, [])
                 if item.conversation_id else []) + self.by_parent.get(item.external_id, [])
        return any(at >= item.created_at for at in times)


def unanswered(session: Session, school_id: str, start: datetime, end: datetime,
                now: datetime, own: OwnAccounts) -> list[Question]:
    """Questions asked in the week, at least 48 hours before `now`, that the school's own
    account has not answered in their thread."""
    item = models.Item
    latest = min(end, now - ANSWER_WITHIN)
    rows = list(session.execute(
        select(item.id, item.platform, item.author_name, item.author_handle, item.text,
               item.permalink, item.created_at, item.conversation_id, item.external_id)
        .where(item.school_id == school_id, item.created_at >= start,
               item.created_at < latest, _has_category("question"), own.excluded(item))
        .order_by(item.created_at, item.id)))
    if not rows:
        return []
    replies = _Replies.since(session, school_id, start, own)
    return [Question(row.id, row.platform, _author(row.author_name, row.author_handle),
                     excerpt(row.text), row.permalink, row.created_at)
            for row in rows if not replies.answered(row)]


# --- connector health and cost ------------------------------------------------------------------

def _health(session: Session, school_id: str, start: datetime, end: datetime) -> Health | None:
    run, source = models.PollRun, models.Source
    sources = list(session.scalars(select(source).where(source.school_id == school_id)
                                   .order_by(source.id)))
    if not sources:
        return None
    polls = {sid: (n, failed) for sid, n, failed in session.execute(
        select(run.source_id, func.count(), func.count(run.error))
        .where(run.source_id.in_([s.id for s in sources]), run.started_at >= start,
               run.started_at < end)
        .group_by(run.source_id))}
    last_errors = dict(session.execute(
        select(run.source_id, run.error)
        .where(run.id.in_(select(func.max(run.id))
                          .where(run.source_id.in_([s.id for s in sources]),
                                 run.started_at >= start, run.started_at < end,
                                 run.error.is_not(None))
                          .group_by(run.source_id)))).all())
    unwell = []
    for s in sources:
        n, failed = polls.get(s.id, (0, 0))
        paused = s.paused_at is not None and s.paused_at < end
        if not (paused or failed):
            continue
        unwell.append(SourceHealth(
            source_id=s.id, platform=s.item_platform, account=s.account, name=s.name,
            paused=paused, paused_reason=s.paused_reason if paused else None, polls=n,
            failed_polls=failed,
            last_error=_one_line(last_errors.get(s.id) or (s.last_error if paused else None))))
    charged = _costs(session, sources, end)
    return Health(tuple(unwell), charged) if unwell or charged else None


def _costs(session: Session, sources: list[models.Source], end: datetime
           ) -> tuple[PlatformCost, ...]:
    estimates = costs.estimate(session, {s.id: s.platform for s in sources},
                               costs.connector_prices, now=end)
    by_platform: dict[str, list[costs.CostEstimate]] = defaultdict(list)
    for s in sources:
        by_platform[s.platform].append(estimates[s.id])
    shown = []
    for platform, found in sorted(by_platform.items()):
        paid = [e for e in found if not e.free]
        if not paid:
            continue
        known = [e.monthly for e in paid if e.monthly is not None]
        # A platform's figure is given only when every paid source on it has one: a partial
        # sum would look like the whole bill.
        shown.append(PlatformCost(platform, round(sum(known), 2)
                                  if len(known) == len(paid) else None))
    return tuple(shown)


# --- small helpers ------------------------------------------------------------------------------

def excerpt(text: str | None, limit: int = EXCERPT) -> str:
    """The text on one line, cut at a word near `limit` characters."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut.rstrip(",.;:") + "…"


def _author(name: str, handle: str) -> str:
    if name and handle and handle != name:
        return f"{name} (@{handle.lstrip('@')})"
    return name or (f"@{handle.lstrip('@')}" if handle else "someone")


def _one_line(text: str | None) -> str | None:
    return " ".join(text.split())[:200] if text else None
