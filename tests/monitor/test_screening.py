"""Screening new followers: each signal fires on the account it describes and stays quiet on an
ordinary one, the real shipped classifier reads names and bios, the staff list is matched only
through keyed hashes and never stored in clear, and bursts are found from follow times."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from classifiers import load_classifier
from monitor import models, screening
from monitor.classify import ClassifierCache
from monitor.config import Config, load
from monitor.daemon import open_database
from monitor.staff_names import (
    HashedNames,
    NameHasher,
    NameListError,
    NameMatcher,
    load_staff_names,
    staff_names_for,
    stored_names,
)

SCHOOL = "oakfield"
X_ACCOUNT = "1500000001"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ESTABLISHED = {"created_at": "2015-03-01T10:00:00+00:00", "posts": 1200, "following": 300,
               "default_image": False}
STAFF = ["Jane Smith", "Tom O'Brien", "Priya Patel"]
KEY = "a-long-random-key-kept-outside-the-config-0123456789"


# --- the builder --------------------------------------------------------------------------------

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
settings = { path = "x", as_platform = "x", handle = "OakfieldPS" }
"""


@dataclass
class Built:
    config: Config
    sessions: sessionmaker[Session]
    source_id: int
    directory: Path
    ids: dict[str, int] = field(default_factory=dict)  # handle -> follower id

    @property
    def school(self):
        return self.config.school(SCHOOL)


def build(directory: Path) -> Built:
    """Oakfield with its X account's followers source, and no followers yet."""
    path = directory / "config.toml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    config = load(path)
    _, sessions = open_database(config)
    with sessions.begin() as session:
        session.add(models.School(id=SCHOOL, name="Oakfield Primary School"))
        source = models.Source(key=f"{SCHOOL}/x/{X_ACCOUNT}/followers", school_id=SCHOOL,
                               platform="x", item_platform="x", kind="followers",
                               account=X_ACCOUNT, settings={"handle": "OakfieldPS"},
                               name="Oakfield on X")
        session.add(source)
        session.flush()
        source_id = source.id
    return Built(config, sessions, source_id, directory)


def add_follower(built: Built, handle: str, *, name: str = "", bio: str = "",
                 profile: dict[str, Any] | None = None, at: datetime = NOW,
                 events: tuple[tuple[str, datetime], ...] | None = None,
                 screened: dict[str, Any] | None = None,
                 unfollowed_at: datetime | None = None) -> int:
    """A follower first seen at `at`, with a follow event then unless `events` says otherwise."""
    with built.sessions.begin() as session:
        row = models.Follower(source_id=built.source_id, platform="x",
                              account_id=f"9{len(built.ids) + 1:05d}", handle=handle,
                              name=name or handle, bio=bio,
                              profile=dict(ESTABLISHED if profile is None else profile),
                              first_seen_at=at, followed_at=at, unfollowed_at=unfollowed_at,
                              screening=screened)
        session.add(row)
        session.flush()
        for kind, when in (events if events is not None else (("follow", at),)):
            session.add(models.FollowerEvent(follower_id=row.id, kind=kind, at=when))
        built.ids[handle] = row.id
        return row.id


def screening_of(built: Built, handle: str) -> screening.Screening:
    with built.sessions() as session:
        found = screening.Screening.from_json(
            session.get(models.Follower, built.ids[handle]).screening)
    assert found is not None, f"{handle} was not screened"
    return found


@dataclass
class Fields:
    handle: str
    name: str = ""
    bio: str = ""
    profile: dict[str, Any] | None = field(default_factory=lambda: dict(ESTABLISHED))
    account_id: str = "12345"


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classifier():
    """The real shipped classifier, loaded once for the module."""
    return load_classifier()


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    """The daemon's classifier cache, loaded once for the module (the school is the same in
    every test's config)."""
    directory = tmp_path_factory.mktemp("classifier")
    (directory / "config.toml").write_text(CONFIG, encoding="utf-8")
    return ClassifierCache(load(directory / "config.toml"))


@pytest.fixture
def built(tmp_path, monkeypatch, database):
    monkeypatch.chdir(tmp_path)
    return build(tmp_path)


@pytest.fixture
def hasher():
    return NameHasher(KEY)


def screen(built_or_school, follower: Fields, classifier, *, staff=None,
           recent_follows: int = 1) -> screening.Screening:
    school = getattr(built_or_school, "school", built_or_school)
    return screening.screen(follower, school, classifier=classifier, staff_names=staff, now=NOW,
                            recent_follows=recent_follows)


@pytest.fixture
def school(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    return load(tmp_path / "config.toml").school(SCHOOL)


# --- the profile signals ------------------------------------------------------------------------

def test_an_established_account_with_posts_and_a_picture_raises_nothing(school, classifier):
    found = screen(school, Fields("sarah_h", "Sarah Hughes", "Mum of two, Leeds fan"),
                   classifier)
    assert (found.signals, found.flags, found.categories, found.concern) == ((), (), {}, False)


def test_a_days_old_account_that_never_posted_with_the_default_picture_is_of_concern(
        school, classifier):
    found = screen(school, Fields("user84622913", profile={
        "created_at": (NOW - timedelta(days=3)).isoformat(), "posts": 0, "following": 900,
        "default_image": True}), classifier)
    assert found.signals == ("young_account", "no_posts", "default_image")
    assert found.concern
    assert found.flags == (f"new account: created {NOW - timedelta(days=3):%Y-%m-%d}, "
                           "3 days old", "has never posted", "default profile picture")


def test_one_weak_signal_alone_is_not_of_concern(school, classifier):
    # Plenty of parents never post and keep the default picture.
    found = screen(school, Fields("dad_of_3", profile={**ESTABLISHED, "posts": 0}), classifier)
    assert found.signals == ("no_posts",)
    assert not found.concern


def test_an_account_a_month_old_or_with_no_creation_date_is_not_young(school, classifier):
    month = screen(school, Fields("a", profile={
        **ESTABLISHED, "created_at": (NOW - timedelta(days=31)).isoformat()}), classifier)
    unknown = screen(school, Fields("b", profile={"posts": 3, "default_image": False}),
                     classifier)
    neither = screen(school, Fields("c", profile=None), classifier)
    assert month.signals == unknown.signals == neither.signals == ()


def test_how_young_counts_as_new_can_be_set(school, classifier):
    fields = Fields("a", profile={**ESTABLISHED,
                                  "created_at": (NOW - timedelta(days=45)).isoformat()})
    assert screening.screen(fields, school, classifier=classifier, staff_names=None, now=NOW,
                            recent_follows=1, young_days=60).signals == ("young_account",)


# --- imitating the school -----------------------------------------------------------------------

@pytest.mark.parametrize("handle, name", [
    ("0akfield_primary", "Oakfield Primary"),
    ("oakfieldps_", "Parents news"),
    ("the_real_oakfieldps", "Info"),
    ("news_desk", "Oakfield Primary School Official"),
    ("oakfeild_primary", "Updates"),
])
def test_a_name_or_handle_imitating_the_school_is_of_concern(school, classifier, handle, name):
    found = screen(school, Fields(handle, name), classifier)
    assert found.signals == ("imitates_school",)
    assert found.concern
    assert "resembles the school (\"Oakfield Primary School\")" in found.flags[0]


@pytest.mark.parametrize("handle, name", [
    ("oak_tree_lover", "Oak Tree Lover"),
    ("ashfield_primary", "Ashfield Primary"),  # another school
    ("oakfield_mum", "Oakfield Mum"),  # a parent saying where her children go
    ("oakfieldpta", "Oakfield PTA"),
    ("springfield_ps", "Springfield Primary School"),
])
def test_a_name_that_only_shares_a_word_with_the_school_is_not_an_imitation(
        school, classifier, handle, name):
    assert screen(school, Fields(handle, name), classifier).signals == ()


def test_the_schools_own_account_does_not_imitate_itself(school, classifier):
    found = screen(school, Fields("OakfieldPS", "Oakfield Primary School",
                                  account_id=X_ACCOUNT), classifier)
    assert found.signals == ()


# --- imitating a member of staff ----------------------------------------------------------------

def staff_list(sessions, directory: Path, hasher: NameHasher) -> NameMatcher:
    """The staff CSV as IT exports it, loaded into the database."""
    csv = directory / "staff.csv"
    csv.write_text("First name,Surname,Role\n" + "".join(
        f"{n.split()[0]},{n.split(maxsplit=1)[1]},Teacher\n" for n in STAFF), encoding="utf-8")
    with sessions.begin() as session:
        listed = load_staff_names(session, SCHOOL, csv, hasher, NOW)
    return NameMatcher(hasher, listed)


@pytest.mark.parametrize("handle, name", [
    ("mrs_j_smith", "Jane"),
    ("mrs_5mith", "Mrs S"),  # leetspeak
    ("realmrssmith", "Real one"),  # run together
    ("teacher_news", "Mr O'Brien"),
    ("tom_obrien88", "T"),
    ("pp", "Mrs Pätel"),  # accents
])
def test_a_name_or_handle_imitating_a_member_of_staff_is_found_through_the_hashed_list(
        built, classifier, hasher, handle, name):
    staff = staff_list(built.sessions, built.directory, hasher)
    found = screen(built, Fields(handle, name), classifier, staff=staff)
    assert found.signals == ("imitates_staff",)
    assert found.concern
    assert found.flags[0] in ("name matches a name on the staff list",
                              "handle matches a name on the staff list")


@pytest.mark.parametrize("handle, name", [
    ("smith_family", "The Smiths"),  # a surname alone is not a member of staff
    ("jane_smithers", "Jane Smithers"),
    ("tom_jones", "Tom Jones"),
])
def test_a_name_sharing_only_part_of_a_staff_name_is_not_flagged(built, classifier, hasher,
                                                                  handle, name):
    staff = staff_list(built.sessions, built.directory, hasher)
    assert screen(built, Fields(handle, name), classifier, staff=staff).signals == ()


def test_no_staff_name_is_stored_in_clear_after_the_list_is_loaded(built, hasher, database):
    staff_list(built.sessions, built.directory, hasher)
    with built.sessions() as session:
        stored = stored_names(session, SCHOOL, "staff")
        values = " ".join(session.scalars(select(models.Setting.value))).lower()
    assert stored is not None and stored.people == 3 and stored.digests
    words = {w.lower().replace("'", "") for name in STAFF for w in name.split()}
    assert not [w for w in words if w in values]
    assert KEY not in values
    # Nowhere in the database file either (SQLite), whatever table it might have gone to.
    if database == "sqlite":
        raw = (built.directory / "data" / "hallmonitor.sqlite3").read_bytes().lower()
        assert not [w for w in words if w.encode() in raw]


def configured(key_reference: str | None):
    """A config with the two keys the staff list needs (`schools[].staff_names` and
    `daemon.name_key`), which the config file does not take yet: only what is read of it."""
    def secret(reference):
        raise KeyError(reference)  # as Config.secret does for a reference it did not resolve

    return SimpleNamespace(daemon=SimpleNamespace(name_key=key_reference), secret=secret)


def test_the_configured_staff_list_is_loaded_hashed_and_again_only_when_exported_again(
        built, monkeypatch):
    monkeypatch.setenv("HM_TEST_NAME_KEY", KEY)
    csv = built.directory / "staff.csv"
    csv.write_text("name\nJane Smith\nTom O'Brien\n", encoding="utf-8")
    os.utime(csv, (NOW.timestamp() - 3600, NOW.timestamp() - 3600))
    school = SimpleNamespace(id=SCHOOL, staff_names=csv)
    config = configured("env:HM_TEST_NAME_KEY")

    def staff(now):
        with built.sessions.begin() as session:
            return staff_names_for(session, config, school, now)

    first = staff(NOW)
    assert first.names.people == 2 and first.matches("mrs_j_smith")
    assert staff(NOW + timedelta(hours=1)).names.loaded_at == NOW.isoformat()  # kept
    csv.write_text("name\nJane Smith\nTom O'Brien\nAmir Khan\n", encoding="utf-8")
    os.utime(csv, (NOW.timestamp() + 7200, NOW.timestamp() + 7200))
    again = staff(NOW + timedelta(hours=3))
    assert again.names.people == 3 and again.matches("mr_khan")
    # Another key: the stored digests are useless, so the list is hashed again under it.
    monkeypatch.setenv("HM_TEST_NAME_KEY", "a-new-key")
    rekeyed = staff(NOW + timedelta(hours=4))
    assert rekeyed.names.fingerprint == NameHasher("a-new-key").fingerprint
    assert rekeyed.matches("mr_khan")


def test_without_a_key_staff_names_are_not_checked_and_a_missing_key_is_named(built,
                                                                             monkeypatch):
    school = SimpleNamespace(id=SCHOOL, staff_names=None)
    with built.sessions() as session:
        assert staff_names_for(session, configured(None), school, NOW) is None
        monkeypatch.delenv("HM_TEST_NAME_KEY", raising=False)
        with pytest.raises(NameListError, match="^the key for hashing names: environment "
                                                "variable HM_TEST_NAME_KEY is not set$"):
            staff_names_for(session, configured("env:HM_TEST_NAME_KEY"), school, NOW)


def test_a_list_hashed_under_another_key_is_refused_rather_than_matching_nothing(built,
                                                                                 hasher):
    staff = staff_list(built.sessions, built.directory, hasher)
    other = NameMatcher(NameHasher("another-key-altogether"), staff.names)
    with pytest.raises(NameListError, match="hashed with another key"):
        other.matches("mrs_j_smith")


def test_a_staff_list_that_cannot_be_read_is_named_in_one_line(built, hasher):
    bad = built.directory / "staff.csv"
    bad.write_text("Role\nTeacher\n", encoding="utf-8")
    with built.sessions.begin() as session, pytest.raises(NameListError) as error:
        load_staff_names(session, SCHOOL, bad, hasher, NOW)
    assert str(error.value).startswith(f"staff-name list {bad}: the first row must name")
    assert "\n" not in str(error.value)


def test_the_same_names_under_another_key_give_other_digests(hasher):
    empty = HashedNames("staff", hasher.fingerprint, frozenset(), 0, NOW.isoformat())
    assert not empty.matches(hasher, "mrs_j_smith")
    assert hasher.digest("janesmith") != NameHasher("other").digest("janesmith")
    assert "0123456789" not in repr(hasher)


# --- the classifier -----------------------------------------------------------------------------

def test_the_classifier_flags_an_abusive_bio_with_its_score(school, classifier):
    found = screen(school, Fields("parent_1", "A Parent",
                                  "you are all useless c*nts and the teachers are scum"),
                   classifier)
    assert "abusive" in found.categories
    assert 0.5 < found.categories["abusive"] <= 1.0
    assert set(found.categories) <= {"abusive", "hateful", "spam"}
    assert found.concern and "classifier" in found.signals
    assert any(flag.startswith("bio reads as abusive (") for flag in found.flags)


def test_the_classifier_flags_a_spam_name(school, classifier):
    found = screen(school, Fields("followers4u", "Buy followers cheap! crypto giveaway"),
                   classifier)
    assert "spam" in found.categories
    assert any(flag.startswith("name or handle reads as spam (") for flag in found.flags)


def test_a_friendly_bio_has_no_categories_even_when_it_praises_or_asks(school, classifier):
    # Praise and questions are categories of the classifier, but not of screening.
    found = screen(school, Fields("gran_of_4", "Proud Gran",
                                  "What a wonderful school, thank you for everything! When is "
                                  "sports day?"), classifier)
    assert found.categories == {}
    assert not found.concern


# --- bursts -------------------------------------------------------------------------------------

def test_more_than_twenty_follows_within_an_hour_is_a_burst_and_twenty_is_not():
    start = NOW
    burst = [(n, start + timedelta(minutes=2 * n)) for n in range(21)]  # 40 minutes
    assert set(screening.burst_sizes(burst).values()) == {21}
    twenty = [(n, start + timedelta(minutes=2 * n)) for n in range(20)]
    assert set(screening.burst_sizes(twenty).values()) == {20}
    spread = [(n, start + timedelta(hours=n)) for n in range(30)]
    assert set(screening.burst_sizes(spread).values()) == {1}


def test_each_follow_gets_its_busiest_hour():
    # 25 follows between 10:00 and 10:48, one at 11:30 (within an hour of the last of them but
    # in a window of its own with only 14), one the next day.
    times = [(n, NOW + timedelta(minutes=2 * n)) for n in range(25)]
    times += [(100, NOW + timedelta(minutes=90)), (101, NOW + timedelta(days=1))]
    sizes = screening.burst_sizes(times)
    assert all(sizes[n] == 25 for n in range(25))
    assert sizes[100] == 1 + sum(1 for n in range(25) if 2 * n > 30)
    assert sizes[101] == 1


def test_a_burst_of_follows_is_flagged_on_each_of_them_by_screen_new(built, classifiers):
    for n in range(22):
        add_follower(built, f"bot_{n:02d}", at=NOW - timedelta(hours=5) + timedelta(minutes=n))
    add_follower(built, "lone_parent", at=NOW - timedelta(hours=2))
    with built.sessions.begin() as session:
        results = screening.screen_new(session, built.config, built.source_id,
                                       NOW - timedelta(days=1), NOW, classifiers=classifiers)
    assert len(results) == 23
    bot = screening_of(built, "bot_07")
    assert bot.signals == ("burst",) and bot.concern
    assert bot.flags == ("part of a burst: one of 22 follows of the account recorded within "
                         "an hour",)
    assert screening_of(built, "lone_parent").signals == ()


def a_poll(built: Built, finished: datetime, error: str | None = None) -> None:
    with built.sessions.begin() as session:
        session.add(models.PollRun(source_id=built.source_id, started_at=finished
                                   - timedelta(minutes=1), finished_at=finished, error=error))


def screen_since_yesterday(built: Built, classifiers) -> None:
    with built.sessions.begin() as session:
        screening.screen_new(session, built.config, built.source_id, NOW - timedelta(days=1),
                             NOW, classifiers=classifiers)


def test_a_daily_syncs_new_followers_found_together_are_no_burst(built, classifiers):
    # X does not say when anyone followed: the 30 found by today's sync followed at some time
    # since yesterday's, about one an hour.
    a_poll(built, NOW - timedelta(days=1))
    a_poll(built, NOW - timedelta(hours=2), error="RetryableError: 503")  # read nothing
    for n in range(30):
        add_follower(built, f"parent_{n:02d}", at=NOW - timedelta(minutes=5))
    screen_since_yesterday(built, classifiers)
    assert screening_of(built, "parent_00").signals == ()
    assert screening_of(built, "parent_29").signals == ()


def test_followers_found_together_soon_after_the_last_sync_are_a_burst(built, classifiers):
    a_poll(built, NOW - timedelta(minutes=40))
    for n in range(30):
        add_follower(built, f"bot_{n:02d}", at=NOW - timedelta(minutes=5))
    screen_since_yesterday(built, classifiers)
    assert screening_of(built, "bot_00").signals == ("burst",)
    assert screening_of(built, "bot_29").flags == (
        "part of a burst: one of 30 follows of the account recorded within an hour",)


def test_the_first_full_reads_followers_are_no_burst(built, classifiers):
    # Read all at once by the first sync, which records no follow: when each of them followed
    # is not known.
    for n in range(30):
        add_follower(built, f"old_{n:02d}", at=NOW - timedelta(hours=1), events=())
    with built.sessions.begin() as session:
        screening.screen_new(session, built.config, built.source_id, NOW - timedelta(days=1),
                             NOW, classifiers=classifiers)
    assert screening_of(built, "old_03").signals == ()


# --- screening what is new ----------------------------------------------------------------------

def test_screen_new_screens_only_followers_first_seen_since_and_stores_the_result(
        built, classifiers):
    add_follower(built, "last_month", at=NOW - timedelta(days=30),
                 profile={"posts": 0, "default_image": True})
    add_follower(built, "0akfield_primary", name="Oakfield Primary",
                 at=NOW - timedelta(hours=3))
    add_follower(built, "friendly_dad", at=NOW - timedelta(hours=2))
    with built.sessions.begin() as session:
        results = screening.screen_new(session, built.config, built.source_id,
                                       NOW - timedelta(days=7), NOW, classifiers=classifiers)
    assert sorted(results) == sorted([built.ids["0akfield_primary"], built.ids["friendly_dad"]])
    with built.sessions() as session:
        assert session.get(models.Follower, built.ids["last_month"]).screening is None
        stored = session.get(models.Follower, built.ids["0akfield_primary"]).screening
    assert stored["concern"] is True
    assert stored["signals"] == ["imitates_school"]
    assert stored["screened_at"] == NOW.isoformat()
    assert stored["model_version"]
    assert screening.Screening.from_json(stored) == results[built.ids["0akfield_primary"]]
    assert not screening_of(built, "friendly_dad").concern


def test_screen_new_matches_staff_names_with_the_list_it_is_given(built, classifiers, hasher):
    staff = staff_list(built.sessions, built.directory, hasher)
    add_follower(built, "mrs_smith_oakfield", name="Mrs Smith")
    with built.sessions.begin() as session:
        screening.screen_new(session, built.config, built.source_id, NOW - timedelta(days=1),
                             NOW, classifiers=classifiers, staff_names=staff)
    assert "imitates_staff" in screening_of(built, "mrs_smith_oakfield").signals


def test_an_unknown_source_is_named_in_one_line(built, classifiers):
    with built.sessions() as session, pytest.raises(ValueError, match="^there is no source 99$"):
        screening.screen_new(session, built.config, 99, NOW, NOW, classifiers=classifiers)


def test_the_database_holds_the_screening_as_json(built, classifiers):
    add_follower(built, "x_user", bio="Buy followers cheap! crypto giveaway")
    with built.sessions.begin() as session:
        screening.screen_new(session, built.config, built.source_id, NOW - timedelta(days=1),
                             NOW, classifiers=classifiers)
    with built.sessions() as session:
        raw = session.execute(text("SELECT screening FROM follower")).scalar_one()
    assert "spam" in str(raw)
