"""The shipped model file: where it lives, and the checks it must pass before it is used."""

from __future__ import annotations

from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_PATH = MODEL_DIR / "triage.skops"
SIDECAR_PATH = MODEL_DIR / "triage.json"


class ModelError(Exception):
    """A model file is missing a part, fails its checks, or was made by an incompatible version."""


def load_shipped_model():
    """The model shipped in the package, or None before one has been trained."""
    if not MODEL_PATH.exists():
        return None
    raise ModelError(f"{MODEL_PATH}: this version cannot read model files yet")
