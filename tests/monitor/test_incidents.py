from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from monitor import feedback, incidents, models
from monitor.cli import incidents as cli_incidents
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def school(tmp_path):
    write_replay(tmp_path / "fb", [THREAT, "you are a useless idiot"])
    path = write_config(tmp_path, {"dsl": ["console://"], "head": ["json://localhost/head"],
                                   "digital_champion": ["console://"]})
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    return path, config, sessions


def escalations(sessions) -> list[models.Alert]:
    with sessions() as session:
        rows = list(session.scalars(select(models.Alert).where(models.Alert.kind == "escalation")
                                    .order_by(models.Alert.id)))
        for row in rows:
            _ = row.deliveries
        return rows


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_an_unacknowledged_threat_is_escalated_to_the_dsl_and_head_twice_then_left(school):
    _, config, sessions = school
    assert incidents.escalate_due(config, sessions, later(10)) == 0
    assert incidents.escalate_due(config, sessions, later(31)) == 1
    assert incidents.escalate_due(config, sessions, later(45)) == 0
    assert incidents.escalate_due(config, sessions, later(121)) == 1
    assert incidents.escalate_due(config, sessions, later(600)) == 0
    first, _second = escalations(sessions)
    assert "NOT YET ACKNOWLEDGED" in first.title
    assert "hallmonitor incidents ack" in first.body
    assert sorted(r for d in first.deliveries for r in d.roles) == ["dsl", "head"]


def test_acknowledging_stops_the_escalation_and_is_audited(school, capsys):
    path, config, sessions = school
    main(["incidents", "ack", "1", "--by", "dsl@school", "--config", str(path)])
    assert "incident 1 acknowledged by dsl@school" in capsys.readouterr().out
    assert incidents.escalate_due(config, sessions, later(300)) == 0
    with sessions() as session:
        action = session.scalars(select(models.Action)).one()
        assert (action.incident_id, action.action, action.actor) == (1, "acknowledge",
                                                                     "dsl@school")
        incident = session.get(models.Incident, 1)
        assert incident.status == "acknowledged" and incident.acknowledged_by == "dsl@school"


def test_a_new_threat_on_an_acknowledged_thread_needs_acknowledging_again(school, tmp_path):
    _, config, sessions = school
    incidents.acknowledge(sessions, 1, "dsl")
    write_replay(tmp_path / "fb", ["I know where Mr Hughes parks, watch your back"],
                 first_id=40)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        assert session.get(models.Incident, 1).status == "open"
    assert incidents.escalate_due(config, sessions, later(31)) == 1


def test_incidents_are_listed_and_resolved_from_the_command_line(school, capsys):
    path, _, sessions = school
    main(["incidents", "list", "--config", str(path)])
    out = capsys.readouterr().out
    assert "urgent" in out and "threat" in out
    main(["incidents", "resolve", "1", "--outcome", "hidden", "--config", str(path)])
    capsys.readouterr()
    main(["incidents", "list", "--config", str(path)])
    assert "threat" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["incidents", "ack", "99", "--config", str(path)])
    assert info.value.code == 1
    assert "no incident with id 99" in capsys.readouterr().err


def trail_of(sessions, incident_id: int) -> list[tuple[str, str, str]]:
    with sessions() as session:
        return [(a.action, a.actor, a.result) for a in incidents.trail(session, incident_id)]


def test_the_threat_and_the_insult_on_one_thread_are_separate_incidents(school):
    _, _, sessions = school
    with sessions() as session:
        found = {i.id: (i.harm, i.item_count) for i in session.scalars(select(models.Incident))}
    assert found == {1: ("threat", 1), 2: ("hostility", 1)}


def test_a_second_acknowledgement_adds_to_the_trail_and_the_first_stays(school):
    _, _, sessions = school
    first = incidents.acknowledge(sessions, 1, "champion@school")
    again = incidents.acknowledge(sessions, 1, "dsl@school", via="alert link")
    assert (again.acknowledged_by, again.acknowledged_at) == (first.acknowledged_by,
                                                              first.acknowledged_at)
    assert again.status == "acknowledged"
    assert trail_of(sessions, 1) == [
        ("acknowledge", "champion@school", "acknowledged (via command line)"),
        ("acknowledge", "dsl@school", "acknowledged again (via alert link)")]


def test_resolving_needs_one_of_the_outcomes_and_records_it(school):
    _, _, sessions = school
    with pytest.raises(incidents.IncidentError) as refused:
        incidents.resolve(sessions, 1, "dsl@school", "sorted")
    assert "unknown outcome 'sorted'" in str(refused.value)
    assert "referred_to_lado" in str(refused.value) and "no_action" in str(refused.value)
    with sessions() as session:
        assert session.get(models.Incident, 1).status == "open"
    assert trail_of(sessions, 1) == []

    done = incidents.resolve(sessions, 1, "dsl@school", "referred_to_lado", "LADO ref 42",
                             via="console")
    assert (done.status, done.outcome, done.resolved_by) == ("resolved", "referred_to_lado",
                                                             "dsl@school")
    assert done.resolved_at is not None
    assert done.acknowledged_by == "dsl@school"  # resolving it stops its reminders too
    assert trail_of(sessions, 1) == [
        ("resolve", "dsl@school", "resolved: referred to the LADO (via console)"),
        ("note", "dsl@school", "LADO ref 42")]
    assert incidents.OUTCOMES["no_action"] == "no action needed"
    with pytest.raises(incidents.IncidentError, match="already resolved"):
        incidents.resolve(sessions, 1, "head", "hidden")
    with pytest.raises(incidents.IncidentError, match="already resolved"):
        incidents.acknowledge(sessions, 1, "head")


def test_reopening_clears_the_outcome_and_opens_it_again(school, capsys):
    path, config, sessions = school
    with pytest.raises(incidents.IncidentError, match="only a resolved incident can be reopened"):
        incidents.reopen(sessions, 1, "dsl@school")
    incidents.resolve(sessions, 1, "champion", "hidden")
    reopened = incidents.reopen(sessions, 1, "dsl@school", "the author posted it again")
    assert (reopened.status, reopened.outcome, reopened.resolved_by,
            reopened.resolved_at) == ("open", None, None, None)
    assert [a for a, _, _ in trail_of(sessions, 1)] == ["resolve", "reopen", "note"]
    assert "it had been resolved: hidden" in trail_of(sessions, 1)[1][2]
    main(["incidents", "list", "--config", str(path)])
    assert listed(capsys.readouterr().out) == [1, 2]


def test_the_trail_holds_notes_and_what_was_done_to_the_items_in_time_order(school):
    _, _, sessions = school
    incidents.acknowledge(sessions, 1, "dsl@school")
    with sessions() as session:
        [item] = incidents.items(session, 1)
    feedback.correct(sessions, item.id, categories=["threat", "abusive"], by="champion")
    incidents.add_note(sessions, 1, "dsl@school", "police informed, log 123")
    with pytest.raises(incidents.IncidentError, match="needs some text"):
        incidents.add_note(sessions, 1, "dsl@school", "   ")
    assert [(a, who) for a, who, _ in trail_of(sessions, 1)] == [
        ("acknowledge", "dsl@school"), ("correct", "champion"), ("note", "dsl@school")]
    assert trail_of(sessions, 2) == []  # the other incident's items were not touched


def listed(out: str) -> list[int]:
    return [int(line.split()[0]) for line in out.splitlines()[2:]]


def test_incidents_are_listed_by_harm_school_and_status(school, capsys):
    path, _, sessions = school
    main(["incidents", "list", "--config", str(path)])
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["id", "school", "harm", "status"]
    assert listed(out) == [1, 2]
    main(["incidents", "list", "--harm", "hostility", "--config", str(path)])
    assert listed(capsys.readouterr().out) == [2]
    incidents.resolve(sessions, 2, "champion", "deleted")
    main(["incidents", "list", "--status", "resolved", "--config", str(path)])
    assert listed(capsys.readouterr().out) == [2]
    main(["incidents", "list", "--school", "oakfield", "--all", "--config", str(path)])
    assert listed(capsys.readouterr().out) == [1, 2]
    with pytest.raises(SystemExit) as info:
        main(["incidents", "list", "--school", "elmwood", "--config", str(path)])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "Error: no school 'elmwood' in the config (schools: oakfield)"]


def test_incidents_show_prints_the_items_reasons_actions_and_trail(school, capsys):
    path, config, sessions = school
    with sessions() as session:
        [item] = incidents.items(session, 1)
    feedback.correct(sessions, item.id, categories=["threat"], by="champion")
    for command in (["ack", "1", "--by", "champion"], ["ack", "1", "--by", "dsl"],
                    ["resolve", "1", "--outcome", "reported_to_police", "--by", "dsl"],
                    ["note", "1", "police log 77", "--by", "dsl"]):
        main(["incidents", *command, "--config", str(path)])
    capsys.readouterr()
    main(["incidents", "show", "1", "--config", str(path)])
    out = capsys.readouterr().out
    local = item.created_at.astimezone(ZoneInfo("Europe/London"))
    for expected in ("School:        Oakfield Primary School (oakfield)",
                     "Harm:          threat", "Severity:      urgent", "Status:        resolved",
                     "Outcome:       reported to the police",
                     f"  #{item.id}  {local:%a %d %b %Y %H:%M} {local.tzname()}  Parent 1",
                     THREAT, item.permalink, "Categories:  threat (",
                     "acknowledge by champion: acknowledged (via command line)",
                     "acknowledge by dsl: acknowledged again (via command line)",
                     "resolve by dsl: resolved: reported to the police (via command line)",
                     "note by dsl: police log 77"):
        assert expected in out, expected
    assert "Acknowledged:  " in out and "by champion" in out.split("Acknowledged:")[1]
    [why] = [line for line in out.splitlines() if line.strip().startswith("Why threat:")]
    assert len(why.split(":", 1)[1].strip()) > 0 and "harmlessphrase" not in why
    # The correction is listed under its item and in the trail.
    assert out.count("correct item #") == 2


def test_bad_ids_and_outcomes_are_one_line_and_fail(school, capsys):
    path, _, _ = school
    for command, code, message in [
            (["show", "99"], 1, "Error: no incident with id 99 (see 'hallmonitor incidents "
                                "list')"),
            (["ack", "abc"], 2, "Error: an incident id is a whole number such as 12, not "
                                "'abc' (see 'hallmonitor incidents list')"),
            (["resolve", "1", "--outcome", "fixed"], 2,
             "Error: unknown outcome 'fixed': choose one of hidden, deleted, blocked, "
             "reported_to_platform, reported_to_police, referred_to_lado, no_action"),
            (["reopen", "1"], 1, "Error: incident 1 is open, not resolved: only a resolved "
                                 "incident can be reopened")]:
        with pytest.raises(SystemExit) as info:
            main(["incidents", *command, "--config", str(path)])
        assert info.value.code == code
        assert capsys.readouterr().err.strip().splitlines() == [message]
    with pytest.raises(SystemExit) as info:
        main(["incidents", "resolve", "1", "--config", str(path)])
    assert info.value.code == 2 and "Missing option '--outcome'" in capsys.readouterr().err


def test_the_command_line_offers_every_outcome_and_harm(capsys):
    main(["incidents", "resolve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for outcome in incidents.OUTCOMES:
        assert outcome in help_text
    assert set(cli_incidents.OUTCOME_CHOICES) == set(incidents.OUTCOMES)
    assert set(cli_incidents.HARM_CHOICES) == set(incidents.HARMS)


def test_acknowledging_again_after_a_new_threat_stops_its_reminders(school, tmp_path):
    _, config, sessions = school
    incidents.acknowledge(sessions, 1, "dsl")
    write_replay(tmp_path / "fb", ["I know where Mr Hughes parks, watch your back"],
                 first_id=40)
    Daemon(config, sessions).poll_once()
    incidents.acknowledge(sessions, 1, "head")
    assert incidents.escalate_due(config, sessions, later(300)) == 0
    with sessions() as session:
        assert session.get(models.Incident, 1).acknowledged_by == "dsl"


def test_harm_of_picks_the_most_severe_harm():
    assert incidents.harm_of(["abusive", "personal_data"]) == "personal_data"
    assert incidents.harm_of(["safeguarding", "threat", "hateful"]) == "threat"
    assert incidents.harm_of(["disparaging", "safeguarding"]) == "safeguarding"
    assert incidents.harm_of(["hateful"]) == "hostility"
    assert incidents.harm_of(["question", "spam"]) is None


def test_reasons_are_shown_in_readable_words_only():
    reasons = {"abusive": ['"harmlessphrase" (model)', '"of the" (model)', '"idiot" (model)',
                           'insult "useless idiot"'],
               "hateful": ['"to the" (model)']}
    assert incidents.readable_reasons(reasons) == {
        "abusive": ['insult "useless idiot"', 'wording such as "idiot"']}
    assert incidents.readable_reasons(reasons, {"abusive": 0.9, "hateful": 0.71})["hateful"] == [
        "the model's judgement (score 0.71)"]
