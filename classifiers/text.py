"""Text normalisation shared by the rules and the model.

Two views of every text:

- `plain`: what a person wrote, made comparable: control and zero-width characters removed,
  compatibility forms folded (full-width letters, ligatures), accents stripped, case folded.
  Phone numbers, e-mail addresses, class names ("5B", "year 9") and question marks are read here.
- `folded`: `plain` with the disguises people use to slip past word filters undone, so that one
  whole-word pattern catches `sh1t`, `f***ing`, `f.u.c.k`, `fuuuck` and `p*kis`. Leetspeak and
  masks are only undone when the result is a word we know (`vocabulary`): "10am" stays "10am".
  URLs, e-mail addresses and @handles become placeholders so their letters never match a word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

# Comments on social media are at most a few thousand characters. Anything longer is read only up
# to this many characters so one pathological input cannot stall the pipeline.
MAX_CHARS = 20_000

# Characters that change nothing a reader sees but split words for a regex: zero-width spaces and
# joiners, bidirectional controls, soft hyphen, word joiner, BOM.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2070)),
    None,
)
# Other control characters (NUL and friends) become spaces: they may have separated two words.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_APOSTROPHES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})

_URL_RE = re.compile(r"(?:https?://|www\.)\S+")
_EMAIL_RE = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_HANDLE_RE = re.compile(r"(?<![a-z0-9_])@[a-z0-9_]{1,30}|<user>")

# Leetspeak: what each stand-in character usually means inside a word.
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                       "@": "a", "$": "s", "!": "i", "|": "i", "€": "e", "£": "e"})
# A word with at least one letter and at least one stand-in character.
_LEET_TOKEN_RE = re.compile(r"(?<![\w@$!|€£])(?=[\w@$!|€£]*[a-z])(?=[\w@$!|€£]*[0-9@$!|€£])"
                            r"[a-z0-9@$!|€£]{3,}(?![\w@$!|€£*#])")
# A word starting with a letter with some letters hidden behind masks: f***ing, c*nt, s#!t.
_MASKED_TOKEN_RE = re.compile(r"(?<![a-z0-9*#])[a-z][a-z0-9*#@$!]*[*#][a-z0-9*#@$!]*")
# Letters spelt out with separators: f.u.c.k, s-h-i-t, f u c k.
_SPELT_RE = re.compile(r"(?<![a-z0-9])[a-z](?:[ ._\-][a-z]){2,}(?![a-z0-9])")
# Words with three or more of the same letter in a row: fuuuuck, shiiiit, loooove.
_STRETCHED_RE = re.compile(r"[a-z]*([a-z])\1{2,}[a-z]*")
_RUN_RE = re.compile(r"([a-z])\1{2,}")
# Cheap tests for whether the repairs above can apply at all.
_MIXED_RE = re.compile(r"[a-z][0-9@$!|€£]|[0-9$!|€£][a-z]|@(?!user(?![a-z0-9]))[a-z]")
_SEPARATED_RE = re.compile(r"(?:^|[^a-z0-9])[a-z][ ._\-][a-z][ ._\-][a-z](?![a-z0-9])")
_TRIPLE_RE = re.compile(r"([a-z])\1\1")


# Suffixes a lexicon word can carry and still be the same word for matching purposes.
SUFFIXES = ("", "s", "es", "ed", "d", "er", "ers", "ing", "in", "y", "ey", "ie", "ies")


def plain(text: object) -> str:
    """The comparable form of `text`; never raises, whatever it is given."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text[:MAX_CHARS]
    if text.isascii():
        # Most comments: nothing to fold but case and control characters.
        return _CONTROL_RE.sub(" ", text).lower().replace("`", "'")
    # Lone surrogates (half an emoji, from a broken client) cannot be encoded: drop them.
    text = text.encode("utf-8", "ignore").decode("utf-8")
    text = _CONTROL_RE.sub(" ", text.translate(_INVISIBLE))
    text = unicodedata.normalize("NFKD", text)
    # Dropping combining marks strips accents (é -> e) and the dots of Zalgo text.
    if not text.isascii():
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold().translate(_APOSTROPHES)


class Folder:
    """Undoes disguises in `plain` text, guided by the words that are worth recognising."""

    def __init__(self, vocabulary: Collection[str]) -> None:
        words = {w for w in vocabulary if w and " " not in w}
        self.vocabulary = frozenset(w + s for w in words for s in SUFFIXES)
        # Masked words are compared with known words of the same length and first letter. The
        # order of `vocabulary` is kept so that when several words fit ("s**t"), the first listed
        # (the commonest) wins.
        self._by_shape: dict[tuple[int, str], list[str]] = {}
        for word in dict.fromkeys(w + s for w in vocabulary if w and " " not in w
                                  for s in SUFFIXES):
            self._by_shape.setdefault((len(word), word[0]), []).append(word)

    def fold(self, plain_text: str) -> str:
        # Each step runs only when a cheap test says it might apply: most texts need few.
        text = plain_text
        if "http" in text or "www." in text:
            text = _URL_RE.sub(" url ", text)
        if "@" in text or "<user>" in text:
            text = _EMAIL_RE.sub(" email ", text)
            text = _HANDLE_RE.sub(" @user ", text)
        if "*" in text or "#" in text:
            text = _MASKED_TOKEN_RE.sub(self._unmask, text)
        if _MIXED_RE.search(text):
            text = _LEET_TOKEN_RE.sub(self._unleet, text)
        if _SEPARATED_RE.search(text):
            text = _SPELT_RE.sub(self._unspell, text)
        if _TRIPLE_RE.search(text):
            text = _STRETCHED_RE.sub(self._unstretch, text)
        return " ".join(text.split())

    def _known(self, word: str) -> bool:
        return word in self.vocabulary

    def _unmask(self, match: re.Match[str]) -> str:
        token = match.group(0)
        # Trailing masks are often decoration ("word**"); try the token with and without them.
        for candidate in (token, token.rstrip("*#")):
            if not candidate or not any(ch in "*#" for ch in candidate):
                continue
            shape = candidate.translate(LEET)
            for word in self._by_shape.get((len(shape), shape[0]), ()):
                if all(c == w or c in "*#" for c, w in zip(shape, word, strict=True)):
                    return word + token[len(candidate):].replace("*", " ").replace("#", " ")
        return token

    def _unleet(self, match: re.Match[str]) -> str:
        token = match.group(0)
        folded = token.translate(LEET)
        if self._known(folded):
            return folded
        # "sh1tttt", "fuuuck3r": stand-ins and stretching together.
        squeezed = _RUN_RE.sub(r"\1", folded)
        return squeezed if self._known(squeezed) else token

    def _unspell(self, match: re.Match[str]) -> str:
        joined = "".join(ch for ch in match.group(0) if ch.isalpha())
        return f" {joined} " if self._known(joined) else match.group(0)

    def _unstretch(self, match: re.Match[str]) -> str:
        word = match.group(0)
        once = _RUN_RE.sub(r"\1", word)
        if self._known(once):
            return once
        # "bolllllocks" needs its double letter back; "sooooo" becomes "soo" either way.
        return _RUN_RE.sub(r"\1\1", word)


def obscure(word: str) -> str:
    """A lexicon word as an alert should print it: recognisable, not spelt out ("c*nt", "f*ck")."""
    if len(word) < 3:
        return word
    inner = re.sub(r"[aeiou]", "*", word[1:-1], count=1)
    if inner == word[1:-1]:
        inner = "*" + inner[1:]
    return word[0] + inner + word[-1]

