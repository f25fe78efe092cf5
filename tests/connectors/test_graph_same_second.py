"""Graph gives a post's `updated_time` in whole seconds, so a comment posted in the same second
as a poll read the post's comments (or shown a moment after its created_time) leaves
updated_time as that poll saw it. The real facebook-sdk client against the local fake Graph of
test_graph_bursts: such a comment is still read, and a post settles to a one-request quiet poll
once a read began safely after its updated_time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import SourceSpec
from connectors.graph import SETTLE_SECONDS
from tests.connectors.test_graph_bursts import (
    ACCOUNT,
    NOW,
    PAGE,
    Daemon,
    FakeGraph,
    V,
    facebook,
    instagram,
)
from tests.http_server import LocalServer


@pytest.fixture
def fake(local_server: Callable[..., LocalServer]) -> FakeGraph:
    return FakeGraph(local_server())


def comments_source() -> SourceSpec:
    return SourceSpec(1, "facebook", "comments", PAGE)


def read(daemon: Daemon) -> list[str]:
    return [item.external_id for item in daemon.poll()]


@pytest.mark.parametrize("seconds_before", [0, SETTLE_SECONDS - 1],
                         ids=["same-second", "shown-late"])
def test_a_comment_stamped_with_the_posts_time_as_last_read_is_still_read(fake: FakeGraph,
                                                                         seconds_before: int):
    post = fake.post(NOW - timedelta(days=1))
    stamped = NOW - timedelta(seconds=seconds_before)
    first = fake.comment(post, stamped)
    daemon = Daemon(facebook(fake), comments_source())
    assert read(daemon) == [first]
    # Posted after that read, in the same second (or shown only now): updated_time is unchanged.
    second = fake.comment(post, stamped)
    daemon.connector.now = lambda: NOW + timedelta(minutes=2)
    asked_before = len(fake.server.requests)
    assert read(daemon) == [second]
    assert fake.asked()[asked_before:] == [f"{V}/{PAGE}/feed", f"{V}/{post}/comments"]
    # That read began well after updated_time: the post is settled, a quiet poll one request.
    for _ in range(2):
        asked_before = len(fake.server.requests)
        assert read(daemon) == []
        assert fake.asked()[asked_before:] == [f"{V}/{PAGE}/feed"]


def test_a_post_read_safely_after_its_last_comment_is_not_read_again(fake: FakeGraph):
    post = fake.post(NOW - timedelta(days=1))
    fake.comment(post, NOW - timedelta(seconds=SETTLE_SECONDS))
    daemon = Daemon(facebook(fake), comments_source())
    assert len(read(daemon)) == 1
    asked_before = len(fake.server.requests)
    assert read(daemon) == []
    assert fake.asked()[asked_before:] == [f"{V}/{PAGE}/feed"]


def test_graphs_clock_decides_when_ours_runs_ahead(fake: FakeGraph):
    """The local server stamps its answers with its own Date, as Graph does. With our clock an
    hour ahead, a read in the very second of the post's last comment must not look settled."""
    now = datetime.now(UTC).replace(microsecond=0)
    post = fake.post(now - timedelta(days=1))
    first = fake.comment(post, now)
    daemon = Daemon(facebook(fake), comments_source())
    daemon.connector.now = lambda: datetime.now(UTC) + timedelta(hours=1)
    assert read(daemon) == [first]
    second = fake.comment(post, now)
    assert read(daemon) == [second]


# --- Instagram: comments_count ------------------------------------------------------------------
# A new comment always moves the count, whatever second it lands in, so Instagram has no
# same-second hole. Its own: the count can rise before the comment shows in the comments edge.

def instagram_source() -> SourceSpec:
    return SourceSpec(2, "instagram", "comments", ACCOUNT)


def test_an_instagram_comment_counted_before_it_shows_is_read_when_it_shows(fake: FakeGraph):
    media = fake.ig_media(NOW - timedelta(days=1))
    first = fake.ig_comment(media, NOW - timedelta(minutes=5))
    daemon = Daemon(instagram(fake), instagram_source())
    assert read(daemon) == [first]
    late = fake.ig_comment(media, NOW - timedelta(seconds=30))
    fake.unshown.add(late)  # counted, not yet listed
    assert read(daemon) == []
    fake.unshown.clear()
    asked_before = len(fake.server.requests)
    assert read(daemon) == [late]
    assert fake.asked()[asked_before:] == [f"{V}/{ACCOUNT}/media", f"{V}/{media}/comments"]
    asked_before = len(fake.server.requests)
    assert read(daemon) == []
    assert fake.asked()[asked_before:] == [f"{V}/{ACCOUNT}/media"]


def test_an_instagram_comment_that_never_shows_costs_one_more_read_only(fake: FakeGraph):
    media = fake.ig_media(NOW - timedelta(days=1))
    fake.ig_comment(media, NOW - timedelta(minutes=5))
    daemon = Daemon(instagram(fake), instagram_source())
    read(daemon)
    fake.unshown.add(fake.ig_comment(media, NOW - timedelta(seconds=30)))
    for expected in ([f"{V}/{ACCOUNT}/media", f"{V}/{media}/comments"],) * 2 + (
            [f"{V}/{ACCOUNT}/media"],) * 2:
        asked_before = len(fake.server.requests)
        assert read(daemon) == []
        assert fake.asked()[asked_before:] == expected
