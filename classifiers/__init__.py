"""Triage classifiers: texts in, `Verdict`s out."""

from classifiers.base import CATEGORIES, Classifier, Verdict

__all__ = ["CATEGORIES", "Classifier", "Verdict"]
