"""What the model reads: hashed word and character n-grams of the normalised text, plus the rules'
hits as a handful of extra columns.

Hashing (no vocabulary) keeps the model file small and loading instant; character n-grams catch
misspellings and disguises the normaliser does not undo. The n-grams and their columns are exactly
those of scikit-learn's `HashingVectorizer` (word 1-2 grams with `TOKEN_PATTERN`, "char_wb" 2-5
grams, MurmurHash3 with seed 0, no alternate sign), computed here with numpy alone so that
classifying never has to import scikit-learn. The same functions serve training and prediction,
so the two can never drift apart.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from classifiers.base import CATEGORIES
from classifiers.rules import Reading

WORD_BITS = 18
CHAR_BITS = 18
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
# Words, and single punctuation marks and emoji ("?" says question, "😡" says anger).
TOKEN_PATTERN = r"(?u)\b\w+\b|[^\w\s]"
# A rule column saturates here: five swear words are not five times the evidence of one.
RULE_CAP = 2.0
# How much a text says, as columns a head can weigh: its number of words (runs of letters, not
# counting the placeholders for handles, links and e-mail addresses) in bins of at most 2, 3 to
# 5 and 6 to 10; longer texts have none set. tf-idf rows all have unit length, so a two-word reply
# puts its whole weight on a handful of n-grams and can score as high as a paragraph of menace;
# these columns let each head learn how much a short text can say about it.
LENGTH_BINS = (2, 5, 10)
_PLACEHOLDERS = re.compile(r"@user|(?<![\w@])(?:url|email)(?!\w)")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Hashing:
    """How a text becomes columns: what the model file records beside the weights."""

    word_features: int = 2**WORD_BITS
    char_features: int = 2**CHAR_BITS
    word_ngrams: tuple[int, int] = WORD_NGRAMS
    char_ngrams: tuple[int, int] = CHAR_NGRAMS
    token_pattern: str = TOKEN_PATTERN

    @property
    def n_features(self) -> int:
        return self.word_features + self.char_features

    def as_payload(self) -> dict:
        return {"word_features": self.word_features, "char_features": self.char_features,
                "word_ngrams": list(self.word_ngrams), "char_ngrams": list(self.char_ngrams),
                "token_pattern": self.token_pattern}

    @classmethod
    def from_payload(cls, payload: Mapping) -> Hashing:
        return cls(int(payload["word_features"]), int(payload["char_features"]),
                   _pair(payload["word_ngrams"]), _pair(payload["char_ngrams"]),
                   str(payload["token_pattern"]))


def _pair(value) -> tuple[int, int]:
    low, high = (int(v) for v in value)
    if not 1 <= low <= high:
        raise ValueError(f"not an n-gram range: {value!r}")
    return low, high


# --- MurmurHash3 (x86, 32 bits), as scikit-learn's hashers use it, over many keys at once --------

_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)
_M5, _N1 = np.uint32(5), np.uint32(0xE6546B64)
_F1, _F2 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix(k: np.ndarray) -> np.ndarray:
    k = k * _C1
    return _rotl(k, 15) * _C2


def _murmur_fixed(data: np.ndarray) -> np.ndarray:
    """MurmurHash3 of each row of `data`, an (m, length) uint8 array."""
    m, length = data.shape
    h = np.zeros(m, dtype=np.uint32)
    if length:
        data = data.astype(np.uint32)
        blocks = length // 4
        for b in range(blocks):
            k = (data[:, 4 * b] | (data[:, 4 * b + 1] << np.uint32(8))
                 | (data[:, 4 * b + 2] << np.uint32(16)) | (data[:, 4 * b + 3] << np.uint32(24)))
            h ^= _mix(k)
            h = _rotl(h, 13) * _M5 + _N1
        tail = length & 3
        if tail:
            k = np.zeros(m, dtype=np.uint32)
            for i in range(tail - 1, -1, -1):
                k ^= data[:, 4 * blocks + i] << np.uint32(8 * i)
            h ^= _mix(k)
    h ^= np.uint32(length)
    h ^= h >> np.uint32(16)
    h *= _F1
    h ^= h >> np.uint32(13)
    h *= _F2
    h ^= h >> np.uint32(16)
    return h


def murmurhash_spans(blob: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Signed 32-bit MurmurHash3 (seed 0) of the byte spans blob[start:start + length], as
    `sklearn.utils.murmurhash3_32` gives for each span's bytes. Spans of one length are hashed
    together, a few numpy operations per 4-byte block."""
    hashes = np.zeros(len(starts), dtype=np.uint32)
    if not len(starts):
        return hashes.view(np.int32)
    order = np.argsort(lengths, kind="stable")
    bounds = np.flatnonzero(np.diff(lengths[order])) + 1
    with np.errstate(over="ignore"):
        for group in np.split(order, bounds):
            length = int(lengths[group[0]])
            hashes[group] = _murmur_fixed(blob[starts[group][:, None] + np.arange(length)])
    return hashes.view(np.int32)


def murmurhash3_32(keys: Sequence[bytes]) -> np.ndarray:
    """Signed 32-bit MurmurHash3 (seed 0) of every key."""
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    return murmurhash_spans(np.frombuffer(b"".join(keys), dtype=np.uint8), _starts(lengths),
                            lengths)


def _starts(lengths: np.ndarray) -> np.ndarray:
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return starts


def _columns(hashes: np.ndarray, n_features: int) -> np.ndarray:
    return np.abs(hashes.astype(np.int64)) % n_features


def hash_columns(strings: Sequence[str], n_features: int) -> np.ndarray:
    """The column each string lands in: |murmurhash3_32(utf-8 bytes)| mod n_features."""
    return _columns(murmurhash3_32([s.encode("utf-8") for s in strings]), n_features)


def word_feature_index(ngram: str, n_features: int) -> int:
    """The column a word n-gram lands in."""
    return int(hash_columns([ngram], n_features)[0])


# --- n-grams -------------------------------------------------------------------------------------

def char_ngrams(word: str, ngrams: tuple[int, int] = CHAR_NGRAMS) -> list[str]:
    """A word's "char_wb" n-grams: of the word padded with a space each side; a padded word
    shorter than n counts once, whole."""
    padded = f" {word} "
    size = len(padded)
    out: list[str] = []
    for n in range(ngrams[0], ngrams[1] + 1):
        if size <= n:
            out.append(padded)
            break
        out += [padded[i:i + n] for i in range(size - n + 1)]
    return out


def _windows(lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of n items inside runs of the given lengths: (run, offset in the run)."""
    counts = np.maximum(lengths - n + 1, 0)
    run = np.repeat(np.arange(len(lengths)), counts)
    offset = np.arange(len(run)) - np.repeat(np.cumsum(counts) - counts, counts)
    return run, offset


@dataclass
class Terms:
    """A batch's raw n-gram counts (word columns first, then character columns), and where each
    text's word n-grams came from, in HashingVectorizer's order (unigrams, then bigrams): the
    model's explanations name the columns that pushed a score."""

    counts: sp.csr_matrix
    tokens: list[str]  # every text's word tokens, one text after another
    first: np.ndarray  # per word n-gram: its first token's index in `tokens`
    size: np.ndarray  # per word n-gram: how many tokens
    columns: np.ndarray  # per word n-gram: its column
    offsets: np.ndarray  # text i's word n-grams are [offsets[i], offsets[i + 1])

    def ngram(self, k: int) -> str:
        first = int(self.first[k])
        return " ".join(self.tokens[first:first + int(self.size[k])])

    @property
    def word_ngrams(self) -> list[list[str]]:
        return [[self.ngram(k) for k in range(self.offsets[i], self.offsets[i + 1])]
                for i in range(len(self.offsets) - 1)]


class TermCounter:
    """Counts hashed n-grams exactly as the HashingVectorizers would, fast.

    Word n-grams: a batch's tokens are joined by single spaces into one byte string, where every
    n-gram is a span ("a b" is token a, a space, token b), hashed in place.

    Character n-grams of the "char_wb" kind never cross a word boundary, so a text's character
    counts are the sum of its words' counts: a (texts x words) count matrix times a (words x
    columns) matrix. Words repeat a great deal, so each word's row is worked out once and kept
    (at most CACHE_WORDS words; then the store starts again). The store is shared by every
    thread that classifies with this model, so it is grown and read under a lock.
    """

    CACHE_WORDS = 100_000

    def __init__(self, hashing: Hashing | None = None) -> None:
        self.hashing = hashing or Hashing()
        self._find_tokens = re.compile(self.hashing.token_pattern).findall
        self._lock = threading.Lock()
        self._reset_words()

    def _reset_words(self) -> None:
        self._word_ids: dict[str, int] = {}
        self._indptr = [0]
        self._indices = np.empty(1 << 16, dtype=np.int32)
        self._values = np.empty(1 << 16, dtype=np.float32)

    def counts(self, texts: Sequence[str]) -> Terms:
        n = len(texts)
        find = self._find_tokens
        per_text = [find(t) for t in texts]
        tokens = [t for ts in per_text for t in ts]
        token_counts = np.fromiter(map(len, per_text), dtype=np.int64, count=n)
        first, size, text_of, columns = self._word_ngrams(tokens, token_counts)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(text_of, minlength=n), out=offsets[1:])
        words = sp.csr_matrix((np.ones(len(columns), dtype=np.float32), (text_of, columns)),
                              shape=(n, self.hashing.word_features))
        with self._lock:
            chars = self._char_counts(texts)
        counts = sp.hstack([words, chars], format="csr", dtype=np.float32)
        return Terms(counts, tokens, first, size, columns, offsets)

    def _word_ngrams(self, tokens: list[str], token_counts: np.ndarray):
        joined = " ".join(tokens)
        blob = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        starts = _starts(lengths + 1)
        if len(blob) != len(joined):
            # Characters beyond ASCII take 2 to 4 bytes: where each character starts in bytes.
            points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
            at = np.zeros(len(points) + 1, dtype=np.int64)
            np.cumsum(1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000),
                      out=at[1:])
            starts, lengths = at[starts], at[starts + lengths] - at[starts]
        text_starts = np.cumsum(token_counts) - token_counts
        parts = []
        low, high = self.hashing.word_ngrams
        for n in range(low, high + 1):
            text, offset = _windows(token_counts, n)
            first = text_starts[text] + offset
            last = first + n - 1
            parts.append((text, np.full(len(first), n), first,
                          starts[last] + lengths[last] - starts[first]))
        text, size, first, span = (np.concatenate(p) for p in zip(*parts, strict=True))
        order = np.lexsort((first, size, text))
        text, size, first, span = text[order], size[order], first[order], span[order]
        hashes = murmurhash_spans(blob, starts[first], span)
        return first, size, text, _columns(hashes, self.hashing.word_features)

    def _char_counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        n = len(texts)
        split = [t.split() for t in texts]
        tokens = [w for ws in split for w in ws]
        ids = self._word_ids
        new = [w for w in dict.fromkeys(tokens) if w not in ids]
        if len(ids) + len(new) > self.CACHE_WORDS:
            self._reset_words()
            ids = self._word_ids
            new = list(dict.fromkeys(tokens))
        if new:
            self._add_words(new)
        words = len(ids)
        size = self._indptr[-1]
        store = sp.csr_matrix((self._values[:size], self._indices[:size],
                               np.asarray(self._indptr, dtype=np.int64)),
                              shape=(words, self.hashing.char_features))
        column = np.fromiter(map(ids.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        row = np.repeat(np.arange(n), np.fromiter(map(len, split), dtype=np.int64, count=n))
        per_text = sp.csr_matrix((np.ones(len(tokens), dtype=np.float32), (row, column)),
                                 shape=(n, words))
        return (per_text @ store).tocsr()

    def _add_words(self, new: list[str]) -> None:
        """Append the character n-gram counts of words not seen before to the store."""
        # ASCII words: characters are bytes, so every n-gram is a window of the padded word's
        # bytes, hashed in place. Others (rare) make their n-grams as strings first.
        plain = [w for w in new if w.isascii()]
        other = [w for w in new if not w.isascii()]
        new = plain + other
        low, high = self.hashing.char_ngrams
        word_parts, hash_parts = [], []
        if plain:
            padded = np.fromiter(map(len, plain), dtype=np.int64, count=len(plain)) + 2
            blob = np.frombuffer(f" {'  '.join(plain)} ".encode("ascii"), dtype=np.uint8)
            starts = _starts(padded)
            # A padded word is at least 3 long, so the n-grams of "char_wb" are exactly the
            # windows of each length that fit (one shorter than n has broken off at n - 1).
            for n in range(low, high + 1):
                word, offset = _windows(padded, n)
                word_parts.append(word)
                hash_parts.append(murmurhash_spans(blob, starts[word] + offset,
                                                   np.full(len(word), n)))
        if other:
            grams = [char_ngrams(w, (low, high)) for w in other]
            counts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
            word_parts.append(np.repeat(np.arange(len(plain), len(new)), counts))
            hash_parts.append(murmurhash3_32([g.encode("utf-8") for gs in grams for g in gs]))
        word = np.concatenate(word_parts)
        columns = _columns(np.concatenate(hash_parts), self.hashing.char_features)
        rows = sp.csr_matrix((np.ones(len(word), dtype=np.float32), (word, columns)),
                             shape=(len(new), self.hashing.char_features))
        size = self._indptr[-1]
        needed = size + rows.nnz
        if needed > len(self._indices):
            capacity = max(needed, 2 * len(self._indices))
            self._indices = np.resize(self._indices, capacity)
            self._values = np.resize(self._values, capacity)
        self._indices[size:needed] = rows.indices
        self._values[size:needed] = rows.data
        self._indptr.extend((rows.indptr[1:] + size).tolist())
        first = len(self._word_ids)
        self._word_ids.update(zip(new, range(first, first + len(new)), strict=True))


def tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf-idf, rows scaled to unit length (TfidfTransformer(sublinear_tf=True))."""
    weighted = counts.copy()
    weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices]
    rows = np.repeat(np.arange(weighted.shape[0]), np.diff(weighted.indptr))
    norms = np.sqrt(np.bincount(rows, weights=np.square(weighted.data),
                                minlength=weighted.shape[0]))
    norms[norms == 0.0] = 1.0
    weighted.data = (weighted.data / norms[rows]).astype(np.float32)
    return weighted


def word_counts(readings: Sequence[Reading]) -> np.ndarray:
    """Each text's number of words of its own (runs of letters, placeholders aside)."""
    return np.fromiter((len(_WORD.findall(_PLACEHOLDERS.sub(" ", r.folded))) for r in readings),
                       dtype=np.int64, count=len(readings))


def length_columns(words: np.ndarray, bins: Sequence[int] = LENGTH_BINS) -> np.ndarray:
    """One-hot word-count bins (see LENGTH_BINS) for texts of `words` words."""
    columns = np.zeros((len(words), len(bins)), dtype=np.float32)
    low = 0
    for k, high in enumerate(bins):
        columns[:, k] = (words > low) & (words <= high)
        low = high
    return columns


def rule_columns(readings: Sequence[Reading]) -> np.ndarray:
    """One column per category: the summed strength of the rules that fired for it."""
    index = {c: i for i, c in enumerate(CATEGORIES)}
    columns = np.zeros((len(readings), len(CATEGORIES)), dtype=np.float32)
    for row, reading in enumerate(readings):
        for hit in reading.hits:
            columns[row, index[hit.category]] += hit.strength
    return np.minimum(columns, RULE_CAP, out=columns)
