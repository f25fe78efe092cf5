"""One classifier per school (each has its own pupil names, keywords and adjustment learned from
its own corrections), loaded once and rebuilt when the school's adjustment is retrained or its
pupil-name list is loaded again."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from classifiers import ClassifierOptions, load_classifier
from classifiers.base import Classifier
from classifiers.names import PupilNames
from monitor.config import Config, School

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def options_for(config: Config, school: School | None,
                pupils: PupilNames | None = None) -> ClassifierOptions:
    """The school's classifier options. Its pupil names are `pupils` (digests from the
    database) or, when not given, its CSV hashed in memory under `[daemon] name_key`."""
    from monitor.name_lists import pupil_names_in_memory

    settings = config.settings.classifier
    keywords = {name: list(words) for name, words in settings.keywords.items()}
    if pupils is None and school is not None:
        pupils = pupil_names_in_memory(config, school)
    return ClassifierOptions(thresholds=dict(settings.thresholds), keywords=keywords,
                             allowlist=list(settings.allowlist), pupil_names=pupils,
                             allow_degraded=settings.allow_degraded)


class ClassifierCache:
    """`for_school(school, session)` reads the school's stored adjustment and pupil-name list
    through the session (indexed lookups) and rebuilds the classifier when either has changed,
    so a retrained adjustment or a newly exported pupil list applies from the next page on.
    Without a session the classifier last built for the school is given (at first, one without
    any adjustment, its pupil names hashed from its CSV in memory, storing nothing)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._by_school: dict[str, tuple[tuple, Classifier]] = {}
        self._problems: dict[str, str] = {}
        self._lock = threading.Lock()

    def for_school(self, school: School, session: Session | None = None) -> Classifier:
        from monitor.adjustments import stored_adjustment, stored_version

        with self._lock:
            cached = self._by_school.get(school.id)
            if session is None and cached is not None:
                return cached[1]
            version = stored_version(session, school.id) if session is not None else None
            pupils = self._pupils(school, session)
            key = (version, _list_key(pupils))
            if cached is None or cached[0] != key:
                adjustment = (stored_adjustment(session, school.id) if version is not None
                              else None)
                options = replace(options_for(self.config, school, pupils),
                                  adjustment=adjustment)
                cached = (key, load_classifier(options))
                self._by_school[school.id] = cached
            return cached[1]

    def _pupils(self, school: School, session: Session | None) -> PupilNames:
        """The school's pupil names from the database (without a session, its CSV hashed in
        memory); an unusable list is logged (once while it stays so) and the school is
        classified without it rather than not at all."""
        from monitor.name_lists import pupil_names_for, pupil_names_in_memory

        try:
            pupils = (pupil_names_for(session, self.config, school) if session is not None
                      else pupil_names_in_memory(self.config, school))
        except ValueError as exc:  # NameListError, or the CSV read in memory
            if self._problems.get(school.id) != str(exc):
                log.error("school %s: pupil names are not being matched: %s", school.id, exc)
                self._problems[school.id] = str(exc)
            return _NO_PUPILS
        self._problems.pop(school.id, None)
        return pupils if pupils is not None else _NO_PUPILS


# A school without a usable pupil list.
_NO_PUPILS = PupilNames.hashed([])


def _list_key(pupils: PupilNames) -> tuple:
    """What tells one pupil list from another (the same digests, from the file or from the
    database, are the same list), without keeping the list twice."""
    if not pupils:
        return ("none",)
    return (pupils.hasher.fingerprint, pupils.people, hash((pupils.full, pupils.first)))
