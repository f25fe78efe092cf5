"""IT's weekly follower report and the head's digest counts, from followers and events written
row by row (the builder in test_screening), so every count is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor import follower_report, models, watchlist
from monitor.follower_report import ReportError
from monitor.screening import Screening
from tests.monitor.test_screening import X_ACCOUNT, add_follower, build

START = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday; London is on UTC in November
END = START + timedelta(days=7)
DAY = timedelta(days=1)
HOSTILE_NAME = "<script>alert('x')</script> Parent"
HOSTILE_BIO = '<img src=x onerror="alert(1)"> you are all useless c*nts & "scum"'

OF_CONCERN = Screening(("handle \"0akfield_primary\" resembles the school (\"Oakfield Primary "
                        "School\")",), {}, True, ("imitates_school",), START.isoformat(), "t")
ABUSIVE = Screening(("bio reads as abusive (0.97): word \"c*nts\" (abusive lexicon)",),
                    {"abusive": 0.97}, True, ("classifier",), START.isoformat(), "t")
FINE = Screening((), {}, False, (), START.isoformat(), "t")


@pytest.fixture
def week(tmp_path, monkeypatch, database):
    """Oakfield's X followers over the week of 16 November 2026:

    - followed in the week: sarah_h (fine), 0akfield_primary (of concern), hostile_parent (of
      concern, a hostile name and bio), known_troll (fine by screening, on the watchlist),
      not_yet (not screened yet);
    - came back: came_back (followed in October, left, followed again on Wednesday);
    - unfollowed: grumpy_neighbour;
    - changed handle: old_handle became new_handle;
    - outside the week: last_week (followed the week before), next_week (the Monday after).
    """
    monkeypatch.chdir(tmp_path)
    built = build(tmp_path)
    add_follower(built, "sarah_h", name="Sarah Hughes", at=START + DAY,
                 screened=FINE.to_json())
    add_follower(built, "0akfield_primary", name="Oakfield Primary", at=START + 2 * DAY,
                 screened=OF_CONCERN.to_json())
    add_follower(built, "hostile_parent", name=HOSTILE_NAME, bio=HOSTILE_BIO,
                 at=START + 3 * DAY, screened=ABUSIVE.to_json())
    add_follower(built, "known_troll", name="Just Asking", at=START + 4 * DAY,
                 screened=FINE.to_json())
    add_follower(built, "not_yet", at=START + 6 * DAY + timedelta(hours=23))
    october = START - 30 * DAY
    add_follower(built, "came_back", at=october, screened=FINE.to_json(), events=(
        ("follow", october), ("unfollow", october + DAY), ("refollow", START + 2 * DAY)))
    add_follower(built, "grumpy_neighbour", at=october, unfollowed_at=START + 5 * DAY,
                 events=(("follow", october), ("unfollow", START + 5 * DAY)))
    add_follower(built, "new_handle", at=october, events=(("follow", october),))
    with built.sessions.begin() as session:
        session.add(models.FollowerEvent(follower_id=built.ids["new_handle"],
                                         kind="handle_change", at=START + 4 * DAY,
                                         detail={"from": "old_handle", "to": "new_handle"}))
    add_follower(built, "last_week", at=START - 2 * DAY, screened=OF_CONCERN.to_json())
    add_follower(built, "next_week", at=END, screened=ABUSIVE.to_json())
    with built.sessions.begin() as session:
        troll = session.get(models.Follower, built.ids["known_troll"])
        watchlist.add(session, built.config, reason="Harassed staff in the summer term",
                      added_by="it@oakfield.example", platform="x",
                      account_id=troll.account_id, school_id="oakfield", now=START)
    return built


def report(week, account=None, since=START, until=END) -> follower_report.FollowerReport:
    with week.sessions() as session:
        return follower_report.follower_report(
            session, week.config, week.source_id if account is None else account, since, until)


def handles(lines) -> list[str]:
    return [line.handle for line in lines]


def test_the_report_has_each_sections_followers_and_counts_for_the_week_only(week):
    found = report(week)
    assert handles(found.new) == ["sarah_h", "0akfield_primary", "hostile_parent", "known_troll",
                                  "not_yet"]
    assert handles(found.refollowed) == ["came_back"]
    assert handles(found.unfollowed) == ["grumpy_neighbour"]
    assert [(c.old, c.new) for c in found.handle_changes] == [("old_handle", "new_handle")]
    assert found.counts == {"new": 5, "unfollowed": 1, "refollowed": 1, "handle_changes": 1,
                            "of_concern": 2, "watchlisted": 1}
    # All ten but the one who left: the count is of now, not of the week's end.
    assert found.following_now == 9
    assert found.unscreened == 1
    assert found.account == "Oakfield on X (@OakfieldPS)"


def test_those_of_concern_come_with_screenings_reasons_and_the_watchlisted_with_why(week):
    found = report(week)
    assert handles(found.of_concern) == ["0akfield_primary", "hostile_parent"]
    assert found.of_concern[0].flags == OF_CONCERN.flags
    assert found.of_concern[1].flags == ABUSIVE.flags
    [troll] = found.watchlisted
    assert troll.handle == "known_troll"
    assert troll.watchlist == (f"Harassed staff in the summer term (id {troll.account_id})",)


def test_the_text_report_puts_concern_first_and_names_every_section(week):
    text = follower_report.render_text(report(week))
    headings = ["OF CONCERN (2)", "ON THE WATCHLIST (1)", "NEW FOLLOWERS (5)", "CAME BACK (1)",
                "UNFOLLOWED (1)", "HANDLE CHANGES"]
    positions = [text.index(heading) for heading in headings]
    assert positions == sorted(positions)
    assert text.startswith("Followers of Oakfield on X (@OakfieldPS)\n")
    assert "5 new followers, 1 unfollowed, 1 came back; 2 of concern, 1 on the watchlist" in text
    assert "Mon 16 Nov 2026 to Sun 22 Nov 2026" in text
    assert "@0akfield_primary (Oakfield Primary): https://x.com/0akfield_primary, followed " \
           "Wed 18 Nov 00:00" in text
    assert OF_CONCERN.flags[0] in text
    assert "@old_handle is now @new_handle: https://x.com/new_handle" in text
    assert "1 follower not screened yet" in text
    assert (f"hallmonitor followers report --account {X_ACCOUNT} --since 2026-11-16"
            in text)
    assert "last_week" not in text and "next_week" not in text


def test_an_empty_week_says_none_in_each_section(week):
    found = report(week, since=END + 7 * DAY, until=END + 14 * DAY)
    assert found.counts == dict.fromkeys(found.counts, 0)
    text = follower_report.render_text(found)
    assert text.count("None.") == 6


def test_the_html_report_escapes_a_hostile_name_and_bio(week):
    html = follower_report.render_html(report(week))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Parent" in html
    assert ("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; you are all useless c*nts &amp; "
            "&quot;scum&quot;") in html
    assert 'href="https://x.com/hostile_parent"' in html
    # The same report as text and as HTML: the bio shown to IT as written.
    assert f'"{HOSTILE_BIO}"' in follower_report.render_text(report(week))


def test_the_report_is_found_by_the_accounts_id_or_handle(week):
    assert report(week, X_ACCOUNT).source_id == week.source_id
    assert report(week, "@oakfieldps").source_id == week.source_id
    with pytest.raises(ReportError) as error:
        report(week, "123")
    assert str(error.value) == ("no followers source for account '123' (followers sources: "
                                f"{X_ACCOUNT})")
    with pytest.raises(ReportError, match="is not a followers source"):
        report(week, 999)


def test_the_heads_digest_counts_new_lost_and_of_concern(week):
    with week.sessions() as session:
        counts = follower_report.follower_counts(session, "oakfield", START, END)
        other = follower_report.follower_counts(session, "elmwood", START, END)
    # New: five who followed and one who came back; of concern: two of them.
    assert counts == {"new": 6, "lost": 1, "of_concern": 2}
    assert other == {"new": 0, "lost": 0, "of_concern": 0}
