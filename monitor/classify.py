"""One classifier per school (each has its own pupil names, keywords and adjustment learned from
its own corrections), loaded once and rebuilt when the school's adjustment is retrained."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from classifiers import ClassifierOptions, load_classifier, read_pupil_names
from classifiers.base import Classifier
from monitor.config import Config, School

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def options_for(config: Config, school: School | None) -> ClassifierOptions:
    settings = config.settings.classifier
    keywords = {name: list(words) for name, words in settings.keywords.items()}
    pupils: list[str] = []
    if school is not None and school.pupil_names:
        pupils = read_pupil_names(school.pupil_names)
    return ClassifierOptions(thresholds=dict(settings.thresholds), keywords=keywords,
                             allowlist=list(settings.allowlist), pupil_names=pupils,
                             allow_degraded=settings.allow_degraded)


class ClassifierCache:
    """`for_school(school, session)` reads the school's stored adjustment through the session
    (one indexed lookup) and rebuilds the classifier when it has changed, so a retrained
    adjustment applies from the next page on. Without a session the classifier last built for
    the school is given (at first, one without any adjustment)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._by_school: dict[str, tuple[str | None, Classifier]] = {}
        self._lock = threading.Lock()

    def for_school(self, school: School, session: Session | None = None) -> Classifier:
        from monitor.adjustments import stored_adjustment, stored_version

        with self._lock:
            cached = self._by_school.get(school.id)
            if session is None and cached is not None:
                return cached[1]
            version = stored_version(session, school.id) if session is not None else None
            if cached is None or cached[0] != version:
                adjustment = (stored_adjustment(session, school.id) if version is not None
                              else None)
                options = replace(options_for(self.config, school), adjustment=adjustment)
                cached = (version, load_classifier(options))
                self._by_school[school.id] = cached
            return cached[1]
