import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import func, select

from monitor import models
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import COMMENTS, write_config, write_replay
from tests.conftest import wait_for

TEXTS = [text for text, _ in COMMENTS]


def test_the_daemon_polls_classifies_and_emails_the_right_people(tmp_path, smtp_inbox):
    write_replay(tmp_path / "fb", TEXTS, per_page=3)
    config = load(write_config(tmp_path, {
        "dsl": [smtp_inbox.url("dsl@school.example")],
        "digital_champion": [smtp_inbox.url("champion@school.example")],
    }))
    _, sessions = open_database(config)
    daemon = Daemon(config, sessions)
    daemon.start()
    def everything_sent() -> bool:
        with sessions() as session:
            polled = session.scalar(select(models.Source.cursor)) is not None
            states = list(session.scalars(select(models.Delivery.status)))
        return polled and bool(states) and set(states) == {"sent"}

    try:
        # Questions and absences wait for the batch (2 s here) and go in one message.
        assert wait_for(everything_sent, timeout=30)
    finally:
        assert daemon.shutdown()
    by_recipient = {}
    for message in smtp_inbox.messages:
        by_recipient.setdefault(message["To"], []).append(message)
    dsl_subjects = [m["Subject"] for m in by_recipient["dsl@school.example"]]
    assert sorted(s.split(" - ")[0] for s in dsl_subjects) == [
        "[URGENT] Safeguarding", "[URGENT] Threat"]
    champion = "\n".join(smtp_inbox.text(m) for m in by_recipient["champion@school.example"])
    for text, expected in COMMENTS:
        if expected:
            assert text in champion, f"{expected} alert missing for the digital champion"
    assert "Lovely nativity" not in champion  # praise waits for the digest
    assert any(m["Subject"].startswith("[DIGEST]") for m in by_recipient["champion@school.example"])


def test_alerts_list_as_json_shows_item_categories_recipients_and_delivery(tmp_path, capsys):
    write_replay(tmp_path / "fb", TEXTS)
    path = write_config(tmp_path, {"dsl": ["console://"], "digital_champion": ["console://"]})
    main(["poll", "--once", "--config", str(path)])
    capsys.readouterr()
    main(["alerts", "list", "--format", "json", "--config", str(path)])
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    threat = next(e for e in entries if "threat" in e["categories"])
    assert threat["item"]["text"] == TEXTS[2]
    assert threat["item"]["permalink"].startswith("https://www.facebook.com/")
    assert threat["recipients"] == ["digital_champion", "dsl"]
    assert [d["status"] for d in threat["deliveries"]] == ["sent"]
    assert threat["severity"] == "urgent"


def test_sources_and_items_are_listed(tmp_path, capsys):
    write_replay(tmp_path / "fb", TEXTS)
    path = write_config(tmp_path)
    main(["poll", "--once", "--config", str(path)])
    capsys.readouterr()
    main(["sources", "--config", str(path)])
    out = capsys.readouterr().out
    assert "oakfield/replay/104857392011/comments" in out and " ok " in out
    assert f"  {len(TEXTS)}  " in out
    main(["items", "list", "--flagged", "--config", str(path)])
    out = capsys.readouterr().out
    assert "threat" in out and "Lovely nativity" not in out


def test_the_demo_runs_and_stops_cleanly_on_sigterm_then_resumes_without_repeats(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "monitor", "run", "--demo"]
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)
        first.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, err = first.communicate(timeout=10)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert time.monotonic() - started < 10
    assert "[URGENT]" in out or "[HIGH]" in out, "no alert reached the terminal within seconds"
    assert "Traceback" not in err

    database = tmp_path / "hallmonitor-demo" / "hallmonitor.sqlite3"
    assert database.exists()
    second = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)
        second.send_signal(signal.SIGINT)
        out2, err2 = second.communicate(timeout=10)
    finally:
        second.kill()
    assert second.returncode == 0, err2
    # Whatever was alerted in the first run is not alerted again.
    refs = [line for line in (out + out2).splitlines() if line.startswith("Ref: ")]
    assert len(refs) == len(set(refs))
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        items = connection.execute(select(func.count()).select_from(models.Item)).scalar()
        unique = connection.execute(select(func.count(func.distinct(
            models.Item.platform + ":" + models.Item.external_id)))).scalar()
    assert items == unique > 0


SLOW_DAEMON = textwrap.dedent("""
    import sys, time
    from connectors.replay import ReplayConnector
    real_fetch = ReplayConnector.fetch

    def fetch(self, source, cursor):  # a platform slower per page than the lease
        for page in real_fetch(self, source, cursor):
            time.sleep(2.5)
            yield page

    ReplayConnector.fetch = fetch
    from monitor.cli import main
    main(["run", "--config", sys.argv[1]])
""")


@pytest.mark.usefixtures("database")
def test_two_daemons_never_overlap_and_a_killed_ones_source_is_taken_over(tmp_path):
    ids = write_replay(tmp_path / "fb", [f"comment {n}" for n in range(4)], per_page=1)
    path = write_config(tmp_path, daemon='lease = "2s"')
    config = load(path)
    _, sessions = open_database(config)  # `hallmonitor db upgrade`, needed once on PostgreSQL
    daemons = [subprocess.Popen([sys.executable, "-c", SLOW_DAEMON, str(path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        def holder() -> str | None:
            with sessions() as session:
                return session.scalar(select(models.Source.leased_by))

        # A poll of four pages at 2.5 s each: one daemon holds the source for 10 s, and each
        # page takes longer than the 2 s lease.
        assert wait_for(lambda: holder() is not None, timeout=60)
        held_by = holder()
        holders = set()
        for _ in range(30):  # three seconds, a lease and a half: nobody else gets it
            holders.add(holder())
            time.sleep(0.1)
        assert holders == {held_by}
        victim = next(d for d in daemons if held_by and f":{d.pid}:" in held_by)
        victim.kill()  # kill -9 mid-poll
        killed_at = time.monotonic()
        survivor = next(d for d in daemons if d is not victim)
        assert wait_for(lambda: holder() not in (None, held_by), timeout=30)
        taken_over = time.monotonic() - killed_at
        print(f"source taken over {taken_over:.1f} s after the kill (lease 2 s)")
        assert taken_over < 2 + 1 + 2  # one lease, one scheduler tick, and slack
        assert wait_for(lambda: len(stored_external_ids(sessions)) == len(ids), timeout=30)
    finally:
        for daemon in daemons:
            daemon.kill()
            daemon.wait()
    assert "Traceback" not in survivor.stderr.read()
    assert stored_external_ids(sessions) == sorted(ids)
    with sessions() as session:
        runs = sorted(session.scalars(select(models.PollRun)), key=lambda r: r.started_at)
    # Each run started after the one before it finished: never two polls of one source at once.
    for before, after in zip(runs, runs[1:], strict=False):
        assert after.started_at >= before.finished_at, (before.error, after.error)
    assert not any(run.error for run in runs)


def stored_external_ids(sessions) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(models.Item.external_id)))
