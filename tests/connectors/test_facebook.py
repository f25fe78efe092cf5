"""The Facebook connector on our own Graph recordings, through the real facebook.GraphAPI with
HTTP mocked by `responses`."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
import requests
import responses

from connectors.base import (
    AuthError,
    Author,
    ConfigError,
    Item,
    PayloadError,
    RetryableError,
    SourceSpec,
)
from connectors.facebook import FacebookConnector
from connectors.graph import OVERLAP_SECONDS
from tests.connectors.contract import ConnectorContract
from tests.connectors.test_graph import TOKEN, recording, serve, serve_interaction, url

PAGE = "104857392011"
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
FEED = url(PAGE, "feed")


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def comments_url(post: str) -> str:
    return url(f"{PAGE}_{post}", "comments")


def serve_world(rsps, *, skip: tuple[str, ...] = ()) -> None:
    """The recorded Page: two feed pages, comment streams, the other kinds and check()'s calls."""
    fb = "facebook"
    serve(rsps, "GET", FEED, recording(fb, "feed_p1.json"))
    serve(rsps, "GET", FEED, recording(fb, "feed_p2.json"),
          query={"after": "QVFIUnB0ZA1ZAhN0ZAXRy"})
    if "822001" not in skip:
        serve(rsps, "GET", comments_url("822001"), recording(fb, "comments_822001_p1.json"))
        serve(rsps, "GET", comments_url("822001"), recording(fb, "comments_822001_p2.json"),
              query={"after": "WTI5dGJXVnVkRjlqZAFhKemIzSTZANVEF4"})
    serve(rsps, "GET", comments_url("821950"), recording(fb, "comments_821950.json"))
    serve(rsps, "GET", comments_url("821800"), recording(fb, "comments_821800.json"))
    for edge in ("visitor_posts", "tagged", "ratings"):
        serve(rsps, "GET", url(PAGE, edge), recording(fb, f"{edge}.json"))
    serve(rsps, "GET", url("me"), recording(fb, "me.json"))
    serve(rsps, "GET", url("debug_token"), recording(fb, "debug_token.json"))


def connector(**settings) -> FacebookConnector:
    built = FacebookConnector(settings, {"page_access_token": TOKEN})
    built.now = lambda: NOW
    return built


def source(kind: str = "comments", **settings) -> SourceSpec:
    return SourceSpec(7, "facebook", kind, PAGE, settings)


def poll(kind: str = "comments", cursor=None, **settings):
    return list(connector(**settings).fetch(source(kind), cursor))


def ids(pages) -> list[str]:
    return [item.external_id for page in pages for item in page.items]


def unix(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def requested(rsps, address: str) -> list[dict[str, str]]:
    return [{k: v[-1] for k, v in parse_qs(call.request.url.split("?", 1)[1]).items()}
            for call in rsps.calls if call.request.url.split("?")[0] == address]


class TestFacebookContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _world(self, graph):
        serve_world(graph)

    def build(self):
        return connector(), source()


# --- comments -----------------------------------------------------------------------------------

def test_comments_and_replies_are_read_across_feed_and_comment_pages(graph):
    serve_world(graph)
    pages = poll()
    assert ids(pages) == ["822001_9001", "822001_9003", "822001_9004", "822001_9005",
                          "822001_9006", "821950_7001", "821800_6001"]
    assert [page.last for page in pages] == [False, False, False, True]
    first = pages[0].items[0]
    assert (first.kind, first.author, first.conversation_id, first.parent_id) == (
        "comment", Author(id="5550101", name="Sarah Jones"), f"{PAGE}_822001", f"{PAGE}_822001")
    assert first.text.startswith("Lovely photos") and "comment_id=9001" in first.permalink


def test_the_pages_own_replies_are_not_items(graph):
    serve_world(graph)
    assert "822001_9002" not in ids(poll())


def test_a_comment_whose_author_graph_hides_has_no_author_but_is_read(graph):
    serve_world(graph)
    hidden = next(i for p in poll() for i in p.items if i.external_id == "822001_9003")
    assert hidden.author == Author() and hidden.text.startswith("Who lets")


def test_a_sticker_without_a_message_reads_as_empty_text(graph):
    serve_world(graph)
    sticker = next(i for p in poll() for i in p.items if i.external_id == "822001_9004")
    assert sticker.text == "" and sticker.author.name == "Dan Whitfield"


def test_replies_keep_their_parent_even_when_it_was_deleted(graph):
    serve_world(graph)
    by_id = {i.external_id: i for p in poll() for i in p.items}
    assert (by_id["822001_9005"].kind, by_id["822001_9005"].parent_id) == ("reply", "822001_9003")
    assert by_id["822001_9006"].parent_id == "822001_8999"  # no longer there; kept as given


def test_comment_streams_are_asked_for_since_the_cursor_oldest_first(graph):
    serve_world(graph)
    poll()
    first_since = unix("2026-11-03T09:00:00")  # 14 days before NOW
    query = requested(graph, comments_url("822001"))[0]
    assert query["filter"] == "stream" and query["order"] == "chronological"
    assert query["since"] == str(first_since - OVERLAP_SECONDS)
    assert "from{id,name}" in query["fields"] and "parent{id}" in query["fields"]
    assert query["access_token"] == TOKEN
    assert requested(graph, FEED)[0]["since"] == str(first_since - 14 * 86400)


def test_posts_quiet_since_the_cursor_are_not_read(graph):
    serve_world(graph)
    poll()
    assert requested(graph, comments_url("821300")) == []  # last updated before the window


def test_only_the_final_page_moves_the_cursor(graph):
    serve_world(graph)
    pages = poll(cursor={"since": unix("2026-11-10T00:00:00"), "seen": {}})
    # Every page but the last keeps the watermark, and knows what was read so far.
    assert all(p.progress["since"] == unix("2026-11-10T00:00:00") for p in pages[:-1])
    assert set(pages[1].progress["seen"]) == {"822001_9001", "822001_9003", "822001_9004",
                                              "822001_9005", "822001_9006"}
    assert pages[-1].progress == {"since": unix("2026-11-17T07:40:00"), "seen": {
        "822001_9004": unix("2026-11-17T07:38:00"), "822001_9005": unix("2026-11-17T07:39:30"),
        "822001_9006": unix("2026-11-17T07:40:00")},
        # Each post's updated_time as read, while it is within the overlap of the watermark.
        "posts": {f"{PAGE}_822001": unix("2026-11-17T07:40:00")},
        # 822001 took two pages: its next read starts at its newest comment.
        "long": {f"{PAGE}_822001": unix("2026-11-17T07:40:00")}}


def test_a_second_poll_reads_nothing_twice_and_skips_quiet_posts(graph):
    serve_world(graph)
    cursor = poll()[-1].progress
    calls_before = len(graph.calls)
    again = poll(cursor=cursor)
    assert ids(again) == [] and again[-1].last and again[-1].progress == cursor
    asked = [c.request.url.split("?")[0] for c in list(graph.calls)[calls_before:]]
    assert comments_url("821950") not in asked and comments_url("821800") not in asked


def test_a_comment_indexed_late_is_caught_by_the_overlap(graph):
    serve_world(graph, skip=("822001",))
    cursor = {"since": unix("2026-11-17T07:40:00"), "seen": {"822001_9006": 0}}
    late = copy.deepcopy(recording("facebook", "comments_822001_p2.json"))
    late["data"].append({"id": "822001_9007", "message": "posted a minute before the last poll",
                         "created_time": "2026-11-17T07:37:00+0000",
                         "from": {"id": "5550110", "name": "Ann Lee"}})
    serve(graph, "GET", comments_url("822001"), late)
    assert ids(poll(cursor=cursor)) == ["822001_9004", "822001_9005", "822001_9007"]


def test_a_thread_cut_off_by_max_pages_is_resumed_where_it_stopped(graph):
    serve_world(graph)
    cut = poll(max_pages=1)
    assert ids(cut) == ["822001_9001", "822001_9003", "821950_7001"]
    # The watermark moves on to 821950's comment; 822001's thread keeps its own place.
    assert cut[-1].progress["since"] == unix("2026-11-16T18:02:11")
    assert cut[-1].progress["open"][f"{PAGE}_822001"]["page"]["after"] == (
        "WTI5dGJXVnVkRjlqZAFhKemIzSTZANVEF4")
    calls_before = len(graph.calls)
    resumed = poll(cursor=cut[-1].progress)
    assert ids(resumed) == ["822001_9004", "822001_9005", "822001_9006"]
    asked = [c.request.params for c in list(graph.calls)[calls_before:]
             if c.request.url.split("?")[0] == comments_url("822001")]
    assert [query.get("after") for query in asked] == ["WTI5dGJXVnVkRjlqZAFhKemIzSTZANVEF4"]
    assert "open" not in resumed[-1].progress


# --- other kinds --------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "expected"), [
    ("visitor_posts", [(f"{PAGE}_821800", "post", "Lucy Hart"), (f"{PAGE}_821640", "post", "")]),
    ("tags", [("339201887_4451230", "tag", "Ashfield Gazette")]),
    ("ratings", [("10159000111222333", "review", "Gary Nolan"),
                 ("rating::2026-11-10T09:00:00+0000", "review", "")]),
])
def test_visitor_posts_tags_and_ratings_are_read(graph, kind, expected):
    serve_world(graph)
    pages = poll(kind)
    assert [(i.external_id, i.kind, i.author.name) for p in pages for i in p.items] == expected
    assert pages[-1].last


def test_a_listing_stops_at_items_older_than_the_cursor(graph):
    serve_world(graph)
    # The third visitor post (28 October) is older than the 14-day window: not an item.
    assert f"{PAGE}_821100" not in ids(poll("visitor_posts"))
    assert requested(graph, url(PAGE, "visitor_posts"))[0]["since"] == str(
        unix("2026-11-03T09:00:00") - OVERLAP_SECONDS)


def test_a_review_keeps_its_text_and_recommendation(graph):
    serve_world(graph)
    review = poll("ratings")[0].items[0]
    assert review.text == "Bullying ignored again. Avoid."
    assert review.raw["recommendation_type"] == "negative"


# --- failures -----------------------------------------------------------------------------------

def test_an_expired_token_stops_the_poll_with_an_auth_error(graph):
    serve_interaction(graph, "GET", FEED, recording("facebook", "errors/token_expired_190.json"))
    with pytest.raises(AuthError, match="expired or revoked"):
        poll()


def test_a_rate_limit_part_way_through_is_retryable_and_says_when(graph):
    serve_world(graph, skip=("822001",))
    serve(graph, "GET", comments_url("822001"), recording("facebook", "comments_822001_p1.json"))
    serve_interaction(graph, "GET", comments_url("822001"),
                      recording("facebook", "errors/page_limit_32.json"),
                      query={"after": "WTI5dGJXVnVkRjlqZAFhKemIzSTZANVEF4"})
    pages = []
    with pytest.raises(RetryableError) as caught:
        pages.extend(connector().fetch(source(), None))
    assert caught.value.retry_after == 12 * 60
    assert not any(page.last for page in pages)  # the saved cursor stays where it was


def test_a_missing_permission_is_named(graph):
    serve_interaction(graph, "GET", url(PAGE, "visitor_posts"),
                      recording("facebook", "errors/permission_10.json"))
    with pytest.raises(AuthError, match="pages_read_user_content"):
        poll("visitor_posts")


def test_a_wrong_page_id_is_a_config_error(graph):
    serve_interaction(graph, "GET", FEED, recording("facebook", "errors/bad_request_100.json"))
    with pytest.raises(ConfigError, match="account id"):
        poll()


def test_an_html_error_page_is_retryable_not_a_crash(graph):
    serve_world(graph, skip=("822001",))
    serve_interaction(graph, "GET", comments_url("822001"),
                      recording("facebook", "errors/bad_gateway_502.json"))
    with pytest.raises(RetryableError, match="502"):
        poll()


def test_truncated_json_is_a_payload_error(graph):
    serve_interaction(graph, "GET", FEED, recording("facebook", "errors/truncated_200.json"))
    with pytest.raises(PayloadError):
        poll()


def test_a_timeout_is_retryable(graph):
    graph.add("GET", FEED, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(RetryableError, match="timed out"):
        poll()


@pytest.mark.parametrize(("kind", "account", "settings", "words"), [
    ("mentions", PAGE, {}, "cannot poll 'mentions'"),
    ("comments", " ", {}, "Page id"),
    ("comments", PAGE, {"max_pages": 0}, "max_pages"),
    ("comments", PAGE, {"lookback_days": "a week"}, "lookback_days"),
])
def test_settings_that_cannot_work_are_config_errors(graph, kind, account, settings, words):
    with pytest.raises(ConfigError, match=words):
        list(connector().fetch(SourceSpec(7, "facebook", kind, account, settings), None))


@pytest.mark.parametrize("settings", [
    {"api_version": "latest"}, {"base_url": "http://10.0.0.5"}, {"timeout": -1},
    {"max_pages": 0}, {"lookback_days": float("nan")},
])
def test_bad_settings_are_config_errors_when_the_connector_is_built(settings):
    with pytest.raises(ConfigError):
        FacebookConnector(settings, {"page_access_token": TOKEN})


# --- moderation ---------------------------------------------------------------------------------

COMMENT = Item("822001_9003", "comment", "Useless.", NOW, Author("5550103", name="Priya Shah"))


@pytest.mark.parametrize(("action", "flag", "done"), [("hide", "true", "hidden"),
                                                     ("unhide", "false", "unhidden")])
def test_hide_and_unhide_post_is_hidden_to_the_comment(graph, action, flag, done):
    serve(graph, "POST", url("822001_9003"), recording("facebook", "success.json"))
    result = connector().act(action, COMMENT)
    assert result.ok and f"822001_9003 {done}" in result.message
    sent = parse_qs(graph.calls[0].request.body)
    assert sent == {"is_hidden": [flag], "access_token": [TOKEN]}


def test_delete_sends_delete_to_the_comment(graph):
    serve(graph, "DELETE", url("822001_9003"), recording("facebook", "success.json"))
    result = connector().act("delete", COMMENT)
    assert result.ok and "deleted" in result.message
    assert graph.calls[0].request.method == "DELETE"


def test_block_posts_the_author_to_the_pages_blocked_edge(graph):
    serve(graph, "GET", url("me"), recording("facebook", "me.json"))
    serve(graph, "POST", url(PAGE, "blocked"), {"5550103": True})
    result = connector().act("block", COMMENT)
    assert result.ok and "Priya Shah blocked" in result.message
    assert parse_qs(graph.calls[-1].request.body)["user"] == ["5550103"]


def test_block_without_an_author_is_refused_in_words(graph):
    result = connector().act("block", Item("822001_9003", "comment", "x", NOW))
    assert not result.ok and "did not say who wrote this" in result.message
    assert len(graph.calls) == 0


@pytest.mark.parametrize(("kind", "words"), [("tag", "someone else's"),
                                             ("review", "recommendation")])
def test_what_the_page_does_not_own_cannot_be_hidden(graph, kind, words):
    result = connector().act("hide", Item("1_2", kind, "x", NOW))
    assert not result.ok and words in result.message
    assert len(graph.calls) == 0


def test_a_refused_action_is_a_result_naming_the_permission(graph):
    serve_interaction(graph, "POST", url("822001_9003"),
                      recording("facebook", "errors/permission_200.json"))
    result = connector().act("hide", COMMENT)
    assert not result.ok and "pages_manage_engagement" in result.message


def test_an_unconfirmed_action_is_not_reported_as_done(graph):
    serve(graph, "DELETE", url("822001_9003"), {"success": False})
    assert not connector().act("delete", COMMENT).ok


def test_mute_is_not_a_facebook_action(graph):
    result = connector().act("mute", COMMENT)
    assert not result.ok and "cannot mute" in result.message and "block" in result.message
    assert len(graph.calls) == 0


# --- check --------------------------------------------------------------------------------------

def test_check_reports_the_page_and_a_token_that_does_not_expire(graph):
    serve_world(graph)
    result = connector().check()
    assert result.ok
    assert "Ashfield Primary School" in result.message and "all permissions" in result.message
    assert "the token does not expire" in result.details


def test_check_names_missing_permissions_in_plain_words(graph):
    serve(graph, "GET", url("me"), recording("facebook", "me.json"))
    serve(graph, "GET", url("debug_token"), recording("facebook", "debug_token_user_token.json"))
    result = connector().check()
    assert not result.ok and "pages_read_user_content" in result.message
    details = "\n".join(result.details)
    assert "what parents and the public write" in details
    assert "pages_manage_engagement (needed to hide, unhide and delete comments)" in details
    assert "not a Page token" in details and "expires on 2026-11-17" in details


def test_check_when_meta_will_not_list_permissions(graph):
    serve(graph, "GET", url("me"), recording("facebook", "me.json"))
    refused = recording("facebook", "errors/permission_10.json")
    serve_interaction(graph, "GET", url("debug_token"), refused)
    serve_interaction(graph, "GET", url("me", "permissions"), refused)
    result = connector().check()
    assert result.ok and "not checked" in result.message


def test_check_falls_back_to_me_permissions(graph):
    serve(graph, "GET", url("me"), recording("facebook", "me.json"))
    serve_interaction(graph, "GET", url("debug_token"),
                      recording("facebook", "errors/permission_10.json"))
    serve(graph, "GET", url("me", "permissions"), {"data": [
        {"permission": "pages_read_engagement", "status": "granted"},
        {"permission": "pages_read_user_content", "status": "declined"}]})
    result = connector().check()
    assert not result.ok and "pages_read_user_content" in result.message


def test_check_says_when_the_token_is_for_another_page(graph):
    serve_world(graph)
    checked = FacebookConnector({"account": "999"}, {"page_access_token": TOKEN}).check()
    assert not checked.ok and "not to the configured Page 999" in checked.message


def test_check_with_an_expired_token_says_so(graph):
    serve_interaction(graph, "GET", url("me"),
                      recording("facebook", "errors/token_expired_190.json"))
    result = connector().check()
    assert not result.ok and "expired" in result.message
