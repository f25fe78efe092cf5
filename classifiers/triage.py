"""The triage classifier: the trained model and the rules, combined into one verdict per text.

How a category's score is made:
- with a model: the model's probability (it has already weighed the rule hits as features), raised
  to the strength of any STRONG rule hit (a phone number or a threat flags whatever the model says);
- without a model (before one is trained): the strength of the strongest rule hit.

A category is flagged when its score reaches its threshold, except that a high or urgent one
(EVIDENCE_NEEDED) also needs evidence a person can check: a rule that fired for it, the semantic
stage finding the text similar to known examples of it, or a word or phrase of the text that on its
own pushed the score by EVIDENCE_PUSH or more. A score built of many faint n-grams wakes nobody.

Its reasons, strongest first: the rules that fired, "similar to known …" from the semantic stage,
then the words and phrases of the text that pushed its score up most.

Degraded: a classifier built without its model or its encoder (only when the school's config says
`allow_degraded`) says so in `degraded` and in every verdict's model version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from classifiers.base import CATEGORIES, Verdict
from classifiers.features import word_counts
from classifiers.lexicon import LEXICON_VERSION, STRONG
from classifiers.rules import Reading, Rules

if TYPE_CHECKING:
    from classifiers.adjustment import Adjustment
    from classifiers.encoder import Encoder
    from classifiers.model import Explanations, TriageModel

_INDEX = {c: j for j, c in enumerate(CATEGORIES)}

# Without a model, a MEDIUM rule hit (0.7) flags and a WEAK one (0.4) does not.
RULES_ONLY_THRESHOLD = 0.5
# How many model-derived phrases to give as reasons for one flagged category.
TOP_FEATURES = 3
# The categories that interrupt someone (high and urgent severity) and so need evidence.
EVIDENCE_NEEDED = frozenset({"threat", "safeguarding", "hateful", "abusive", "personal_data"})
# The least a single phrase must add to the logit to count as evidence on its own.
EVIDENCE_PUSH = 0.05
# A comment this short ("See you all on Thursday") gives the model too little to go on for a
# threat or a safeguarding concern: those flags, which wake the DSL, need a rule. (On the
# validation file, every such flag the model raised alone was a false alarm. Short insults are
# another matter: "what a joke" is abuse in five words.)
SHORT_TEXT_WORDS = 5
SHORT_TEXT_NEEDS_RULE = frozenset({"threat", "safeguarding"})
# How the semantic stage's reason names each category.
SIMILAR_TO = {
    "threat": "threats", "safeguarding": "safeguarding concerns", "hateful": "hateful comments",
    "abusive": "abusive comments", "personal_data": "comments that identify a pupil",
    "disparaging": "complaints", "media": "media enquiries", "absence": "absence reports",
    "question": "questions", "praise": "praise", "spam": "spam",
}


class TriageClassifier:
    """Texts in, `Verdict`s out. Build it with `classifiers.load_classifier()`."""

    def __init__(self, rules: Rules, model: TriageModel | None = None,
                 thresholds: Mapping[str, float] | None = None, *,
                 encoder: Encoder | None = None, degraded: str | None = None,
                 adjustment: Adjustment | None = None) -> None:
        self.rules = rules
        self.model = model
        self.adjustment = adjustment
        self.encoder = encoder if model is not None and model.uses_encoder else None
        defaults = model.thresholds if model is not None else {}
        self.thresholds = {c: float(defaults.get(c, RULES_ONLY_THRESHOLD)) for c in CATEGORIES}
        self.thresholds.update(thresholds or {})
        self._threshold_row = np.array([self.thresholds[c] for c in CATEGORIES])
        self.version = model.version if model is not None else f"rules-{LEXICON_VERSION}"
        if model is not None and model.uses_encoder and self.encoder is None:
            degraded = degraded or f"no sentence encoder ({model.encoder})"
        self.degraded = degraded
        if degraded:
            self.version += "+degraded"
        elif adjustment is not None:
            self.version += f"+school-{adjustment.version}"
        self._evidence = np.array([c in EVIDENCE_NEEDED for c in CATEGORIES])

    def predict(self, texts: Sequence[str]) -> list[Verdict]:
        readings = self.rules.read_all(texts)
        scores, explainer = self.score_readings(readings)
        flagged = scores >= self._threshold_row
        if explainer is not None:
            explainer.prepare(flagged)
            self._require_evidence(readings, flagged, explainer)
        return [self._verdict(reading, scores[i], flagged[i], explainer, i)
                for i, reading in enumerate(readings)]

    def _require_evidence(self, readings: Sequence[Reading], flagged: np.ndarray,
                          explainer: Explanations) -> None:
        """Unflag (in place) high and urgent categories that only faint n-grams support, and
        threats or safeguarding concerns that the model alone raised on a very short text."""
        rows, columns = np.nonzero(flagged & self._evidence)
        for i, j in zip(rows.tolist(), columns.tolist(), strict=True):
            category = CATEGORIES[j]
            if any(h.category == category for h in readings[i].hits):
                continue
            if category in SHORT_TEXT_NEEDS_RULE \
                    and word_counts([readings[i]])[0] <= SHORT_TEXT_WORDS:
                flagged[i, j] = False
                continue
            if explainer.similar(i, category):
                continue
            if explainer.strongest_push(i, category) >= EVIDENCE_PUSH:
                continue
            flagged[i, j] = False

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
        embeddings = None
        if self.encoder is not None:
            embeddings = self.encoder.embed([r.plain for r in readings])
        shift = None
        if self.adjustment is not None and embeddings is not None:
            shift = self.adjustment.shift(embeddings)
        probabilities, explainer = self.model.score(readings, embeddings, shift)
        return np.maximum(probabilities, strong), explainer

    def _verdict(self, reading: Reading, row_scores: np.ndarray, row_flags: np.ndarray,
                 explainer: Explanations | None, row: int) -> Verdict:
        scores = dict(zip(CATEGORIES, row_scores.tolist(), strict=True))
        flagged = tuple(c for c, f in zip(CATEGORIES, row_flags, strict=True) if f)
        reasons: dict[str, tuple[str, ...]] = {}
        for category in flagged:
            hits = sorted((h for h in reading.hits if h.category == category),
                          key=lambda h: -h.strength)
            why = list(dict.fromkeys(h.reason for h in hits))
            if explainer is not None:
                if explainer.similar(row, category):
                    why.append(f"similar to known {SIMILAR_TO[category]}")
                shown = " ".join(why)
                phrases = explainer(row, category, TOP_FEATURES)
                why.extend(f'"{p}" (model)' for p in phrases if f'"{p}"' not in shown)
            reasons[category] = tuple(why) if why else ("model score",)
        return Verdict(scores=scores, categories=flagged, reasons=reasons,
                       model_version=self.version)
