"""The trained model as it runs: hashed tf-idf features -> linear heads, one per category.

Layout (all linear, so prediction is two sparse matrix products):

1. `aux`: one logistic regression per public labelled set (Davidson, HateXplain, TweetEval hate),
   each reading the text features. Their scores summarise what each set means by offensive.
2. the heads: one logistic regression per category, reading the text features, the `aux` scores
   and the rules' hit columns. Naive-Bayes feature weighting used in training is folded into the
   head's text weights, so it costs nothing here.

Categories no training example covered have `trained` False: their score is the rules' alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from classifiers.features import TermCounter, rule_columns, tfidf, word_feature_index
from classifiers.rules import Reading

# Word n-grams that explain nothing to a reader.
_UNINFORMATIVE = frozenset({"@user", "user", "url", "email", "rt", "amp"})
# Words that can push a score (first person is common in threats) but explain nothing alone.
_FUNCTION_WORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "for", "from", "he",
    "her", "him", "his", "i", "i'm", "im", "in", "is", "it", "its", "me", "my", "of", "on", "or",
    "our", "she", "so", "that", "the", "their", "them", "they", "this", "to", "up", "us", "was",
    "we", "were", "what", "when", "will", "with", "you", "your",
))
# An n-gram worth showing has a word of three letters or more that is not a function word.
_CONTENT_WORD = re.compile(r"[^\W\d_]{3,}")


@dataclass
class TriageModel:
    version: str
    categories: tuple[str, ...]
    word_hasher: HashingVectorizer
    char_hasher: HashingVectorizer
    idf: np.ndarray  # (n_text,) float32
    aux_names: tuple[str, ...]
    aux_coef: sp.csr_matrix  # (n_aux, n_text)
    aux_intercept: np.ndarray  # (n_aux,)
    text_coef: sp.csr_matrix  # (n_categories, n_text)
    aux_weights: np.ndarray  # (n_categories, n_aux)
    rule_weights: np.ndarray  # (n_categories, n_categories)
    intercept: np.ndarray  # (n_categories,)
    trained: np.ndarray  # (n_categories,) bool
    thresholds: Mapping[str, float]

    def __post_init__(self) -> None:
        # Dense, column-major text weights make X @ W one fast sparse-dense product. Kept sparse in
        # the file (most hashed columns are never seen in training), dense in memory.
        # C order: scipy copies any other layout on every product.
        self._text_weights = np.ascontiguousarray(self.text_coef.T.toarray(), dtype=np.float32)
        self._aux_weights_t = np.ascontiguousarray(self.aux_coef.T.toarray(), dtype=np.float32)
        self._word_features = self.word_hasher.n_features
        self._counter = TermCounter(self.word_hasher, self.char_hasher)
        self._columns: dict[str, int] = {}

    def _word_column(self, ngram: str) -> int:
        """The feature column of a word n-gram worth showing a reader, or -1; remembered, as the
        same n-grams recur."""
        column = self._columns.get(ngram)
        if column is None:
            if len(self._columns) > 100_000:
                self._columns.clear()
            column = word_feature_index(ngram, self._word_features) if _readable(ngram) else -1
            self._columns[ngram] = column
        return column

    @classmethod
    def from_payload(cls, payload: Mapping, version: str) -> TriageModel:
        thresholds = {str(k): float(v) for k, v in dict(payload["thresholds"]).items()}
        return cls(version=version, categories=tuple(payload["categories"]),
                   word_hasher=payload["word_hasher"], char_hasher=payload["char_hasher"],
                   idf=np.asarray(payload["idf"], dtype=np.float32),
                   aux_names=tuple(payload["aux_names"]), aux_coef=payload["aux_coef"],
                   aux_intercept=np.asarray(payload["aux_intercept"], dtype=np.float32),
                   text_coef=payload["text_coef"],
                   aux_weights=np.asarray(payload["aux_weights"], dtype=np.float32),
                   rule_weights=np.asarray(payload["rule_weights"], dtype=np.float32),
                   intercept=np.asarray(payload["intercept"], dtype=np.float32),
                   trained=np.asarray(payload["trained"], dtype=bool), thresholds=thresholds)

    def payload(self) -> dict:
        """What goes into the model file (everything but the version, which the sidecar holds)."""
        return {
            "format": 1, "categories": list(self.categories), "word_hasher": self.word_hasher,
            "char_hasher": self.char_hasher, "idf": self.idf, "aux_names": list(self.aux_names),
            "aux_coef": self.aux_coef, "aux_intercept": self.aux_intercept,
            "text_coef": self.text_coef, "aux_weights": self.aux_weights,
            "rule_weights": self.rule_weights, "intercept": self.intercept,
            "trained": self.trained, "thresholds": dict(self.thresholds),
        }

    def features(self, readings: Sequence[Reading]) -> tuple[sp.csr_matrix, list[list[str]]]:
        """tf-idf rows, and each text's word n-grams (for explanations)."""
        counts, word_ngrams = self._counter.counts([r.folded for r in readings])
        return tfidf(counts, self.idf), word_ngrams

    def score(self, readings: Sequence[Reading]) -> tuple[np.ndarray, Explanations]:
        """Probabilities (rows: texts, columns: `CATEGORIES`) and the means to say which word
        n-grams pushed a text's score for a category up the most."""
        text, word_ngrams = self.features(readings)
        aux = text @ self._aux_weights_t + self.aux_intercept
        rules = rule_columns(readings)
        logits = (text @ self._text_weights + aux @ self.aux_weights.T
                  + rules @ self.rule_weights.T + self.intercept)
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        # Untrained heads: the rules decide (the strongest hit's strength).
        for j in np.flatnonzero(~self.trained):
            category = self.categories[j]
            probabilities[:, j] = [r.strength(category) for r in readings]
        return probabilities, Explanations(self, text, word_ngrams)


class Explanations:
    """The word n-grams behind a batch's scores, worked out only for the texts asked about.

    A text's word columns and their tf-idf values are in its feature row, so the pushes of every
    column come from one vector product; only the few columns that pushed most need naming,
    which means hashing the text's n-grams until each of them is found, once per text for all
    the categories asked about.
    """

    # Candidate columns looked at per category: more than asked for, as some name only a
    # function word and some are said already by a longer phrase.
    CANDIDATES = 8

    def __init__(self, model: TriageModel, text: sp.csr_matrix,
                 word_ngrams: Sequence[list[str]]) -> None:
        self.model = model
        self.text = text
        self.word_ngrams = word_ngrams
        self._top: dict[tuple[int, int], list[int]] = {}
        self._named: dict[int, dict[int, str | None]] = {}

    def prepare(self, flags: np.ndarray) -> None:
        """Name the columns behind every flagged (text, category) in `flags` (texts x
        categories, bool) in one pass over each text's n-grams."""
        for row in np.flatnonzero(flags.any(axis=1)):
            categories = np.flatnonzero(flags[row] & self.model.trained)
            self._name(int(row), [self._candidates(int(row), int(j)) for j in categories])

    def _candidates(self, row: int, j: int) -> list[int]:
        found = self._top.get((row, j))
        if found is None:
            model = self.model
            lo, hi = self.text.indptr[row], self.text.indptr[row + 1]
            columns = self.text.indices[lo:hi]
            words = columns < model._word_features
            columns = columns[words]
            pushes = self.text.data[lo:hi][words] * model._text_weights[columns, j]
            order = np.argsort(-pushes, kind="stable")[:self.CANDIDATES]
            found = self._top[(row, j)] = [int(columns[i]) for i in order if pushes[i] > 0]
        return found

    def _name(self, row: int, candidate_lists: list[list[int]]) -> dict[int, str | None]:
        named = self._named.setdefault(row, {})
        wanted = {c for candidates in candidate_lists for c in candidates} - set(named)
        if wanted:
            column_of = self.model._word_column
            known = self.model._columns
            for ngram in self.word_ngrams[row]:
                column = known.get(ngram)
                if column is None:
                    column = column_of(ngram)
                if column in wanted:
                    named[column] = ngram
                    wanted.discard(column)
                    if not wanted:
                        break
            # Columns only function words or punctuation hash to: never look for them again.
            named.update(dict.fromkeys(wanted))
        return named

    def __call__(self, row: int, category: str, k: int) -> list[str]:
        j = self.model.categories.index(category)
        if not self.model.trained[j]:
            return []
        top = self._candidates(row, j)
        named = self._name(row, [top])
        chosen: list[str] = []
        for column in top:
            ngram = named.get(column)
            # "you twat" already says what "twat" would.
            if ngram is None or any(ngram in c.split() or c in ngram.split() for c in chosen):
                continue
            chosen.append(ngram)
            if len(chosen) == k:
                break
        return chosen


def _readable(ngram: str) -> bool:
    if ngram in _UNINFORMATIVE:
        return False
    return any(_CONTENT_WORD.fullmatch(w) and w not in _FUNCTION_WORDS for w in ngram.split())
