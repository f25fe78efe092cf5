"""What a school can change about the classifier, from its configuration."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from classifiers.base import CATEGORIES
from classifiers.names import PupilNames

if TYPE_CHECKING:
    from classifiers.adjustment import Adjustment


@dataclass(frozen=True)
class ClassifierOptions:
    """Per-school settings. Empty means the shipped defaults.

    - `thresholds`: category -> score in [0, 1] above which it is flagged (overrides the default).
    - `keywords`: category -> extra whole-word terms; a hit always flags that category.
    - `allowlist`: the school's words and phrases that are not offensive (place names, surnames).
    - `pupil_names`: the school's pupil names as keyed digests (`classifiers.names.PupilNames`),
      so a comment naming a child is flagged as personal data. A list of names in clear is
      hashed here under a key that lives only in memory, and only the digests are kept.
    - `allow_degraded`: run without the model file or the sentence encoder if they cannot be
      loaded (otherwise loading fails: see `classifiers.load_classifier`).
    - `adjustment`: what the school's own corrections taught (`classifiers.adjustment`), applied
      on top of the shipped model it was learned for, and ignored on any other.
    """

    thresholds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    keywords: Mapping[str, Sequence[str]] = field(default_factory=lambda: MappingProxyType({}))
    allowlist: Sequence[str] = ()
    pupil_names: PupilNames | Sequence[str] | None = None
    allow_degraded: bool = False
    adjustment: Adjustment | None = None

    def __post_init__(self) -> None:
        for name, value in self.thresholds.items():
            _check_category(name, "thresholds")
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) \
                    or not 0.0 <= value <= 1.0:
                raise ValueError(f"thresholds.{name} must be a number from 0 to 1, not {value!r}")
        for name, terms in self.keywords.items():
            _check_category(name, "keywords")
            if isinstance(terms, str) or not all(isinstance(t, str) for t in terms):
                raise ValueError(f"keywords.{name} must be a list of words or phrases")
        if isinstance(self.allowlist, str) or not all(isinstance(v, str)
                                                      for v in self.allowlist):
            raise ValueError("allowlist must be a list of strings")
        names = self.pupil_names
        if names is not None and not isinstance(names, PupilNames):
            if isinstance(names, str) or not all(isinstance(v, str) for v in names):
                raise ValueError("pupil_names must be a list of strings")
            # Frozen, but this is construction: the clear names are not kept past it.
            object.__setattr__(self, "pupil_names", PupilNames.hashed(list(names)))


def _check_category(name: str, setting: str) -> None:
    if name not in CATEGORIES:
        known = ", ".join(CATEGORIES)
        raise ValueError(f"{setting}: unknown category '{name}' (known: {known})")
