"""Routing: what a verdict means for whom, and when.

category -> severity -> roles -> the school's recipients' URLs, with timing by severity:
urgent goes now, whatever the hour; high goes now, or when quiet hours end; normal and low wait for
the next batch. Flagged items on one thread are grouped into one incident, so a pile-on is one
alert and a few updates rather than fifty alerts.
"""

from __future__ import annotations

import re
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

# What to do next, as short steps, by category. A step shared by several categories is written
# once (the same string), so an alert about a comment in several categories gives it once.
SCREENSHOT = "Screenshot it first, with the time, date and where it was posted."
HIDE = "Then hide the comment."
HIDE_IT = "Then hide it."
HIDE_AND_BLOCK = "Then hide the comment and block the author."
DELETE_AND_BLOCK = "Then delete it and block the author, as the social media policy says."
HIDE_OR_DELETE = "Then hide or delete it; block the author if it is aimed at staff or pupils."
REPLY_CALMLY = ("Reply calmly and offer to talk privately (office phone or email); do not argue "
                "in public.")
HIDE_IF_NAMED = "Hide it only if it makes allegations about named people."
HIDE_PERSONAL = "Hide it now: it may identify a pupil or share contact details."
HIDE_ABSENCE = "Hide it: absence must not be reported on social media."
# A step that says less than another already given is left out ("hide" after "hide and block").
# Nobody replies in public to abuse, hate, a threat or a safeguarding matter: a complaint's advice
# gives way to theirs.
_REMOVED = (HIDE, HIDE_IT, HIDE_AND_BLOCK, DELETE_AND_BLOCK, HIDE_OR_DELETE)
_COVERED_BY: dict[str, tuple[str, ...]] = {
    HIDE: (HIDE_AND_BLOCK, DELETE_AND_BLOCK, HIDE_OR_DELETE),
    HIDE_IT: (HIDE, HIDE_AND_BLOCK, DELETE_AND_BLOCK, HIDE_OR_DELETE),
    HIDE_OR_DELETE: (DELETE_AND_BLOCK,),
    REPLY_CALMLY: _REMOVED,
    HIDE_IF_NAMED: (*_REMOVED, HIDE_PERSONAL, HIDE_ABSENCE),
}

ADVICE_STEPS: dict[str, tuple[str, ...]] = {
    "threat": ("If anyone is in danger now, call 999.",
               "Tell the DSL and the headteacher now.",
               SCREENSHOT, HIDE_AND_BLOCK),
    # No "call 999" here: whether the police are needed is the DSL's decision.
    "safeguarding": ("Tell the DSL: they follow the school's safeguarding procedure today.",
                     "Do not discuss it on social media or reply to it.",
                     SCREENSHOT, HIDE),
    "hateful": (SCREENSHOT, DELETE_AND_BLOCK),
    "abusive": (SCREENSHOT, HIDE_OR_DELETE),
    "personal_data": (HIDE_PERSONAL,
                      "Ask the author privately to repost without them."),
    "disparaging": (REPLY_CALMLY, HIDE_IF_NAMED),
    "media": ("A journalist or media enquiry: refer it to the headteacher and do not comment.",),
    "absence": (HIDE_ABSENCE,
                "Ask the parent to ring or email the office instead."),
    "question": ("Answer it, publicly or by private message.",),
    "praise": ("A thank-you goes a long way.",),
    "spam": ("Spam or a scam: do not open its links.", "Delete it and block the account."),
}
assert set(ADVICE_STEPS) == set(SEVERITY)
# The same advice as one paragraph per category.
ADVICE: dict[str, str] = {category: " ".join(steps) for category, steps in ADVICE_STEPS.items()}

# The classifier's reason for a comment alleging that a member of staff harmed a child or behaves
# inappropriately with children (matched as part of any safeguarding reason).
STAFF_ALLEGATION_REASON = "allegation about staff"
# Keeping Children Safe in Education, part four: such an allegation goes to the headteacher, or to
# the chair of governors when it concerns the head, the same day; staff do not investigate it or
# approach the person named. The police are the head's call, so no "call 999" unless the comment
# is also a threat (then the threat advice comes first).
STAFF_ALLEGATION_STEPS = (
    "Allegation about a member of staff: follow the allegations procedure (Keeping Children "
    "Safe in Education, part four).",
    "Refer it to the headteacher today, or to the chair of governors if it concerns the "
    "headteacher.",
    "Do not investigate it or contact the person named.",
    SCREENSHOT,
    HIDE_IT,
)
STAFF_ALLEGATION_ADVICE = " ".join(STAFF_ALLEGATION_STEPS)


def alleges_about_staff(reasons: Mapping[str, Iterable[str]]) -> bool:
    """Whether a verdict's safeguarding reasons include an allegation about a member of staff."""
    return any(STAFF_ALLEGATION_REASON in str(reason).lower()
               for reason in reasons.get("safeguarding") or ())


def by_severity(categories: Iterable[str]) -> list[str]:
    """Known categories, most severe first (ties in the order of `SEVERITY`), each once."""
    known = [c for c in dict.fromkeys(categories) if c in SEVERITY]
    order = list(SEVERITY)
    return sorted(known, key=lambda c: (SEVERITY_ORDER.index(SEVERITY[c]), order.index(c)))


def advice_steps(categories: Iterable[str],
                 reasons: Mapping[str, Iterable[str]]) -> list[str]:
    """What to do next about a flagged item: the steps of every category found, most severe
    first, each step once, and the moderation ("Then hide…") last, after what must come before
    it (the screenshot, telling the DSL). Praise is thanked only when nothing else needs doing
    about it (a scam that flatters is still a scam)."""
    found = by_severity(categories)
    if any(c not in ("praise", "question") for c in found):
        found = [c for c in found if c != "praise"]
    steps: list[str] = []
    for category in found:
        if category == "safeguarding" and alleges_about_staff(reasons):
            wanted = STAFF_ALLEGATION_STEPS
        else:
            wanted = ADVICE_STEPS[category]
        steps.extend(step for step in wanted if step not in steps)
    steps = [step for step in steps
             if not any(better in steps for better in _COVERED_BY.get(step, ()))]
    return ([s for s in steps if not s.startswith("Then ")]
            + [s for s in steps if s.startswith("Then ")])


def advice_for(categories: Iterable[str], reasons: Mapping[str, Iterable[str]]) -> str:
    """`advice_steps` as one paragraph."""
    return " ".join(advice_steps(categories, reasons))


# --- why an item was flagged, in words a member of staff can read --------------------------------

# Words that carry no meaning alone: a reason made only of them ("to the", "and i") explains
# nothing. Contractions appear as the tokenizer leaves them ("don", "t").
_STOP_WORDS = """
a about above after again against all also am an and any are as at be because been before being
below between both but by can cannot could did do does doing down during each even ever every few
for from further get gets got had has have having he her here hers herself him himself his how i
if in into is it its itself just like me more most much must my myself no nor not now of off on
once one only or other ought our ours ourselves out over own really same say says said she should
so some still such than that the their theirs them themselves then there these they thing things
this those through to too under until up upon us very was way we well were what when where which
while who whom why will with would yet you your yours yourself yourselves s t d ll m re ve don
doesn didn isn wasn won couldn wouldn shouldn aren haven hasn weren ain ive youre youve dont cant
wont didnt doesnt isnt wasnt thats theyre shes hes whats ill id im ur u lot lots go going gone
make made see seen know think want back put take come day days time times today another since
ago anyone anything anybody everyone everything everybody someone something somebody nothing
nobody many always never often maybe perhaps yes yeah yep no nope oh ok okay lol thing stuff
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
# Tokens the classifier uses internally (placeholders for handles and links, the mark where an
# allowlisted phrase was) and anything shaped like an identifier: never shown to a reader.
INTERNAL_TOKENS = frozenset({"harmlessphrase", "@user", "user", "url", "email", "rt", "amp"})
_IDENTIFIER = re.compile(r"[A-Za-z0-9]+_[A-Za-z0-9_]+|\b[a-z]+[A-Z][A-Za-z]*\b")
_MODEL_PHRASE = re.compile(r'^"(?P<phrase>[^"]+)" \(model\)$')
_QUOTED = re.compile(r'"([^"]*)"')
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def _readable_phrase(phrase: str) -> bool:
    """A phrase worth showing: some word in it is neither a stop word nor internal."""
    words = [w.lower() for w in phrase.split()]
    if any(w in INTERNAL_TOKENS or _IDENTIFIER.search(w) for w in words):
        return False
    return any(len(token) >= 3 and token.lower() not in STOP_WORDS
               for token in _WORD.findall(phrase))


def _readable_reason(reason: str) -> bool:
    outside = _QUOTED.sub(" ", reason)
    if _IDENTIFIER.search(outside) or any(w.lower() in INTERNAL_TOKENS
                                          for w in outside.split()):
        return False
    if reason.strip().lower() in ("model score", ""):
        return False
    quoted = _QUOTED.findall(reason)
    return all(_readable_phrase(q) for q in quoted) and bool(_WORD.search(reason))


def readable_reasons(reasons: Iterable[str], score: float) -> list[str]:
    """The classifier's reasons for one category as a reader should see them: its rules' findings
    as they are, the words the model weighed gathered into one line, and nothing internal (no
    placeholder tokens, no identifiers, no phrases made only of words like "to the"). When
    nothing readable is left, it was the model's judgement, with its score."""
    shown: list[str] = []
    words: list[str] = []
    for reason in (str(r).strip() for r in reasons):
        phrase = _MODEL_PHRASE.match(reason)
        if phrase:
            if _readable_phrase(phrase["phrase"]):
                words.append(f'"{phrase["phrase"]}"')
        elif _readable_reason(reason):
            shown.append(reason.replace(" lexicon)", " word list)"))
    if words:
        shown.append("wording such as " + ", ".join(dict.fromkeys(words)))
    if not shown:
        shown.append(f"the model's judgement (score {score:.2f})")
    return list(dict.fromkeys(shown))


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
