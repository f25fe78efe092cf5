"""Shared fixtures for the classifier tests: a tiny trained model, the fixture paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.datasets import shared_data_dir

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = shared_data_dir()

# Tests that read ../shared: marked, and skipped with the reason when it is not there.
def needs_shared(test):
    skip = pytest.mark.skipif(
        not SHARED_DATA.is_dir(),
        reason=f"{SHARED_DATA} is absent (the public labelled sets live outside the repository; "
               f"set HALLMONITOR_SHARED_DIR to point at them)")
    return pytest.mark.shared(skip(test))


def train_tiny(out: Path, *, seed: int = 0, data_dir: Path | None = None,
               school_dir: Path | None = None) -> tuple[dict, list[str]]:
    from classifiers.training import train

    lines: list[str] = []
    sidecar = train(data_dir if data_dir is not None else FIXTURES / "public", out, seed=seed,
                    log=lines.append,
                    school_dir=school_dir if school_dir is not None else FIXTURES / "school")
    return sidecar, lines


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> tuple[Path, dict, list[str]]:
    """A model trained on the small fixture sets: the training code path, in seconds."""
    path = tmp_path_factory.mktemp("tiny") / "triage.skops"
    sidecar, lines = train_tiny(path)
    return path, sidecar, lines
