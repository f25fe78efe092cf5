"""Would a cascade keep the recall? Embedding only the texts the first stage cannot clear.

The first stage is the model without the semantic stage (the training mean in place of each
text's embedding, as a degraded classifier runs) plus the rules. A text is cleared when no rule
fired and every category that alerts someone scores under --margin times its threshold; cleared
texts keep that first-stage verdict, the rest are embedded and scored in full. Printed per file:
the share of texts the cascade would not embed (the saving), and threat and safeguarding recall
and false alarms with and without it.

    python benchmarks/cascade.py [--margin 0.5] [--model PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.base import CATEGORIES  # noqa: E402
from classifiers.datasets import read_labelled  # noqa: E402
from classifiers.encoder import shared_encoder  # noqa: E402
from classifiers.evaluation import CALM_LABELS, standard_sets  # noqa: E402
from classifiers.model_file import MODEL_PATH, load_model  # noqa: E402
from classifiers.rules import Rules  # noqa: E402
from classifiers.triage import TriageClassifier  # noqa: E402

ALERTING = [c for c in CATEGORIES if c not in ("praise",)]
URGENT = ("threat", "safeguarding")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--margin", type=float, default=0.5)
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    model = load_model(args.model)
    full = TriageClassifier(Rules(), model, encoder=shared_encoder())
    first = TriageClassifier(Rules(), model, degraded="cascade first stage")
    alerting = np.array([c in ALERTING for c in CATEGORIES])
    print(f"model {model.version}, margin {args.margin}")
    print(f"{'file':<26}{'not embedded':>13}  "
          + "".join(f"{c[:6] + ' R':>10}{'cascade':>9}" for c in URGENT)
          + f"{'false alarms':>14}{'cascade':>9}")
    for name, path in standard_sets():
        examples = read_labelled(path)
        if not any(e.labels & set(URGENT) for e in examples):
            continue
        texts = [e.text for e in examples]
        verdicts_full = full.predict(texts)
        readings = first.rules.read_all(texts)
        scores, _ = first.score_readings(readings)
        no_rules = np.array([not r.hits for r in readings])
        cleared = no_rules & (scores[:, alerting] < args.margin
                              * full._threshold_row[alerting]).all(axis=1)
        verdicts_first = first.predict(texts)
        cascade = [f if c else v for f, v, c in zip(verdicts_first, verdicts_full, cleared,
                                                     strict=True)]
        line = f"{name:<26}{cleared.mean():>12.1%}  "
        for category in URGENT:
            truth = np.array([category in e.labels for e in examples])
            full_recall, cascade_recall = (
                np.mean([category in v.categories for v, t in zip(vs, truth, strict=True) if t])
                for vs in (verdicts_full, cascade))
            line += f"{full_recall:>10.3f}{cascade_recall:>9.3f}"
        calm = [e.labels <= CALM_LABELS for e in examples]
        full_alarms, cascade_alarms = (
            np.mean([bool(set(v.categories) - CALM_LABELS) for v, c in zip(vs, calm, strict=True)
                     if c]) for vs in (verdicts_full, cascade))
        print(f"{line}{full_alarms:>14.1%}{cascade_alarms:>9.1%}")


if __name__ == "__main__":
    main()
