"""Incidents by harm: a threat, a safeguarding concern, a pupil's personal data and hostility never
share an incident; hostility on one thread piles on into one, and one author's hostility across
threads within a day is one campaign. Comments are fed through the pipeline from replayed
Facebook pages."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from classifiers import Verdict
from monitor import alerts, incidents, models
from monitor.classify import ClassifierCache
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import graph_comment, graph_feed_page, write_config, write_replay

DISCLOSURE = "my friend says her stepdad hits her and she's scared to go home"
ABUSE = "you are all useless c*nts"
THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"
RECIPIENTS = {"dsl": ["console://"], "head": ["console://"], "digital_champion": ["console://"]}

pytestmark = pytest.mark.usefixtures("database")


def verdict(*categories: str) -> Verdict:
    return Verdict(scores=dict.fromkeys(categories, 0.95), categories=categories,
                   reasons={c: (f'rule: {c} "phrase"',) for c in categories},
                   model_version="test")


class FixedVerdicts:
    """A classifier that reads the categories off the comment: "[abusive,personal_data] …"."""

    version = "test"
    degraded = None

    def predict(self, texts):
        found = []
        for text in texts:
            categories = text[1:text.index("]")].split(",") if text.startswith("[") else []
            found.append(verdict(*categories))
        return found


@pytest.fixture
def fixed_verdicts(monkeypatch):
    monkeypatch.setattr(ClassifierCache, "for_school",
                        lambda self, school, session=None: FixedVerdicts())


def poll(tmp_path):
    config = load(write_config(tmp_path, RECIPIENTS))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    return config, sessions


def all_incidents(sessions) -> list[models.Incident]:
    with sessions() as session:
        return list(session.scalars(select(models.Incident).order_by(models.Incident.id)))


def item_alerts(sessions) -> list[models.Alert]:
    with sessions() as session:
        return list(session.scalars(select(models.Alert)
                                    .where(models.Alert.kind.in_(alerts.ABOUT_ITEMS))
                                    .order_by(models.Alert.id)))


def texts_of(sessions, incident_id: int) -> list[str]:
    with sessions() as session:
        return [item.text for item in incidents.items(session, incident_id)]


def write_comments(folder, comments) -> None:
    """One replayed page per (post, comment number, author, text, time)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, (post, number, author, text, at) in enumerate(comments, start=1):
        page = graph_feed_page(post, [graph_comment(f"{post}_{number}", text, at, author)],
                               last=index == len(comments))
        (folder / f"{index:03d}.json").write_text(json.dumps(page), encoding="utf-8")


def test_a_disclosure_and_an_abusive_comment_on_one_thread_are_two_incidents(tmp_path):
    write_replay(tmp_path / "fb", [DISCLOSURE, ABUSE])
    _, sessions = poll(tmp_path)
    disclosure, abuse = all_incidents(sessions)
    assert (disclosure.harm, abuse.harm) == ("safeguarding", "hostility")
    assert texts_of(sessions, disclosure.id) == [DISCLOSURE]
    assert texts_of(sessions, abuse.id) == [ABUSE]
    assert "abusive" not in disclosure.categories and "safeguarding" not in abuse.categories
    assert [a.incident_id for a in item_alerts(sessions)] == [disclosure.id, abuse.id]

    incidents.acknowledge(sessions, disclosure.id, "dsl@oakfield")
    statuses = {i.harm: i.status for i in all_incidents(sessions)}
    assert statuses == {"safeguarding": "acknowledged", "hostility": "open"}


def test_a_threat_and_a_hostile_comment_on_one_thread_never_share(tmp_path):
    write_replay(tmp_path / "fb", [THREAT, ABUSE, "you lot are a disgrace, useless idiots"])
    _, sessions = poll(tmp_path)
    threat, hostility = all_incidents(sessions)
    assert (threat.harm, threat.severity, threat.categories) == ("threat", "urgent", ["threat"])
    assert hostility.harm == "hostility" and hostility.item_count == 2
    assert texts_of(sessions, threat.id) == [THREAT]


def test_an_item_with_several_harms_joins_its_most_severe_ones_incident(tmp_path,
                                                                         fixed_verdicts):
    write_replay(tmp_path / "fb", [
        "[abusive] first", "[safeguarding] second", "[personal_data] third",
        "[threat] fourth",
        "[abusive,personal_data] insult naming a pupil",
        "[safeguarding,threat] threat and disclosure",
        "[disparaging,safeguarding] allegation about staff",
    ], per_page=10)
    _, sessions = poll(tmp_path)
    by_harm = {i.harm: texts_of(sessions, i.id) for i in all_incidents(sessions)}
    assert by_harm == {
        "hostility": ["[abusive] first"],
        "safeguarding": ["[safeguarding] second", "[disparaging,safeguarding] allegation about "
                                                  "staff"],
        "personal_data": ["[personal_data] third", "[abusive,personal_data] insult naming a "
                                                   "pupil"],
        "threat": ["[threat] fourth", "[safeguarding,threat] threat and disclosure"],
    }
    # Each of those was told: only hostility folds into a pile-on.
    assert len(item_alerts(sessions)) == 7


def test_hostility_on_one_thread_piles_on_while_each_threat_gets_its_own_alert(tmp_path,
                                                                             fixed_verdicts):
    hostile = [f"[{c}] comment {n}" for n, c in
               enumerate(["abusive", "hateful", "disparaging", "abusive", "abusive"] * 2)]
    threats = [f"[threat] threat {n}" for n in range(4)]
    write_replay(tmp_path / "fb", hostile[:5] + threats + hostile[5:], per_page=4)
    _, sessions = poll(tmp_path)
    pile_on, threat = sorted(all_incidents(sessions), key=lambda i: i.harm)
    assert (pile_on.harm, pile_on.item_count, pile_on.severity) == ("hostility", 10, "high")
    assert (threat.harm, threat.item_count) == ("threat", 4)
    by_incident: dict[int, list[str]] = {}
    for alert in item_alerts(sessions):
        by_incident.setdefault(alert.incident_id, []).append(alert.kind)
    # Two alerted one by one, the pile-on at three, an update at ten; every threat on its own.
    assert by_incident[pile_on.id] == ["item", "item", "update", "update"]
    assert by_incident[threat.id] == ["item"] * 4


def test_one_authors_hostility_on_three_threads_within_a_day_is_one_campaign(tmp_path,
                                                                            fixed_verdicts):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
    write_comments(tmp_path / "fb", [
        (1, 1, 7, "[abusive] on the first post", start),
        (1, 2, 3, "[abusive] someone else agrees", start + timedelta(minutes=5)),
        (2, 3, 7, "[hateful] on the second post", start + timedelta(hours=6)),
        (3, 4, 7, "[abusive] on the third post", start + timedelta(hours=18)),
        (3, 5, 7, "[threat] and a threat", start + timedelta(hours=18, minutes=1)),
    ])
    _, sessions = poll(tmp_path)
    found = all_incidents(sessions)
    [campaign] = [i for i in found if i.key.startswith("campaign:")]
    assert campaign.harm == "hostility" and campaign.item_count == 3
    assert texts_of(sessions, campaign.id) == [
        "[abusive] on the first post", "[hateful] on the second post",
        "[abusive] on the third post"]
    assert set(campaign.categories) == {"abusive", "hateful"}
    # The pile-on of the first post by several people stays, the threat stays apart.
    others = {i.harm: texts_of(sessions, i.id) for i in found if i.id != campaign.id}
    assert others == {"hostility": ["[abusive] on the first post",
                                    "[abusive] someone else agrees"],
                      "threat": ["[threat] and a threat"]}
    told = item_alerts(sessions)
    with sessions() as session:
        about = {a.id: session.get(models.Item, a.item_id).text for a in told}
    # Every comment told once; the one that made the campaign is told as part of it.
    assert sorted(about.values()) == sorted([
        "[abusive] on the first post", "[abusive] someone else agrees",
        "[hateful] on the second post", "[abusive] on the third post", "[threat] and a threat"])
    [second] = [a for a in told if about[a.id] == "[hateful] on the second post"]
    assert second.incident_id == campaign.id and second.kind == "item"
    assert second.details["incident"]["campaign"] is True and "campaign" in second.body.lower()


def test_a_lone_authors_thread_incident_becomes_the_campaign_keeping_its_trail(tmp_path,
                                                                              fixed_verdicts):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    write_comments(tmp_path / "fb", [(1, 1, 7, "[abusive] first post", start)])
    config, sessions = poll(tmp_path)
    [first] = all_incidents(sessions)
    incidents.add_note(sessions, first.id, "champion", "watching this one")
    write_comments(tmp_path / "fb", [
        (1, 1, 7, "[abusive] first post", start),
        (2, 2, 7, "[abusive] second post", start + timedelta(minutes=30))])
    Daemon(config, sessions).poll_once()
    [campaign] = all_incidents(sessions)
    assert campaign.id == first.id and campaign.key.startswith("campaign:")
    assert campaign.item_count == 2
    with sessions() as session:
        assert [a.action for a in incidents.trail(session, campaign.id)] == ["note"]
    assert [a.incident_id for a in item_alerts(sessions)] == [campaign.id, campaign.id]


def test_hostility_by_one_author_more_than_a_day_apart_is_no_campaign(tmp_path,
                                                                      fixed_verdicts):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=60)
    write_comments(tmp_path / "fb", [
        (post, post, 7, f"[abusive] post {post}", start + timedelta(hours=25 * (post - 1)))
        for post in (1, 2, 3)])
    _, sessions = poll(tmp_path)
    found = all_incidents(sessions)
    assert len(found) == 3
    assert not any(i.key.startswith("campaign:") for i in found)
    assert [i.item_count for i in found] == [1, 1, 1]


def test_only_threat_and_safeguarding_incidents_are_escalated(tmp_path, fixed_verdicts):
    write_replay(tmp_path / "fb", ["[abusive] a", "[personal_data] b", "[safeguarding] c"])
    config, sessions = poll(tmp_path)
    later = datetime.now(UTC) + timedelta(hours=1)
    assert incidents.escalate_due(config, sessions, later) == 1
    with sessions() as session:
        [reminder] = session.scalars(select(models.Alert)
                                     .where(models.Alert.kind == "escalation")).all()
        assert session.get(models.Incident, reminder.incident_id).harm == "safeguarding"
