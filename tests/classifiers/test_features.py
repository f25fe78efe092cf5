"""The fast feature path must give exactly what scikit-learn's hashers give."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from classifiers.features import (
    Hashing,
    TermCounter,
    tfidf,
    word_feature_index,
)
from classifiers.features import (
    murmurhash3_32 as our_murmurhash,
)

TEXTS = ["you absolute twat", "", "  ", "well done year 6 🎉🎉", "a", "x\u2003y\x1cz  w",
         "the the the the", "sh*t happens", "@user url ?", "éé ß ﬁ", "the", "naïve café 🎉 ok",
         "a b", "ab  cd efg hijk lmnop qrstuv", "😡", "don't!!! ... ??"]


def hashers(hashing: Hashing) -> tuple[HashingVectorizer, HashingVectorizer]:
    common = {"n_features": None, "alternate_sign": False, "norm": None, "lowercase": False,
              "dtype": np.float32}
    word = HashingVectorizer(analyzer="word", ngram_range=hashing.word_ngrams,
                             token_pattern=hashing.token_pattern,
                             **{**common, "n_features": hashing.word_features})
    char = HashingVectorizer(analyzer="char_wb", ngram_range=hashing.char_ngrams,
                             **{**common, "n_features": hashing.char_features})
    return word, char


def test_murmurhash_is_scikit_learns():
    keys = ["", "a", "ab", "abc", "abcd", "abcde", "héllo wörld", "🎉🎉", "x" * 41, *TEXTS]
    expected = [murmurhash3_32(k, seed=0) for k in keys]
    assert our_murmurhash([k.encode() for k in keys]).tolist() == expected


def test_term_counts_equal_the_hashing_vectorizers():
    for hashing in (Hashing(), Hashing(word_features=2**10, char_features=2**9,
                                       word_ngrams=(1, 3), char_ngrams=(1, 4))):
        word, char = hashers(hashing)
        counter = TermCounter(hashing)
        expected = sp.hstack([word.transform(TEXTS), char.transform(TEXTS)], format="csr")
        for _ in range(2):  # cold, then from the word store
            terms = counter.counts(TEXTS)
            assert (terms.counts != expected).nnz == 0
        analyse = word.build_analyzer()
        assert terms.word_ngrams == [analyse(t) for t in TEXTS]
        for i, text in enumerate(TEXTS):
            columns = terms.columns[terms.offsets[i]:terms.offsets[i + 1]]
            assert columns.tolist() == [word_feature_index(g, hashing.word_features)
                                        for g in analyse(text)]
    assert TermCounter().counts(TEXTS).word_ngrams[0] == \
        ["you", "absolute", "twat", "you absolute", "absolute twat"]


def test_the_word_store_starts_again_when_full(monkeypatch):
    monkeypatch.setattr(TermCounter, "CACHE_WORDS", 5)
    word, char = hashers(Hashing())
    counter = TermCounter()
    for start in range(0, len(TEXTS), 3):
        batch = TEXTS[start:start + 3] + TEXTS[:2]
        expected = sp.hstack([word.transform(batch), char.transform(batch)], format="csr")
        assert (counter.counts(batch).counts != expected).nnz == 0


def test_an_empty_batch_gives_an_empty_matrix():
    terms = TermCounter().counts([])
    assert terms.counts.shape[0] == 0 and terms.word_ngrams == []


def test_tfidf_rows_have_unit_length():
    counts = TermCounter().counts(TEXTS).counts
    weighted = tfidf(counts, np.ones(counts.shape[1], dtype=np.float32))
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
    assert np.allclose(norms[[len(t.strip()) > 0 for t in TEXTS]], 1.0, atol=1e-6)
    assert weighted.dtype == np.float32
