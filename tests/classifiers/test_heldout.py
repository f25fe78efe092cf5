"""The independent held-out set: written by people who never saw the training data, so it is
never trained or tuned on, and its figures are reported beside the others."""

from __future__ import annotations

import json
from collections import Counter

from classifiers.base import CATEGORIES
from classifiers.datasets import HELDOUT, SCHOOL_DIR, SCHOOL_TRAIN, SCHOOL_VAL, read_labelled
from classifiers.model_file import read_sidecar
from classifiers.training import _find_files
from monitor.cli import main
from tests.classifiers.conftest import SHARED_DATA

HELDOUT_PATH = SCHOOL_DIR / HELDOUT


def _texts(name: str) -> set[str]:
    return {" ".join(e.text.lower().split()) for e in read_labelled(SCHOOL_DIR / name)}


def test_training_reads_the_heldout_file_only_to_report_on_it():
    files = _find_files(SHARED_DATA, SCHOOL_DIR, lambda _: None)
    for role in ("train", "val", "test"):
        assert HELDOUT_PATH not in files[role].values(), role
    assert files["heldout"] == {"independent": HELDOUT_PATH}


def test_the_heldout_file_shares_no_text_with_training_or_validation():
    heldout = _texts(HELDOUT)
    assert not heldout & _texts(SCHOOL_TRAIN)
    assert not heldout & _texts(SCHOOL_VAL)


def test_the_heldout_file_has_every_category_in_five_voices():
    rows = [json.loads(line) for line in HELDOUT_PATH.read_text(encoding="utf-8").splitlines()]
    assert len({row["voice"] for row in rows}) == 5
    counts = Counter(label for row in rows for label in row["labels"])
    assert set(counts) == set(CATEGORIES)
    assert counts["threat"] >= 80 and counts["safeguarding"] >= 80
    assert sum(not row["labels"] for row in rows) >= 50  # harmless, hard negatives among them


def test_the_shipped_model_records_its_heldout_figures_apart_from_its_training_data():
    sidecar = read_sidecar()
    assert "heldout/independent" in sidecar["evaluation"]
    assert sidecar["evaluation"]["heldout/independent"]["texts"] == len(read_labelled(HELDOUT_PATH))
    assert "heldout/independent" in sidecar["data_sha256"]


def test_model_evaluate_with_no_file_reports_validation_and_heldout_side_by_side(
        capsys, monkeypatch, tmp_path):
    # No public sets here: the school files alone keep this quick.
    monkeypatch.setenv("HALLMONITOR_SHARED_DIR", str(tmp_path))
    try:
        main(["model", "evaluate"])
    except SystemExit as stop:
        assert stop.code in (0, None)
    out = capsys.readouterr().out
    summary = out[out.rindex("file "):].splitlines()
    assert [line.split()[0] for line in summary[1:]] == ["school_val", "heldout"]
    assert "false alarms on harmless and praise comments" in out
