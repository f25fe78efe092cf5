"""The digests as they are sent, from the fixed week of tests/digest_builder.py (and the trust of
tests/trust_builder.py): sections in the issue's order and absent when they have nothing to
say, the text and markdown parts saying what the HTML says, hostile comments inert, the chart
attached and referenced by its Content-ID."""

from __future__ import annotations

import base64
import dataclasses
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import update

from monitor import models
from monitor.digest import build, chart, content, render, weeks
from monitor.digest.render import days_text, duration_text
from tests import digest_builder as week
from tests.digest_builder import EARLIER, END, NOW, SCHOOL, START

pytestmark = pytest.mark.usefixtures("database")

LABEL = "2026-W47"
SECTIONS = ["Incidents that needed action", "Media enquiries",
            "Volume against the previous four weeks",
            "What people praised and complained about", "Questions left unanswered",
            "Connectors and cost"]
HOSTILE = ('<script>alert("x")</script> **shout** [click](https://evil.example) '
           '<img src=x onerror=alert(1)> _under_ `code`')


@pytest.fixture
def built(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return week.build(tmp_path)


def school_week() -> weeks.SchoolWeek:
    return weeks.week_of(LABEL, "Europe/London")


def head(built, **kwargs) -> render.RenderedDigest:
    with built.sessions() as session:
        return build.build_digest(session, built.config, "head", SCHOOL, LABEL, now=NOW,
                                  **kwargs)


def head_content(built) -> content.HeadDigest:
    with built.sessions() as session:
        return content.head_digest(session, built.config, SCHOOL, START, END, EARLIER, now=NOW)


def with_console(config):
    """The same config with the console served at a public address."""
    web = config.settings.web.model_copy(update={"enabled": True,
                                                 "public_url": "https://console.example"})
    config.settings = config.settings.model_copy(update={"web": web})
    return config


def positions(text: str, names: list[str]) -> list[int]:
    return [text.index(name) for name in names]


def test_the_heads_digest_states_its_week_and_has_every_section_in_the_issues_order(built):
    digest = head(built)
    assert digest.kind == "head"
    assert digest.title == "Weekly digest - Oakfield Primary School - 16 to 22 November 2026"
    lines = digest.text.splitlines()
    assert lines[0] == digest.title
    assert "Monday 16 to Sunday 22 November 2026" in lines
    assert ("A week that needs your attention: 25 comments, 5 needed action, 3 still open and "
            "1 threat.") in lines
    text_order = positions(digest.text, [s.upper() for s in SECTIONS])
    html_order = positions(digest.html, [f">{s}</h2>" for s in SECTIONS])
    markdown_order = positions(digest.markdown, [f"### {s}" for s in SECTIONS])
    assert text_order == sorted(text_order)
    assert html_order == sorted(html_order)
    assert markdown_order == sorted(markdown_order)
    assert digest.html.startswith("<!DOCTYPE html>")
    assert f"<title>{digest.title}</title>" in digest.html


def test_incidents_come_still_open_first_with_outcome_who_and_time_to_acknowledge(built):
    digest = head(built)
    lines = head_content(built).incidents
    excerpts = [f'"{line.excerpt}"' for line in lines]
    assert positions(digest.text, excerpts) == sorted(positions(digest.text, excerpts))
    threat = next(line for line in lines if line.harm == "threat")
    block = digest.text[digest.text.index(f'"{threat.excerpt}"'):]
    assert "Outcome: reported to the police, by dsl@oakfield.example" in block
    assert "Time to acknowledge: 12 min (by dsl@oakfield.example)" in block
    assert f"Open the comment on Facebook: {threat.permalink} (incident #{threat.id})" in block
    assert "2. URGENT Safeguarding - still open, nobody has acknowledged it" in digest.text
    assert "3. HIGH Hostility: Abusive - acknowledged, still open" in digest.text
    assert "Time to acknowledge: 2 h (by champion@oakfield.example)" in digest.text


def test_each_incident_links_to_its_console_page_when_the_console_is_served(built):
    with_console(built.config)
    digest = head(built)
    for line in head_content(built).incidents:
        url = f"https://console.example/incidents/{line.id}"
        assert f"Open incident #{line.id} in the console: {url}" in digest.text
        assert f'href="{url}"' in digest.html
        assert f"(<{url}>)" in digest.markdown
    page = f"https://console.example/digest/{SCHOOL}/{LABEL}"
    assert f"Open this digest in the console: {page}" in digest.text
    assert f'href="{page}"' in digest.html


def test_without_a_console_there_is_no_console_link(built):
    digest = head(built)
    assert "Open this digest in the console" not in digest.text
    assert "/incidents/" not in digest.html


def test_the_text_and_markdown_carry_the_same_media_questions_and_links_as_the_html(built):
    digest = head(built)
    found = head_content(built)
    for enquiry in found.media:
        assert f"Open it on Facebook: {enquiry.permalink}" in digest.text
        assert f'href="{enquiry.permalink}"' in digest.html
        assert f"(<{enquiry.permalink}>)" in digest.markdown
    assert ("What the school did: replied in the thread; reply needed by head@oakfield.example"
            in digest.text)
    assert [q.excerpt for q in found.unanswered] == ["Is there a uniform sale this term?",
                                                     "@OakfieldPS are clubs running next week?"]
    for question in found.unanswered:
        assert f'"{question.excerpt}"' in digest.text
        assert question.excerpt in digest.html
        assert f"(<{question.permalink}>)" in digest.markdown
        assert f'href="{question.permalink}"' in digest.html
    for standout in found.feelings.praise + found.feelings.complaints:
        assert f"“{standout.phrase}”" in digest.text
        for example in standout.examples:
            assert f"open the comment: {example.permalink}" in digest.text
            assert f'href="{example.permalink}"' in digest.html
    # The connectors' trouble and the cost, in every part.
    for part in (digest.text, digest.html, digest.markdown):
        assert "2 of 3 polls failed" in part
        assert "the access token has expired" in part
        assert "$10.00" in part


def test_volumes_are_shown_by_display_name_with_a_table_that_reads_without_the_image(built):
    digest = head(built)
    lines = digest.text.splitlines()
    assert re.search(r"^Facebook\s+20\s+11$", digest.text, re.MULTILINE)
    assert re.search(r"^Media enquiry\s+1\s+0$", digest.text, re.MULTILINE)
    assert re.search(r"^Safeguarding\s+2\s+0\.5$", digest.text, re.MULTILINE)
    assert "25 comments this week, against a weekly average of 16 over the previous four " \
           "weeks." in lines
    assert "- **Facebook**: This week 20; Average 11" in digest.markdown
    assert "<td" in digest.html and ">Media enquiry</td>" in digest.html


def test_the_chart_is_attached_as_a_png_that_the_html_shows_by_its_content_id(built):
    digest = head(built)
    (attachment,) = digest.attachments
    assert attachment.name == attachment.content_id == chart.CHART_FILE
    assert attachment.content_type == "image/png"
    assert attachment.data.startswith(b"\x89PNG\r\n\x1a\n")
    volumes = render.chart_volumes(head_content(built).volumes)
    assert attachment.data == chart.volume_chart(volumes)
    (img,) = re.findall(r"<img [^>]*>", digest.html)
    assert f'src="cid:{chart.CHART_FILE}"' in img
    assert 'width="600"' in img
    alt = chart.chart_alt_text(volumes)
    assert alt.startswith("Comments this week") and "Facebook 20 (average 11)" in alt
    assert f'alt="{alt}"' in img
    assert f"Chart attached: {chart.CHART_FILE}" in digest.text


def test_the_preview_has_the_chart_inlined_and_no_content_id_left(built):
    digest = head(built)
    preview = digest.preview_html()
    assert "cid:" not in preview
    (uri,) = re.findall(r'src="(data:image/png;base64,[^"]+)"', preview)
    assert base64.b64decode(uri.split(",", 1)[1]) == digest.attachments[0].data
    served = digest.html_with_images(lambda a: f"/digest/images/{a.name}")
    assert f'src="/digest/images/{chart.CHART_FILE}"' in served and "cid:" not in served


def test_a_quiet_week_leaves_out_the_sections_with_nothing_to_say(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quiet = week.build_quiet(tmp_path)
    with quiet.sessions() as session:
        digest = build.build_digest(session, quiet.config, "head", SCHOOL, LABEL, now=NOW)
    assert "A quiet week: 3 comments, none needed action and no threats." in digest.text
    for absent in ("Incidents that needed action", "Media enquiries",
                   "Questions left unanswered", "Connectors and cost"):
        assert absent.upper() not in digest.text
        assert absent not in digest.html
        assert absent not in digest.markdown
    assert "VOLUME AGAINST THE PREVIOUS FOUR WEEKS" in digest.text


def test_the_short_digest_of_a_holiday_week_keeps_only_the_week_headline_incidents_and_media(
        built):
    digest = head(built, short=True)
    assert "Monday 16 to Sunday 22 November 2026" in digest.text
    assert "A holiday week: only what needed action is shown." in digest.text
    for kept in SECTIONS[:2]:
        assert kept.upper() in digest.text and f">{kept}</h2>" in digest.html
    for dropped in SECTIONS[2:]:
        assert dropped.upper() not in digest.text
        assert dropped not in digest.html and dropped not in digest.markdown
    assert digest.attachments == ()
    assert "cid:" not in digest.html


def test_the_unanswered_questions_are_capped_at_ten_with_how_many_more(built):
    found = head_content(built)
    question = found.unanswered[0]
    many = tuple(dataclasses.replace(question, item_id=n, excerpt=f"Question number {n}?")
                 for n in range(1, 14))
    digest = render.render_head(dataclasses.replace(found, unanswered=many), built.config,
                                school_week())
    assert "13 questions with no reply" in digest.text
    assert '"Question number 10?"' in digest.text
    assert "Question number 11?" not in digest.text
    assert "Question number 11?" not in digest.html
    assert "and 3 more" in digest.text and "and 3 more" in digest.html
    assert "and 3 more" in digest.markdown


def test_a_week_of_many_incidents_lists_the_first_twenty_and_points_to_the_rest(built):
    found = head_content(built)
    line = found.incidents[0]
    many = tuple(dataclasses.replace(line, id=n, excerpt=f"Incident words {n}")
                 for n in range(1, 26))
    digest = render.render_head(dataclasses.replace(found, incidents=many), built.config,
                                school_week())
    assert "25 incidents" in digest.text
    assert "Incident words 20" in digest.text and "Incident words 20" in digest.html
    assert "Incident words 21" not in digest.text and "Incident words 21" not in digest.html
    for part in (digest.text, digest.html, digest.markdown):
        assert "and 5 more, with 'hallmonitor incidents list'" in part.replace("&#x27;", "'")
    with_console(built.config)
    digest = render.render_head(dataclasses.replace(found, incidents=many), built.config,
                                school_week())
    assert "and 5 more, in the console's queue" in digest.text


def test_hostile_comment_text_and_names_are_inert_in_html_and_markdown(built):
    with built.sessions.begin() as session:
        session.execute(update(models.Item).where(models.Item.id == built.ids["q_unanswered"])
                        .values(text=HOSTILE, author_name='<b onmouseover="x">Mallory</b>',
                                permalink="javascript:alert(1)"))
    digest = head(built)
    assert "<script>" not in digest.html and "<b onmouseover" not in digest.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in digest.html
    assert "javascript:" not in re.findall(r'href="([^"]*)"', digest.html).__str__()
    assert "<img src=x" not in digest.html
    # In markdown nothing of it makes a link, emphasis, code or an image.
    assert "[click](https://evil.example)" not in digest.markdown
    assert r"\[click\]\(https\://evil.example\)" in digest.markdown
    assert r"\*\*shout\*\*" in digest.markdown and r"\`code\`" in digest.markdown
    assert "(<javascript:" not in digest.markdown
    # The text part shows it as written.
    assert f'"{HOSTILE}"' in digest.text


def test_the_dsl_summary_lists_the_unacknowledged_first_and_marked_and_repeat_authors(built):
    with_console(built.config)
    with built.sessions() as session:
        summary = content.dsl_summary(session, built.config, SCHOOL, START, END)
        digest = build.build_digest(session, built.config, "dsl", SCHOOL, LABEL, now=NOW)
    assert digest.title == ("Weekly safeguarding summary - Oakfield Primary School - 16 to 22 "
                            "November 2026")
    assert "3 safeguarding or threat incidents, 2 not yet acknowledged." in digest.text
    marked = [line for line in digest.text.splitlines() if "NOT YET ACKNOWLEDGED" in line]
    assert [line[:3] for line in marked] == ["1. ", "2. "]
    assert "3. URGENT Threat - resolved" in digest.text
    threat = built.ids["threat"]
    assert f"Open incident #{threat} in the console" in digest.text
    assert "Time to acknowledge: 12 min (by dsl@oakfield.example)" in digest.text
    (author,) = summary.repeat_authors
    ids = ", ".join(f"#{n}" for n in author.incident_ids)
    assert f"- Angry Parent on Facebook: incidents {ids}" in digest.text
    # Nothing else: no praise, volumes, questions or chart.
    for absent in SECTIONS[1:]:
        assert absent.upper() not in digest.text
    assert digest.attachments == ()
    page = f"https://console.example/digest/{SCHOOL}/{LABEL}?kind=dsl"
    assert f'href="{page}"' in digest.html


def test_a_dsl_summary_with_no_incidents_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quiet = week.build_quiet(tmp_path)
    with quiet.sessions() as session:
        digest = build.build_digest(session, quiet.config, "dsl", SCHOOL, LABEL, now=NOW)
    body = [line for line in digest.text.splitlines()[2:] if line]
    assert body == ["Monday 16 to Sunday 22 November 2026",
                    "No safeguarding or threat incidents this week.",
                    "Hall Monitor weekly digest for Oakfield Primary School, week 2026-W47."]
    assert "No safeguarding or threat incidents this week." in digest.html
    assert "<h2" not in digest.html


def test_the_trusts_roll_up_has_a_table_of_schools_attention_first_and_small_multiples(
        tmp_path, monkeypatch):
    from monitor.digest import trust
    from tests import trust_builder

    monkeypatch.chdir(tmp_path)
    built = trust_builder.build(tmp_path)
    with built.sessions() as session:
        rollup = trust.trust_rollup(session, built.config, LABEL, now=NOW)
        digest = build.build_digest(session, built.config, "trust", None, LABEL, now=NOW)
    assert digest.kind == "trust"
    assert digest.title == f"Trust weekly roll-up - {rollup.trust_name} - 16 to 22 November 2026"
    text = digest.text
    assert text.index("NEEDS ATTENTION FIRST") < text.index("SCHOOLS") < text.index(
        "COMMENTS PER SCHOOL")
    first, second = rollup.needs_attention
    assert f"- {first.school_name}: {'; '.join(first.attention)}" in text
    assert text.index(f"- {first.school_name}") < text.index(f"- {second.school_name}")
    assert re.search(r"^Oakfield Primary School\s+25\s+16\s+2 urgent, 1 high\s+3\s+2$", text,
                     re.MULTILINE)
    assert re.search(r"^Elmwood Academy\s+3\s+3\s+none\s+0\s+0$", text, re.MULTILINE)
    assert ("- **Elmwood Academy**: Comments 3; Average 3; Incidents none; Open 0; "
            "Unanswered 0") in digest.markdown
    (attachment,) = digest.attachments
    assert attachment.name == attachment.content_id == render.SCHOOLS_CHART_FILE
    assert attachment.data.startswith(b"\x89PNG")
    assert f'src="cid:{render.SCHOOLS_CHART_FILE}"' in digest.html
    assert "data:image/png;base64," in digest.preview_html()


def test_a_bad_kind_school_or_week_is_refused_in_one_line(built):
    with built.sessions() as session:
        for kind, school, label, said in [
                ("weekly", SCHOOL, LABEL, "'weekly' is not a kind of digest"),
                ("head", "nowhere", LABEL, "school 'nowhere' is not in the config"),
                ("head", None, LABEL, "a head digest is for one school"),
                ("head", SCHOOL, "2026-W60", "2026-W60 is not a week"),
                ("trust", None, "last week", "is not a week such as")]:
            with pytest.raises(ValueError) as raised:
                build.build_digest(session, built.config, kind, school, label, now=NOW)
            assert said in str(raised.value) and "\n" not in str(raised.value)


def test_a_school_week_and_its_label_give_the_same_digest(built):
    with built.sessions() as session:
        by_week = build.build_digest(session, built.config, "head", SCHOOL, school_week(),
                                     now=NOW)
    assert by_week.html == head(built).html


def test_a_school_without_term_dates_has_no_holiday_weeks(built):
    assert build.in_holiday(built.config, SCHOOL, school_week()) is False


@pytest.mark.parametrize(("first", "last", "plain", "with_days"), [
    (date(2026, 11, 16), date(2026, 11, 22), "16 to 22 November 2026",
     "Monday 16 to Sunday 22 November 2026"),
    (date(2026, 11, 30), date(2026, 12, 6), "30 November to 6 December 2026",
     "Monday 30 November to Sunday 6 December 2026"),
    (date(2026, 12, 28), date(2027, 1, 3), "28 December 2026 to 3 January 2027",
     "Monday 28 December 2026 to Sunday 3 January 2027"),
])
def test_a_week_is_named_by_its_days_naming_a_month_or_year_twice_only_when_it_spans_two(
        first, last, plain, with_days):
    assert days_text(first, last) == plain
    assert days_text(first, last, weekdays=True) == with_days


@pytest.mark.parametrize(("span", "said"), [
    (timedelta(seconds=40), "under a minute"), (timedelta(minutes=12), "12 min"),
    (timedelta(hours=1, minutes=20), "1 h 20 min"), (timedelta(hours=2), "2 h"),
    (timedelta(days=1, hours=3, minutes=5), "1 day 3 h"), (timedelta(days=3), "3 days")])
def test_time_to_acknowledge_is_said_as_people_say_it(span, said):
    assert duration_text(span) == said
