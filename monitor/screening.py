"""Screening a school account's new followers for IT.

Each new follower's name, handle and bio go through the school's classifier (only abusive,
hateful and spam are reported here: a follower is not a comment, and "question" or "praise" mean
nothing in a bio), and a few plain signals are checked:

- weak ones, common among real parents too: an account younger than `YOUNG_DAYS`, one that has
  never posted, one with the platform's default picture;
- strong ones: a name or handle imitating the school or a member of staff, and a follow that was
  part of a burst (more than `BURST_FOLLOWS` follows of the account within `BURST_WINDOW`).

A follower is of concern with any strong signal or classifier category, or with two weak signals
together (a fresh, empty account with no picture is how bought and throwaway accounts look).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from difflib import SequenceMatcher
from itertools import groupby
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from classifiers.base import Classifier, Verdict
from monitor import models
from monitor.classify import ClassifierCache
from monitor.config import Config, School
from monitor.staff_names import NameMatcher, readings, squash, staff_names_for

log = logging.getLogger(__name__)

CATEGORIES = ("abusive", "hateful", "spam")
YOUNG_DAYS = 30
BURST_FOLLOWS = 20
BURST_WINDOW = timedelta(hours=1)
# A name this close to the school's name or a handle of it (difflib's ratio on the squashed
# text) imitates it, when it also has the distinctive part of the name about as it is: without
# that, "Ashfield Primary" would imitate "Oakfield Primary" and "Oakfield PTA" "OakfieldPS".
SIMILAR = 0.9
DISTINCTIVE = 0.85
# A school name or handle at least this long found inside a follower's name or handle imitates it
# ("oakfieldprimaryofficial"); shorter ones ("oakps") turn up in unrelated names.
CONTAINED = 8
# Words a school's name often ends with that a fake account leaves off.
_GENERIC_ENDINGS = ("school", "academy", "college")
# Words many schools' names share: the rest of the name is what tells this school apart.
_GENERIC = frozenset({"the", "of", "and", "st", "saint", "school", "academy", "college",
                      "primary", "secondary", "infant", "infants", "junior", "juniors",
                      "nursery", "high", "grammar", "community", "church", "ce", "rc", "cofe",
                      "c", "e", "catholic", "federation", "trust", "sixth", "form", "free",
                      "prep", "preparatory", "middle", "upper", "lower"})
_FOLLOWS = ("follow", "refollow")
# How many of the classifier's reasons a flag quotes.
_REASONS = 2

WEAK = ("young_account", "no_posts", "default_image")
STRONG = ("imitates_school", "imitates_staff", "burst", "classifier")


class FollowerFields(Protocol):
    """What screening reads of a follower (a `models.Follower` row has all of it)."""

    account_id: str
    handle: str
    name: str
    bio: str
    profile: Mapping[str, Any] | None


@dataclass(frozen=True)
class Screening:
    """What screening found: readable reasons (`flags`), the classifier's categories with their
    scores, whether IT should look, and the signals as codes (`signals`) for counting."""

    flags: tuple[str, ...]
    categories: dict[str, float]
    concern: bool
    signals: tuple[str, ...] = ()
    screened_at: str = ""
    model_version: str = ""

    def to_json(self) -> dict[str, Any]:
        """For `Follower.screening`."""
        return {"flags": list(self.flags), "categories": dict(self.categories),
                "concern": self.concern, "signals": list(self.signals),
                "screened_at": self.screened_at, "model_version": self.model_version}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Screening | None:
        if not data:
            return None
        return cls(tuple(data.get("flags") or ()), dict(data.get("categories") or {}),
                   bool(data.get("concern")), tuple(data.get("signals") or ()),
                   str(data.get("screened_at") or ""), str(data.get("model_version") or ""))


@dataclass
class _Found:
    flags: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)

    def add(self, signal: str, flag: str) -> None:
        self.signals.append(signal)
        self.flags.append(flag)


def screen(follower: FollowerFields, school: School, *, classifier: Classifier,
           staff_names: NameMatcher | None, now: datetime, recent_follows: int,
           young_days: int = YOUNG_DAYS) -> Screening:
    """Screen one follower. `recent_follows` is how many follows of the account fell in the
    busiest `BURST_WINDOW` around this one's (itself included; `burst_sizes` counts them)."""
    found = _Found()
    categories, model_version = _classify(follower, classifier, found)
    _profile_signals(follower.profile or {}, now, young_days, found)
    _imitation(follower, school, staff_names, found)
    if recent_follows > BURST_FOLLOWS:
        # "Recorded": the platform does not say when anyone followed; the times are the
        # syncs' (see `follow_times`).
        found.add("burst", f"part of a burst: one of {recent_follows} follows of the account "
                           f"recorded within {_duration(BURST_WINDOW)}")
    strong = any(s in STRONG for s in found.signals)
    weak = sum(1 for s in found.signals if s in WEAK)
    return Screening(tuple(found.flags), categories, strong or weak >= 2,
                     tuple(dict.fromkeys(found.signals)), now.isoformat(), model_version)


def classified_texts(follower: FollowerFields) -> tuple[str, str]:
    """What the classifier reads of a follower: the name with the handle (one short text: the
    model's cost is per text more than per word), and the bio."""
    name, handle = (follower.name or "").strip(), (follower.handle or "").strip()
    return (f"{name} ({handle})" if name and handle and name != handle else name or handle,
            follower.bio or "")


def _classify(follower: FollowerFields, classifier: Classifier,
              found: _Found) -> tuple[dict[str, float], str]:
    verdicts = classifier.predict(list(classified_texts(follower)))
    fields = [("name or handle", follower.name or follower.handle or ""),
              ("bio", follower.bio or "")]
    categories: dict[str, float] = {}
    for (label, text), verdict in zip(fields, verdicts, strict=True):
        for category in CATEGORIES:
            if not text.strip() or category not in verdict.categories:
                continue
            score = round(float(verdict.scores.get(category, 0.0)), 2)
            categories[category] = max(score, categories.get(category, 0.0))
            why = "; ".join(list(verdict.reasons.get(category, ()))[:_REASONS])
            found.add("classifier", f"{label} reads as {category} ({score:.2f})"
                                    + (f": {why}" if why else ""))
    version = verdicts[0].model_version if verdicts else ""
    return categories, version


def _profile_signals(profile: Mapping[str, Any], now: datetime, young_days: int,
                     found: _Found) -> None:
    created = _parse_time(profile.get("created_at"))
    if created is not None:
        age = now - created
        if age < timedelta(days=young_days):
            days = max(0, age.days)
            found.add("young_account", f"new account: created {created:%Y-%m-%d}, "
                                       f"{days} day{'s' if days != 1 else ''} old")
    posts = profile.get("posts")
    if isinstance(posts, int) and not isinstance(posts, bool) and posts == 0:
        found.add("no_posts", "has never posted")
    if profile.get("default_image") is True:
        found.add("default_image", "default profile picture")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _imitation(follower: FollowerFields, school: School, staff: NameMatcher | None,
               found: _Found) -> None:
    if follower.account_id in _own_account_ids(school):
        return
    for label, text in (("name", follower.name or ""), ("handle", follower.handle or "")):
        if imitates_school(text, school):
            found.add("imitates_school", f'{label} "{text}" resembles the school '
                                         f'("{school.name}")')
            break
    if staff is not None:
        for label, text in (("name", follower.name or ""), ("handle", follower.handle or "")):
            # Never quoted: the follower's text would show which member of staff it matched.
            if staff.matches(text):
                found.add("imitates_staff", f"{label} matches a name on the staff list")
                break


def _own_account_ids(school: School) -> set[str]:
    return {account.account for account in school.accounts}


def school_names(school: School) -> list[str]:
    """The squashed forms of the school's name and handles a fake account would copy."""
    names = [squash(school.name)]
    words = school.name.split()
    if len(words) > 1 and words[-1].lower() in _GENERIC_ENDINGS:
        names.append(squash(" ".join(words[:-1])))
    for account in school.accounts:
        handle = str(account.settings.get("handle", "")).lstrip("@")
        if handle:
            names.append(squash(handle))
    return [name for name in dict.fromkeys(names) if name]


def distinctive_part(school: School) -> str:
    """The squashed words of the school's name that are not common to school names
    ("Oakfield Primary School" -> oakfield)."""
    return "".join(w for words in readings(school.name)[:1] for w in words if w not in _GENERIC)


def imitates_school(text: str, school: School) -> bool:
    """Whether a display name or handle is close to the school's name or one of its handles,
    read the way the classifier reads disguised words ("0akfield_primary")."""
    targets = school_names(school)
    distinctive = distinctive_part(school)
    for words in readings(text):
        whole = "".join(words)
        if distinctive and not _contains_about(whole, distinctive):
            continue
        windows = _windows(words)
        if any(len(t) >= CONTAINED and t in whole for t in targets):
            return True
        if any(_similar(w, t) >= SIMILAR for w in windows for t in targets):
            return True
    return False


def _contains_about(text: str, part: str) -> bool:
    """Whether `text` has a stretch within a typo or two of `part` ("oakfeildps" has oakfield)."""
    if part in text:
        return True
    # A typo or two leaves most of the part's letter pairs in place; most names have few of
    # them, and are passed over without comparing every stretch.
    pairs = {part[i:i + 2] for i in range(len(part) - 1)}
    if sum(1 for pair in pairs if pair in text) < len(pairs) - 4:
        return False
    sizes = {len(part) - 1, len(part), len(part) + 1}
    return any(_similar(text[i:i + size], part) >= DISTINCTIVE
               for size in sizes for i in range(max(1, len(text) - size + 1)))


def _similar(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _windows(words: Sequence[str], most: int = 5) -> list[str]:
    return ["".join(words[i:j]) for i in range(len(words))
            for j in range(i + 1, min(len(words), i + most) + 1)]


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return "an hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"


# --- bursts ------------------------------------------------------------------------------------

def burst_sizes(times: Sequence[tuple[int, datetime]],
                window: timedelta = BURST_WINDOW) -> dict[int, int]:
    """For each (follower id, follow time): the most follows in any `window` that holds it.

    Windows start at each follow; each follow belongs to the windows that start at or before it
    and reach past it. Both ends only move forward, so a sliding maximum over the windows' sizes
    gives every follow its busiest window in one pass, however large the burst."""
    ordered = sorted(times, key=lambda pair: pair[1])
    at = [t for _, t in ordered]
    ends, end = [], 0
    for start in range(len(at)):
        end = max(end, start)
        while end + 1 < len(at) and at[end + 1] - at[start] < window:
            end += 1
        ends.append(end)
    best: dict[int, int] = {}
    live: deque[int] = deque()  # window starts still covering k, sizes decreasing
    for k, (follower_id, _) in enumerate(ordered):
        size = ends[k] - k + 1
        while live and ends[live[-1]] - live[-1] + 1 <= size:
            live.pop()
        live.append(k)
        while ends[live[0]] < k:
            live.popleft()
        biggest = ends[live[0]] - live[0] + 1
        best[follower_id] = max(best.get(follower_id, 0), biggest)
    return best


def follow_times(session: Session, source_id: int, since: datetime,
                 until: datetime) -> list[tuple[int, datetime]]:
    """The follows (and re-follows) of a source's account between two times, as (follower id,
    time), oldest first.

    A sync stamps every follow it finds with its own time: X does not say when anyone followed,
    only in what order, newest first. So the follows one sync found together are spread evenly
    back to the end of the source's previous successful poll, newest first, and a burst is
    only found where follows came faster than that: a daily sync's 30 new followers are not
    30 follows in an hour. The followers a first sync found have no follow event at all."""
    rows = list(session.execute(
        select(models.FollowerEvent.follower_id, models.FollowerEvent.at)
        .join(models.Follower, models.Follower.id == models.FollowerEvent.follower_id)
        .where(models.Follower.source_id == source_id,
               models.FollowerEvent.kind.in_(_FOLLOWS),
               models.FollowerEvent.at >= since, models.FollowerEvent.at <= until)
        .order_by(models.FollowerEvent.at, models.FollowerEvent.id)))
    found: list[tuple[int, datetime]] = []
    for at, group in groupby(rows, key=lambda row: row[1]):
        ids = [follower_id for follower_id, _ in group]
        before = _previous_poll(session, source_id, at) if len(ids) > 1 else None
        step = (at - before) / len(ids) if before is not None else timedelta(0)
        # Stored in the order the platform listed them: the first is the newest.
        found += [(follower_id, at - step * n) for n, follower_id in enumerate(ids)]
    return sorted(found, key=lambda pair: pair[1])


def _previous_poll(session: Session, source_id: int, at: datetime) -> datetime | None:
    """When the source's last successful poll before `at` finished."""
    return session.scalar(
        select(func.max(models.PollRun.finished_at))
        .where(models.PollRun.source_id == source_id, models.PollRun.error.is_(None),
               models.PollRun.finished_at < at))


# --- screening what is new ---------------------------------------------------------------------

class _Batch:
    """The classifier's verdicts for all the texts of a batch of followers, read in one call
    (one call per follower costs a model run each) and handed out as `screen` asks."""

    def __init__(self, classifier: Classifier, texts: Sequence[str]) -> None:
        self.version = classifier.version
        unique = list(dict.fromkeys(texts))
        self._verdicts = dict(zip(unique, classifier.predict(unique), strict=True))

    def predict(self, texts: Sequence[str]) -> list[Verdict]:
        return [self._verdicts[text] for text in texts]


def screen_new(session: Session, config: Config, source_id: int, since: datetime,
               now: datetime, *, classifiers: ClassifierCache | None = None,
               staff_names: NameMatcher | None = None,
               young_days: int = YOUNG_DAYS) -> dict[int, Screening]:
    """Screen every follower of the source first seen since `since`, storing each result in
    `Follower.screening`; returns them by follower id. The staff list is the school's stored
    one (loaded from the config's CSV when that is newer) unless one is given."""
    source = session.get(models.Source, source_id)
    if source is None:
        raise ValueError(f"there is no source {source_id}")
    school = config.school(source.school_id)
    followers = list(session.scalars(
        select(models.Follower).where(models.Follower.source_id == source_id,
                                      models.Follower.first_seen_at >= since)
        .order_by(models.Follower.id)))
    if not followers:
        return {}
    classifier = (classifiers or ClassifierCache(config)).for_school(school, session)
    batch = _Batch(classifier, [text for f in followers for text in classified_texts(f)])
    if staff_names is None:
        staff_names = staff_names_for(session, config, school, now)
    bursts = burst_sizes(follow_times(session, source_id, since - BURST_WINDOW, now))
    results: dict[int, Screening] = {}
    for follower in followers:
        result = screen(follower, school, classifier=batch, staff_names=staff_names, now=now,
                        recent_follows=bursts.get(follower.id, 0), young_days=young_days)
        follower.screening = result.to_json()
        results[follower.id] = result
    session.flush()
    concern = sum(1 for r in results.values() if r.concern)
    log.info("screened %d new followers of source %s: %d of concern", len(results), source_id,
             concern)
    return results
