"""The daemon's workers share one classifier per school: predicting from several threads at once
must give what predicting one batch at a time gives (without the word store's lock, threads
corrupt it: wrong scores, or an IndexError from a store cut short under another thread)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from classifiers import load_classifier
from classifiers.model_file import MODEL_PATH, load_model
from classifiers.options import ClassifierOptions
from classifiers.rules import Rules
from classifiers.triage import TriageClassifier


def _texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    words = ["school", "teacher", "kill", "lovely", "trip", "bus", "knife", "gate", "nativity",
             "absent", "reporter", "call", "free", "prize", "idiot", "proud", "where", "live"]
    # Invented words too, so that the character n-gram store keeps growing and starting again.
    return [" ".join(rng.choice(words) if rng.random() < 0.6 else
                     "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7))
                     for _ in range(rng.randint(2, 25)))
            for _ in range(n)]


def test_predictions_from_many_threads_match_predictions_one_at_a_time():
    shared = load_classifier()
    batches = [_texts(seed, 40) for seed in range(24)]
    expected = [shared.predict(batch) for batch in batches]

    # A fresh model, so that its word store starts empty, and a small store, so that threads
    # grow it and start it again while others read it.
    model = load_model(MODEL_PATH)
    model._counter.CACHE_WORDS = 300
    fresh = TriageClassifier(Rules(ClassifierOptions()), model, encoder=shared.encoder)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fresh.predict, batches * 3))
    for got, want in zip(results, expected * 3, strict=True):
        assert [v.categories for v in got] == [v.categories for v in want]
        assert [v.reasons for v in got] == [v.reasons for v in want]
        # Sums over a word store filled in another order differ in the last bits only.
        for g, w in zip(got, want, strict=True):
            assert all(abs(g.scores[c] - w.scores[c]) < 1e-4 for c in w.scores)
