"""The model file's checks: a changed, foreign or unsafe file is refused with a clear error."""

from __future__ import annotations

import json
import shutil

import pytest
import skops.io as sio

from classifiers.model_file import (
    ModelError,
    load_model,
    model_info,
    sha256_file,
    sidecar_path,
)


class Payload:
    """Stands in for a type nobody put on the trusted list."""

    def __init__(self) -> None:
        self.format = 1


@pytest.fixture
def model_copy(tmp_path, tiny_model):
    path = tmp_path / "triage.skops"
    shutil.copy(tiny_model[0], path)
    shutil.copy(sidecar_path(tiny_model[0]), sidecar_path(path))
    return path


def rewrite_sidecar(path, **changes):
    side = sidecar_path(path)
    sidecar = json.loads(side.read_text())
    sidecar.update(changes)
    side.write_text(json.dumps(sidecar))


def test_an_untouched_copy_loads(model_copy):
    assert load_model(model_copy).version


def test_a_changed_byte_fails_the_hash_check(model_copy):
    data = bytearray(model_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match"):
        load_model(model_copy)


def test_a_model_without_its_sidecar_is_refused(model_copy):
    sidecar_path(model_copy).unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model(model_copy)


def test_a_broken_sidecar_is_refused(model_copy):
    sidecar_path(model_copy).write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_model(model_copy)


def test_a_model_from_another_major_sklearn_version_is_refused(model_copy):
    rewrite_sidecar(model_copy, sklearn_version="0.24.2")
    with pytest.raises(ModelError, match="scikit-learn 0.24.2"):
        load_model(model_copy)


def test_a_file_with_untrusted_types_is_refused_before_anything_is_built(tmp_path):
    path = tmp_path / "evil.skops"
    sio.dump({"format": 1, "payload": Payload()}, path)
    sidecar_path(path).write_text(json.dumps({
        "version": "x", "model_sha256": sha256_file(path),
        "sklearn_version": __import__("sklearn").__version__}))
    with pytest.raises(ModelError, match="outside the trusted list"):
        load_model(path)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    path = tmp_path / "junk.skops"
    path.write_bytes(b"PK\x03\x04 definitely not a zip")
    sidecar_path(path).write_text(json.dumps({
        "version": "x", "model_sha256": sha256_file(path),
        "sklearn_version": __import__("sklearn").__version__}))
    with pytest.raises(ModelError, match="not a readable model file"):
        load_model(path)


def test_info_reports_a_failed_check_instead_of_raising(model_copy):
    model_copy.write_bytes(model_copy.read_bytes() + b"\0")
    info = model_info(model_copy)
    assert info["checks"].startswith("failed")
    assert info["file_size_bytes"] > 0


def test_info_says_when_no_model_is_shipped(tmp_path):
    info = model_info(tmp_path / "triage.skops")
    assert info["present"] is False


def test_the_file_reads_the_same_without_skops(model_copy):
    import numpy as np

    from classifiers.model_file import read_payload

    ours = read_payload(model_copy)
    theirs = sio.load(model_copy, trusted=[])
    assert sio.get_untrusted_types(file=model_copy) == []

    def same(a, b) -> bool:
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k])
                                                                         for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
        if isinstance(a, np.ndarray):
            return a.dtype == b.dtype and np.array_equal(a, b)
        return type(a) is type(b) and a == b

    assert same(ours, theirs)


def test_a_payload_with_an_object_array_is_refused(tmp_path):
    import numpy as np

    path = tmp_path / "objects.skops"
    sio.dump({"format": 2, "idf": np.array([object()], dtype=object)}, path)
    sidecar_path(path).write_text(json.dumps({
        "version": "x", "model_sha256": sha256_file(path),
        "sklearn_version": __import__("sklearn").__version__}))
    with pytest.raises(ModelError):
        load_model(path)


def test_classifying_imports_neither_scikit_learn_nor_skops():
    import subprocess
    import sys

    code = ("import sys; from classifiers import load_classifier; "
            "v = load_classifier().predict(['you absolute idiot', 'lovely day']); "
            "assert v[0].categories; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'skops')))")
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=root)
    assert result.stdout.strip() == "[]"
