"""The monthly cost estimate: steady-state reads only, priced by kind, once per UTC day."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from monitor import costs, db, models

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
X_PRICES = {"post": 0.005, "user": 0.010}


def prices_for(platform: str) -> dict[str, float]:
    return X_PRICES if platform == "x" else {}


@dataclass
class Poll:
    """One poll `hours` before NOW, and the resources it read."""

    hours: float
    posts: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    backfill: bool = False


class History:
    """Builds a source's poll runs and paid reads as the pipeline records them: a resource is
    written once per UTC day (the table's unique key), whichever poll read it first."""

    def __init__(self, session, source_id: int, platform: str = "x") -> None:
        self.session = session
        self.source_id = source_id
        self.platform = platform

    def poll(self, poll: Poll) -> None:
        at = NOW - timedelta(hours=poll.hours)
        self.session.add(models.PollRun(source_id=self.source_id, started_at=at,
                                        finished_at=at + timedelta(seconds=5),
                                        backfill=poll.backfill,
                                        reads=len(poll.posts) + len(poll.users)))
        day = at.strftime("%Y-%m-%d")
        for resource in [f"post:{p}" for p in poll.posts] + [f"user:{u}" for u in poll.users]:
            if self.session.scalar(select(models.PaidRead.id).where(
                    models.PaidRead.platform == self.platform,
                    models.PaidRead.resource == resource, models.PaidRead.day == day)):
                continue
            self.session.add(models.PaidRead(platform=self.platform, resource=resource, day=day,
                                             source_id=self.source_id, backfill=poll.backfill))
            self.session.flush()


@pytest.fixture
def sessions(database, tmp_path):
    url = os.environ.get("HALLMONITOR_DATABASE_URL") or f"sqlite:///{tmp_path / 'costs.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    factory = db.session_factory(engine)
    with factory.begin() as session:
        session.add(models.School(id="oakfield", name="Oakfield"))
        for number, platform in ((1, "x"), (2, "x"), (3, "facebook")):
            session.add(models.Source(id=number, key=f"oakfield/{platform}/{number}/mentions",
                                      school_id="oakfield", platform=platform,
                                      item_platform=platform, kind="mentions",
                                      account=str(number)))
    yield factory
    engine.dispose()


def hourly(hours: int, *, posts_per_poll: int = 0, users_per_poll: int = 0,
           start: float = 0.0) -> list[Poll]:
    """Steady polls every hour for `hours` hours up to `start` hours before NOW, each reading
    new posts and users (distinct ids, so each is charged)."""
    polls = []
    for hour in range(hours, -1, -1):
        tag = f"{hour}-{start}"
        polls.append(Poll(start + hour,
                          [f"{tag}-p{n}" for n in range(posts_per_poll)],
                          [f"{tag}-u{n}" for n in range(users_per_poll)]))
    return polls


BACKFILL_26 = Poll(1.5, [f"old{n}" for n in range(20)], [f"author{n}" for n in range(6)],
                   backfill=True)

CASES = [
    # The report: a first poll's backlog of 26 reads ($0.16), then an hour of quiet polls.
    ("backfill then an hour of quiet", [BACKFILL_26, *hourly(1)],
     costs.NOT_ENOUGH_DATA, "0.16"),
    ("no steady polls at all", [BACKFILL_26], costs.NOT_ENOUGH_DATA, "0.16"),
    ("just under three hours of steady state",
     [*hourly(2, posts_per_poll=5), Poll(0, ["late"])], costs.NOT_ENOUGH_DATA, "0.00"),
    # 24 hourly polls reading 2 posts and 1 user each: 24 h x (2 x 0.005 + 0.010) = $0.48 a
    # day (the first poll's reads paid for the hour before it), $14.40 a month.
    ("a day of steady traffic, posts and users priced apart",
     hourly(24, posts_per_poll=2, users_per_poll=1)[1:] + [Poll(24)], "14.40", "0.00"),
    # The backfill's 500 posts are not traffic: 6 posts over the 6 hours after it are.
    ("steady state after a large backfill",
     [Poll(6.5, [f"b{n}" for n in range(500)], backfill=True),
      *[Poll(h, [f"s{h}"]) for h in range(6, 0, -1)], Poll(0.5)],
     f"{6 * 0.005 / (6 / 24) * 30:.2f}", "2.50"),
    # The same post read by every poll for a day and a half is charged once per UTC day: twice.
    ("one post re-read for two days is charged once a day",
     [Poll(h, ["same"]) for h in range(36, -1, -2)], f"{2 * 0.005 / 1.5 * 30:.2f}", "0.00"),
    ("reads older than the thirty days are forgotten",
     [Poll(24 * 40, [f"old{n}" for n in range(1000)]), *hourly(6, posts_per_poll=1)],
     f"{7 * 0.005 / (6 / 24) * 30:.2f}", "0.00"),
]


@pytest.mark.parametrize(("name", "polls", "monthly", "backfill"), CASES,
                         ids=[case[0] for case in CASES])
def test_the_monthly_estimate_uses_steady_state_reads_only(sessions, name, polls, monthly,
                                                           backfill):
    with sessions.begin() as session:
        history = History(session, 1)
        for poll in polls:
            history.poll(poll)
    with sessions() as session:
        estimate = costs.estimate(session, {1: "x"}, prices_for, now=NOW)[1]
    assert estimate.monthly_text() == monthly
    assert estimate.backfill_text() == backfill


def test_a_resource_read_by_two_sources_the_same_day_is_charged_to_the_first(sessions):
    with sessions.begin() as session:
        first, second = History(session, 1), History(session, 2)
        for hours in range(6, -1, -1):
            first.poll(Poll(hours, [f"p{hours}"]))
            second.poll(Poll(hours, [f"p{hours}"]))
    with sessions() as session:
        estimates = costs.estimate(session, {1: "x", 2: "x"}, prices_for, now=NOW)
    assert estimates[1].steady_cost == pytest.approx(7 * 0.005)
    assert estimates[2].steady_cost == 0
    assert estimates[2].monthly_text() == "0.00"


def test_a_platform_that_does_not_charge_for_reads_is_free(sessions):
    with sessions.begin() as session:
        for poll in hourly(5):
            History(session, 3, platform="facebook").poll(poll)
    with sessions() as session:
        assert costs.estimate(session, {3: "facebook"}, prices_for,
                              now=NOW)[3].monthly_text() == "free"


@pytest.mark.parametrize(("resource", "price"), [
    ("post:1", 0.005), ("user:42", 0.010),
    # A kind X starts charging for that we do not know yet: never under-estimated.
    ("space:9", 0.010),
])
def test_each_resource_is_priced_by_its_kind(resource, price):
    assert costs.resource_price(resource, X_PRICES) == price


def test_a_long_steady_history_is_judged_on_its_last_thirty_days(sessions):
    # Five weeks of polls every two hours, two new posts each: 24 posts, $0.12, a day.
    with sessions.begin() as session:
        history = History(session, 1)
        for hours in range(35 * 24, -1, -2):
            history.poll(Poll(hours, [f"{hours}a", f"{hours}b"]))
    with sessions() as session:
        estimate = costs.estimate(session, {1: "x"}, prices_for, now=NOW)[1]
    assert estimate.observed <= costs.WINDOW
    assert estimate.monthly == pytest.approx(0.12 * 30, rel=0.01)
