"""Follower sync through the pipeline (its lease, cursor and schedule) and the `followers`
commands, against a local X that keeps a follower list and answers like X API v2 (see
tests/connectors/test_x_followers.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import textwrap
import threading
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from monitor import followers, models, sources
from monitor.classify import ClassifierCache
from monitor.cli import cli
from monitor.cli.followers import followers_group
from monitor.config import load
from monitor.daemon import open_database
from monitor.pipeline import Pipeline
from tests.connectors.test_x_followers import FakeFollowers, x_user

pytestmark = pytest.mark.usefixtures("database")

SCHOOL_ID = "1456789012345678901"
PAGE_ID = "104400000000001"
START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


class World:
    """One school with an X account whose followers are synced, a fake X, and a clock."""

    def __init__(self, tmp_path, fake: FakeFollowers, settings: str) -> None:
        self.path = tmp_path / "config.toml"
        self.path.write_text(textwrap.dedent(f"""\
            [daemon]
            data_dir = "data"

            [[schools]]
            id = "oakfield"
            name = "Oakfield Primary School"

            [[schools.accounts]]
            platform = "x"
            account = "{SCHOOL_ID}"
            kinds = ["followers"]
            credentials = {{ bearer_token = "env:HM_TEST_X_BEARER" }}
            settings = {{ base_url = "{fake.url}", handle = "OakfieldPrimary"{settings} }}

            [[schools.accounts]]
            platform = "facebook"
            account = "{PAGE_ID}"
            kinds = ["comments"]
            credentials = {{ page_access_token = "env:HM_TEST_FB_TOKEN" }}

            [[schools.recipients]]
            role = "it"
            urls = ["json://127.0.0.1:9/it"]
            """), encoding="utf-8")
        self.fake = fake
        self.config = load(self.path)
        _, self.sessions = open_database(self.config)
        with self.sessions.begin() as session:
            sources.sync(session, self.config)
            self.source_id = session.scalar(select(models.Source.id).where(
                models.Source.kind == "followers"))
        self.clock = START
        self.pipeline = Pipeline(self.config, self.sessions, ClassifierCache(self.config), "w1")
        self.pipeline.now = lambda: self.clock

    def later(self, **delta) -> None:
        self.clock += timedelta(**delta)

    def sync(self, request: followers.SyncRequest | None = None):
        self.later(minutes=1)
        return self.pipeline.poll(self.source_id, due_only=False, follower_request=request)

    def source(self) -> models.Source:
        with self.sessions() as session:
            return session.get(models.Source, self.source_id)

    def by_handle(self, handle: str) -> models.Follower:
        with self.sessions() as session:
            return session.scalar(select(models.Follower).where(models.Follower.handle == handle))

    def events(self, kind: str | None = None) -> list[tuple[str, str, dict | None]]:
        with self.sessions() as session:
            query = (select(models.FollowerEvent.kind, models.Follower.handle,
                            models.FollowerEvent.detail)
                     .join(models.Follower).order_by(models.FollowerEvent.id))
            if kind:
                query = query.where(models.FollowerEvent.kind == kind)
            return [tuple(row) for row in session.execute(query)]

    def it_notices(self) -> list[models.Alert]:
        with self.sessions() as session:
            return list(session.scalars(select(models.Alert).where(
                models.Alert.kind == "source_paused")))

    def command(self, *args: str):
        return CliRunner().invoke(cli, ["followers", *args, "--config", str(self.path)])


@pytest.fixture
def world(tmp_path, local_server, monkeypatch):
    # `hallmonitor followers`, as monitor/cli/__init__.py registers it.
    monkeypatch.setitem(cli.commands, "followers", followers_group)
    monkeypatch.setenv("HM_TEST_X_BEARER", "AAAA-test-bearer")
    monkeypatch.setenv("HM_TEST_FB_TOKEN", "EAAB-test-page-token")
    monkeypatch.chdir(tmp_path)

    def make(settings: str = ", max_full_sync_cost = 50.0") -> World:
        return World(tmp_path, FakeFollowers().serve(local_server()), settings)

    return make


def existing(world: World, count: int) -> None:
    world.fake.follow(*(x_user(n) for n in range(count)))


def test_the_first_sync_reads_everyone_and_calls_nobody_new(world):
    w = world()
    existing(w, 2500)
    result = w.sync()
    assert result.error is None and result.completed
    outcome = result.followers
    assert (outcome.mode, outcome.pages, outcome.reads) == ("full", 3, 2500)
    assert w.fake.lookups == 1  # the count, to estimate the cost, before any page
    assert [q["max_results"] for q in w.fake.asked] == ["1000"] * 3
    with w.sessions() as session:
        assert session.scalar(select(func.count(models.Follower.id))) == 2500
        # A full sync is a one-off: its reads stay out of the monthly budget and the estimate.
        assert session.scalar(select(func.count(models.PaidRead.id)).where(
            models.PaidRead.backfill.is_(True))) == 2500
        assert followers.new_followers(session, w.source_id, START) == []
    assert w.events() == []
    assert w.by_handle("follower_7").followed_at is None  # followed before monitoring began
    source = w.source()
    assert source.cursor["full_synced_at"] and source.last_error is None
    # Daily by default.
    assert timedelta(hours=21) < source.next_poll_at - w.clock < timedelta(hours=27)


def test_the_daily_sync_stops_at_the_page_that_reaches_known_followers(world):
    w = world()
    existing(w, 3000)
    w.sync()
    w.fake.asked.clear()
    w.later(days=1)
    w.fake.follow(*(x_user(10_000 + n) for n in range(30)))
    result = w.sync()
    outcome = result.followers
    assert result.completed and outcome.mode == "incremental" and outcome.reached_known
    # A small first page (few new followers expected), then one twice as large, which reaches
    # known followers: the 2,970 others are never read, nor paid for.
    assert [q["max_results"] for q in w.fake.asked] == ["20", "40"]
    assert outcome.reads == 60 and len(outcome.new) == 30
    with w.sessions() as session:
        fresh = followers.new_followers(session, w.source_id, w.clock - timedelta(hours=1))
        assert [f.handle for f in fresh][:2] == ["follower_10029", "follower_10028"]
        assert len(fresh) == 30 and all(f.followed_at == w.clock for f in fresh)
    assert len(w.events("follow")) == 30
    # A quiet day costs one small page.
    w.fake.asked.clear()
    w.later(days=1)
    quiet = w.sync()
    assert [q["max_results"] for q in w.fake.asked] == ["20"]
    assert quiet.followers.reads == 20 and quiet.followers.new == []


def test_a_handle_change_is_the_same_follower_with_an_event(world):
    w = world()
    existing(w, 50)
    w.sync()
    before = w.by_handle("follower_49")
    w.fake.rename(before.account_id, "f49_new_name")
    w.fake.follow(x_user(900))
    w.later(days=1)
    result = w.sync()
    after = w.by_handle("f49_new_name")
    assert after.id == before.id and w.by_handle("follower_49") is None
    assert w.events("handle_change") == [("handle_change", "f49_new_name",
                                          {"from": "follower_49", "to": "f49_new_name"})]
    assert result.followers.renamed == [after.id] and len(result.followers.new) == 1
    with w.sessions() as session:
        assert session.scalar(select(func.count(models.Follower.id))) == 51


def test_an_unfollow_is_found_by_a_full_sync_and_a_refollow_is_its_own_event(world):
    w = world()
    existing(w, 40)
    w.sync()
    leaver = w.by_handle("follower_12")
    w.fake.unfollow(leaver.account_id)
    w.later(days=1)
    daily = w.sync()
    assert daily.followers.unfollowed == []  # the daily sync cannot see unfollows
    w.later(hours=2)
    full = w.sync(followers.SyncRequest(full=True, approved=True))
    assert full.followers.mode == "full" and full.followers.unfollowed == [leaver.id]
    assert w.by_handle("follower_12").unfollowed_at == w.clock
    w.fake.follow(x_user(12))
    w.later(days=1)
    back = w.sync()
    assert back.followers.refollowed == [leaver.id] and back.followers.new == []
    row = w.by_handle("follower_12")
    assert row.unfollowed_at is None and row.followed_at == w.clock
    assert [kind for kind, handle, _ in w.events() if handle == "follower_12"] == [
        "unfollow", "refollow"]
    with w.sessions() as session:
        assert [f.id for f in followers.new_followers(session, w.source_id,
                                                      w.clock)] == [leaver.id]


def test_an_interrupted_full_sync_carries_on_from_its_page_and_finds_unfollows(world):
    w = world()
    existing(w, 2500)
    w.sync()
    gone = w.by_handle("follower_5")  # among the oldest: on the last page
    w.fake.unfollow(gone.account_id)
    w.later(days=1)
    stop = threading.Event()
    stop.set()  # the daemon is stopping: the page in hand is committed, then it stops
    w.later(minutes=1)
    cut = w.pipeline.poll(w.source_id, stop=stop, due_only=False,
                          follower_request=followers.SyncRequest(full=True, approved=True))
    assert cut.followers.pages == 1 and not cut.completed
    token = w.source().progress["token"]
    w.fake.asked.clear()
    w.later(minutes=5)
    rest = w.sync()
    assert rest.followers.mode == "full" and rest.completed
    assert w.fake.asked[0]["pagination_token"] == token and len(w.fake.asked) == 2
    # Those read before the interruption are still following; the one X no longer lists left.
    assert rest.followers.unfollowed == [gone.id]
    assert [kind for kind, _, _ in w.events()] == ["unfollow"]


def test_a_full_sync_cut_short_by_the_rate_limit_carries_on_later_without_failing(world):
    w = world()
    existing(w, 3500)
    w.fake.pages_allowed = 2
    cut = w.sync()
    assert cut.error is None and not cut.completed and cut.followers.pages == 2
    source = w.source()
    assert source.failure_count == 0 and source.failing_since is None
    # When X's limit resets (15 minutes), not in seconds and not as a failure.
    assert timedelta(minutes=14) < source.next_poll_at - w.clock < timedelta(minutes=16)
    w.fake.pages_allowed = None
    w.later(minutes=15)
    rest = w.sync()
    assert rest.completed and rest.followers.pages == 2
    with w.sessions() as session:
        assert session.scalar(select(func.count(models.Follower.id))) == 3500


def test_a_follower_moved_to_the_top_does_not_hide_new_followers_below(world):
    """Someone who unfollowed and re-followed between full syncs is listed first, above
    followers we have never seen: the sync reads past them."""
    w = world()
    existing(w, 100)
    w.sync()
    w.fake.follow(x_user(500))  # new
    w.fake.follow(x_user(3))  # known, now first
    w.later(days=1)
    result = w.sync()
    assert [w.by_handle("follower_500").id] == result.followers.new


def test_a_full_sync_over_the_allowance_waits_for_approval_and_tells_it_once(world):
    w = world(", max_full_sync_cost = 5.0")
    existing(w, 1200)  # $12.00 to read
    refused = w.sync()
    assert "FullSyncRefused" in refused.error and "1,200 followers" in refused.error
    assert "$12.00" in refused.error and "--full --yes" in refused.error
    assert w.fake.asked == []  # counted, never read
    source = w.source()
    assert source.paused_reason.startswith("FullSyncRefused")
    assert w.pipeline.poll(w.source_id).not_claimed.startswith("paused")
    (notice,) = w.it_notices()
    assert "max_full_sync_cost of $5.00" in notice.body
    # On the command line: the count and the estimate, and a refusal without --yes.
    asked = w.command("sync", "--account", SCHOOL_ID)
    assert asked.exit_code == 1
    assert "1,200 followers: a full sync reads every one, an estimated $12.00" in asked.output
    assert "needs approval" in asked.output and w.fake.asked == []
    approved = w.command("sync", "--account", SCHOOL_ID, "--yes")
    assert approved.exit_code == 0, approved.output
    assert "full sync, 2 pages, 1200 paid reads; 0 new" in approved.output
    assert w.source().paused_reason is None and len(w.it_notices()) == 1


def test_without_an_allowance_the_first_sync_needs_yes(world):
    w = world("")
    existing(w, 3)
    refused = w.command("sync", "--account", SCHOOL_ID, "--full")
    assert refused.exit_code == 1 and "no max_full_sync_cost is set" in refused.output
    assert w.fake.asked == []
    assert w.command("sync", "--account", SCHOOL_ID, "--full", "--yes").exit_code == 0
    assert len(w.fake.asked) == 1


def test_the_daily_sync_pauses_at_its_monthly_budget_with_one_notice(world):
    w = world(", max_full_sync_cost = 50.0, monthly_budget = 0.5")
    existing(w, 100)
    w.sync()
    w.later(days=1)
    w.fake.follow(*(x_user(1000 + n) for n in range(60)))
    result = w.sync()
    # A page of 20 ($0.20), then 30 of the 40 the next page would hold: the budget's $0.50.
    assert [q["max_results"] for q in w.fake.asked[-2:]] == ["20", "30"]
    assert result.followers.paused.startswith(followers.BUDGET_PAUSE)
    assert len(result.followers.new) == 50 and result.followers.reads == 50
    source = w.source()
    assert source.paused_reason.startswith(followers.BUDGET_PAUSE)
    assert source.next_poll_at == datetime(2027, 1, 1, tzinfo=UTC)
    (notice,) = w.it_notices()
    assert "$0.50 monthly_budget" in notice.body and "2027-01-01" in notice.body
    with w.sessions() as session:
        destinations = [d.destination for d in session.get(models.Alert, notice.id).deliveries]
    assert destinations == ["json://127.0.0.1:9/it"]
    # Resumed by hand the same month, it pauses again without telling IT again.
    with w.sessions.begin() as session:
        sources.resume(session.get(models.Source, w.source_id), w.clock)
    again = w.sync()
    assert again.followers.paused and len(w.it_notices()) == 1
    assert w.pipeline.poll(w.source_id).not_claimed.startswith("paused: monthly follower")
    # The next month it runs by itself, and finds the 10 the pause left unread.
    w.clock = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)
    w.fake.asked.clear()
    month = w.pipeline.poll(w.source_id)
    assert month.claimed and month.completed, month.error
    assert len(month.followers.new) == 10 and w.source().paused_reason is None
    with w.sessions() as session:
        assert session.scalar(select(func.count(models.Follower.id))) == 160


def test_a_full_sync_approved_on_the_command_line_runs_past_a_budget_pause(world):
    w = world(", max_full_sync_cost = 50.0, monthly_budget = 0.3")
    w.clock = datetime.now(UTC) - timedelta(hours=2)  # the command runs on the real clock
    existing(w, 100)
    w.sync()
    w.later(minutes=30)
    w.fake.follow(*(x_user(1000 + n) for n in range(60)))
    assert w.sync().followers.paused  # after 20 + 10 of them
    out = w.command("sync", "--account", SCHOOL_ID, "--full", "--yes")
    assert out.exit_code == 0, out.output
    assert "160 followers: a full sync reads every one, an estimated $1.60" in out.output
    assert "full sync, 1 page, 160 paid reads; 30 new" in out.output
    assert w.source().paused_reason is None and len(w.it_notices()) == 1


def test_bad_follower_settings_are_refused_when_the_config_loads(world):
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        world(', monthly_budget = "lots"')
    assert ("schools[0].accounts[0].settings: follower setting 'monthly_budget' must be an "
            "amount in US dollars") in str(info.value)


def test_facebook_pages_cannot_sync_followers_and_say_why(world):
    w = world()
    out = w.command("sync", "--account", PAGE_ID)
    assert out.exit_code == 1
    assert "Facebook does not give apps the list of an account's followers" in out.output
    unknown = w.command("sync", "--account", "999")
    assert unknown.exit_code == 2 and "no account 999 in the config" in unknown.output


def test_followers_are_listed_newest_first_and_since_a_date(world):
    w = world()
    existing(w, 3)
    w.sync()
    w.later(days=2)
    w.fake.follow(x_user(77, "new_parent_77", name="New Parent"))
    w.sync()
    everyone = w.command("list", "--account", SCHOOL_ID)
    assert everyone.exit_code == 0, everyone.output
    lines = everyone.output.splitlines()
    assert "4 following" in lines[0] and "@new_parent_77" in lines[3]
    assert "before monitoring" in lines[-1]
    since = w.command("list", "--account", SCHOOL_ID, "--new-since",
                      f"{w.clock:%Y-%m-%d}")
    assert "1 new since" in since.output and "@new_parent_77" in since.output
    assert "follower_0" not in since.output
    bad = w.command("list", "--account", SCHOOL_ID, "--new-since", "last week")
    assert bad.exit_code == 2 and "is not a date such as 2026-12-01" in bad.output
