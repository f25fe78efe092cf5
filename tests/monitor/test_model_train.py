"""`hallmonitor model train` never replaces the shipped model by accident."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from classifiers import model_file
from monitor.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "classifiers" / "fixtures"


def fingerprint(path: Path) -> tuple[str, str]:
    return (model_file.sha256_file(path), model_file.sidecar_path(path).read_text())


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A copy of the shipped model standing where training would replace it; the real one is
    checked to be untouched."""
    real = model_file.MODEL_PATH
    before = fingerprint(real)
    copy = tmp_path / "package" / real.name
    copy.parent.mkdir()
    shutil.copyfile(real, copy)
    shutil.copyfile(model_file.sidecar_path(real), model_file.sidecar_path(copy))
    monkeypatch.setattr(model_file, "MODEL_PATH", copy)
    yield copy
    assert fingerprint(real) == before


def run(capsys, *arguments) -> tuple[int, str, str]:
    try:
        main(["model", "train", *arguments])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("arguments", "message"), [
    (["--data-dir", "no-such-folder", "--replace"], "--data-dir no-such-folder: no such folder"),
    (["--data-dir", "no-such-folder", "--out", "m.skops"], "no such folder"),
    ([], "training does not overwrite the shipped model"),
    (["--out", "{package}"], "is the shipped model: use --replace to replace it"),
    (["--out", "m.skops", "--replace"], "give one of them"),
    (["--feedback", "--replace"], "--feedback learns school adjustments only"),
])
def test_training_that_could_lose_the_shipped_model_is_refused_with_exit_2(
        shipped, tmp_path, monkeypatch, capsys, arguments, message):
    monkeypatch.chdir(tmp_path)
    data = ["--data-dir", str(FIXTURES / "public")] if "--data-dir" not in arguments else []
    arguments = [a.replace("{package}", str(shipped.parent)) for a in arguments]
    before = fingerprint(shipped)
    code, out, err = run(capsys, *data, *arguments)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and out == ""
    assert fingerprint(shipped) == before
    assert not (tmp_path / "m.skops").exists()


def test_without_public_data_nothing_is_trained(shipped, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HALLMONITOR_SHARED_DIR", str(tmp_path / "absent"))
    code, _, err = run(capsys, "--out", str(tmp_path / "m.skops"))
    assert code == 2
    assert f"no public labelled data at {tmp_path / 'absent' / 'data'}" in err
    assert not (tmp_path / "m.skops").exists()


def test_replacing_prints_old_and_new_figures_side_by_side_then_replaces(shipped, capsys):
    old = json.loads(model_file.sidecar_path(shipped).read_text())
    code, out, _ = run(capsys, "--data-dir", str(FIXTURES / "public"),
                       "--school-dir", str(FIXTURES / "school"), "--replace")
    assert code == 0
    new = json.loads(model_file.sidecar_path(shipped).read_text())
    assert new["model_sha256"] == model_file.sha256_file(shipped) != old["model_sha256"]
    comparison = out[out.index("evaluation: the shipped model"):]
    assert comparison.splitlines()[0] == (f"evaluation: the shipped model {old['version']} "
                                          f"and the new model {new['version']}")
    # A set both models were measured on: the old figure, then the new one.
    old_school = old["evaluation"]["val/school"]["macro_f1"]
    new_school = new["evaluation"]["val/school"]["macro_f1"]
    row = next(line for line in comparison.splitlines()
               if line.split()[:2] == ["val/school", "macro-F1"])
    assert row.split()[2:] == [f"{old_school:.4f}", f"{new_school:.4f}"]
    # A set only the old model was measured on is shown with nothing beside it.
    only_old = next(s for s in old["evaluation"] if s not in new["evaluation"])
    assert any(line.split() == [only_old, "macro-F1",
                                f"{old['evaluation'][only_old]['macro_f1']:.4f}", "-"]
               for line in comparison.splitlines())
    assert comparison.rstrip().endswith(
        f"replaced the shipped model {old['version']} with {new['version']} at {shipped}")
    assert model_file.load_model(shipped).version == new["version"]
