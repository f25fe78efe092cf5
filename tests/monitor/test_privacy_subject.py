"""People's rights: `hallmonitor privacy find|export|erase` on data the real pipeline wrote.

After an erasure, every table (every column, JSON included, raw payloads too) is searched for
the person's id, handle and name: nothing is left except what belongs to the incident under
evidence hold and the active watchlist entry, both of which the erasure names.
"""

from __future__ import annotations

import json
import logging
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor import incidents, models
from monitor.cli import cli
from monitor.config import load
from monitor.daemon import Daemon, open_database
from monitor.evidence import chain
from monitor.evidence import record as evidence
from monitor.privacy import erasure, holdings
from tests.builders import START

pytestmark = pytest.mark.usefixtures("database")

SCHOOL = "oakfield"
X_ACCOUNT = "1500000001"
# The person asking: their handle as stored, and as they might give it.
JAY = {"id": "1611111111111111111", "username": "JDoe_99", "name": "Jay Doe"}
SAM = {"id": "1622222222222222222", "username": "sam_parent", "name": "Sam Parent"}
THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"
ABUSE = "you are all useless c*nts"
ABUSE_AGAIN = "you are all useless idiots and c*nts, every one of you"
QUESTION = "what time is pick up on the last friday of term?"
SAFEGUARDING = "my friend says her stepdad hits her and she's scared to go home"
PRAISE = "Lovely nativity this morning, thank you Miss Patel!"
MENTION = "@JDoe_99 you should be ashamed of yourself"

CONFIG = """\
[daemon]
data_dir = "data"

[[schools]]
id = "oakfield"
name = "Oakfield Primary School"

[[schools.accounts]]
platform = "replay"
account = "1500000001"
kinds = ["mentions"]
poll_interval = "1s"
settings = { path = "x", as_platform = "x", handle = "OakfieldPS" }

[[schools.recipients]]
role = "digital_champion"
urls = ["console://"]

[[schools.recipients]]
role = "dsl"
urls = ["console://"]

[[schools.recipients]]
role = "head"
urls = ["console://"]
"""


def tweet(number: int, author: dict, text: str, thread: int) -> dict:
    return {"id": f"17000000000000000{number:02d}", "text": f"@OakfieldPS {text}",
            "author_id": author["id"], "conversation_id": f"16900000000000000{thread:02d}",
            "created_at": (START + timedelta(minutes=number)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}


def write_x_replay(folder: Path) -> None:
    tweets = [tweet(1, JAY, THREAT, 1), tweet(2, JAY, ABUSE, 2), tweet(3, JAY, QUESTION, 3),
              tweet(4, SAM, SAFEGUARDING, 4), tweet(5, SAM, PRAISE, 5),
              tweet(6, JAY, ABUSE_AGAIN, 6), tweet(7, SAM, MENTION, 7)]
    folder.mkdir(parents=True, exist_ok=True)
    page = {"data": list(reversed(tweets)),
            "includes": {"users": [JAY, SAM]},
            "meta": {"result_count": len(tweets)}}
    (folder / "001.json").write_text(json.dumps(page), encoding="utf-8")


def run(*args: str):
    return CliRunner().invoke(cli, ["privacy", *args])


@pytest.fixture
def school(tmp_path, monkeypatch):
    """Oakfield after one poll of Jay's and Sam's posts (the pipeline keeping the serious ones in
    the evidence chain), a hide of Jay's abuse, the threat's incident under evidence hold, both
    of them following the school's account, Jay on IT's watchlist (one entry active, one
    removed), a digest and a follower report quoting Jay."""
    monkeypatch.chdir(tmp_path)
    write_x_replay(tmp_path / "x")
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    config = load(path)
    _, sessions = open_database(config)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.add(models.School(id=SCHOOL, name="Oakfield Primary School"))
        session.flush()
        active = models.WatchlistEntry(school_id=SCHOOL, platform="x", account_id=JAY["id"],
                                       handle="JDoe_99", reason="threatened the head",
                                       added_by="jo.it", added_at=now - timedelta(days=3))
        old = models.WatchlistEntry(school_id=SCHOOL, platform="x", account_id=JAY["id"],
                                    reason="spam last year", added_by="jo.it",
                                    added_at=now - timedelta(days=400),
                                    removed_at=now - timedelta(days=30), removed_by="jo.it")
        session.add_all([active, old])
    Daemon(config, sessions).poll_once()
    with sessions.begin() as session:
        items = {row.text.removeprefix("@OakfieldPS "): row
                 for row in session.scalars(select(models.Item))}
        assert set(items) == {THREAT, ABUSE, QUESTION, SAFEGUARDING, PRAISE, ABUSE_AGAIN,
                              MENTION}
        threat_incident = session.scalar(select(models.IncidentItem.incident_id).where(
            models.IncidentItem.item_id == items[THREAT].id))
        abuse_incident = session.scalar(select(models.IncidentItem.incident_id).where(
            models.IncidentItem.item_id == items[ABUSE].id))
        assert threat_incident and abuse_incident and threat_incident != abuse_incident
        hide = models.Action(item_id=items[ABUSE].id, incident_id=abuse_incident, action="hide",
                             actor="jo", ok=True, result="hidden", created_at=now)
        session.add(hide)
        session.flush()
        # The pipeline kept the urgent and high items in the chain; the hide joins them.
        evidence.record_step(session, hide, SCHOOL, now=now)
        session.add(models.Feedback(item_id=items[QUESTION].id, school_id=SCHOOL,
                                    categories=["question"], corrected_by="jo"))
        source = models.Source(key=f"{SCHOOL}/x/{X_ACCOUNT}/followers", school_id=SCHOOL,
                               platform="x", item_platform="x", kind="followers",
                               account=X_ACCOUNT, settings={"handle": "OakfieldPS"},
                               name="Oakfield on X")
        session.add(source)
        session.flush()
        for person, screening in ((JAY, {"concern": True, "signals": ["young account"]}),
                                  (SAM, None)):
            follower = models.Follower(source_id=source.id, platform="x",
                                       account_id=person["id"], handle=person["username"],
                                       name=person["name"], bio="parent", followed_at=now,
                                       screening=screening)
            session.add(follower)
            session.flush()
            session.add(models.FollowerEvent(follower_id=follower.id, kind="handle_change",
                                             at=now, detail={"from": "old_handle",
                                                             "to": person["username"]}))
        session.add(models.PaidRead(platform="x", resource=f"user:{JAY['id']}", day="2026-12-01",
                                    source_id=source.id))
        session.add(models.Alert(
            dedupe_key="digest:oakfield:week", school_id=SCHOOL, kind="digest", severity="low",
            title="Weekly digest", body=f"Complaints: “{ABUSE}”",
            details={"digest": {"html": f"<p>&ldquo;{ABUSE}&rdquo;</p>",
                                "markdown": f"> {ABUSE}"}}))
        session.add(models.Alert(
            dedupe_key="follower_report:oakfield:week", school_id=SCHOOL,
            kind="follower_report", severity="normal", title="Followers",
            body="New: @JDoe_99", details={"digest": {"html": "<p>@JDoe_99</p>"}}))
        session.add(models.Alert(
            dedupe_key="digest:oakfield:other", school_id=SCHOOL, kind="digest", severity="low",
            title="Weekly digest", body=f"Praise: “{PRAISE}”", details={}))
    incidents.hold(sessions, threat_incident, "head", "police asked for it")
    return config, path, sessions, {t: r.id for t, r in items.items()}, threat_incident, \
        active.id


def every_row(sessions) -> list[tuple[str, dict]]:
    """Every row of every table, each column as text (JSON as written)."""
    rows = []
    with sessions() as session:
        for table in models.Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                rows.append((table.name, {k: json.dumps(v, default=str, ensure_ascii=False)
                                          if isinstance(v, dict | list) else str(v)
                                          for k, v in row.items()}))
    return rows


def naming_jay(text: str) -> bool:
    lowered = text.lower()
    return any(needle in lowered for needle in (JAY["id"], "jdoe_99", "jay doe"))


def held_rows(sessions, incident_id: int, watch_id: int) -> set[tuple[str, str]]:
    """(table, id) of the rows the erasure keeps: the held incident's own, the active
    watchlist entry."""
    with sessions() as session:
        items = set(session.scalars(select(models.IncidentItem.item_id).where(
            models.IncidentItem.incident_id == incident_id)))
        alerts = set(session.scalars(select(models.Alert.id).where(
            (models.Alert.incident_id == incident_id) | models.Alert.item_id.in_(items))))
        evidence = set(session.scalars(select(models.EvidenceRecord.id).where(
            (models.EvidenceRecord.incident_id == incident_id)
            | models.EvidenceRecord.item_id.in_(items))))
        actions = set(session.scalars(select(models.Action.id).where(
            models.Action.incident_id == incident_id)))
    kept = {("incident", str(incident_id)), ("watchlist_entry", str(watch_id))}
    kept |= {("item", str(i)) for i in items} | {("alert", str(a)) for a in alerts}
    kept |= {("evidence_record", str(e)) for e in evidence}
    kept |= {("action", str(a)) for a in actions}
    return kept


def test_erasure_leaves_nothing_of_the_person_outside_held_evidence(school, caplog):
    config, path, sessions, items, held, watch_id = school
    caplog.set_level(logging.DEBUG)
    before = {name: row for name, row in every_row(sessions) if naming_jay(json.dumps(row))}
    assert {"item", "alert", "evidence_record", "follower", "follower_event", "watchlist_entry",
            "paid_read", "incident"} <= set(before), "the data to erase is not all there"
    with sessions() as session:
        sam_before = {r.id: (r.text, r.raw, r.author_handle)
                      for r in session.scalars(select(models.Item).where(
                          models.Item.author_id == SAM["id"]))}
        sam_follower = session.scalar(select(models.Follower.id).where(
            models.Follower.account_id == SAM["id"]))

    result = run("erase", "--author", "@jdoe_99", "--config", str(path), "--yes",
                 "--actor", "dpo")
    assert result.exit_code == 0, result.output
    assert f"incident #{held} is under evidence hold (held by head" in result.output
    assert "police asked for it" in result.output
    assert f"watchlist entry #{watch_id}" in result.output
    logged = [r.getMessage() for r in caplog.records]
    assert any("erasure" in line and "items 3" in line for line in logged)
    assert not any(naming_jay(line) for line in logged)

    kept = held_rows(sessions, held, watch_id)
    left = [(name, row.get("id", row)) for name, row in every_row(sessions)
            if naming_jay(json.dumps(row)) and (name, row.get("id")) not in kept]
    assert left == []

    with sessions() as session:
        # The held incident's threat is still there, whole; the rest of Jay's posts are gone.
        assert session.get(models.Item, items[THREAT]) is not None
        for text in (ABUSE, QUESTION, ABUSE_AGAIN):
            assert session.get(models.Item, items[text]) is None
        # Sam's posts are untouched, except that the mention of Jay is taken out of one.
        sam_after = {r.id: (r.text, r.raw, r.author_handle)
                     for r in session.scalars(select(models.Item).where(
                         models.Item.author_id == SAM["id"]))}
        assert set(sam_after) == set(sam_before)
        for item_id, values in sam_after.items():
            if item_id == items[MENTION]:
                assert values[0] == "@OakfieldPS @[removed] you should be ashamed of yourself"
            else:
                assert values == sam_before[item_id]
        assert session.get(models.Follower, sam_follower) is not None
        assert session.get(models.Item, items[SAFEGUARDING]).verdict is not None
        sam_evidence = session.scalar(select(models.EvidenceRecord).where(
            models.EvidenceRecord.item_id == items[SAFEGUARDING]))
        assert sam_evidence.content is not None
        praise = session.scalar(select(models.Alert).where(
            models.Alert.dedupe_key == "digest:oakfield:other"))
        assert PRAISE in praise.body
        # The digest that quoted Jay says why it is empty; it still says it was sent.
        digest = session.scalar(select(models.Alert).where(
            models.Alert.dedupe_key == "digest:oakfield:week"))
        assert digest.body == erasure.ERASED_TEXT and digest.details is None
        # The chain still verifies, and says content was removed.
        report = chain.verify_school(session, SCHOOL)
        assert report.broken is None and report.removed >= 2
        removal = session.scalars(select(models.EvidenceRecord).where(
            models.EvidenceRecord.kind == chain.REMOVAL)).one()
        assert removal.content["reason"] == "erasure"
        # That an erasure happened, by whom, with counts only.
        [record] = session.scalars(select(models.DataRemoval))
        assert record.kind == "erasure" and record.by == "dpo"
        assert record.counts["items"] == 3 and record.counts["followers"] == 1
        assert record.counts["watchlist"] == 1 and record.counts["evidence"] >= 2
        assert not naming_jay(json.dumps(record.counts))


def test_a_subject_access_export_holds_their_items_and_no_one_elses(school, tmp_path):
    config, path, sessions, items, held, watch_id = school
    out = tmp_path / "jay.json"
    result = run("export", "--author", "JDOE_99", "--platform", "x", "--out", str(out),
                 "--config", str(path))
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text(encoding="utf-8"))
    texts = {i["text"].removeprefix("@OakfieldPS ") for i in exported["items"]}
    assert texts == {THREAT, ABUSE, QUESTION, ABUSE_AGAIN}
    assert [m["id"] for m in exported["mentions_by_others"]] == [items[MENTION]]
    threat = next(i for i in exported["items"] if i["id"] == items[THREAT])
    assert threat["under_evidence_hold"] is True
    assert "threat" in threat["why_flagged"]["categories"]
    assert set(threat["who_was_told"]) >= {"dsl", "digital_champion"}
    assert threat["raw_payload"]["author_id"] == JAY["id"]
    abuse = next(i for i in exported["items"] if i["id"] == items[ABUSE])
    assert [a["action"] for a in abuse["what_was_done"]] == ["hide"]
    threat_evidence = [e["under_evidence_hold"] for e in exported["evidence"]
                       if e["item"] == items[THREAT]]
    assert threat_evidence and all(threat_evidence)
    assert any(e["item"] == items[ABUSE] and not e["under_evidence_hold"]
               for e in exported["evidence"])
    assert exported["followers"][0]["screening"]["concern"] is True
    assert {w["active"] for w in exported["watchlist"]} == {True, False}
    assert "30 days" in exported["retention"]["raw_payloads"]
    assert "365 days" in exported["retention"]["flagged_items"]
    text = out.read_text(encoding="utf-8")
    assert SAFEGUARDING not in text and PRAISE not in text
    assert "console://" not in text  # who was told is roles, never addresses


def test_find_lists_what_is_held_and_erase_asks_first(school):
    config, path, sessions, items, held, watch_id = school
    found = run("find", "--author", "@JDOE_99", "--config", str(path))
    assert found.exit_code == 0, found.output
    assert "Items they wrote: 4" in found.output and "Followers: 1" in found.output
    assert f"#{held}" in found.output

    refused = run("erase", "--author", "jdoe_99", "--config", str(path))
    assert refused.exit_code == 1
    assert "--yes" in refused.output
    with sessions() as session:
        assert session.get(models.Item, items[ABUSE]) is not None
        assert session.scalars(select(models.DataRemoval)).first() is None


def test_someone_nothing_is_held_about(school):
    config, path, *_ = school
    found = run("find", "--author", "@nobody_here", "--config", str(path))
    assert found.exit_code == 0 and "nothing is held about 'nobody_here'" in found.output
    erased = run("erase", "--author", "@nobody_here", "--config", str(path), "--yes")
    assert erased.exit_code == 1 and "nothing to erase" in erased.output


def test_an_id_finds_the_same_person_as_the_handle(school):
    config, path, sessions, items, held, watch_id = school
    with sessions() as session:
        by_id = holdings.find(session, config, JAY["id"])
        by_handle = holdings.find(session, config, "@jDoe_99")
    assert [i.id for i in by_id.items] == [i.id for i in by_handle.items]
    assert len(by_id.items) == 4 and not by_id.ambiguous


def test_a_handle_on_two_platforms_asks_which(school):
    config, path, sessions, items, held, watch_id = school
    with sessions.begin() as session:
        source_id = session.scalar(select(models.Source.id).where(models.Source.kind == "mentions"))
        session.add(models.Item(platform="instagram", external_id="ig-1", source_id=source_id,
                                school_id=SCHOOL, kind="comment", author_id="4455",
                                author_handle="jdoe_99", text="nice", created_at=START))
        # Someone else on Instagram whose handle and id the platform did not give.
        session.add(models.Item(platform="instagram", external_id="ig-2", source_id=source_id,
                                school_id=SCHOOL, kind="comment", text="lovely day",
                                created_at=START))
    found = run("find", "--author", "jdoe_99", "--config", str(path))
    assert found.exit_code == 0
    assert "Instagram: @jdoe_99" in found.output and "X: @jdoe_99" in found.output
    assert "give --platform" in found.output
    refused = run("erase", "--author", "jdoe_99", "--config", str(path), "--yes")
    assert refused.exit_code == 2 and "--platform" in refused.output
    narrowed = run("erase", "--author", "jdoe_99", "--platform", "instagram", "--config",
                   str(path), "--yes")
    assert narrowed.exit_code == 0, narrowed.output
    with sessions() as session:
        left = set(session.scalars(select(models.Item.external_id).where(
            models.Item.platform == "instagram")))
        assert left == {"ig-2"}
        assert session.get(models.Item, items[ABUSE]) is not None


def test_describe_prints_or_writes_the_dpia_text(school, tmp_path):
    config, path, *_ = school
    printed = run("describe", "--config", str(path))
    assert printed.exit_code == 0, printed.output
    assert "Oakfield Primary School" in printed.output
    out = tmp_path / "dpia.html"
    written = run("describe", "--config", str(path), "--format", "html", "--out", str(out))
    assert written.exit_code == 0, written.output
    assert f"wrote {out}" in written.output
    page = out.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "Oakfield" in page


def test_an_account_without_a_handle_is_erased_by_its_id_alone(school):
    """Facebook gives no handles: erasing one author by id leaves other handle-less authors."""
    config, path, sessions, *_ = school
    with sessions.begin() as session:
        source_id = session.scalar(select(models.Source.id).where(models.Source.kind == "mentions"))
        for number, author in ((1, "9001"), (2, "9002")):
            session.add(models.Item(platform="facebook", external_id=f"fb-{number}",
                                    source_id=source_id, school_id=SCHOOL, kind="comment",
                                    author_id=author, author_name=f"Parent {number}",
                                    text=f"comment {number}", created_at=START))
    erased = run("erase", "--author", "9001", "--config", str(path), "--yes")
    assert erased.exit_code == 0, erased.output
    with sessions() as session:
        left = set(session.scalars(select(models.Item.external_id).where(
            models.Item.platform == "facebook")))
    assert left == {"fb-2"}
