"""The shipped classifier on the public test sets, next to the published baselines.

A text counts as flagged offensive when any of abusive, hateful or threat is among the categories
the classifier returns (what `hallmonitor classify` prints), as the issue's judging rule says.
Prints macro-F1 over the two classes for each public test split in ../shared/data, and the
baselines from ../shared/data/README.md for TweetEval offensive. --baseline also trains the plain
TF-IDF (word 1-2 + char 2-5 grams) + logistic regression baseline on each set's own train split
and scores it on the same test split (about a minute per set).

    python benchmarks/evaluate_public.py [--baseline] [--sets tweeteval_offensive,hatexplain]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers import load_classifier  # noqa: E402
from classifiers.datasets import OFFENSIVE, PUBLIC_SETS, read_labelled, shared_data_dir  # noqa: E402
from classifiers.evaluation import evaluate_examples  # noqa: E402

# ../shared/data/README.md, macro-F1 on tweeteval_offensive/test.csv.
PUBLISHED = {
    "tweeteval_offensive": [
        ("RoBERTa re-trained on tweets (TweetEval)", 0.816),
        ("TF-IDF word 1-2 + char 2-5 grams + logistic regression", 0.743),
        ("alt-profanity-check", 0.732),
        ("better-profanity", 0.698),
    ],
}


def tfidf_baseline(data: Path, name: str) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline, make_union

    train = read_labelled(data / name / "train.csv")
    test = read_labelled(data / name / "test.csv")
    features = make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                          TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
                                          sublinear_tf=True, min_df=2))
    model = make_pipeline(features, LogisticRegression(max_iter=2000))
    model.fit([e.text for e in train], [OFFENSIVE in e.labels for e in train])
    predicted = model.predict([e.text for e in test])
    return f1_score([OFFENSIVE in e.labels for e in test], predicted, average="macro")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(PUBLIC_SETS),
                        help="comma-separated public sets (default: all present)")
    parser.add_argument("--baseline", action="store_true",
                        help="also train and score the TF-IDF + logistic regression baseline")
    args = parser.parse_args()
    data = shared_data_dir()
    if not data.is_dir():
        raise SystemExit(f"{data} not found: set HALLMONITOR_SHARED_DIR to the shared directory")
    classifier = load_classifier()
    print(f"model {classifier.version}; offensive = abusive or hateful or threat flagged; "
          f"macro-F1 over offensive / not\n")
    for name in args.sets.split(","):
        path = data / name / "test.csv"
        if not path.exists():
            continue
        started = time.perf_counter()
        report = evaluate_examples(classifier, read_labelled(path), source=str(path))
        offensive = report.figures[0]
        print(f"{name}/test ({report.texts} texts, {time.perf_counter() - started:.1f} s)")
        print(f"  {'this classifier':<64}{report.macro_f1:.3f}  (offensive: precision "
              f"{offensive.precision:.3f}, recall {offensive.recall:.3f})")
        for label, figure in PUBLISHED.get(name, []):
            print(f"  {label:<64}{figure:.3f}  (published)")
        if args.baseline:
            print(f"  {'TF-IDF + logistic regression, trained here on this train split':<64}"
                  f"{tfidf_baseline(data, name):.3f}")
        print()


if __name__ == "__main__":
    main()
