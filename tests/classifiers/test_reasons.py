"""Reasons a person can read, and flags that rest on evidence a person can check."""

from __future__ import annotations

import re

import numpy as np
import pytest

from classifiers import load_classifier
from classifiers.base import CATEGORIES
from classifiers.datasets import SCHOOL_DIR, read_labelled
from classifiers.model import _FUNCTION_WORDS
from classifiers.options import ClassifierOptions
from classifiers.rules import Hit, Reading, Rules
from classifiers.triage import EVIDENCE_PUSH, TriageClassifier

MODEL_PHRASE = re.compile(r'^"(?P<phrase>.+)" \(model\)$')


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


def test_no_reason_is_an_internal_token_or_a_fragment_of_stop_words(classifier):
    texts = [e.text for e in read_labelled(SCHOOL_DIR / "school_val.jsonl")]
    texts += ["Killing it at sports day, you lot were brilliant, what a waste of time it was not",
              "@user url this is the end of time for that teacher"]
    shown = 0
    for verdict in classifier.predict(texts):
        for reasons in verdict.reasons.values():
            assert reasons, verdict
            for reason in reasons:
                assert "harmlessphrase" not in reason and "@user" not in reason
                if match := MODEL_PHRASE.match(reason):
                    words = match["phrase"].split()
                    for edge in (words[0], words[-1]):
                        assert edge not in _FUNCTION_WORDS and len(edge) >= 3, reason
                    shown += 1
    assert shown > 100  # phrases are still given, just not empty ones


def test_an_allegation_about_staff_is_safeguarding_not_a_threat(classifier):
    verdict = classifier.predict(
        ["Mrs Patel grabbed my son by the arm and dragged him out of the hall yesterday"])[0]
    assert "safeguarding" in verdict.categories
    assert "threat" not in verdict.categories
    assert any("allegation about staff" in r for r in verdict.reasons["safeguarding"])


def test_a_threat_in_words_no_rule_knows_is_explained_by_the_semantic_stage(classifier):
    text = "It'd be a real shame if something happened to that nice little car of hers"
    assert not [h for h in Rules().read(text).hits if h.category == "threat"]
    verdict = classifier.predict([text])[0]
    assert "threat" in verdict.categories
    assert "similar to known threats" in verdict.reasons["threat"]


def test_rules_come_first_among_the_reasons(classifier):
    verdict = classifier.predict(["I will kill you Mr Collins, watch your back"])[0]
    reasons = verdict.reasons["threat"]
    assert "threat phrase" in reasons[0]


class _Explainer:
    """Stands in for the model's explanations: what the evidence check asks of them."""

    def __init__(self, similar: bool, push: float) -> None:
        self._similar, self._push = similar, push

    def similar(self, row: int, category: str) -> bool:
        return self._similar

    def strongest_push(self, row: int, category: str) -> float:
        return self._push


@pytest.mark.parametrize(("hits", "similar", "push", "kept"), [
    ((), False, EVIDENCE_PUSH / 10, False),  # faint n-grams only: not flagged
    ((), False, EVIDENCE_PUSH * 2, True),  # one phrase that matters
    ((), True, 0.0, True),  # the semantic stage
    ((Hit("threat", 'threat phrase "x"', 0.4),), False, 0.0, True),  # a rule
    ((Hit("abusive", 'word "x"', 0.4),), False, 0.0, False),  # a rule for another category
])
def test_a_high_or_urgent_flag_needs_evidence(hits, similar, push, kept):
    classifier = TriageClassifier(Rules(ClassifierOptions()))
    flagged = np.zeros((1, len(CATEGORIES)), dtype=bool)
    threat, question = CATEGORIES.index("threat"), CATEGORIES.index("question")
    flagged[0, [threat, question]] = True
    text = "a comment long enough for the model to have read something in it"
    reading = Reading(text, text, hits)
    classifier._require_evidence([reading], flagged, _Explainer(similar, push))
    assert bool(flagged[0, threat]) is kept
    assert flagged[0, question]  # low categories need no such evidence


@pytest.mark.parametrize(("hits", "kept"), [
    ((), False), ((Hit("threat", 'threat phrase "ur dead"', 1.0),), True)])
def test_on_a_very_short_comment_a_high_or_urgent_flag_needs_a_rule(hits, kept):
    classifier = TriageClassifier(Rules(ClassifierOptions()))
    flagged = np.zeros((1, len(CATEGORIES)), dtype=bool)
    threat = CATEGORIES.index("threat")
    flagged[0, threat] = True
    reading = Reading("see you all on thursday", "see you all on thursday", hits)
    classifier._require_evidence([reading], flagged, _Explainer(True, 1.0))
    assert bool(flagged[0, threat]) is kept
