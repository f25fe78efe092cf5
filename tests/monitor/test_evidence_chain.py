"""The evidence chain as the daemon builds it: through the pipeline, actions on a (local) Facebook
Page and incident steps; `hallmonitor evidence verify` finds it intact, and names the first entry
when one is edited, deleted or moved in the database. Two writers at once never fork it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.graph import DEFAULT_API_VERSION
from monitor import incidents, models
from monitor.actions import take_action
from monitor.cli import main
from monitor.config import Config, load
from monitor.daemon import Daemon, open_database
from monitor.evidence import chain
from tests.builders import write_config, write_graph_config, write_replay
from tests.http_server import json_answer

pytestmark = pytest.mark.usefixtures("database")

PAGE = "104857392011"
POST = f"{PAGE}_822001"
V = f"/{DEFAULT_API_VERSION}"
THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"
DISCLOSURE = "my friend says her stepdad hits her and she's scared to go home"
KIND = "Lovely assembly this morning"
GRAPH_ERROR = {"error": {"message": "(#10) Permission denied", "type": "OAuthException",
                         "code": 10}}


def graph_time(minutes_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class Page:
    """A school whose Facebook Page is a local Graph API, polled once."""

    graph: object
    path: Path
    config: Config
    sessions: sessionmaker[Session]
    kind: int  # item ids
    threat: int
    disclosure: int

    def incident_of(self, item_id: int) -> int:
        with self.sessions() as session:
            return session.scalars(select(models.IncidentItem.incident_id).where(
                models.IncidentItem.item_id == item_id)).one()


@pytest.fixture
def page(local_server, tmp_path, monkeypatch) -> Page:
    graph = local_server()
    graph.route("GET", f"{V}/{PAGE}/feed", json_answer({"data": [{
        "id": POST, "created_time": graph_time(120), "updated_time": graph_time(5),
        "permalink_url": f"https://www.facebook.com/{PAGE}/posts/822001"}]}))
    graph.route("GET", f"{V}/{POST}/comments", json_answer({"data": [
        {"id": "822001_1", "message": KIND, "created_time": graph_time(30),
         "from": {"id": "555", "name": "Amy Cole"}},
        {"id": "822001_2", "message": THREAT, "created_time": graph_time(10),
         "from": {"id": "556", "name": "D Foley"}},
        {"id": "822001_3", "message": DISCLOSURE, "created_time": graph_time(8),
         "from": {"id": "557", "name": "Sam Reid"},
         "permalink_url": f"https://www.facebook.com/{PAGE}/posts/822001?comment_id=3"},
    ]}))
    # Hiding works; deleting is refused by the Page (no DELETE route at all would be a 404).
    graph.route("POST", f"{V}/822001_2", json_answer({"success": True}))
    graph.route("POST", f"{V}/822001_1", json_answer({"success": True}))
    graph.route("DELETE", f"{V}/822001_3", json_answer(GRAPH_ERROR, status=403))
    monkeypatch.setenv("FB_TOKEN", "EAAB-page-token")
    path = write_graph_config(tmp_path, graph.url, PAGE, roles=("digital_champion", "dsl"),
                              extra_school='timezone = "Australia/Sydney"')
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        ids = {item.external_id: item.id for item in session.scalars(select(models.Item))}
    return Page(graph, path, config, sessions, ids["822001_1"], ids["822001_2"],
                ids["822001_3"])


def entries(sessions) -> list[models.EvidenceRecord]:
    with sessions() as session:
        return list(session.scalars(select(models.EvidenceRecord)
                                    .order_by(models.EvidenceRecord.seq)))


def build_chain(page: Page) -> list[models.EvidenceRecord]:
    """Everything that adds to the chain: alerts (the poll), a hide that works, a delete the
    platform refuses, and the threat's incident acknowledged and resolved."""
    take_action(page.config, page.sessions, "hide", page.threat, "champion@school")
    take_action(page.config, page.sessions, "delete", page.disclosure, "dsl@school")
    threat_incident = page.incident_of(page.threat)
    incidents.acknowledge(page.sessions, threat_incident, "dsl@school")
    incidents.resolve(page.sessions, threat_incident, "dsl@school", "hidden")
    return entries(page.sessions)


def verify_cli(page: Page, capsys, *args: str) -> tuple[int, str]:
    try:
        main(["evidence", "verify", "--config", str(page.path), *args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().out


def test_a_chain_built_by_the_pipeline_actions_and_incident_steps_verifies(page, capsys):
    found = build_chain(page)
    described = [(e.kind, (e.content.get("reason") or e.content.get("action")), e.item_id)
                 for e in found]
    assert described == [
        ("item", "alerted urgent", page.threat),
        ("item", "alerted urgent", page.disclosure),
        ("item", "before hide", page.threat),
        ("step", "hide", page.threat),
        ("item", "before delete", page.disclosure),
        ("step", "delete", page.disclosure),
        ("step", "acknowledge", None),
        ("step", "resolve", None),
    ]
    assert [e.seq for e in found] == list(range(1, 9))
    assert found[3].content["ok"] is True and found[5].content["ok"] is False
    assert found[0].prev_hash == chain.GENESIS
    assert all(later.prev_hash == earlier.entry_hash for earlier, later in pairwise(found))
    with page.sessions() as session:
        report = chain.verify_school(session, "oakfield")
    assert (report.entries, report.removed, report.head, report.broken) == (
        8, 0, found[-1].entry_hash, None)
    code, out = verify_cli(page, capsys)
    assert code == 0
    assert out.splitlines() == [
        f"school oakfield: 8 entries, 0 with content removed, head {found[-1].entry_hash}",
        "  intact"]


def _edit(sessions) -> None:
    with sessions.begin() as session:
        row = session.scalars(select(models.EvidenceRecord)
                              .where(models.EvidenceRecord.seq == 3)).one()
        content = dict(row.content)
        content["item"] = {**content["item"], "text": "see you at the gates"}
        row.content = content


def _delete(sessions) -> None:
    with sessions.begin() as session:
        session.execute(delete(models.EvidenceRecord).where(models.EvidenceRecord.seq == 3))


def _swap(sessions) -> None:
    """Entries 3 and 4 change places (through a free number: seq is unique per school)."""
    record = models.EvidenceRecord
    with sessions.begin() as session:
        for old, new in ((3, 0), (4, 3), (0, 4)):
            session.execute(update(record).where(record.seq == old).values(seq=new))


@pytest.mark.parametrize(("tamper", "named"), [
    (_edit, "school oakfield, entry 3: its content does not match its SHA-256 (it was edited)"),
    (_delete, "school oakfield, entry 3: missing: the chain goes from 2 to 4"),
    (_swap, "school oakfield, entry 3: its link to the entry before does not match"),
], ids=["edited", "deleted", "reordered"])
def test_tampering_with_an_entry_is_found_and_the_first_broken_entry_named(page, capsys,
                                                                           tamper, named):
    build_chain(page)
    tamper(page.sessions)
    code, out = verify_cli(page, capsys)
    assert code == 1
    [broken] = [line for line in out.splitlines() if "BROKEN" in line]
    assert broken.startswith(f"  BROKEN: {named}")
    code, out = verify_cli(page, capsys, "--school", "oakfield")
    assert code == 1 and named in out


def test_content_removed_without_a_removal_entry_is_tampering_but_with_one_is_not(page,
                                                                                  capsys):
    build_chain(page)
    record = models.EvidenceRecord
    with page.sessions.begin() as session:
        session.execute(update(record).where(record.seq == 1).values(content=None))
    code, out = verify_cli(page, capsys)
    assert code == 1
    assert "entry 1: its content is gone and no removal entry accounts for it" in out
    with page.sessions.begin() as session:
        chain.remove_content(session, "oakfield", [1, 2], "retention",
                             now=datetime.now(UTC))
    code, out = verify_cli(page, capsys)
    assert code == 0
    assert "9 entries, 2 with content removed" in out and "intact" in out


def test_verify_says_when_nothing_is_recorded_and_refuses_an_unknown_school(tmp_path, capsys):
    write_replay(tmp_path / "fb", ["what time is pick up?"])
    path = write_config(tmp_path)
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    main(["evidence", "verify", "--config", str(path)])
    assert capsys.readouterr().out.strip() == "no evidence recorded yet"
    with pytest.raises(SystemExit) as info:
        main(["evidence", "verify", "--school", "elmwood", "--config", str(path)])
    assert info.value.code == 2
    assert "unknown school 'elmwood'" in capsys.readouterr().err


def test_verify_of_something_that_is_not_a_folder_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["evidence", "verify", str(tmp_path / "nowhere")])
    assert info.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "is not a folder" in line


def test_evidence_list_shows_each_entry_and_whether_its_content_is_still_kept(page, capsys):
    build_chain(page)
    main(["evidence", "list", "--incident", str(page.incident_of(page.threat)),
          "--config", str(page.path)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["school", "seq", "kind", "recorded", "item", "incident",
                                "content", "what"]
    rows = lines[2:]
    assert [row.split()[1] for row in rows] == ["1", "3", "4", "7", "8"]
    assert "alerted urgent: \"I'll be waiting at the gates for that t…\"" in rows[0]
    assert "hide by champion@school" in rows[2]
    assert all(" kept " in row for row in rows)


def test_two_writers_at_once_never_share_a_number_or_fork_the_chain(database, tmp_path):
    write_replay(tmp_path / "fb", ["what time is pick up?"])
    config = load(write_config(tmp_path))
    engine, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    each = 25
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            start.wait(timeout=10)
            for number in range(each):
                with sessions.begin() as session:
                    chain.append(session, "oakfield", "step",
                                 {"action": "note", "actor": name, "n": number},
                                 now=datetime.now(UTC))
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    found = entries(sessions)
    assert [e.seq for e in found] == list(range(1, 2 * each + 1))
    assert len({e.prev_hash for e in found}) == len(found)  # no two entries follow the same one
    with sessions() as session:
        assert chain.verify_school(session, "oakfield").broken is None
    engine.dispose()


def test_content_removed_once_is_not_removed_or_counted_again(page):
    build_chain(page)
    record = models.EvidenceRecord
    with page.sessions.begin() as session:
        first = chain.remove_content(session, "oakfield", [1, 2], "retention",
                                     now=datetime.now(UTC))
        entries = chain.count(session, "oakfield")
    with page.sessions.begin() as session:
        again = chain.remove_content(session, "oakfield", [1, 2], "erasure",
                                     now=datetime.now(UTC))
        assert chain.count(session, "oakfield") == entries  # no second removal entry
        assert session.scalar(select(record.content).where(record.seq == 1)) is None
        assert chain.verify_school(session, "oakfield").broken is None
    assert (first, again) == (2, 0)
