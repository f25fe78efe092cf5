"""What an alert tells people to do next: an allegation about a member of staff follows the
allegations procedure of Keeping Children Safe in Education (part four), and no safeguarding alert
says "call 999" unless the comment is also a threat."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from classifiers import Verdict
from monitor import incidents, models, rules
from monitor.classify import ClassifierCache
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay

ALLEGATION = "Mr Jones grabbed my son by the arm and dragged him out of class"
DISCLOSURE = "my friend says her stepdad hits her and she's scared to go home"
THREATENING_ALLEGATION = "Mr Jones grabbed my son, wait till I see him at the gates"

VERDICTS = {
    ALLEGATION: Verdict(
        scores={"safeguarding": 0.97, "disparaging": 0.66}, categories=("safeguarding",
                                                                        "disparaging"),
        reasons={"safeguarding": ('allegation about staff "mr jones grabbed my son"',
                                  '"arm" (model)'),
                 "disparaging": ('"grabbed" (model)',)},
        model_version="test"),
    DISCLOSURE: Verdict(
        scores={"safeguarding": 0.99}, categories=("safeguarding",),
        reasons={"safeguarding": ('disclosure "stepdad hits her"',)}, model_version="test"),
    THREATENING_ALLEGATION: Verdict(
        scores={"threat": 0.9, "safeguarding": 0.95}, categories=("threat", "safeguarding"),
        reasons={"threat": ('"wait till I see him" (model)',),
                 "safeguarding": ('allegation about staff "mr jones grabbed my son"',)},
        model_version="test"),
}


class FixedVerdicts:
    """A classifier that gives the verdicts above, and nothing for any other text."""

    version = "test"
    degraded = None

    def predict(self, texts):
        return [VERDICTS.get(text, Verdict(scores={}, categories=(), model_version="test"))
                for text in texts]


@pytest.fixture
def alerted(tmp_path, monkeypatch, database):
    """Poll the comments above, each on a thread of its own; their alerts' bodies by comment,
    and the setup."""
    monkeypatch.setattr(ClassifierCache, "for_school",
                        lambda self, school, session=None: FixedVerdicts())
    for number, text in enumerate(VERDICTS, start=1):
        write_replay(tmp_path / "fb", [text], post=number, first_id=number)
    config = load(write_config(tmp_path, {"dsl": ["console://"], "head": ["console://"],
                                          "digital_champion": ["console://"]}))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        bodies = {alert.item.text: alert.body for alert in session.scalars(
            select(models.Alert).where(models.Alert.kind == "item"))}
    return bodies, config, sessions


def next_step(body: str) -> str:
    """The numbered steps under "What to do next:", as one paragraph."""
    lines = body.splitlines()
    start = lines.index("What to do next:") + 1
    steps = []
    for line in lines[start:]:
        number, _, step = line.strip().partition(". ")
        if not number.isdigit():
            break
        steps.append(step)
    assert steps
    return " ".join(steps)


def test_an_allegation_about_staff_follows_the_allegations_procedure(alerted):
    bodies, _, _ = alerted
    advice = next_step(bodies[ALLEGATION])
    assert "Keeping Children Safe in Education, part four" in advice
    assert "headteacher today" in advice
    assert "chair of governors if it concerns the headteacher" in advice
    assert "Do not investigate it or contact the person named" in advice
    assert advice.index("Screenshot") < advice.index("hide it")
    assert "999" not in bodies[ALLEGATION]


def test_a_safeguarding_disclosure_never_says_call_999(alerted):
    bodies, _, _ = alerted
    assert "999" not in bodies[DISCLOSURE]
    assert "DSL" in next_step(bodies[DISCLOSURE])
    assert "allegations procedure" not in bodies[DISCLOSURE]
    assert "999" not in rules.ADVICE["safeguarding"]


def test_an_allegation_that_is_also_a_threat_keeps_the_999_advice_and_the_procedure(alerted):
    bodies, _, _ = alerted
    advice = next_step(bodies[THREATENING_ALLEGATION])
    assert "call 999" in advice
    assert "Keeping Children Safe in Education, part four" in advice


def test_an_unacknowledged_allegation_is_escalated_with_the_same_procedure(alerted):
    _, config, sessions = alerted
    later = datetime.now(UTC) + timedelta(minutes=31)
    assert incidents.escalate_due(config, sessions, later) == 3
    with sessions() as session:
        escalations = {tuple(a.categories): a.body for a in session.scalars(
            select(models.Alert).where(models.Alert.kind == "escalation"))}
    allegation = escalations[("disparaging", "safeguarding")]
    assert "Keeping Children Safe in Education, part four" in next_step(allegation)
    assert "999" not in allegation
    assert "999" not in escalations[("safeguarding",)]
    assert "call 999" in escalations[("safeguarding", "threat")]


@pytest.mark.parametrize("reason", [
    'allegation about staff "miss smith hit him"',
    "Allegation about staff",
    'rule: allegation about staff ("sir shoved my daughter")',
])
def test_the_staff_allegation_is_recognised_wherever_it_sits_in_a_safeguarding_reason(reason):
    advice = rules.advice_for(["safeguarding"], {"safeguarding": [reason]})
    assert advice == rules.STAFF_ALLEGATION_ADVICE


def test_the_words_only_count_as_a_safeguarding_reason():
    steps = rules.advice_steps(["safeguarding", "disparaging"],
                               {"disparaging": ["allegation about staff"],
                                "safeguarding": ['disclosure "hits me"']})
    assert steps[0] == rules.ADVICE_STEPS["safeguarding"][0]
    assert "allegations procedure" not in " ".join(steps)


def test_the_classifier_names_a_staff_allegation_in_the_words_the_advice_looks_for():
    from classifiers import load_classifier

    [verdict] = load_classifier().predict([ALLEGATION])
    assert "safeguarding" in verdict.categories
    assert rules.alleges_about_staff(verdict.reasons)
