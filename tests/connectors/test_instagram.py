"""The Instagram connector on our own Graph recordings, through the real facebook.GraphAPI with
HTTP mocked by `responses`."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
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
from connectors.instagram import InstagramConnector
from tests.connectors.contract import ConnectorContract
from tests.connectors.test_graph import (
    TOKEN,
    query_has,
    recording,
    serve,
    serve_interaction,
    url,
)

ACCOUNT = "17841400008460056"
CHOIR = "18027339052113411"
ASSEMBLY = "18005566778899001"
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def serve_world(rsps, *, skip: tuple[str, ...] = ()) -> None:
    """The recorded account: two pages of media, their comments, tags and check()'s calls."""
    ig = "instagram"
    serve(rsps, "GET", url(ACCOUNT, "media"), recording(ig, "media_p1.json"))
    serve(rsps, "GET", url(ACCOUNT, "media"), recording(ig, "media_p2.json"),
          query={"after": "QVFIUnlfRVRr"})
    if CHOIR not in skip:
        serve(rsps, "GET", url(CHOIR, "comments"), recording(ig, f"comments_{CHOIR}_p1.json"))
        serve(rsps, "GET", url(CHOIR, "comments"), recording(ig, f"comments_{CHOIR}_p2.json"),
              query={"after": "QVFIUnZAqQ0Rz"})
    serve(rsps, "GET", url("17890000000000006", "replies"),
          recording(ig, "replies_17890000000000006.json"))
    serve(rsps, "GET", url(ASSEMBLY, "comments"), recording(ig, f"comments_{ASSEMBLY}.json"))
    serve(rsps, "GET", url(ACCOUNT, "tags"), recording(ig, "tags.json"))
    serve(rsps, "GET", url("me"), recording(ig, "me.json"))
    serve(rsps, "GET", url("debug_token"), recording(ig, "debug_token.json"))


def connector(**settings) -> InstagramConnector:
    built = InstagramConnector(settings, {"page_access_token": TOKEN})
    built.now = lambda: NOW
    return built


def poll(kind: str = "comments", cursor=None, **settings):
    return list(connector(**settings).fetch(SourceSpec(3, "instagram", kind, ACCOUNT), cursor))


def ids(pages) -> list[str]:
    return [item.external_id for page in pages for item in page.items]


def asked(rsps) -> list[str]:
    return [call.request.url.split("?")[0] for call in rsps.calls]


class TestInstagramContract(ConnectorContract):
    @pytest.fixture(autouse=True)
    def _world(self, graph):
        serve_world(graph)

    def build(self):
        return connector(), SourceSpec(3, "instagram", "comments", ACCOUNT)


# --- comments -----------------------------------------------------------------------------------

def test_comments_and_replies_are_read_across_media_and_comment_pages(graph):
    serve_world(graph)
    pages = poll()
    assert ids(pages) == [
        "17890000000000003", "17890000000000002", "17890000000000005",  # choir, page 1
        "17890000000000006", "17890000000000007", "17890000000000008", "17890000000000001",
        "17890000000000010", "17890000000000011",  # remembrance assembly
    ]
    assert pages[-1].last and not any(page.last for page in pages[:-1])
    first = pages[0].items[0]
    assert (first.kind, first.author, first.conversation_id, first.parent_id) == (
        "comment", Author(id="17841401111111111", handle="mum_of_3_ash", name="mum_of_3_ash"),
        CHOIR, CHOIR)
    assert first.permalink == "https://www.instagram.com/p/DCx1aBcN0pQ/"


def test_the_accounts_own_replies_are_not_items(graph):
    serve_world(graph)
    assert "17890000000000004" not in ids(poll())


def test_replies_know_their_parent_even_when_instagram_leaves_it_out(graph):
    serve_world(graph)
    reply = next(i for p in poll() for i in p.items if i.external_id == "17890000000000005")
    assert (reply.kind, reply.parent_id, reply.conversation_id) == (
        "reply", "17890000000000002", CHOIR)


def test_more_replies_than_fit_are_read_from_their_own_edge(graph):
    serve_world(graph)
    found = ids(poll())
    assert {"17890000000000007", "17890000000000008"} <= set(found)
    assert found.count("17890000000000007") == 1
    assert url("17890000000000006", "replies") in asked(graph)


def test_a_comment_from_a_vanished_account_has_no_author_but_is_read(graph):
    serve_world(graph)
    gone = next(i for p in poll() for i in p.items if i.external_id == "17890000000000001")
    assert gone.author == Author() and gone.text == ""


def test_media_without_comments_and_media_past_the_lookback_are_not_read(graph):
    serve_world(graph)
    poll()
    calls = asked(graph)
    assert url("18011223344556677", "comments") not in calls  # comments_count 0
    assert url("17999887766554433", "comments") not in calls  # October: past the window


def test_a_second_poll_reads_nothing_twice(graph):
    serve_world(graph)
    cursor = poll()[-1].progress
    assert cursor["since"] == int(datetime(2026, 11, 17, 8, 45, tzinfo=UTC).timestamp())
    again = poll(cursor=cursor)
    assert ids(again) == [] and again[-1].progress == cursor


def test_a_new_reply_under_an_old_comment_is_still_found(graph):
    serve_world(graph, skip=(CHOIR,))
    first = recording("instagram", f"comments_{CHOIR}_p1.json")
    serve(graph, "GET", url(CHOIR, "comments"), first)
    serve(graph, "GET", url(CHOIR, "comments"),
          recording("instagram", f"comments_{CHOIR}_p2.json"), query={"after": "QVFIUnZAqQ0Rz"})
    cursor = poll()[-1].progress
    # Later, someone answers the oldest comment on the post: its comments_count goes up.
    media = recording("instagram", "media_p1.json")
    media["data"][0]["comments_count"] += 1
    graph.replace("GET", url(ACCOUNT, "media"), json=media,
                  match=[query_has({"after": None})])
    graph.replace("GET", url("17890000000000006", "replies"), json={"data": [
        *recording("instagram", "replies_17890000000000006.json")["data"],
        {"id": "17890000000000009", "text": "leave her alone",
         "timestamp": "2026-11-17T08:55:00+0000", "username": "ash_mum2",
         "from": {"id": "17841407777777777", "username": "ash_mum2"},
         "parent_id": "17890000000000006"}]})
    assert ids(poll(cursor=cursor)) == ["17890000000000009"]


def test_tags_are_read_newest_first_until_the_cursor(graph):
    serve_world(graph)
    pages = poll("tags")
    tag = pages[0].items[0]
    assert ids(pages) == ["18044455566677788"]  # the July post is older than the window
    assert (tag.kind, tag.author.handle, tag.text) == (
        "tag", "ashfield_sports_club", "Proud of @ashfieldprimary's netball team today!")
    assert asked(graph).count(url(ACCOUNT, "tags")) == 1  # no need for the next page


# --- failures -----------------------------------------------------------------------------------

def test_an_account_rate_limit_is_retryable_with_the_wait_meta_gives(graph):
    serve_interaction(graph, "GET", url(ACCOUNT, "media"),
                      recording("instagram", "errors/account_buc_80002.json"))
    with pytest.raises(RetryableError) as caught:
        poll()
    assert caught.value.retry_after == 25 * 60


def test_an_expired_token_is_an_auth_error(graph):
    serve_interaction(graph, "GET", url(ACCOUNT, "media"),
                      recording("facebook", "errors/token_expired_190.json"))
    with pytest.raises(AuthError, match="expired or revoked"):
        poll()


def test_html_from_a_failing_server_is_retryable(graph):
    serve_interaction(graph, "GET", url(ACCOUNT, "tags"),
                      recording("facebook", "errors/bad_gateway_502.json"))
    with pytest.raises(RetryableError, match="502"):
        poll("tags")


def test_truncated_json_is_a_payload_error(graph):
    serve_interaction(graph, "GET", url(ACCOUNT, "media"),
                      recording("facebook", "errors/truncated_200.json"))
    with pytest.raises(PayloadError):
        poll()


@pytest.mark.parametrize(("kind", "account", "words"), [
    ("mentions", ACCOUNT, "webhook"),
    ("comments", "@ashfieldprimary", "numeric id"),
])
def test_sources_that_cannot_work_are_config_errors(graph, kind, account, words):
    with pytest.raises(ConfigError, match=words):
        list(connector().fetch(SourceSpec(3, "instagram", kind, account), None))


# --- moderation ---------------------------------------------------------------------------------

COMMENT = Item("17890000000000006", "comment", "who is the teacher", NOW,
               Author("17841404444444444", "anon_user_22", "anon_user_22"))


@pytest.mark.parametrize(("action", "flag", "done"), [("hide", "true", "hidden"),
                                                     ("unhide", "false", "unhidden")])
def test_hide_and_unhide_post_hide_to_the_comment(graph, action, flag, done):
    serve(graph, "POST", url(COMMENT.external_id), recording("facebook", "success.json"))
    result = connector().act(action, COMMENT)
    assert result.ok and done in result.message
    assert parse_qs(graph.calls[0].request.body) == {"hide": [flag], "access_token": [TOKEN]}


def test_delete_sends_delete_to_the_comment(graph):
    serve(graph, "DELETE", url(COMMENT.external_id), recording("facebook", "success.json"))
    assert connector().act("delete", COMMENT).ok
    assert graph.calls[0].request.method == "DELETE"


def test_a_refused_hide_names_the_permission(graph):
    serve_interaction(graph, "POST", url(COMMENT.external_id),
                      recording("instagram", "errors/permission_200.json"))
    result = connector().act("hide", COMMENT)
    assert not result.ok and "instagram_manage_comments" in result.message


@pytest.mark.parametrize("action", ["block", "mute"])
def test_instagram_cannot_block_or_mute(graph, action):
    result = connector().act(action, COMMENT)
    assert not result.ok and "Instagram's API does not let" in result.message
    assert "Instagram app" in result.message and not graph.calls


def test_a_post_that_tags_the_school_cannot_be_hidden(graph):
    result = connector().act("hide", Item("18044455566677788", "tag", "x", NOW))
    assert not result.ok and "someone else" in result.message and not graph.calls


# --- check --------------------------------------------------------------------------------------

def test_check_names_the_linked_account(graph):
    serve_world(graph)
    result = connector().check()
    assert result.ok and "@ashfieldprimary" in result.message
    assert "all permissions" in result.message


def test_check_says_when_the_pages_account_is_not_the_configured_one(graph):
    serve_world(graph)
    checked = InstagramConnector({"account": "17841499999999999"},
                                 {"page_access_token": TOKEN}).check()
    assert not checked.ok and "not the configured account 17841499999999999" in checked.message


def test_check_says_when_no_instagram_account_is_linked(graph):
    serve(graph, "GET", url("me"), recording("instagram", "me_no_instagram.json"))
    result = connector().check()
    assert not result.ok and "no Instagram professional account linked" in result.message


def test_check_names_missing_instagram_permissions(graph):
    serve(graph, "GET", url("me"), recording("instagram", "me.json"))
    serve(graph, "GET", url("debug_token"), recording("facebook", "debug_token.json"))
    result = connector().check()
    assert not result.ok
    assert "instagram_basic" in result.message and "instagram_manage_comments" in result.message
    assert any("read, hide and delete comments" in line for line in result.details)
