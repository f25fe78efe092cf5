"""The training code path, on small fixture sets (the full model is trained by the CLI)."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.base import CATEGORIES
from classifiers.model_file import load_model, sha256_file
from classifiers.rules import Rules
from classifiers.triage import TriageClassifier
from tests.classifiers.conftest import FIXTURES, train_tiny


def test_it_saves_a_model_that_loads_and_classifies(tiny_model):
    path, sidecar, _ = tiny_model
    model = load_model(path)
    assert model.version == sidecar["version"]
    verdicts = TriageClassifier(Rules(), model).predict(["you stupid prick", "lovely day", ""])
    assert len(verdicts) == 3
    assert all(set(v.scores) == set(CATEGORIES) for v in verdicts)


def test_it_records_and_prints_the_hash_of_every_file_it_read(tiny_model):
    _, sidecar, lines = tiny_model
    hashes = sidecar["data_sha256"]
    expected = {
        "train/tweeteval_offensive": FIXTURES / "public/tweeteval_offensive/train.csv",
        "val/tweeteval_offensive": FIXTURES / "public/tweeteval_offensive/val.csv",
        "test/tweeteval_offensive": FIXTURES / "public/tweeteval_offensive/test.csv",
        "train/hatexplain": FIXTURES / "public/hatexplain/train.csv",
        "train/school": FIXTURES / "school/school_train.jsonl",
        "val/school": FIXTURES / "school/school_val.jsonl",
    }
    for key, path in expected.items():
        assert hashes[key] == sha256_file(path)
        assert any(hashes[key] in line for line in lines)


def test_the_sidecar_says_what_the_model_is(tiny_model):
    _, sidecar, _ = tiny_model
    for key in ("version", "model_sha256", "sklearn_version", "thresholds", "evaluation",
                "seed", "trained_at", "training_rows"):
        assert key in sidecar
    assert set(sidecar["thresholds"]) == set(CATEGORIES)
    assert all(0.0 < t < 1.0 for t in sidecar["thresholds"].values())
    assert "test/tweeteval_offensive" in sidecar["evaluation"]
    assert "val/school" in sidecar["evaluation"]


def test_the_same_seed_gives_the_same_model(tmp_path, tiny_model):
    again, _ = train_tiny(tmp_path / "again.skops")
    first, second = load_model(tiny_model[0]), load_model(tmp_path / "again.skops")
    assert again["version"] == tiny_model[1]["version"]
    assert (first.text_coef != second.text_coef).nnz == 0
    assert np.array_equal(first.intercept, second.intercept)
    assert first.thresholds == second.thresholds


def test_it_accepts_a_directory_as_the_output(tmp_path):
    sidecar, _ = train_tiny(tmp_path)
    assert (tmp_path / "triage.skops").exists()
    assert (tmp_path / "triage.json").exists()
    assert sidecar["model_file"] == "triage.skops"


def test_a_data_folder_that_is_not_there_is_refused_not_skipped(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such data folder"):
        train_tiny(tmp_path / "m.skops", data_dir=tmp_path / "missing")
    assert not (tmp_path / "m.skops").exists()


def test_with_no_public_sets_in_the_folder_it_trains_on_the_school_examples(tmp_path):
    (tmp_path / "empty").mkdir()
    sidecar, _ = train_tiny(tmp_path / "m.skops", data_dir=tmp_path / "empty")
    assert set(sidecar["training_rows"]) == {"school"}
    load_model(tmp_path / "m.skops")


def test_categories_without_examples_fall_back_to_the_rules(tmp_path):
    _, lines = train_tiny(tmp_path / "m.skops", school_dir=tmp_path / "no-school")
    model = load_model(tmp_path / "m.skops")
    trained = dict(zip(model.categories, model.trained, strict=True))
    assert trained["abusive"] and not trained["media"]
    verdict = TriageClassifier(Rules(), model).predict(["I'm a reporter at the BBC"])[0]
    assert "media" in verdict.categories
    assert any("rules only" in line for line in lines)
