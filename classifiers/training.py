"""Training the triage model: what `hallmonitor model train` runs.

Data (train splits to fit, val splits to choose thresholds; test splits only for the figures):
- the public labelled sets in ../shared/data (see its README). They inform only the offensive
  categories: TweetEval offensive teaches `abusive` (in the broad sense of that set: insults,
  threats, profanity); HateXplain's hate speech, Davidson's hate class and TweetEval hate teach
  `hateful`; and one auxiliary model per set (Davidson, HateXplain, TweetEval hate) gives every
  head a summary of what that set calls offensive.
- the school-context examples in classifiers/data (school_train.jsonl, school_val.jsonl), which
  teach every category, including the offensive ones in a school page's sense.

Each head is a logistic regression over Naive-Bayes-weighted tf-idf features (NB-LR), plus the
auxiliary scores and the rules' hit columns. The auxiliary scores a head sees for a set's own rows
are out-of-fold, so no head learns to trust a model on data it has memorised.

Thresholds are chosen on validation data, by F1, or by F2 for threat and safeguarding (recall
counts double: a missed disclosure costs far more than a false alarm).

Reproducible: fixed seeds, and the sha256 of every file read is printed and stored.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from classifiers.base import CATEGORIES
from classifiers.datasets import (
    OFFENSIVE,
    OFFENSIVE_CATEGORIES,
    PUBLIC_SETS,
    SCHOOL_DIR,
    SCHOOL_TRAIN,
    SCHOOL_VAL,
    Example,
    read_labelled,
    shared_data_dir,
)
from classifiers.evaluation import Report, evaluate_examples
from classifiers.features import Hashing, TermCounter, rule_columns, tfidf
from classifiers.lexicon import LEXICON_VERSION
from classifiers.model import TriageModel
from classifiers.model_file import MODEL_PATH, save_model, sha256_file
from classifiers.rules import Reading, Rules
from classifiers.triage import TriageClassifier

Log = Callable[[str], None]

# Which public sets teach `hateful`, and which of their rows are hate (the rest are not).
# TweetEval hate is left out: its hate is against immigrants and women only, and a head trained on
# it flags ordinary political tweets about immigration.
HATE_ROWS: dict[str, Callable[[Example], bool]] = {
    "hatexplain": lambda e: e.detail == "hatespeech",
    "davidson": lambda e: e.detail == "0",
}
AUX_SETS = ("davidson", "hatexplain", "tweeteval_hate")
# Auxiliary scores are logits; scaled down so their weights are regularised like the others.
AUX_SCALE = 0.3
OUT_OF_FOLD_SPLITS = 3
# Regularisation (inverse strength) of the logistic regressions: chosen on TweetEval val for the
# heads the public sets teach, on the school val file for the others (a few hundred examples
# need a firmer hand).
C = 2.0
C_SCHOOL = 2.0
# How much a hand-written school example counts: three times a public negative sample in the
# heads only school examples teach; in the heads the public sets also teach, as much as a tweet
# for abusive (more tips it away from the public sense of offensive, which the public figures
# measure) and three times for hateful (criticism of a school must not read as hate).
SCHOOL_WEIGHT = 3.0
SCHOOL_WEIGHTS = {"abusive": 1.0, "hateful": 3.0}
# Public texts that are not offensive are safe negatives for categories tweets almost never are;
# they teach those heads what ordinary talk of violence, illness or news looks like.
PUBLIC_NEGATIVES_FOR = ("threat", "safeguarding", "personal_data", "media", "absence", "spam")
PUBLIC_NEGATIVES = 8000
PUBLIC_NEGATIVE_WEIGHT = 0.5
# F-beta used to choose each threshold; beta 2 leans towards recall.
BETA = {"threat": 2.0, "safeguarding": 2.0}
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
DEFAULT_THRESHOLD = 0.5
# Text weights smaller than this are dropped from the file: they never move a score visibly,
# and dropping them keeps the shipped model a few megabytes.
PRUNE_BELOW = 0.02


@dataclass
class Corpus:
    """One file's examples, read by the rules and turned into features."""

    name: str
    examples: list[Example]
    readings: list[Reading]
    counts: sp.csr_matrix
    text: sp.csr_matrix | None = None
    rules: np.ndarray | None = None
    aux: np.ndarray | None = None

    def labels(self, category: str) -> np.ndarray:
        if category == OFFENSIVE:
            return np.array([OFFENSIVE in e.labels for e in self.examples])
        return np.array([category in e.labels for e in self.examples])


def train(data_dir: Path | None = None, out: Path = MODEL_PATH, *, seed: int = 0,
          log: Log = print, school_dir: Path | None = None) -> dict:
    """Train, choose thresholds, evaluate and save the model to `out` (a .skops file, or a
    directory to hold triage.skops) with its JSON sidecar. Returns the sidecar's content."""
    started = time.monotonic()
    data_dir = Path(data_dir) if data_dir is not None else shared_data_dir()
    school_dir = Path(school_dir) if school_dir is not None else SCHOOL_DIR
    out = Path(out)
    if out.suffix != ".skops":
        out = out / MODEL_PATH.name
    rng = np.random.default_rng(seed)

    files = _find_files(data_dir, school_dir, log)
    hashes = {}
    log("training data (sha256):")
    for role in ("train", "val", "test"):
        for name, path in files[role].items():
            hashes[f"{role}/{name}"] = sha256_file(path)
            log(f"  {hashes[f'{role}/{name}']}  {path}")
    if not files["train"]:
        raise ValueError(f"no training data: nothing in {data_dir} nor {school_dir}")

    rules = Rules()
    hashing = Hashing()
    counter = TermCounter(hashing)

    def corpus(name: str, path: Path) -> Corpus:
        examples = read_labelled(path)
        readings = rules.read_all([e.text for e in examples])
        return Corpus(name, examples, readings, counter.counts([r.folded for r in readings]).counts)

    log("reading and featurising...")
    train_sets = {name: corpus(name, path) for name, path in files["train"].items()}
    val_sets = {name: corpus(name, path) for name, path in files["val"].items()}
    idf = _idf(sp.vstack([c.counts for c in train_sets.values()], format="csr"))
    for c in [*train_sets.values(), *val_sets.values()]:
        c.text = tfidf(c.counts, idf)
        c.rules = rule_columns(c.readings)

    aux_names = tuple(name for name in AUX_SETS if name in train_sets)
    aux_coef, aux_intercept = _fit_aux(aux_names, train_sets, val_sets, seed, log)

    n_text = idf.shape[0]
    text_rows, aux_weights, rule_weights = [], [], []
    intercept, trained = [], []
    for category in CATEGORIES:
        rows = _head_rows(category, train_sets, rng)
        if rows is None:
            log(f"  {category:<14} no examples: rules only")
            text_rows.append(sp.csr_matrix((1, n_text), dtype=np.float32))
            aux_weights.append(np.zeros(len(aux_names), np.float32))
            rule_weights.append(np.zeros(len(CATEGORIES), np.float32))
            intercept.append(0.0)
            trained.append(False)
            continue
        text, aux, rule, y, weight = rows
        head = _fit_head(category, text, aux, rule, y, weight, seed)
        log(f"  {category:<14} {int(y.sum()):>6} positive / {len(y):>6} rows, "
            f"{head[0].nnz} text weights")
        text_rows.append(head[0])
        aux_weights.append(head[1])
        rule_weights.append(head[2])
        intercept.append(head[3])
        trained.append(True)

    data_digest = hashlib.sha256(
        "".join(f"{k}={v};" for k, v in sorted(hashes.items()) if not k.startswith("test/"))
        .encode()).hexdigest()
    model = TriageModel(
        version="",
        categories=CATEGORIES, hashing=hashing,
        idf=idf.astype(np.float32), aux_names=aux_names, aux_coef=aux_coef,
        aux_intercept=aux_intercept, text_coef=sp.vstack(text_rows, format="csr"),
        aux_weights=np.vstack(aux_weights).astype(np.float32) if aux_names
        else np.zeros((len(CATEGORIES), 0), np.float32),
        rule_weights=np.vstack(rule_weights).astype(np.float32),
        intercept=np.array(intercept, np.float32), trained=np.array(trained),
        thresholds={c: DEFAULT_THRESHOLD for c in CATEGORIES})

    log("choosing thresholds on validation data...")
    model.thresholds = _choose_thresholds(model, rules, val_sets, log)
    # The version names the data and the weights: the same data, code and seed give the same one.
    weights = hashlib.sha256()
    for array in (model.text_coef.data, model.text_coef.indices, model.aux_weights,
                  model.rule_weights, model.intercept, model.aux_coef.data,
                  np.array([model.thresholds[c] for c in CATEGORIES])):
        weights.update(np.ascontiguousarray(array).tobytes())
    model.version = f"triage-{LEXICON_VERSION}.{data_digest[:8]}.{weights.hexdigest()[:8]}"

    log("evaluating...")
    classifier = TriageClassifier(rules, model)
    evaluation = {}
    for role in ("val", "test"):
        for name, path in files[role].items():
            report = evaluate_examples(classifier, read_labelled(path), source=f"{role}/{name}")
            evaluation[f"{role}/{name}"] = _summary(report)
            log(f"  {role}/{name:<20} macro-F1 {report.macro_f1:.4f}")
            if not report.binary:
                for f in report.figures:
                    log(f"      {f.category:<14} P {f.precision:.3f}  R {f.recall:.3f}  "
                        f"F1 {f.f1:.3f}  (n={f.support})")

    metadata = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "lexicon_version": LEXICON_VERSION,
        "data_sha256": hashes,
        "training_rows": {name: len(c.examples) for name, c in train_sets.items()},
        "evaluation": evaluation,
        "offensive_mapping": "a text counts as offensive when any of "
                             + ", ".join(OFFENSIVE_CATEGORIES) + " is flagged",
        "training_seconds": round(time.monotonic() - started, 1),
    }
    sidecar = save_model(model, out, metadata)
    log(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB), version {model.version}, "
        f"in {sidecar['training_seconds']} s")
    return sidecar


def _find_files(data_dir: Path, school_dir: Path, log: Log) -> dict[str, dict[str, Path]]:
    files: dict[str, dict[str, Path]] = {"train": {}, "val": {}, "test": {}}
    if not data_dir.is_dir():
        log(f"warning: {data_dir} not found; training on the school examples alone")
    for name in PUBLIC_SETS:
        for role in files:
            path = data_dir / name / f"{role}.csv"
            if path.exists():
                files[role][name] = path
    for role, filename in (("train", SCHOOL_TRAIN), ("val", SCHOOL_VAL)):
        path = school_dir / filename
        if path.exists():
            files[role]["school"] = path
        else:
            log(f"warning: {path} not found; the school categories get no {role} examples")
    return files


def _idf(counts: sp.csr_matrix) -> np.ndarray:
    """Smoothed idf, as TfidfTransformer computes it."""
    documents = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1.0 + documents) / (1.0 + df)) + 1.0).astype(np.float32)


def _nb_ratio(text: sp.csr_matrix, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Naive-Bayes log-count ratio per feature: how much more often it occurs in positives."""
    present = text.copy()
    present.data[:] = 1.0
    positive = np.asarray(present.T @ (weight * y)).ravel() + 1.0
    negative = np.asarray(present.T @ (weight * ~y)).ravel() + 1.0
    return np.log((positive / positive.sum()) / (negative / negative.sum())).astype(np.float32)


def _logistic(seed: int, c: float = C) -> LogisticRegression:
    return LogisticRegression(C=c, solver="liblinear", class_weight="balanced", max_iter=1000,
                              random_state=seed)


def _fit_nb_lr(text: sp.csr_matrix, extra: np.ndarray, y: np.ndarray, weight: np.ndarray,
               seed: int, c: float = C) -> tuple[np.ndarray, np.ndarray, float]:
    ratio = _nb_ratio(text, y, weight)
    design = sp.hstack([text.multiply(ratio).tocsr(), sp.csr_matrix(extra)], format="csr")
    fitted = _logistic(seed, c).fit(design, y, sample_weight=weight)
    coef = fitted.coef_.ravel()
    n_text = text.shape[1]
    # NB weighting folded into the text weights: (x * r) . w == x . (r * w).
    return ((coef[:n_text] * ratio).astype(np.float32), coef[n_text:].astype(np.float32),
            float(fitted.intercept_[0]))


def _fit_aux(names: Sequence[str], train_sets: dict[str, Corpus], val_sets: dict[str, Corpus],
             seed: int, log: Log) -> tuple[sp.csr_matrix, np.ndarray]:
    """One model per public set; every corpus gets their scores as `aux` columns (out-of-fold
    for the set's own training rows)."""
    n_text = next(iter(train_sets.values())).text.shape[1]
    everything = [*train_sets.values(), *val_sets.values()]
    for c in everything:
        c.aux = np.zeros((len(c.examples), len(names)), dtype=np.float32)
    coefs, intercepts = [], []
    for k, name in enumerate(names):
        own = train_sets[name]
        y = own.labels(OFFENSIVE)
        weight = np.ones(len(y), dtype=np.float32)
        empty = np.zeros((len(y), 0), dtype=np.float32)
        text_w, _, b = _fit_nb_lr(own.text, empty, y, weight, seed)
        coefs.append(_prune(text_w))
        intercepts.append(b)
        for c in everything:
            if c is not own:
                c.aux[:, k] = (c.text @ text_w + b) * AUX_SCALE
        folds = StratifiedKFold(OUT_OF_FOLD_SPLITS, shuffle=True, random_state=seed)
        for fit_rows, held_rows in folds.split(np.zeros(len(y)), y):
            fold_w, _, fold_b = _fit_nb_lr(own.text[fit_rows], empty[fit_rows], y[fit_rows],
                                           weight[fit_rows], seed)
            own.aux[held_rows, k] = (own.text[held_rows] @ fold_w + fold_b) * AUX_SCALE
        log(f"  aux/{name:<10} {int(y.sum()):>6} positive / {len(y):>6} rows")
    if not names:
        return sp.csr_matrix((0, n_text), dtype=np.float32), np.zeros(0, np.float32)
    coef = sp.vstack(coefs, format="csr") * AUX_SCALE
    return coef.astype(np.float32), np.array(intercepts, np.float32) * AUX_SCALE


def _head_rows(category: str, train_sets: dict[str, Corpus], rng: np.random.Generator):
    """The rows one head trains on: (text, aux, rules, y, weight), or None if it has none."""
    parts: list[tuple[Corpus, np.ndarray, np.ndarray, float]] = []  # corpus, rows, y, weight
    school = train_sets.get("school")
    if school is not None:
        rows = np.arange(len(school.examples))
        if category == "abusive":
            # A slur or a threat is offensive in the public sets' sense even when the school
            # example does not also call it abusive: such rows teach the abusive head nothing.
            other = school.labels("hateful") | school.labels("threat")
            rows = rows[school.labels("abusive") | ~other]
        weight = SCHOOL_WEIGHTS.get(category, SCHOOL_WEIGHT)
        parts.append((school, rows, school.labels(category), weight))
    if category == "abusive" and "tweeteval_offensive" in train_sets:
        c = train_sets["tweeteval_offensive"]
        parts.append((c, np.arange(len(c.examples)), c.labels(OFFENSIVE), 1.0))
    if category == "hateful":
        for name, is_hate in HATE_ROWS.items():
            if name in train_sets:
                c = train_sets[name]
                parts.append((c, np.arange(len(c.examples)),
                              np.array([is_hate(e) for e in c.examples]), 1.0))
    if category in PUBLIC_NEGATIVES_FOR and school is not None:
        clean_sets = [c for name, c in train_sets.items() if name != "school"]
        per_set = PUBLIC_NEGATIVES // max(1, len(clean_sets))
        for c in clean_sets:
            clean = np.flatnonzero(~c.labels(OFFENSIVE))
            rows = np.sort(rng.choice(clean, min(per_set, len(clean)), replace=False))
            parts.append((c, rows, np.zeros(len(c.examples), bool), PUBLIC_NEGATIVE_WEIGHT))
    if not parts:
        return None
    y = np.concatenate([labels[rows] for _, rows, labels, _ in parts])
    if y.all() or not y.any():
        return None
    text = sp.vstack([c.text[rows] for c, rows, _, _ in parts], format="csr")
    aux = np.vstack([c.aux[rows] for c, rows, _, _ in parts])
    rule = np.vstack([c.rules[rows] for c, rows, _, _ in parts])
    weight = np.concatenate([np.full(len(rows), w, np.float32) for _, rows, _, w in parts])
    return text, aux, rule, y, weight


def _fit_head(category, text, aux, rule, y, weight, seed):
    extra = np.hstack([aux, rule])
    c = C if category in ("abusive", "hateful") else C_SCHOOL
    text_w, extra_w, b = _fit_nb_lr(text, extra, y, weight, seed, c)
    n_aux = aux.shape[1]
    return _prune(text_w), extra_w[:n_aux], extra_w[n_aux:], b


def _prune(weights: np.ndarray) -> sp.csr_matrix:
    kept = np.where(np.abs(weights) >= PRUNE_BELOW, weights, 0.0).astype(np.float32)
    return sp.csr_matrix(kept.reshape(1, -1))


def _choose_thresholds(model: TriageModel, rules: Rules, val_sets: dict[str, Corpus],
                       log: Log) -> dict[str, float]:
    classifier = TriageClassifier(rules, model)
    scores = {name: classifier.score_readings(c.readings)[0] for name, c in val_sets.items()}
    index = {c: j for j, c in enumerate(CATEGORIES)}
    chosen = {c: DEFAULT_THRESHOLD for c in CATEGORIES}
    school = val_sets.get("school")

    def school_objective(category: str, threshold: float) -> float | None:
        if school is None:
            return None
        truth = school.labels(category)
        if truth.sum() < 3:
            return None
        return _f_beta(truth, scores["school"][:, index[category]] >= threshold,
                       BETA.get(category, 1.0))

    # Every category on its own school objective first.
    for category in CATEGORIES:
        if school_objective(category, 0.5) is not None:
            chosen[category] = _best(lambda t, c=category: school_objective(c, t))

    # Then abusive, hateful and threat together: the public figures count a text as offensive
    # when any of the three is flagged, so each one's false alarms on tweets cost the others.
    # What the school examples need comes first, though: threat may not give up any of its recall
    # on them, nor hateful any of its precision (criticism or insults flagged as hate would).
    public = [n for n in ("tweeteval_offensive", "hatexplain") if n in val_sets]
    trio = ("hateful", "threat", "abusive")
    floors: dict[str, tuple[str, float]] = {}
    for category, measure in (("threat", "recall"), ("hateful", "precision")):
        if school_objective(category, 0.5) is not None:
            floors[category] = (measure, _school_measure(
                school, scores["school"][:, index[category]], category, chosen[category],
                measure))

    def trio_objective(thresholds: dict[str, float]) -> float | None:
        for category, (measure, floor) in floors.items():
            if _school_measure(school, scores["school"][:, index[category]], category,
                               thresholds[category], measure) < floor:
                return None
        public_parts = []
        for name in public:
            s = scores[name]
            flagged = np.zeros(len(s), dtype=bool)
            for c in trio:
                flagged |= s[:, index[c]] >= thresholds[c]
            public_parts.append(_macro_f1(val_sets[name].labels(OFFENSIVE), flagged))
        school_parts = [v for c in trio if (v := school_objective(c, thresholds[c])) is not None]
        parts = [float(np.mean(p)) for p in (public_parts, school_parts) if p]
        return float(np.mean(parts)) if parts else None

    if public:
        for _ in range(3):
            for category in trio:
                chosen[category] = _best(
                    lambda t, c=category: trio_objective({**chosen, c: t}))
    for category in CATEGORIES:
        if not model.trained[index[category]]:
            chosen[category] = DEFAULT_THRESHOLD
    log("  " + ", ".join(f"{c} {t:.2f}" for c, t in chosen.items()))
    return chosen


def _school_measure(school: Corpus, scores: np.ndarray, category: str, threshold: float,
                    measure: str) -> float:
    truth = school.labels(category)
    flagged = scores >= threshold
    hits = float((truth & flagged).sum())
    if measure == "recall":
        return hits / max(1.0, float(truth.sum()))
    return hits / float(flagged.sum()) if flagged.any() else 1.0


def _best(objective: Callable[[float], float | None]) -> float:
    values = [(objective(float(t)) or 0.0, -abs(float(t) - 0.5), float(t))
              for t in THRESHOLD_GRID]
    return max(values)[2]


def _f_beta(truth: np.ndarray, flagged: np.ndarray, beta: float) -> float:
    tp = float(np.sum(truth & flagged))
    fp = float(np.sum(~truth & flagged))
    fn = float(np.sum(truth & ~flagged))
    b2 = beta * beta
    denominator = (1 + b2) * tp + b2 * fn + fp
    return (1 + b2) * tp / denominator if denominator else 0.0


def _macro_f1(truth: np.ndarray, flagged: np.ndarray) -> float:
    return (_f_beta(truth, flagged, 1.0) + _f_beta(~truth, ~flagged, 1.0)) / 2


def _summary(report: Report) -> dict:
    summary = report.as_dict()
    summary.pop("confusion", None)
    summary.pop("model_version", None)
    return summary
