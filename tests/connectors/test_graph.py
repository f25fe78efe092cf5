"""The Graph API plumbing shared by Facebook and Instagram, driven through the real
facebook.GraphAPI with HTTP mocked by `responses`.

Also holds the helpers the Facebook and Instagram tests use to serve recordings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import facebook
import pytest
import requests
import responses

from connectors import formats
from connectors.base import (
    AuthError,
    ConfigError,
    ConnectorError,
    Item,
    PayloadError,
    RetryableError,
)
from connectors.graph import (
    DEFAULT_API_VERSION,
    OVERLAP_SECONDS,
    GraphClient,
    Stream,
    Watermark,
    api_version,
    marked_pages,
    permissions_named,
    usage_retry_after,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASE = "https://graph.facebook.com"
TOKEN = "EAAGm0PX4ZCpsBAPageToken"


def recording(platform: str, name: str) -> Any:
    return json.loads((FIXTURES / platform / name).read_text(encoding="utf-8"))


def url(*parts: str, base: str = BASE) -> str:
    return "/".join([base, DEFAULT_API_VERSION, *parts])


def query_has(expected: dict[str, str | None]):
    """A `responses` matcher: these query parameters have these values (None: are absent)."""
    def match(request) -> tuple[bool, str]:
        query = dict(parse_qsl(urlsplit(request.url).query))
        wrong = {k: query.get(k) for k, v in expected.items() if query.get(k) != v}
        return not wrong, f"query differs: {wrong}"
    return match


def serve(rsps: responses.RequestsMock, method: str, address: str, body: Any, *,
          status: int = 200, headers: dict[str, str] | None = None,
          query: dict[str, str | None] | None = None) -> None:
    """Answer `method address` with a JSON body (or text, if `body` is a str).

    A GET without `query` is a first page: it answers only requests without an `after` cursor,
    so later pages can be registered for the same address with `query={"after": ...}`.
    """
    headers = dict(headers or {})
    content_type = headers.pop("Content-Type", "application/json; charset=UTF-8")
    text = body if isinstance(body, str) else json.dumps(body)
    if query is None and method == "GET":
        query = {"after": None}
    rsps.add(method, address, body=text, status=status, headers=headers,
             content_type=content_type, match=[query_has(query)] if query else [])


def serve_interaction(rsps: responses.RequestsMock, method: str, address: str,
                      interaction: dict[str, Any], **kwargs: Any) -> None:
    """Serve a recorded interaction: {status, headers, body}."""
    serve(rsps, method, address, interaction["body"], status=interaction["status"],
          headers=interaction["headers"], **kwargs)


def item(external_id: str, at: datetime) -> Item:
    return Item(external_id=external_id, kind="comment", text="", created_at=at)


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def client(**settings: Any) -> GraphClient:
    return GraphClient(settings, {"page_access_token": TOKEN}, label="Facebook")


# --- the SDK, a current version and our base URL ------------------------------------------------

@pytest.mark.parametrize("version", ["25.0", "3.3"])
def test_the_sdk_alone_refuses_current_graph_versions(version):
    with pytest.raises(facebook.GraphAPIError, match="Valid API versions|format"):
        facebook.GraphAPI(TOKEN, version=version)


def test_it_speaks_a_current_graph_version_through_the_real_sdk(graph):
    serve(graph, "GET", url("me"), {"id": "104857392011", "name": "Ashfield Primary School"})
    api = client().api
    assert isinstance(api, facebook.GraphAPI)
    assert api.version == DEFAULT_API_VERSION
    assert api.get_object("me", fields="id,name")["name"] == "Ashfield Primary School"
    assert graph.calls[0].request.url.startswith(f"{BASE}/{DEFAULT_API_VERSION}/me?")


@pytest.mark.parametrize(("given", "expected"), [
    ("v21.0", "v21.0"), ("25.0", "v25.0"), (24.0, "v24.0"), (" v26.0 ", "v26.0"),
    ("latest", None), ("v3", None), ("25", None), ("", None),
])
def test_api_versions_are_read_or_refused(given, expected):
    if expected:
        assert api_version(given) == expected
    else:
        with pytest.raises(ConfigError, match="api_version"):
            api_version(given)


def test_each_client_has_its_own_base_url_and_nothing_global_changes(graph):
    serve(graph, "GET", url("me", base="https://a.example"), {"id": "1"})
    serve(graph, "GET", url("me", base="https://b.example"), {"id": "2"})
    before = facebook.FACEBOOK_GRAPH_URL
    first = client(base_url="https://a.example/")
    second = client(base_url="https://b.example")
    assert (first.get("me")["id"], second.get("me")["id"]) == ("1", "2")
    assert facebook.FACEBOOK_GRAPH_URL == before == "https://graph.facebook.com/"


def test_a_token_is_never_sent_over_plain_http_to_another_machine():
    with pytest.raises(ConfigError, match="refusing"):
        client(base_url="http://graph.facebook.com")


def test_a_missing_token_is_a_config_error():
    with pytest.raises(ConfigError, match="page_access_token"):
        GraphClient({}, {}, label="Facebook")


def test_the_app_secret_proof_goes_with_every_call_when_an_app_secret_is_given(graph):
    serve(graph, "GET", url("me"), {"id": "1"})
    GraphClient({}, {"page_access_token": TOKEN, "app_secret": "s3cret"}, label="Facebook").get(
        "me")
    sent = graph.calls[0].request.params
    assert sent["appsecret_proof"] == hmac.new(b"s3cret", TOKEN.encode(),
                                               hashlib.sha256).hexdigest()


# --- errors -------------------------------------------------------------------------------------

ERRORS = [
    # (platform, recording, error class, retry_after, words the message must contain)
    ("facebook", "token_expired_190.json", AuthError, None, ["expired or revoked", "has expired"]),
    ("facebook", "token_revoked_190.json", AuthError, None, ["password"]),
    ("facebook", "app_limit_4.json", RetryableError, None, ["rate limit", "code 4"]),
    ("facebook", "user_limit_17.json", RetryableError, 7 * 60, ["code 17"]),
    ("facebook", "page_limit_32.json", RetryableError, 12 * 60, ["code 32"]),
    ("facebook", "rate_limit_613.json", RetryableError, 3 * 60, ["code 613"]),
    ("facebook", "page_buc_80001.json", RetryableError, 19 * 60, ["code 80001"]),
    ("instagram", "account_buc_80002.json", RetryableError, 25 * 60, ["code 80002"]),
    ("facebook", "permission_10.json", AuthError, None,
     ["pages_read_user_content", "what parents and the public write", "Page Public Content"]),
    ("facebook", "permission_200.json", AuthError, None,
     ["pages_manage_engagement", "hide, unhide and delete comments"]),
    ("instagram", "permission_10.json", AuthError, None, ["a permission it needs"]),
    ("facebook", "bad_request_100.json", ConfigError, None, ["account id", "code 100"]),
    ("facebook", "unknown_error_500.json", RetryableError, None, ["temporary", "code 1"]),
    ("facebook", "bad_gateway_502.json", RetryableError, None, ["HTTP 502", "text/html"]),
    ("facebook", "empty_500.json", RetryableError, None, ["HTTP 500", "empty body"]),
    ("facebook", "truncated_200.json", PayloadError, None, ["not JSON"]),
]


@pytest.mark.parametrize(("platform", "name", "error", "retry_after", "words"), ERRORS,
                         ids=[f"{row[0]}-{row[1]}" for row in ERRORS])
def test_graph_failures_become_typed_errors(graph, platform, name, error, retry_after, words):
    serve_interaction(graph, "GET", url("104857392011"),
                      recording(platform, f"errors/{name}"))
    with pytest.raises(ConnectorError) as caught:
        client().get("104857392011")
    assert type(caught.value) is error
    assert caught.value.retry_after == retry_after
    for word in words:
        assert word in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(("failure", "words"), [
    (requests.ReadTimeout(f"read timed out: /v25.0/me?access_token={TOKEN}"), "timed out"),
    (requests.ConnectTimeout(f"connect timed out: /v25.0/me?access_token={TOKEN}"), "timed out"),
    (requests.ConnectionError(f"reset by peer: /v25.0/me?access_token={TOKEN}"),
     "could not connect"),
    (requests.exceptions.ChunkedEncodingError(f"broken: ?access_token={TOKEN}"), "failed"),
])
def test_network_failures_are_retryable_and_never_show_the_token(graph, failure, words):
    graph.add("GET", url("me"), body=failure)
    with pytest.raises(RetryableError, match=words) as caught:
        client().get("me")
    assert TOKEN not in str(caught.value)


def test_a_429_with_a_retry_after_header_says_how_long_to_wait(graph):
    serve(graph, "GET", url("me"), "", status=429,
          headers={"Content-Type": "text/plain", "Retry-After": "120"})
    with pytest.raises(RetryableError, match="429") as caught:
        client().get("me")
    assert caught.value.retry_after == 120


def test_json_labelled_as_javascript_is_still_read(graph):
    # Graph has answered JSON as text/javascript; the SDK would raise "Maintype was not text".
    serve(graph, "GET", url("me"), {"id": "1"},
          headers={"Content-Type": "text/javascript; charset=UTF-8"})
    assert client().get("me") == {"id": "1"}


def test_an_answer_that_is_not_an_object_is_a_payload_error(graph):
    serve(graph, "GET", url("me"), [1, 2, 3])
    with pytest.raises(PayloadError, match="not a JSON object"):
        client().get("me")


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"X-Business-Use-Case-Usage": json.dumps(
        {"1": [{"type": "pages", "estimated_time_to_regain_access": 5}],
         "2": [{"type": "instagram", "estimated_time_to_regain_access": 9}]})}, 540.0),
    ({"X-App-Usage": json.dumps({"call_count": 100, "total_time": 20})}, None),
    ({"X-Business-Use-Case-Usage": "{not json"}, None),
    ({"X-Business-Use-Case-Usage": json.dumps(
        {"1": [{"estimated_time_to_regain_access": 0}]})}, None),
    ({"Retry-After": "30"}, 30.0),
    ({}, None),
])
def test_usage_headers_give_the_wait_in_seconds(headers, seconds):
    assert usage_retry_after(headers) == seconds


@pytest.mark.parametrize(("message", "names"), [
    ("(#10) This endpoint requires the 'pages_read_engagement' permission or the 'Page Public "
     "Content Access' feature.", ["pages_read_engagement", "the 'Page Public Content Access' "
                                                           "feature"]),
    ("(#200) Requires pages_manage_engagement permission to manage the object",
     ["pages_manage_engagement"]),
    ("(#10) Application does not have permission for this action", []),
])
def test_permission_names_are_read_from_error_messages(message, names):
    assert permissions_named(message) == names


# --- paging -------------------------------------------------------------------------------------

def page_of(ids: list[str], *, after: str | None = None, next_query: str | None = None) -> dict:
    body: dict[str, Any] = {"data": [{"id": i} for i in ids]}
    if after or next_query:
        cursors = {"before": "b"} | ({"after": after} if after else {})
        body["paging"] = {"cursors": cursors,
                          "next": f"{BASE}/v25.0/1/feed?access_token=ECHOED&"
                                  f"{next_query or f'after={after}'}"}
    return body


def test_walk_follows_after_cursors_to_the_last_page(graph):
    serve(graph, "GET", url("1", "feed"), page_of(["a", "b"], after="C1"))
    serve(graph, "GET", url("1", "feed"), page_of(["c"]), query={"after": "C1"})
    pages = list(client().walk("1", "feed", {"fields": "id", "limit": 2}, max_pages=5))
    assert [[o["id"] for o in p.objects] for p in pages] == [["a", "b"], ["c"]]
    assert [p.more for p in pages] == [True, False]
    second = graph.calls[1].request.params
    assert second["after"] == "C1" and second["fields"] == "id"
    assert second["access_token"] == TOKEN  # ours, not the one Graph echoed in `next`


def test_walk_follows_time_based_next_links(graph):
    # Feeds page by time: `next` has until and __paging_token, and no cursors.
    serve(graph, "GET", url("1", "feed"),
          page_of(["a"], next_query="until=1624385168&since&__paging_token=enc_Ab"))
    serve(graph, "GET", url("1", "feed"), page_of(["b"]), query={"until": "1624385168"})
    pages = list(client().walk("1", "feed", {"fields": "id"}, max_pages=5))
    assert [p.objects[0]["id"] for p in pages] == ["a", "b"]
    assert graph.calls[1].request.params["__paging_token"] == "enc_Ab"


def test_walk_stops_when_graph_repeats_a_cursor(graph):
    serve(graph, "GET", url("1", "feed"), page_of(["a"], after="SAME"))
    serve(graph, "GET", url("1", "feed"), page_of(["b"], after="SAME"), query={"after": "SAME"})
    pages = list(client().walk("1", "feed", {}, max_pages=50))
    assert len(pages) == len(graph.calls) == 2
    # Following the loop would never end: the repeated page counts as the last.
    assert pages[-1].more is False and pages[-1].resume is None


def test_walk_stops_after_max_pages(graph):
    serve(graph, "GET", url("1", "feed"), page_of(["a"], after="C1"))
    serve(graph, "GET", url("1", "feed"), page_of(["b"], after="C2"), query={"after": "C1"})
    pages = list(client().walk("1", "feed", {"limit": 2}, max_pages=1))
    assert len(pages) == len(graph.calls) == 1 and pages[0].more
    assert pages[0].resume == {"after": "C1"}  # what to read on from, later


def test_walk_starts_from_a_saved_page(graph):
    serve(graph, "GET", url("1", "feed"), page_of(["b"]), query={"after": "C1"})
    pages = list(client().walk("1", "feed", {"limit": 2}, max_pages=3, start={"after": "C1"}))
    assert [p.objects for p in pages] == [[{"id": "b"}]] and pages[0].resume is None
    assert graph.calls[0].request.params["after"] == "C1"


# --- the watermark cursor -----------------------------------------------------------------------

T0 = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
S0 = int(T0.timestamp())


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(S0 + seconds, UTC)


@pytest.mark.parametrize("cursor", [None, {}, {"since": "yesterday"}, {"since": True}, "junk",
                                    {"since": float("inf")}])
def test_an_absent_or_unreadable_cursor_starts_from_the_lookback(cursor):
    assert Watermark.from_cursor(cursor, first_since=S0).snapshot() == {"since": S0, "seen": {}}


def test_the_watermark_drops_old_and_already_read_items_and_keeps_the_overlap():
    mark = Watermark.from_cursor({"since": S0, "seen": {"x": S0 - 10}}, first_since=0)
    batch = [item("old", at(-OVERLAP_SECONDS - 1)), item("x", at(-10)), item("late", at(-60)),
             item("new", at(120)), item("new", at(120))]
    assert [i.external_id for i in mark.fresh(batch)] == ["late", "new"]
    # Everything within the overlap of the new `since` stays known, so it is not read again.
    assert mark.cursor() == {"since": S0 + 120,
                             "seen": {"late": S0 - 60, "new": S0 + 120, "x": S0 - 10}}


def test_a_cut_off_stream_keeps_its_place_and_the_ids_it_needs():
    mark = Watermark(since=S0)
    mark.fresh([item("a", at(100)), item("b", at(900))])
    mark.cut(Stream("post", S0, {"after": "C"}))
    cursor = mark.cursor()
    assert cursor["since"] == S0 + 900  # the stream has its own place: the watermark moves on
    assert cursor["open"] == {"post": {"node": "post", "since": S0, "page": {"after": "C"}}}
    assert set(cursor["seen"]) == {"a", "b"}  # kept while the stream is open
    again = Watermark.from_cursor(cursor, first_since=0)
    assert again.open["post"].floor == S0 - OVERLAP_SECONDS and again.open["post"].page == {
        "after": "C"}


def test_an_interrupted_polls_saved_progress_is_resumed_from():
    progress = {"since": S0, "seen": {"a": S0 + 5}, "open": {
        "post": {"node": "post", "since": S0 - 60, "page": {"after": "C"}}}}
    mark = Watermark.from_cursor({"since": S0 - 999, "seen": {}, "resume": progress},
                                 first_since=0)
    assert mark.since == S0 and "a" in mark.seen and mark.open["post"].page == {"after": "C"}


def test_only_the_last_page_carries_the_new_cursor():
    mark = Watermark(since=S0)
    batches = ([mark.fresh([item(str(n), at(n))])] for n in (1, 2, 3))
    pages = list(marked_pages((b for batch in batches for b in batch), mark))
    assert [p.last for p in pages] == [False, False, True]
    # A page's progress keeps the watermark but knows what was read up to it.
    assert [p.progress for p in pages[:2]] == [{"since": S0, "seen": {"1": S0 + 1}},
                                               {"since": S0, "seen": {"1": S0 + 1,
                                                                      "2": S0 + 2}}]
    assert pages[-1].progress["since"] == S0 + 3


def test_a_poll_with_nothing_new_is_one_empty_last_page():
    mark = Watermark(since=S0)
    pages = list(marked_pages(iter([[], []]), mark))
    assert len(pages) == 1 and pages[0].last and pages[0].items == []
    assert pages[0].progress == {"since": S0, "seen": {}}


# --- formats: what the Graph section gained ------------------------------------------------------

@pytest.mark.parametrize(("permalink", "expected_id", "expected_parent"), [
    ("https://www.facebook.com/19292868552/posts/10158407654328553/?comment_id=10158407835073553",
     "10158407654328553_10158407835073553", "19292868552_10158407654328553"),
    ("https://www.facebook.com/19292868552/posts/10158407654328553/?comment_id=10158407903973553"
     "&reply_comment_id=10158409983033553",
     "10158407654328553_10158409983033553", "10158407654328553_10158407903973553"),
])
def test_a_comment_without_an_id_takes_it_from_its_permalink(permalink, expected_id,
                                                             expected_parent):
    comment = formats.graph_comment({"message": "hi", "created_time": "2021-08-10T18:45:03+0000",
                                     "permalink_url": permalink},
                                    post_id="19292868552_10158407654328553")
    assert comment.external_id == expected_id
    assert comment.parent_id == expected_parent
    assert comment.kind == ("reply" if "reply_comment_id" in permalink else "comment")


@pytest.mark.parametrize("permalink", ["", "https://www.facebook.com/x/posts/abc/?comment_id=1",
                                       "https://www.facebook.com/1/posts/2/"])
def test_a_comment_with_neither_id_nor_usable_permalink_is_a_payload_error(permalink):
    with pytest.raises(PayloadError, match="no id"):
        formats.graph_comment({"message": "hi", "created_time": "2021-08-10T18:45:03+0000",
                               "permalink_url": permalink})


def test_instagram_media_becomes_an_item():
    media = formats.instagram_media(recording("instagram", "tags.json")["data"][0])
    assert (media.external_id, media.kind, media.author.handle) == (
        "18044455566677788", "tag", "ashfield_sports_club")
    assert media.text.startswith("Proud of") and media.permalink.endswith("/DCz7UiOp9As/")
