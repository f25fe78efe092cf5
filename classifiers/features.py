"""What the model reads: hashed word and character n-grams of the normalised text, plus the rules'
hits as a handful of extra columns.

Hashing (no vocabulary) keeps the model file small and loading instant; character n-grams catch
misspellings and disguises the normaliser does not undo. The same functions serve training and
prediction, so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils import murmurhash3_32

from classifiers.base import CATEGORIES
from classifiers.rules import Reading

WORD_BITS = 18
CHAR_BITS = 18
CHAR_NGRAMS = (2, 5)
# Words, and single punctuation marks and emoji ("?" says question, "😡" says anger).
TOKEN_PATTERN = r"(?u)\b\w+\b|[^\w\s]"
# A rule column saturates here: five swear words are not five times the evidence of one.
RULE_CAP = 2.0


def word_hasher(bits: int = WORD_BITS) -> HashingVectorizer:
    return HashingVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=TOKEN_PATTERN,
                             n_features=2**bits, alternate_sign=False, norm=None,
                             lowercase=False, dtype=np.float32)


def char_hasher(bits: int = CHAR_BITS) -> HashingVectorizer:
    return HashingVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, n_features=2**bits,
                             alternate_sign=False, norm=None, lowercase=False, dtype=np.float32)


class TermCounter:
    """Counts hashed n-grams exactly as the two HashingVectorizers would, faster.

    Character n-grams of the "char_wb" kind never cross a word boundary, so a text's character
    counts are the sum of its words' counts. Words repeat a great deal, so each word's hashed
    n-grams are worked out once and cached: hashing millions of short strings is what costs.
    The word n-gram lists are kept for the caller, which uses them to explain scores.
    """

    # About 300 bytes a word: the cache stays within some 15 MB.
    CACHE_WORDS = 50_000

    def __init__(self, word: HashingVectorizer, char: HashingVectorizer) -> None:
        if char.analyzer != "char_wb" or word.analyzer != "word":
            raise ValueError("expected a word and a char_wb hasher")
        self.word = word
        self.char = char
        self._word_analyzer = word.build_analyzer()
        self._char_analyzer = char.build_analyzer()
        self._word_hashing = FeatureHasher(word.n_features, input_type="string",
                                           alternate_sign=False, dtype=np.float32)
        self._char_hashing = FeatureHasher(char.n_features, input_type="string",
                                           alternate_sign=False, dtype=np.float32)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def counts(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[list[str]]]:
        """Raw n-gram counts (words first, then characters) and each text's word n-grams."""
        word_ngrams = [self._word_analyzer(t) for t in texts]
        words = self._word_hashing.transform(word_ngrams) if texts \
            else sp.csr_matrix((0, self.word.n_features), dtype=np.float32)
        chars = self._char_counts(texts)
        return sp.hstack([words, chars], format="csr", dtype=np.float32), word_ngrams

    def _char_counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        split = [t.split() for t in texts]
        cache = self._cache
        unseen = list({w for ws in split for w in ws if w not in cache})
        if len(cache) + len(unseen) > self.CACHE_WORDS:
            cache.clear()
            unseen = list({w for ws in split for w in ws})
        if unseen:
            hashed = self._char_hashing.transform([self._char_analyzer(w) for w in unseen])
            for i, w in enumerate(unseen):
                lo, hi = hashed.indptr[i], hashed.indptr[i + 1]
                cache[w] = (hashed.indices[lo:hi], hashed.data[lo:hi])
        pieces = [cache[w] for ws in split for w in ws]
        n = len(texts)
        shape = (n, self.char.n_features)
        if not pieces:
            return sp.csr_matrix(shape, dtype=np.float32)
        lengths = np.fromiter((len(p[0]) for p in pieces), dtype=np.int64, count=len(pieces))
        text_of_word = np.repeat(np.arange(n), [len(ws) for ws in split])
        per_text = np.bincount(text_of_word, weights=lengths, minlength=n).astype(np.int64)
        columns = np.concatenate([p[0] for p in pieces])
        values = np.concatenate([p[1] for p in pieces])
        rows = np.repeat(np.arange(n), per_text)
        # COO -> CSR sums the counts of an n-gram that several words share.
        return sp.coo_matrix((values, (rows, columns)), shape=shape).tocsr()


def tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf-idf, rows scaled to unit length (TfidfTransformer(sublinear_tf=True))."""
    weighted = counts.copy()
    weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices]
    return normalize(weighted, copy=False)


def rule_columns(readings: Sequence[Reading]) -> np.ndarray:
    """One column per category: the summed strength of the rules that fired for it."""
    index = {c: i for i, c in enumerate(CATEGORIES)}
    columns = np.zeros((len(readings), len(CATEGORIES)), dtype=np.float32)
    for row, reading in enumerate(readings):
        for hit in reading.hits:
            columns[row, index[hit.category]] += hit.strength
    return np.minimum(columns, RULE_CAP, out=columns)


def word_feature_index(ngram: str, n_features: int) -> int:
    """The column a word n-gram lands in: the same hash HashingVectorizer uses."""
    return abs(murmurhash3_32(ngram, seed=0)) % n_features
