"""Facebook on real Graph API responses recorded by the python-facebook project (Apache-2.0),
read from ../shared/fixtures/recorded and served under the real facebook.GraphAPI by `responses`.

The recordings come from different posts and pages (Facebook for Developers' own Page, v10-v11
era); where a poll needs them together, a comment stream is served for a feed post it was not
recorded on. Nothing from ../shared is copied into this repository.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from connectors.base import ConfigError, SourceSpec
from connectors.facebook import FacebookConnector
from tests.conftest import SHARED_DIR, needs_shared
from tests.connectors.test_graph import TOKEN, client, serve, url

RECORDED = SHARED_DIR / "fixtures" / "recorded" / "python-facebook" / "testdata"

pytestmark = needs_shared(RECORDED, "the recorded Graph responses are").marks

PAGE = "19292868552"
NOW = datetime(2021, 8, 15, tzinfo=UTC)


def real(path: str) -> Any:
    return json.loads((RECORDED / path).read_text(encoding="utf-8"))


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def connector() -> FacebookConnector:
    built = FacebookConnector({"lookback_days": 70}, {"page_access_token": TOKEN})
    built.now = lambda: NOW
    return built


def serve_recorded_page(graph) -> str:
    """The recorded feed (two pages), the recorded comment stream (two pages) on its newest
    post, and no comments on the others. Returns the post the stream is served for."""
    first, second = (real(f"facebook/apidata/posts/feeds_default_fields_p{n}.json")
                     for n in (1, 2))
    serve(graph, "GET", url(PAGE, "feed"), first)
    serve(graph, "GET", url(PAGE, "feed"), second, query={"after": "after"})
    posts = [post["id"] for post in first["data"] + second["data"]]
    stream = [real(f"facebook/apidata/comments/comments_p{n}.json") for n in (1, 2)]
    serve(graph, "GET", url(posts[0], "comments"), stream[0])
    serve(graph, "GET", url(posts[0], "comments"), stream[1], query={"after": "after"})
    for post in posts[1:]:
        serve(graph, "GET", url(post, "comments"), {"data": []})
    return posts[0]


def test_a_recorded_feed_and_comment_stream_make_a_complete_poll(graph):
    post = serve_recorded_page(graph)
    pages = list(connector().fetch(SourceSpec(1, "facebook", "comments", PAGE), None))
    items = [item for page in pages for item in page.items]
    assert len(items) == 15 and len({item.external_id for item in items}) == 15
    assert pages[-1].last and not any(page.last for page in pages[:-1])
    assert all(item.conversation_id == post for item in items)
    assert items[0].created_at == datetime(2021, 8, 10, 18, 45, 3, tzinfo=UTC)
    # Graph left out `from` in these recordings: the items simply have no author.
    assert all(not item.author.id for item in items)


def test_recorded_replies_are_told_from_comments_by_their_permalinks(graph):
    serve_recorded_page(graph)
    items = [i for p in connector().fetch(SourceSpec(1, "facebook", "comments", PAGE), None)
             for i in p.items]
    replies = [item for item in items if item.kind == "reply"]
    comments = {item.external_id for item in items if item.kind == "comment"}
    assert len(replies) == 5
    assert {reply.parent_id for reply in replies} <= comments
    assert replies[0].external_id == "10158407654328553_10158409983033553"
    assert replies[0].parent_id == "10158407654328553_10158407903973553"


def test_a_second_poll_over_the_same_recordings_reads_nothing_again(graph):
    serve_recorded_page(graph)
    first = list(connector().fetch(SourceSpec(1, "facebook", "comments", PAGE), None))
    again = list(connector().fetch(SourceSpec(1, "facebook", "comments", PAGE),
                                   first[-1].progress))
    assert [item for page in again for item in page.items] == []


def test_a_recorded_time_paged_feed_is_followed_by_its_next_link(graph):
    serve(graph, "GET", url("4", "posts"), real("facebook/apidata/posts/feed_fields_p1.json"))
    serve(graph, "GET", url("4", "posts"), real("facebook/apidata/posts/feed_fields_p2.json"),
          query={"until": "1624385168"})
    pages = list(client().walk("4", "posts", {"fields": "id,message,created_time"},
                               max_pages=5))
    assert [len(page.objects) for page in pages] == [5, 5] and not pages[-1].more
    second = graph.calls[1].request.params
    assert second["__paging_token"] == "__paging_token" and second["access_token"] == TOKEN


def test_recorded_cursor_pages_are_walked_to_the_end(graph):
    serve(graph, "GET", url(PAGE, "feed"), real("base/full_connecions_p1.json"))
    serve(graph, "GET", url(PAGE, "feed"), real("base/full_connecions_p2.json"),
          query={"after": "after"})
    pages = list(client().walk(PAGE, "feed", {"limit": 5}, max_pages=5))
    assert [len(page.objects) for page in pages] == [5, 3]


@pytest.mark.parametrize(("recorded", "words"), [
    ("base/error_data.json", ["pages_read_engagement", "account id"]),
    ("error.json", ["app secret proof"]),
])
def test_recorded_graph_errors_are_config_errors_in_words(graph, recorded, words):
    # Only the bodies were recorded; Graph sends these with HTTP 400.
    serve(graph, "GET", url(PAGE, "feed"), real(recorded), status=400)
    with pytest.raises(ConfigError) as caught:
        list(connector().fetch(SourceSpec(1, "facebook", "comments", PAGE), None))
    for word in words:
        assert word in str(caught.value)


def test_check_reads_a_recorded_debug_token(graph):
    serve(graph, "GET", url("me"), real("base/object_default.json"))
    serve(graph, "GET", url("debug_token"), real("base/token_info.json"))
    result = connector().check()
    assert not result.ok and "pages_read_engagement" in result.message
    details = "\n".join(result.details)
    assert "not a Page token" in details and "expires on 2019-12-26" in details
