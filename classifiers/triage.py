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

from classifiers.base import CATEGORIES, Verdict
from classifiers.lexicon import LEXICON_VERSION, STRONG
from classifiers.rules import Reading, Rules

if TYPE_CHECKING:
    from classifiers.model import TriageModel

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
        self.version = model.version if model is not None else f"rules-{LEXICON_VERSION}"

    def predict(self, texts: Sequence[str]) -> list[Verdict]:
        readings = self.rules.read_all(texts)
        if not readings:
            return []
        if self.model is None:
            return [self._verdict(r, {c: r.strength(c) for c in CATEGORIES}, None, i)
                    for i, r in enumerate(readings)]
        probabilities, explainer = self.model.score(readings)
        verdicts = []
        for i, reading in enumerate(readings):
            scores = {}
            for j, category in enumerate(CATEGORIES):
                strong = max((h.strength for h in reading.hits
                              if h.category == category and h.strength >= STRONG), default=0.0)
                scores[category] = max(float(probabilities[i, j]), strong)
            verdicts.append(self._verdict(reading, scores, explainer, i))
        return verdicts

    def _verdict(self, reading: Reading, scores: dict[str, float], explainer, row: int) -> Verdict:
        flagged = tuple(c for c in CATEGORIES if scores[c] >= self.thresholds[c])
        reasons: dict[str, tuple[str, ...]] = {}
        for category in flagged:
            why = [h.reason for h in reading.hits if h.category == category]
            if explainer is not None:
                why.extend(f'"{phrase}" (model)' for phrase in
                           explainer(row, category, TOP_FEATURES) if f'"{phrase}"' not in
                           " ".join(why))
            reasons[category] = tuple(why) if why else ("model score",)
        return Verdict(scores=scores, categories=flagged, reasons=reasons,
                       model_version=self.version)
