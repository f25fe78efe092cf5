"""Threat and safeguarding page the safeguarding lead at any hour: they must not fire on the
short, harmless replies that make up most of a school's page, nor on texts with no words at all,
and they must keep catching what they are for.

The shipped model is checked against replies written for these tests and against the built-in
demo week (monitor/demo), whose README says which item is meant to be flagged as what.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from classifiers import load_classifier
from classifiers.features import length_columns, word_counts
from classifiers.model_file import MODEL_PATH
from classifiers.rules import Rules
from classifiers.training import RECALL_FLOOR, _urgent_threshold
from connectors.base import SourceSpec
from connectors.replay import ReplayConnector

URGENT = ("threat", "safeguarding")
shipped = pytest.mark.skipif(not MODEL_PATH.exists(), reason="no model file shipped yet")


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()

# Replies of the kind most comments are (written for these tests).
SHORT_HARMLESS = [
    "Thank you!", "Thanks so much", "Noted with thanks", "lovely", "Aww", "Haha", "lol yes",
    "brilliant", "See you then", "We'll be there at 6", "I'll be there!", "I'll come along",
    "Count me in", "Save me a spot", "Wouldn't miss it", "On my way", "Be there in 5",
    "Running late sorry", "In the car park", "At the front", "Go on Oakfield!", "Smash it girls",
    "Bring it home", "Good luck all", "You've got this", "Knock 'em dead", "Wasn't me",
    "Not guilty", "Who's this 😂", "That's my niece!", "Look at Sam's face", "His little face",
    "Me every morning", "Mood", "Same", "Tell me about it", "Story of my life", "Wow",
    "Wow, reported", "Shared", "Reported to the council", "Use your head", "Roads are lethal",
    "Deadly out there", "Careful out there", "Stay safe", "Drive carefully", "Snow day!!",
    "Great news", "Good to hear", "About time", "Finally", "Well done team", "Love it",
    "Which day?", "What time?", "Is it today?", "How much?", "Any news?", "Is it on?",
    "I'll be waiting in the car", "See you all on Thursday",
    pytest.param("Lily don't forget your kit", marks=pytest.mark.xfail(
        reason="known false alarm: six words, just over the length below which the model alone "
               "may not flag a threat, and close to the many veiled threats that name a child",
        strict=False)),
    "see you at the gate", "whoever made the cakes, thank you",
    "my little brother loves it there", "mum's picking her up today",
]

# No letters of their own: emoji, punctuation, numbers, handles and links.
WORDLESS = ["👍", "⛄⛄⛄", "🧁🧁🧁", "🐑🐑🐑", "🔥🔥", "😡😡😡", "🔪", "💣", "??", "!!!", "...",
            "6-0!!", "10/10", ":)", "+1", "@someone 👀", "https://example.com/x 😂", ""]


@shipped
@pytest.mark.parametrize("text", SHORT_HARMLESS)
def test_a_short_harmless_reply_is_neither_threat_nor_safeguarding(classifier, text):
    verdict = classifier.predict([text])[0]
    assert not set(URGENT) & set(verdict.categories), verdict.as_dict()


@shipped
def test_a_text_without_words_gets_no_model_score_but_praise(classifier):
    verdicts = classifier.predict(WORDLESS)
    for text, verdict in zip(WORDLESS, verdicts, strict=True):
        assert not set(URGENT) & set(verdict.categories), (text, verdict.as_dict())
        assert all(score == 0.0 for category, score in verdict.scores.items()
                   if category != "praise"), (text, verdict.scores)


@shipped
def test_rules_still_speak_for_a_text_without_words(classifier):
    verdict = classifier.predict(["07700 900123"])[0]
    assert "personal_data" in verdict.categories


def test_word_counts_leave_out_placeholders_and_length_bins_are_one_hot():
    readings = Rules().read_all(["👍", "@someone https://example.com", "hi there", "a b c d",
                                 "one two three four five six seven", " ".join(["word"] * 12),
                                 "year 6 rock!"])
    words = word_counts(readings)
    assert words.tolist() == [0, 0, 2, 4, 7, 12, 2]
    columns = length_columns(words)
    assert columns.tolist() == [[0, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0],
                                [1, 0, 0]]


# --- the demo week --------------------------------------------------------------------------------

DEMO = Path(__file__).resolve().parents[2] / "monitor" / "demo"
KINDS = {"facebook": "comments", "instagram": "comments", "x": "mentions"}


def demo_items() -> list[tuple[str, str, str]]:
    """(platform, external id, text) of every item in the demo week."""
    found = []
    for platform, kind in KINDS.items():
        connector = ReplayConnector({"path": str(DEMO / platform), "as_platform": platform}, {})
        for page in connector.fetch(SourceSpec(1, "replay", kind, platform), None):
            found += [(platform, item.external_id, item.text) for item in page.items]
    return found


def demo_labels() -> dict[tuple[str, str], set[str]]:
    """(platform, external id) -> intended categories, from the README's "Flagged items"."""
    text = (DEMO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Flagged items\n")
    end = text.find("\n## ", start + 1)
    row = re.compile(r"^\| `(?P<id>[0-9_]+)` \| (?P<platform>facebook|instagram|x) \| "
                     r"(?P<category>[a-z_]+(?: \+ [a-z_]+)*) \|")
    return {(m["platform"], m["id"]): set(m["category"].split(" + "))
            for line in text[start:end].splitlines() if (m := row.match(line))}


@pytest.fixture(scope="module")
def demo_verdicts(classifier):
    items = demo_items()
    assert len(items) >= 100
    verdicts = classifier.predict([text for _, _, text in items])
    return items, demo_labels(), verdicts


@shipped
@pytest.mark.parametrize("category", URGENT)
def test_the_demo_week_catches_every_urgent_item_and_at_most_one_ordinary_comment(demo_verdicts,
                                                                                  category):
    """Every threat and disclosure of the week is caught. An ordinary comment (one the README
    does not list as flagged) is flagged urgent at most once; angry complaints and abuse, which
    alert the champion anyway, are sometimes also taken for threats (see docs/classifier.md)."""
    items, labels, verdicts = demo_verdicts
    intended = {(p, i) for (p, i), c in labels.items() if category in c}
    assert intended, f"the demo README names no {category} item"
    flagged = {(p, i) for (p, i, _), v in zip(items, verdicts, strict=True)
               if category in v.categories}
    texts = {(p, i): t for p, i, t in items}
    missed = [texts[k] for k in intended - flagged]
    ordinary = [texts[k] for k in flagged - intended if k not in labels]
    assert missed == [], f"{category} missed"
    assert len(ordinary) <= 1, ordinary


@shipped
def test_the_demo_week_flags_nothing_urgent_without_words(demo_verdicts):
    items, _, verdicts = demo_verdicts
    for (_, _, text), verdict in zip(items, verdicts, strict=True):
        if not re.search(r"[^\W\d_]", re.sub(r"@\w+|https?://\S+", " ", text)):
            assert not set(URGENT) & set(verdict.categories), text


# --- how the urgent thresholds are chosen ---------------------------------------------------------

def choose(positives, negatives, harmless=()):
    scores = np.concatenate([positives, negatives]).astype(np.float32)
    truth = np.arange(len(scores)) < len(positives)
    lines: list[str] = []
    threshold = _urgent_threshold("threat", truth, scores,
                                  [np.asarray(h, dtype=np.float32) for h in harmless],
                                  lines.append)
    recall = float((np.asarray(positives) >= threshold).mean())
    return threshold, recall, lines


def test_the_urgent_threshold_keeps_the_recall_floor():
    positives = np.linspace(0.2, 0.95, 20)
    negatives = np.linspace(0.0, 0.6, 200)
    threshold, recall, lines = choose(positives, negatives)
    assert recall >= RECALL_FLOOR
    assert any("threshold" in line for line in lines)


def test_harmless_text_that_scores_high_pushes_the_urgent_threshold_up_within_the_floor():
    positives = np.linspace(0.3, 0.95, 20)
    low_negatives = np.linspace(0.0, 0.25, 200)
    alone, _, _ = choose(positives, low_negatives)
    crowded, recall, _ = choose(positives, low_negatives, [np.linspace(0.0, 0.35, 1000)])
    assert crowded > alone
    assert recall >= RECALL_FLOOR


def test_when_recall_and_precision_cannot_both_be_had_recall_wins_and_it_says_so():
    positives = np.linspace(0.1, 0.9, 20)
    negatives = np.linspace(0.0, 0.95, 400)
    threshold, recall, lines = choose(positives, negatives)
    assert recall >= RECALL_FLOOR
    assert any("recall comes first" in line for line in lines)
