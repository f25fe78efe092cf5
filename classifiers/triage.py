"""The triage classifier: the trained model and the rules, combined into one verdict per text.

How a category's score is made:
- with a model: the model's probability (it has already weighed the rule hits as features), raised
  to the strength of any STRONG rule hit (a phone number or a threat flags whatever the model says);
- without a model (before one is trained): the strength of the strongest rule hit.

A category is flagged when its score reaches its threshold. Its reasons are the rules that fired
for it and, with a model, the words and phrases that pushed its score up most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from classifiers.base import CATEGORIES, Verdict
from classifiers.lexicon import LEXICON_VERSION, STRONG
from classifiers.rules import Reading, Rules

if TYPE_CHECKING:
    from classifiers.model import Explanations, TriageModel

_INDEX = {c: j for j, c in enumerate(CATEGORIES)}

# Without a model, a MEDIUM rule hit (0.7) flags and a WEAK one (0.4) does not.
RULES_ONLY_THRESHOLD = 0.5
# How many model-derived phrases to give as reasons for one flagged category.
TOP_FEATURES = 3


class TriageClassifier:
    """Texts in, `Verdict`s out. Build it with `classifiers.load_classifier()`."""

    def __init__(self, rules: Rules, model: TriageModel | None = None,
                 thresholds: Mapping[str, float] | None = None) -> None:
        self.rules = rules
        self.model = model
        defaults = model.thresholds if model is not None else {}
        self.thresholds = {c: float(defaults.get(c, RULES_ONLY_THRESHOLD)) for c in CATEGORIES}
        self.thresholds.update(thresholds or {})
        self._threshold_row = np.array([self.thresholds[c] for c in CATEGORIES])
        self.version = model.version if model is not None else f"rules-{LEXICON_VERSION}"

    def predict(self, texts: Sequence[str]) -> list[Verdict]:
        readings = self.rules.read_all(texts)
        scores, explainer = self.score_readings(readings)
        flagged = scores >= self._threshold_row
        if explainer is not None:
            explainer.prepare(flagged)
        return [self._verdict(reading, scores[i], flagged[i], explainer, i)
                for i, reading in enumerate(readings)]

    def score_readings(self, readings: Sequence[Reading]) -> tuple[np.ndarray, Explanations | None]:
        """Scores (rows: texts, columns: `CATEGORIES`) before thresholds, and the model's
        explainer (None without a model)."""
        strong = np.zeros((len(readings), len(CATEGORIES)), dtype=np.float32)
        for i, reading in enumerate(readings):
            for hit in reading.hits:
                j = _INDEX[hit.category]
                if self.model is None or hit.strength >= STRONG:
                    strong[i, j] = max(strong[i, j], hit.strength)
        if self.model is None or not readings:
            return strong, None
        probabilities, explainer = self.model.score(readings)
        return np.maximum(probabilities, strong), explainer

    def _verdict(self, reading: Reading, row_scores: np.ndarray, row_flags: np.ndarray,
                 explainer: Explanations | None, row: int) -> Verdict:
        scores = dict(zip(CATEGORIES, row_scores.tolist(), strict=True))
        flagged = tuple(c for c, f in zip(CATEGORIES, row_flags, strict=True) if f)
        reasons: dict[str, tuple[str, ...]] = {}
        for category in flagged:
            why = [h.reason for h in reading.hits if h.category == category]
            if explainer is not None:
                shown = " ".join(why)
                phrases = explainer(row, category, TOP_FEATURES)
                why.extend(f'"{p}" (model)' for p in phrases if f'"{p}"' not in shown)
            reasons[category] = tuple(why) if why else ("model score",)
        return Verdict(scores=scores, categories=flagged, reasons=reasons,
                       model_version=self.version)
