"""The classifier as the daemon uses it: `load_classifier()` then `predict()`."""

from __future__ import annotations

import pytest

from classifiers import CATEGORIES, ClassifierOptions, Verdict, load_classifier
from classifiers.rules import Rules
from classifiers.triage import TriageClassifier

RULES_ONLY = TriageClassifier(Rules(ClassifierOptions(pupil_names=["Amelia Jones"])))


def test_it_gives_one_verdict_per_text_with_a_score_for_every_category():
    verdicts = RULES_ONLY.predict(["hello", "you f***ing idiot", ""])
    assert len(verdicts) == 3
    for verdict in verdicts:
        assert isinstance(verdict, Verdict)
        assert set(verdict.scores) == set(CATEGORIES)
        assert all(0.0 <= score <= 1.0 for score in verdict.scores.values())
        assert set(verdict.reasons) == set(verdict.categories)
        assert verdict.model_version


def test_it_gives_reasons_for_every_flagged_category():
    text = "Amelia Jones in 4C, ring 07700 900123, she won't be in today"
    verdict = RULES_ONLY.predict([text])[0]
    assert {"personal_data", "absence"} <= set(verdict.categories)
    assert "pupil name + class" in verdict.reasons["personal_data"]
    assert "phone number" in verdict.reasons["personal_data"]
    assert verdict.reasons["absence"]


def test_it_flags_nothing_in_an_ordinary_comment():
    assert RULES_ONLY.predict(["See you at the summer fair on the 12th"])[0].categories == ()


def test_a_school_threshold_overrides_the_default():
    strict = TriageClassifier(Rules(), thresholds={"abusive": 0.9})
    assert "abusive" not in strict.predict(["what a sh1t day"])[0].categories
    assert "abusive" in RULES_ONLY.predict(["what a sh1t day"])[0].categories


def test_categories_come_most_serious_first():
    verdict = RULES_ONLY.predict(["Well done! I will kill you. Any news?"])[0]
    order = [CATEGORIES.index(c) for c in verdict.categories]
    assert order == sorted(order)


def test_load_classifier_works_with_and_without_options():
    assert load_classifier().predict(["I will kill you"])[0].categories[0] == "threat"
    options = ClassifierOptions(pupil_names=["Amelia Jones"], allowlist=["Bumcock"],
                                keywords={"media": ["the bugle"]})
    verdict = load_classifier(options).predict(["Amelia Jones, for The Bugle"])[0]
    assert {"personal_data", "media"} <= set(verdict.categories)


ODD_TEXTS = ["", "\x00", "a\x00b", "🤬" * 1000, "\u200b" * 100, "שלום", "x" * 100_000,
             "f*" * 50_000, "\ud83d", "\r\n\t", "?" * 100_000]


def test_it_never_raises_on_odd_text():
    verdicts = load_classifier().predict(ODD_TEXTS)
    assert len(verdicts) == len(ODD_TEXTS)


def test_it_accepts_an_empty_batch():
    assert load_classifier().predict([]) == []


@pytest.mark.parametrize("verdict", RULES_ONLY.predict(["you twat", "hi"]))
def test_a_verdict_serialises_to_plain_data(verdict):
    data = verdict.as_dict()
    assert set(data) == {"categories", "scores", "reasons", "model_version"}
