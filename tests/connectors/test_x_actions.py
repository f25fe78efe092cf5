"""X moderation actions and the health check, through the real tweepy.Client and `responses`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
import responses

from connectors.base import Author, Item
from tests.connectors.test_x import (
    BASE,
    BEARER,
    SCHOOL_ID,
    USER_KEYS,
    connector,
    recording,
    serve,
)

REPLY_ID = "2122588081222729730"
HIDDEN = f"/2/tweets/{REPLY_ID}/hidden"
MUTING = f"/2/users/{SCHOOL_ID}/muting"
ALL_KEYS = {**BEARER, **USER_KEYS}


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def reply(**changes) -> Item:
    fields = {
        "external_id": REPLY_ID,
        "kind": "mention",
        "text": "@OakfieldPrimary is school open today with the snow?",
        "created_at": datetime(2026, 11, 17, 7, 10, 9, tzinfo=UTC),
        "author": Author("1527700112233445566", "samr_1985", "Sam R"),
        "parent_id": "2122238238520393729",
        "conversation_id": "2122238238520393729",
    }
    return Item(**{**fields, **changes})


def sent_json(call) -> dict:
    return json.loads(call.request.body)


# --- hide, unhide, mute ---------------------------------------------------------------------------

def test_hide_sends_the_recorded_request_signed_as_the_school(rsps):
    serve(rsps, "PUT", HIDDEN, "hide_reply")
    result = connector(secrets=ALL_KEYS).act("hide", reply())
    assert result.ok, result.message
    assert "hidden" in result.message and "@samr_1985" in result.message
    call = rsps.calls[0]
    assert sent_json(call) == json.loads(recording("hide_reply")["request_body"])
    auth = call.request.headers["Authorization"]
    assert auth.startswith("OAuth ") and f'oauth_token="{SCHOOL_ID}-at"' in auth


def test_unhide_sends_hidden_false(rsps):
    serve(rsps, "PUT", HIDDEN, "unhide_reply")
    result = connector(secrets=ALL_KEYS).act("unhide", reply())
    assert result.ok and "visible again" in result.message
    assert sent_json(rsps.calls[0]) == {"hidden": False}


def test_mute_mutes_the_author_as_the_school(rsps):
    serve(rsps, "POST", MUTING, "mute")
    result = connector(secrets=ALL_KEYS).act("mute", reply())
    assert result.ok and "@samr_1985 is muted" in result.message
    assert sent_json(rsps.calls[0]) == {"target_user_id": "1527700112233445566"}


def test_block_is_refused_with_the_way_to_do_it_by_hand(rsps):
    result = connector(secrets=ALL_KEYS).act("block", reply())
    assert result.ok is False
    assert "does not offer blocking" in result.message and "X app" in result.message
    assert "@samr_1985" in result.message
    assert not rsps.calls


def test_delete_is_refused_because_x_deletes_only_your_own_posts(rsps):
    result = connector(secrets=ALL_KEYS).act("delete", reply())
    assert result.ok is False and "only its own posts" in result.message
    assert not rsps.calls


@pytest.mark.parametrize("action", ["hide", "unhide", "mute"])
def test_actions_without_user_keys_say_which_are_missing(rsps, action):
    result = connector(secrets={**BEARER, "consumer_key": "ck"}).act(action, reply())
    assert result.ok is False
    assert "consumer_secret, access_token, access_token_secret" in result.message
    assert not rsps.calls


def test_a_post_that_is_not_a_reply_cannot_be_hidden(rsps):
    result = connector(secrets=ALL_KEYS).act("hide", reply(parent_id=""))
    assert result.ok is False and "only replies" in result.message
    assert not rsps.calls


def test_an_author_without_id_cannot_be_muted(rsps):
    result = connector(secrets=ALL_KEYS).act("mute", reply(author=Author()))
    assert result.ok is False and "no author id" in result.message


@pytest.mark.parametrize(("answer", "words"), [
    ("error_403_oauth1_permissions", "'Read and write'"),
    ("error_401_unauthorized", "expired, revoked or mistyped"),
    ("error_429_too_many_requests", "rate limit"),
    ("error_503_service_unavailable", "server error"),
    (requests.ReadTimeout("read timed out"), "did not answer in time"),
])
def test_a_failed_hide_is_a_result_not_an_exception(rsps, answer, words):
    if isinstance(answer, Exception):
        rsps.add("PUT", BASE + HIDDEN, body=answer)
    else:
        serve(rsps, "PUT", HIDDEN, answer)
    result = connector(secrets=ALL_KEYS).act("hide", reply())
    assert result.ok is False
    assert result.message.startswith(f"Could not hide post {REPLY_ID}")
    assert words in result.message


def test_a_hide_x_does_not_confirm_is_not_reported_as_done(rsps):
    rsps.add("PUT", BASE + HIDDEN, json={"data": {"hidden": False}})
    result = connector(secrets=ALL_KEYS).act("hide", reply())
    assert result.ok is False and "did not confirm" in result.message


def test_a_mute_x_does_not_confirm_is_not_reported_as_done(rsps):
    rsps.add("POST", BASE + MUTING, json={"errors": [{"message": "odd"}]})
    result = connector(secrets=ALL_KEYS).act("mute", reply())
    assert result.ok is False and "did not confirm" in result.message


# --- check() --------------------------------------------------------------------------------------

def test_check_with_every_key_says_reading_and_moderating_work(rsps):
    serve(rsps, "GET", f"/2/users/{SCHOOL_ID}", "user_by_id")
    serve(rsps, "GET", "/2/users/me", "users_me")
    result = connector(secrets=ALL_KEYS).check()
    assert result.ok, result.details
    assert result.message == "X: reading works; hiding replies and muting work"
    assert "@OakfieldPrimary" in result.details[0] and "works" in result.details[0]
    assert "acting as @OakfieldPrimary" in result.details[1]
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer AAAA-test-bearer"
    assert rsps.calls[1].request.headers["Authorization"].startswith("OAuth ")


def test_check_with_only_the_bearer_token_reads_and_names_the_missing_keys(rsps):
    serve(rsps, "GET", f"/2/users/{SCHOOL_ID}", "user_by_id")
    result = connector().check()
    assert result.ok
    assert "switched off" in result.message
    assert "consumer_key, consumer_secret, access_token, access_token_secret" in result.details[1]


def test_check_with_an_expired_bearer_token_says_reading_does_not_work(rsps):
    serve(rsps, "GET", f"/2/users/{SCHOOL_ID}", "error_401_unauthorized")
    result = connector().check()
    assert result.ok is False
    assert "reading does NOT work" in result.message
    assert "expired" in result.details[0]


def test_check_explains_an_app_outside_a_project(rsps):
    serve(rsps, "GET", f"/2/users/{SCHOOL_ID}", "error_403_client_forbidden")
    result = connector().check()
    assert result.ok is False and "attach the app to a project" in result.details[0]


def test_check_spots_a_read_only_access_token(rsps):
    serve(rsps, "GET", f"/2/users/{SCHOOL_ID}", "user_by_id")
    serve(rsps, "GET", "/2/users/me", "users_me_read_only")
    result = connector(secrets=ALL_KEYS).check()
    assert result.ok is False
    assert "read-only" in result.details[1] and "Read and write" in result.details[1]


def test_check_spots_an_access_token_of_another_account(rsps):
    serve(rsps, "GET", f"/2/users/{SCHOOL_ID}", "user_by_id")
    serve(rsps, "GET", "/2/users/me", "users_me_other_account")
    result = connector(secrets=ALL_KEYS).check()
    assert result.ok is False
    assert "@jsmith_it, not the school's account" in result.details[1]


def test_check_spots_another_account_by_handle_when_the_id_is_not_set(rsps):
    rsps.add("GET", BASE + "/2/users/by/username/OakfieldPrimary",
             json=recording("user_by_id")["body"])
    serve(rsps, "GET", "/2/users/me", "users_me_other_account")
    result = connector({"account": ""}, ALL_KEYS).check()
    assert result.ok is False and "@jsmith_it" in result.details[1]


def test_check_with_only_user_keys_reads_as_the_school(rsps):
    serve(rsps, "GET", "/2/users/me", "users_me")
    result = connector(secrets=USER_KEYS).check()
    assert result.ok
    assert "user-context keys" in result.details[0]


def test_check_without_credentials_says_what_to_set(rsps):
    result = connector(secrets={}).check()
    assert result.ok is False
    assert "bearer_token" in result.details[0]
    assert not rsps.calls


def test_check_looks_the_account_up_by_handle_without_an_id(rsps):
    rsps.add("GET", BASE + "/2/users/by/username/OakfieldPrimary",
             json=recording("user_by_id")["body"])
    result = connector({"account": ""}).check()
    assert result.ok and "id 1456789012345678901" in result.details[0]


def test_check_cannot_reach_x_and_says_so(rsps):
    rsps.add("GET", BASE + f"/2/users/{SCHOOL_ID}", body=requests.ConnectionError("refused"))
    result = connector().check()
    assert result.ok is False and "could not reach X" in result.details[0]


# --- check() when X cannot be reached -------------------------------------------------------------

NETWORK_FAILURES = {
    "connection refused": (requests.ConnectionError(
        "HTTPSConnectionPool(host='api.x.com', port=443): Max retries exceeded (Caused by "
        "NewConnectionError('Failed to establish a new connection: [Errno 111] Connection "
        "refused'))"), "the connection was refused"),
    "timeout": (requests.ReadTimeout("read timed out"), "did not answer in time"),
    "server error": ("error_503_service_unavailable", "server error (503)"),
}


def fail_with(rsps, path: str, failure) -> None:
    if isinstance(failure, Exception):
        rsps.add("GET", BASE + path, body=failure)
    else:
        serve(rsps, "GET", path, failure)


@pytest.mark.parametrize(("failure", "words"), NETWORK_FAILURES.values(),
                         ids=NETWORK_FAILURES.keys())
def test_check_says_x_could_not_be_reached_and_does_not_blame_the_token(rsps, failure, words):
    fail_with(rsps, f"/2/users/{SCHOOL_ID}", failure)
    result = connector(secrets=ALL_KEYS).check()
    assert result.ok is False
    assert result.message.startswith("could not reach X: ") and words in result.message
    assert "credentials were not checked" in result.message
    for text in (result.message, *result.details):
        assert "token" not in text and "NOT working" not in text and "expired" not in text
    # With X out of reach, the user-context keys are not tried too (a second wait for nothing).
    assert len(rsps.calls) == 1


def test_check_reaches_x_for_reading_but_not_for_the_user_keys(rsps):
    serve(rsps, "GET", f"/2/users/{SCHOOL_ID}", "user_by_id")
    fail_with(rsps, "/2/users/me", "error_503_service_unavailable")
    result = connector(secrets=ALL_KEYS).check()
    assert result.ok is False
    assert result.message.startswith("could not reach X: server error (503)")
    assert "token" not in result.message


def test_check_against_a_server_that_is_not_there(local_server):
    server = local_server()
    url = server.url
    server.stop()
    result = connector({"base_url": url}).check()
    assert result.ok is False
    assert result.message.startswith("could not reach X: the connection was refused")


@pytest.mark.parametrize(("answer", "words"), [
    ("error_401_unauthorized", "refused the credentials"),
    ("error_403_client_forbidden", "attach the app to a project"),
])
def test_only_a_refusal_by_x_blames_the_credentials(rsps, answer, words):
    serve(rsps, "GET", f"/2/users/{SCHOOL_ID}", answer)
    result = connector().check()
    assert result.ok is False and result.message == (
        "X: reading does NOT work; hiding replies and muting are switched off")
    assert words in result.details[0] and "could not reach" not in result.details[0]
