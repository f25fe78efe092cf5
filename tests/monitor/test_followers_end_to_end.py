"""Issue 11 end to end, from the config file to the email: a followers source synced through the
pipeline against a local X, the watchlist telling IT when a watched account follows or comments,
new followers screened against the school's name and its hashed staff list, IT's follower report
on the command line and by email, and the counts in the head's digest; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import html
import logging
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor import follower_report, followers, models, notify, sources, watchlist
from monitor.classify import ClassifierCache
from monitor.cli import cli
from monitor.cli.followers import followers_group
from monitor.config import load, parse
from monitor.daemon import open_database
from monitor.digest import content, render, weeks
from monitor.errors import ConfigError
from monitor.pipeline import Pipeline
from tests.builders import PAGE_ID, write_replay
from tests.connectors.test_x_followers import SCHOOL_ID, FakeFollowers, x_user

pytestmark = pytest.mark.usefixtures("database")

# A Tuesday: the follows below fall in ISO week 2026-W49, whose digest day is Monday 7 December.
START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DIGEST_DAY = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
NAME_KEY = "b7c1d0e4a9f3" * 4
STAFF = ("Jane Smith", "Priya Ramanathan")
# What must never reach the database or the logs: the staff list's names as written.
SECRET_NAMES = ("Jane Smith", "Priya", "Ramanathan")


def config_text(fake_url: str, *, daemon: str = "", school: str = "",
                x_settings: str = ", max_full_sync_cost = 50.0", it: str = "",
                champion: str = "") -> str:
    return textwrap.dedent(f"""\
        [daemon]
        data_dir = "data"
        {daemon}

        [[schools]]
        id = "oakfield"
        name = "Oakfield Primary School"
        {school}

        [[schools.accounts]]
        platform = "x"
        account = "{SCHOOL_ID}"
        kinds = ["followers"]
        credentials = {{ bearer_token = "env:HM_TEST_X_BEARER" }}
        settings = {{ base_url = "{fake_url}", handle = "OakfieldPrimary"{x_settings} }}

        [[schools.accounts]]
        platform = "replay"
        account = "{PAGE_ID}"
        kinds = ["comments"]
        settings = {{ path = "fb", as_platform = "facebook" }}

        [[schools.recipients]]
        role = "it"
        urls = ["{it or 'json://127.0.0.1:9/it'}"]

        [[schools.recipients]]
        role = "digital_champion"
        urls = ["{champion or 'json://127.0.0.1:9/champion'}"]
        """)


class World:
    """One school with a synced X account (a local fake X), a replayed Facebook page, its IT
    and champion at a real SMTP server, a staff list, and a clock."""

    def __init__(self, tmp_path, fake: FakeFollowers, smtp_inbox) -> None:
        (tmp_path / "staff.csv").write_text("name\n" + "\n".join(STAFF) + "\n", "utf-8")
        self.path = tmp_path / "config.toml"
        self.path.write_text(config_text(
            fake.url, daemon='name_key = "env:HM_TEST_NAME_KEY"',
            school='staff_names = "staff.csv"',
            it=smtp_inbox.url("it@school.example"),
            champion=smtp_inbox.url("champion@school.example")), encoding="utf-8")
        self.fake = fake
        self.inbox = smtp_inbox
        self.config = load(self.path)
        _, self.sessions = open_database(self.config)
        with self.sessions.begin() as session:
            sources.sync(session, self.config)
            self.ids = {kind: source_id for kind, source_id in session.execute(
                select(models.Source.kind, models.Source.id))}
        self.clock = START
        self.pipeline = Pipeline(self.config, self.sessions, ClassifierCache(self.config), "w1")
        self.pipeline.now = lambda: self.clock

    def sync(self, request: followers.SyncRequest | None = None):
        self.clock += timedelta(minutes=1)
        result = self.pipeline.poll(self.ids["followers"], due_only=False,
                                    follower_request=request)
        assert result.error is None, result.error
        return result

    def watch(self, **fields) -> int:
        values = {"reason": "threatened the head in 2025", "added_by": "jo.it",
                  "school_id": "oakfield", "now": self.clock, **fields}
        with self.sessions.begin() as session:
            return watchlist.add(session, self.config, **values).id

    def deliver(self, now: datetime | None = None) -> int:
        return notify.deliver_due(self.config, self.sessions, "test",
                                  now=now or self.clock).sent

    def mails_to(self, address: str) -> list:
        return [mail for mail in self.inbox.messages if mail["To"] == address]

    def command(self, *args: str):
        return CliRunner().invoke(cli, ["followers", *args, "--config", str(self.path)])


@pytest.fixture
def world(tmp_path, local_server, smtp_inbox, monkeypatch):
    monkeypatch.setitem(cli.commands, "followers", followers_group)
    monkeypatch.setenv("HM_TEST_X_BEARER", "AAAA-test-bearer")
    monkeypatch.setenv("HM_TEST_NAME_KEY", NAME_KEY)
    monkeypatch.chdir(tmp_path)
    return World(tmp_path, FakeFollowers().serve(local_server()), smtp_inbox)


def first_sync(w: World) -> None:
    """The account's followers before monitoring began: nobody is new."""
    w.fake.follow(*(x_user(n) for n in range(5)))
    assert w.sync().followers.mode == "full"


# The fake X changes the followers it is given (a rename): each test follows with copies.
ANGRY = x_user(10, "angry_dad", name="Angry Dad")
FAKE_SCHOOL = x_user(11, "OakfieldPrimarySch", name="Oakfield Primary School",
                     bio="Official news")
FAKE_STAFF = x_user(12, "mrs_j_smith", name="Mrs J Smith", bio="Teacher")
PARENT = x_user(13, "sam_parent", name="Sam", bio="Mum of two")


def follow(w: World, *users: dict) -> None:
    w.fake.follow(*(copy.deepcopy(user) for user in users))


# --- followers ----------------------------------------------------------------------------------

def test_a_watchlisted_account_that_follows_is_emailed_to_it_with_why_it_is_watched(world):
    first_sync(world)
    entry = world.watch(platform="x", handle="@angry_dad")
    world.clock += timedelta(days=1)
    follow(world, PARENT, ANGRY)
    result = world.sync()
    assert result.followers.mode == "incremental" and len(result.followers.new) == 2
    assert result.alerts == 1
    assert world.deliver() == 1
    [mail] = world.mails_to("it@school.example")
    assert mail["Subject"] == ("[For IT] Watchlisted account followed - Oakfield Primary School "
                               "- X")
    body = world.inbox.text(mail)
    assert f"Who: Angry Dad (@angry_dad), X id {ANGRY['id']}" in body
    assert "threatened the head in 2025 (added by jo.it on " in body
    assert not world.mails_to("champion@school.example")  # a follow is IT's alone
    # The handle entry now knows the account's id: a new handle is still the same account.
    with world.sessions() as session:
        assert session.get(models.WatchlistEntry, entry).account_id == ANGRY["id"]
    world.fake.rename(ANGRY["id"], "calm_dad")
    world.fake.unfollow(ANGRY["id"])
    world.clock += timedelta(days=1)
    world.sync(followers.SyncRequest(full=True, approved=True))
    assert world.deliver() == 1
    last = world.mails_to("it@school.example")[-1]
    assert last["Subject"].startswith("[For IT] Watchlisted account unfollowed")
    # Synced again the same day, nobody is told twice.
    world.sync()
    assert world.deliver() == 0


def test_new_followers_are_screened_and_the_report_puts_those_of_concern_first(world, caplog):
    caplog.set_level(logging.DEBUG)
    first_sync(world)
    world.clock += timedelta(days=1)
    follow(world, PARENT, FAKE_SCHOOL, FAKE_STAFF)
    world.sync()
    with world.sessions() as session:
        screened = {row.handle: row.screening for row in session.scalars(
            select(models.Follower)) if row.screening}
    assert set(screened) == {"sam_parent", "OakfieldPrimarySch", "mrs_j_smith"}
    assert not screened["sam_parent"]["concern"]
    assert "imitates_school" in screened["OakfieldPrimarySch"]["signals"]
    assert "imitates_staff" in screened["mrs_j_smith"]["signals"]

    result = world.command("report", "--account", SCHOOL_ID, "--since", "2026-12-01")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "3 new followers" in text and "2 of concern" in text
    concern = text[text.index("OF CONCERN"):text.index("NEW FOLLOWERS")]
    assert "OakfieldPrimarySch" in concern and "resembles the school" in concern
    assert "mrs_j_smith" in concern and "matches a name on the staff list" in concern
    assert "sam_parent" not in concern

    # The staff list is in the database only as keyed hashes, and never in the logs.
    with world.sessions() as session:
        stored = " ".join(str(value) for table in models.Base.metadata.sorted_tables
                          for row in session.execute(select(table)) for value in row)
    logged = caplog.text + text
    for name in SECRET_NAMES:
        assert name not in stored and name not in logged


def test_an_unknown_account_is_one_line_and_exit_2(world):
    result = world.command("report", "--account", "999")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("Error: no followers source for "
                                                             "account '999'")


def test_loading_the_staff_list_says_how_many_and_never_a_name(world, tmp_path):
    (tmp_path / "new-staff.csv").write_text("first name,surname\nAmal,Okonkwo\nTom,Reed\n"
                                            "Ewa,Nowak\n", "utf-8")
    result = CliRunner().invoke(cli, ["followers", "staff-names", "--school", "oakfield",
                                      str(tmp_path / "new-staff.csv"),
                                      "--config", str(world.path)])
    assert result.exit_code == 0, result.output
    assert result.output == "Oakfield Primary School: 3 staff names loaded, stored hashed\n"
    unknown = CliRunner().invoke(cli, ["followers", "staff-names", "--school", "elm",
                                       str(tmp_path / "new-staff.csv"),
                                       "--config", str(world.path)])
    assert unknown.exit_code == 2 and "unknown school 'elm'" in unknown.output


# --- comments -----------------------------------------------------------------------------------

def test_a_watchlisted_commenter_is_told_to_it_and_the_champion_and_its_alert_says_why(world,
                                                                                        tmp_path):
    # Comment 3 is by Facebook user 9003; it is abusive, so the champion hears of it anyway.
    write_replay(tmp_path / "fb", ["Lovely nativity today!", "what time is pick up?",
                                   "you are all useless c*nts"])
    world.watch(platform="facebook", account_id="9003", reason="sent abuse to staff")
    world.pipeline.now = lambda: datetime.now(UTC)
    result = world.pipeline.poll(world.ids["comments"], due_only=False)
    assert result.error is None and result.new_items == 3
    with world.sessions() as session:
        kinds = {alert.kind: alert for alert in session.scalars(select(models.Alert))}
        assert set(kinds) == {"watchlist", "item"}
        item_alert = kinds["item"]
        assert item_alert.details["notes"][0].startswith(
            "The author is on the watchlist: sent abuse to staff (added by jo.it on ")
    assert world.deliver(datetime.now(UTC)) == 3
    [to_it] = world.mails_to("it@school.example")
    assert to_it["Subject"] == ("[For IT and the digital champion] Watchlisted account "
                                "commented - Oakfield Primary School - Facebook")
    assert "sent abuse to staff" in world.inbox.text(to_it)
    champion = {mail["Subject"]: world.inbox.text(mail)
                for mail in world.mails_to("champion@school.example")}
    assert len(champion) == 2
    [item_mail] = [body for subject, body in champion.items() if "Watchlisted" not in subject]
    assert "The author is on the watchlist: sent abuse to staff" in item_mail


# --- the head's digest and IT's weekly email ----------------------------------------------------

def test_the_heads_digest_counts_the_weeks_followers_in_one_line(world):
    first_sync(world)
    world.clock += timedelta(days=1)
    follow(world, PARENT, FAKE_SCHOOL, FAKE_STAFF)
    world.sync()
    week = weeks.week_of("2026-W49", "Europe/London")
    with world.sessions() as session:
        digest = content.head_digest(session, world.config, "oakfield", week.start, week.end, [])
    assert digest.followers == {"new": 3, "lost": 0, "of_concern": 2, "platforms": ["x"]}
    rendered = render.render_head(digest, world.config, week)
    assert ("Followers on X: 3 new, 0 left, 2 of concern (see IT's follower report)"
            in rendered.text)
    assert ("Followers on X: 3 new, 0 left, 2 of concern (see IT's follower report)"
            in html.unescape(rendered.html))
    assert ("Followers on X: 3 new, 0 left, 2 of concern \\(see IT's follower report\\)"
            in rendered.markdown)
    # In the connectors and cost section, with the platforms' health.
    assert rendered.text.index("Followers on X") > rendered.text.upper().index(
        "CONNECTORS AND COST")


def test_a_school_without_a_followers_source_has_no_follower_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HM_TEST_X_BEARER", "AAAA-test-bearer")
    path = tmp_path / "config.toml"
    path.write_text(config_text("http://127.0.0.1:9").replace('kinds = ["followers"]',
                                                              'kinds = ["mentions"]'), "utf-8")
    config = load(path)
    _, sessions = open_database(config)
    with sessions.begin() as session:
        sources.sync(session, config)
    week = weeks.week_of("2026-W49", "Europe/London")
    with sessions() as session:
        digest = content.head_digest(session, config, "oakfield", week.start, week.end, [])
    assert digest.followers is None
    assert "Followers on" not in render.render_head(digest, config, week).text


def test_its_weekly_report_is_queued_once_on_the_digest_day_and_emailed(world):
    first_sync(world)
    world.clock += timedelta(days=1)
    follow(world, PARENT, FAKE_SCHOOL)
    world.sync()
    with world.sessions.begin() as session:
        # Monday 07:00: the digest for week 49 is not due until 07:30.
        assert follower_report.enqueue_follower_reports(
            session, world.config, DIGEST_DAY - timedelta(hours=1)) == []
        [alert] = follower_report.enqueue_follower_reports(session, world.config, DIGEST_DAY)
        assert (alert.kind, alert.severity) == ("follower_report", "normal")
        assert alert.dedupe_key == f"follower_report:{world.ids['followers']}:2026-W49"
        assert "OakfieldPrimarySch" in alert.body
        assert "OakfieldPrimarySch" in alert.details["digest"]["html"]
        # Later the same week: already queued.
        assert follower_report.enqueue_follower_reports(
            session, world.config, DIGEST_DAY + timedelta(hours=3)) == []
    world.deliver(DIGEST_DAY)
    [mail] = world.mails_to("it@school.example")
    assert "OakfieldPrimarySch" in world.inbox.text(mail)
    assert not world.mails_to("champion@school.example")


def test_its_weekly_report_email_has_the_html_report(world):
    first_sync(world)
    world.clock += timedelta(days=1)
    follow(world, FAKE_SCHOOL)
    world.sync()
    with world.sessions.begin() as session:
        follower_report.enqueue_follower_reports(session, world.config, DIGEST_DAY)
    world.deliver(DIGEST_DAY)
    [mail] = world.mails_to("it@school.example")
    assert mail["Subject"].startswith("[For IT] Weekly follower report - Oakfield Primary School")
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "Of concern" in html and "OakfieldPrimarySch" in html


# --- the config ---------------------------------------------------------------------------------

def problems(tmp_path, monkeypatch, **changes) -> str:
    monkeypatch.setenv("HM_TEST_X_BEARER", "AAAA-test-bearer")
    (tmp_path / "staff.csv").write_text("name\nJane Smith\n", "utf-8")
    with pytest.raises(ConfigError) as info:
        parse(config_text("http://127.0.0.1:9", **changes), path=tmp_path / "config.toml")
    return str(info.value)


def test_a_staff_list_without_a_name_key_is_refused_in_one_line(tmp_path, monkeypatch):
    said = problems(tmp_path, monkeypatch, school='staff_names = "staff.csv"')
    assert "schools[0].staff_names: needs [daemon] name_key" in said
    assert "Jane" not in said


def test_a_name_key_must_be_a_reference_and_resolve(tmp_path, monkeypatch):
    inline = problems(tmp_path, monkeypatch, daemon=f'name_key = "{NAME_KEY}"')
    assert "daemon.name_key: write a reference" in inline and NAME_KEY not in inline
    monkeypatch.delenv("HM_NOT_SET", raising=False)
    missing = problems(tmp_path, monkeypatch, daemon='name_key = "env:HM_NOT_SET"')
    assert "daemon.name_key: missing secret" in missing


def test_a_missing_staff_list_is_named_at_load(tmp_path, monkeypatch):
    monkeypatch.setenv("HM_TEST_NAME_KEY", NAME_KEY)
    said = problems(tmp_path, monkeypatch, daemon='name_key = "env:HM_TEST_NAME_KEY"',
                    school='staff_names = "nowhere.csv"')
    assert said.startswith("schools[0].staff_names: ") and "nowhere.csv" in said


@pytest.mark.parametrize(("settings", "said"), [
    (", monthly_budget = -1", "follower setting 'monthly_budget' must be an amount in US "
     "dollars"),
    (', max_full_sync_cost = "lots"', "follower setting 'max_full_sync_cost' must be"),
    (', follower_sync_interval = "5m"', "follower setting 'follower_sync_interval' must be a "
     "duration of an hour or more"),
])
def test_bad_follower_settings_are_refused_at_load(tmp_path, monkeypatch, settings, said):
    assert f"schools[0].accounts[0].settings: {said}" in problems(tmp_path, monkeypatch,
                                                                   x_settings=settings)


def test_followers_on_a_platform_without_them_says_what_the_watchlist_does_instead(
        tmp_path, monkeypatch):
    monkeypatch.setenv("HM_FB", "EAAB-token")
    text = config_text("http://127.0.0.1:9") + textwrap.dedent("""\
        [[schools.accounts]]
        platform = "facebook"
        account = "104400000000001"
        kinds = ["comments", "followers"]
        credentials = { page_access_token = "env:HM_FB" }
        """)
    monkeypatch.setenv("HM_TEST_X_BEARER", "AAAA-test-bearer")
    with pytest.raises(ConfigError) as info:  # the account joins the school's accounts
        parse(text, path=tmp_path / "config.toml")
    said = str(info.value)
    assert "facebook cannot poll followers" in said
    assert "The watchlist still matches the people who comment on or tag" in said


def test_the_example_configs_follower_account_and_staff_list_are_valid_when_uncommented(
        tmp_path, monkeypatch):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    for line in ('# name_key = "env:HALLMONITOR_NAME_KEY"', '# staff_names = "/etc/'):
        assert line in text
        text = text.replace(line, line[2:])
    start = text.index('# platform = "x"')
    block = text[start:text.index("\n\n", start)]
    account = "\n".join(line[2:] for line in block.splitlines()
                        if line.startswith("# ") and " = " in line and "#   " not in line)
    text = text.replace(block, "[[schools.accounts]]\n" + account)
    (tmp_path / "staff.csv").write_text("name\nJane Smith\n", "utf-8")
    text = text.replace('staff_names = "/etc/hallmonitor/oakfield-staff.csv"',
                        f'staff_names = "{tmp_path / "staff.csv"}"')
    for name in ("HALLMONITOR_NAME_KEY", "OAKFIELD_X_BEARER", "X_KEY", "X_SECRET"):
        monkeypatch.setenv(name, "test-value")
    for name in ("x_at", "x_ats"):
        (tmp_path / name).write_text("test-value", "utf-8")
    text = text.replace("file:/run/secrets/", f"file:{tmp_path}/")
    config = parse(text, path=tmp_path / "config.toml")
    [x] = [a for a in config.schools[0].accounts if a.platform == "x" and "followers" in a.kinds]
    settings = followers.FollowerSettings.from_mapping(x.settings)
    assert (settings.max_full_sync_cost, settings.monthly_budget) == (50.0, 10.0)
    assert config.daemon.name_key == "env:HALLMONITOR_NAME_KEY"
