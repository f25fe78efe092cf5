"""Queueing the weekly digests: one per school, kind and week across restarts and racing
daemons (SQLite and PostgreSQL), `--again`, holiday weeks, the due window, and who gets which
digest. On the fixed database of tests/digest_builder.py, with the daemon's clock set."""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from monitor import models
from monitor.config import Config, load
from monitor.daemon import Daemon
from monitor.digest import build, send
from monitor.digest.send import DIGEST_KIND, Plan, dedupe_key, digests_due, enqueue_digest
from monitor.digest.weeks import SchoolWeek
from tests.builders import write_config
from tests.conftest import wait_for
from tests.digest_builder import NOW, SCHOOL, Built, build_quiet, name_key
from tests.digest_builder import build as build_week

WEEK = "2026-W47"  # Monday 16 November 2026, the builder's week
HEAD = "json://127.0.0.1:9/head"
DSL = "json://127.0.0.1:9/dsl"
CHAMPION = "json://127.0.0.1:9/champion"
TRUST_CEO = "json://127.0.0.1:9/trust-ceo"
TRUST_DSL = "json://127.0.0.1:9/trust-dsl"
EVERYONE = {"digital_champion": [CHAMPION], "dsl": [DSL], "head": [HEAD]}
# Term ends the Friday before the builder's week: that week is a holiday.
HOLIDAY = "term_dates = [{ start = 2026-09-03, end = 2026-11-13 }]"
TRUST = f"""
[trust]
name = "Oak Learning Trust"

[[trust.recipients]]
name = "Chief executive"
urls = ["{TRUST_CEO}"]

[[trust.recipients]]
name = "Trust safeguarding lead"
urls = ["{TRUST_DSL}"]
"""


def configure(directory: Path, recipients: dict[str, list[str]], *, school: str = "",
              tail: str = "") -> Config:
    """Oakfield's config written again with these recipients (and any term dates, or a trust),
    over the database the builder filled."""
    pupils = directory / "pupils.csv"
    path = write_config(directory, recipients, daemon=name_key(directory),
                        extra_school=f'pupil_names = "{pupils}"\n{school}')
    path.write_text(path.read_text(encoding="utf-8") + tail, encoding="utf-8")
    return load(path)


def digests(built: Built) -> dict[str, list[str]]:
    """Each digest queued: its key -> its destinations."""
    with built.sessions() as session:
        rows = session.scalars(select(models.Alert).where(models.Alert.kind == DIGEST_KIND)
                               .order_by(models.Alert.id))
        return {alert.dedupe_key: sorted(d.destination for d in alert.deliveries)
                for alert in rows}


def due(built: Built, config: Config, at: datetime):
    with built.sessions.begin() as session:
        return digests_due(session, config, at)


@pytest.fixture
def week(tmp_path: Path) -> Built:
    built = build_week(tmp_path)
    built.config = configure(tmp_path, EVERYONE)
    return built


@pytest.fixture
def quiet(tmp_path: Path) -> Built:
    built = build_quiet(tmp_path)
    built.config = configure(tmp_path, EVERYONE)
    return built


# --- once --------------------------------------------------------------------------------------

def test_restarted_daemons_queue_each_digest_once(database, tmp_path):
    built = build_week(tmp_path)
    config = configure(tmp_path, EVERYONE)
    first = Daemon(config, built.sessions, clock=lambda: NOW)
    queued = first.send_digests()
    assert sorted(r.key for r in queued if r) == [
        dedupe_key("dsl", SCHOOL, WEEK), dedupe_key("head", SCHOOL, WEEK)]
    assert first.send_digests() == []  # five minutes later

    # Two restarts, an hour and a day later: still due, and still queued only once.
    for later in (timedelta(hours=1), timedelta(days=1)):
        restarted = Daemon(config, built.sessions, clock=lambda later=later: NOW + later)
        assert restarted.send_digests() == []
    assert digests(built) == {dedupe_key("head", SCHOOL, WEEK): [HEAD],
                              dedupe_key("dsl", SCHOOL, WEEK): [DSL]}


def test_a_started_daemon_queues_the_due_digests_on_its_own(quiet, monkeypatch):
    from monitor import daemon as daemon_module

    monkeypatch.setattr(daemon_module, "DIGEST_FIRST_CHECK", timedelta(0))
    daemon = Daemon(quiet.config, quiet.sessions, clock=lambda: NOW)
    daemon.start()
    try:
        assert wait_for(lambda: len(digests(quiet)) == 2, timeout=20)
    finally:
        assert daemon.shutdown()
    assert sorted(digests(quiet)) == [dedupe_key("dsl", SCHOOL, WEEK),
                                      dedupe_key("head", SCHOOL, WEEK)]


def _inside(thread: threading.Thread, function: str) -> bool:
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


def hold_writes(database_url: str) -> Callable[[], None]:
    """Holds the alert table against writes (reads go on) from a connection of its own, so that
    two enqueuers both find the key free, build their digest, and meet at the insert. Returns
    the function that lets writes go."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        raw = sqlite3.connect(url.database, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")

        def release() -> None:
            raw.execute("ROLLBACK")
            raw.close()
        return release
    engine = create_engine(url.set(drivername="postgresql+psycopg"))
    connection = engine.connect()
    transaction = connection.begin()
    connection.execute(text("LOCK TABLE alert IN EXCLUSIVE MODE"))

    def release_lock() -> None:
        transaction.rollback()
        connection.close()
        engine.dispose()
    return release_lock


def test_two_daemons_racing_queue_one_digest(database, tmp_path):
    built = build_week(tmp_path)
    config = configure(tmp_path, EVERYONE)
    results = []

    def enqueue() -> None:
        with built.sessions.begin() as session:
            results.append(enqueue_digest(session, config, "head", SCHOOL, WEEK, now=NOW))

    release = hold_writes(config.database_url)
    threads = [threading.Thread(target=enqueue) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        # Both have looked for the key, found none, built the digest, and are storing it.
        assert wait_for(lambda: all(_inside(t, "_store") for t in threads), timeout=8)
    finally:
        release()
    for thread in threads:
        thread.join(20)

    assert sorted(r.status for r in results) == ["exists", "queued"]
    [lost] = [r for r in results if not r]
    assert "meanwhile" in lost.reason
    assert digests(built) == {dedupe_key("head", SCHOOL, WEEK): [HEAD]}


def test_again_queues_a_second_digest_under_a_key_of_its_own(week):
    with week.sessions.begin() as session:
        first = enqueue_digest(session, week.config, "head", SCHOOL, WEEK, now=NOW)
        refused = enqueue_digest(session, week.config, "head", SCHOOL, WEEK, now=NOW)
        again = enqueue_digest(session, week.config, "head", SCHOOL, WEEK, now=NOW, again=True)
        third = enqueue_digest(session, week.config, "head", SCHOOL, WEEK, now=NOW, again=True)
    assert first.status == "queued"
    assert refused.status == "exists" and "--again" in refused.reason
    assert again.status == third.status == "queued"
    base = dedupe_key("head", SCHOOL, WEEK)
    assert list(digests(week)) == [base, f"{base}:again:2", f"{base}:again:3"]
    assert again.alert.body == first.alert.body


# --- holidays ----------------------------------------------------------------------------------

def test_a_holiday_week_with_nothing_flagged_queues_nothing(tmp_path):
    built = build_quiet(tmp_path)
    config = configure(tmp_path, EVERYONE, school=HOLIDAY)
    decided = due(built, config, NOW)
    assert {r.kind: r.status for r in decided} == {"head": "not_needed", "dsl": "not_needed"}
    assert digests(built) == {}

    # The daemon weighs that once, and says it once.
    daemon = Daemon(config, built.sessions, clock=lambda: NOW)
    assert len(daemon.send_digests()) == 2
    assert daemon.send_digests() == []


def test_a_holiday_week_with_flagged_items_queues_a_short_digest(week, tmp_path):
    config = configure(tmp_path, EVERYONE, school=HOLIDAY)
    decided = due(week, config, NOW)
    assert {r.kind: r.status for r in decided} == {"head": "queued", "dsl": "queued"}
    [head] = [r for r in decided if r.kind == "head"]
    with week.sessions() as session:
        school_week = SchoolWeek.of(2026, 47, "Europe/London")
        short = build.build_digest(session, config, "head", SCHOOL, school_week, now=NOW,
                                   short=True)
        full = build.build_digest(session, config, "head", SCHOOL, school_week, now=NOW)
    assert head.alert.body == short.text != full.text


def test_the_plan_for_a_week_says_what_a_holiday_changes_as_the_schedule_does(week, tmp_path):
    assert plan(week, week.config, "head") == Plan()  # term time: the full digest
    holiday = configure(tmp_path, EVERYONE, school=HOLIDAY)
    short = plan(week, holiday, "head")
    assert short.needed and short.short and "holiday week" in short.note
    assert plan(week, holiday, "dsl") == Plan()  # it had incidents

    with week.sessions.begin() as session:  # a later holiday week with nothing in it
        nothing = send.plan(session, holiday, "head", SCHOOL, "2026-W51")
    assert not nothing.needed and "nothing flagged" in nothing.note
    assert send.timezone_of(holiday, "head", SCHOOL) == "Europe/London"


def plan(built: Built, config: Config, kind: str) -> Plan:
    with built.sessions() as session:
        return send.plan(session, config, kind, SCHOOL, WEEK, now=NOW)


def test_a_term_week_queues_the_full_digest(week):
    [head] = [r for r in due(week, week.config, NOW) if r.kind == "head"]
    with week.sessions() as session:
        full = build.build_digest(session, week.config, "head", SCHOOL, WEEK, now=NOW)
    assert head.alert.body == full.text
    assert head.alert.title == full.title


def test_the_dsl_summary_goes_in_a_quiet_term_week(quiet):
    decided = due(quiet, quiet.config, NOW)
    assert {r.kind: r.status for r in decided} == {"head": "queued", "dsl": "queued"}


# --- when --------------------------------------------------------------------------------------

MONDAY_0730 = NOW  # the default schedule: Monday 07:30, Europe/London (UTC in November)
NEXT_WEEK = "2026-W48"


@pytest.mark.parametrize("moment, expected", [
    (MONDAY_0730 - timedelta(minutes=1), []),
    (MONDAY_0730, [WEEK]),
    (MONDAY_0730 + timedelta(hours=1, minutes=30), [WEEK]),  # a daemon down at 07:30
    (MONDAY_0730 + timedelta(days=1), [WEEK]),
    (MONDAY_0730 + timedelta(days=6, hours=16, minutes=29), [WEEK]),  # Sunday 23:59
    (MONDAY_0730 + timedelta(days=7) - timedelta(minutes=1), []),  # never a week late
    (MONDAY_0730 + timedelta(days=7), [NEXT_WEEK]),
], ids=["before", "at the time", "two hours late", "a day late", "sunday night",
        "next monday early", "next monday"])
def test_a_digest_is_due_from_its_time_to_the_end_of_that_week(quiet, moment, expected):
    due(quiet, quiet.config, moment)
    assert sorted(digests(quiet)) == sorted(
        dedupe_key(kind, SCHOOL, label) for label in expected for kind in ("head", "dsl"))


def test_a_school_schedule_and_timezone_decide_when(tmp_path):
    built = build_quiet(tmp_path)
    config = configure(tmp_path, EVERYONE, school=(
        'timezone = "Asia/Tokyo"\ndigest = { day = "tuesday", time = "09:00" }'))
    tuesday_0900_tokyo = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert due(built, config, tuesday_0900_tokyo - timedelta(minutes=1)) == []
    assert [r.key for r in due(built, config, tuesday_0900_tokyo)] == [
        dedupe_key("head", SCHOOL, WEEK), dedupe_key("dsl", SCHOOL, WEEK)]


def test_a_school_with_its_digest_disabled_gets_none(tmp_path):
    built = build_quiet(tmp_path)
    config = configure(tmp_path, EVERYONE, school="digest = { enabled = false }")
    assert due(built, config, NOW + timedelta(days=1)) == []


def test_nothing_due_is_decided_without_building_anything(quiet, monkeypatch):
    due(quiet, quiet.config, NOW)

    def refuse(*args, **kwargs):
        raise AssertionError("a digest was built although it was queued already")

    monkeypatch.setattr(build, "build_digest", refuse)
    assert due(quiet, quiet.config, NOW + timedelta(hours=3)) == []


def test_one_digest_that_cannot_be_made_does_not_stop_the_others(quiet, monkeypatch):
    made = build.build_digest

    def broken_head(session, config, kind, *args, **kwargs):
        if kind == "head":
            raise RuntimeError("the renderer tripped")
        return made(session, config, kind, *args, **kwargs)

    monkeypatch.setattr(build, "build_digest", broken_head)
    decided = {r.kind: r for r in due(quiet, quiet.config, NOW)}
    assert decided["head"].status == "failed"
    assert decided["head"].reason == "RuntimeError: the renderer tripped"
    assert decided["dsl"].status == "queued"
    assert list(digests(quiet)) == [dedupe_key("dsl", SCHOOL, WEEK)]


# --- who ---------------------------------------------------------------------------------------

def test_a_school_without_a_head_gets_no_head_digest_and_is_told_once(tmp_path, caplog):
    built = build_quiet(tmp_path)
    config = configure(tmp_path, {"digital_champion": [CHAMPION], "dsl": [DSL]})
    with built.sessions.begin() as session:
        result = enqueue_digest(session, config, "head", SCHOOL, WEEK, now=NOW)
    assert result.status == "no_recipient"
    assert result.reason == "oakfield has no head recipient in the config"

    daemon = Daemon(config, built.sessions, clock=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        daemon.send_digests()
        daemon.send_digests()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["not sending the head's digest for oakfield, week 2026-W47: "
                        "oakfield has no head recipient in the config"]
    assert digests(built) == {dedupe_key("dsl", SCHOOL, WEEK): [DSL]}


def test_the_dsl_summary_goes_to_the_dsl_only_and_the_digest_to_the_head_only(week):
    due(week, week.config, NOW)
    with week.sessions() as session:
        kinds = {alert.details["digest"]["kind"]: alert for alert in session.scalars(
            select(models.Alert).where(models.Alert.kind == DIGEST_KIND))}
        assert {k: [(d.destination, d.roles) for d in a.deliveries]
                for k, a in kinds.items()} == {"head": [(HEAD, ["head"])],
                                               "dsl": [(DSL, ["dsl"])]}
        assert kinds["dsl"].details["digest"]["week"] == WEEK
        assert kinds["dsl"].severity == kinds["head"].severity == "normal"
        assert "lunch menu" not in kinds["dsl"].body  # no praise, no complaints


def test_the_trust_roll_up_goes_to_the_trust_recipients_only(tmp_path):
    built = build_quiet(tmp_path)
    config = configure(tmp_path, EVERYONE, tail=TRUST)
    decided = due(built, config, NOW)
    [trust] = [r for r in decided if r.kind == "trust"]
    assert trust.key == "digest:trust:trust:2026-W47"
    assert trust.alert.school_id is None
    assert digests(built)[trust.key] == sorted([TRUST_CEO, TRUST_DSL])
    assert due(built, config, NOW + timedelta(hours=2)) == []


def test_a_bad_request_is_refused_in_one_line(week):
    with week.sessions.begin() as session:
        for kind, school, problem in [("weekly", SCHOOL, "unknown digest 'weekly'"),
                                      ("head", "nowhere", "no school 'nowhere'"),
                                      ("head", None, "give a school"),
                                      ("trust", None, "no [trust] table")]:
            with pytest.raises(ValueError, match=problem.replace("[", r"\[")) as raised:
                enqueue_digest(session, week.config, kind, school, WEEK, now=NOW)
            assert "\n" not in str(raised.value)
    with week.sessions() as session:
        assert session.scalar(select(func.count()).select_from(models.Alert)) == 0
