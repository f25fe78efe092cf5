"""Several daemons on one database: a poll slower than its lease keeps its source (the lease is
renewed on a timer, only by its holder), a page is committed and a lease released only by its
holder, a dead daemon's sources are taken over one lease later, and daemons starting together
on a new database all start."""

import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from connectors.replay import ReplayConnector
from monitor import db, models, sources
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

pytestmark = pytest.mark.usefixtures("database")

LEASE = 0.9  # seconds; each page below takes longer than that to fetch


@pytest.fixture
def slow_platform(monkeypatch):
    """A platform answering each page after 1.5 s; counts the polls running at any moment."""
    state = {"running": 0, "most": 0, "pages": 0, "after_first_page": None}
    lock = threading.Lock()
    real_fetch = ReplayConnector.fetch

    def fetch(self, source, cursor):
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        try:
            for number, page in enumerate(real_fetch(self, source, cursor)):
                if number:
                    time.sleep(1.5)
                    if state["after_first_page"]:
                        state["after_first_page"]()
                with lock:
                    state["pages"] += 1
                yield page
        finally:
            with lock:
                state["running"] -= 1

    monkeypatch.setattr(ReplayConnector, "fetch", fetch)
    return state


@pytest.fixture
def two_daemons(tmp_path):
    ids = write_replay(tmp_path / "fb", [f"comment number {n}" for n in range(6)], per_page=2)
    config = load(write_config(tmp_path, daemon=f'lease = "{LEASE}s"'))
    _, sessions = open_database(config)
    first, second = Daemon(config, sessions), Daemon(config, sessions)
    for daemon in (first, second):  # as at start: loading a model is not part of a poll
        daemon.prepare()
    [source] = first.sync_sources()
    return first, second, sessions, source.id, ids


def stored(sessions) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(models.Item.external_id).order_by(models.Item.id)))


def test_a_poll_slower_than_its_lease_is_never_taken_over(two_daemons, slow_platform):
    first, second, sessions, source_id, ids = two_daemons
    outcome = {}
    poller = threading.Thread(target=lambda: outcome.setdefault(
        "result", first.pipeline.poll(source_id, due_only=False)))
    poller.start()
    refused = []
    try:
        while not slow_platform["running"] and poller.is_alive():  # the first has claimed it
            time.sleep(0.01)
        # The other daemon tries all along, as its scheduler would: it never gets the source
        # while the slow poll runs (three pages, 3 s, more than three leases).
        while poller.is_alive():
            result = second.pipeline.poll(source_id, due_only=False)
            if not result.claimed:
                refused.append(result.not_claimed)
            time.sleep(0.05)
    finally:
        poller.join()
    result = outcome["result"]
    assert result.error is None and result.completed and result.pages == 3
    assert slow_platform["most"] == 1, "two polls of one source ran at once"
    assert len(refused) > 20 and set(refused) == {"busy (held by another daemon)"}
    assert stored(sessions) == ids
    with sessions() as session:
        source = session.get(models.Source, source_id)
        assert source.leased_by is None  # released by its holder at the end
        runs = list(session.scalars(select(models.PollRun)))
        assert [run.error for run in runs] == [None] * len(runs)


def test_a_page_is_not_committed_once_another_daemon_holds_the_source(two_daemons,
                                                                        slow_platform):
    first, _, sessions, source_id, ids = two_daemons

    def taken_over() -> None:
        # Another daemon took the source (as it may once a lease lapses, e.g. the machine
        # slept): this poll must commit nothing more and leave the new holder's state alone.
        with sessions.begin() as session:
            session.execute(update(models.Source).where(models.Source.id == source_id)
                            .values(leased_by="elsewhere:1:abc", lease_until=datetime.now(UTC)
                                    + timedelta(minutes=5)))

    slow_platform["after_first_page"] = taken_over
    result = first.pipeline.poll(source_id, due_only=False)
    assert result.pages == 1 and not result.completed
    assert "another daemon" in result.error
    assert stored(sessions) == ids[:2]
    with sessions() as session:
        source = session.get(models.Source, source_id)
        assert source.leased_by == "elsewhere:1:abc"
        assert source.cursor is None
        assert source.failure_count == 0  # not the source's failure


def test_a_dead_daemons_source_is_taken_over_within_one_short_lease(tmp_path):
    write_replay(tmp_path / "fb", ["hello"])
    config = load(write_config(tmp_path))
    assert config.daemon.lease <= 60
    _, sessions = open_database(config)
    dead, alive = Daemon(config, sessions, worker="elsewhere:4242:dead01"), Daemon(config, sessions)
    [source] = dead.sync_sources()
    now = datetime.now(UTC)
    assert dead.pipeline.claim(source.id, now, due_only=False)  # ... and then it was killed
    assert not alive.pipeline.claim(source.id, now + timedelta(seconds=30), due_only=False)
    assert alive.pipeline.claim(source.id, now + timedelta(seconds=config.daemon.lease + 1),
                                due_only=False)


def many_schools(directory, count: int) -> str:
    text = '[daemon]\ndata_dir = "data"\n'
    for number in range(count):
        text += textwrap.dedent(f"""
            [[schools]]
            id = "school{number}"
            name = "School {number}"

            [[schools.accounts]]
            platform = "replay"
            account = "page{number}"
            kinds = ["comments", "mentions", "replies"]
            settings = {{ path = "fb" }}
            """)
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_daemons_starting_together_on_a_new_database_all_start(tmp_path):
    config = load(many_schools(tmp_path, 30))
    open_database(config)  # `hallmonitor db upgrade`: the tables, and no rows yet
    barrier = threading.Barrier(3)
    outcomes: list[object] = []

    def start() -> None:
        engine = db.make_engine(config.database_url)
        sessions = db.session_factory(engine)
        barrier.wait()
        try:
            with sessions.begin() as session:
                outcomes.append(len(sources.sync(session, config)))
        except Exception as exc:  # noqa: BLE001 - the test reports what a daemon would die of
            outcomes.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == [90, 90, 90]
    _, sessions = open_database(config)
    with sessions() as session:
        assert len(list(session.scalars(select(models.School)))) == 30
        assert len(list(session.scalars(select(models.Source)))) == 90
