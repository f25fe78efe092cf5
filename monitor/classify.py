"""One classifier per school (each has its own pupil names and keywords), loaded once."""

from __future__ import annotations

import threading

from classifiers import ClassifierOptions, load_classifier, read_pupil_names
from classifiers.base import Classifier
from monitor.config import Config, School


def options_for(config: Config, school: School | None) -> ClassifierOptions:
    settings = config.settings.classifier
    keywords = {name: list(words) for name, words in settings.keywords.items()}
    pupils: list[str] = []
    if school is not None and school.pupil_names:
        pupils = read_pupil_names(school.pupil_names)
    return ClassifierOptions(thresholds=dict(settings.thresholds), keywords=keywords,
                             allowlist=list(settings.allowlist), pupil_names=pupils)


class ClassifierCache:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._by_school: dict[str, Classifier] = {}
        self._lock = threading.Lock()

    def for_school(self, school: School) -> Classifier:
        with self._lock:
            if school.id not in self._by_school:
                self._by_school[school.id] = load_classifier(options_for(self.config, school))
            return self._by_school[school.id]
