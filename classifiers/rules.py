"""The rules: lexicons, patterns, the school's keywords and pupil names, as readable hits.

Every category's word lists and patterns are compiled into one regular expression per text view,
an alternation of named groups, so a text is scanned once per category whatever the size of the
lists. Word lists become a trie ("fuck|fucker|fucking" -> "fuck(?:er|ing)?") so matching cost
does not grow with the number of words. `match.lastgroup` says which list or pattern fired, which
is how a hit gets its reason.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from classifiers.base import CATEGORIES
from classifiers.lexicon import (
    ALLOWLIST,
    MEDIUM,
    PATTERNS,
    STRONG,
    WORD_LISTS,
    Pattern,
    WordList,
)
from classifiers.names import PupilNames, PupilReader
from classifiers.options import ClassifierOptions
from classifiers.text import SUFFIXES, Folder, obscure, plain

# What an allowlisted phrase becomes in the text the rules and the model read: no rule matches
# it, and the model learns from the hard negatives in its training data that it means "harmless".
ALLOWED_MARK = " harmlessphrase "

# Categories whose rules read the text with the allowlist removed: "killing it" is not a threat,
# though it stays praise.
_ALLOWLIST_APPLIES = frozenset(CATEGORIES) - {"praise"}

_CLASS = (r"(?:(?:year|yr|y) ?\d{1,2}|(?:class|form|set|group) ?[a-z0-9]{1,3}|reception|nursery|"
          r"\d{1,2} ?[a-z](?![a-z0-9])|(?:mr|mrs|miss|ms)\.? [a-z'\-]+'?s? class)")
_CLASS_RE = re.compile(rf"(?<![a-z0-9]){_CLASS}(?![a-z0-9])")


@dataclass(frozen=True, slots=True)
class Hit:
    category: str
    reason: str
    strength: float


@dataclass(frozen=True, slots=True)
class Reading:
    """A text as the rules saw it: the views the model also reads, and the hits."""

    plain: str
    folded: str  # with the allowlist removed: what the model reads
    hits: tuple[Hit, ...]

    def strength(self, category: str) -> float:
        return max((h.strength for h in self.hits if h.category == category), default=0.0)


@dataclass(frozen=True, slots=True)
class _Scanner:
    """One compiled alternation: some of one category's lists and patterns, over one view."""

    view: str
    scrubbed: bool
    bounded: bool  # the subject gets a leading space; matches start after one non-word char
    needs: re.Pattern[str] | None  # scan only the texts in which this finds something
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class _Source:
    """What a named group in a compiled alternation stands for."""

    category: str
    label: str
    strength: float
    quote: bool
    obscure: bool
    is_word: bool


class Rules:
    """The shipped lexicons and patterns plus one school's options, compiled."""

    def __init__(self, options: ClassifierOptions | None = None) -> None:
        options = options or ClassifierOptions()
        word_lists = list(WORD_LISTS)
        for category, terms in options.keywords.items():
            cleaned = tuple(t for t in (" ".join(plain(term).split()) for term in terms) if t)
            if cleaned:
                word_lists.append(WordList(category, "school keyword", cleaned, STRONG,
                                           obscure=category in ("abusive", "hateful")))
        self.folder = Folder(_vocabulary(word_lists))
        allowed = [" ".join(self.folder.fold(plain(p)).split()) for p in (*ALLOWLIST,
                                                                           *options.allowlist)]
        self._allow_re = compile_words([a for a in allowed if a]) if any(allowed) else None
        self._sources: dict[str, _Source] = {}
        self._scanners: list[_Scanner] = []
        for category in CATEGORIES:
            for view in ("folded", "plain"):
                groups: dict[tuple[bool, str], list[str]] = {}  # (bounded, needs) -> parts
                for item in word_lists:
                    if item.category == category and view == "folded":
                        body = _trie_regex(word_forms(item.words))
                        groups.setdefault((True, ""), []).append(self._group(item, body, True))
                for item in PATTERNS:
                    if item.category == category and item.view == view:
                        groups.setdefault((item.bounded, item.needs), []).append(
                            self._group(item, item.regex, item.bounded))
                scrubbed = view == "folded" and category in _ALLOWLIST_APPLIES
                for (bounded, needs), parts in groups.items():
                    regex = "|".join(parts)
                    if bounded:
                        # Consuming the character before the match (the text gets a leading
                        # space) instead of a lookbehind lets the regex engine jump from one
                        # word boundary to the next: several times faster than testing every
                        # position.
                        regex = f"[^a-z0-9](?:{regex})"
                    self._scanners.append(_Scanner(view, scrubbed, bounded,
                                                   re.compile(needs) if needs else None,
                                                   re.compile(regex)))
        self._names = _Names(options.pupil_names)

    def _group(self, item: WordList | Pattern, regex: str, bounded: bool) -> str:
        name = f"g{len(self._sources)}"
        self._sources[name] = _Source(
            category=item.category, label=item.label, strength=item.strength,
            quote=getattr(item, "quote", True), obscure=getattr(item, "obscure", False),
            is_word=isinstance(item, WordList))
        tail = "(?![a-z0-9])" if bounded else ""
        return f"(?P<{name}>(?:{regex}){tail})"

    def read(self, text: object) -> Reading:
        """Never raises: any string (or even a non-string) gives a reading."""
        return self.read_all([text])[0]

    def read_all(self, texts: Iterable[object]) -> list[Reading]:
        """Readings for a batch. Each scanner runs once over the whole batch joined by a
        separator no pattern can cross; one long scan costs far less than a short one per text."""
        plains = [plain(t) for t in texts]
        folded = [self.folder.fold(p) for p in plains]
        scrubbed = [self._allow_re.sub(ALLOWED_MARK, f) for f in folded] \
            if self._allow_re is not None else folded
        views = {("plain", False): plains, ("folded", False): folded, ("folded", True): scrubbed}
        # (view, scrubbed, needs) -> the texts worth scanning joined, where each starts, its row
        joined: dict[tuple[str, bool, re.Pattern[str] | None],
                     tuple[str, list[int], list[int]]] = {}
        hits: list[dict[tuple[str, str], Hit]] = [{} for _ in plains]
        for scanner in self._scanners:
            key = (scanner.view, scanner.scrubbed, scanner.needs)
            if key not in joined:
                texts_of_view = views[key[:2]]
                if scanner.needs is None:
                    rows = list(range(len(texts_of_view)))
                else:
                    search = scanner.needs.search
                    rows = [i for i, t in enumerate(texts_of_view) if search(t)]
                joined[key] = (*_join([texts_of_view[i] for i in rows]), rows)
            batch, starts, rows = joined[key]
            if not rows:
                continue
            for match in scanner.regex.finditer(batch):
                name = match.lastgroup or ""
                # By its last character: a match may begin on the newline before its text.
                row = rows[bisect.bisect_right(starts, match.end(name) - 1) - 1]
                source = self._sources[name]
                hit = Hit(source.category, _reason(source, match.group(name)), source.strength)
                hits[row].setdefault((hit.category, hit.reason), hit)
        readings = []
        names = self._names.reader()
        for row, plain_text in enumerate(plains):
            found = hits[row]
            for hit in self._names.hits(names, plain_text):
                found.setdefault((hit.category, hit.reason), hit)
            readings.append(Reading(plain_text, scrubbed[row], tuple(found.values())))
        return readings


# Between the texts of a batch: NUL never survives `plain()`, and no pattern matches it except as
# the non-word character a bounded pattern consumes before its first word.
_SEPARATOR = "\n\x00\n"


def _join(texts: Sequence[str]) -> tuple[str, list[int]]:
    """The batch as one string, and where each text starts in it."""
    starts = []
    position = len(_SEPARATOR)
    for text in texts:
        starts.append(position)
        position += len(text) + len(_SEPARATOR)
    return _SEPARATOR + _SEPARATOR.join(texts) + _SEPARATOR, starts


class _Names:
    """Pupils' full names, alone or with a class; first names only next to a class. The names
    are matched by their keyed digests (`classifiers.names`): the rules never see them."""

    def __init__(self, names: PupilNames | None) -> None:
        self._names = names if names else None

    def reader(self) -> PupilReader | None:
        return self._names.reader() if self._names is not None else None

    @staticmethod
    def hits(reader: PupilReader | None, plain_text: str) -> list[Hit]:
        if reader is None:
            return []
        if reader.full_name_in(plain_text):
            if _CLASS_RE.search(plain_text):
                return [Hit("personal_data", "pupil name + class", STRONG)]
            return [Hit("personal_data", "pupil name", STRONG)]
        for match in _CLASS_RE.finditer(plain_text):
            # "Jack in 4B", "Jack 4B", "Jack, who is in year 3": the words before the class,
            # without what joins them to it.
            head = plain_text[max(0, match.start() - 80):match.start()]
            joint = _JOINT_RE.search(head)
            if joint is not None and reader.first_name_ends(head[:joint.start()]):
                return [Hit("personal_data", "pupil first name + class", MEDIUM)]
        return []


# What may stand between a first name and a class ("Jack, who is in the 4B").
_JOINT_RE = re.compile(r"(?<=[a-z0-9])[ ,(\-]*(?:(?:is |who is |'s )?(?:in|from|of|at) "
                       r"(?:the )?)?$")


def _reason(source: _Source, matched: str) -> str:
    matched = " ".join(matched.split())
    if source.is_word:
        shown = " ".join(obscure(w) for w in matched.split()) if source.obscure else matched
        return f'word "{shown}" ({source.label})' if " " not in matched \
            else f'phrase "{shown}" ({source.label})'
    if not source.quote:
        return source.label
    return f'{source.label} "{matched}"'


def word_forms(entries: Iterable[str]) -> list[str]:
    """`word` -> word, words; `word+` -> word with the usual endings."""
    forms: list[str] = []
    for entry in entries:
        if entry.endswith("+"):
            stem = entry[:-1]
            forms.extend(stem + s for s in SUFFIXES)
            # fucking -> fuckin, fucker -> fucka: the endings people type.
            forms.extend((stem + "a", stem + "az", stem + "as", stem + "in'", stem + "ing's"))
        else:
            forms.extend((entry, entry + "s", entry + "es"))
    return forms


def _vocabulary(word_lists: Sequence[WordList]) -> list[str]:
    """Every word form worth un-disguising, in list order (the first listed wins for masks)."""
    return [w for item in word_lists for w in word_forms(item.words)]


def _bounded(regex: str) -> str:
    return rf"(?<![a-z0-9])(?:{regex})(?![a-z0-9])"


def compile_words(phrases: Sequence[str]) -> re.Pattern[str]:
    return re.compile(_bounded(_trie_regex(phrases)))


def _trie_regex(phrases: Iterable[str]) -> str:
    """One regex matching exactly `phrases`, shaped as a trie; a space matches any run of spaces
    or hyphens ("year-5", "killing  it")."""
    trie: dict = {}
    for phrase in set(phrases):
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_node(trie)


def _trie_node(node: dict) -> str:
    ends_here = "" in node
    branches = []
    for ch in sorted(k for k in node if k):
        head = r"[\s\-]+" if ch == " " else re.escape(ch)
        branches.append(head + _trie_node(node[ch]))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    # The optional tail is greedy, and the whole-word guard makes it backtrack to the shorter
    # word when the longer one does not end at a word boundary.
    return f"(?:{body})?" if ends_here else body
