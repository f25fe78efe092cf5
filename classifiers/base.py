"""The classifier contract: texts in, verdicts out. Knows nothing of platforms or alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# The categories of the design, most serious first.
CATEGORIES: tuple[str, ...] = (
    "threat",
    "safeguarding",
    "hateful",
    "abusive",
    "personal_data",
    "disparaging",
    "media",
    "absence",
    "question",
    "praise",
    "spam",
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Per-category scores in [0, 1], the categories over threshold, and reasons a person can read
    (for each flagged category, the phrases or rules that drove it)."""

    scores: Mapping[str, float]
    categories: tuple[str, ...]
    reasons: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    model_version: str = ""

    def as_dict(self) -> dict:
        return {
            "categories": list(self.categories),
            "scores": {name: round(score, 4) for name, score in self.scores.items()},
            "reasons": {name: list(why) for name, why in self.reasons.items()},
            "model_version": self.model_version,
        }


class UnavailableError(Exception):
    """The classifier cannot run as trained: its model file or its sentence encoder is missing or
    fails its checks. The daemon refuses to start on this unless told `allow_degraded`."""


class Classifier(Protocol):
    version: str

    def predict(self, texts: Sequence[str]) -> list[Verdict]: ...
