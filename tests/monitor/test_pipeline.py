import subprocess
import sys
import textwrap
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from connectors import AuthError, PayloadError
from connectors.replay import ReplayConnector
from monitor import models
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import COMMENTS, START, write_config, write_replay

TEXTS = [text for text, _ in COMMENTS]

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def setup(tmp_path):
    ids = write_replay(tmp_path / "fb", TEXTS, per_page=3)
    config = load(write_config(tmp_path, {"digital_champion": ["console://"],
                                          "dsl": ["console://"]}))
    _, sessions = open_database(config)
    return config, sessions, ids


def counts(sessions) -> dict[str, int]:
    with sessions() as session:
        return {name: session.scalar(select(func.count()).select_from(model))
                for name, model in (("items", models.Item), ("verdicts", models.Verdict),
                                    ("alerts", models.Alert), ("deliveries", models.Delivery))}


def stored_ids(sessions) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(models.Item.external_id).order_by(models.Item.id)))


def test_every_item_is_stored_classified_and_routed_once(setup):
    config, sessions, ids = setup
    [result] = Daemon(config, sessions).poll_once()
    assert result.error is None and result.pages == 3 and result.completed
    assert stored_ids(sessions) == ids
    first = counts(sessions)
    assert first["verdicts"] == len(ids)
    with sessions() as session:
        flagged = Counter(c for v in session.scalars(select(models.Verdict)) for c in v.categories)
        alerted = {a.item.text: a for a in session.scalars(select(models.Alert))}
        threat = alerted[TEXTS[2]]
        assert threat.severity == "urgent"
        assert {role for d in threat.deliveries for role in d.roles} == {"dsl",
                                                                         "digital_champion"}
    for _text, expected in COMMENTS:
        if expected:
            assert flagged[expected] >= 1, expected

    Daemon(config, sessions).poll_once()
    assert counts(sessions) == first


def test_new_pages_after_a_restart_are_picked_up_and_old_ones_not_repeated(setup, tmp_path):
    config, sessions, ids = setup
    Daemon(config, sessions).poll_once()
    before = counts(sessions)
    more = write_replay(tmp_path / "fb", ["is the trip still on tomorrow?"], first_id=50)
    [result] = Daemon(config, sessions).poll_once()
    assert result.new_items == 1
    assert stored_ids(sessions) == ids + more
    assert counts(sessions)["alerts"] == before["alerts"] + 1


CRASH = textwrap.dedent("""
    import os, signal, sys
    from monitor import alerts, pipeline
    where, config = sys.argv[1], sys.argv[2]
    original_store, original_route = pipeline.Pipeline.store_page, alerts.route_item
    calls = {"pages": 0, "routes": 0}

    def store_page(self, *args, **kwargs):
        original_store(self, *args, **kwargs)
        calls["pages"] += 1
        if where == "between-pages" and calls["pages"] == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    def route_item(*args, **kwargs):
        calls["routes"] += 1
        if where == "inside-a-page" and calls["routes"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return original_route(*args, **kwargs)

    pipeline.Pipeline.store_page = store_page
    alerts.route_item = route_item
    from monitor.cli import main
    main(["poll", "--once", "--config", config])
""")


@pytest.mark.parametrize("where", ["between-pages", "inside-a-page"])
def test_a_killed_daemon_loses_nothing_and_repeats_nothing(tmp_path, where):
    ids = write_replay(tmp_path / "fb", TEXTS, per_page=3)
    path = write_config(tmp_path, {"digital_champion": ["console://"], "dsl": ["console://"]})
    open_database(load(path))  # `hallmonitor db upgrade`, needed once on PostgreSQL
    killed = subprocess.run([sys.executable, "-c", CRASH, where, str(path)],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    config = load(path)
    _, sessions = open_database(config)
    partial = stored_ids(sessions)
    assert partial == (ids[:3] if where == "between-pages" else [])
    with sessions() as session:
        source = session.scalars(select(models.Source)).one()
        assert source.leased_by is not None  # the dead process still holds its lease
        assert source.cursor is None  # never promoted: the poll did not finish

    restarted = subprocess.run([sys.executable, "-m", "monitor", "poll", "--once",
                                "--config", str(path)], capture_output=True, text=True,
                               timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    assert stored_ids(sessions) == ids
    with sessions() as session:
        alerts = list(session.scalars(select(models.Alert)))
        keys = [a.dedupe_key for a in alerts]
        assert len(keys) == len(set(keys))
        alerted_items = [a.item_id for a in alerts if a.kind == "item"]
        assert len(alerted_items) == len(set(alerted_items))
        pairs = [(d.alert_id, d.destination) for d in session.scalars(select(models.Delivery))]
        assert len(pairs) == len(set(pairs))
        verdicts = session.scalar(select(func.count()).select_from(models.Verdict))
        assert verdicts == len(ids)
    # The threat and the disclosure were each told exactly once, to the DSL's terminal.
    printed = killed.stdout + restarted.stdout
    assert printed.count("[URGENT] Threat") == 1
    assert printed.count("[URGENT] Safeguarding") == 1


def test_stopping_mid_poll_commits_the_page_in_hand_and_resumes_later(setup):
    config, sessions, ids = setup
    daemon = Daemon(config, sessions)
    original = daemon.pipeline.store_page

    def store_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        daemon.stop.set()

    daemon.pipeline.store_page = store_then_stop
    [result] = daemon.poll_once()
    assert result.pages == 1 and not result.completed
    assert stored_ids(sessions) == ids[:3]

    [result] = Daemon(config, sessions).poll_once()
    assert result.completed
    assert stored_ids(sessions) == ids


def test_a_malformed_page_keeps_what_came_before_and_retries_later(setup, tmp_path):
    config, sessions, ids = setup
    (tmp_path / "fb" / "002.json").write_text('{"data": [{"message": "no id", "from": {}}]}')
    [result] = Daemon(config, sessions).poll_once()
    assert "PayloadError" in result.error
    assert stored_ids(sessions) == ids[:3]
    with sessions() as session:
        source = session.scalars(select(models.Source)).one()
        assert source.failure_count == 1
        assert source.paused_reason is None  # transient: retried with backoff
        assert source.next_poll_at > source.last_attempt_at
        assert source.cursor is None
        run = session.scalars(select(models.PollRun)).one()
        assert run.pages == 1 and run.new_items == 3 and "no id" in run.error


def test_an_expired_token_pauses_the_source_and_tells_it_once(setup, monkeypatch):
    config, sessions, _ids = setup
    config = load(write_config(config.path.parent, {"it": ["console://"]}))
    _, sessions = open_database(config)

    def expired(self, source, cursor):
        raise AuthError("token expired (code 190)")
        yield

    monkeypatch.setattr(ReplayConnector, "fetch", expired)
    daemon = Daemon(config, sessions)
    daemon.poll_once()
    daemon.poll_once()  # paused: not polled again, not told again
    with sessions() as session:
        source = session.scalars(select(models.Source)).one()
        assert "token expired" in source.paused_reason
        notices = list(session.scalars(select(models.Alert)))
        assert [a.kind for a in notices] == ["source_paused"]
        assert [d.roles for d in notices[0].deliveries] == [["it"]]
        # Nothing here that a restart could change: only resuming by hand resumes it.
        assert f"hallmonitor sources --resume ID' for each of: {source.id}" in notices[0].body
        assert "restart" not in notices[0].body
        assert session.scalar(select(func.count()).select_from(models.PollRun)) == 1


def test_a_retryable_error_backs_off_at_least_as_long_as_the_platform_asks(setup, monkeypatch):
    config, sessions, _ = setup

    def limited(self, source, cursor):
        raise PayloadError("rate limited", retry_after=900)
        yield

    monkeypatch.setattr(ReplayConnector, "fetch", limited)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        source = session.scalars(select(models.Source)).one()
        wait = (source.next_poll_at - source.last_attempt_at).total_seconds()
        assert 900 <= wait < 1000


HOSTILE = [
    "",
    "😀" * 25_000 + " you are a disgrace",  # 100 KB of emoji
    "k\u200bi\u200bl\u200bl you",  # zero-width spaces
    "\u202eoof\u202c مرحبا بالمدرسة שלום",  # right-to-left text and overrides
    "null\x00byte\x00here",
    "\ud800 lone surrogate".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "a" * 100_000,
]


def test_hostile_text_is_stored_and_classified_without_error(tmp_path):
    write_replay(tmp_path / "fb", HOSTILE, per_page=4)
    config = load(write_config(tmp_path))
    _, sessions = open_database(config)
    [result] = Daemon(config, sessions).poll_once()
    assert result.error is None, result.error
    with sessions() as session:
        rows = list(session.scalars(select(models.Item).order_by(models.Item.id)))
        assert len(rows) == len(HOSTILE)
        assert all(row.verdict is not None for row in rows)
        assert rows[1].text == HOSTILE[1]
        assert len(rows[6].text) == 100_000
        assert rows[4].text == "null\ufffdbyte\ufffdhere"  # NUL made storable, not dropped


def test_two_daemons_never_poll_the_same_source_at_once(setup):
    config, sessions, ids = setup
    first, second = Daemon(config, sessions), Daemon(config, sessions)
    first.sync_sources()
    source_id = first.sync_sources()[0].id
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    assert first.pipeline.claim(source_id, now, due_only=False)
    assert not second.pipeline.claim(source_id, now, due_only=False)
    barrier = threading.Barrier(2)
    results = []

    def race(daemon):
        barrier.wait()
        results.append(daemon.pipeline.claim(source_id, now, due_only=False))

    with sessions.begin() as session:
        session.get(models.Source, source_id).lease_until = None
    threads = [threading.Thread(target=race, args=(d,)) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]


def test_the_schools_own_replies_are_recorded_but_never_alerted(tmp_path):
    import json

    from tests.builders import PAGE_ID, graph_comment, graph_feed_page

    reply = graph_comment("1_1", "Any problems ring the office on 01632 960418", START)
    reply["from"] = {"id": PAGE_ID, "name": "Oakfield Primary School"}
    (tmp_path / "fb").mkdir()
    (tmp_path / "fb" / "001.json").write_text(json.dumps(graph_feed_page(1, [reply])))
    config = load(write_config(tmp_path))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        item = session.scalars(select(models.Item)).one()
        assert "personal_data" in item.verdict.categories
        assert session.scalar(select(func.count()).select_from(models.Alert)) == 0


def test_a_new_accounts_old_questions_are_recorded_quietly_but_old_threats_still_alerted(
        tmp_path):
    import json

    from tests.builders import graph_comment, graph_feed_page

    old = START - timedelta(days=10)
    comments = [graph_comment("1_1", "what time is pick up on friday?", old),
                graph_comment("1_2", TEXTS[2], old),
                graph_comment("1_3", "is the trip still on?", START)]
    (tmp_path / "fb").mkdir()
    (tmp_path / "fb" / "001.json").write_text(json.dumps(graph_feed_page(1, comments)))
    config = load(write_config(tmp_path))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        alerted = {a.item.external_id for a in session.scalars(select(models.Alert))}
        assert session.scalar(select(func.count()).select_from(models.Verdict)) == 3
    assert alerted == {"1_2", "1_3"}


def test_a_polls_questions_share_one_batch_though_its_pages_straddle_the_batch_boundary(
        tmp_path):
    from datetime import UTC, datetime

    write_replay(tmp_path / "fb", ["what time is pick up on friday?",
                                   "is the trip still on tomorrow?"], per_page=1)
    config = load(write_config(tmp_path, {"digital_champion": ["console://"]},
                               batch_interval="60s"))
    _, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    boundary = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    ticks = iter(boundary + timedelta(seconds=second) for second in range(-3, 60))
    daemon.pipeline.now = lambda: next(ticks)  # each page is read a second later
    [result] = daemon.poll_once()
    assert result.pages == 2 and result.alerts == 2
    with sessions() as session:
        due = set(session.scalars(select(models.Delivery.next_attempt_at)))
    assert len(due) == 1, "one poll's questions went into two batches"
