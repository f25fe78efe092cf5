"""How well a classifier does on a labelled file: what `hallmonitor model evaluate` prints.

Two kinds of file (see `classifiers.datasets`):
- category labels (`labels`): precision, recall and F1 per category, and the confusion between
  categories: for texts labelled A (a row), how often each category B was flagged (a column).
- binary offensive labels (`label` 1/0, as in the public sets): a text counts as flagged offensive
  when any of abusive, hateful or threat is flagged; the figure to compare with published ones is
  macro-F1 over the two classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from classifiers.base import CATEGORIES, Classifier
from classifiers.datasets import OFFENSIVE, OFFENSIVE_CATEGORIES, Example, read_labelled

NONE = "(none)"
BATCH = 2000
# A false alarm: a comment labelled harmless or praise only, flagged with anything but praise.
CALM_LABELS = frozenset({"praise"})


@dataclass(frozen=True)
class Figures:
    category: str
    support: int  # texts labelled with it
    flagged: int  # texts the classifier flagged with it
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.support if self.support else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    source: str
    texts: int
    model_version: str
    figures: list[Figures]
    # confusion[true][flagged] = count; NONE stands for "no label" / "nothing flagged".
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    binary: bool = False
    # Comments labelled harmless or praise only, and how many of them were flagged with
    # something else: what a school would see as false alarms.
    calm: int = 0
    false_alarms: int = 0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.calm if self.calm else 0.0

    def recall(self, category: str) -> float:
        return next((f.recall for f in self.figures if f.category == category), 0.0)

    @property
    def macro_f1(self) -> float:
        """Binary files: macro-F1 over offensive / not. Category files: mean F1 over the
        categories the file has examples of."""
        if self.binary:
            offensive = self.figures[0]
            negatives = self.texts - offensive.support
            not_flagged = self.texts - offensive.flagged
            true_negatives = self.texts - offensive.support - offensive.flagged \
                + offensive.true_positives
            other = Figures("not offensive", negatives, not_flagged, true_negatives)
            return (offensive.f1 + other.f1) / 2
        supported = [f.f1 for f in self.figures if f.support]
        return sum(supported) / len(supported) if supported else 0.0

    def as_dict(self) -> dict:
        return {
            "source": self.source, "texts": self.texts, "model_version": self.model_version,
            "macro_f1": round(self.macro_f1, 4),
            "categories": {f.category: {"precision": round(f.precision, 4),
                                        "recall": round(f.recall, 4), "f1": round(f.f1, 4),
                                        "support": f.support, "flagged": f.flagged}
                           for f in self.figures},
            "confusion": self.confusion,
            **({} if self.binary else {"calm": self.calm, "false_alarms": self.false_alarms,
                                       "false_alarm_rate": round(self.false_alarm_rate, 4)}),
        }

    def format(self) -> str:
        lines = [f"{self.source}: {self.texts} texts, model {self.model_version}", ""]
        lines.append(f"{'category':<16}{'precision':>10}{'recall':>10}{'f1':>10}"
                     f"{'support':>10}{'flagged':>10}")
        for f in self.figures:
            lines.append(f"{f.category:<16}{f.precision:>10.3f}{f.recall:>10.3f}{f.f1:>10.3f}"
                         f"{f.support:>10}{f.flagged:>10}")
        what = "macro-F1 (offensive / not)" if self.binary else "macro-F1 (labelled categories)"
        lines += ["", f"{what}: {self.macro_f1:.4f}"]
        if not self.binary and self.calm:
            lines.append(f"false alarms on harmless and praise comments: {self.false_alarms} of "
                         f"{self.calm} ({self.false_alarm_rate:.1%})")
        if self.binary:
            lines.append("offensive = any of " + ", ".join(OFFENSIVE_CATEGORIES) + " flagged")
        lines += ["", "confusion (rows: labelled, columns: flagged):"]
        lines += _table(self.confusion)
        return "\n".join(lines)


def evaluate(classifier: Classifier, path: str | PathLike[str]) -> Report:
    """Run `classifier` over the labelled CSV or JSONL at `path` and compare."""
    examples = read_labelled(path)
    return evaluate_examples(classifier, examples, source=str(path))


def evaluate_examples(classifier: Classifier, examples: Sequence[Example],
                      source: str = "examples") -> Report:
    flagged_sets: list[set[str]] = []
    for start in range(0, len(examples), BATCH):
        batch = examples[start:start + BATCH]
        for verdict in classifier.predict([e.text for e in batch]):
            flagged_sets.append(set(verdict.categories))
    labelled = {label for e in examples for label in e.labels}
    binary = bool(labelled) and labelled <= {OFFENSIVE}
    if binary:
        flagged_sets = [{OFFENSIVE} if s & set(OFFENSIVE_CATEGORIES) else set()
                        for s in flagged_sets]
        shown: Sequence[str] = (OFFENSIVE,)
    else:
        seen = labelled | set().union(*flagged_sets) if flagged_sets else labelled
        shown = [c for c in CATEGORIES if c in seen]
    figures = []
    for category in shown:
        support = sum(category in e.labels for e in examples)
        flagged = sum(category in s for s in flagged_sets)
        hits = sum(category in e.labels and category in s
                   for e, s in zip(examples, flagged_sets, strict=True))
        figures.append(Figures(category, support, flagged, hits))
    confusion: dict[str, dict[str, int]] = {}
    for example, flagged in zip(examples, flagged_sets, strict=True):
        for truth in sorted(example.labels) or [NONE]:
            row = confusion.setdefault(truth, {})
            for guess in sorted(flagged) or [NONE]:
                row[guess] = row.get(guess, 0) + 1
    calm = [s for e, s in zip(examples, flagged_sets, strict=True)
            if not binary and e.labels <= CALM_LABELS]
    version = getattr(classifier, "version", "")
    return Report(source, len(examples), version, figures, confusion, binary,
                  calm=len(calm), false_alarms=sum(bool(s - CALM_LABELS) for s in calm))


def _table(confusion: dict[str, dict[str, int]]) -> list[str]:
    order = [*CATEGORIES, OFFENSIVE, NONE]
    rows = [c for c in order if c in confusion]
    columns = [c for c in order if any(c in confusion[r] for r in rows)]
    if not rows:
        return ["  (empty)"]
    short = {c: c[:8] for c in columns}
    lines = [" " * 16 + "".join(f"{short[c]:>9}" for c in columns)]
    for r in rows:
        lines.append(f"{r:<16}" + "".join(f"{confusion[r].get(c, 0) or '.':>9}" for c in columns))
    return lines


def standard_sets(data_dir: PathLike[str] | str | None = None) -> list[tuple[str, Path]]:
    """The files `hallmonitor model evaluate` reports on when given none: the school validation
    file, the independent held-out file, and the public sets' test splits where present."""
    from classifiers.datasets import (
        HELDOUT,
        PUBLIC_SETS,
        SCHOOL_DIR,
        SCHOOL_VAL,
        public_split,
        shared_data_dir,
    )

    found = [(name, SCHOOL_DIR / filename) for name, filename in
             (("school_val", SCHOOL_VAL), ("heldout (independent)", HELDOUT))
             if (SCHOOL_DIR / filename).exists()]
    shared = Path(data_dir) if data_dir is not None else shared_data_dir()
    for name in PUBLIC_SETS:
        path = public_split(shared, name, "test")
        if path is not None:
            found.append((f"{name} test", path))
    return found


def summary_table(reports: Sequence[tuple[str, Report]]) -> str:
    """One line per file: the figures the project is judged on, side by side."""
    lines = [f"{'file':<26}{'texts':>7}{'macro-F1':>10}{'threat R':>10}{'safeg. R':>10}"
             f"{'false alarms':>14}"]
    for name, report in reports:
        if report.binary:
            lines.append(f"{name:<26}{report.texts:>7}{report.macro_f1:>10.3f}"
                         f"{'':>10}{'':>10}{'':>14}")
            continue
        lines.append(f"{name:<26}{report.texts:>7}{report.macro_f1:>10.3f}"
                     f"{report.recall('threat'):>10.3f}{report.recall('safeguarding'):>10.3f}"
                     f"{report.false_alarm_rate:>13.1%} ")
    return "\n".join(lines)
