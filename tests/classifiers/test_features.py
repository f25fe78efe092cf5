"""The fast feature path must give exactly what scikit-learn's hashers give."""

from __future__ import annotations

import scipy.sparse as sp

from classifiers.features import TermCounter, char_hasher, word_feature_index, word_hasher

TEXTS = ["you absolute twat", "", "  ", "well done year 6 🎉🎉", "a", "x\u2003y\x1cz  w",
         "the the the the", "sh*t happens", "@user url ?", "éé ß ﬁ", "the"]


def test_term_counts_equal_the_hashing_vectorizers():
    word, char = word_hasher(), char_hasher()
    counter = TermCounter(word, char)
    expected = sp.hstack([word.transform(TEXTS), char.transform(TEXTS)], format="csr")
    for _ in range(2):  # cold, then from the word cache
        counts, ngrams = counter.counts(TEXTS)
        assert (counts != expected).nnz == 0
    assert ngrams[0] == ["you", "absolute", "twat", "you absolute", "absolute twat"]


def test_an_empty_batch_gives_an_empty_matrix():
    counts, ngrams = TermCounter(word_hasher(), char_hasher()).counts([])
    assert counts.shape[0] == 0 and ngrams == []


def test_a_word_ngram_names_the_column_the_hasher_puts_it_in():
    word = word_hasher()
    for token in ("twat", "🎉", "?", "year"):
        assert word.transform([token]).indices.tolist() == \
            [word_feature_index(token, word.n_features)]
    assert word_feature_index("absolute twat", word.n_features) in \
        word.transform(["absolute twat"]).indices
