"""The trust's weekly roll-up, as data: one row per school (volume, incidents by severity, open
incidents, unanswered questions, each school's volumes for its small chart) and the schools that
need attention first, each with its reasons in words. No rendering, no sending.

Each school's week is the ISO week in its own timezone. Everything is counted in SQL, grouped,
through the same queries as the head's digest (monitor.digest.content), so a school's row agrees
with its own digest; the phrase analysis and the incident and media listings of a head's digest
are not built here: fifty schools must roll up in seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor import models
from monitor.config import Config, School
from monitor.digest import content, weeks
from monitor.message import PLATFORM_NAMES

SEVERITIES = ("urgent", "high", "normal")
# How many unanswered questions make a school one to look at: one or two may be waiting on the
# office; more is a school falling behind on answering.
UNANSWERED_AT = 3
# A week this many times its usual size, and at least this many comments more, is a jump worth
# a look (a pile-on, a story in the local paper); a small school going from 2 to 5 is not.
JUMP_RATIO = 2.0
JUMP_AT_LEAST = 20
# The name used when the config has no [trust] table (a preview over all its schools).
ALL_SCHOOLS = "All schools"


@dataclass(frozen=True)
class SchoolRow:
    school_id: str
    school_name: str
    total: int  # comments and mentions this week (the school's own posts left out)
    average: float  # weekly average over the four weeks before
    # Incidents needing action opened this week, by severity: always "urgent", "high", "normal".
    incidents: dict[str, int]
    open_incidents: int  # the school's incidents not resolved at the end of the week, however old
    unanswered: int  # questions unanswered after 48 hours
    attention: tuple[str, ...]  # why this school needs attention, in words; empty when fine
    volumes: content.Volumes | None  # per platform and category, this week against the average


@dataclass(frozen=True)
class TrustDigest:
    trust_name: str
    week_label: str
    first_day: date
    last_day: date
    headline: str  # one sentence
    schools: tuple[SchoolRow, ...]  # all schools, by name
    needs_attention: tuple[SchoolRow, ...]  # schools with reasons, the most pressing first


def trust_rollup(session: Session, config: Config, week_label: str, *,
                 now: datetime | None = None) -> TrustDigest:
    """The roll-up over every school in the config for the ISO week `week_label` ("2026-W47"),
    each school's week in its own timezone. `now` is when it is built (questions younger than 48
    hours then are not yet unanswered); by default the end of each school's week."""
    week = weeks.week_of(week_label)
    rated = [_rate(session, config, school, week.label, now) for school in config.schools]
    rows = sorted((row for row, _ in rated), key=lambda row: (row.school_name.casefold(),
                                                               row.school_id))
    pressing = [row for row, _ in sorted(rated, key=lambda pair: pair[1]) if row.attention]
    return TrustDigest(
        trust_name=config.trust.name if config.trust else ALL_SCHOOLS,
        week_label=week.label, first_day=week.first_day, last_day=week.last_day,
        headline=headline(rows, len(pressing)),
        schools=tuple(rows), needs_attention=tuple(pressing))


def headline(rows: list[SchoolRow], needing_attention: int) -> str:
    """"12 schools, 3,410 comments, 7 needed action, 2 schools need attention"."""
    needed = sum(sum(row.incidents.values()) for row in rows)
    action = f"{needed:,} needed action" if needed else "none needed action"
    attention = ("no school needs attention" if not needing_attention else
                 "1 school needs attention" if needing_attention == 1 else
                 f"{needing_attention} schools need attention")
    return (f"{content.plural(len(rows), 'school')}, "
            f"{content.plural(sum(row.total for row in rows), 'comment')}, "
            f"{action}, {attention}")


# --- one school ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Counts:
    total: int
    average: float
    volumes: content.Volumes | None
    opened: dict[str, int]
    still_open: Counter[str]  # by severity
    unanswered: int
    sources: tuple[tuple[str, str], ...]  # (platform, "failing" or "paused")


def _rate(session: Session, config: Config, school: School, label: str,
          now: datetime | None) -> tuple[SchoolRow, tuple]:
    """The school's row, and how pressing it is (smaller sorts first)."""
    week = weeks.week_of(label, config.school_timezone(school))
    counts = _count(session, school.id, week, now or week.end)
    jump = _jump(counts.total, counts.average)
    unanswered = counts.unanswered if counts.unanswered >= UNANSWERED_AT else 0
    reasons = _reasons(counts, unanswered, jump)
    row = SchoolRow(
        school_id=school.id, school_name=school.name, total=counts.total,
        average=counts.average, incidents=counts.opened,
        open_incidents=sum(counts.still_open.values()), unanswered=counts.unanswered,
        attention=tuple(reasons), volumes=counts.volumes)
    urgency = (-counts.still_open["urgent"], -counts.still_open["high"], -unanswered, -jump,
               -len(counts.sources), school.name.casefold(), school.id)
    return row, urgency


def _reasons(counts: _Counts, unanswered: int, jump: float) -> list[str]:
    """Why a school needs attention, in words, the most pressing first."""
    reasons = []
    for severity, words in (("urgent", "urgent incident"), ("high", "high-severity incident")):
        if counts.still_open[severity]:
            reasons.append(f"{content.plural(counts.still_open[severity], words)} still open")
    if unanswered:
        reasons.append(f"{content.plural(unanswered, 'question')} unanswered")
    if jump:
        reasons.append(_jump_words(counts.total, counts.average))
    reasons += [f"{PLATFORM_NAMES.get(platform, platform.title())} source {state}"
                for platform, state in counts.sources]
    return reasons


def _count(session: Session, school_id: str, week: weeks.SchoolWeek, now: datetime) -> _Counts:
    # content's private helpers, so that a row counts exactly as the school's own digest does.
    own = content.OwnAccounts.of(session, school_id)
    platforms, categories, _ = content.week_counts(session, school_id, week.start, week.end, own)
    earlier = [content.week_counts(session, school_id, w.start, w.end, own)[:2]
               for w in weeks.earlier_weeks(week)]
    total = sum(platforms.values())
    average = round(sum(sum(p.values()) for p, _ in earlier) / max(len(earlier), 1), 2)
    volumes = content.compare(platforms, categories, earlier) if total or average else None
    unanswered = content.unanswered(session, school_id, week.start, week.end, now, own)
    return _Counts(total=total, average=average, volumes=volumes,
                   opened=_opened(session, school_id, week),
                   still_open=_still_open(session, school_id, week),
                   unanswered=len(unanswered), sources=_unwell_sources(session, school_id, week))


def _opened(session: Session, school_id: str, week: weeks.SchoolWeek) -> dict[str, int]:
    inc = models.Incident
    found = dict(session.execute(
        select(inc.severity, func.count())
        .where(inc.school_id == school_id, inc.opened_at >= week.start, inc.opened_at < week.end)
        .group_by(inc.severity)).all())
    return {severity: found.get(severity, 0) for severity in SEVERITIES}


def _still_open(session: Session, school_id: str, week: weeks.SchoolWeek) -> Counter[str]:
    """Incidents opened before the week ended and not resolved by then (one resolved since, as
    when an older week is previewed, was still open at the end of that week)."""
    inc = models.Incident
    return Counter(dict(session.execute(
        select(inc.severity, func.count())
        .where(inc.school_id == school_id, inc.opened_at < week.end,
               or_(inc.status != "resolved", inc.resolved_at >= week.end))
        .group_by(inc.severity)).all()))


def _unwell_sources(session: Session, school_id: str, week: weeks.SchoolWeek
                    ) -> tuple[tuple[str, str], ...]:
    """(platform, state) for each platform with a source paused by the end of the week or whose
    last poll of the week failed: one failed poll among many, recovered since, is not news for a
    trust."""
    run, source = models.PollRun, models.Source
    last_polls = (select(func.max(run.id)).join(source, source.id == run.source_id)
                  .where(source.school_id == school_id, run.started_at >= week.start,
                         run.started_at < week.end)
                  .group_by(run.source_id))
    failing = set(session.scalars(
        select(source.item_platform).join(run, run.source_id == source.id)
        .where(run.id.in_(last_polls), run.error.is_not(None))))
    paused = set(session.scalars(
        select(source.item_platform)
        .where(source.school_id == school_id, source.paused_at.is_not(None),
               source.paused_at < week.end)))
    return tuple([(platform, "paused") for platform in sorted(paused)]
                 + [(platform, "failing") for platform in sorted(failing - paused)])


def _jump(total: int, average: float) -> float:
    """How far above the usual week this one is, as a fraction (1.8 for up 180%), when that is
    a jump worth a look; otherwise 0."""
    if total - average < JUMP_AT_LEAST or total < JUMP_RATIO * average:
        return 0.0
    return (total - average) / average if average else float(total)


def _jump_words(total: int, average: float) -> str:
    if not average:
        return f"{content.plural(total, 'comment')} where a usual week has none"
    return f"comments up {round((total - average) / average * 100)}% on the usual week"
