"""Instagram on real Graph API responses recorded by the python-facebook project (Apache-2.0),
read from ../shared/fixtures/recorded and served under the real facebook.GraphAPI by `responses`.
Nothing from ../shared is copied into this repository."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from connectors.base import Author, SourceSpec
from connectors.instagram import InstagramConnector
from tests.conftest import SHARED_DIR, needs_shared
from tests.connectors.test_graph import TOKEN, serve, url

RECORDED = SHARED_DIR / "fixtures" / "recorded" / "python-facebook" / "testdata"

pytestmark = needs_shared(RECORDED, "the recorded Graph responses are").marks

ACCOUNT = "17841406338772941"
NOW = datetime(2021, 8, 20, tzinfo=UTC)


def real(path: str) -> Any:
    return json.loads((RECORDED / "instagram" / "apidata" / path).read_text(encoding="utf-8"))


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def poll(kind: str, cursor=None):
    # The recordings reach back to 2018: a long lookback keeps them in the window.
    connector = InstagramConnector({"lookback_days": 1200}, {"page_access_token": TOKEN})
    connector.now = lambda: NOW
    return list(connector.fetch(SourceSpec(1, "instagram", kind, ACCOUNT), cursor))


def serve_recorded_account(graph) -> None:
    serve(graph, "GET", url(ACCOUNT, "media"), real("users/medias_p1.json"))
    serve(graph, "GET", url(ACCOUNT, "media"), real("users/medias_p2.json"),
          query={"after": "after"})
    # The one recorded media with comments (comments_count 6), and its two comment pages.
    serve(graph, "GET", url("17896622936197745", "comments"), real("medias/comments_p1.json"))
    serve(graph, "GET", url("17896622936197745", "comments"), real("medias/comments_p2.json"),
          query={"after": "after"})


def test_recorded_media_and_comment_pages_make_a_complete_poll(graph):
    serve_recorded_account(graph)
    pages = poll("comments")
    items = [item for page in pages for item in page.items]
    assert [item.external_id for item in items] == [
        "17858154961981086", "17874875428706419", "17892250648466172", "17914413430382429"]
    assert pages[-1].last
    assert all(item.conversation_id == "17896622936197745" and item.kind == "comment"
               for item in items)
    assert items[0].permalink == "https://www.instagram.com/p/CSgdWACBeKr/"
    # Recorded without username or from: no author, still an item.
    assert items[2].author == Author() and items[2].text == "@ikroskun  Hey, guys"
    # Media without comments were not asked for theirs.
    asked = {call.request.url.split("?")[0] for call in graph.calls}
    assert url("17895731045244887", "comments") not in asked


def test_a_second_poll_over_the_same_recordings_reads_nothing_again(graph):
    serve_recorded_account(graph)
    cursor = poll("comments")[-1].progress
    assert [i for p in poll("comments", cursor) for i in p.items] == []


def test_recorded_replies_are_read_from_their_edge(graph):
    # A recorded comment, with the nested replies edge saying there is more to read.
    comment = {**real("comments/comment_fields.json"),
               "replies": {"data": [], "paging": {"cursors": {"after": "after"},
                                                  "next": "https://graph.facebook.com/x"}}}
    serve(graph, "GET", url(ACCOUNT, "media"), {"data": [
        {"id": "17846368219941692", "timestamp": "2020-02-13T10:35:40+0000",
         "permalink": "https://www.instagram.com/p/B8gQCApHMT-/", "comments_count": 2}]})
    serve(graph, "GET", url("17846368219941692", "comments"), {"data": [comment]})
    serve(graph, "GET", url(comment["id"], "replies"), real("comments/replies.json"))
    items = [i for p in poll("comments") for i in p.items]
    assert [(i.external_id, i.kind, i.parent_id) for i in items] == [
        ("17892250648466172", "comment", "17846368219941692"),
        ("17847314687296283", "reply", "17892250648466172")]
    assert items[0].author.handle == "ikroskun"


def test_recorded_tagged_media_are_tags(graph):
    serve(graph, "GET", url(ACCOUNT, "tags"), real("users/tagged_medias.json"))
    items = [i for p in poll("tags") for i in p.items]
    assert len(items) == 5 and {i.kind for i in items} == {"tag"}
    assert items[2].text == "Cute.. #cute #loveyou  @ikroskun"
    assert items[0].created_at == datetime(2021, 3, 16, 12, 2, 14, tzinfo=UTC)
