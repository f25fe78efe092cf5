"""Each school's adjustment to the shipped model, learned from its own corrections.

`train_school` fits one `classifiers.adjustment.Adjustment` from a school's feedback and stores it
in the `school_adjustment` table; `monitor.classify.ClassifierCache` gives it to that school's
classifier only. Its effect is measured on corrections held out from training (cross-validation:
each correction is judged by an adjustment fitted without it), then the adjustment that is kept is
fitted on them all. Corrections and adjustments stay in the database: nothing is written to files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from classifiers import CATEGORIES, load_classifier
from classifiers.adjustment import Adjustment, fit
from monitor import models
from monitor.classify import options_for
from monitor.config import Config, School
from monitor.feedback import Correction, corrections

log = logging.getLogger(__name__)

# Fewer corrections than this teach nothing that can be measured.
MIN_CORRECTIONS = 8
# Cross-validation folds for the held-out figures.
FOLDS = 5
# Probabilities are turned back into logits within these bounds (0 and 1 have none).
_P_FLOOR = 1e-6


class AdjustmentError(Exception):
    """An adjustment cannot be learned with this model."""


@dataclass
class Agreement:
    """How many corrections a set of verdicts agreed with: on the exact set of categories, and
    category by category (in both when the item belongs to it, out of both when it does not)."""

    texts: int = 0
    exact: int = 0
    categories: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))

    def add(self, verdict: Sequence[str], correction: Sequence[str]) -> None:
        self.texts += 1
        self.exact += set(verdict) == set(correction)
        for category in CATEGORIES:
            self.categories[category] += (category in verdict) == (category in correction)

    def as_dict(self) -> dict:
        return {"texts": self.texts, "exact": self.exact, "categories": dict(self.categories)}


@dataclass
class Outcome:
    """What training did for one school."""

    school_id: str
    corrections: int
    skipped: str | None = None
    adjustment: Adjustment | None = None
    before: Agreement = field(default_factory=Agreement)
    after: Agreement = field(default_factory=Agreement)

    def figures(self) -> dict:
        return {"held_out": self.before.texts, "folds": FOLDS,
                "before": self.before.as_dict(), "after": self.after.as_dict()}


def fold_of(position: int) -> int:
    """Which fold the correction at this position (in item order) is held out in."""
    return position % FOLDS


def train_school(sessions: sessionmaker[Session], config: Config, school: School) -> Outcome:
    """Fit, measure and store the school's adjustment; skipped with too few corrections."""
    with sessions() as session:
        found = corrections(session, school.id)
    outcome = Outcome(school.id, len(found))
    if len(found) < MIN_CORRECTIONS:
        outcome.skipped = (f"{len(found)} correction{'' if len(found) == 1 else 's'}, "
                           f"fewer than the {MIN_CORRECTIONS} needed")
        return outcome
    options = options_for(config, school)
    classifier = load_classifier(options)
    model, encoder = getattr(classifier, "model", None), getattr(classifier, "encoder", None)
    if model is None or encoder is None:
        raise AdjustmentError(f"the classifier ({classifier.version}) has no semantic stage, "
                              "which school adjustments are learned on")
    texts = [c.text for c in found]
    readings = classifier.rules.read_all(texts)
    embeddings = encoder.embed([r.plain for r in readings])
    probabilities, _ = model.score(readings, embeddings)
    clipped = np.clip(probabilities.astype(np.float64), _P_FLOOR, 1 - _P_FLOOR)
    base_logits = np.log(clipped / (1 - clipped))
    labels = _labels(found)
    center = getattr(model, "embedding_mean", None)

    def learn(rows: np.ndarray) -> Adjustment:
        return fit(base_logits[rows], embeddings[rows], labels[rows], base_version=model.version,
                   center=center)

    folds = np.array([fold_of(i) for i in range(len(found))])
    before = classifier.predict(texts)
    for k in sorted(set(folds.tolist())):
        held = np.flatnonzero(folds == k)
        adjusted = load_classifier(replace(options, adjustment=learn(np.flatnonzero(folds != k))))
        after = adjusted.predict([texts[i] for i in held])
        for i, verdict in zip(held.tolist(), after, strict=True):
            outcome.before.add(before[i].categories, found[i].categories)
            outcome.after.add(verdict.categories, found[i].categories)
    outcome.adjustment = learn(np.arange(len(found)))
    _store(sessions, outcome)
    return outcome


def _labels(found: Sequence[Correction]) -> np.ndarray:
    return np.array([[c in correction.categories for c in CATEGORIES] for correction in found],
                    dtype=np.float64)


def _store(sessions: sessionmaker[Session], outcome: Outcome) -> None:
    adjustment = outcome.adjustment
    with sessions.begin() as session:
        row = session.get(models.SchoolAdjustment, outcome.school_id)
        if row is None:
            row = models.SchoolAdjustment(school_id=outcome.school_id)
            session.add(row)
        row.base_version = adjustment.base_version
        row.version = adjustment.version
        row.payload = adjustment.as_payload()
        row.corrections = outcome.corrections
        row.trained_at = datetime.now(UTC)
        row.figures = outcome.figures()


def stored_version(session: Session, school_id: str) -> str | None:
    """The version of the school's stored adjustment (a cheap check for a newer one)."""
    return session.scalar(select(models.SchoolAdjustment.version)
                          .where(models.SchoolAdjustment.school_id == school_id))


def stored_adjustment(session: Session, school_id: str) -> Adjustment | None:
    """The school's adjustment; None when it has none, or when the stored one cannot be read
    (the school then gets the shipped model's verdicts, and the log says why)."""
    row = session.get(models.SchoolAdjustment, school_id)
    if row is None:
        return None
    try:
        return Adjustment.from_payload(row.payload)
    except (KeyError, TypeError, ValueError) as exc:
        log.error("school %s: its stored adjustment cannot be read (%s); using the shipped "
                  "model alone until 'hallmonitor model train --feedback' is run again",
                  school_id, exc)
        return None


def report(outcome: Outcome, name: str) -> list[str]:
    """Lines for the command line: what was learned and what held-out corrections said."""
    if outcome.skipped:
        return [f"{name}: skipped ({outcome.skipped})"]
    before, after = outcome.before, outcome.after
    n = before.texts
    lines = [f"{name}: adjustment {outcome.adjustment.version} learned from "
             f"{outcome.corrections} corrections, on model {outcome.adjustment.base_version}",
             f"  held out in {FOLDS}-fold cross-validation: the verdict agreed with the "
             "correction",
             f"    {'':<16}{'before':>8}{'after':>8}",
             f"    {'all categories':<16}{f'{before.exact}/{n}':>8}{f'{after.exact}/{n}':>8}"]
    for category in CATEGORIES:
        b, a = before.categories[category], after.categories[category]
        lines.append(f"    {category:<16}{f'{b}/{n}':>8}{f'{a}/{n}':>8}")
    return lines
