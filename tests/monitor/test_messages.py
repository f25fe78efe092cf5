"""What an alert says: readable reasons, advice by category, the title, the actions the platform
really supports, and platform text kept inert in every format."""

from __future__ import annotations

import json
import re

import pytest
from markdown import markdown as render_markdown
from sqlalchemy import select

from classifiers import Verdict, load_classifier
from connectors import connector_class
from monitor import email_html, message, models, rules
from monitor.config import load
from monitor.daemon import Daemon, open_database
from tests.builders import write_config, write_replay
from tests.monitor.test_email_alerts import Page

THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back"

# --- why -----------------------------------------------------------------------------------------


def test_internal_tokens_identifiers_and_stop_word_phrases_are_never_shown_as_reasons():
    reasons = ['"harmlessphrase" (model)', '"to the" (model)', '"and i" (model)',
               '"of time" (model)', "keyword_match", "rule: pupil_name_hit", "model score",
               '"@user" (model)']
    assert rules.readable_reasons(reasons, 0.42) == ["the model's judgement (score 0.42)"]


def test_rule_findings_stay_and_the_model_s_words_are_gathered_into_one_reason():
    reasons = ['threat phrase "watch his back"', "similar to known threats",
               '"teacher" (model)', '"to the" (model)', '"watch" (model)',
               'word "idiots" (insult lexicon)']
    assert rules.readable_reasons(reasons, 0.9) == [
        'threat phrase "watch his back"', "similar to known threats",
        'word "idiots" (insult word list)', 'wording such as "teacher", "watch"']


@pytest.mark.parametrize("text", [
    THREAT,
    "my friend says her stepdad hits her and she's scared to go home",
    "you are all useless idiots and the head is a disgrace",
    "Jack Smith in year 4 lives at 12 Elm Road, his number is 07700 900123",
    "WIN a free iphone click here http://scam.example",
    "this school is a joke and the teachers don't care about the kids",
    "what time is pick up on friday?",
])
def test_what_the_classifier_says_is_shown_in_readable_words(text):
    [verdict] = load_classifier().predict([text])
    assert verdict.categories
    for category in verdict.categories:
        shown = rules.readable_reasons(verdict.reasons[category], verdict.scores[category])
        assert shown
        for reason in shown:
            assert "harmlessphrase" not in reason and "(model)" not in reason
            outside_quotes = re.sub(r'"[^"]*"', "", reason)
            assert "_" not in outside_quotes
            for quoted in re.findall(r'"([^"]*)"', reason):
                words = re.findall(r"[a-z']+", quoted.lower())
                assert any(w not in rules.STOP_WORDS and len(w) >= 3 for w in words), reason


# --- what to do next -----------------------------------------------------------------------------

def test_advice_follows_every_category_most_severe_first_each_step_once():
    steps = rules.advice_steps(["abusive", "threat", "hateful"], {})
    assert steps[0] == "If anyone is in danger now, call 999."
    assert steps.count(rules.SCREENSHOT) == 1
    assert steps.index(rules.SCREENSHOT) < steps.index(rules.HIDE_AND_BLOCK)
    assert rules.DELETE_AND_BLOCK in steps
    assert len(steps) == len(set(steps))


def test_media_advice_is_kept_when_personal_data_is_also_found():
    steps = rules.advice_steps(["media", "personal_data"], {})
    assert steps[0] == rules.HIDE_PERSONAL
    assert any("journalist" in step for step in steps)


@pytest.mark.parametrize("categories", [["spam", "praise"], ["praise", "spam"],
                                        ["praise", "abusive"]])
def test_praise_is_never_thanked_when_something_else_needs_doing(categories):
    steps = rules.advice_steps(categories, {})
    assert "A thank-you goes a long way." not in steps


def test_praise_alone_is_thanked():
    assert rules.advice_steps(["praise"], {}) == ["A thank-you goes a long way."]


def test_an_allegation_that_is_also_a_threat_keeps_both_procedures_in_order():
    steps = rules.advice_steps(["safeguarding", "threat"],
                               {"safeguarding": ["allegation about staff"]})
    assert steps[0] == "If anyone is in danger now, call 999."
    assert any("Keeping Children Safe in Education, part four" in s for s in steps)
    assert steps[-1] == rules.HIDE_AND_BLOCK and rules.HIDE_IT not in steps


# --- the title -----------------------------------------------------------------------------------

def test_the_title_leads_with_severity_the_worst_category_school_and_platform():
    assert message.title_for("urgent", ["disparaging", "threat"], "Oakfield Primary",
                             "Facebook") == "[URGENT] Threat - Oakfield Primary - Facebook"
    assert message.title_for("high", ["abusive"], "Oakfield Primary", "X", "pile-on: 3 flagged "
                             "comments on one thread") == (
        "[HIGH] Abusive - Oakfield Primary - X - pile-on: 3 flagged comments on one thread")


# --- from the real pipeline ----------------------------------------------------------------------

@pytest.fixture
def polled(tmp_path, database):
    """One threat polled from a replayed page whose author and link are hostile."""
    write_replay(tmp_path / "fb", [THREAT])
    [page] = sorted((tmp_path / "fb").glob("*.json"))
    data = json.loads(page.read_text())
    comment = data["data"][0]["comments"]["data"][0]
    comment["from"]["name"] = '<b onmouseover="x()">Mx [Evil](https://evil.example) ![i](x)</b>'
    comment["permalink_url"] = "javascript:alert(1)"
    page.write_text(json.dumps(data))
    config = load(write_config(tmp_path, {"dsl": ["console://"]}))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        alert = session.scalars(select(models.Alert)).one()
        return config, sessions, alert.details


def test_names_and_links_from_the_platform_are_escaped_and_only_http_links_are_links(polled):
    _, _, details = polled
    html = email_html.render(details["title"], details, ["dsl"])
    page = Page(html)
    assert "b" not in page.tags and "onmouseover" not in html.replace("onmouseover=&quot;", "")
    assert not any("javascript" in href or "evil" in href for href in page.hrefs)
    assert "&lt;b onmouseover=&quot;x()&quot;&gt;" in html
    assert "javascript:alert(1)" in page.visible  # shown as text, not followed
    text = message.render_text(details, ["dsl"])
    assert "Where: javascript:alert(1)" in text.splitlines()
    rendered = render_markdown(message.render_markdown(details, ["dsl"]),
                               extensions=["fenced_code"])
    shown = Page(rendered)
    assert not {"img", "b"} & set(shown.tags)
    assert not any("evil" in href or "javascript" in href for href in shown.hrefs)


def test_the_parts_of_an_alert_are_kept_with_it(polled):
    _, _, details = polled
    assert details["kind"] == "item" and details["severity"] == "urgent"
    assert details["categories"][0] == "threat"
    assert details["school"] == "Oakfield Primary School" and details["platform"] == "Facebook"
    assert details["item"]["text"] == THREAT
    assert details["when"]["utc"].endswith("+00:00") and details["when"]["local"]
    assert details["incident"]["id"] == 1 and details["incident"]["url"] is None
    assert details["incident"]["ack_command"] == "hallmonitor incidents ack 1"
    assert details["advice"][0] == "If anyone is in danger now, call 999."
    assert details["actions"] == []  # the replay connector moderates nothing


@pytest.mark.parametrize("platform", ["facebook", "instagram", "x", "replay"])
def test_offered_actions_are_the_ones_the_item_s_source_supports(polled, platform):
    config, sessions, _ = polled
    with sessions() as session:
        item = session.scalars(select(models.Item)).one()
        session.get(models.Source, item.source_id).platform = platform
        row = item.verdict
        verdict = Verdict(scores=row.scores, categories=tuple(row.categories),
                          reasons=row.reasons, model_version=row.model_version)
        composed = message.compose(config, config.schools[0], item, verdict, None, "item", 0,
                                   "item:test")
        item_id, kind = item.id, item.kind
        session.rollback()
    offered = [a["action"] for a in composed.details["actions"]]
    supported = connector_class(platform).supported_actions(kind)
    assert offered == [a for a in supported if a != "unhide"]
    for action in offered:
        assert f"hallmonitor action {action} {item_id}" in composed.body


def test_comment_text_with_backticks_stays_inside_its_code_block():
    text = "look ``` ![x](https://evil.example/p.png) ````"
    quoted = message.md_quote(text)
    assert quoted.startswith("`````\n") and quoted.endswith("\n`````")
    page = Page(render_markdown(quoted, extensions=["fenced_code"]))
    assert "img" not in page.tags and "a" not in page.tags


def test_one_author_s_hostile_comments_across_threads_are_told_as_a_campaign(tmp_path, database):
    for post, number in ((1, 4), (2, 8), (3, 12)):  # one author (number % 4), three threads
        write_replay(tmp_path / "fb", [f"you are a useless idiot, post {post}"], post=post,
                     first_id=number)
    config = load(write_config(tmp_path, {"digital_champion": ["console://"]}))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        alerts = list(session.scalars(select(models.Alert).order_by(models.Alert.id)))
        keys = list(session.scalars(select(models.Incident.key)))
    assert [key.startswith("campaign:") for key in keys] == [True]
    first, second, third = alerts
    assert "Campaign" not in first.body
    assert second.title.endswith(" - campaign: 2 flagged comments by one author across threads")
    assert ("Campaign: one author's hostile comments across several threads, 2 flagged so far, "
            "kept together as incident #1.") in second.body.splitlines()
    assert second.details["incident"]["campaign"] is True
    assert third.title == ("[HIGH] Abusive - Oakfield Primary School - Facebook - campaign: 3 "
                           "flagged comments by one author across threads")


def test_a_pile_on_update_says_so_and_keeps_the_lead(tmp_path, database):
    insults = [f"you lot are a disgrace and the head is a useless idiot {n}" for n in range(3)]
    write_replay(tmp_path / "fb", insults)
    for page in sorted((tmp_path / "fb").glob("*.json")):  # three different people
        data = json.loads(page.read_text())
        for n, comment in enumerate(data["data"][0]["comments"]["data"]):
            comment["from"] = {"id": str(7000 + n), "name": f"Person {n}"}
        page.write_text(json.dumps(data))
    config = load(write_config(tmp_path, {"digital_champion": ["console://"]}))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        update = session.scalars(select(models.Alert).where(models.Alert.kind == "update")).one()
    assert update.title.startswith("[HIGH] Abusive - Oakfield Primary School - Facebook - "
                                   "pile-on: 3 flagged comments on one thread")
    assert any(line.startswith("Pile-on: 3 flagged comments on one thread so far")
               for line in update.body.splitlines())
