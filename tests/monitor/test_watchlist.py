"""IT's watchlist: matching by id, handle and pattern, expiry, scope, removal, and the alerts a
watched account raises, delivered by the real delivery job to a real SMTP server."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from monitor import models, notify, sources, watchlist
from monitor.config import load
from monitor.daemon import open_database
from tests.builders import write_config

pytestmark = pytest.mark.usefixtures("database")

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SECOND_SCHOOL = """
[[schools]]
id = "elmwood"
name = "Elmwood Academy"
[[schools.accounts]]
platform = "replay"
account = "elmwood-page"
kinds = ["comments"]
settings = { path = "fb", as_platform = "facebook" }
"""


def make_school(tmp_path, recipients=None, extra_school=""):
    """Two schools (Oakfield with the given recipients and `extra_school` in its table,
    Elmwood), their rows, and sessions."""
    path = write_config(tmp_path, recipients or {"digital_champion": ["console://"]},
                        extra_school=extra_school)
    path.write_text(path.read_text() + SECOND_SCHOOL)
    config = load(path)
    _, sessions = open_database(config)
    with sessions.begin() as session:
        sources.sync(session, config)
    return config, sessions


@pytest.fixture
def school(tmp_path):
    return make_school(tmp_path)


def add(sessions, config, **fields) -> int:
    values = {"reason": "sent abuse to staff", "added_by": "jo.it", "school_id": "oakfield",
              "now": NOW, **fields}
    with sessions.begin() as session:
        return watchlist.add(session, config, **values).id


def matched(sessions, *, school_id="oakfield", platform="x", account_id="", handle="",
            name="", now=NOW) -> list[int]:
    with sessions.begin() as session:
        return [e.id for e in watchlist.matches(session, school_id, platform, account_id,
                                                handle, name, now)]


# --- matching -----------------------------------------------------------------------------------

def test_an_account_matches_by_its_platform_id_on_its_platform_only(school):
    config, sessions = school
    entry = add(sessions, config, platform="x", account_id="1234567890")
    assert matched(sessions, account_id="1234567890", handle="anything") == [entry]
    assert matched(sessions, account_id="1234567891", handle="anything") == []
    assert matched(sessions, platform="facebook", account_id="1234567890") == []


def test_a_handle_matches_until_its_id_is_seen_and_the_id_is_kept_through_a_handle_change(
        school):
    config, sessions = school
    entry = add(sessions, config, platform="x", handle="@OakHater")
    # First seen: the handle matches (whatever its case) and the id is recorded.
    assert matched(sessions, account_id="555", handle="oakhater", name="Mr Angry") == [entry]
    with sessions() as session:
        stored = session.get(models.WatchlistEntry, entry)
        assert stored.account_id == "555" and stored.handle == "OakHater"
    # The account renames itself: still watched, by its id.
    assert matched(sessions, account_id="555", handle="friendly_dad") == [entry]
    # Someone else takes up the old handle: not watched.
    assert matched(sessions, account_id="777", handle="OakHater") == []


def test_a_handle_is_matched_only_on_the_entrys_platform(school):
    config, sessions = school
    add(sessions, config, platform="instagram", handle="oakhater")
    assert matched(sessions, platform="x", account_id="555", handle="oakhater") == []
    with sessions() as session:
        [stored] = session.scalars(select(models.WatchlistEntry))
        assert stored.account_id is None


@pytest.mark.parametrize("handle, name, pattern, hit", [
    ("", "Oakley Jones", "oak", False),            # whole words: Oak is not Oakley
    ("", "The OAK Tree", "oak", True),
    ("", "Zoë Smith", "zoe smith", True),           # accents and case
    ("", "ZOE   smith", "Zoë Smith", True),
    ("", "Big h4ter", "hater", True),               # leetspeak
    ("h4ter_99", "Bob", "hater", True),             # in the handle, between separators
    ("OakHaters", "Bob", "hater", True),            # capitals join words in a handle; plural
    ("whatever", "Whatever Person", "hater", False),
    ("", "Chattering", "hat", False),
])
def test_a_pattern_matches_whole_words_whatever_the_case_accents_or_leetspeak(
        school, handle, name, pattern, hit):
    config, sessions = school
    entry = add(sessions, config, pattern=pattern)
    assert matched(sessions, account_id="1", handle=handle, name=name) == ([entry] if hit else [])


def test_a_pattern_for_one_platform_does_not_match_on_another(school):
    config, sessions = school
    entry = add(sessions, config, pattern="hater", platform="facebook")
    assert matched(sessions, platform="facebook", name="A Hater") == [entry]
    assert matched(sessions, platform="x", name="A Hater") == []


def test_id_matches_come_first_and_an_entry_is_returned_once(school):
    config, sessions = school
    pattern = add(sessions, config, pattern="hater")
    by_id = add(sessions, config, platform="x", account_id="42")
    assert matched(sessions, account_id="42", handle="the_hater", name="Hater") == [by_id,
                                                                                  pattern]


def test_an_entry_past_its_expiry_no_longer_matches(school):
    config, sessions = school
    entry = add(sessions, config, platform="x", account_id="42",
                expires_at=NOW + timedelta(days=7))
    assert matched(sessions, account_id="42", now=NOW + timedelta(days=6)) == [entry]
    assert matched(sessions, account_id="42", now=NOW + timedelta(days=7, seconds=1)) == []
    with sessions() as session:
        later = NOW + timedelta(days=8)
        assert watchlist.entries(session, later) == []
        [expired] = watchlist.entries(session, later, states=("expired",))
        assert watchlist.state(expired, later) == "expired"


def test_a_school_entry_matches_at_that_school_and_a_trust_entry_at_every_school(school):
    config, sessions = school
    own = add(sessions, config, platform="x", account_id="42", school_id="oakfield")
    trust = add(sessions, config, platform="x", account_id="43", school_id=None)
    assert matched(sessions, account_id="42") == [own]
    assert matched(sessions, school_id="elmwood", account_id="42") == []
    assert matched(sessions, account_id="43") == [trust]
    assert matched(sessions, school_id="elmwood", account_id="43") == [trust]


def test_a_removed_entry_no_longer_matches_and_is_kept_with_who_removed_it(school):
    config, sessions = school
    entry = add(sessions, config, platform="x", account_id="42")
    with sessions.begin() as session:
        assert [e.id for e in watchlist.matches(session, "oakfield", "x", "42", "", "", NOW)] \
            == [entry]
        watchlist.remove(session, entry, "sam.it", now=NOW + timedelta(hours=1))
        # The same transaction sees the removal at once: its copy of the list was dropped.
        assert watchlist.matches(session, "oakfield", "x", "42", "", "", NOW) == []
    with sessions() as session:
        [kept] = watchlist.entries(session, NOW, states=("removed",))
        assert (kept.id, kept.removed_by, kept.reason) == (entry, "sam.it", "sent abuse to staff")
    with pytest.raises(watchlist.WatchlistError, match="already removed by sam.it"), \
            sessions.begin() as session:
        watchlist.remove(session, entry, "sam.it")


def test_the_entries_are_read_once_per_transaction_however_many_items_are_matched(school):
    config, sessions = school
    add(sessions, config, platform="x", account_id="42")
    add(sessions, config, pattern="hater")
    statements = []
    engine = sessions.kw["bind"]

    def count(conn, cursor, statement, *args):
        if "watchlist_entry" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with sessions.begin() as session:
            for n in range(200):
                watchlist.matches(session, "oakfield", "x", str(n), f"user{n}", "A Person", NOW)
        assert len(statements) == 1
        with sessions.begin() as session:  # the next transaction reads them again
            watchlist.matches(session, "oakfield", "x", "42", "", "", NOW)
        assert len(statements) == 2
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("fields, words", [
    ({"platform": "x", "account_id": "1", "pattern": "hater"}, "not both"),
    ({"platform": "x"}, "nothing to match"),
    ({"platform": "myspace", "account_id": "1"}, "unknown platform 'myspace'"),
    ({"account_id": "1"}, "needs its platform"),
    ({"platform": "x", "account_id": "1", "reason": "  "}, "a reason is required"),
    ({"platform": "x", "account_id": "1", "school_id": "nowhere"}, "unknown school 'nowhere'"),
    ({"platform": "x", "handle": "Mr Angry"}, "has a space in it"),
    ({"pattern": "!!!"}, "no letters or digits"),
    ({"platform": "x", "account_id": "1", "expires_at": NOW - timedelta(days=1)},
     "in the past"),
])
def test_an_entry_that_cannot_be_is_refused_in_one_line(school, fields, words):
    config, sessions = school
    with pytest.raises(watchlist.WatchlistError, match=words), sessions.begin() as session:
        watchlist.add(session, config, **{"reason": "r", "added_by": "jo", "now": NOW,
                                          **fields})


def test_the_same_account_twice_for_the_same_school_is_refused_naming_the_entry(school):
    config, sessions = school
    entry = add(sessions, config, platform="x", account_id="42")
    with pytest.raises(watchlist.WatchlistError, match=f"already on the watchlist as entry "
                                                       f"#{entry}"):
        add(sessions, config, platform="x", account_id="42", reason="again")
    # For the whole trust it is another entry.
    assert add(sessions, config, platform="x", account_id="42", school_id=None) != entry


def test_an_expiry_is_a_date_to_the_end_of_that_day_or_a_number_of_days():
    end = watchlist.parse_expiry("2026-12-01", NOW, "Europe/London")
    assert end == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # GMT in winter
    assert watchlist.parse_expiry("30", NOW, "Europe/London") == NOW + timedelta(days=30)
    assert watchlist.parse_expiry("", NOW, "Europe/London") is None
    with pytest.raises(watchlist.WatchlistError, match="is not a date"):
        watchlist.parse_expiry("next tuesday", NOW, "Europe/London")


# --- alerts -------------------------------------------------------------------------------------

def alerting_school(tmp_path, smtp_inbox):
    return make_school(tmp_path, {"it": [smtp_inbox.url("it@school.example")],
                                  "digital_champion": [smtp_inbox.url("champion@school.example")]})


def an_item(session, text="you lot are a joke", kind="comment") -> models.Item:
    source = session.scalars(select(models.Source).where(models.Source.school_id == "oakfield")
                             ).first()
    item = models.Item(platform="facebook", external_id="104857392011_9", source_id=source.id,
                       school_id="oakfield", kind=kind, author_id="9001",
                       author_handle="", author_name="Oak Hater", text=text,
                       created_at=datetime.now(UTC),
                       permalink="https://www.facebook.com/104857392011/posts/9")
    session.add(item)
    session.flush()
    return item


def test_a_watchlisted_follower_is_told_to_it_only_by_email(tmp_path, smtp_inbox):
    config, sessions = alerting_school(tmp_path, smtp_inbox)
    add(sessions, config, platform="x", account_id="42", reason="threatened the head in 2025",
        now=datetime.now(UTC))
    now = datetime.now(UTC)
    with sessions.begin() as session:
        found = watchlist.matches(session, "oakfield", "x", "42", "angry_dad", "Angry Dad", now)
        alert = watchlist.alert_watched(session, config, "oakfield", "follow", "x", "42",
                                        "angry_dad", "Angry Dad", found, now)
        assert alert is not None and (alert.kind, alert.severity) == ("watchlist", "high")
    assert notify.deliver_due(config, sessions, "test").sent == 1
    [mail] = smtp_inbox.messages
    assert mail["To"] == "it@school.example"
    assert mail["Subject"] == ("[For IT] Watchlisted account followed - Oakfield Primary School "
                               "- X")
    body = smtp_inbox.text(mail)
    assert "Who: Angry Dad (@angry_dad), X id 42" in body
    assert "threatened the head in 2025 (added by jo.it on " in body
    assert "for Oakfield Primary School" in body


def test_a_watchlisted_commenter_is_told_to_it_and_the_champion(tmp_path, smtp_inbox):
    config, sessions = alerting_school(tmp_path, smtp_inbox)
    add(sessions, config, pattern="hater", school_id=None, reason="names used in a 2025 campaign",
        now=datetime.now(UTC))
    now = datetime.now(UTC)
    with sessions.begin() as session:
        item = an_item(session)
        found = watchlist.matches(session, "oakfield", item.platform, item.author_id,
                                  item.author_handle, item.author_name, now)
        alert = watchlist.alert_watched(session, config, "oakfield",
                                        watchlist.event_for(item.kind), item.platform,
                                        item.author_id, item.author_handle, item.author_name,
                                        found, now, item_id=item.id)
        assert alert is not None and alert.item_id == item.id
    assert notify.deliver_due(config, sessions, "test").sent == 2
    by_address = {mail["To"]: mail for mail in smtp_inbox.messages}
    assert set(by_address) == {"it@school.example", "champion@school.example"}
    for mail in by_address.values():
        assert "Watchlisted account commented - Oakfield Primary School - Facebook" \
            in mail["Subject"]
        body = smtp_inbox.text(mail)
        assert "names used in a 2025 campaign" in body
        assert 'pattern "hater", for the whole trust' in body
        assert "Where: https://www.facebook.com/104857392011/posts/9" in body
        assert "If the account is no longer a concern: hallmonitor watchlist remove 1" in body


def test_the_champions_copy_is_addressed_to_them_not_passed_on_from_it(tmp_path, smtp_inbox):
    config, sessions = alerting_school(tmp_path, smtp_inbox)
    add(sessions, config, platform="facebook", account_id="9001", now=datetime.now(UTC))
    now = datetime.now(UTC)
    with sessions.begin() as session:
        item = an_item(session)
        found = watchlist.matches(session, "oakfield", "facebook", "9001", "", "", now)
        watchlist.alert_watched(session, config, "oakfield", "comment", "facebook", "9001", "",
                                "Oak Hater", found, now, item_id=item.id)
    notify.deliver_due(config, sessions, "test")
    [mail] = [m for m in smtp_inbox.messages if m["To"] == "champion@school.example"]
    assert mail["Subject"] == ("[For IT and the digital champion] Watchlisted account "
                               "commented - Oakfield Primary School - Facebook")
    assert "Please pass it on" not in smtp_inbox.text(mail)


def test_one_event_is_one_alert(school):
    config, sessions = school
    add(sessions, config, platform="x", account_id="42")
    with sessions.begin() as session:
        found = watchlist.matches(session, "oakfield", "x", "42", "", "", NOW)
        first = watchlist.alert_watched(session, config, "oakfield", "follow", "x", "42", "",
                                        "", found, NOW)
        again = watchlist.alert_watched(session, config, "oakfield", "follow", "x", "42", "",
                                        "", found, NOW + timedelta(hours=2))
        assert first is not None and again is None
        # The next day's follow (after an unfollow) is news, and so is an unfollow today.
        assert watchlist.alert_watched(session, config, "oakfield", "unfollow", "x", "42", "",
                                       "", found, NOW)
        assert watchlist.alert_watched(session, config, "oakfield", "refollow", "x", "42", "",
                                       "", found, NOW + timedelta(days=1))
        assert watchlist.alert_watched(session, config, "oakfield", "follow", "x", "42", "",
                                       "", [], NOW) is None
    with sessions() as session:
        assert len(session.scalars(select(models.Alert)).all()) == 3


def test_an_items_own_alert_says_its_author_is_watched_and_why(school):
    config, sessions = school
    add(sessions, config, platform="x", account_id="42", reason="threatened the head")
    add(sessions, config, pattern="hater", reason="campaign names", added_by="sam.it")
    with sessions.begin() as session:
        found = watchlist.matches(session, "oakfield", "x", "42", "", "The Hater", NOW)
        assert watchlist.watch_note(found) == (
            "The author is on the watchlist: threatened the head (added by jo.it on 30 Nov "
            "2026); campaign names (added by sam.it on 30 Nov 2026)")
    assert watchlist.watch_note([]) == ""
