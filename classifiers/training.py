"""Training the triage model: what `hallmonitor model train` runs.

Data (train splits to fit, val splits to choose thresholds; test splits only for the figures):
- the public labelled sets in ../shared/data (see its README). They inform only the offensive
  categories: TweetEval offensive teaches `abusive` (in the broad sense of that set: insults,
  threats, profanity); HateXplain's hate speech, Davidson's hate class and TweetEval hate teach
  `hateful`; and one auxiliary model per set (Davidson, HateXplain, TweetEval hate) gives every
  head a summary of what that set calls offensive.
- the school-context examples in classifiers/data (school_train.jsonl, school_val.jsonl), which
  teach every category, including the offensive ones in a school page's sense.

Each head is a logistic regression over the tf-idf features, plus the auxiliary scores, the
rules' hit columns, (for the heads only school examples teach) the text's length in words, and
the text's sentence embedding (`classifiers.encoder`) times EMBEDDING_SCALE, all fitted together:
the embedding lets a head recognise a threat or a disclosure in words no training example used,
and the n-grams keep what the embedding blurs (slurs, spellings, names). The
heads the public sets teach weigh the text features Naive-Bayes fashion first (NB-LR), which suits
tens of thousands of tweets; most others, taught by a few hundred school examples, do better
without it: the NB ratio of an n-gram seen in a single threat and nowhere else is so large that
the head learns that threat by heart and flags whatever shares its n-grams (see NB_HEADS). The
auxiliary scores a head sees for a set's own rows are out-of-fold, so no head learns to trust a
model on data it has memorised.

Thresholds are chosen on validation data, by F1, or, for threat and safeguarding, against a
realistic share of harmless text with a floor on recall (see URGENT below).

Reproducible: fixed seeds, and the sha256 of every file read is printed and stored.
"""

from __future__ import annotations

import functools
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
    HELDOUT,
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
from classifiers.encoder import Encoder, embed_cached
from classifiers.evaluation import Report, evaluate_examples
from classifiers.features import (
    LENGTH_BINS,
    Hashing,
    TermCounter,
    length_columns,
    rule_columns,
    tfidf,
    word_counts,
)
from classifiers.lexicon import LEXICON_VERSION
from classifiers.model import TriageModel, nearest_similarity
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
# heads the public sets teach, on the school val file for the others.
C = 2.0
C_SCHOOL = 4.0
# How much a hand-written school example counts: three times a public negative sample in the
# heads only school examples teach; in the heads the public sets also teach, as much as a tweet
# for abusive (more tips it away from the public sense of offensive, which the public figures
# measure) and three times for hateful (criticism of a school must not read as hate).
SCHOOL_WEIGHT = 3.0
SCHOOL_WEIGHTS = {"abusive": 1.0, "hateful": 3.0}
# The heads the public sets teach (besides the school examples).
PUBLIC_HEADS = ("abusive", "hateful")
# The heads whose text features are weighed Naive-Bayes fashion (see the top of this file): the
# public ones, and question, whose wording ("is the", "what time", "?") is shared by so many
# examples that the ratios stay moderate (best F1 on the school validation file 0.90 with, 0.87
# without; every other school head does as well or better without).
NB_HEADS = (*PUBLIC_HEADS, "question")
# Public texts that are not offensive are safe negatives for categories tweets almost never are;
# they teach those heads what ordinary talk of violence, illness or news looks like.
PUBLIC_NEGATIVES_FOR = ("threat", "safeguarding", "personal_data", "media", "absence", "spam")
PUBLIC_NEGATIVES = 8000
PUBLIC_NEGATIVE_WEIGHT = 0.5
# How much each public validation set counts when abusive and hateful thresholds are chosen
# together: TweetEval's sense of offensive (insults, threats and profanity, targeted or not) is
# the one the project's public figure is measured in; HateXplain's annotators call offensive a
# good deal that a school would not be alerted to.
PUBLIC_OBJECTIVE_WEIGHTS = {"tweeteval_offensive": 2.0, "hatexplain": 1.0}
# How much of their F1 on the school validation file abusive and hateful may give up for the
# public figures.
SCHOOL_F1_SLACK = 0.05
# F-beta used to choose each threshold; beta 2 leans towards recall.
BETA = {"threat": 2.0, "safeguarding": 2.0}
# Urgent categories page the safeguarding lead at any hour, so their thresholds are chosen against
# what a school's page really gets: a few threats or disclosures among a great many harmless
# comments, most of them short replies. The school validation file has far more of them (about
# one text in twelve is a threat) and too few harmless ones, so a threshold chosen on it alone
# wakes someone for "👍". For the choice, the harmless side is the school file's own negatives
# and, as much again by weight, the public validation texts that are not offensive; it is weighed
# so that the urgent texts are REALISTIC_SHARE of everything. The threshold must keep
# RECALL_FLOOR of the school file's urgent texts (a missed disclosure costs far more than a false
# alarm), and should keep that weighed precision at PRECISION_FLOOR or more; within those, it
# has the best weighed F2.
URGENT = ("threat", "safeguarding")
REALISTIC_SHARE = 0.02
HARMLESS_PUBLIC = ("tweeteval_offensive", "hatexplain")
RECALL_FLOOR = 0.9
PRECISION_FLOOR = 0.5
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
DEFAULT_THRESHOLD = 0.5
# The embedding block's weight against the sparse block (whose rows have unit length, as the
# embedding's do): every column is regularised alike, so this sets how much the heads may lean on
# the embedding. Chosen on the validation files (see docs/classifier.md).
EMBEDDING_SCALE = 2.0
# The heads the public sets teach lean on it less: tens of thousands of tweets fit the embedding
# closely to what those sets call offensive, and what a school's page calls abusive is narrower.
HEAD_EMBEDDING_SCALES: dict[str, float] = {"abusive": 0.3, "hateful": 1.5}
# The nearest-known-example columns (one per category: the cosine similarity to the closest
# school training example of it, never the text itself) and their weight. Similarity to a
# known threat says "threat" in a way no linear reading of the embedding can.
SIMILARITY_SCALE = 2.0
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
    length: np.ndarray | None = None
    aux: np.ndarray | None = None
    embedding: np.ndarray | None = None
    similarity: np.ndarray | None = None

    def labels(self, category: str) -> np.ndarray:
        if category == OFFENSIVE:
            return np.array([OFFENSIVE in e.labels for e in self.examples])
        return np.array([category in e.labels for e in self.examples])


class KnownEmbeddings:
    """An encoder for training's own classifier: the texts training has embedded already are
    looked up, not embedded again (threshold choice and evaluation score them several times)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self._known: dict[str, np.ndarray] = {}

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        self._known.update(zip(texts, vectors, strict=True))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._known]
        if missing:
            self.remember(missing, embed_cached(self.encoder, missing))
        if not texts:
            return np.zeros((0, self.encoder.dimensions), dtype=np.float32)
        return np.vstack([self._known[t] for t in texts])


def train(data_dir: Path | None = None, out: Path = MODEL_PATH, *, seed: int = 0,
          log: Log = print, school_dir: Path | None = None,
          embedding_scale: float = EMBEDDING_SCALE, threads: int = 2,
          head_scales: dict[str, float] | None = None) -> dict:
    """Train, choose thresholds, evaluate and save the model to `out` (a .skops file, or a
    directory to hold triage.skops) with its JSON sidecar. Returns the sidecar's content.

    `embedding_scale` 0 trains without the semantic stage (for comparison)."""
    started = time.monotonic()
    if data_dir is not None and not Path(data_dir).is_dir():
        raise FileNotFoundError(f"no such data folder: {data_dir}")
    data_dir = Path(data_dir) if data_dir is not None else shared_data_dir()
    school_dir = Path(school_dir) if school_dir is not None else SCHOOL_DIR
    out = Path(out)
    if out.suffix != ".skops":
        out = out / MODEL_PATH.name
    rng = np.random.default_rng(seed)

    files = _find_files(data_dir, school_dir, log)
    hashes = {}
    log("training data (sha256):")
    for role in ("train", "val", "test", "heldout"):
        for name, path in files[role].items():
            hashes[f"{role}/{name}"] = sha256_file(path)
            log(f"  {hashes[f'{role}/{name}']}  {path}")
    if not files["train"]:
        raise ValueError(f"no training data: nothing in {data_dir} nor {school_dir}")

    rules = Rules()
    hashing = Hashing()
    counter = TermCounter(hashing)
    encoder = KnownEmbeddings(Encoder(threads=threads)) if embedding_scale > 0 else None

    def corpus(name: str, path: Path) -> Corpus:
        examples = read_labelled(path)
        readings = rules.read_all([e.text for e in examples])
        c = Corpus(name, examples, readings, counter.counts([r.folded for r in readings]).counts)
        if encoder is not None:
            plains = [r.plain for r in readings]
            c.embedding = embed_cached(encoder.encoder, plains)
            encoder.remember(plains, c.embedding)
        else:
            c.embedding = np.zeros((len(examples), 0), dtype=np.float32)
        return c

    log("reading, featurising and embedding (embeddings are cached between runs)...")
    train_sets = {name: corpus(name, path) for name, path in files["train"].items()}
    val_sets = {name: corpus(name, path) for name, path in files["val"].items()}
    idf = _idf(sp.vstack([c.counts for c in train_sets.values()], format="csr"))
    for c in [*train_sets.values(), *val_sets.values()]:
        c.text = tfidf(c.counts, idf)
        c.rules = rule_columns(c.readings)
        c.length = length_columns(word_counts(c.readings))

    aux_names = tuple(name for name in AUX_SETS if name in train_sets)
    aux_coef, aux_intercept = _fit_aux(aux_names, train_sets, val_sets, seed, log)

    n_text = idf.shape[0]
    n_embedding = next(iter(train_sets.values())).embedding.shape[1]
    exemplars = _exemplars(train_sets.get("school")) \
        if encoder is not None and SIMILARITY_SCALE > 0 else None
    for c in [*train_sets.values(), *val_sets.values()]:
        c.similarity = _similarity(c, exemplars, train_sets.get("school"))
        c.embedding = c.embedding * np.float32(embedding_scale)
    text_rows, aux_weights, rule_weights, length_weights = [], [], [], []
    embedding_weights, similarity_weights = [], []
    intercept, trained = [], []
    for category in CATEGORIES:
        rows = _head_rows(category, train_sets, rng)
        if rows is None:
            log(f"  {category:<14} no examples: rules only")
            text_rows.append(sp.csr_matrix((1, n_text), dtype=np.float32))
            aux_weights.append(np.zeros(len(aux_names), np.float32))
            rule_weights.append(np.zeros(len(CATEGORIES), np.float32))
            length_weights.append(np.zeros(len(LENGTH_BINS), np.float32))
            embedding_weights.append(np.zeros(n_embedding, np.float32))
            similarity_weights.append(np.zeros(len(CATEGORIES) if exemplars else 0, np.float32))
            intercept.append(0.0)
            trained.append(False)
            continue
        text, aux, rule, length, embedding, similarity, y, weight = rows
        scales = HEAD_EMBEDDING_SCALES if head_scales is None else head_scales
        ratio = scales.get(category, embedding_scale) / embedding_scale if embedding_scale else 1.0
        head = _fit_head(category, text, aux, rule, length,
                         np.hstack([embedding * np.float32(ratio), similarity]), y, weight, seed)
        semantic = head[5]
        head = (*head[:5], semantic[:n_embedding] * np.float32(ratio))
        similarity_weights.append(semantic[n_embedding:])
        log(f"  {category:<14} {int(y.sum()):>6} positive / {len(y):>6} rows, "
            f"{head[0].nnz} text weights")
        text_rows.append(head[0])
        aux_weights.append(head[1])
        rule_weights.append(head[2])
        length_weights.append(head[3])
        embedding_weights.append(head[5])
        intercept.append(head[4])
        trained.append(True)

    data_digest = hashlib.sha256(
        "".join(f"{k}={v};" for k, v in sorted(hashes.items())
                if not k.startswith(("test/", "heldout/")))
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
        thresholds={c: DEFAULT_THRESHOLD for c in CATEGORIES},
        length_weights=np.vstack(length_weights).astype(np.float32), length_bins=LENGTH_BINS,
        **_semantic_stage(encoder, embedding_scale, embedding_weights, train_sets),
        **_exemplar_stage(exemplars, similarity_weights, train_sets))

    log("choosing thresholds on validation data...")
    model.thresholds = _choose_thresholds(model, rules, val_sets, log, encoder)
    # The version names the data and the weights: the same data, code and seed give the same one.
    weights = hashlib.sha256()
    for array in (model.text_coef.data, model.text_coef.indices, model.aux_weights,
                  model.rule_weights, model.length_weights, model.intercept, model.aux_coef.data,
                  np.array([model.thresholds[c] for c in CATEGORIES]),
                  model.embedding_weights if model.uses_encoder else np.zeros(0),
                  model.similarity_weights if model.uses_exemplars else np.zeros(0)):
        weights.update(np.ascontiguousarray(array).tobytes())
    model.version = f"triage-{LEXICON_VERSION}.{data_digest[:8]}.{weights.hexdigest()[:8]}"

    log("evaluating...")
    classifier = TriageClassifier(rules, model, encoder=encoder)
    evaluation = {}
    for role in ("val", "test", "heldout"):
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
        "encoder": model.encoder, "embedding_scale": embedding_scale,
        "evaluation": evaluation,
        "offensive_mapping": "a text counts as offensive when any of "
                             + ", ".join(OFFENSIVE_CATEGORIES) + " is flagged",
        "training_seconds": round(time.monotonic() - started, 1),
    }
    sidecar = save_model(model, out, metadata)
    log(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB), version {model.version}, "
        f"in {sidecar['training_seconds']} s")
    return sidecar


def _semantic_stage(encoder: KnownEmbeddings | None, scale: float,
                    weights: list[np.ndarray], train_sets: dict[str, Corpus]) -> dict:
    if encoder is None:
        return {}
    everything = np.vstack([c.embedding for c in train_sets.values()]) / np.float32(scale)
    return {"encoder": encoder.name, "embedding_scale": float(scale),
            "embedding_weights": np.vstack(weights).astype(np.float32),
            "embedding_mean": everything.mean(axis=0).astype(np.float32)}


def _exemplars(school: Corpus | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The known examples: every school training text once per category it is labelled with:
    (embeddings, category index, the text's row)."""
    if school is None:
        return None
    rows, categories = [], []
    for i, example in enumerate(school.examples):
        for category in example.labels:
            if category in CATEGORIES:
                rows.append(i)
                categories.append(CATEGORIES.index(category))
    if not rows:
        return None
    rows_array = np.array(rows)
    return school.embedding[rows_array], np.array(categories), rows_array


def _similarity(c: Corpus, exemplars, school: Corpus | None) -> np.ndarray:
    """A corpus's nearest-example columns, times SIMILARITY_SCALE (for the school's own
    training rows, leaving each text's own entries out)."""
    if exemplars is None:
        return np.zeros((len(c.examples), 0), dtype=np.float32)
    vectors, categories, owners = exemplars
    own = (np.arange(len(c.examples)), owners) if c is school else None
    found = nearest_similarity(c.embedding, vectors, categories, len(CATEGORIES), own)
    return found * np.float32(SIMILARITY_SCALE)


def _exemplar_stage(exemplars, weights: list[np.ndarray],
                    train_sets: dict[str, Corpus]) -> dict:
    if exemplars is None:
        return {}
    everything = np.vstack([c.similarity for c in train_sets.values()])
    return {"exemplars": exemplars[0].astype(np.float32),
            "exemplar_categories": exemplars[1], "similarity_scale": SIMILARITY_SCALE,
            "similarity_weights": np.vstack(weights).astype(np.float32),
            "similarity_mean": (everything.mean(axis=0) / SIMILARITY_SCALE).astype(np.float32)}


def _find_files(data_dir: Path, school_dir: Path, log: Log) -> dict[str, dict[str, Path]]:
    """The files of each role. "heldout" is the independent evaluation set: it is read only to
    report figures, after the model and its thresholds are fixed."""
    files: dict[str, dict[str, Path]] = {"train": {}, "val": {}, "test": {}, "heldout": {}}
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
    if (school_dir / HELDOUT).exists():
        files["heldout"]["independent"] = school_dir / HELDOUT
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
               seed: int, c: float = C, nb: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    ratio = _nb_ratio(text, y, weight) if nb else np.ones(text.shape[1], dtype=np.float32)
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
    """The rows one head trains on: (text, aux, rules, length, embedding, similarity, y,
    weight), or None if it has none."""
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
    length = np.vstack([c.length[rows] for c, rows, _, _ in parts])
    embedding = np.vstack([c.embedding[rows] for c, rows, _, _ in parts])
    similarity = np.vstack([c.similarity[rows] for c, rows, _, _ in parts])
    weight = np.concatenate([np.full(len(rows), w, np.float32) for _, rows, _, w in parts])
    return text, aux, rule, length, embedding, similarity, y, weight


def _fit_head(category, text, aux, rule, length, embedding, y, weight, seed):
    if category in PUBLIC_HEADS:
        # Tweets' lengths say nothing about a school page's comments: these heads ignore it.
        length = np.zeros_like(length)
    extra = np.hstack([aux, rule, length, embedding])
    text_w, extra_w, b = _fit_nb_lr(text, extra, y, weight, seed,
                                    C if category in PUBLIC_HEADS else C_SCHOOL,
                                    nb=category in NB_HEADS)
    n_aux, n_rule, n_length = aux.shape[1], rule.shape[1], length.shape[1]
    at = n_aux + n_rule + n_length
    return (_prune(text_w), extra_w[:n_aux], extra_w[n_aux:n_aux + n_rule],
            extra_w[n_aux + n_rule:at], b, extra_w[at:])


def _prune(weights: np.ndarray) -> sp.csr_matrix:
    kept = np.where(np.abs(weights) >= PRUNE_BELOW, weights, 0.0).astype(np.float32)
    return sp.csr_matrix(kept.reshape(1, -1))


def _choose_thresholds(model: TriageModel, rules: Rules, val_sets: dict[str, Corpus],
                       log: Log, encoder: KnownEmbeddings | None) -> dict[str, float]:
    classifier = TriageClassifier(rules, model, encoder=encoder)
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

    # Every category on its own school objective first; urgent ones against a realistic share
    # of harmless text.
    harmless = [scores[name][~val_sets[name].labels(OFFENSIVE)] for name in HARMLESS_PUBLIC
                if name in val_sets]
    for category in CATEGORIES:
        if school_objective(category, 0.5) is None:
            continue
        if category in URGENT:
            j = index[category]
            chosen[category] = _urgent_threshold(
                category, school.labels(category), scores["school"][:, j],
                [h[:, j] for h in harmless], log)
        else:
            chosen[category] = _best(lambda t, c=category: school_objective(c, t))

    # Then abusive and hateful together (threat stays where the step above put it), for the public
    # figures: they count a text as offensive when any of abusive, hateful or threat is flagged,
    # so each one's false alarms on tweets cost the others. What the school examples need comes
    # first, though, as floors: neither may give up more than SCHOOL_F1_SLACK of its F1 on them,
    # and hateful none of its precision (criticism or insults flagged as hate would).
    public = [n for n in ("tweeteval_offensive", "hatexplain") if n in val_sets]
    trio = ("hateful", "threat", "abusive")
    tuned = ("hateful", "abusive")
    floors: list[tuple[str, str, float]] = []  # category, measure, floor
    for category in tuned:
        if school_objective(category, 0.5) is None:
            continue
        measure = functools.partial(_school_measure, school,
                                    scores["school"][:, index[category]], category)
        floors.append((category, "f1", measure(chosen[category], "f1") - SCHOOL_F1_SLACK))
        if category == "hateful":
            floors.append((category, "precision", measure(chosen[category], "precision")))

    def trio_objective(thresholds: dict[str, float]) -> float | None:
        for category, measure, floor in floors:
            if _school_measure(school, scores["school"][:, index[category]], category,
                               thresholds[category], measure) < floor:
                return None
        public_parts, public_weights = [], []
        for name in public:
            s = scores[name]
            flagged = np.zeros(len(s), dtype=bool)
            for c in trio:
                flagged |= s[:, index[c]] >= thresholds[c]
            public_parts.append(_macro_f1(val_sets[name].labels(OFFENSIVE), flagged))
            public_weights.append(PUBLIC_OBJECTIVE_WEIGHTS.get(name, 1.0))
        if not public_parts:
            return None
        return float(np.average(public_parts, weights=public_weights))

    if public:
        for _ in range(3):
            for category in tuned:
                chosen[category] = _best(
                    lambda t, c=category: trio_objective({**chosen, c: t}))
    for category in CATEGORIES:
        if not model.trained[index[category]]:
            chosen[category] = DEFAULT_THRESHOLD
    log("  " + ", ".join(f"{c} {t:.2f}" for c, t in chosen.items()))
    return chosen


def _urgent_threshold(category: str, truth: np.ndarray, scores: np.ndarray,
                      harmless: Sequence[np.ndarray], log: Log) -> float:
    """The threshold for an urgent category: see URGENT above."""
    positives = scores[truth]
    negatives = [scores[~truth], *(h for h in harmless if len(h))]
    negative_weight = len(positives) * (1 - REALISTIC_SHARE) / REALISTIC_SHARE
    rows = []
    for t in THRESHOLD_GRID:
        hits = float((positives >= t).sum())
        recall = hits / len(positives)
        false_rate = float(np.mean([(n >= t).mean() for n in negatives]))
        false_alarms = false_rate * negative_weight
        precision = hits / (hits + false_alarms) if hits + false_alarms else 1.0
        f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
        rows.append((float(t), recall, precision, f2))
    enough = [r for r in rows if r[1] >= RECALL_FLOOR]
    good = [r for r in enough if r[2] >= PRECISION_FLOOR]
    if not enough:
        log(f"  warning: {category}: no threshold keeps recall {RECALL_FLOOR:.2f} on the school "
            f"validation file; taking the best weighed F2")
        pool = rows
    elif not good:
        log(f"  warning: {category}: no threshold that keeps recall {RECALL_FLOOR:.2f} reaches "
            f"weighed precision {PRECISION_FLOOR:.2f}; recall comes first")
        pool = enough
    else:
        pool = good
    t, recall, precision, _ = max(pool, key=lambda r: (r[3], r[0]))
    log(f"  {category}: threshold {t:.2f}, school recall {recall:.3f}, precision weighed to "
        f"{REALISTIC_SHARE:.0%} urgent {precision:.3f}")
    return t


def _school_measure(school: Corpus, scores: np.ndarray, category: str, threshold: float,
                    measure: str) -> float:
    truth = school.labels(category)
    flagged = scores >= threshold
    hits = float((truth & flagged).sum())
    if measure == "recall":
        return hits / max(1.0, float(truth.sum()))
    if measure == "f1":
        return _f_beta(truth, flagged, 1.0)
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
