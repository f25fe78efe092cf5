"""Lists of people's names held only as keyed hashes, and matching text against them.

A school's pupil-name list (and its staff list, for followers imitating a member of staff) is
personal data about children and staff. It is never kept in clear: each name's forms are turned
into HMAC-SHA256 digests under a key the school holds (`NameHasher`), and a text is matched by
hashing its own word sequences with the same key and looking them up. A match is therefore exact
on normalised text (accents, case, apostrophes, separators, leetspeak), never fuzzy: a hash has
no neighbours.

`PupilNames` is what the classifier matches comments against: the digests of each pupil's full
name (the words joined by single spaces: "Amelia Hart-Jones" -> "amelia hart jones"), of their
first name (for "Amelia in 5C"), and of every single word of a name (so a digest can leave those
words out of the phrases it shows).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from classifiers.text import LEET, plain

_WORD_RE = re.compile(r"[a-z0-9]+")
_DIGITS_RE = re.compile(r"[0-9]+")
# A possessive ("Amelia Jones's coat", "the Jones' car") is not part of the name.
_POSSESSIVE_RE = re.compile(r"'s?(?![a-z0-9])")
# Within a name, words are separated by spaces, hyphens or underscores ("Hart-Jones",
# "amelia_jones"); any other punctuation ends the run of words a name can span ("Thanks Amelia,
# Jones the baker said...").
_BREAK_RE = re.compile(r"[^a-z0-9'\s_\-]+")
# A letter next to a leetspeak stand-in: only then is the leetspeak reading worth hashing too.
_MIXED_RE = re.compile(r"[a-z][0-9@$!|€£]|[0-9$!|€£][a-z]")
_KEY_CHECK = b"hallmonitor name list key check"
# How many ordinary (not name) words a list remembers having hashed.
_ORDINARY_KEPT = 100_000
# The longest full name matched, in words ("Mary Ann Smith Jones").
MAX_WORDS = 4
# Words so common in comments that they are not worth hashing, and that are nobody's name.
_NEVER_NAMES_TEXT = """
a an the and or but of to in on at for with from by is are was were be been it its i me my we our
you your he she his her they them their this that what when who how not no yes so if as do did
have has had
"""
_NEVER_NAMES = frozenset(_NEVER_NAMES_TEXT.split())


class NameListError(ValueError):
    """A name list that cannot be loaded or used; the message names the list, never a name."""


class NameHasher:
    """Keyed digests of name forms. The key comes from a secret reference (or, for a list used
    only in memory, from `NameHasher.random()`) and is never shown."""

    __slots__ = ("_key",)

    def __init__(self, key: str | bytes) -> None:
        if not key:
            raise NameListError("the key for hashing names is empty")
        self._key = key.encode("utf-8") if isinstance(key, str) else key

    @classmethod
    def random(cls) -> NameHasher:
        """A key that lives only in this process: for names that are never stored."""
        return cls(secrets.token_bytes(32))

    def digest(self, form: str) -> str:
        # 128 bits are plenty to tell a few thousand names apart, and halve what is stored.
        return hmac.digest(self._key, form.encode("utf-8"), "sha256").hex()[:32]

    @property
    def fingerprint(self) -> str:
        """Which key the stored digests were made with, without revealing it: a list hashed
        under another key would silently match nothing, so it is refused instead."""
        return hmac.digest(self._key, _KEY_CHECK, "sha256").hex()[:16]

    def __repr__(self) -> str:
        return "NameHasher(****)"


# --- normalising -------------------------------------------------------------------------------

def joined(plain_text: str) -> str:
    """A possessive is dropped, apostrophes inside a word join it ("o'brien" -> obrien),
    underscores separate, as spaces do."""
    return _POSSESSIVE_RE.sub(" ", plain_text).replace("'", "").replace("_", " ")


def name_words(text: str) -> list[str]:
    """The words of a name or a stretch of text as names are compared: accents and case folded,
    apostrophes joined, hyphens and other punctuation separating ("Zoë O'Brien-Hart" ->
    zoe, obrien, hart)."""
    return _WORD_RE.findall(joined(plain(text))) if text else []


def readings(text: str) -> list[list[str]]:
    """The words of a name or handle as people disguise them: as written, with the classifier's
    leetspeak stand-ins read as letters ("0akfield" -> oakfield), and with digits dropped
    ("jsmith88" -> jsmith)."""
    text = joined(plain(text)) if text else ""
    words = _WORD_RE.findall(text)
    # Stand-ins such as @ and $ are not word characters: read them before splitting.
    leet = _WORD_RE.findall(text.translate(LEET))
    no_digits = [w for w in (_DIGITS_RE.sub("", w) for w in words) if w]
    found: list[list[str]] = []
    for reading in (words, leet, no_digits):
        if reading and reading not in found:
            found.append(reading)
    return found


def squash(text: str) -> str:
    """The letters and digits of `text`, lower-cased and unaccented: "Oakfield Primary" ->
    oakfieldprimary."""
    return "".join(_WORD_RE.findall(joined(plain(text))))


# --- the pupil list ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NameForms:
    """What one list's names are hashed as (the clear forms exist only while hashing)."""

    full: set[str] = field(default_factory=set)
    first: set[str] = field(default_factory=set)
    words: set[str] = field(default_factory=set)


def pupil_name_forms(names: Iterable[str]) -> NameForms:
    """Each name's full form (2+ words: all its words, and first and last name alone when it has
    a middle name), its first name, and each of its words."""
    forms = NameForms()
    for name in names:
        # Whitespace separates a name's parts; a hyphenated part is one part of several words.
        parts = [words for words in (name_words(part) for part in plain(name).split()) if words]
        every = [word for words in parts for word in words]
        if not every:
            continue
        forms.first.add(" ".join(parts[0]))
        forms.words.update(every)
        if len(every) >= 2:
            forms.full.add(" ".join(every))
            if len(parts) >= 3:  # "Amelia Rose Jones" is also written "Amelia Jones"
                forms.full.add(" ".join([*parts[0], *parts[-1]]))
    return forms


@dataclass(frozen=True)
class PupilNames:
    """A school's pupil names as keyed digests, with the hasher to match text against them.

    Built from digests loaded from the database (`PupilNames(hasher, full, first, words,
    people)`), or from clear names with `PupilNames.hashed(names)`, which keeps only the
    digests."""

    hasher: NameHasher
    full: frozenset[str]
    first: frozenset[str]
    words: frozenset[str]
    people: int = 0
    # Words already hashed and found to be no word of any listed name ("lovely", "assembly"):
    # most words of most comments, so they are not hashed again. Only words that are NOT names
    # are remembered, and only in memory.
    _ordinary: dict[str, None] = field(default_factory=dict, init=False, repr=False,
                                       compare=False, hash=False)

    @classmethod
    def hashed(cls, names: Sequence[str], hasher: NameHasher | None = None) -> PupilNames:
        """The digests of `names`' forms; with no hasher, under a key that lives only in
        memory (for the classifier used on its own)."""
        hasher = hasher or NameHasher.random()
        forms = pupil_name_forms(names)
        return cls(hasher, frozenset(map(hasher.digest, forms.full)),
                   frozenset(map(hasher.digest, forms.first)),
                   frozenset(map(hasher.digest, forms.words)), len(names))

    def __bool__(self) -> bool:
        return bool(self.full or self.first)

    def __repr__(self) -> str:  # never the digests: they are no use to anyone reading a log
        return f"PupilNames({self.people} people)"

    def reader(self) -> PupilReader:
        """A matcher for one batch of texts: it remembers the digests of the words it has
        hashed until the batch is done."""
        return PupilReader(self)

    def is_name_word(self, word: str) -> bool:
        """Whether `word` is one of the words of a listed name."""
        words = name_words(word)
        return len(words) == 1 and self._listed_word(words[0])

    def _listed_word(self, word: str) -> bool:
        """Whether a normalised single word is a word of a listed name."""
        ordinary = self._ordinary
        if word in ordinary or len(word) < 2 or word in _NEVER_NAMES or word.isdigit():
            return False
        if self.hasher.digest(word) in self.words:
            return True
        if len(ordinary) >= _ORDINARY_KEPT:
            ordinary.clear()  # a bound on memory; the common words come back quickly
        ordinary[word] = None
        return False


class PupilReader:
    """Matches texts against one `PupilNames`, hashing each distinct run of words once per
    batch."""

    __slots__ = ("_digests", "_names")

    def __init__(self, names: PupilNames) -> None:
        self._names = names
        self._digests: dict[str, str] = {}

    def _digest(self, form: str) -> str:
        digest = self._digests.get(form)
        if digest is None:
            digest = self._digests[form] = self._names.hasher.digest(form)
        return digest

    def full_name_in(self, plain_text: str) -> bool:
        """Whether a listed full name is written in the text, as consecutive words."""
        names = self._names
        if not names.full:
            return False
        for words in _runs(plain_text):
            for start, word in enumerate(words):
                # A full name starts with one of the list's words: hash longer runs only there.
                if not names._listed_word(word):
                    continue
                for end in range(start + 2, min(len(words), start + MAX_WORDS) + 1):
                    if self._digest(" ".join(words[start:end])) in names.full:
                        return True
        return False

    def first_name_ends(self, plain_head: str) -> bool:
        """Whether the text ends with a listed first name (what precedes a class)."""
        if not self._names.first:
            return False
        for words in _runs(plain_head[-60:], whole=False):
            for size in (1, 2):
                if len(words) >= size and self._digest(" ".join(words[-size:])) \
                        in self._names.first:
                    return True
        return False


def _runs(plain_text: str, whole: bool = True) -> Iterator[list[str]]:
    """The runs of words a name can span, as written and, when the text mixes letters with
    leetspeak stand-ins, read as letters. With `whole=False` only the last run."""
    variants = [plain_text]
    if _MIXED_RE.search(plain_text):
        variants.append(plain_text.translate(LEET))
    for variant in variants:
        runs = _BREAK_RE.split(joined(variant))
        for run in runs if whole else runs[-1:]:
            words = _WORD_RE.findall(run)
            if words:
                yield words
