"""Triage classifiers: texts in, `Verdict`s out.

`load_classifier()` gives the one classifier the daemon uses: the shipped trained model with the
rules beside it, or the rules alone when no model file has been shipped yet.
"""

from __future__ import annotations

from classifiers.base import CATEGORIES, Classifier, Verdict
from classifiers.options import ClassifierOptions
from classifiers.pupils import read_pupil_names


def load_classifier(options: ClassifierOptions | None = None) -> Classifier:
    """The trained model (if shipped) plus the rules, configured with one school's options.

    Raises `classifiers.model_file.ModelError` if a shipped model file fails its checks: a
    damaged or tampered model is never silently replaced by a weaker classifier.
    """
    from classifiers.rules import Rules
    from classifiers.triage import TriageClassifier

    options = options or ClassifierOptions()
    model = _shipped_model()
    return TriageClassifier(Rules(options), model, options.thresholds)


def _shipped_model():
    from classifiers.model_file import load_shipped_model

    return load_shipped_model()


__all__ = [
    "CATEGORIES",
    "Classifier",
    "ClassifierOptions",
    "Verdict",
    "load_classifier",
    "read_pupil_names",
]
