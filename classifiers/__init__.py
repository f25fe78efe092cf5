"""Triage classifiers: texts in, `Verdict`s out.

`load_classifier()` gives the one classifier the daemon uses: the shipped trained model, its
sentence encoder and the rules beside it, configured for one school.
"""

from __future__ import annotations

from classifiers.base import CATEGORIES, Classifier, UnavailableError, Verdict
from classifiers.names import NameHasher, NameListError, PupilNames
from classifiers.options import ClassifierOptions
from classifiers.pupils import read_pupil_names


def load_classifier(options: ClassifierOptions | None = None) -> Classifier:
    """The trained model plus its encoder and the rules, configured with one school's options.

    Raises `UnavailableError` (a `ModelError` or an `EncoderError`) when the model file or the
    encoder is missing or fails its checks: threat detection without them is far weaker, so
    nothing falls back silently. Only `options.allow_degraded` runs on what there is, and the
    classifier then says what is missing in `degraded` and marks every verdict's version.
    """
    from classifiers.encoder import shared_encoder
    from classifiers.model_file import load_shipped_model
    from classifiers.rules import Rules
    from classifiers.triage import TriageClassifier

    options = options or ClassifierOptions()
    rules = Rules(options)
    try:
        model = load_shipped_model()
    except UnavailableError as error:
        if not options.allow_degraded:
            raise
        return TriageClassifier(rules, None, options.thresholds,
                                degraded=f"rules only: {error}")
    adjustment = options.adjustment
    if adjustment is not None and adjustment.base_version != model.version:
        adjustment = None  # learned on another model: its shifts would mean something else
    encoder = None
    if model.uses_encoder:
        try:
            encoder = shared_encoder()
        except UnavailableError as error:
            if not options.allow_degraded:
                raise
            return TriageClassifier(rules, model, options.thresholds,
                                    degraded=f"no sentence encoder: {error}")
    return TriageClassifier(rules, model, options.thresholds, encoder=encoder,
                            adjustment=adjustment)


__all__ = [
    "CATEGORIES",
    "Classifier",
    "ClassifierOptions",
    "NameHasher",
    "NameListError",
    "PupilNames",
    "UnavailableError",
    "Verdict",
    "load_classifier",
    "read_pupil_names",
]
