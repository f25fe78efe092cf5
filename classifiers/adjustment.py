"""A school's adjustment to the shipped model, learned from its staff's corrections.

The adjustment is a small linear head on the sentence embedding whose output is added to the
shipped model's logits: `shift = embedding @ weights.T + bias`, one column per category. It is
fitted per category by logistic regression with the shipped model's logit as a fixed offset, and
an L2 penalty pulls it towards zero: with a handful of corrections it moves the texts that are
like them and barely touches the rest.

The shift is bounded. No category moves by more than SHIFT_LIMIT in logit, and the urgent ones
(threat, safeguarding) can be softened by at most URGENT_SOFTEN_LIMIT: a school's corrections may
quieten a phrase that keeps waking its DSL, never silence a category (and a strong rule hit flags
whatever the model says).

An adjustment belongs to the model it was learned on (`base_version`); the classifier ignores it
on any other. Plain numpy: nothing here imports scikit-learn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from classifiers.base import CATEGORIES

FORMAT = 1
# The largest change to any category's logit, up or down.
SHIFT_LIMIT = 2.0
# How far down the urgent categories may be moved.
URGENT_SOFTEN_LIMIT = 1.0
URGENT = ("threat", "safeguarding")
# The default L2 penalty on the weights (embeddings are unit vectors): one correction alone
# moves its own text's logit by well under one, a consistent handful of like ones by about two.
DEFAULT_L2 = 1.0
# The bias moves every text alike, so it is held far closer to zero than the weights.
BIAS_PENALTY = 20.0

_LOWER = np.array([-URGENT_SOFTEN_LIMIT if c in URGENT else -SHIFT_LIMIT for c in CATEGORIES],
                  dtype=np.float32)
_UPPER = np.full(len(CATEGORIES), SHIFT_LIMIT, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Adjustment:
    """Logit shifts for one school: rows of `weights` and entries of `bias` follow
    `classifiers.base.CATEGORIES`; `version` is a short id of the weights."""

    base_version: str
    version: str
    weights: np.ndarray  # (n_categories, dimensions)
    bias: np.ndarray  # (n_categories,)

    def __post_init__(self) -> None:
        if self.weights.ndim != 2 or self.weights.shape[0] != len(CATEGORIES):
            raise ValueError(f"weights are {self.weights.shape}, expected "
                             f"({len(CATEGORIES)}, dimensions)")
        if self.bias.shape != (len(CATEGORIES),):
            raise ValueError(f"bias is {self.bias.shape}, expected ({len(CATEGORIES)},)")
        if not (np.isfinite(self.weights).all() and np.isfinite(self.bias).all()):
            raise ValueError("an adjustment's weights must be finite")

    @classmethod
    def build(cls, base_version: str, weights: np.ndarray, bias: np.ndarray) -> Adjustment:
        """An adjustment with its version worked out from its weights."""
        weights = np.ascontiguousarray(weights, dtype=np.float32)
        bias = np.ascontiguousarray(bias, dtype=np.float32)
        return cls(base_version, weight_version(base_version, weights, bias), weights, bias)

    def shift(self, embeddings: np.ndarray) -> np.ndarray:
        """(n_texts, n_categories) logit shifts for the texts' sentence embeddings, bounded."""
        raw = np.asarray(embeddings, dtype=np.float32) @ self.weights.T + self.bias
        return np.clip(raw, _LOWER, _UPPER)

    def as_payload(self) -> dict:
        """Plain JSON values: what the school's database stores."""
        return {"format": FORMAT, "base_version": self.base_version, "version": self.version,
                "categories": list(CATEGORIES), "weights": self.weights.tolist(),
                "bias": self.bias.tolist()}

    @classmethod
    def from_payload(cls, payload: Mapping) -> Adjustment:
        if payload.get("format") != FORMAT:
            raise ValueError(f"adjustment format {payload.get('format')!r} is not {FORMAT}")
        if tuple(payload.get("categories", ())) != CATEGORIES:
            raise ValueError("the adjustment was learned for other categories")
        return cls(str(payload["base_version"]), str(payload["version"]),
                   np.asarray(payload["weights"], dtype=np.float32),
                   np.asarray(payload["bias"], dtype=np.float32))


def weight_version(base_version: str, weights: np.ndarray, bias: np.ndarray) -> str:
    digest = hashlib.sha256(base_version.encode())
    digest.update(np.ascontiguousarray(weights, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(bias, dtype=np.float32).tobytes())
    return digest.hexdigest()[:8]


def fit(base_logits: np.ndarray, embeddings: np.ndarray, labels: np.ndarray, *,
        base_version: str, l2: float = DEFAULT_L2, center: np.ndarray | None = None
        ) -> Adjustment:
    """Learn an adjustment from corrected texts.

    `base_logits` are the shipped model's logits for the texts (n_texts, n_categories),
    `embeddings` their sentence embeddings (n_texts, dimensions), `labels` what staff said they
    are (n_texts, n_categories; 1 = belongs). `center`, when given, is a typical embedding (the
    model's training mean): weights then act on how a text differs from typical text, so texts
    unlike the corrections are moved even less.
    """
    base_logits = np.asarray(base_logits, dtype=np.float64)
    x = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    n, dimensions = x.shape
    if base_logits.shape != (n, len(CATEGORIES)) or y.shape != (n, len(CATEGORIES)):
        raise ValueError(f"expected logits and labels of shape {(n, len(CATEGORIES))}, got "
                         f"{base_logits.shape} and {y.shape}")
    if l2 <= 0:
        raise ValueError("l2 must be positive")
    if center is not None:
        x = x - np.asarray(center, dtype=np.float64)
    # The bias is scaled into one more column so that one L2 penalty covers both: raw shifts
    # are x_aug @ theta with theta = (w, b * sqrt(P)).
    x_aug = np.hstack([x, np.full((n, 1), 1.0 / np.sqrt(BIAS_PENALTY))])
    weights = np.zeros((len(CATEGORIES), dimensions))
    bias = np.zeros(len(CATEGORIES))
    for j in range(len(CATEGORIES)):
        theta = _newton(x_aug, base_logits[:, j], y[:, j], float(_LOWER[j]), l2)
        weights[j], bias[j] = theta[:-1], theta[-1] / np.sqrt(BIAS_PENALTY)
    if center is not None:
        bias -= weights @ np.asarray(center, dtype=np.float64)
    return Adjustment.build(base_version, weights, bias)


def _newton(x: np.ndarray, offset: np.ndarray, target: np.ndarray, lower: float, l2: float,
            steps: int = 50) -> np.ndarray:
    """theta minimising sum(log-loss(offset + clip(x @ theta), target)) + l2/2 |theta|^2, by
    Newton's method with conjugate gradients.

    The shift is fitted as it is applied, bounded: a text already moved as far as it may be
    pulls no further, so the weights stay small and local. Only matrix-vector products are used:
    a dense solver's threads can take a hundred times longer than the arithmetic on a busy
    machine."""

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        raw = x @ theta
        z = offset + np.clip(raw, lower, SHIFT_LIMIT)
        # log(1 + e^z) - y z, computed stably.
        value = np.logaddexp(0.0, z).sum() - target @ z + 0.5 * l2 * (theta @ theta)
        return float(value), raw, z

    theta = np.zeros(x.shape[1])
    value, raw, z = objective(theta)
    for _ in range(steps):
        inside = (raw > lower) & (raw < SHIFT_LIMIT)
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        gradient = x.T @ ((p - target) * inside) + l2 * theta
        if np.abs(gradient).max() < 1e-8:
            break
        curvature = p * (1.0 - p) * inside
        step = _conjugate_gradient(lambda v, c=curvature: x.T @ (c * (x @ v)) + l2 * v,
                                   -gradient)
        scale = 1.0
        candidate = objective(theta + step)
        while candidate[0] >= value and scale > 1e-4:
            scale /= 2
            candidate = objective(theta + scale * step)
        if candidate[0] >= value:
            break
        gained = value - candidate[0]
        theta = theta + scale * step
        value, raw, z = candidate
        if gained <= 1e-10 * max(1.0, abs(value)):
            break
    return theta


def _conjugate_gradient(product, b: np.ndarray, tolerance: float = 1e-10) -> np.ndarray:
    """x with product(x) = b, for a symmetric positive definite product."""
    solution = np.zeros_like(b)
    residual = b.copy()
    direction = residual.copy()
    norm = residual @ residual
    for _ in range(len(b)):
        if norm <= tolerance * tolerance:
            break
        moved = product(direction)
        length = norm / (direction @ moved)
        solution += length * direction
        residual -= length * moved
        new_norm = residual @ residual
        direction = residual + (new_norm / norm) * direction
        norm = new_norm
    return solution
