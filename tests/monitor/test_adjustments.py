"""A school's corrections teach its own classifier and no other school's."""

from __future__ import annotations

import dataclasses
import math
import textwrap

import numpy as np
import pytest
from sqlalchemy import select

from classifiers import load_classifier, model_file
from classifiers.adjustment import Adjustment
from classifiers.encoder import DIMENSIONS, ENCODER_NAME
from monitor import models
from monitor.adjustments import MIN_CORRECTIONS
from monitor.classify import options_for
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from monitor.feedback import correct
from tests.builders import PAGE_ID, write_replay

pytestmark = pytest.mark.usefixtures("database")

# Oakfield's office wants lost property answered: staff mark these posts as questions.
LOST_PROPERTY = [
    "Lost: blue water bottle with a name on it, left by the front gate",
    "Found a child's grey school jumper on the field after pick up",
    "Lost a Year 4 reading folder somewhere between the gate and the bus stop",
    "Left a black coat on the playground on Tuesday, name label inside",
    "Lost property: pink lunchbox left in the hall after the concert",
    "My son lost his PE bag near the car park, it's navy with a white stripe",
    "Found: a set of keys on a football keyring by the school office",
    "Lost a small silver bracelet at sports day, sentimental value",
    "Lost a green book bag near the reception classroom",
    "Found a purple scarf on the fence by the junior gate",
]
OTHERS = ["Lovely assembly this morning, well done everyone",
          "Great to see so many families at the summer fair"]
LATER = ["Lost a red PE bag by the infant gate yesterday, it has a name tag",
         "Lovely nativity this afternoon, thank you all"]


@pytest.fixture
def semantic_model(monkeypatch):
    """The shipped model with its semantic stage, which adjustments act through. A model from
    before the semantic stage is given one of zero weight: its scores stay exactly as they are,
    and the encoder runs so an adjustment has embeddings to work on."""
    shipped = model_file.load_shipped_model()
    if not shipped.uses_encoder:
        categories = len(shipped.categories)
        with_stage = dataclasses.replace(
            shipped, encoder=ENCODER_NAME, embedding_scale=0.0,
            embedding_weights=np.zeros((categories, DIMENSIONS), dtype=np.float32),
            embedding_mean=np.zeros(DIMENSIONS, dtype=np.float32))
        monkeypatch.setattr(model_file, "load_shipped_model", lambda: with_stage)
    return shipped


def write_two_schools(directory):
    write_replay(directory / "oak", LOST_PROPERTY + OTHERS, post=1)
    write_replay(directory / "elm", LOST_PROPERTY + OTHERS, post=2)
    schools = "\n".join(textwrap.dedent(f"""\
        [[schools]]
        id = "{school_id}"
        name = "{name}"

        [[schools.accounts]]
        platform = "replay"
        account = "{PAGE_ID}"
        kinds = ["comments"]
        settings = {{ path = "{folder}", as_platform = "facebook" }}

        [[schools.recipients]]
        role = "digital_champion"
        urls = ["console://"]
        """) for school_id, name, folder in (("oakfield", "Oakfield Primary", "oak"),
                                             ("elmwood", "Elmwood Academy", "elm")))
    path = directory / "config.toml"
    path.write_text('[daemon]\ndata_dir = "data"\n\n' + schools, encoding="utf-8")
    return path


def items_of(sessions, school_id, texts):
    with sessions() as session:
        rows = session.scalars(select(models.Item).where(models.Item.school_id == school_id,
                                                         models.Item.text.in_(texts)))
        return sorted(rows, key=lambda item: item.id)


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def test_one_schools_corrections_change_its_verdicts_and_no_other_schools(
        semantic_model, tmp_path, capsys):
    path = write_two_schools(tmp_path)
    config = load(path)
    _, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    daemon.poll_once()
    for item in items_of(sessions, "oakfield", LOST_PROPERTY):
        correct(sessions, item.id, categories=["question"], by="office")
    # Elmwood has a couple of corrections: too few to learn from.
    for item in items_of(sessions, "elmwood", LOST_PROPERTY)[:2]:
        correct(sessions, item.id, not_a_problem=True, by="head")
    files_before = {p for p in tmp_path.rglob("*") if "hallmonitor.sqlite3" not in p.name}

    main(["model", "train", "--feedback", "--config", str(path)])
    out = capsys.readouterr().out
    with sessions() as session:
        stored = {row.school_id: row for row in session.scalars(select(models.SchoolAdjustment))}
    assert set(stored) == {"oakfield"}
    oak = stored["oakfield"]
    assert oak.corrections == len(LOST_PROPERTY) and oak.base_version == semantic_model.version
    assert Adjustment.from_payload(oak.payload).version == oak.version
    assert f"oakfield (Oakfield Primary): adjustment {oak.version} learned from 10 corrections" \
        in out
    assert "held out in 5-fold cross-validation" in out
    assert oak.figures["held_out"] == len(LOST_PROPERTY)
    assert f"elmwood (Elmwood Academy): skipped (2 corrections, fewer than the " \
           f"{MIN_CORRECTIONS} needed)" in out
    # Corrections and what they taught stay in the database.
    assert {p for p in tmp_path.rglob("*") if "hallmonitor.sqlite3" not in p.name} == \
        files_before

    # New comments at both schools, classified by the daemon that was already running.
    write_replay(tmp_path / "oak", LATER, post=1, first_id=100)
    write_replay(tmp_path / "elm", LATER, post=2, first_id=100)
    daemon.poll_once()

    for school in config.schools:
        unadjusted = load_classifier(options_for(config, school))
        expected = dict(zip(LATER, unadjusted.predict(LATER), strict=True))
        with sessions() as session:
            verdicts = {item.text: item.verdict for item in session.scalars(
                select(models.Item).where(models.Item.school_id == school.id,
                                          models.Item.text.in_(LATER)))}
        assert set(verdicts) == set(LATER)
        if school.id == "elmwood":
            for text, verdict in verdicts.items():
                assert verdict.model_version == unadjusted.version
                assert verdict.scores == dict(expected[text].scores)
                assert verdict.categories == list(expected[text].categories)
            continue
        lost, other = verdicts[LATER[0]], verdicts[LATER[1]]
        assert lost.model_version == f"{unadjusted.version}+school-{oak.version}"
        moved = (logit(lost.scores["question"])
                 - logit(expected[LATER[0]].scores["question"]))
        unrelated = (logit(other.scores["question"])
                     - logit(expected[LATER[1]].scores["question"]))
        assert moved > 0.5
        assert abs(unrelated) < moved / 2


def test_training_adjustments_for_a_school_not_in_the_config_is_refused(tmp_path, capsys):
    path = write_two_schools(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["model", "train", "--feedback", "--school", "nowhere", "--config", str(path)])
    assert info.value.code == 2
    assert "no school with id 'nowhere' in the config (schools: oakfield, elmwood)" in (
        capsys.readouterr().err)


def test_training_adjustments_takes_no_public_data_options(tmp_path, capsys):
    path = write_two_schools(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["model", "train", "--feedback", "--data-dir", str(tmp_path), "--config",
              str(path)])
    assert info.value.code == 2
    assert "--feedback learns school adjustments only" in capsys.readouterr().err
