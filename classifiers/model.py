"""The trained model as it runs: hashed tf-idf features -> linear heads, one per category.

Layout (all linear, so prediction is one sparse-dense matrix product):

1. `aux`: one logistic regression per public labelled set (Davidson, HateXplain, TweetEval hate),
   each reading the text features. Their scores summarise what each set means by offensive.
2. the heads: one logistic regression per category, reading the text features, the `aux` scores,
   the rules' hit columns, the text's length in words (in bins) and, when the model was trained
   with the semantic stage, the text's sentence embedding (`classifiers.encoder`) times
   `embedding_scale` and, per category, how close the text comes to the nearest known example of
   it (cosine similarity to the training examples, `exemplars`) times `similarity_scale`.
   Naive-Bayes feature weighting used in training is folded into the head's text weights, so it
   costs nothing here.

The `aux` models are linear in the text features too, so they are folded into the heads' text
weights when the model is loaded: a head's weight for a column is its own plus what the column
does through each `aux` score.

A text with no words of its own gets no model score (see SCORED_WITHOUT_WORDS). Categories no
training example covered have `trained` False: their score is the rules' alone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from classifiers.features import (
    LENGTH_BINS,
    Hashing,
    TermCounter,
    Terms,
    length_columns,
    rule_columns,
    tfidf,
    word_counts,
)
from classifiers.rules import Reading

FORMAT = 3
# How far above a typical text's (the training mean's) the embedding must push a head's logit
# before "similar to known …" is given as a reason.
SEMANTIC_REASON_LOGIT = 1.0

# Tokens that explain nothing to a reader: placeholders for handles and links, and the mark the
# rules put where an allowlisted phrase was (see classifiers.rules.ALLOWED_MARK).
_UNINFORMATIVE = frozenset({"@user", "user", "url", "email", "rt", "amp", "harmlessphrase"})
# Words that can push a score (first person is common in threats) but explain nothing alone.
_FUNCTION_WORDS = frozenset((
    # what is left of a contraction once the tokenizer splits it ("don't" -> "don", "t")
    "don", "doesn", "didn", "isn", "wasn", "won", "couldn", "wouldn", "shouldn", "aren", "haven",
    "hasn", "weren", "ain",
    # and the same written without the apostrophe
    "ive", "youre", "youve", "dont", "cant", "wont", "didnt", "doesnt", "isnt", "wasnt", "thats",
    "theyre", "shes", "hes", "whats", "ill", "id", "ur", "u",
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between",
    "both", "but", "by", "can", "can't", "cannot", "could", "couldn't", "did", "didn't", "do",
    "does", "doesn't", "doing", "don't", "down", "during", "each", "even", "ever", "every", "few",
    "for", "from", "further", "get", "gets", "got", "had", "hadn't", "has", "hasn't", "have",
    "haven't", "having", "he", "he'd", "he'll", "he's", "her", "here", "hers", "herself", "him",
    "himself", "his", "how", "i", "i'd", "i'll", "i'm", "i've", "if", "im", "in", "into", "is",
    "isn't", "it", "it's", "its", "itself", "just", "let's", "like", "me", "more", "most", "much",
    "must", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "one", "only",
    "or", "other", "ought", "our", "ours", "ourselves", "out", "over", "own", "really", "same",
    "say", "says", "said", "she", "she'd", "she'll", "she's", "should", "shouldn't", "so", "some",
    "still", "such", "than", "that", "that's", "the", "their", "theirs", "them", "themselves",
    "then", "there", "there's", "these", "they", "they'd", "they'll", "they're", "they've",
    "thing", "things", "this", "those", "through", "time", "times", "to", "too", "under", "until",
    "up", "upon", "us", "very", "was", "wasn't", "way", "we", "we'd", "we'll", "we're", "we've",
    "well", "were", "weren't", "what", "what's", "when", "where", "which", "while", "who", "who's",
    "whom", "why", "will", "with", "won't", "would", "wouldn't", "yet", "you", "you'd", "you'll",
    "you're", "you've", "your", "yours", "yourself", "yourselves", "day", "days", "today",
    "yesterday", "tomorrow", "week", "year", "years", "lot", "lots", "go", "going", "gone", "get",
    "getting", "make", "made", "see", "seen", "know", "think", "want", "back", "put", "take",
    "come",
))
# An n-gram worth showing starts and ends with a word of three letters or more that is not a
# function word ("burn", "dead meat"; never "of time" or "you will").
_CONTENT_WORD = re.compile(r"[^\W\d_]{3,}")
# A text with no words of its own (no letters outside the placeholders for handles, links and
# e-mail addresses) gives the heads nothing to weigh: their score would be little more than the
# head's intercept, which class weighting puts far above what a comment nobody can read deserves
# ("👍", "⛄⛄⛄", "??", "6-0!"). Such texts get a model score of 0, except praise: applause and
# hearts are how people praise.
SCORED_WITHOUT_WORDS = frozenset({"praise"})


@dataclass
class TriageModel:
    version: str
    categories: tuple[str, ...]
    hashing: Hashing
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
    # (n_categories, len(length_bins)): what a text's word count says (see features.LENGTH_BINS)
    length_weights: np.ndarray | None = None
    length_bins: tuple[int, ...] = LENGTH_BINS
    # The semantic stage: which encoder, its weight against the sparse block, the heads'
    # weights for its columns (n_categories, dimensions), and the mean embedding of the training
    # texts (what a degraded classifier, without the encoder, puts in its place).
    encoder: str = ""
    embedding_scale: float = 0.0
    embedding_weights: np.ndarray | None = None
    embedding_mean: np.ndarray | None = None
    # Known examples: their embeddings (n, dimensions) and category index (n,); the heads'
    # weights (n_categories, n_categories) for the nearest-example similarity of each category;
    # and the training texts' mean similarities (for a degraded classifier).
    exemplars: np.ndarray | None = None
    exemplar_categories: np.ndarray | None = None
    similarity_scale: float = 0.0
    similarity_weights: np.ndarray | None = None
    similarity_mean: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.length_weights is None:
            self.length_weights = np.zeros((len(self.categories), len(self.length_bins)),
                                           dtype=np.float32)
        n_text = self.hashing.n_features
        for name, matrix, rows in (("text_coef", self.text_coef, len(self.categories)),
                                   ("aux_coef", self.aux_coef, len(self.aux_names))):
            if matrix.shape != (rows, n_text):
                raise ValueError(f"{name} is {matrix.shape}, expected {(rows, n_text)}")
        if self.idf.shape != (n_text,):
            raise ValueError(f"idf has {self.idf.shape[0]} columns, expected {n_text}")
        # Dense, C-ordered (columns x categories) weights make X @ W one fast sparse-dense
        # product: scipy copies any other layout on every product. Kept sparse in the file (most
        # hashed columns are never seen in training), dense in memory.
        folded = self.text_coef.T.toarray()
        if len(self.aux_names):
            folded += self.aux_coef.T @ self.aux_weights.T
        self._text_weights = np.ascontiguousarray(folded, dtype=np.float32)
        self._bias = (self.intercept + self.aux_weights @ self.aux_intercept).astype(np.float32)
        self._word_features = self.hashing.word_features
        self._counter = TermCounter(self.hashing)
        self._kept_without_words = np.array([c in SCORED_WITHOUT_WORDS
                                             for c in self.categories], dtype=np.float32)
        if self.encoder:
            if self.embedding_weights is None or self.embedding_mean is None:
                raise ValueError("a model with an encoder needs its embedding weights and mean")
            if self.embedding_weights.shape != (len(self.categories), len(self.embedding_mean)):
                raise ValueError(f"embedding_weights is {self.embedding_weights.shape}, expected "
                                 f"{(len(self.categories), len(self.embedding_mean))}")
            self._embedding_weights = np.ascontiguousarray(
                self.embedding_weights.T * self.embedding_scale, dtype=np.float32)
            self._typical_push = self.embedding_mean @ self._embedding_weights
            if self.uses_exemplars:
                self._exemplars = np.ascontiguousarray(self.exemplars, dtype=np.float32)
                self._similarity_weights = np.ascontiguousarray(
                    self.similarity_weights.T * self.similarity_scale, dtype=np.float32)
                self._typical_push = self._typical_push + \
                    self.similarity_mean @ self._similarity_weights

    @property
    def uses_exemplars(self) -> bool:
        return bool(self.encoder) and self.exemplars is not None and len(self.exemplars) > 0

    @property
    def uses_encoder(self) -> bool:
        return bool(self.encoder)

    @classmethod
    def from_payload(cls, payload: Mapping, version: str) -> TriageModel:
        thresholds = {str(k): float(v) for k, v in dict(payload["thresholds"]).items()}
        return cls(version=version, categories=tuple(payload["categories"]),
                   hashing=Hashing.from_payload(payload["hashing"]),
                   idf=np.asarray(payload["idf"], dtype=np.float32),
                   aux_names=tuple(payload["aux_names"]),
                   aux_coef=_csr_from(payload["aux_coef"]),
                   aux_intercept=np.asarray(payload["aux_intercept"], dtype=np.float32),
                   text_coef=_csr_from(payload["text_coef"]),
                   aux_weights=np.asarray(payload["aux_weights"], dtype=np.float32),
                   rule_weights=np.asarray(payload["rule_weights"], dtype=np.float32),
                   intercept=np.asarray(payload["intercept"], dtype=np.float32),
                   trained=np.asarray(payload["trained"], dtype=bool), thresholds=thresholds,
                   length_weights=np.asarray(payload["length_weights"], dtype=np.float32),
                   length_bins=tuple(int(b) for b in payload["length_bins"]),
                   **_embedding_from(payload))

    def payload(self) -> dict:
        """What goes into the model file (everything but the version, which the sidecar holds):
        plain values and numpy arrays only."""
        return {
            "format": FORMAT, "categories": list(self.categories),
            "hashing": self.hashing.as_payload(), "idf": self.idf,
            "aux_names": list(self.aux_names), "aux_coef": _csr_to(self.aux_coef),
            "aux_intercept": self.aux_intercept, "text_coef": _csr_to(self.text_coef),
            "aux_weights": self.aux_weights, "rule_weights": self.rule_weights,
            "intercept": self.intercept, "trained": self.trained,
            "thresholds": {k: float(v) for k, v in self.thresholds.items()},
            "length_weights": self.length_weights, "length_bins": list(self.length_bins),
            "encoder": self.encoder, "embedding_scale": float(self.embedding_scale),
            "embedding_weights": self.embedding_weights if self.encoder else np.zeros((0, 0)),
            "embedding_mean": self.embedding_mean if self.encoder else np.zeros(0),
            **({"exemplars": self.exemplars.astype(np.float16),
                "exemplar_categories": self.exemplar_categories.astype(np.int8),
                "similarity_scale": float(self.similarity_scale),
                "similarity_weights": self.similarity_weights,
                "similarity_mean": self.similarity_mean} if self.uses_exemplars else {}),
        }

    def features(self, readings: Sequence[Reading]) -> tuple[sp.csr_matrix, Terms]:
        """tf-idf rows, and the n-grams behind them (for explanations)."""
        terms = self._counter.counts([r.folded for r in readings])
        return tfidf(terms.counts, self.idf), terms

    def score(self, readings: Sequence[Reading], embeddings: np.ndarray | None = None,
              shift: np.ndarray | None = None) -> tuple[np.ndarray, Explanations]:
        """Probabilities (rows: texts, columns: `CATEGORIES`) and the means to say which word
        n-grams, or the semantic stage, pushed a text's score for a category up the most.

        `embeddings` are the texts' sentence embeddings for a model with an encoder; None runs
        it degraded, with the training mean in their place. `shift` is added to the logits (a
        school's adjustment, rows: texts, columns: categories)."""
        text, terms = self.features(readings)
        rules = rule_columns(readings)
        words = word_counts(readings)
        logits = (text @ self._text_weights + rules @ self.rule_weights.T
                  + length_columns(words, self.length_bins) @ self.length_weights.T + self._bias)
        semantic = None
        if self.encoder:
            if embeddings is None:
                logits += self._typical_push
            else:
                push = embeddings @ self._embedding_weights
                if self.uses_exemplars:
                    similarity = nearest_similarity(embeddings, self._exemplars,
                                                    self.exemplar_categories,
                                                    len(self.categories))
                    push += similarity @ self._similarity_weights
                logits += push
                semantic = push - self._typical_push
        if shift is not None:
            logits += shift
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        wordless = words == 0
        if wordless.any():
            probabilities[wordless] *= self._kept_without_words
        # Untrained heads: the rules decide (the strongest hit's strength).
        for j in np.flatnonzero(~self.trained):
            category = self.categories[j]
            probabilities[:, j] = [r.strength(category) for r in readings]
        return probabilities, Explanations(self, text, terms, semantic)


def _embedding_from(payload: Mapping) -> dict:
    encoder = str(payload.get("encoder", ""))
    if not encoder:
        return {}
    found = {"encoder": encoder, "embedding_scale": float(payload["embedding_scale"]),
             "embedding_weights": np.asarray(payload["embedding_weights"], dtype=np.float32),
             "embedding_mean": np.asarray(payload["embedding_mean"], dtype=np.float32)}
    if "exemplars" in payload:
        found.update(
            exemplars=np.asarray(payload["exemplars"], dtype=np.float32),
            exemplar_categories=np.asarray(payload["exemplar_categories"], dtype=np.int64),
            similarity_scale=float(payload["similarity_scale"]),
            similarity_weights=np.asarray(payload["similarity_weights"], dtype=np.float32),
            similarity_mean=np.asarray(payload["similarity_mean"], dtype=np.float32))
    return found


def nearest_similarity(embeddings: np.ndarray, exemplars: np.ndarray, categories: np.ndarray,
                       n_categories: int, own: tuple[np.ndarray, np.ndarray] | None = None,
                       chunk: int = 4096) -> np.ndarray:
    """(texts, n_categories): each text's cosine similarity to the nearest exemplar of each
    category (0 where a category has none). `own` = (an id per text, an id per exemplar): a
    text does not count exemplars with its own id (itself, when training on the exemplars)."""
    out = np.zeros((len(embeddings), n_categories), dtype=np.float32)
    present = [j for j in range(n_categories) if (categories == j).any()]
    columns = {j: np.flatnonzero(categories == j) for j in present}
    for start in range(0, len(embeddings), chunk):
        similarity = embeddings[start:start + chunk] @ exemplars.T
        if own is not None:
            text_ids, exemplar_ids = own
            similarity[text_ids[start:start + chunk, None] == exemplar_ids[None, :]] = -1.0
        for j in present:
            out[start:start + chunk, j] = similarity[:, columns[j]].max(axis=1)
    return out


def _csr_to(matrix: sp.csr_matrix) -> dict:
    matrix = sp.csr_matrix(matrix)
    return {"data": matrix.data.astype(np.float32), "indices": matrix.indices.astype(np.int32),
            "indptr": matrix.indptr.astype(np.int64), "shape": [int(n) for n in matrix.shape]}


def _csr_from(stored: Mapping) -> sp.csr_matrix:
    rows, columns = (int(n) for n in stored["shape"])
    matrix = sp.csr_matrix((np.asarray(stored["data"], dtype=np.float32),
                            np.asarray(stored["indices"], dtype=np.int32),
                            np.asarray(stored["indptr"], dtype=np.int64)), shape=(rows, columns))
    matrix.check_format(full_check=True)
    return matrix


class Explanations:
    """The word n-grams behind a batch's scores, worked out only for the texts and categories
    asked about.

    A text's word columns and their tf-idf values are in its feature row, so what each column
    pushed is a product; the column of every word n-gram is known from counting them, so the
    columns worth looking at are those a readable n-gram of the text landed in, each named by
    the first such n-gram. All of it is done with array operations over the batch.
    """

    # Candidate n-grams kept per (text, category): more than asked for, as some are said already
    # by a longer phrase.
    CANDIDATES = 8

    def __init__(self, model: TriageModel, text: sp.csr_matrix, terms: Terms,
                 semantic: np.ndarray | None = None) -> None:
        self.model = model
        self.text = text
        self.terms = terms
        # (texts, categories): how far the embedding pushed each logit above a typical text's
        self.semantic = semantic
        # (text, category) -> its candidate n-grams (indices into `terms`), best first, and the
        # strongest one's push on the logit
        self._candidates: dict[tuple[int, int], list[int]] = {}
        self._strongest: dict[tuple[int, int], float] = {}
        self._nameable: tuple[np.ndarray, ...] | None = None

    def prepare(self, flags: np.ndarray) -> None:
        """Work out the phrases behind every flagged (text, category) in `flags` (texts x
        categories, bool), one category at a time over all its texts."""
        for j in np.flatnonzero(self.model.trained & flags.any(axis=0)):
            self._work_out(np.flatnonzero(flags[:, j]), int(j))

    def _pairs(self) -> tuple[np.ndarray, ...]:
        """Every (text, word column) a readable n-gram landed in, sorted by text then column:
        rows, columns, the first readable n-gram there, and the column's tf-idf value in the
        row before the row is scaled to unit length (which changes no order and no sign)."""
        if self._nameable is None:
            terms = self.terms
            readable = _readable_ngrams(terms)
            text_of = np.repeat(np.arange(len(terms.offsets) - 1), np.diff(terms.offsets))
            width = np.int64(self.model._word_features)
            keys = text_of * width + terms.columns
            # Grouped by (text, column), readable n-grams first, each in text order.
            order = np.lexsort((np.arange(len(keys)), ~readable, keys))
            starts = np.flatnonzero(np.r_[True, keys[order][1:] != keys[order][:-1]]) \
                if len(keys) else np.zeros(0, dtype=np.int64)
            counts = np.diff(np.r_[starts, len(keys)])
            first = order[starts]
            named = readable[first]
            first, counts = first[named], counts[named]
            columns = terms.columns[first]
            values = (1.0 + np.log(counts)) * self.model.idf[columns]
            # Scaled as the feature row is (unit length over all its columns), so that a push is
            # what the n-gram really adds to the logit.
            raw = terms.counts
            weighted = (1.0 + np.log(np.maximum(raw.data, 1.0))) * self.model.idf[raw.indices]
            row_of = np.repeat(np.arange(raw.shape[0]), np.diff(raw.indptr))
            norms = np.sqrt(np.bincount(row_of, weights=np.square(weighted),
                                        minlength=raw.shape[0]))
            norms[norms == 0.0] = 1.0
            rows = text_of[first]
            self._nameable = rows, columns, first, (values / norms[rows]).astype(np.float32)
        return self._nameable

    def _work_out(self, rows: np.ndarray, j: int) -> None:
        chosen = np.zeros(self.text.shape[0], dtype=bool)
        chosen[rows] = True
        pair_rows, columns, ngrams, values = self._pairs()
        pushes = values * self.model._text_weights[columns, j]
        keep = chosen[pair_rows] & (pushes > 0)
        pair_rows, columns, ngrams, pushes = (a[keep] for a in (pair_rows, columns, ngrams,
                                                                 pushes))
        # Biggest push first; ties in column order.
        order = np.lexsort((columns, -pushes, pair_rows))
        pair_rows, ngrams, pushes = pair_rows[order], ngrams[order], pushes[order]
        starts = np.searchsorted(pair_rows, rows)
        ends = np.minimum(np.searchsorted(pair_rows, rows, side="right"),
                          starts + self.CANDIDATES)
        ngrams = ngrams.tolist()
        pushes = pushes.tolist()
        for row, lo, hi in zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True):
            self._candidates[(row, j)] = ngrams[lo:hi]
            self._strongest[(row, j)] = pushes[lo] if hi > lo else 0.0

    def strongest_push(self, row: int, category: str) -> float:
        """How much the text's strongest readable n-gram adds to the category's logit."""
        j = self.model.categories.index(category)
        if (row, j) not in self._strongest:
            self._work_out(np.array([row]), j)
        return self._strongest[(row, j)]

    def similar(self, row: int, category: str) -> bool:
        """Did the semantic stage, on its own, push this text's category well above a typical
        text's? (Then "similar to known …" is a reason worth giving.)"""
        if self.semantic is None:
            return False
        return bool(self.semantic[row, self.model.categories.index(category)]
                    >= SEMANTIC_REASON_LOGIT)

    def __call__(self, row: int, category: str, k: int) -> list[str]:
        j = self.model.categories.index(category)
        if not self.model.trained[j]:
            return []
        if (row, j) not in self._candidates:
            self._work_out(np.array([row]), j)
        chosen: list[str] = []
        for index in self._candidates[(row, j)]:
            ngram = self.terms.ngram(index)
            # "you twat" already says what "twat" would.
            if any(ngram in c.split() or c in ngram.split() for c in chosen):
                continue
            chosen.append(ngram)
            if len(chosen) == k:
                break
        return chosen


@functools.lru_cache(maxsize=200_000)
def _is_content(token: str) -> bool:
    """Is `token` a word worth showing a reader? (lru_cache is safe across threads.)"""
    return bool(_CONTENT_WORD.fullmatch(token)) and token not in _FUNCTION_WORDS


def _readable_ngrams(terms: Terms) -> np.ndarray:
    """Per word n-gram of `terms`: do its first and last words say something (a word of three
    letters or more that is neither a function word nor a placeholder such as "url")?"""
    content = np.fromiter(map(_is_content, terms.tokens), dtype=bool,
                          count=len(terms.tokens))
    placeholder = np.fromiter(map(_UNINFORMATIVE.__contains__, terms.tokens), dtype=bool,
                              count=len(terms.tokens))
    content &= ~placeholder
    if not len(terms.first):
        return np.zeros(0, dtype=bool)
    return content[terms.first] & content[terms.first + terms.size - 1]
