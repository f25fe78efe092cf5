"""IT's weekly follower report for one school account, and the counts the head's digest shows.

The report says who followed, who left, who came back and who changed their handle between two
times, and puts first the followers screening found of concern (`monitor.screening`) and those on
the watchlist. It is written once as a `monitor.digest.document.Document`, so the text, markdown
and HTML say the same thing, and everything from the platform is escaped by those renderers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor import alerts, message, models, rules, watchlist
from monitor.config import Config, School
from monitor.digest import document as doc
from monitor.digest.weeks import SchoolWeek
from monitor.screening import Screening

FOLLOWERS = "followers"
# The alert that carries the weekly report to IT by email, on the school's digest day.
ALERT_KIND = alerts.FOLLOWER_REPORT
SEVERITY = "normal"
ROLE = "it"
# A list longer than this is cut in an email, with the command that shows it all.
LONGEST_LIST = 100

# Entries on the watchlist that a follower matches: (reason, what the entry matches), given the
# report's session, school id, the follower and when. `monitor.watchlist.matches` by default.
WatchlistMatcher = Callable[[Session, str, models.Follower, datetime],
                            Sequence[tuple[str, str]]]


class ReportError(ValueError):
    """A report that cannot be made, in one line (an unknown account)."""


@dataclass(frozen=True)
class FollowerLine:
    follower_id: int
    account_id: str
    handle: str
    name: str
    at: datetime  # when they followed, left or came back
    url: str | None  # their profile, where the platform has an address for it
    event: str  # follow, refollow, unfollow, handle_change
    bio: str = ""
    flags: tuple[str, ...] = ()  # screening's reasons, for those of concern
    watchlist: tuple[str, ...] = ()  # why they are watched, for those on the watchlist


@dataclass(frozen=True)
class HandleChange:
    follower_id: int
    account_id: str
    old: str
    new: str
    at: datetime
    url: str | None


@dataclass(frozen=True)
class FollowerReport:
    school_id: str
    school_name: str
    source_id: int
    platform: str
    account: str  # the school account's label: its name, and handle where known
    account_id: str  # the school account's platform id, as `--account` takes it
    timezone: str
    since: datetime
    until: datetime
    following_now: int
    new: tuple[FollowerLine, ...]
    unfollowed: tuple[FollowerLine, ...]
    refollowed: tuple[FollowerLine, ...]
    handle_changes: tuple[HandleChange, ...]
    of_concern: tuple[FollowerLine, ...]
    watchlisted: tuple[FollowerLine, ...]
    # New and returning followers not screened yet (screening runs after each sync).
    unscreened: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "unfollowed": len(self.unfollowed),
                "refollowed": len(self.refollowed), "handle_changes": len(self.handle_changes),
                "of_concern": len(self.of_concern), "watchlisted": len(self.watchlisted)}


# --- gathering ---------------------------------------------------------------------------------

def find_source(session: Session, source_id_or_account: int | str) -> models.Source:
    """The followers source by its id (an int), or by the school account's platform id or
    handle (a string)."""
    if isinstance(source_id_or_account, int):
        source = session.get(models.Source, source_id_or_account)
        if source is None or source.kind != FOLLOWERS:
            raise ReportError(f"source {source_id_or_account} is not a followers source")
        return source
    wanted = source_id_or_account.strip().lstrip("@")
    sources = list(session.scalars(select(models.Source).where(models.Source.kind == FOLLOWERS)
                                   .order_by(models.Source.id)))
    found = [s for s in sources if s.account == wanted] or [
        s for s in sources if str((s.settings or {}).get("handle", "")).lstrip("@").lower()
        == wanted.lower()]
    if not found:
        known = ", ".join(s.account for s in sources) or "none"
        raise ReportError(f"no followers source for account {wanted!r} (followers sources: "
                          f"{known})")
    if len(found) > 1:
        raise ReportError(f"account {wanted!r} has followers sources in several schools: give "
                          f"the source id ({', '.join(str(s.id) for s in found)})")
    return found[0]


def follower_report(session: Session, config: Config, source_id_or_account: int | str,
                    since: datetime, until: datetime, *,
                    watchlist_matches: WatchlistMatcher | None = None) -> FollowerReport:
    """The report for one followers source between `since` (included) and `until` (not)."""
    source = find_source(session, source_id_or_account)
    school = config.find_school(source.school_id)
    timezone = config.school_timezone(school) if school else config.daemon.timezone
    matcher = watchlist_matches or _watchlist_matches
    events = list(session.execute(
        select(models.FollowerEvent, models.Follower)
        .join(models.Follower, models.Follower.id == models.FollowerEvent.follower_id)
        .where(models.Follower.source_id == source.id, models.FollowerEvent.at >= since,
               models.FollowerEvent.at < until)
        .order_by(models.FollowerEvent.at, models.FollowerEvent.id)))
    lines: dict[str, list[FollowerLine]] = {"follow": [], "refollow": [], "unfollow": []}
    changes: list[HandleChange] = []
    concern: dict[int, FollowerLine] = {}
    watched: dict[int, FollowerLine] = {}
    unscreened: set[int] = set()
    for event, follower in events:
        if event.kind == "handle_change":
            detail = event.detail or {}
            changes.append(HandleChange(follower.id, follower.account_id,
                                        str(detail.get("from", "")),
                                        str(detail.get("to", follower.handle)), event.at,
                                        profile_url(follower.platform, follower.handle)))
            continue
        if event.kind not in lines:
            continue  # a name change shows in the follower's current name
        line = _line(follower, event)
        lines[event.kind].append(line)
        reasons = tuple(f"{reason} ({what})" for reason, what in
                        matcher(session, source.school_id, follower, until))
        if reasons:
            watched[follower.id] = _with(line, watchlist=reasons)
        if event.kind == "unfollow":
            continue
        screening = Screening.from_json(follower.screening)
        if screening is None:
            unscreened.add(follower.id)
        elif screening.concern:
            concern[follower.id] = _with(line, flags=screening.flags)
    return FollowerReport(
        school_id=source.school_id, school_name=config.school_name(source.school_id),
        source_id=source.id, platform=source.item_platform, account=_account_label(source),
        account_id=source.account,
        timezone=timezone, since=since, until=until,
        following_now=following_count(session, source.id),
        new=tuple(lines["follow"]), unfollowed=tuple(lines["unfollow"]),
        refollowed=tuple(lines["refollow"]), handle_changes=tuple(changes),
        of_concern=tuple(concern.values()), watchlisted=tuple(watched.values()),
        unscreened=len(unscreened))


def _watchlist_matches(session: Session, school_id: str, follower: models.Follower,
                       now: datetime) -> list[tuple[str, str]]:
    entries = watchlist.matches(session, school_id, follower.platform, follower.account_id,
                                follower.handle, follower.name, now)
    return [(entry.reason, watchlist.describe_match(entry)) for entry in entries]


def _line(follower: models.Follower, event: models.FollowerEvent) -> FollowerLine:
    return FollowerLine(follower.id, follower.account_id, follower.handle, follower.name,
                        event.at, profile_url(follower.platform, follower.handle), event.kind,
                        follower.bio or "")


def _with(line: FollowerLine, **changes) -> FollowerLine:
    return replace(line, **changes)


def profile_url(platform: str, handle: str) -> str | None:
    """The follower's profile page, for the platforms that give one by handle."""
    handle = handle.strip().lstrip("@")
    if not handle:
        return None
    if platform == "x":
        return f"https://x.com/{handle}"
    return None


def _account_label(source: models.Source) -> str:
    handle = str((source.settings or {}).get("handle", "")).lstrip("@")
    name = source.name or f"{_platform(source.item_platform)} account {source.account}"
    return f"{name} (@{handle})" if handle else name


def following_count(session: Session, source_id: int) -> int:
    return session.scalar(select(func.count()).select_from(models.Follower)
                          .where(models.Follower.source_id == source_id,
                                 models.Follower.unfollowed_at.is_(None))) or 0


# --- the head's digest -------------------------------------------------------------------------

def follower_counts(session: Session, school_id: str, start: datetime,
                    end: datetime) -> dict[str, int]:
    """Across the school's followers sources, between `start` (included) and `end` (not):
    `new` follows and re-follows, `lost` unfollows, and `of_concern`, the new and returning
    followers screening found of concern. Each follower counts once in each."""
    rows = session.execute(
        select(models.FollowerEvent.kind, models.Follower.id, models.Follower.screening)
        .join(models.Follower, models.Follower.id == models.FollowerEvent.follower_id)
        .join(models.Source, models.Source.id == models.Follower.source_id)
        .where(models.Source.school_id == school_id, models.Source.kind == FOLLOWERS,
               models.FollowerEvent.kind.in_(("follow", "refollow", "unfollow")),
               models.FollowerEvent.at >= start, models.FollowerEvent.at < end))
    new: set[int] = set()
    lost: set[int] = set()
    concern: set[int] = set()
    for kind, follower_id, screening in rows:
        if kind == "unfollow":
            lost.add(follower_id)
            continue
        new.add(follower_id)
        found = Screening.from_json(screening)
        if found is not None and found.concern:
            concern.add(follower_id)
    return {"new": len(new), "lost": len(lost), "of_concern": len(concern)}


# --- the weekly email ---------------------------------------------------------------------------

def report_key(source_id: int, week_label: str) -> str:
    """The outbox key of one weekly report: "follower_report:7:2026-W48"."""
    return f"{ALERT_KIND}:{source_id}:{week_label}"


def enqueue_follower_reports(session: Session, config: Config,
                             now: datetime) -> list[models.Alert]:
    """Queue IT's weekly follower report, once per followers source and ISO week, for each
    school whose digest is due by `now` (its [digest] day and time, as the head's digest), in
    the caller's transaction; the alerts queued. The report covers the week the digest covers
    and is rendered now and kept in the alert (text as its body, markdown and HTML in
    `details["digest"]`, as a digest's), so a retry sends the same report. A school without an
    IT recipient gets none. Cheap when nothing is due: only the schedules are looked at."""
    from monitor.digest.send import due_week_of  # the digest's own due rule

    due = {school.id: (school, week) for school in config.schools
           if (week := due_week_of(school.digest, config.school_timezone(school), now))
           is not None and rules.destinations(school, [ROLE])}
    if not due:
        return []
    sources = list(session.scalars(
        select(models.Source).where(models.Source.kind == FOLLOWERS,
                                    models.Source.enabled.is_(True),
                                    models.Source.school_id.in_(list(due)))
        .order_by(models.Source.id)))
    keys = {source.id: report_key(source.id, due[source.school_id][1].label)
            for source in sources}
    queued = set(session.scalars(select(models.Alert.dedupe_key)
                                 .where(models.Alert.dedupe_key.in_(list(keys.values())))))
    done = []
    for source in sources:
        if keys[source.id] in queued:
            continue
        school, week = due[source.school_id]
        alert = _queue_report(session, config, school, source, week, keys[source.id], now)
        if alert is not None:
            done.append(alert)
    return done


def _queue_report(session: Session, config: Config, school: School, source: models.Source,
                  week: SchoolWeek, key: str, now: datetime) -> models.Alert | None:
    from monitor.digest.send import report_details, store_report  # it imports this module

    report = follower_report(session, config, source.id, week.start, week.end)
    document = to_document(report)
    alert = models.Alert(
        dedupe_key=key, school_id=school.id, kind=ALERT_KIND, severity=SEVERITY,
        categories=[], title=f"[For IT] Weekly follower report - {school.name} - "
                             f"{_platform(source.item_platform)} - week {week.label}",
        body=doc.render_text(document), created_at=now,
        details=report_details(ALERT_KIND, week.label, doc.render_html(document),
                               doc.render_markdown(document)))
    # Another daemon queuing the same report wins.
    return store_report(session, alert, rules.destinations(school, [ROLE]), now)


# --- rendering ---------------------------------------------------------------------------------

def to_document(report: FollowerReport) -> doc.Document:
    counts = report.counts
    headline = (f"{_plural(counts['new'], 'new follower')}, {counts['unfollowed']:,} unfollowed, "
                f"{counts['refollowed']:,} came back; {counts['of_concern']:,} of concern")
    if counts["watchlisted"]:
        headline += f", {counts['watchlisted']:,} on the watchlist"
    lead: list[doc.Block] = [
        doc.Paragraph((headline,), "lead"),
        doc.Paragraph((f"{report.account}, {report.school_name}: "
                       f"{_day(report.since, report.timezone)} to "
                       f"{_day(report.until, report.timezone, end=True)}. "
                       f"{report.following_now:,} follow the account now.",), "muted")]
    if report.unscreened:
        lead.append(doc.Paragraph((f"{_plural(report.unscreened, 'follower')} not screened "
                                   "yet: screening runs after each sync.",), "warning"))
    sections = [
        _section("Of concern", report.of_concern, report, details=True),
        _section("On the watchlist", report.watchlisted, report, details=True),
        _section("New followers", report.new, report),
        _section("Came back", report.refollowed, report),
        _section("Unfollowed", report.unfollowed, report),
        doc.Section("Handle changes", _change_blocks(report)),
    ]
    since = report.since.astimezone(ZoneInfo(report.timezone))
    footer = (doc.Paragraph((
        f"Times are {report.timezone}. All of it: hallmonitor followers report --account "
        f"{report.account_id} --since {since:%Y-%m-%d}",), "muted"),)
    return doc.Document(f"Followers of {report.account}", tuple(lead), tuple(sections), footer)


def _section(title: str, lines: Sequence[FollowerLine], report: FollowerReport, *,
             details: bool = False) -> doc.Section:
    if not lines:
        return doc.Section(f"{title} (0)", (doc.Paragraph(("None.",), "muted"),))
    shown = lines[:LONGEST_LIST]
    entries = tuple(_entry(line, report.timezone, details) for line in shown)
    blocks: list[doc.Block] = [doc.Entries(entries)]
    if len(lines) > len(shown):
        blocks.append(doc.Paragraph((f"and {len(lines) - len(shown):,} more.",), "muted"))
    return doc.Section(f"{title} ({len(lines):,})", tuple(blocks))


_EVENT_WORDS = {"follow": "followed", "refollow": "followed again", "unfollow": "unfollowed"}


def _entry(line: FollowerLine, timezone: str, details: bool) -> doc.Entry:
    first: doc.Line = (_who_link(line.handle, line.name, line.account_id, line.url),
                       f", {_EVENT_WORDS.get(line.event, line.event)} {_when(line.at, timezone)}")
    if not details:
        return doc.Entry(first)
    rest: list[doc.Line | doc.Quote] = [(doc.Strong("Watchlist: "), why)
                                        for why in line.watchlist]
    rest += [(flag,) for flag in line.flags]
    if line.bio.strip():
        rest.append(doc.Quote(line.bio))  # as written: the renderers escape it
    return doc.Entry(first, tuple(rest))


def _who_link(handle: str, name: str, account_id: str, url: str | None) -> doc.Inline:
    shown = f"@{handle}" if handle else f"id {account_id}"
    if name and name != handle:
        shown += f" ({name})"
    return doc.Link(shown, url)


def _change_blocks(report: FollowerReport) -> tuple[doc.Block, ...]:
    if not report.handle_changes:
        return (doc.Paragraph(("None.",), "muted"),)
    return (doc.Entries(tuple(
        doc.Entry((f"@{change.old} is now ", doc.Link(f"@{change.new}", change.url),
                   f" (id {change.account_id}), {_when(change.at, report.timezone)}"))
        for change in report.handle_changes[:LONGEST_LIST])),)


def render_text(report: FollowerReport) -> str:
    return doc.render_text(to_document(report))


def render_markdown(report: FollowerReport) -> str:
    return doc.render_markdown(to_document(report))


def render_html(report: FollowerReport) -> str:
    return doc.render_html(to_document(report))


def _when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def _day(moment: datetime, timezone: str, *, end: bool = False) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    if end and (local.hour, local.minute, local.second) == (0, 0, 0):
        # An end at midnight is the day before, shown as people say it ("to Sunday").
        local -= timedelta(days=1)
    return f"{local:%a} {local.day} {local:%b %Y}"


def _platform(name: str) -> str:
    return message.PLATFORM_NAMES.get(name, name)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word if n == 1 else word + 's'}"
