"""A full run with a school's pupil-name list: nothing of the list is left in clear in the
database or the logs, and a comment naming a pupil is still flagged."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import models
from monitor.config import Config, load
from monitor.daemon import Daemon, open_database
from monitor.digest import content
from monitor.digest.build import build_digest
from monitor.name_lists import PUPIL, saved_list
from tests.builders import COMMENTS, START, write_config, write_replay

KEY_ENV = "HM_TEST_PUPIL_NAME_KEY"
NAMED = "Amelia Hart-Jones"
COMMENT = f"Is {NAMED} in 5C ok?"
# Words that appear nowhere else: neither in the comments, nor in hex digests (letters past f).
OTHERS = ["Oluwaseun Abernathy", "Xanthe Pemberton-Quayle", "Ignatius Fairweather",
          "Persephone Okonkwo", "Thaddeus Wolstenholme", "Marisol Quintanilla",
          "Evander Blackwood-Rhys", "Ottoline Featherstone", "Cosimo Ravensworth",
          "Zephyrine Holloway", "Leopold Achterberg", "Saoirse Donnachie", "Barnaby Wetherall",
          "Ionela Popescu", "Tobiah Kettleborough", "Wilhelmina Strachan", "Ptolemy Ashdown",
          "Rosalind Yelverton", "Casimir Throssell"]


def forbidden() -> set[str]:
    """Every way the 19 other pupils' names could be written down: whole, with or without
    hyphens and spaces, and each part on its own."""
    found: set[str] = set()
    for name in OTHERS:
        lower = name.lower()
        found |= {lower, lower.replace("-", " "), lower.replace("-", ""),
                  lower.replace(" ", "").replace("-", "")}
        found |= set(lower.replace("-", " ").split())
    return found


def pupil_csv(directory: Path) -> Path:
    path = directory / "pupils.csv"
    rows = [name.rsplit(" ", 1) for name in [*OTHERS[:10], NAMED, *OTHERS[10:]]]
    path.write_text("Forename,Surname,Year\n" + "".join(f"{first},{last},5\n"
                                                       for first, last in rows),
                    encoding="utf-8")
    return path


def setup(tmp_path: Path, monkeypatch, key: str = "first-key-0123456789abcdef") -> Config:
    monkeypatch.setenv(KEY_ENV, key)
    pupils = pupil_csv(tmp_path)
    write_replay(tmp_path / "fb", [*(text for text, _ in COMMENTS), COMMENT])
    return load(write_config(tmp_path, daemon=f'name_key = "env:{KEY_ENV}"',
                             extra_school=f'pupil_names = "{pupils}"'))


def dump_tables(sessions) -> str:
    """Every column of every row of every table, as text (JSON columns included)."""
    out: list[str] = []
    with sessions() as session:
        for table in models.Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                out += [json.dumps(value, default=str, ensure_ascii=False)
                        if isinstance(value, dict | list) else str(value)
                        for value in row]
    return "\n".join(out)


def verdict_of(sessions, text: str) -> models.Verdict:
    with sessions() as session:
        return session.scalar(select(models.Verdict).join(models.Item)
                              .where(models.Item.text == text))


def test_a_full_run_keeps_no_pupil_name_in_clear_and_still_flags_a_named_pupil(
        tmp_path, monkeypatch, caplog, database):
    caplog.set_level(logging.DEBUG)
    config = setup(tmp_path, monkeypatch)
    engine, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    try:
        results = daemon.poll_once()
        assert results and all(r.error is None for r in results)
        daemon.deliver_once()
        with sessions() as session:
            year, week, _ = START.isocalendar()  # the week the comments were written in
            build_digest(session, config, "head", "oakfield", f"{year}-W{week:02d}",
                         now=datetime.now(UTC))
            # The digest's phrases leave out the words of a listed name that comments said.
            said = content._pupil_names(session, config, config.schools[0],
                                        START - timedelta(days=1), datetime.now(UTC))
        assert sorted(said) == ["amelia", "hart", "jones"]
        verdict = verdict_of(sessions, COMMENT)
        assert "personal_data" in verdict.categories
        assert "pupil name + class" in verdict.reasons["personal_data"]
        with sessions() as session:
            stored = saved_list(session, "oakfield", PUPIL)
        assert stored is not None and stored.people == 20 and len(stored.sets["digests"]) == 20

        tables = dump_tables(sessions).lower()
    finally:
        engine.dispose()
    logs = "\n".join(record.getMessage() for record in caplog.records).lower()
    assert "pupil-name list hashed and stored" in logs
    places = {"the database": tables, "the logs": logs}
    if database == "sqlite":
        files = sorted((tmp_path / "data").glob("hallmonitor.sqlite3*"))
        assert files
        places["the database file"] = b"".join(f.read_bytes() for f in files).decode(
            "utf-8", "replace").lower()
    for where, text in places.items():
        for word in sorted(forbidden()):
            assert word not in text, f"a listed pupil's name is in {where}"
        # The named pupil appears only where the comment itself is kept (its text, the raw
        # payload, an alert's copy), never on its own as the list would put it.
        if where != "the logs":
            assert COMMENT.lower() in text
        assert text.count("amelia") == text.count(COMMENT.lower()), where
        assert text.count("hart") == text.count(COMMENT.lower()), where


def test_a_changed_key_hashes_the_list_again_and_says_so(tmp_path, monkeypatch, caplog):
    config = setup(tmp_path, monkeypatch)
    engine, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        first = saved_list(session, "oakfield", PUPIL)
    engine.dispose()

    rekeyed = setup(tmp_path, monkeypatch, key="second-key-fedcba9876543210")
    (tmp_path / "fb" / "002.json").unlink()  # leave something new to classify
    write_replay(tmp_path / "fb", [COMMENT.replace("5C", "5D")], first_id=50)
    engine, sessions = open_database(rekeyed)
    with caplog.at_level(logging.INFO, logger="monitor"):
        Daemon(rekeyed, sessions).poll_once()
    with sessions() as session:
        second = saved_list(session, "oakfield", PUPIL)
    engine.dispose()
    assert second.fingerprint != first.fingerprint
    assert not (second.sets["digests"] & first.sets["digests"])
    warned = [r for r in caplog.records if r.levelno == logging.WARNING
              and "hashed with another key" in r.getMessage()]
    assert warned
    assert "personal_data" in verdict_of(sessions, COMMENT.replace("5C", "5D")).categories


def test_a_list_under_another_key_that_cannot_be_hashed_again_is_an_error_not_silence(
        tmp_path, monkeypatch, caplog):
    config = setup(tmp_path, monkeypatch)
    engine, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    engine.dispose()

    rekeyed = setup(tmp_path, monkeypatch, key="second-key-fedcba9876543210")
    (tmp_path / "pupils.csv").unlink()  # gone after the config was checked
    write_replay(tmp_path / "fb", ["Amelia Hart-Jones is lovely"], first_id=60)
    engine, sessions = open_database(rekeyed)
    with caplog.at_level(logging.INFO, logger="monitor"):
        results = Daemon(rekeyed, sessions).poll_once()
    engine.dispose()
    assert all(r.error is None for r in results)  # the school is still classified
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("pupil names are not being matched" in e and "hashed with another key" in e
               for e in errors)
    assert not any("amelia" in e.lower() for e in errors)


@pytest.mark.parametrize(("daemon", "expected"), [
    ("", "schools[0].pupil_names: needs [daemon] name_key"),
    ('name_key = "a-key-written-inline"', "daemon.name_key: write a reference"),
    ('name_key = "env:HM_NOT_SET_ANYWHERE"', "daemon.name_key: missing secret"),
])
def test_a_pupil_list_needs_a_key_given_by_reference(tmp_path, monkeypatch, daemon, expected):
    from monitor.errors import ConfigError

    monkeypatch.delenv("HM_NOT_SET_ANYWHERE", raising=False)
    pupils = pupil_csv(tmp_path)
    with pytest.raises(ConfigError) as info:
        load(write_config(tmp_path, daemon=daemon, extra_school=f'pupil_names = "{pupils}"'))
    assert expected in str(info.value)
    assert "a-key-written-inline" not in str(info.value)


def test_a_list_no_longer_in_the_config_is_removed_from_the_database(tmp_path, monkeypatch):
    config = setup(tmp_path, monkeypatch)
    engine, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    engine.dispose()
    with_list = (tmp_path / "config.toml").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        "\n".join(line for line in with_list.splitlines() if "pupil_names" not in line),
        encoding="utf-8")
    unlisted = load(tmp_path / "config.toml")
    write_replay(tmp_path / "fb", ["Is Amelia Hart-Jones ok?"], first_id=70)
    engine, sessions = open_database(unlisted)
    Daemon(unlisted, sessions).poll_once()
    with sessions() as session:
        assert saved_list(session, "oakfield", PUPIL) is None
    engine.dispose()
    assert "personal_data" not in verdict_of(sessions, "Is Amelia Hart-Jones ok?").categories
