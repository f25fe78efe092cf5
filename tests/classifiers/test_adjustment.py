"""A school's adjustment: bounded logit shifts learned from corrections, local to texts like them,
stored as plain JSON, and fitted without scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from classifiers.adjustment import Adjustment, fit
from classifiers.base import CATEGORIES
from classifiers.encoder import DIMENSIONS, shared_encoder

N = len(CATEGORIES)
J = {c: j for j, c in enumerate(CATEGORIES)}


def adjustment(weights: np.ndarray, bias: np.ndarray | None = None) -> Adjustment:
    return Adjustment.build("triage-test", weights, np.zeros(N) if bias is None else bias)


def labels_for(categories_per_text: list[tuple[str, ...]]) -> np.ndarray:
    return np.array([[c in cats for c in CATEGORIES] for cats in categories_per_text], dtype=float)


@pytest.fixture(scope="module")
def encoder():
    return shared_encoder()


def test_the_shift_is_embeddings_times_weights_plus_bias():
    rng = np.random.default_rng(0)
    weights = rng.normal(scale=0.05, size=(N, DIMENSIONS))
    bias = rng.normal(scale=0.1, size=N)
    embeddings = rng.normal(scale=0.05, size=(4, DIMENSIONS)).astype(np.float32)
    shift = adjustment(weights, bias).shift(embeddings)
    assert shift.shape == (4, N)
    np.testing.assert_allclose(shift, embeddings @ weights.T + bias, atol=1e-5)


def test_no_category_moves_more_than_two_and_urgent_ones_soften_by_at_most_one():
    embedding = np.ones((1, DIMENSIONS), dtype=np.float32)
    down = adjustment(np.full((N, DIMENSIONS), -1.0)).shift(embedding)[0]
    up = adjustment(np.full((N, DIMENSIONS), 1.0)).shift(embedding)[0]
    assert up.tolist() == [2.0] * N
    for category in CATEGORIES:
        expected = -1.0 if category in ("threat", "safeguarding") else -2.0
        assert down[J[category]] == expected, category


def test_an_adjustment_survives_a_round_trip_through_json():
    rng = np.random.default_rng(1)
    original = adjustment(rng.normal(size=(N, DIMENSIONS)), rng.normal(size=N))
    payload = json.loads(json.dumps(original.as_payload()))
    again = Adjustment.from_payload(payload)
    assert (again.base_version, again.version) == (original.base_version, original.version)
    np.testing.assert_array_equal(again.weights, original.weights)
    np.testing.assert_array_equal(again.bias, original.bias)


def test_a_payload_for_other_categories_or_another_format_is_refused():
    payload = adjustment(np.zeros((N, DIMENSIONS))).as_payload()
    with pytest.raises(ValueError, match="other categories"):
        Adjustment.from_payload({**payload, "categories": ["threat", "spam"]})
    with pytest.raises(ValueError, match="format"):
        Adjustment.from_payload({**payload, "format": 99})
    with pytest.raises(ValueError, match="weights are"):
        Adjustment.from_payload({**payload, "weights": [[0.0] * DIMENSIONS]})


def test_the_version_is_a_short_id_of_the_weights_and_the_base_model():
    weights = np.zeros((N, DIMENSIONS))
    first = adjustment(weights)
    assert len(first.version) == 8 and int(first.version, 16) >= 0
    assert adjustment(weights).version == first.version
    weights[3, 7] = 0.5
    assert adjustment(weights).version != first.version
    assert Adjustment.build("triage-other", np.zeros((N, DIMENSIONS)), np.zeros(N)).version != (
        first.version)


BANTER = ["our under 11s absolutely murdered them at football today",
          "the year 6 netball team slaughtered the opposition",
          "we destroyed them at the cross country, brutal",
          "the rugby lads killed it against St Mary's",
          "absolutely battered them at the hockey tournament"]
LIKE_BANTER = "the under 9s slaughtered them at rugby this morning"
UNLIKE = ["what time does the disco finish on friday",
          "the new head has been a disgrace, nobody listens to parents",
          "please can someone ring me about the trip money"]


def test_a_handful_of_corrections_moves_texts_like_them_and_barely_the_rest(encoder):
    # The shipped model called the banter abusive (logit 1.5); staff said it is praise.
    base = np.full((len(BANTER), N), -4.0)
    base[:, J["abusive"]] = 1.5
    learned = fit(base, encoder.embed(BANTER), labels_for([("praise",)] * len(BANTER)),
                  base_version="triage-test")
    like, *unlike = learned.shift(encoder.embed([LIKE_BANTER, *UNLIKE]))
    assert like[J["abusive"]] < -0.5 and like[J["praise"]] > 0.5
    for shifted in unlike:
        assert abs(shifted[J["abusive"]]) < abs(like[J["abusive"]]) / 2
        assert abs(shifted[J["praise"]]) < abs(like[J["praise"]]) / 2


def test_corrections_that_agree_with_the_model_teach_nothing(encoder):
    base = np.full((len(BANTER), N), -6.0)
    base[:, J["praise"]] = 6.0
    learned = fit(base, encoder.embed(BANTER), labels_for([("praise",)] * len(BANTER)),
                  base_version="triage-test")
    assert np.abs(learned.shift(encoder.embed([LIKE_BANTER, *UNLIKE]))).max() < 0.05


def test_more_regularisation_moves_less(encoder):
    base = np.zeros((len(BANTER), N))
    labels = labels_for([("praise",)] * len(BANTER))
    embeddings = encoder.embed(BANTER)
    like = encoder.embed([LIKE_BANTER])
    loose = fit(base, embeddings, labels, base_version="b", l2=0.5).shift(like)[0, J["praise"]]
    tight = fit(base, embeddings, labels, base_version="b", l2=8.0).shift(like)[0, J["praise"]]
    assert loose > tight > 0


def test_fitting_with_a_center_moves_typical_text_less(encoder):
    base = np.full((len(BANTER), N), -4.0)
    labels = labels_for([("spam",)] * len(BANTER))
    typical = encoder.embed(UNLIKE + ["lovely assembly this morning", "thank you for the trip"])
    plain = fit(base, encoder.embed(BANTER), labels, base_version="b")
    centered = fit(base, encoder.embed(BANTER), labels, base_version="b",
                   center=typical.mean(axis=0))
    spam = J["spam"]
    assert (np.abs(centered.shift(typical)[:, spam]).mean()
            < np.abs(plain.shift(typical)[:, spam]).mean())


def test_shapes_that_do_not_match_are_refused():
    with pytest.raises(ValueError, match="expected logits and labels"):
        fit(np.zeros((3, N)), np.zeros((2, DIMENSIONS)), np.zeros((2, N)), base_version="b")


def test_fitting_and_applying_an_adjustment_never_imports_scikit_learn():
    code = ("import sys, numpy as np\n"
            "from classifiers.adjustment import fit\n"
            "a = fit(np.zeros((3, 11)), np.eye(3, 384), np.eye(3, 11), base_version='b')\n"
            "a.shift(np.eye(2, 384))\n"
            "print('sklearn' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
