"""The daemon refuses to start without its model file or its sentence encoder, unless the config
says `allow_degraded`; then it says so at start, in check-config and to IT."""

import dataclasses
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sqlalchemy import func, select

import classifiers.encoder as encoder_module
import classifiers.model_file as model_file_module
from monitor import models
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import COMMENTS, write_config, write_replay

TEXTS = [text for text, _ in COMMENTS]
ALLOW_DEGRADED = "\n[classifier]\nallow_degraded = true\n"


@pytest.fixture
def model_file_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(model_file_module, "MODEL_PATH", tmp_path / "nowhere" / "triage.skops")
    monkeypatch.setattr(model_file_module, "_shipped", None)


@pytest.fixture
def encoder_damaged(monkeypatch, tmp_path):
    model = model_file_module.load_shipped_model()
    if not model.uses_encoder:
        # A model trained before the semantic stage never asks for the encoder: give it an
        # embedding block of zeros, so that loading the encoder is all that is at stake.
        width = encoder_module.DIMENSIONS
        model = dataclasses.replace(
            model, encoder=encoder_module.ENCODER_NAME, embedding_scale=1.0,
            embedding_weights=np.zeros((len(model.categories), width), dtype=np.float32),
            embedding_mean=np.zeros(width, dtype=np.float32))
        monkeypatch.setattr(model_file_module, "_shipped", model)
    damaged = tmp_path / "model.onnx"
    damaged.write_bytes(b"not the encoder")
    monkeypatch.setattr(encoder_module, "model_file", lambda: damaged)
    monkeypatch.setattr(encoder_module, "_shared", {})


@pytest.fixture
def school(tmp_path):
    write_replay(tmp_path / "fb", TEXTS)
    return write_config(tmp_path, {"digital_champion": ["console://"], "dsl": ["console://"],
                                   "it": ["console://"]})


def run_cli(args, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def stored(path, model) -> int:
    _, sessions = open_database(load(path))
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def it_notices(path) -> list[models.Alert]:
    _, sessions = open_database(load(path))
    with sessions() as session:
        notices = list(session.scalars(select(models.Alert)
                                       .where(models.Alert.kind == "classifier_degraded")))
        for notice in notices:
            _ = notice.deliveries
        return notices


# --- refusing to start ------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["run"], ["poll", "--once"]])
def test_it_refuses_to_start_without_the_model_file_in_one_line(school, model_file_missing,
                                                                 capsys, command):
    code, out, err = run_cli([*command, "--config", str(school)], capsys)
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith("hallmonitor: cannot start: the shipped model file ")
    assert "is missing" in line
    assert "set allow_degraded = true in [classifier]" in line
    assert "Traceback" not in err and out == ""
    assert stored(school, models.Item) == 0  # nothing was polled


@pytest.mark.parametrize("command", [["run"], ["poll", "--once"]])
def test_it_refuses_to_start_with_a_damaged_encoder_in_one_line(school, encoder_damaged, capsys,
                                                                command):
    code, out, err = run_cli([*command, "--config", str(school)], capsys)
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith("hallmonitor: cannot start: the encoder model file ")
    assert "is not the expected file" in line and "allow_degraded = true" in line
    assert stored(school, models.Item) == 0


def test_the_daemon_itself_refuses_before_polling(school, model_file_missing):
    from monitor.daemon import CannotStart

    config = load(school)
    _, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    with pytest.raises(CannotStart, match="model file"):
        daemon.start()
    assert daemon.scheduler is None
    with pytest.raises(CannotStart):
        daemon.poll_once()
    assert stored(school, models.Source) == 0


def test_check_config_reports_a_classifier_that_cannot_load_as_a_problem(school,
                                                                        model_file_missing,
                                                                        capsys):
    code, out, err = run_cli(["check-config", str(school)], capsys)
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith("hallmonitor: config error: classifier: the shipped model file ")
    assert "allow_degraded = true" in line
    assert "Config OK" not in out


REFUSED = textwrap.dedent("""
    import sys
    from pathlib import Path
    import classifiers.model_file
    classifiers.model_file.MODEL_PATH = Path(sys.argv[2]) / "no-such-model.skops"
    from monitor.cli import main
    main(["run", "--config", sys.argv[1]])
""")


def test_the_real_command_refuses_with_one_line_and_no_traceback(school, tmp_path):
    done = subprocess.run([sys.executable, "-c", REFUSED, str(school), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [line for line in done.stderr.splitlines()
                                        if line.startswith("hallmonitor: cannot start: ")]
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


# --- running degraded, when allowed ---------------------------------------------------------

def test_a_healthy_start_tells_it_nothing(school, capsys):
    main(["poll", "--once", "--config", str(school)])
    assert it_notices(school) == []
    _, sessions = open_database(load(school))
    with sessions() as session:
        versions = set(session.scalars(select(models.Verdict.model_version)))
    assert versions and not any(v.endswith("+degraded") for v in versions)


def test_allowed_degraded_it_polls_on_what_it_has_warns_and_tells_it_once(
        school, model_file_missing, capsys, caplog):
    school.write_text(school.read_text() + ALLOW_DEGRADED)
    with caplog.at_level(logging.WARNING, logger="monitor.daemon"):
        main(["poll", "--once", "--config", str(school)])
        main(["poll", "--once", "--config", str(school)])  # a second start the same day
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("degraded" in w and "is missing" in w and "threat detection is weaker" in w
               for w in warnings)
    [notice] = it_notices(school)
    assert "Threat detection is running degraded" in notice.title
    assert "is missing" in notice.body and "allow_degraded = true" in notice.body
    assert [d.roles for d in notice.deliveries] == [["it"]]
    _, sessions = open_database(load(school))
    with sessions() as session:
        versions = set(session.scalars(select(models.Verdict.model_version)))
    assert versions and all(v.endswith("+degraded") for v in versions)


def test_allowed_degraded_the_daemon_tells_it_once_however_often_it_polls(school,
                                                                         encoder_damaged):
    school.write_text(school.read_text() + ALLOW_DEGRADED)
    config = load(school)
    _, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    for _ in range(3):
        daemon.poll_once()
    [notice] = it_notices(school)
    assert "encoder" in notice.body


def test_allowed_degraded_check_config_warns_and_exits_0(school, model_file_missing, capsys):
    school.write_text(school.read_text() + ALLOW_DEGRADED)
    main(["check-config", str(school)])
    out = capsys.readouterr().out
    assert "Config OK" in out
    [warning] = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: the classifier runs degraded")
    assert "is missing" in warning and "threat detection is weaker" in warning


def test_allow_degraded_is_off_unless_the_config_says_so(school):
    assert load(school).settings.classifier.allow_degraded is False
    school.write_text(school.read_text() + ALLOW_DEGRADED)
    assert load(school).settings.classifier.allow_degraded is True
