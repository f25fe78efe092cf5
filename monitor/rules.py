"""Routing: what a verdict means for whom, and when.

category -> severity -> roles -> the school's recipients' URLs, with timing by severity:
urgent goes now, whatever the hour; high goes now, or when quiet hours end; normal and low wait for
the next batch. Flagged items on one thread are grouped into one incident, so a pile-on is one
alert and a few updates rather than fifty alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from classifiers.base import CATEGORIES
from monitor.config import Config, School

SEVERITY: dict[str, str] = {
    "threat": "urgent",
    "safeguarding": "urgent",
    "hateful": "high",
    "abusive": "high",
    "personal_data": "high",
    "disparaging": "normal",
    "media": "normal",
    "absence": "normal",
    "question": "low",
    "praise": "low",
    "spam": "low",
}
SEVERITY_ORDER = ("urgent", "high", "normal", "low")

DEFAULT_ROUTES: dict[str, tuple[str, ...]] = {
    "threat": ("dsl", "head", "digital_champion"),
    "safeguarding": ("dsl", "digital_champion"),
    "hateful": ("digital_champion", "head"),
    "abusive": ("digital_champion",),
    "personal_data": ("digital_champion",),
    "disparaging": ("digital_champion",),
    "media": ("head",),
    "absence": ("digital_champion",),
    "question": ("digital_champion",),
    "praise": (),  # the weekly digest only
    "spam": ("digital_champion",),
}
assert set(SEVERITY) == set(CATEGORIES) == set(DEFAULT_ROUTES)

# Categories that describe harm to moderate; flagged items of these on one thread are one incident.
HARMFUL = ("threat", "safeguarding", "hateful", "abusive", "personal_data", "disparaging")
# Hostility is what piles on: past PILE_ON such comments are folded into the incident's updates.
# A threat, a disclosure or a pupil's details always get an alert of their own.
FOLDABLE = ("hateful", "abusive", "disparaging")
# Categories whose items usually need hiding, deleting or blocking.
MODERATE = ("threat", "safeguarding", "hateful", "abusive", "personal_data", "absence", "spam")
# How long a thread's incident stays the place new flagged items join.
INCIDENT_WINDOW = timedelta(hours=6)
# The first flagged items on a thread are alerted one by one; at PILE_ON the thread becomes a
# pile-on, told once, then updated when its count reaches one of UPDATE_AT.
PILE_ON = 3
UPDATE_AT = (PILE_ON, 10, 25, 50, 100)

ADVICE: dict[str, str] = {
    "threat": "Treat as a possible threat: tell the DSL and head now; if anyone is in danger call "
              "999. Screenshot it (time, date, place) before hiding it, then hide and block.",
    # No "call 999" here: whether the police are needed is the DSL's decision.
    "safeguarding": "Safeguarding: the DSL follows the school's procedure today. Do not discuss "
                    "it on social media; screenshot it, then hide it.",
    "hateful": "Record it (screenshot with time, date, place), then delete it and block the "
               "author, as the social media policy says.",
    "abusive": "Record it (screenshot with time, date, place), then hide or delete it; block "
               "the author if it is aimed at staff or pupils.",
    "personal_data": "It may identify a pupil or share contact details: hide it now and ask "
                     "the author privately to repost without them.",
    "disparaging": "Reply calmly and offer to talk privately (office phone or email); do not "
                   "argue in public. Hide only if it makes allegations about named people.",
    "media": "A journalist or media enquiry: refer it to the headteacher; do not comment.",
    "absence": "Absence must not be reported on social media: hide it and ask the parent to "
               "ring or email the office.",
    "question": "A question to answer, publicly or by private message.",
    "praise": "Praise: a thank-you goes a long way.",
    "spam": "Spam or a scam: delete it and block the account.",
}

# The classifier's reason for a comment alleging that a member of staff harmed a child or behaves
# inappropriately with children (matched as part of any safeguarding reason).
STAFF_ALLEGATION_REASON = "allegation about staff"
# Keeping Children Safe in Education, part four: such an allegation goes to the headteacher, or to
# the chair of governors when it concerns the head, the same day; staff do not investigate it or
# approach the person named. The police are the head's call, so no "call 999" unless the comment
# is also a threat (then the threat advice comes first).
STAFF_ALLEGATION_ADVICE = (
    "Allegation about a member of staff: follow the allegations procedure (Keeping Children Safe "
    "in Education, part four). Refer it to the headteacher today, or to the chair of governors if "
    "it concerns the headteacher. Do not investigate it or contact the person named. Screenshot "
    "it (time, date, place), then hide it."
)


def alleges_about_staff(reasons: Mapping[str, Iterable[str]]) -> bool:
    """Whether a verdict's safeguarding reasons include an allegation about a member of staff."""
    return any(STAFF_ALLEGATION_REASON in str(reason).lower()
               for reason in reasons.get("safeguarding") or ())


def advice_for(categories: Iterable[str], reasons: Mapping[str, Iterable[str]]) -> str:
    """What to do next about a flagged item, for its most serious category and its reasons."""
    categories = [c for c in categories if c in SEVERITY]
    if not categories:
        return ""
    if "safeguarding" in categories and alleges_about_staff(reasons):
        if "threat" in categories:
            return f"{ADVICE['threat']} {STAFF_ALLEGATION_ADVICE}"
        return STAFF_ALLEGATION_ADVICE
    top = min(categories, key=lambda c: SEVERITY_ORDER.index(SEVERITY[c]))
    return ADVICE[top]


def severity_of(categories: Iterable[str]) -> str | None:
    levels = [SEVERITY[c] for c in categories if c in SEVERITY]
    return min(levels, key=SEVERITY_ORDER.index) if levels else None


def roles_for(school: School, categories: Iterable[str]) -> list[str]:
    roles: list[str] = []
    for category in categories:
        for role in school.routes.get(category, DEFAULT_ROUTES.get(category, ())):
            if role not in roles:
                roles.append(role)
    return roles


def categories_by_role(school: School) -> dict[str, list[str]]:
    """Which categories each role is told about at this school."""
    found: dict[str, list[str]] = {}
    for category in CATEGORIES:
        for role in roles_for(school, [category]):
            found.setdefault(role, []).append(category)
    return found


@dataclass(frozen=True)
class Destination:
    destination: str  # the URL or reference as written in the config
    roles: tuple[str, ...]


def destinations(school: School, roles: Iterable[str]) -> list[Destination]:
    """The school's URLs for these roles; a URL shared by several roles is one destination."""
    found: dict[str, list[str]] = {}
    for role in roles:
        for recipient in school.recipients:
            if recipient.role == role:
                for url in recipient.urls:
                    found.setdefault(url, [])
                    if role not in found[url]:
                        found[url].append(role)
    return [Destination(url, tuple(r)) for url, r in found.items()]


def in_quiet_hours(config: Config, school: School, at: datetime) -> datetime | None:
    """If `at` falls in the school's quiet hours, when they end (UTC); otherwise None."""
    quiet = school.quiet_hours
    if quiet is None or quiet.start == quiet.end:
        return None
    local = at.astimezone(ZoneInfo(config.school_timezone(school)))
    now, start, end = local.time(), quiet.start, quiet.end
    inside = (start <= now or now < end) if start > end else (start <= now < end)
    if not inside:
        return None
    end_day = local.date() if now < end else local.date() + timedelta(days=1)
    wake = datetime.combine(end_day, end, tzinfo=local.tzinfo)
    return wake.astimezone(at.tzinfo)


def send_at(config: Config, school: School, severity: str, now: datetime) -> datetime:
    """When a delivery of this severity may first be attempted."""
    if severity == "urgent":
        return now
    quiet_end = in_quiet_hours(config, school, now)
    if severity == "high":
        return quiet_end or now
    interval = config.daemon.batch_interval
    slot = datetime.fromtimestamp((now.timestamp() // interval + 1) * interval, tz=now.tzinfo)
    wake = in_quiet_hours(config, school, slot)
    return wake or slot


def describe_scores(scores: Mapping[str, float], categories: Iterable[str]) -> str:
    return ", ".join(f"{c} {scores.get(c, 0.0):.2f}" for c in categories)
