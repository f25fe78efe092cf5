"""The school's staff list, kept only as keyed hashes (`monitor.name_lists`), for followers who
imitate a member of staff.

IT exports the list from the school's management information system as a CSV, named in the
config like the pupil-name list (`staff_names = "staff.csv"`). Loading it stores, in the
database, HMAC-SHA256 digests of each name's forms under a key named by a secret reference
(`env:NAME` or `file:/path`); the names themselves are never stored. A follower's name or handle
is compared by hashing its own candidate forms with the same key, so a match is exact on
normalised text (accents, case, leetspeak, separators), never fuzzy: a hash has no neighbours.

What a name's forms are, for "Jane Smith": janesmith, smithjane, jsmith, and with a title
(mr, mrs, miss, ms, mx, dr) before the surname or the initial and surname: mrssmith, mrsjsmith…
A surname alone is not a form: "Smith" follows a school for many reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from classifiers import read_pupil_names
from classifiers.names import NameHasher, NameListError, joined, readings, squash
from classifiers.text import plain
from monitor.name_lists import (
    STAFF,
    changed_since,
    hasher_for,
    name_key_reference,
    save_list,
    saved_list,
    setting_name,
)

if TYPE_CHECKING:  # the config checks a staff list with `read_staff_names` when it loads
    from monitor.config import Config, School

__all__ = ["STAFF", "HashedNames", "NameHasher", "NameListError", "NameMatcher",
           "candidate_forms", "hasher_for", "load_staff_names", "name_forms",
           "name_key_reference", "read_staff_names", "readings", "setting_name", "squash",
           "staff_names_for", "store_names", "stored_names"]

TITLES = ("mr", "mrs", "miss", "ms", "mx", "dr", "sir")
# Forms shorter than this are too common to mean anything ("mrlee" is the shortest kept).
MIN_FORM = 5
# A single word of a name or handle ("realmrssmith") is searched for forms inside it; a form is
# at most this long, which bounds the hashing per follower.
MAX_FORM = 32
# Consecutive words of a name or handle joined into one candidate ("Mrs J Smith" -> mrsjsmith).
MAX_WORDS = 4

_WORD_RE = re.compile(r"[a-z0-9]+")


def name_forms(name: str) -> set[str]:
    """The forms of one person's name that a follower imitating them might use."""
    # A double-barrelled surname is one surname: "Smith-Jones" -> smithjones.
    words = _WORD_RE.findall(joined(plain(name)).replace("-", ""))
    words = [w for w in words if w not in TITLES]
    if len(words) < 2:
        return set()
    first, last = words[0], words[-1]
    forms = {"".join(words), first + last, last + first, first[0] + last}
    for title in TITLES:
        forms |= {title + last, title + first[0] + last}
    return {form for form in forms if MIN_FORM <= len(form) <= MAX_FORM}


def candidate_forms(text: str) -> set[str]:
    """Everything in a follower's name or handle that could be a name form: runs of up to
    MAX_WORDS consecutive words joined, and the stretches of each single word (handles run
    words together: "realmrssmith")."""
    found: set[str] = set()
    for words in readings(text):
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + MAX_WORDS) + 1):
                joined = "".join(words[start:end])
                if MIN_FORM <= len(joined) <= MAX_FORM:
                    found.add(joined)
        for word in words:
            found.update(_stretches(word[:64]))
    return found


def _stretches(word: str) -> Iterator[str]:
    for size in range(MIN_FORM, min(len(word), MAX_FORM) + 1):
        for start in range(len(word) - size + 1):
            yield word[start:start + size]


# --- the stored list ---------------------------------------------------------------------------

@dataclass(frozen=True)
class HashedNames:
    """One school's list of one kind ("staff", "pupil") as digests, ready to match against."""

    kind: str
    fingerprint: str
    digests: frozenset[str]
    people: int
    loaded_at: str

    def matches(self, hasher: NameHasher, text: str) -> bool:
        """Whether `text` (a display name or handle) contains a form of a listed name."""
        if not self.digests or not text:
            return False
        if hasher.fingerprint != self.fingerprint:
            raise NameListError(f"the {self.kind}-name list was hashed with another key: load "
                                "it again with the key the config names now")
        return any(hasher.digest(form) in self.digests for form in candidate_forms(text))


def store_names(session: Session, school_id: str, kind: str, names: Sequence[str],
                hasher: NameHasher, now: datetime) -> HashedNames:
    """Replace the school's stored list of this kind with the digests of `names`' forms."""
    digests = {hasher.digest(form) for name in names for form in name_forms(name)}
    stored = save_list(session, school_id, kind, hasher, len(names), {"digests": digests}, now)
    return HashedNames(kind, stored.fingerprint, stored.sets["digests"], stored.people,
                       stored.loaded_at)


def stored_names(session: Session, school_id: str, kind: str) -> HashedNames | None:
    stored = saved_list(session, school_id, kind)
    if stored is None:
        return None
    return HashedNames(kind, stored.fingerprint, stored.sets.get("digests", frozenset()),
                       stored.people, stored.loaded_at)


# --- staff, from the config --------------------------------------------------------------------


def read_staff_names(path: str | PathLike[str]) -> list[str]:
    """Full names from the staff CSV: the same format as the pupil-name list (a `name` column,
    or `first name` and `surname` columns). Raises NameListError naming the file."""
    try:
        return read_pupil_names(path)
    except ValueError as exc:
        raise NameListError(str(exc).replace("pupil-name list", "staff-name list", 1)) from None


def staff_list_path(school: School) -> Path | None:
    """The school's staff CSV from the config (`staff_names`), if it names one."""
    return getattr(school, "staff_names", None)


def load_staff_names(session: Session, school_id: str, path: str | PathLike[str],
                     hasher: NameHasher, now: datetime) -> HashedNames:
    """Read the staff CSV and store its names, hashed, for the school."""
    return store_names(session, school_id, STAFF, read_staff_names(path), hasher, now)


@dataclass(frozen=True)
class NameMatcher:
    """A stored list with the hasher to match against it."""

    hasher: NameHasher
    names: HashedNames

    def matches(self, text: str) -> bool:
        return self.names.matches(self.hasher, text)


def staff_names_for(session: Session, config: Config, school: School,
                    now: datetime) -> NameMatcher | None:
    """The school's stored staff list and the hasher to match with, loading it from the
    configured CSV first when the stored one is missing or was hashed under another key; None
    when the config names no key or there is no list."""
    hasher = hasher_for(config)
    if hasher is None:
        return None
    listed = stored_names(session, school.id, STAFF)
    path = staff_list_path(school)
    if path is not None and (listed is None or listed.fingerprint != hasher.fingerprint
                             or changed_since(path, listed.loaded_at)):
        listed = load_staff_names(session, school.id, path, hasher, now)
    if listed is None:
        return None
    return NameMatcher(hasher, listed)

