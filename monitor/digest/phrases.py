"""Phrases that stood out this week: what people praised or complained about more than usual.

Weighted log-odds with an informative Dirichlet prior (Monroe, Colaresi and Quinn, "Fightin'
Words", 2008) compares the week's texts with the previous weeks' texts of the same category. The
prior is the phrase's frequency over both together, so a word said every week ("thank",
"school") scores near zero however often it is said, and a phrase new this week scores high.
The z-score, not the raw difference, ranks phrases, so a rare phrase said twice does not beat a
common one said thirty times more than usual.

Stop words, numbers, people's names and the school's own name are removed before counting: a
digest must never lift a pupil's name into a headline, and "Oakfield" is in every comment.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# A compact English stop list, with the words that carry no opinion in school comments.
_STOP_TEXT = """
a about above after again against all am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
don't down during each few for from further had hadn't has hasn't have haven't having he he'd
he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into
is isn't it it's its itself let's me more most mustn't my myself no nor not of off on once only or
other ought our ours ourselves out over own same shan't she she'd she'll she's should shouldn't so
some such than that that's the their theirs them themselves then there there's these they they'd
they'll they're they've this those through to too under until up very was wasn't we we'd we'll
we're we've were weren't what what's when when's where where's which while who who's whom why
why's will with won't would wouldn't you you'd you'll you're you've your yours yourself
yourselves just also get got really still even much many well yet ever im ive dont cant wont
didnt doesnt isnt wasnt thats theres theyre youre u ur us lol one two oh ok okay yes yeah
will shall may might must like
mr mrs ms miss mx dr sir
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_LINK = re.compile(r"https?://\S+|www\.\S+|[@#]\w+")
# A phrase must be said at least this often this week to be shown.
MIN_COUNT = 3
# And stand out at least this clearly (a z-score). Lower than the usual 1.96: a small school's
# week has a handful of complaints, and four of four about the lunch menu, never said before,
# score about 1.3; the digest shows the top few, and MIN_COUNT keeps out one-off remarks.
MIN_Z = 1.0


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    count: int  # times said this week
    earlier: int  # times said in the earlier weeks together
    z: float


def tokens(text: str) -> list[str]:
    """Lower-cased words, without links, handles, hashtags or possessive 's."""
    text = _LINK.sub(" ", text.lower().replace("\u2019", "'"))
    return [word.removesuffix("'s") for word in _WORD.findall(text)]


def name_words(names: Iterable[str]) -> frozenset[str]:
    """The words of people's and the school's names, each on its own: "Amy Patel" removes both
    "amy" and "patel" wherever they appear."""
    return frozenset(word for name in names for word in tokens(name))


def _kept(word: str, removed: frozenset[str]) -> bool:
    return (len(word) > 1 and not word.isdigit() and word not in STOP_WORDS
            and word not in removed)


def phrases_of(text: str, removed: frozenset[str] = frozenset()) -> set[str]:
    """The unigrams and bigrams of a text, each once (a phrase repeated in one comment is one
    person saying it). A bigram is two kept words side by side in the original text."""
    words = tokens(text)
    keep = [_kept(word, removed) for word in words]
    found = {word for word, ok in zip(words, keep, strict=True) if ok}
    found.update(f"{a} {b}" for a, b, ok_a, ok_b in zip(words, words[1:], keep, keep[1:],
                                                     strict=False)  # pairs: one fewer
                 if ok_a and ok_b)
    return found


def count(texts: Iterable[str], removed: frozenset[str] = frozenset()) -> Counter[str]:
    """In how many texts each phrase appears."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(phrases_of(text, removed))
    return counts


def stand_out(week: Counter[str], earlier: Counter[str], *, limit: int = 5,
              min_count: int = MIN_COUNT, min_z: float = MIN_Z,
              prior_weight: float | None = None) -> list[Phrase]:
    """Phrases said markedly more this week than before, highest z-score first. A bigram hides
    its own words when it ranks at least as high ("parents evening" rather than "evening" too).

    The prior is the pooled counts of both (`prior_weight` pseudo-counts in all, the pooled
    total by default): it scales with the texts, so a small school's week is not swamped by a
    fixed prior, nor a large one's left unsmoothed."""
    both = week + earlier
    total = sum(both.values())
    if not total:
        return []
    prior_weight = float(total) if prior_weight is None else prior_weight
    n_week, n_earlier = sum(week.values()), sum(earlier.values())
    scored: list[Phrase] = []
    for phrase, said in week.items():
        if said < min_count:
            continue
        alpha = prior_weight * both[phrase] / total
        before = earlier.get(phrase, 0)
        delta = (math.log((said + alpha) / (n_week + prior_weight - said - alpha))
                 - math.log((before + alpha) / (n_earlier + prior_weight - before - alpha)))
        z = delta / math.sqrt(1.0 / (said + alpha) + 1.0 / (before + alpha))
        if z >= min_z:
            scored.append(Phrase(phrase, said, before, round(z, 3)))
    # Ties go to the bigram: "nativity play" says more than "nativity" or "play".
    scored.sort(key=lambda p: (-p.z, -p.count, -len(p.text.split()), p.text))
    chosen: list[Phrase] = []
    for phrase in scored:
        words = set(phrase.text.split())
        # A word already shown inside a chosen bigram, or a bigram whose words are both shown.
        if any(words <= set(c.text.split()) or set(c.text.split()) <= words for c in chosen):
            continue
        chosen.append(phrase)
        if len(chosen) == limit:
            break
    return chosen


def contains(text: str, phrase: str) -> bool:
    """Whether the text says the phrase, word for word (never "hi" inside "this")."""
    return f" {phrase} " in f" {' '.join(tokens(text))} "
