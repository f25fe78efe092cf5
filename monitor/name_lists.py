"""A school's lists of people's names (its pupils, its staff) kept in the database only as keyed
hashes, never in clear.

IT exports each list from the school's management information system as a CSV named in the
config (`pupil_names = "pupils.csv"`, `staff_names = "staff.csv"`). The daemon hashes the names'
forms with HMAC-SHA256 under the key `[daemon] name_key` names (a secret reference, `env:NAME` or
`file:/path`) and stores only the digests, in one `setting` row per school and list, with the
fingerprint of the key they were made with. The clear names exist only in the school's own file
and in memory while they are hashed. The list is hashed again when the file changes (IT exported
it again) and when the key changes; a list hashed under another key whose file cannot be read is
refused with a clear error, never used to silently match nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifiers import read_pupil_names
from classifiers.names import NameHasher, NameListError, PupilNames, pupil_name_forms
from monitor import models, secrets

if TYPE_CHECKING:
    from monitor.config import Config, School

log = logging.getLogger(__name__)

PUPIL = "pupil"
STAFF = "staff"


@dataclass(frozen=True)
class StoredList:
    """One school's list of one kind as stored: digests by set ("digests" for the main forms,
    and for pupils "first" and "words"), which key made them, how many people, when."""

    kind: str
    fingerprint: str
    people: int
    loaded_at: str
    sets: Mapping[str, frozenset[str]]

    def check_key(self, hasher: NameHasher) -> None:
        if hasher.fingerprint != self.fingerprint:
            raise NameListError(f"the {self.kind}-name list was hashed with another key: load "
                                "it again with the key the config names now")


def setting_name(school_id: str, kind: str) -> str:
    name = f"names:{kind}:{school_id}"
    if len(name) <= 64:
        return name
    # Setting names are at most 64 characters; a long school id is shortened by its digest.
    return f"names:{kind}:{hashlib.sha256(school_id.encode()).hexdigest()[:40]}"


def save_list(session: Session, school_id: str, kind: str, hasher: NameHasher, people: int,
              sets: Mapping[str, Iterable[str]], now: datetime) -> StoredList:
    """Replace the school's stored list of this kind with these digests."""
    stored = StoredList(kind, hasher.fingerprint, people, now.isoformat(),
                        {name: frozenset(digests) for name, digests in sets.items()})
    value = json.dumps({"fingerprint": stored.fingerprint, "people": people,
                        "loaded_at": stored.loaded_at,
                        **{name: sorted(digests) for name, digests in stored.sets.items()}})
    row = session.get(models.Setting, setting_name(school_id, kind))
    if row is None:
        session.add(models.Setting(name=setting_name(school_id, kind), value=value))
    else:
        row.value = value
    session.flush()
    return stored


def saved_list(session: Session, school_id: str, kind: str) -> StoredList | None:
    value = session.scalar(select(models.Setting.value)
                           .where(models.Setting.name == setting_name(school_id, kind)))
    if value is None:
        return None
    data = json.loads(value)
    sets = {name: frozenset(digests) for name, digests in data.items()
            if isinstance(digests, list)}
    return StoredList(kind, data["fingerprint"], data["people"], data["loaded_at"], sets)


# --- the key -----------------------------------------------------------------------------------

def name_key_reference(config: Config) -> str | None:
    """The secret reference of the key names are hashed with (`[daemon] name_key`)."""
    return getattr(config.daemon, "name_key", None)


def hasher_for(config: Config) -> NameHasher | None:
    reference = name_key_reference(config)
    if not reference:
        return None
    try:
        key = config.secret(reference)
    except KeyError:  # a reference the config did not resolve when it loaded
        try:
            key = secrets.resolve(reference)
        except secrets.SecretError as exc:
            raise NameListError(f"the key for hashing names: {exc}") from None
    return NameHasher(key)


def changed_since(path: Path, loaded_at: str) -> bool:
    """Whether IT has exported the list again since it was loaded."""
    try:
        modified = path.stat().st_mtime
    except OSError:
        return False  # reading it says what is wrong; a list already stored keeps working
    return modified > datetime.fromisoformat(loaded_at).timestamp()


def stale(stored: StoredList | None, hasher: NameHasher, path: Path | None) -> str | None:
    """Why the stored list must be hashed again from its file (None when it need not)."""
    if path is None:
        return None
    if stored is None:
        return "not loaded yet"
    if stored.fingerprint != hasher.fingerprint:
        return "hashed with another key"
    if changed_since(path, stored.loaded_at):
        return "file changed"
    return None


# --- pupils ------------------------------------------------------------------------------------

def pupil_list_path(school: School) -> Path | None:
    """The school's pupil CSV from the config (`pupil_names`), if it names one."""
    return getattr(school, "pupil_names", None)


def hash_pupil_names(path: str | Path, hasher: NameHasher) -> tuple[int, dict[str, set[str]]]:
    """Read the pupil CSV and hash its names' forms: how many pupils, and the digests by set.
    The clear names go out of scope here."""
    names = read_pupil_names(path)
    forms = pupil_name_forms(names)
    return len(names), {"digests": {hasher.digest(f) for f in forms.full},
                        "first": {hasher.digest(f) for f in forms.first},
                        "words": {hasher.digest(f) for f in forms.words}}


def load_pupil_names(session: Session, school_id: str, path: str | Path, hasher: NameHasher,
                     now: datetime) -> StoredList:
    """Read the school's pupil CSV and store its names, hashed."""
    try:
        people, sets = hash_pupil_names(path, hasher)
    except ValueError as exc:
        raise NameListError(str(exc)) from None
    return save_list(session, school_id, PUPIL, hasher, people, sets, now)


def pupil_names_for(session: Session, config: Config, school: School,
                    now: datetime | None = None, *, store: bool = True) -> PupilNames | None:
    """The school's pupil names as digests from the database, with the hasher to match them;
    loaded from the configured CSV first when the stored list is missing, was hashed under
    another key or the file has changed (with `store=False`, hashed in memory only, for a
    reader that writes nothing). None when the school has no list; a list stored before the
    config stopped naming one is removed.

    Raises NameListError when the stored list cannot be used: hashed under another key and its
    file cannot be read to hash it again, or no key configured for a stored list."""
    stored = saved_list(session, school.id, PUPIL)
    path = pupil_list_path(school)
    if path is None:
        if stored is not None and store:
            # The school no longer lists its pupils: their hashes are not kept either.
            session.delete(session.get(models.Setting, setting_name(school.id, PUPIL)))
            session.flush()
            log.info("school %s: no pupil_names in the config; the stored pupil-name list is "
                     "removed", school.id)
        return None
    hasher = hasher_for(config)
    if hasher is None:
        raise NameListError("a pupil-name list needs [daemon] name_key, the key its names are "
                            "hashed with")
    why = stale(stored, hasher, path)
    if why is not None and not store:
        try:
            return pupil_names_in_memory(config, school)
        except ValueError as exc:
            if stored is None or why == "hashed with another key":
                raise NameListError(f"school {school.id}: the pupil-name list is {why} and "
                                    f"cannot be hashed again: {exc}") from None
    elif why is not None:
        try:
            stored = load_pupil_names(session, school.id, path, hasher, now or datetime.now(UTC))
        except NameListError as exc:
            if stored is None or why == "hashed with another key":
                raise NameListError(f"school {school.id}: the pupil-name list is {why} and "
                                    f"cannot be hashed again: {exc}") from None
            log.warning("school %s: the pupil-name list file changed but cannot be read (%s); "
                        "the list loaded at %s stays in use", school.id, exc, stored.loaded_at)
        else:
            level = logging.WARNING if why == "hashed with another key" else logging.INFO
            log.log(level, "school %s: pupil-name list hashed and stored (%s): %d pupils",
                    school.id, why, stored.people)
    assert stored is not None
    stored.check_key(hasher)
    return pupil_names_of(stored, hasher)


def pupil_names_of(stored: StoredList, hasher: NameHasher) -> PupilNames:
    empty: frozenset[str] = frozenset()
    return PupilNames(hasher, stored.sets.get("digests", empty), stored.sets.get("first", empty),
                      stored.sets.get("words", empty), stored.people)


def pupil_names_in_memory(config: Config, school: School) -> PupilNames | None:
    """The school's pupil names hashed from its CSV without storing anything: for a classifier
    built with no database at hand (the config check, `hallmonitor classify --config`)."""
    path = pupil_list_path(school)
    if path is None:
        return None
    hasher = hasher_for(config)
    if hasher is None:
        raise NameListError("a pupil-name list needs [daemon] name_key, the key its names are "
                            "hashed with")
    people, sets = hash_pupil_names(path, hasher)
    return PupilNames(hasher, frozenset(sets["digests"]), frozenset(sets["first"]),
                      frozenset(sets["words"]), people)
